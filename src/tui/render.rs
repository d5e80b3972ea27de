//! Drawing the UI. Reads [`App`] state only; `now` is passed in so a frozen
//! clock gives a stable picture (snapshot tests).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, Paragraph, Sparkline, Wrap};

use super::app::{App, Destination, LinkStatus};
use crate::latency::{Summary, fmt_us};
use crate::tracker::Verdict;

fn status_span(s: &LinkStatus) -> Span<'static> {
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

fn label(text: &str) -> Span<'static> {
    // (owned: callers pass temporaries)
    Span::styled(text.to_owned(), Style::new().fg(Color::DarkGray))
}

fn value(v: impl ToString) -> Span<'static> {
    Span::styled(v.to_string(), Style::new().add_modifier(Modifier::BOLD))
}

/// Draws the whole screen.
pub fn render(f: &mut Frame, app: &App, now: Instant) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(6),
        Constraint::Length(1),
    ])
    .areas(f.area());
    render_injector(f, app, top, now);
    // two panes per row
    let n = app.dests.len().max(1);
    let rows = n.div_ceil(2);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, rows as u32); rows]).split(middle);
    for (r, row) in row_areas.iter().enumerate() {
        let in_row = (n - r * 2).min(2);
        let cols =
            Layout::horizontal(vec![Constraint::Ratio(1, in_row as u32); in_row]).split(*row);
        for c in 0..in_row {
            let i = r * 2 + c;
            if let Some(d) = app.dests.get(i) {
                render_destination(f, app, i, d, cols[c], now);
            }
        }
    }
    f.render_widget(
        Paragraph::new(Line::from(vec![
            " s ".bold(),
            "send 1  ".into(),
            " b ".bold(),
            format!("burst {}  ", app.burst).into(),
            " +/- ".bold(),
            "burst size  ".into(),
            " r ".bold(),
            "reset  ".into(),
            " ? ".bold(),
            "help  ".into(),
            " q ".bold(),
            "quit".into(),
        ]))
        .style(Style::new().fg(Color::Gray)),
        bottom,
    );
    if app.show_help {
        render_help(f);
    }
}

fn render_injector(f: &mut Frame, app: &App, area: Rect, now: Instant) {
    let inj = &app.injector;
    let title = Line::from(vec![
        " injector ".bold(),
        status_span(&inj.status),
        format!(" {} ", inj.target).into(),
        format!("run {} ", app.tracker.run()).fg(Color::DarkGray),
    ]);
    let s = app.settle.cumulative();
    let mut lines = vec![
        Line::from(vec![
            label("sent "),
            value(inj.sent),
            label("  confirmed "),
            value(inj.confirmed),
            label("  failed "),
            value(inj.failed),
            label("  in flight "),
            value(app.in_flight()),
            label("  rate "),
            value(format!("{}/s", inj.rate.per_second(now))),
            label(&format!(
                "  (target {})",
                app.rate.map_or("unpaced".to_owned(), |r| format!("{r}/s"))
            )),
        ]),
        Line::from(vec![
            label("publish→settle "),
            if s.count == 0 {
                label("-")
            } else {
                value(format!(
                    "p50 {}  p99 {}  max {}  (n={})",
                    fmt_us(s.p50),
                    fmt_us(s.p99),
                    fmt_us(s.max),
                    s.count
                ))
            },
        ]),
    ];
    let problem = match (&inj.status, &inj.last_failure) {
        (LinkStatus::Down(e), _) => Some(format!("error: {e}")),
        (_, Some(e)) if inj.failed > 0 => Some(format!("last failure: {e}")),
        _ => None,
    };
    if let Some(p) = problem {
        lines.push(Line::from(Span::styled(p, Style::new().fg(Color::Red))));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// Latency as a small table: a header and one row per window, columns of
/// 8 characters, so it fits a half-width pane of a 110-column terminal.
fn latency_rows(all: Summary, recent: Summary) -> Vec<Line<'static>> {
    let cell = |v: u64, n: u64| {
        if n == 0 {
            format!("{:<8}", "-")
        } else {
            format!("{:<8}", fmt_us(v))
        }
    };
    let row = |name: &'static str, s: Summary| {
        Line::from(vec![
            label(name),
            value(format!(
                "{}{}{}{}{}",
                cell(s.p50, s.count),
                cell(s.p90, s.count),
                cell(s.p99, s.count),
                cell(s.p999, s.count),
                cell(s.max, s.count)
            )),
            label(&format!("{}", s.count)),
        ])
    };
    vec![
        Line::from(label("latency p50     p90     p99     p99.9   max     n")),
        row("all     ", all),
        row("10 s    ", recent),
    ]
}

