//! The message inspector (Enter): one message of a destination pane with
//! its arrival and latency, its trace (where the same probe arrived, and
//! which of the metadata the injector set reached each destination — the
//! visible proof of `meta = deleted()`), the protocol's fields (Kafka:
//! topic, partition, offset, key, headers, timestamp; AMQP: body section,
//! header, properties, application properties, annotations) and the whole
//! kept body (JSON pretty-printed, text as lines, binary as hex + ASCII).
//! Every text from the network is escaped ([`crate::sanitize`]).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::{App, Inspector, Recent};
use super::message_list::verdict_text;
use super::render::{label, value};
use crate::event::{BODY_KEEP, Detail, Inject, Proto, TimestampType};
use crate::latency::fmt_us;
use crate::sanitize;
use crate::tracker::SeqStatus;

/// Longest escaped line kept, characters (the rest is cut with `…`).
const LINE_MAX: usize = 4_000;

fn safe(text: &str) -> String {
    sanitize::preview(text.as_bytes(), LINE_MAX)
}

fn safe_bytes(b: &[u8]) -> String {
    sanitize::preview(b, LINE_MAX)
}

fn heading(text: &str) -> Line<'static> {
    Line::from(Span::styled(
        format!("── {text} "),
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    ))
}

fn kv(name: &str, v: String) -> Line<'static> {
    Line::from(vec![label(format!("{name:<22} ")), Span::raw(v)])
}

/// A size in bytes as people read it.
pub fn fmt_bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// The body as lines: pretty JSON, escaped text lines, or a hex dump.
pub fn body_lines(body: &[u8]) -> (String, Vec<Line<'static>>) {
    if let Ok(text) = std::str::from_utf8(body) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let pretty = serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_owned());
            return (
                "JSON".into(),
                pretty.lines().map(|l| Line::from(safe(l))).collect(),
            );
        }
        return (
            "text".into(),
            text.split('\n')
                .map(|l| Line::from(safe(l.strip_suffix('\r').unwrap_or(l))))
                .collect(),
        );
    }
    let lines = body
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            Line::from(vec![
                label(format!("{:08x}  ", i * 16)),
                // 76 columns in all: the inspector's width at 80
                Span::raw(format!("{:<47}", hex.join(" "))),
                label(format!(" |{ascii}|")),
            ])
        })
        .collect();
    ("binary".into(), lines)
}

fn proto_lines(d: &Detail, out: &mut Vec<Line<'static>>) {
    match &d.proto {
        Proto::Kafka {
            topic,
            partition,
            offset,
            key,
            headers,
            timestamp,
        } => {
            out.push(heading("kafka record"));
            out.push(kv("topic", safe(topic)));
            out.push(kv("partition", partition.to_string()));
            out.push(kv("offset", offset.to_string()));
            out.push(kv(
                "key",
                match key {
                    None => "null".into(),
                    Some(k) if k.is_empty() => "(empty)".into(),
                    Some(k) => safe_bytes(k),
                },
            ));
            out.push(kv(
                "timestamp",
                match timestamp {
                    None => "not available".into(),
                    Some((ms, kind)) => format!(
                        "{} ({})",
                        chrono::DateTime::from_timestamp_millis(*ms).map_or(ms.to_string(), |t| t
                            .format("%Y-%m-%d %H:%M:%S%.3f UTC")
                            .to_string()),
                        match kind {
                            TimestampType::CreateTime => "CreateTime",
                            TimestampType::LogAppendTime => "LogAppendTime",
                        }
                    ),
                },
            ));
            if headers.is_empty() {
                out.push(kv("headers", "none".into()));
            } else {
                out.push(kv("headers", format!("{}", headers.len())));
                for (k, v) in headers {
                    out.push(kv(
                        &format!("  {}", safe(k)),
                        match v {
                            None => "null".into(),
                            Some(v) if v.is_empty() => "(empty)".into(),
                            Some(v) => safe_bytes(v),
                        },
                    ));
                }
            }
        }
        Proto::Amqp {
            body_section,
            header,
            properties,
            application_properties,
            annotations,
        } => {
            out.push(heading("amqp 1.0 message"));
            out.push(kv("body section", safe(body_section)));
            for (title, list) in [
                ("header", header),
                ("properties", properties),
                ("application properties", application_properties),
                ("message annotations", annotations),
            ] {
                if list.is_empty() {
                    out.push(kv(title, "none".into()));
                } else {
                    out.push(kv(title, String::new()));
                    for (k, v) in list {
                        out.push(kv(&format!("  {}", safe(k)), safe(v)));
                    }
                }
            }
        }
    }
}

