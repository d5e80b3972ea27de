//! The injector pane: the publisher's link, sent / confirmed / failed / in
//! flight, send rate, publish-to-settle latency, and the one-line diagnosis
//! when no destination receives what it sends.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, LinkStatus};
use super::layout;
use super::render::{cell, cut, error_lines, label, status_span, value, warn_value};
use crate::latency::fmt_us;

/// The source address, for the diagnosis (the target text after `→ `).
/// The source address or topic alone (`EXTERNAL`), for diagnoses.
pub fn source_name(app: &App) -> &str {
    app.injector
        .target
        .rsplit_once("→ ")
        .map_or(app.injector.target.as_str(), |(_, a)| a)
}

/// Draws the injector pane into `area` (see [`layout::INJECTOR_H`]).
pub fn render(f: &mut Frame, app: &App, area: Rect, now: Instant) {
    let inj = &app.injector;
    let st = &app.stats;
    let title = Line::from(vec![
        " injector ".bold(),
        status_span(&inj.status),
        format!(" {} ", inj.target).into(),
        format!("run {} ", st.run()).fg(Color::DarkGray),
    ]);
    let inner_w = area.width.saturating_sub(2);
    let mut cells = vec![
        cell("sent", value(st.sent)),
        cell("confirmed", value(st.confirmed)),
        cell("failed", warn_value(st.failed)),
        cell("in flight", value(st.in_flight())),
        cell("rate", value(format!("{}/s", inj.rate.per_second(now)))),
        cell(
            "target",
            value(app.rate.map_or("unpaced".to_owned(), |r| format!("{r}/s"))),
        ),
    ];
    let s = st.settle.cumulative();
    if s.count == 0 {
        cells.push(cell("publish→settle", label("–")));
    } else {
        let group = vec![
            label("publish→settle p50 "),
            value(fmt_us(s.p50)),
            label(" p99 "),
            value(fmt_us(s.p99)),
            label(" max "),
            value(fmt_us(s.max)),
            label(format!(" n={}", s.count)),
        ];
        let width: usize = group.iter().map(Span::width).sum();
        if width <= inner_w as usize {
            cells.push(group);
        } else {
            // too narrow for one line: separate cells move to the next line
            // whole, so no number is ever cut
            cells.push(vec![label("publish→settle p50 "), value(fmt_us(s.p50))]);
            cells.push(vec![label("p99 "), value(fmt_us(s.p99))]);
            cells.push(vec![label("max "), value(fmt_us(s.max))]);
            cells.push(vec![label(format!("n={}", s.count))]);
        }
    }
    let mut lines = layout::flow(cells, inner_w);
    let problem = match (&inj.status, &st.last_failure) {
        (LinkStatus::Down(e), _) => Some(format!("error: {e}")),
        _ => app
            .diagnoses(now)
            .source
            .map(|d| d.text)
            .or_else(|| match &st.last_failure {
                Some(e) if st.failed > 0 => Some(format!("last failure: {e}")),
                _ => None,
            }),
    };
    // a long problem takes two lines (the counts' first line stays)
    let problem_lines = problem.as_ref().map_or(0, |p| {
        if p.chars().count() > inner_w as usize {
            2
        } else {
            1
        }
    });
    lines.truncate(3 - problem_lines);
    if let Some(p) = problem {
        lines.extend(error_lines(&p, inner_w, problem_lines, Color::Red));
    } else if lines.len() < 3 {
        // the source's broker figures, or why there are none
        let figures = app.broker.as_ref().and_then(|b| {
            b.source_view()
                .map(|v| format!("{}: {}", source_name(app), v.summary()))
                .or_else(|| b.rabbitmq_off.clone())
        });
        if let Some(t) = figures {
            lines.push(Line::from(Span::styled(
                cut(&t, inner_w as usize),
                Style::new().fg(Color::DarkGray),
            )));
        }
    }
    let mut block = Block::default().borders(Borders::ALL).title(title);
    if let Some(path) = &app.recording {
        let text = cut(&format!(" ● REC {path} "), inner_w as usize / 2);
        block = block
            .title_top(Line::from(Span::styled(text, Style::new().fg(Color::Red))).right_aligned());
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}
