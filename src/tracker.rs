//! Per-destination accounting of this run's probe messages.
//!
//! The tracker knows when each sequence number was sent (monotonic
//! [`Instant`] of the sending process) and, for every destination, which
//! sequence numbers arrived. From that it classifies every arrival as
//! delivered (first arrival, with a latency), duplicate (seen again at that
//! destination), out of order (delivered, but with a seq lower than one
//! already seen there) or foreign (not a probe of this run). The rules are
//! DESIGN.md's "Measuring honestly".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::latency::Latency;

/// A growable set of sequence numbers (one bit each).
#[derive(Default, Clone)]
struct SeqSet(Vec<u64>);

impl SeqSet {
    /// Inserts `seq`; returns false if it was already present.
    fn insert(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }
}

/// What one arrival turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First arrival of this seq at this destination; latency from the send
    /// instant (monotonic clock), `out_of_order` if a higher seq came first.
    Delivered { latency: Duration, out_of_order: bool },
    /// This seq was already delivered to this destination.
    Duplicate,
    /// Not a probe of this run (other process, older run, or not a probe).
    Foreign,
}

/// Counters and latency for one destination.
#[derive(Default)]
pub struct DestStats {
    /// Distinct probes of this run delivered (first arrivals).
    pub delivered: u64,
    /// Arrivals of a seq already delivered here.
    pub duplicates: u64,
    /// Delivered with a seq lower than the highest already seen here.
    pub out_of_order: u64,
    /// Messages that are not probes of this run.
    pub foreign: u64,
    /// End-to-end latency of delivered probes, µs.
    pub latency: Latency,
    seen: SeqSet,
    max_seq: Option<u64>,
}

impl DestStats {
    /// All arrivals counted here (delivered + duplicates + foreign).
    pub fn arrivals(&self) -> u64 {
        self.delivered + self.duplicates + self.foreign
    }
}

/// Accounting of one run across all destinations.
pub struct Tracker {
    run: String,
    /// seq → (send instant, number of destinations that delivered it).
    /// An entry is removed once every destination has it, so memory follows
    /// the in-flight messages, not the run length.
    in_flight: HashMap<u64, (Instant, usize)>,
    next_seq: u64,
    dests: Vec<DestStats>,
}

impl Tracker {
    /// A tracker for run `run` with `destinations` destinations (indexed 0..n).
    pub fn new(run: &str, destinations: usize) -> Self {
        Tracker {
            run: run.to_owned(),
            in_flight: HashMap::new(),
            next_seq: 0,
            dests: (0..destinations).map(|_| DestStats::default()).collect(),
        }
    }

    /// This run's id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Number of probes sent in this run (the next seq to send).
    pub fn sent(&self) -> u64 {
        self.next_seq
    }

    /// Statistics of destination `i` (panics if out of range: a programming error).
    pub fn dest(&self, i: usize) -> &DestStats {
        &self.dests[i]
    }

    /// Records that `seq` was sent at `at`. Seqs are expected dense from 0;
    /// a gap simply means those seqs were never sent.
    pub fn record_sent(&mut self, seq: u64, at: Instant) {
        if self.dests.is_empty() {
            return;
        }
        self.in_flight.insert(seq, (at, 0));
        self.next_seq = self.next_seq.max(seq + 1);
    }

    /// Classifies an arrival at destination `dest` at instant `at`.
    /// `probe` is `(run, seq)` when the body decoded as a probe envelope.
    pub fn record_arrival(&mut self, dest: usize, probe: Option<(&str, u64)>, at: Instant) -> Verdict {
        let ndest = self.dests.len();
        let Some(d) = self.dests.get_mut(dest) else {
            return Verdict::Foreign;
        };
        let seq = match probe {
            Some((run, seq)) if run == self.run && seq < self.next_seq => seq,
            _ => {
                d.foreign += 1;
                return Verdict::Foreign;
            }
        };
        if !d.seen.insert(seq) {
            d.duplicates += 1;
            return Verdict::Duplicate;
        }
        let out_of_order = d.max_seq.is_some_and(|m| seq < m);
        d.max_seq = Some(d.max_seq.map_or(seq, |m| m.max(seq)));
        d.delivered += 1;
        if out_of_order {
            d.out_of_order += 1;
        }
        let latency = match self.in_flight.get_mut(&seq) {
            Some((sent, seen_by)) => {
                let lat = at.saturating_duration_since(*sent);
                *seen_by += 1;
                if *seen_by >= ndest {
                    self.in_flight.remove(&seq);
                }
                lat
            }
            // Only reachable if the same seq was sent twice; keep the count honest.
            None => Duration::ZERO,
        };
        d.latency.record(latency, at);
        Verdict::Delivered { latency, out_of_order }
    }

    /// Probes sent but not yet delivered to destination `i`.
    pub fn pending(&self, i: usize) -> u64 {
        self.next_seq.saturating_sub(self.dests[i].delivered)
    }

    /// Number of seqs still tracked (sent and not yet at every destination).
    pub fn tracked(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delivered_duplicate_reordered_foreign() {
        let t0 = Instant::now();
        let mut t = Tracker::new("r1", 2);
        for seq in 0..5 {
            t.record_sent(seq, t0 + ms(seq));
        }
        assert_eq!(t.sent(), 5);
        // dest 0 gets 0,1,3,2,4 and 3 again
        let order = [0u64, 1, 3, 2, 4];
        let mut verdicts = vec![];
        for (i, seq) in order.iter().enumerate() {
            verdicts.push(t.record_arrival(0, Some(("r1", *seq)), t0 + ms(10 + i as u64)));
        }
        assert_eq!(
            verdicts[0],
            Verdict::Delivered { latency: ms(10), out_of_order: false }
        );
        assert_eq!(
            verdicts[3],
            Verdict::Delivered { latency: ms(11), out_of_order: true }
        );
        assert_eq!(t.record_arrival(0, Some(("r1", 3)), t0 + ms(20)), Verdict::Duplicate);
        assert_eq!(t.record_arrival(0, Some(("other", 1)), t0 + ms(20)), Verdict::Foreign);
        assert_eq!(t.record_arrival(0, None, t0 + ms(20)), Verdict::Foreign);
        // a seq of this run that was never sent is not ours to count
        assert_eq!(t.record_arrival(0, Some(("r1", 99)), t0 + ms(20)), Verdict::Foreign);
        let d = t.dest(0);
        assert_eq!((d.delivered, d.duplicates, d.out_of_order, d.foreign), (5, 1, 1, 3));
        assert_eq!(d.latency.cumulative().count, 5);
        assert_eq!(t.pending(0), 0);
        assert_eq!(t.pending(1), 5);
        // nothing freed yet: dest 1 has not seen any
        assert_eq!(t.tracked(), 5);
        for seq in 0..5 {
            t.record_arrival(1, Some(("r1", seq)), t0 + ms(50));
        }
        assert_eq!(t.tracked(), 0, "state of resolved messages is freed");
        assert_eq!(t.dest(1).delivered, 5);
        assert_eq!(t.dest(1).arrivals(), 5);
    }

    #[test]
    fn unknown_destination_is_foreign() {
        let mut t = Tracker::new("r", 1);
        t.record_sent(0, Instant::now());
        assert_eq!(t.record_arrival(7, Some(("r", 0)), Instant::now()), Verdict::Foreign);
    }
}