/// What one injected item looks like at a destination: `kept`, `absent`,
/// or `changed: <value>`. Kafka carries metadata as record headers (the
/// content type as `amqp_content_type`, as Bento names it); AMQP as
/// properties, application properties or message annotations.
pub fn carried(d: &Detail, kind: ItemKind, key: &str, want: &str) -> String {
    let found: Option<String> = match &d.proto {
        Proto::Kafka { headers, .. } => {
            let name = if kind == ItemKind::ContentType {
                "amqp_content_type"
            } else {
                key
            };
            headers.iter().find(|(k, _)| k == name).map(|(_, v)| {
                v.as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            })
        }
        Proto::Amqp {
            properties,
            application_properties,
            annotations,
            ..
        } => {
            let find = |l: &Vec<(String, String)>, k: &str| {
                l.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            };
            match kind {
                ItemKind::ContentType => find(properties, "content-type"),
                _ => find(application_properties, key).or_else(|| find(annotations, key)),
            }
        }
    };
    match found {
        None => "absent".into(),
        Some(v) if v == want || v.trim_matches('"') == want => "kept".into(),
        Some(v) => format!("changed: {}", safe(&v)),
    }
}

/// The kinds of metadata the injector sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// The `content-type` property.
    ContentType,
    /// An application property.
    Property,
    /// A message annotation.
    Annotation,
}

/// `(kind, row label, key, value)` of everything `inject` set.
pub fn injected_items(inject: &Inject) -> Vec<(ItemKind, String, String, String)> {
    let mut v = vec![(
        ItemKind::ContentType,
        "content-type".to_owned(),
        "content-type".to_owned(),
        inject.content_type.clone(),
    )];
    v.extend(inject.properties.iter().map(|(k, val)| {
        (
            ItemKind::Property,
            format!("property {k}"),
            k.clone(),
            val.clone(),
        )
    }));
    v.extend(inject.annotations.iter().map(|(k, val)| {
        (
            ItemKind::Annotation,
            format!("annotation {k}"),
            k.clone(),
            val.clone(),
        )
    }));
    v
}

