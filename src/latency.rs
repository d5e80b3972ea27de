//! Latency histograms and percentile summaries.
//!
//! Values are microseconds, recorded in an HdrHistogram with 3 significant
//! digits (so any reported percentile is within 0.1 % of the true value).
//! A [`Latency`] keeps a cumulative histogram and a recent window made of
//! one-second slices (the last [`WINDOW_SECS`] seconds).

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Length of the recent window, in seconds.
pub const WINDOW_SECS: u64 = 10;
/// Highest trackable latency: one hour, in microseconds (larger values are clamped).
const MAX_US: u64 = 3_600_000_000;

/// Percentiles of a set of latencies, all in microseconds, with the sample count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Number of samples the percentiles are computed from.
    pub count: u64,
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits cannot fail to construct.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

fn summarize(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        count: h.len(),
    }
}

/// Cumulative and recent-window latency for one destination.
///
/// The window is kept as a running histogram (slices are added as they
/// fill and subtracted as they expire), and summaries are cached until the
/// next change, so a UI can ask for them every frame without rebuilding a
/// histogram each time.
pub struct Latency {
    total: Histogram<u64>,
    /// Sum of `slices`.
    window: Histogram<u64>,
    /// (slice start, histogram of that second); oldest first.
    slices: VecDeque<(Instant, Histogram<u64>)>,
    total_summary: Cell<Option<Summary>>,
    window_summary: Cell<Option<Summary>>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            total: new_hist(),
            window: new_hist(),
            slices: VecDeque::new(),
            total_summary: Cell::new(None),
            window_summary: Cell::new(None),
        }
    }
}

fn expired(start: Instant, now: Instant) -> bool {
    now.saturating_duration_since(start) >= Duration::from_secs(WINDOW_SECS + 1)
}

impl Latency {
    /// Records one latency observed at instant `now`. Zero is recorded as
    /// 1 µs, values above one hour as one hour.
    pub fn record(&mut self, latency: Duration, now: Instant) {
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        // Cannot fail: the value is clamped into the histograms' range.
        let _ = self.total.record(us);
        let _ = self.window.record(us);
        let need_new = match self.slices.back() {
            Some((start, _)) => now.saturating_duration_since(*start) >= Duration::from_secs(1),
            None => true,
        };
        if need_new {
            self.slices.push_back((now, new_hist()));
        }
        if let Some((_, h)) = self.slices.back_mut() {
            let _ = h.record(us);
        }
        self.total_summary.set(None);
        self.window_summary.set(None);
        self.advance(now);
    }

    /// Drops the window's slices that are older than [`WINDOW_SECS`] at `now`.
    pub fn advance(&mut self, now: Instant) {
        while let Some((start, _)) = self.slices.front() {
            if !expired(*start, now) {
                break;
            }
            if let Some((_, old)) = self.slices.pop_front() {
                // Cannot fail: `old` was added to `window` value by value.
                let _ = self.window.subtract(&old);
                self.window_summary.set(None);
            }
        }
    }

    /// Percentiles over everything recorded since the last reset.
    pub fn cumulative(&self) -> Summary {
        cached(&self.total_summary, || summarize(&self.total))
    }

    /// Percentiles over roughly the last [`WINDOW_SECS`] seconds before `now`.
    pub fn recent(&self, now: Instant) -> Summary {
        if self
            .slices
            .front()
            .is_some_and(|(start, _)| expired(*start, now))
        {
            // Not advanced to `now` yet: merge the live slices.
            let mut h = new_hist();
            for (_, s) in self
                .slices
                .iter()
                .filter(|(start, _)| !expired(*start, now))
            {
                let _ = h.add(s);
            }
            return summarize(&h);
        }
        cached(&self.window_summary, || summarize(&self.window))
    }
}

fn cached(cell: &Cell<Option<Summary>>, f: impl FnOnce() -> Summary) -> Summary {
    cell.get().unwrap_or_else(|| {
        let s = f();
        cell.set(Some(s));
        s
    })
}

/// Formats microseconds for humans: `850µs`, `12.3ms`, `4.56s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2}s", us as f64 / 1_000_000.0)
    }
}

/// Whole seconds, or minutes and seconds.
pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_inputs() {
        let mut l = Latency::default();
        let now = Instant::now();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us), now);
        }
        let s = l.cumulative();
        assert_eq!(s.count, 1000);
        // 3 significant digits: within 0.1 %.
        assert!((499..=501).contains(&s.p50), "{s:?}");
        assert!((899..=901).contains(&s.p90), "{s:?}");
        assert!((989..=991).contains(&s.p99), "{s:?}");
        assert!((998..=1000).contains(&s.p999), "{s:?}");
        assert!((999..=1001).contains(&s.max), "{s:?}");
        assert_eq!(l.recent(now), s);
    }

    #[test]
    fn empty_is_zero() {
        let l = Latency::default();
        assert_eq!(l.cumulative(), Summary::default());
    }

    #[test]
    fn window_forgets_old_slices() {
        let mut l = Latency::default();
        let t0 = Instant::now();
        l.record(Duration::from_millis(500), t0);
        let t1 = t0 + Duration::from_secs(30);
        l.record(Duration::from_millis(2), t1);
        assert_eq!(l.cumulative().count, 2);
        let r = l.recent(t1);
        assert_eq!(r.count, 1);
        assert!((1998..=2002).contains(&r.max), "{r:?}");
        // without new records, advancing time empties the window
        let mut l2 = Latency::default();
        l2.record(Duration::from_millis(5), t0);
        assert_eq!(l2.recent(t0).count, 1);
        assert_eq!(l2.recent(t1).count, 0, "stale slices are not counted");
        l2.advance(t1);
        assert_eq!(l2.recent(t1).count, 0);
        assert_eq!(l2.cumulative().count, 1);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(12_345), "12.3ms");
        assert_eq!(fmt_us(4_560_000), "4.56s");
    }
}
