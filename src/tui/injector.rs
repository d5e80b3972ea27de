//! The injector pane: the publisher's link, sent / confirmed / failed / in
//! flight, send rate, publish-to-settle latency, and the one-line diagnosis
//! when no destination receives what it sends.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, LinkStatus};
use super::layout;
use super::render::{self, cell, cut, error_lines, label, status_span, value, warn_value};
use crate::latency::fmt_us;

/// The source address, for the diagnosis (the target text after `→ `).
/// The source address or topic alone (`EXTERNAL`), for diagnoses.
pub fn source_name(app: &App) -> &str {
    app.injector
        .target
        .rsplit_once("→ ")
        .map_or(app.injector.target.as_str(), |(_, a)| a)
}

/// The injector pane's content for `inner_w` columns: the count lines, the
/// problem (link error, source diagnosis or last failure; shown
/// word-wrapped over up to [`PROBLEM_MAX`] lines) and, when there is no
/// problem, one line of the source's broker figures.
struct Content {
    counts: Vec<Line<'static>>,
    problem: Option<String>,
    figures: Option<Line<'static>>,
}

/// Most lines a problem takes in the injector pane.
pub const PROBLEM_MAX: usize = 6;

fn content(app: &App, inner_w: u16, now: Instant) -> Content {
    let inj = &app.injector;
    let st = &app.stats;
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
    // paced: how late the sender was against the intended send times
    let lag = st.sender_lag.cumulative();
    if lag.count > 0 {
        cells.push(vec![
            label("sender lag p50 "),
            value(fmt_us(lag.p50)),
            label(" p99 "),
            value(fmt_us(lag.p99)),
        ]);
    }
    let counts = layout::flow(cells, inner_w);
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
    // the source's broker figures, or why there are none
    let figures = if problem.is_none() {
        app.broker
            .as_ref()
            .and_then(|b| {
                b.source_view()
                    .map(|v| format!("{}: {}", source_name(app), v.summary()))
                    .or_else(|| b.rabbitmq_off.clone())
            })
            .map(|t| {
                Line::from(Span::styled(
                    cut(&t, inner_w as usize),
                    Style::new().fg(Color::DarkGray),
                ))
            })
    } else {
        None
    };
    Content {
        counts,
        problem,
        figures,
    }
}

/// Rows the injector pane wants at `width` columns (border included): at
/// least [`layout::INJECTOR_H`], more while a problem needs them, so a
/// diagnosis and its remedy are read whole ([`layout::screen`] gives what
/// the destination panes can spare).
pub fn height(app: &App, width: u16, now: Instant) -> u16 {
    let w = width.saturating_sub(2);
    let c = content(app, w, now);
    let problem = c
        .problem
        .map_or(0, |p| error_lines(&p, w, PROBLEM_MAX, Color::Red).len());
    let lines = c.counts.len() + problem + usize::from(c.figures.is_some());
    (lines as u16 + 2).max(layout::INJECTOR_H)
}

/// Draws the injector pane into `area` (see [`height`]). When rows are
/// short, the first count line and the whole problem come first, then the
/// other count lines, then the broker figures.
pub fn render(f: &mut Frame, app: &App, area: Rect, now: Instant) {
    let inj = &app.injector;
    let st = &app.stats;
    // recording: a badge (the file is named on the hints line and in the
    // quit summary), never the run id pushed out
    let mut right = vec![format!("run {} ", st.run()).fg(Color::DarkGray)];
    if app.recording.is_some() {
        right.push(Span::styled("● REC ", Style::new().fg(Color::Red)));
    }
    // the endpoint's own "(TLS NOT VERIFIED)" may be cut at 80 columns
    if app.tls_unverified {
        right.push(Span::styled(
            "TLS NOT VERIFIED ",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    let title = render::title(
        vec![" injector ".bold(), status_span(&inj.status)],
        &inj.target,
        right,
        area.width,
    );
    let inner_w = area.width.saturating_sub(2);
    let rows = area.height.saturating_sub(2) as usize;
    let Content {
        counts,
        problem,
        figures,
    } = content(app, inner_w, now);
    let mut counts = counts.into_iter();
    let mut lines: Vec<Line> = counts.next().into_iter().collect();
    // fewer rows than the problem wants: its last shown line is cut
    let max = PROBLEM_MAX.min(rows.saturating_sub(lines.len()));
    let problem = problem.map_or_else(Vec::new, |p| error_lines(&p, inner_w, max, Color::Red));
    let more = rows.saturating_sub(lines.len() + problem.len());
    lines.extend(counts.take(more));
    lines.extend(problem);
    if lines.len() < rows {
        lines.extend(figures);
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    f.render_widget(Paragraph::new(lines).block(block), area);
}
