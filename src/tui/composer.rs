//! The composer (`m`): a body, application properties, annotations and a
//! content type, sent once (Enter) or as a burst (Ctrl-B). The body is
//! embedded as the probe's `payload` (JSON as JSON, other text as a
//! string), so composed messages are traced like every probe.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{App, COMPOSER_FIELDS, Composer};
use super::render::label;
use crate::sanitize;

/// Draws the composer, centred in `area`.
pub fn render(f: &mut Frame, app: &App, c: &Composer, area: Rect) {
    let w = area.width.saturating_sub(4).min(100);
    let h = area.height.saturating_sub(2).min(14);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, rect);
    let mut lines = Vec::new();
    for (i, (name, text)) in COMPOSER_FIELDS.iter().zip(c.fields()).enumerate() {
        let focused = i == c.field;
        let shown = sanitize::preview(text.as_bytes(), 10_000);
        let style = if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{name:>12} "),
                if focused {
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
                } else {
                    Style::new().fg(Color::DarkGray)
                },
            ),
            Span::styled(format!("{shown}{}", if focused { "▏" } else { "" }), style),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(label(
        "properties/annotations as k=v, k2=v2 · the body goes into the probe's payload",
    )));
    if let Some(e) = &c.error {
        lines.push(Line::from(Span::styled(
            e.clone(),
            Style::new().fg(Color::Red),
        )));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(" compose a message ".bold()))
        .title_bottom(
            Line::from(label(format!(
                " Enter send 1 · C-b burst {} · Tab field · Esc cancel ",
                app.burst
            )))
            .right_aligned(),
        );
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}
