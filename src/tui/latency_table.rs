//! The latency table of a destination pane: p50 / p90 / p99 / p99.9 / max
//! with the sample count, over the whole run (`all`) and the last 10 s.
//! Columns are 8 wide and keep their units; a window without samples shows
//! `–`. When the pane is narrow, columns drop in this order: p90, p99.9,
//! max (p50, p99 and n always stay).

use ratatui::text::Line;

use super::render::{label, value};
use crate::latency::{Summary, fmt_us};

/// Column width, characters.
const COL: usize = 8;
/// Width of the row-name column (`all`, `10 s`).
const NAME: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::P50 => "p50",
            Col::P90 => "p90",
            Col::P99 => "p99",
            Col::P999 => "p99.9",
            Col::Max => "max",
        }
    }
    fn pick(self, s: &Summary) -> u64 {
        match self {
            Col::P50 => s.p50,
            Col::P90 => s.p90,
            Col::P99 => s.p99,
            Col::P999 => s.p999,
            Col::Max => s.max,
        }
    }
}

/// The columns that fit `width`, in display order.
fn columns(width: u16) -> Vec<Col> {
    let mut cols = vec![Col::P50, Col::P90, Col::P99, Col::P999, Col::Max];
    // n needs about 5 columns
    for drop in [Col::P90, Col::P999, Col::Max] {
        if NAME + cols.len() * COL + 5 <= width as usize {
            break;
        }
        cols.retain(|c| *c != drop);
    }
    cols
}

/// The header line and one line per `(name, summary)` window.
pub fn lines(width: u16, rows: &[(&str, Summary)]) -> Vec<Line<'static>> {
    let cols = columns(width);
    let mut head = format!("{:<NAME$}", "lat");
    for c in &cols {
        head.push_str(&format!("{:<COL$}", c.name()));
    }
    head.push('n');
    let mut out = vec![Line::from(label(head))];
    for (name, s) in rows {
        let mut cells = String::new();
        for c in &cols {
            let v = if s.count == 0 {
                "–".to_owned()
            } else {
                fmt_us(c.pick(s))
            };
            cells.push_str(&format!("{v:<COL$}"));
        }
        out.push(Line::from(vec![
            label(format!("{name:<NAME$}")),
            value(cells),
            label(s.count.to_string()),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_panes_drop_p90_then_p999_then_max() {
        let names = |w| columns(w).iter().map(|c| c.name()).collect::<Vec<_>>();
        assert_eq!(names(60), ["p50", "p90", "p99", "p99.9", "max"]);
        assert_eq!(names(50), ["p50", "p99", "p99.9", "max"]);
        assert_eq!(names(38), ["p50", "p99", "max"]);
        assert_eq!(names(30), ["p50", "p99"]);
        let s = Summary::default();
        let l = lines(38, &[("all", s)]);
        assert_eq!(
            l[1].to_string().trim_end(),
            "all   –       –       –       0"
        );
    }
}
