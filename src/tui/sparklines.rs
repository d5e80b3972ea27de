//! Two one-line sparklines per destination pane: arrivals per second and
//! the p99 latency of each second (the newest second on the right).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Paragraph, Sparkline};

use super::app::Destination;
use super::render::label;

/// Draws the two sparklines into `area` (2 rows; 1 row shows only msg/s).
pub fn render(f: &mut Frame, d: &Destination, area: Rect) {
    let rows = Layout::vertical([Constraint::Length(1); 2]).split(area);
    for (row, name, pick, color) in [
        (rows[0], "msg/s ", 0usize, Color::Cyan),
        (rows[1], "p99   ", 1usize, Color::Magenta),
    ] {
        if row.height == 0 {
            continue;
        }
        let [l, r] = Layout::horizontal([Constraint::Length(6), Constraint::Min(0)]).areas(row);
        f.render_widget(Paragraph::new(label(name)), l);
        let width = r.width as usize;
        let data: Vec<u64> = d
            .series
            .seconds
            .iter()
            .rev()
            .take(width)
            .rev()
            .map(|s| if pick == 0 { s.0 } else { s.1 })
            .collect();
        f.render_widget(
            Sparkline::default()
                .data(&data)
                .style(Style::new().fg(color)),
            r,
        );
    }
}