fn trace_lines(app: &App, r: &Recent, out: &mut Vec<Line<'static>>) {
    let Some(seq) = r.seq() else {
        out.push(heading("trace"));
        out.push(Line::from(label(
            "not a probe of this run: nothing to trace (foreign: counted, never timed)",
        )));
        return;
    };
    out.push(heading(&format!(
        "trace: run {} seq #{seq}",
        app.stats.run()
    )));
    let hits = app.trace.get(&seq);
    let sent = app.stats.tracker.sent_at(seq);
    for (j, d) in app.dests.iter().enumerate() {
        let hit = hits.and_then(|h| h.get(j)).and_then(|h| h.as_ref());
        let text = match (hit, app.stats.tracker.seq_status(j, seq)) {
            (Some(h), _) => Span::styled(
                format!(
                    "{}  {}",
                    h.wall.format("%H:%M:%S%.3f"),
                    h.latency
                        .map_or("–".into(), |l| fmt_us(l.as_micros() as u64))
                ),
                Style::new().fg(Color::Green),
            ),
            (None, SeqStatus::Arrived) => Span::raw("arrived (no longer in the trace)"),
            (None, SeqStatus::Lost) => Span::styled(
                "lost (not seen within the loss timeout)",
                Style::new().fg(Color::Red),
            ),
            (None, SeqStatus::Pending) if !d.expected => Span::styled(
                "not received (only gets what fails)",
                Style::new().fg(Color::DarkGray),
            ),
            (None, SeqStatus::Pending) => Span::styled("not yet", Style::new().fg(Color::Yellow)),
            (None, SeqStatus::NotSent) if sent.is_none() => Span::raw("never sent"),
            (None, SeqStatus::NotSent) => Span::raw("not received"),
        };
        out.push(Line::from(vec![
            label(format!("{:<22} ", cut_name(&d.name))),
            text,
        ]));
    }
    let Some(inject) = app.injected_with(seq) else {
        return;
    };
    out.push(heading("metadata: injected → arrived"));
    let items = injected_items(inject);
    let item_w = items
        .iter()
        .map(|i| i.1.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 30)
        + 2;
    let inj_w = items
        .iter()
        .map(|i| i.3.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, 30)
        + 2;
    let dest_w = app
        .dests
        .iter()
        .map(|d| d.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(12, 21)
        + 2;
    let pad = |s: &str, w: usize| format!("{:<w$}", super::render::cut(s, w - 2));
    let mut head = vec![label(pad("item", item_w)), label(pad("injector", inj_w))];
    head.extend(app.dests.iter().map(|d| label(pad(&d.name, dest_w))));
    out.push(Line::from(head));
    let mut all_gone = true;
    let mut unknown = false;
    for (kind, name, key, want) in items {
        let mut row = vec![
            Span::raw(pad(&safe(&name), item_w)),
            value(pad(&safe(&want), inj_w)),
        ];
        for (j, _) in app.dests.iter().enumerate() {
            let hit = hits.and_then(|h| h.get(j)).and_then(|h| h.as_ref());
            let (t, style) = match hit.and_then(|h| h.detail.as_deref()) {
                None => {
                    unknown = true;
                    let t = if hit.is_some() { "not captured" } else { "–" };
                    (t.to_owned(), Style::new().fg(Color::DarkGray))
                }
                Some(det) => {
                    let t = carried(det, kind, &key, &want);
                    let c = if t == "absent" {
                        Color::DarkGray
                    } else {
                        all_gone = false;
                        Color::Yellow
                    };
                    (t, Style::new().fg(c))
                }
            };
            row.push(Span::styled(pad(&t, dest_w), style));
        }
        out.push(Line::from(row));
    }
    out.push(Line::from(label(if unknown {
        "(a destination's copy is not here yet or its fields were not captured)"
    } else if all_gone {
        "no copy kept what the injector set: the stream deleted the metadata"
    } else {
        "some metadata reached a destination (kept / changed)"
    })));
}

fn cut_name(n: &str) -> String {
    super::render::cut(n, 21)
}

/// Every line of the inspector for `r` in pane `dest`.
pub fn lines(app: &App, dest: usize, r: &Recent) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let (v, style) = verdict_text(&r.verdict);
    out.push(Line::from(vec![
        label("arrived "),
        value(r.wall.format("%Y-%m-%d %H:%M:%S%.3f UTC")),
        label("  at "),
        value(cut_name(&app.dests[dest].name)),
    ]));
    out.push(Line::from(vec![
        label("latency "),
        Span::styled(v.trim_end().to_owned(), style),
        label("  size "),
        value(fmt_bytes(r.size)),
        label(match &r.probe {
            Some((run, seq)) => format!("  probe run {} seq #{seq}", safe(run)),
            None => "  not a probe".into(),
        }),
    ]));
    if let (
        crate::tracker::Verdict::Delivered { latency, .. }
        | crate::tracker::Verdict::Late { latency },
        Some(Proto::Kafka {
            timestamp: Some((ms, kind)),
            ..
        }),
    ) = (r.verdict, r.detail.as_deref().map(|d| &d.proto))
    {
        let (before, after) = crate::stats::split_at(latency, r.wall, *ms);
        let at = match kind {
            TimestampType::CreateTime => "produce",
            TimestampType::LogAppendTime => "append",
        };
        out.push(Line::from(vec![
            label("split   "),
            value(format!(
                "inject → {at} {} · {at} → consume {}",
                fmt_us(before.as_micros() as u64),
                fmt_us(after.as_micros() as u64)
            )),
        ]));
    }
    trace_lines(app, r, &mut out);
    match r.detail.as_deref() {
        None => out.push(Line::from(label("(protocol fields not captured)"))),
        Some(d) => {
            proto_lines(d, &mut out);
            let (kind, body) = body_lines(&d.body);
            let kept = if r.size > d.body.len() {
                format!(
                    ", first {} of {} kept",
                    fmt_bytes(d.body.len().min(BODY_KEEP)),
                    fmt_bytes(r.size)
                )
            } else {
                String::new()
            };
            out.push(heading(&format!(
                "body: {kind}, {}{kept}",
                fmt_bytes(r.size)
            )));
            out.extend(body);
        }
    }
    out
}

