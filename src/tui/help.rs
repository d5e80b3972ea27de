//! The help overlay (`?`): every key binding from [`keys::BINDINGS`] (the
//! same table the reducer and the hints line use) and what the numbers mean.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::keys::{self, Mode};
use super::render::label;

/// The help text, one line per binding (main view first, then the
/// inspector's, the filter's and the composer's own keys).
pub fn lines() -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (mode, title) in [
        (Mode::Main, None),
        (Mode::Inspector, Some("inspector (Enter)")),
        (Mode::Filter, Some("filter (/)")),
        (Mode::Composer, Some("composer (m)")),
    ] {
        if let Some(t) = title {
            out.push(Line::from(label(format!(" {t}"))));
        }
        let mut in_section: Vec<&str> = Vec::new();
        for b in keys::BINDINGS.iter().filter(|b| b.modes.contains(&mode)) {
            let id = b.label;
            if (title.is_none() && seen.contains(&id)) || in_section.contains(&id) {
                continue;
            }
            seen.push(id);
            in_section.push(id);
            out.push(Line::from(vec![
                format!(" {:<8}", b.label).bold(),
                b.help.into(),
            ]));
        }
    }
    out.push(Line::from(""));
    for l in [
        " latency: receive − send on this process's monotonic clock (with",
        " --rate, from the intended send time); this run's probes only.",
        " lost = not seen within --loss-timeout; late = seen after that;",
        " dup = seen again; out of order (~) = lower seq after a higher;",
        " foreign = not a probe of this run (counted, never timed).",
        " mouse: click focuses a pane, the wheel scrolls the list under it.",
    ] {
        out.push(Line::from(label(l)));
    }
    out
}

/// The overlay's height and text rows for `n` lines in `height` rows.
fn rows(n: usize, height: u16) -> (u16, usize) {
    let h = (n as u16 + 2).min(height);
    (h, h.saturating_sub(2) as usize)
}

/// The last first line the overlay scrolls to on a `screen`: beyond it
/// the last lines already show.
pub fn max_scroll(screen: Rect) -> usize {
    let n = lines().len();
    n.saturating_sub(rows(n, screen.height.saturating_sub(1)).1)
}

/// Draws the overlay centred in `area` above its last row (the hints line
/// stays visible), from line `scroll` on: on a screen too short for all of
/// it, j/k PgUp/PgDn g/G scroll and the title says which lines show.
pub fn render(f: &mut Frame, area: Rect, scroll: usize) {
    let all = lines();
    let area = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    let w = 76.min(area.width);
    let (h, rows) = rows(all.len(), area.height);
    let first = scroll.min(all.len().saturating_sub(rows));
    let title = if rows >= all.len() {
        " help · Esc close ".to_owned()
    } else {
        format!(
            " help {}–{} of {} · j/k scroll · Esc close ",
            first + 1,
            (first + rows).min(all.len()),
            all.len()
        )
    };
    let body: Vec<Line> = all.into_iter().skip(first).take(rows).collect();
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(body).block(Block::default().borders(Borders::ALL).title(title)),
        rect,
    );
}
