//! Drawing the UI: the layout ([`super::layout`]) and one file per widget
//! (injector, destination pane, latency table, sparklines, message list,
//! inspector, composer, help, hints line). Reads [`App`] state only; `now`
//! is passed in so a frozen clock gives a stable picture (snapshot tests).

use std::time::Instant;

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, LinkStatus};
use super::{composer, help, injector, inspector, layout, pane, status_line};

/// Draws the whole screen (a one-line placeholder when it is too small).
pub fn render(f: &mut Frame, app: &App, now: Instant) {
    let area = f.area();
    let injector_h = injector::height(app, area.width, now);
    let Some(screen) = layout::screen(area, app.dests.len(), injector_h) else {
        let (w, h) = layout::min_size(app.dests.len());
        let (sw, sh) = layout::min_size_stacked(app.dests.len());
        let need = if (sw, sh) == (w, h) {
            format!("{w}×{h}")
        } else {
            format!("{w}×{h}, or {sw}×{sh} stacked")
        };
        f.render_widget(
            Paragraph::new(format!(
                "terminal too small ({}×{}): need {need} · {}",
                area.width,
                area.height,
                // the composer takes q as text
                if app.composer.is_some() {
                    "Esc, then q quits"
                } else {
                    "q quits"
                }
            ))
            .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    };
    injector::render(f, app, screen.injector, now);
    for (i, rect) in screen.panes.iter().enumerate() {
        pane::render(f, app, i, *rect, now);
    }
    status_line::render(f, app, screen.status);
    if let Some(i) = &app.inspector {
        inspector::render(f, app, i, area, now);
    }
    if let Some(c) = &app.composer {
        composer::render(f, app, c, area);
    }
    if app.show_help {
        help::render(f, area, app.help_scroll);
    }
}

/// A link status badge (` UP `, ` DOWN `, …).
pub fn status_span(s: &LinkStatus) -> Span<'static> {
    match s {
        LinkStatus::Connecting => Span::styled(
            " CONNECTING ",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ),
        LinkStatus::Up => Span::styled(" UP ", Style::new().fg(Color::Black).bg(Color::Green)),
        LinkStatus::Down(_) => Span::styled(" DOWN ", Style::new().fg(Color::White).bg(Color::Red)),
        LinkStatus::Waiting(_) => {
            Span::styled(" WAITING ", Style::new().fg(Color::Black).bg(Color::Yellow))
        }
    }
}

/// A dim label.
pub fn label(text: impl Into<String>) -> Span<'static> {
    Span::styled(text.into(), Style::new().fg(Color::DarkGray))
}

/// A bold value.
pub fn value(v: impl ToString) -> Span<'static> {
    Span::styled(v.to_string(), Style::new().add_modifier(Modifier::BOLD))
}

/// A bold value, red when it is not zero (loss, duplicates, failures).
pub fn warn_value(n: u64) -> Span<'static> {
    let s = Style::new().add_modifier(Modifier::BOLD);
    Span::styled(n.to_string(), if n > 0 { s.fg(Color::Red) } else { s })
}

/// A label-and-value cell for [`layout::flow`].
pub fn cell(name: &str, v: Span<'static>) -> Vec<Span<'static>> {
    vec![label(format!("{name} ")), v]
}

/// A pane title for a block `width` columns wide: `left`, then ` flexible `
/// cut with `…` to what is left, then `right`; the flexible part (an
/// endpoint) gives way so the badges and `right` (the run id) always show.
pub fn title(
    left: Vec<Span<'static>>,
    flexible: &str,
    right: Vec<Span<'static>>,
    width: u16,
) -> Line<'static> {
    let used: usize = left.iter().chain(&right).map(Span::width).sum();
    // the block's corners take two columns
    let room = (width as usize).saturating_sub(2 + used);
    let mut spans = left;
    if room >= 4 {
        spans.push(Span::raw(format!(" {} ", cut(flexible, room - 2))));
    }
    spans.extend(right);
    Line::from(spans)
}

/// A line cut to `width` columns with `…` (never wrapped).
pub fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `text` word-wrapped over at most `max` lines of `width` columns (the
/// last cut with `…` when text remains; a word longer than a line is
/// broken), in `color`: errors and diagnoses stay readable in a narrow pane.
pub fn error_lines(text: &str, width: u16, max: usize, color: Color) -> Vec<Line<'static>> {
    let w = width.max(1) as usize;
    let mut pieces: Vec<String> = textwrap::wrap(text, w)
        .into_iter()
        .map(|c| c.into_owned())
        .collect();
    if pieces.len() > max {
        pieces.truncate(max);
        if let Some(last) = pieces.last_mut() {
            // the cut line ends in `…` (within the width)
            *last = cut(&format!("{last} …"), w);
        }
    }
    pieces
        .into_iter()
        .map(|p| Line::from(Span::styled(p, Style::new().fg(color))))
        .collect()
}

/// A red line cut to `width` columns with `…`.
pub fn error_line(text: &str, width: u16) -> Line<'static> {
    Line::from(Span::styled(
        cut(text, width as usize),
        Style::new().fg(Color::Red),
    ))
}