/// Splits `line` into lines of at most `width` columns (styles kept;
/// continuation lines indented by two spaces), so nothing of a long value
/// is cut off: the inspector scrolls instead.
pub fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    if width < 8 || line.width() <= width {
        return vec![line];
    }
    let mut out = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut text = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width {
                if !text.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut text), span.style));
                }
                out.push(Line::from(std::mem::take(&mut cur)));
                cur.push(Span::raw("  "));
                used = 2;
            }
            text.push(c);
            used += w;
        }
        if !text.is_empty() {
            cur.push(Span::styled(text, span.style));
        }
    }
    if !cur.is_empty() {
        out.push(Line::from(cur));
    }
    out
}

/// The inspector's frame over `area` (a margin of one cell).
fn frame(area: Rect) -> Rect {
    Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    )
}

/// The inspector's text for `ins`, wrapped to `width` columns.
fn body(app: &App, ins: &Inspector, width: u16) -> Vec<Line<'static>> {
    let msg = app.dests.get(ins.dest).and_then(|d| d.by_id(ins.id));
    let body = match msg {
        None => vec![Line::from(
            "this message is no longer kept (cleared, or more than the list keeps arrived since)",
        )],
        Some(r) => lines(app, ins.dest, r),
    };
    body.into_iter()
        .flat_map(|l| wrap(l, width as usize))
        .collect()
}

/// The largest useful `ins.scroll` on a `screen`: from it on the last
/// line shows (scrolling further would only have to be undone).
pub fn max_scroll(app: &App, ins: &Inspector, screen: Rect) -> usize {
    let inner = Block::default().borders(Borders::ALL).inner(frame(screen));
    body(app, ins, inner.width)
        .len()
        .saturating_sub(inner.height as usize)
}

/// Draws the inspector over `area` (a margin of one cell).
pub fn render(f: &mut Frame, app: &App, ins: &Inspector, area: Rect, _now: Instant) {
    let rect = frame(area);
    f.render_widget(Clear, rect);
    let d = app.dests.get(ins.dest);
    let title = Line::from(vec![
        " message ".bold(),
        format!("{} ", d.map_or("?", |d| d.name.as_str())).into(),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .title_bottom(Line::from(label(" j/k PgUp/PgDn g/G scroll · Esc close ")).right_aligned());
    let inner = block.inner(rect);
    let body = body(app, ins, inner.width);
    let h = inner.height as usize;
    let scroll = ins.scroll.min(body.len().saturating_sub(h));
    let shown: Vec<Line> = body.into_iter().skip(scroll).take(h).collect();
    f.render_widget(Paragraph::new(shown).block(block), rect);
}
