//! What the UI leaves behind: the "stopping" banner while the links detach,
//! and the short summary of the run printed to the normal screen on quit
//! (as oha prints its summary).

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::App;
use crate::latency::fmt_us;

/// Draws the one-line "stopping" banner with the time left.
pub fn render_quitting(f: &mut Frame, left: Duration) {
    let area = f.area();
    let text = format!(
        " stopping: closing the links ({:.1} s at most; q again stops now) ",
        left.as_secs_f64()
    );
    let w = (text.chars().count() as u16 + 2).min(area.width);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + area.height / 2,
        w,
        3.min(area.height),
    );
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(text)
            .style(Style::new().fg(Color::Yellow))
            .block(Block::default().borders(Borders::ALL)),
        rect,
    );
}

/// The run's summary: sends, then per destination received / lost /
/// pending (sent, not seen yet when the UI quit: `probe` would count them
/// lost) / late / dup
/// and p50 / p99 (`–` without samples); where the session was saved.
pub fn text(app: &App, saved: Option<&str>) -> String {
    let st = &app.stats;
    let s = st.settle.cumulative();
    let mut out = format!(
        "streamprobe: run {}: sent {}, confirmed {}, failed {}",
        st.run(),
        st.sent,
        st.confirmed,
        st.failed
    );
    out.push('\n');
    if app.tls_unverified {
        // fits 80 columns (the quit summary's width)
        out.push_str("  WARNING: a TLS certificate is NOT verified (see the endpoints)\n");
    }
    if s.count > 0 {
        out.push_str(&format!(
            "  publish→settle p50 {} p99 {} n={}\n",
            fmt_us(s.p50),
            fmt_us(s.p99),
            s.count
        ));
    }
    let width = app
        .dests
        .iter()
        .map(|d| d.name.chars().count())
        .max()
        .unwrap_or(0);
    for (i, d) in app.dests.iter().enumerate() {
        let t = st.tracker.dest(i);
        let l = t.latency.cumulative();
        let us = |v: u64| {
            if l.count == 0 {
                "–".to_owned()
            } else {
                fmt_us(v)
            }
        };
        let counts = if d.expected {
            format!(
                "received {} lost {} pending {} late {} dup {}",
                t.delivered,
                t.lost,
                st.tracker.pending(i),
                t.late,
                t.duplicates
            )
        } else {
            format!("received {} dup {}", t.delivered, t.duplicates)
        };
        // counts and latency on lines of their own: both fit 80 columns
        out.push_str(&format!(
            "  {:<width$}  {counts}\n  {:<width$}  latency p50 {} p99 {} n={}\n",
            d.name,
            "",
            us(l.p50),
            us(l.p99),
            l.count
        ));
    }
    if let Some(p) = saved {
        let p = super::home_relative(p);
        out.push_str(&format!(
            "  session recorded; read it with:\n  streamprobe report {p}\n"
        ));
    }
    out
}