fn render_destination(
    f: &mut Frame,
    app: &App,
    i: usize,
    d: &Destination,
    area: Rect,
    now: Instant,
) {
    let st = app.tracker.dest(i);
    let title = Line::from(vec![
        format!(" {} ", d.name).bold(),
        status_span(&d.status),
        format!(" {} ", d.endpoint).into(),
    ]);
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let warn = |n: u64| {
        if n > 0 {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    };
    let mut head = vec![
        if d.expected {
            Line::from(vec![
                label("received "),
                value(st.delivered),
                label("  pending "),
                value(app.tracker.pending(i)),
                label("  lost "),
                Span::styled(st.lost.to_string(), warn(st.lost)),
                label("  late "),
                Span::styled(st.late.to_string(), warn(st.late)),
            ])
        } else {
            Line::from(vec![
                label("received "),
                Span::styled(st.delivered.to_string(), warn(st.delivered)),
                label("  (probes come here only when the output before it fails)"),
            ])
        },
        Line::from(vec![
            label("dup "),
            Span::styled(st.duplicates.to_string(), warn(st.duplicates)),
            label("  out of order "),
            value(st.out_of_order),
            label("  foreign "),
            value(st.foreign),
            label("  rate "),
            value(format!("{}/s", d.rate.per_second(now))),
        ]),
    ];
    head.extend(latency_rows(
        st.latency.cumulative(),
        st.latency.recent(now),
    ));
    match &d.status {
        LinkStatus::Down(e) => head.push(Line::from(Span::styled(
            format!("error: {e}"),
            Style::new().fg(Color::Red),
        ))),
        LinkStatus::Waiting(why) => head.push(Line::from(Span::styled(
            format!("{why}; reading from when it appears"),
            Style::new().fg(Color::Yellow),
        ))),
        _ => {}
    }
    // room for a long error to wrap onto two more lines
    let extra = if matches!(d.status, LinkStatus::Up) {
        0
    } else {
        2
    };
    let head_h = head.len() as u16 + 1 + extra;
    let [h, spark_area, list_area] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(2),
        Constraint::Min(0),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: true }), h);
    render_sparklines(f, d, spark_area);
    let items: Vec<ListItem> = d
        .recent
        .iter()
        .take(list_area.height as usize)
        .map(|r| {
            let (lat, style) = match r.verdict {
                Verdict::Delivered {
                    latency,
                    out_of_order,
                } => (
                    format!(
                        "{}{}",
                        fmt_us(latency.as_micros() as u64),
                        if out_of_order { "~" } else { " " }
                    ),
                    if out_of_order {
                        Style::new().fg(Color::Yellow)
                    } else {
                        Style::new().fg(Color::Green)
                    },
                ),
                Verdict::Late { latency } => (
                    format!("{} late", fmt_us(latency.as_micros() as u64)),
                    Style::new().fg(Color::Red),
                ),
                Verdict::Duplicate => ("dup ".to_owned(), Style::new().fg(Color::Magenta)),
                Verdict::Foreign => ("foreign ".to_owned(), Style::new().fg(Color::DarkGray)),
            };
            ListItem::new(Line::from(vec![
                Span::styled(
                    r.wall.format("%H:%M:%S%.3f ").to_string(),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::styled(format!("{lat:>9} "), style),
                Span::styled(
                    r.seq.map_or(String::new(), |s| format!("#{s} ")),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(r.preview.clone()),
            ]))
        })
        .collect();
    f.render_widget(List::new(items), list_area);
}

/// Two one-line sparklines: arrivals per second and p99 per second.
fn render_sparklines(f: &mut Frame, d: &Destination, area: Rect) {
    let [rate_row, p99_row] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    for (row, name, pick, color) in [
        (rate_row, "msg/s ", 0usize, Color::Cyan),
        (p99_row, "p99   ", 1usize, Color::Magenta),
    ] {
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

fn render_help(f: &mut Frame) {
    let area = f.area();
    let w = 60.min(area.width);
    let h = 17.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let lines = vec![
        Line::from(" s        send one probe message to the source"),
        Line::from(" b        send a burst"),
        Line::from(" + / -    double / halve the burst size"),
        Line::from(" r        reset statistics, start a new run"),
        Line::from(" ?        toggle this help      Esc  close it"),
        Line::from(" q Ctrl-C quit"),
        Line::from(""),
        Line::from(" latency: receive − send on this process's monotonic"),
        Line::from(" clock, this run's probes only. dup = seen again;"),
        Line::from(" out of order (~ after the latency) = lower seq"),
        Line::from(" after a higher one;"),
        Line::from(" foreign = not a probe of this run. lost = not"),
        Line::from(" seen within --loss-timeout; late = seen after."),
    ];
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" help ")),
        rect,
    );
}
