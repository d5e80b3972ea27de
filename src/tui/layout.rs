//! Where everything goes on screen, as pure functions of the terminal size,
//! so rendering and mouse hit tests agree.
//!
//! Priorities (DESIGN.md, "Design for 80×24 first"): the injector pane (5
//! rows, more while a problem needs them and the panes can spare them) and
//! the hints line (1 row) always; destination panes in two
//! columns when the terminal is at least `2 × MIN_PANE_W` wide, else one
//! above the other; inside a pane see [`super::pane`]. A terminal too small
//! for every pane's minimum gets a one-line placeholder instead.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

/// Rows of the injector pane at least (border + 3 lines).
pub const INJECTOR_H: u16 = 5;
/// Narrowest destination pane, columns (border included): the counts, the
/// latency table's p50 / p99 / max / n columns and a short list row fit.
pub const MIN_PANE_W: u16 = 38;
/// Lowest destination pane, rows (border + 2 count lines + latency header
/// and `all` row + 1 list row).
pub const MIN_PANE_H: u16 = 7;

/// The screen's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// The injector pane (full width, [`INJECTOR_H`] rows or more).
    pub injector: Rect,
    /// One per destination, in destination order.
    pub panes: Vec<Rect>,
    /// The hints line.
    pub status: Rect,
}

fn grid(n: usize, width: u16) -> (usize, usize) {
    let cols = if n >= 2 && width >= 2 * MIN_PANE_W {
        2
    } else {
        1
    };
    (cols, n.max(1).div_ceil(cols))
}

/// The smallest terminal `(columns, rows)` that shows `n` destination panes.
pub fn min_size(n: usize) -> (u16, u16) {
    let (cols, rows) = grid(n, u16::MAX);
    (
        MIN_PANE_W * cols as u16,
        INJECTOR_H + 1 + MIN_PANE_H * rows as u16,
    )
}

/// The smallest terminal that shows `n` destination panes one above the
/// other (one column).
pub fn min_size_stacked(n: usize) -> (u16, u16) {
    (MIN_PANE_W, INJECTOR_H + 1 + MIN_PANE_H * n.max(1) as u16)
}

/// The regions for `n` destinations in `area`, or `None` when it is too
/// small (see [`min_size`]). The injector pane gets `injector_h` rows (see
/// [`super::injector::height`]) as far as the destination panes keep
/// [`MIN_PANE_H`] rows each, and never fewer than [`INJECTOR_H`].
pub fn screen(area: Rect, n: usize, injector_h: u16) -> Option<Screen> {
    let (cols, rows) = grid(n, area.width);
    let spare = area.height.checked_sub(INJECTOR_H + 1)?;
    if area.width < MIN_PANE_W || spare < MIN_PANE_H * rows as u16 {
        return None;
    }
    let inj_h = injector_h.clamp(INJECTOR_H, INJECTOR_H + spare - MIN_PANE_H * rows as u16);
    let panes_h = area.height - inj_h - 1;
    let injector = Rect::new(area.x, area.y, area.width, inj_h);
    let status = Rect::new(area.x, area.y + area.height - 1, area.width, 1);
    let top = area.y + inj_h;
    let mut panes = Vec::with_capacity(n);
    for i in 0..n {
        let (r, c) = ((i / cols) as u16, (i % cols) as u16);
        let in_row = (n - (r as usize) * cols).min(cols) as u16;
        let y0 = top + panes_h * r / rows as u16;
        let y1 = top + panes_h * (r + 1) / rows as u16;
        let x0 = area.x + area.width * c / in_row;
        let x1 = area.x + area.width * (c + 1) / in_row;
        panes.push(Rect::new(x0, y0, x1 - x0, y1 - y0));
    }
    Some(Screen {
        injector,
        panes,
        status,
    })
}

/// Packs `cells` (each a label and its value, never split) into lines of at
/// most `width` columns, two spaces apart; a cell wider than a line gets a
/// line of its own (and is cut at the edge, never wrapped).
pub fn flow(cells: Vec<Vec<Span<'static>>>, width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for cell in cells {
        let w: usize = cell.iter().map(|s| s.width()).sum();
        if used > 0 && used + 2 + w > width {
            lines.push(Line::from(std::mem::take(&mut cur)));
            used = 0;
        }
        if used > 0 {
            cur.push(Span::raw("  "));
            used += 2;
        }
        used += w;
        cur.extend(cell);
    }
    if !cur.is_empty() {
        lines.push(Line::from(cur));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_columns_at_80x24_and_four_panes_at_120x40() {
        let s = screen(Rect::new(0, 0, 80, 24), 2, INJECTOR_H).unwrap();
        assert_eq!(s.panes, [Rect::new(0, 5, 40, 18), Rect::new(40, 5, 40, 18)]);
        // a taller injector (a long diagnosis) takes rows from the panes,
        // never below their minimum
        let s = screen(Rect::new(0, 0, 80, 24), 2, 9).unwrap();
        assert_eq!(
            (s.injector.height, s.panes[0].y, s.panes[0].height),
            (9, 9, 14)
        );
        let s = screen(Rect::new(0, 0, 80, 15), 2, 9).unwrap();
        assert_eq!((s.injector.height, s.panes[0].height), (7, 7));
        let s = screen(Rect::new(0, 0, 120, 40), 4, INJECTOR_H).unwrap();
        assert_eq!(s.panes.len(), 4);
        assert!(s.panes.iter().all(|p| p.width == 60 && p.height == 17));
        // 3 panes: the last one alone on its row, full width
        let s = screen(Rect::new(0, 0, 100, 30), 3, INJECTOR_H).unwrap();
        assert_eq!(s.panes[2].width, 100);
        // narrow: stacked
        let s = screen(Rect::new(0, 0, 60, 24), 2, INJECTOR_H).unwrap();
        assert_eq!(s.panes[0], Rect::new(0, 5, 60, 9));
        assert!(screen(Rect::new(0, 0, 37, 40), 2, INJECTOR_H).is_none());
        assert!(screen(Rect::new(0, 0, 80, 12), 2, INJECTOR_H).is_none());
        assert_eq!(min_size(2), (76, 13));
        assert!(screen(Rect::new(0, 0, 76, 13), 2, INJECTOR_H).is_some());
    }

    #[test]
    fn flow_never_splits_a_cell() {
        let cell = |a: &'static str, b: &'static str| vec![Span::raw(a), Span::raw(b)];
        let lines = flow(
            vec![
                cell("received ", "100"),
                cell("pending ", "0"),
                cell("lost ", "0"),
            ],
            24,
        );
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["received 100  pending 0", "lost 0"]);
    }
}
