//! One destination pane: title (name, status, endpoint; PAUSED, new
//! arrivals and the filter when they apply; a highlighted border when
//! focused), counts, a one-line diagnosis, the latency table, sparklines
//! and the message list.
//!
//! Rows are given out in this priority, so a small pane keeps what matters
//! most: counts, the latency header and `all` row, the diagnosis line, three
//! list rows, the `10 s` row, the sparklines, then the rest of the list.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use super::app::{App, LinkStatus};
use super::render::{cell, cut, error_lines, label, status_span, value, warn_value};
use super::{latency_table, layout, message_list, sparklines};

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
    title.push(format!(" {} ", d.endpoint).into());
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
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
    // a diagnosis or error: its first line high in the priorities, a
    // second one (when it is long) after the `10 s` row
    let diag: Vec<Line> = match &d.status {
        LinkStatus::Down(e) => error_lines(&format!("error: {e}"), w, 2, Color::Red),
        LinkStatus::Waiting(why) => error_lines(
            &format!("{why}; reading from when it appears"),
            w,
            2,
            Color::Yellow,
        ),
        _ => app
            .diagnoses(now)
            .dests
            .get(i)
            .cloned()
            .flatten()
            .map(|s| error_lines(&s.short, w, 2, Color::Red))
            .unwrap_or_default(),
    };
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
    let diag_h = take(u16::from(!diag.is_empty()));
    let list_min = take(3);
    let recent_h = take(1);
    let diag2_h = take(u16::from(diag.len() > 1));
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
    let mut diag = diag.into_iter();
    if diag_h > 0 {
        head.extend(diag.next());
    }
    head.extend(lat.iter().take(lat_h as usize).cloned());
    if recent_h > 0 {
        head.push(lat[2].clone());
    }
    if diag2_h > 0 {
        head.extend(diag.next());
    }
    if broker_h > 0 {
        head.extend(broker);
    }
    let head_h = head.len() as u16;
    f.render_widget(Paragraph::new(head), area_of(head_h));
    sparklines::render(f, d, area_of(spark_h));
    message_list::render(f, d, &app.filter, area_of(list_h));
}
