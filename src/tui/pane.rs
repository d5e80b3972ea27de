//! One destination pane: title (name, status, endpoint; PAUSED, new
//! arrivals and the filter when they apply; a highlighted border when
//! focused), counts, a one-line diagnosis, the latency table, sparklines
//! and the message list.
//!
//! Rows are given out in this priority, so a small pane keeps what matters
//! most: counts, the latency header and `all` row, the diagnosis's first
//! line, three list rows (none while the list is empty), the `10 s` row, the rest of the diagnosis (up to
//! [`DIAG_MAX`] lines, word-wrapped), the broker figures, the sparklines,
//! then the rest of the list. The diagnosis is shown in one piece under the
//! counts; given one row only, it is its short form.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use super::app::{App, LinkStatus};
use super::render::{self, cell, cut, error_lines, label, status_span, value, warn_value};
use super::{latency_table, layout, message_list, sparklines};

/// Most lines a diagnosis takes in a destination pane.
pub const DIAG_MAX: usize = 8;

/// Draws pane `i` into `area`.
pub fn render(f: &mut Frame, app: &App, i: usize, area: Rect, now: Instant) {
    let d = &app.dests[i];
    let st = app.stats.tracker.dest(i);
    let focused = app.focused && app.focus == i;
    let mut title = vec![format!(" {} ", d.name).bold(), status_span(&d.status)];
    if app.paused {
        title.push(Span::styled(
            " PAUSED ",
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ));
    }
    if d.unseen() > 0 {
        title.push(Span::styled(
            format!(" +{} new ", d.unseen()),
            Style::new().fg(Color::Cyan),
        ));
    }
    if !app.filter.is_empty() {
        title.push(Span::styled(
            format!(" /{} ", app.filter),
            Style::new().fg(Color::Yellow),
        ));
    }
    let mut block = Block::default().borders(Borders::ALL).title(render::title(
        title,
        &d.endpoint,
        vec![],
        area.width,
    ));
    if focused {
        block = block
            .border_type(BorderType::Thick)
            .border_style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width;

    let mut cells = vec![cell(
        "received",
        if d.expected {
            value(st.delivered)
        } else {
            warn_value(st.delivered)
        },
    )];
    if d.expected {
        cells.push(cell("pending", value(app.stats.tracker.pending(i))));
        cells.push(cell("lost", warn_value(st.lost)));
        cells.push(cell("late", warn_value(st.late)));
    }
    cells.push(cell("dup", warn_value(st.duplicates)));
    cells.push(cell("out of order", value(st.out_of_order)));
    cells.push(cell("foreign", value(st.foreign)));
    cells.push(cell("rate", value(format!("{}/s", d.rate.per_second(now)))));
    if !d.expected {
        cells.push(vec![label("(only what the output before it fails)")]);
    }
    let counts = layout::flow(cells, w);
    // a diagnosis or error: (full text, short form, colour); the link's
    // error when it is down, else the destination's diagnosis (it names the
    // cause), else why the link waits
    let diagnosis = app.diagnoses(now).dests.get(i).cloned().flatten();
    let diag: Option<(String, String, Color)> = match (&d.status, diagnosis) {
        (LinkStatus::Down(e), _) => {
            let t = format!("error: {e}");
            Some((t.clone(), t, Color::Red))
        }
        (_, Some(s)) => Some((s.text, s.short, Color::Red)),
        (LinkStatus::Waiting(why), None) => Some((
            format!("{why}; reading from when it appears"),
            why.clone(),
            Color::Yellow,
        )),
        _ => None,
    };
    let diag_full = diag
        .as_ref()
        .map_or(0, |(t, _, c)| error_lines(t, w, DIAG_MAX, *c).len());
    let lat = latency_table::lines(
        w,
        &[
            ("all", st.latency.cumulative()),
            ("10 s", st.latency.recent(now)),
        ],
    );

    // What the broker says about this destination (queue or topic figures).
    let broker = app
        .broker
        .as_ref()
        .and_then(|b| b.dests.get(i).cloned().flatten())
        // a topic still awaited: the status line already says it is missing
        .filter(|v| {
            !(matches!(d.status, LinkStatus::Waiting(_)) && v.summary().contains("does not exist"))
        })
        .map(|v| {
            Line::from(Span::styled(
                cut(&v.summary(), w as usize),
                Style::new().fg(Color::DarkGray),
            ))
        });

    // Give out rows by priority.
    let mut left = inner.height;
    let mut take = |want: u16| {
        let n = want.min(left);
        left -= n;
        n
    };
    let counts_h = take(counts.len() as u16);
    let lat_h = take(2);
    let diag_h = take(u16::from(diag_full > 0));
    // an empty list gives its rows to the diagnosis (a link that is down
    // has nothing to list, and its error names the remedy)
    let list_min = take(if d.recent.is_empty() { 0 } else { 3 });
    let recent_h = take(1);
    let diag_h = diag_h + take(diag_full.saturating_sub(1) as u16);
    let broker_h = take(u16::from(broker.is_some()));
    let spark_h = take(2);
    let list_h = list_min + take(u16::MAX);

    let mut y = inner.y;
    let mut area_of = |h: u16| {
        let r = Rect::new(inner.x, y, w, h);
        y += h;
        r
    };
    let mut head: Vec<Line> = counts.into_iter().take(counts_h as usize).collect();
    if let Some((text, short, color)) = diag.filter(|_| diag_h > 0) {
        let rows = diag_h as usize;
        let text = if rows == 1 && rows < diag_full {
            short
        } else {
            text
        };
        head.extend(error_lines(&text, w, rows, color));
    }
    head.extend(lat.iter().take(lat_h as usize).cloned());
    if recent_h > 0 {
        head.push(lat[2].clone());
    }
    if broker_h > 0 {
        head.extend(broker);
    }
    let head_h = head.len() as u16;
    f.render_widget(Paragraph::new(head), area_of(head_h));
    sparklines::render(f, d, area_of(spark_h));
    message_list::render(f, d, &app.filter, area_of(list_h));
}
