//! A destination pane's message list: newest first, one row per message
//! (arrival time, latency or verdict, seq, body preview), the selected row
//! highlighted. Narrow panes drop the arrival time first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, Paragraph};

use super::app::{Destination, Recent};
use crate::latency::fmt_us;
use crate::tracker::Verdict;

/// The latency column's text and colour for a message.
pub fn verdict_text(v: &Verdict) -> (String, Style) {
    match *v {
        Verdict::Delivered {
            latency,
            out_of_order,
        } => (
            format!(
                "{}{}",
                fmt_us(latency.as_micros() as u64),
                if out_of_order { "~" } else { " " }
            ),
            Style::new().fg(if out_of_order {
                Color::Yellow
            } else {
                Color::Green
            }),
        ),
        Verdict::Late { latency } => (
            format!("{} late", fmt_us(latency.as_micros() as u64)),
            Style::new().fg(Color::Red),
        ),
        Verdict::Duplicate => ("dup ".to_owned(), Style::new().fg(Color::Magenta)),
        Verdict::Foreign => ("foreign ".to_owned(), Style::new().fg(Color::DarkGray)),
    }
}

fn row(r: &Recent, show_time: bool, selected: bool) -> ListItem<'static> {
    let (lat, style) = verdict_text(&r.verdict);
    let mut spans = Vec::with_capacity(4);
    if show_time {
        spans.push(Span::styled(
            r.wall.format("%H:%M:%S%.3f ").to_string(),
            Style::new().fg(Color::DarkGray),
        ));
    }
    spans.push(Span::styled(format!("{lat:>9} "), style));
    if let Some(s) = r.seq() {
        spans.push(Span::styled(
            format!("#{s} "),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    // A probe's envelope says nothing the seq and latency do not: show its
    // size and its payload, if any (Enter shows the whole body).
    if r.seq().is_some() {
        spans.push(Span::styled(
            format!("{} ", super::inspector::fmt_bytes(r.size)),
            Style::new().fg(Color::DarkGray),
        ));
        if let Some(i) = r.preview.find("\"payload\":") {
            spans.push(Span::raw(r.preview[i..].to_owned()));
        }
    } else {
        spans.push(Span::raw(r.preview.clone()));
    }
    let item = ListItem::new(Line::from(spans));
    if selected {
        item.style(Style::new().add_modifier(Modifier::REVERSED))
    } else {
        item
    }
}

/// Draws `d`'s list (filtered by the lower-cased `filter`) into `area`.
/// With a selection, the list scrolls so the selected row stays visible.
pub fn render(f: &mut Frame, d: &Destination, filter: &str, area: Rect) {
    if area.height == 0 {
        return;
    }
    let vis = d.visible(filter);
    if vis.is_empty() && !filter.is_empty() && !d.recent.is_empty() {
        let text = format!("no message here matches /{filter}");
        f.render_widget(
            Paragraph::new(Span::styled(text, Style::new().fg(Color::DarkGray))),
            area,
        );
        return;
    }
    let h = area.height as usize;
    let sel = d
        .selected
        .and_then(|id| vis.iter().position(|&i| d.recent[i].id <= id));
    let offset = sel.map_or(0, |s| s.saturating_sub(h - 1));
    let show_time = area.width >= 36;
    let items: Vec<ListItem> = vis
        .iter()
        .enumerate()
        .skip(offset)
        .take(h)
        .map(|(k, &i)| row(&d.recent[i], show_time, Some(k) == sel))
        .collect();
    f.render_widget(List::new(items), area);
}
