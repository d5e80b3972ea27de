//! The hints line at the bottom: the current mode's keys from
//! [`keys::BINDINGS`] (as many as fit), the filter being typed, the burst
//! size, and a one-line notice (e.g. where `w` saved the session).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::App;
use super::keys::{self, Mode};
use super::render::cut;

/// Draws the hints line into `area` (one row).
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let width = area.width as usize;
    let mode = app.mode();
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0usize;
    if mode == Mode::Filter {
        let text = format!("/{}▏", app.filter);
        used += text.chars().count() + 1;
        spans.push(Span::styled(
            format!(" {text}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(n) = &app.notice {
        // cut at its end (a file's name comes first); the hints keep room
        // for `? help  q quit`
        let text = cut(n, width.saturating_sub(18));
        used += text.chars().count() + 2;
        spans.push(Span::styled(
            format!(" {text} "),
            Style::new().fg(Color::Cyan),
        ));
    }
    // `? help` and `q quit` always fit: the others take what is left.
    let hints: Vec<(String, String)> = keys::hints(mode)
        .map(|(k, v)| {
            let v = if v == "burst" && mode == Mode::Main {
                format!("burst {}", app.burst)
            } else {
                v.to_owned()
            };
            (k.to_owned(), v)
        })
        .collect();
    let essential = |k: &str| k == "?" || k == "q" || k == "Esc";
    let width_of = |(k, v): &(String, String)| k.chars().count() + v.chars().count() + 3;
    let reserved: usize = hints.iter().filter(|h| essential(&h.0)).map(width_of).sum();
    let mut shown: Vec<&(String, String)> = Vec::new();
    for h in &hints {
        let w = width_of(h);
        let room = if essential(&h.0) {
            width
        } else {
            width.saturating_sub(reserved)
        };
        if used + w <= room {
            used += w;
            shown.push(h);
        }
    }
    for (k, v) in shown {
        spans.push(format!(" {k}").bold());
        spans.push(Span::raw(format!(" {v} ")));
    }
    f.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().fg(Color::Gray)),
        area,
    );
}
