//! Per-destination accounting of this run's probe messages.
//!
//! The tracker knows when each sequence number was sent (monotonic
//! [`Instant`] of the sending process; with a rate set, the INTENDED send
//! time, so a stalled sender cannot hide latency) and, for every
//! destination, which sequence numbers arrived. Each arrival is classified
//! (DESIGN.md, "Measuring honestly"):
//!
//! - delivered: first arrival of a seq at that destination, with a latency;
//!   also out of order when a higher seq already arrived there;
//! - duplicate: the seq was already delivered (or declared late) there;
//! - late: the seq arrived after it was declared lost (it stops counting as
//!   lost and never counts as delivered);
//! - foreign: not a probe of this run.
//!
//! [`Tracker::sweep`] declares a seq lost at a destination when it has not
//! arrived there `loss_timeout` after it was sent. Memory per seq is one
//! send instant (16 bytes) plus one bit per destination; the in-flight
//! index is freed as seqs resolve (about 20 MB for a million probes).

use std::collections::BTreeMap;
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

    fn contains(&self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        self.0.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    fn remove(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        match self.0.get_mut(w) {
            Some(x) if *x & (1 << b) != 0 => {
                *x &= !(1 << b);
                true
            }
            _ => false,
        }
    }
}

/// What one arrival turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First arrival of this seq at this destination; latency from the
    /// (intended) send instant; `out_of_order` if a higher seq came first.
    Delivered {
        latency: Duration,
        out_of_order: bool,
    },
    /// This seq was already delivered (or declared late) at this destination.
    Duplicate,
    /// Arrived after it had been declared lost; `latency` as for delivered.
    Late { latency: Duration },
    /// Not a probe of this run (other process, older run, or not a probe).
    Foreign,
}

/// Where one probe stands at one destination ([`Tracker::seq_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStatus {
    /// Seen there (delivered, or late).
    Arrived,
    /// Not seen there within the loss timeout.
    Lost,
    /// Sent, not seen there yet, not overdue.
    Pending,
    /// Not sent in this run (or failed before it was sent).
    NotSent,
}

/// Counters and latency for one destination.
#[derive(Default)]
pub struct DestStats {
    /// Distinct probes of this run delivered in time (first arrivals).
    pub delivered: u64,
    /// Arrivals of a seq already delivered (or late) here.
    pub duplicates: u64,
    /// Delivered with a seq lower than the highest already seen here, in the
    /// same Kafka partition (Kafka orders records only within a partition;
    /// an AMQP destination is one sequence).
    pub out_of_order: u64,
    /// Declared lost (not arrived within the loss timeout) and still missing.
    pub lost: u64,
    /// Arrived after being declared lost.
    pub late: u64,
    /// Messages that are not probes of this run.
    pub foreign: u64,
    /// End-to-end latency of delivered probes, µs.
    pub latency: Latency,
    seen: SeqSet,
    lost_set: SeqSet,
    /// Highest seq delivered per partition (`None`: not Kafka).
    max_seq: BTreeMap<Option<i32>, u64>,
}

impl DestStats {
    /// All arrivals counted here (delivered + duplicates + late + foreign).
    pub fn arrivals(&self) -> u64 {
        self.delivered + self.duplicates + self.late + self.foreign
    }

    /// The highest seq of this run delivered here (any partition).
    pub fn highest_seq(&self) -> Option<u64> {
        self.max_seq.values().max().copied()
    }

    /// The Kafka partitions this run's probes were delivered from, ascending
    /// (empty for an AMQP destination).
    pub fn partitions(&self) -> Vec<i32> {
        self.max_seq.keys().filter_map(|p| *p).collect()
    }
}

/// Accounting of one run across all destinations.
pub struct Tracker {
    run: String,
    /// Send instant of every seq (index = seq).
    sent_at: Vec<Instant>,
    /// Unresolved seq → number of destinations that delivered it.
    in_flight: BTreeMap<u64, usize>,
    next_seq: u64,
    /// Distinct seqs actually sent (a failed, never-sent seq is not expected anywhere).
    sent_count: u64,
    loss_timeout: Duration,
    dests: Vec<DestStats>,
    missed_everywhere: Option<MissedBlock>,
}

/// The newest block of consecutive probes that NO destination received
/// within the loss timeout (the stream took none of them), as declared by
/// [`Tracker::sweep`]; cleared once a later probe arrives anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissedBlock {
    /// First and last seq of the block.
    pub first: u64,
    pub last: u64,
    /// Probes in the block (gaps are seqs received somewhere or never sent).
    pub count: u64,
}

impl Tracker {
    /// A tracker for run `run` with `destinations` destinations (indexed
    /// 0..n); a probe not seen at a destination `loss_timeout` after it was
    /// sent is declared lost there by [`Tracker::sweep`].
    pub fn new(run: &str, destinations: usize, loss_timeout: Duration) -> Self {
        Tracker {
            run: run.to_owned(),
            sent_at: Vec::new(),
            in_flight: BTreeMap::new(),
            next_seq: 0,
            sent_count: 0,
            loss_timeout,
            dests: (0..destinations).map(|_| DestStats::default()).collect(),
            missed_everywhere: None,
        }
    }

    /// This run's id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Number of probes sent in this run.
    pub fn sent(&self) -> u64 {
        self.sent_count
    }

    /// The loss timeout.
    pub fn loss_timeout(&self) -> Duration {
        self.loss_timeout
    }

    /// Number of destinations.
    pub fn len(&self) -> usize {
        self.dests.len()
    }

    /// Whether there are no destinations.
    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }

    /// Statistics of destination `i` (panics if out of range: a programming error).
    pub fn dest(&self, i: usize) -> &DestStats {
        &self.dests[i]
    }

    /// Records that `seq` was sent; `at` is the instant latency counts from
    /// (the intended send time when a rate is set). Seqs are expected dense
    /// from 0; a gap simply means those seqs were never sent.
    pub fn record_sent(&mut self, seq: u64, at: Instant) {
        let i = seq as usize;
        if self.sent_at.len() <= i {
            self.sent_at.resize(i + 1, at);
        }
        self.sent_at[i] = at;
        if self.in_flight.insert(seq, 0).is_none() {
            self.sent_count += 1;
        }
        self.next_seq = self.next_seq.max(seq + 1);
        if self.dests.is_empty() {
            self.in_flight.clear();
        }
    }

    /// Classifies an arrival at destination `dest` at instant `at`.
    /// `probe` is `(run, seq)` when the body decoded as a probe envelope.
    /// Order is judged as one sequence ([`Self::record_arrival_in`] per
    /// Kafka partition).
    pub fn record_arrival(
        &mut self,
        dest: usize,
        probe: Option<(&str, u64)>,
        at: Instant,
    ) -> Verdict {
        self.record_arrival_in(dest, probe, None, at)
    }

    /// As [`Self::record_arrival`], judging order within `partition` (a
    /// Kafka record's; `None` for AMQP): out of order = a lower seq than
    /// one already delivered from the same partition.
    pub fn record_arrival_in(
        &mut self,
        dest: usize,
        probe: Option<(&str, u64)>,
        partition: Option<i32>,
        at: Instant,
    ) -> Verdict {
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
        let latency = self
            .sent_at
            .get(seq as usize)
            .map_or(Duration::ZERO, |s| at.saturating_duration_since(*s));
        if d.lost_set.remove(seq) {
            d.lost -= 1;
            d.late += 1;
            // a destination got (part of) the block after all
            if self
                .missed_everywhere
                .is_some_and(|b| (b.first..=b.last).contains(&seq))
            {
                self.missed_everywhere = None;
            }
            return Verdict::Late { latency };
        }
        let max = d.max_seq.entry(partition).or_insert(seq);
        let out_of_order = seq < *max;
        *max = (*max).max(seq);
        d.delivered += 1;
        if out_of_order {
            d.out_of_order += 1;
        }
        if let Some(seen_by) = self.in_flight.get_mut(&seq) {
            *seen_by += 1;
            if *seen_by >= ndest {
                self.in_flight.remove(&seq);
            }
        }
        d.latency.record(latency, at);
        if self.missed_everywhere.is_some_and(|b| seq > b.last) {
            self.missed_everywhere = None;
        }
        Verdict::Delivered {
            latency,
            out_of_order,
        }
    }

    /// Advances time to `now`: expires old latency-window slices and declares
    /// lost, at every destination that has not delivered it, each seq sent
    /// at least the loss timeout before `now`; frees their records.
    /// Returns how many (seq, destination) pairs were declared lost.
    pub fn sweep(&mut self, now: Instant) -> u64 {
        for d in &mut self.dests {
            d.latency.advance(now);
        }
        let mut declared = 0;
        while let Some((&seq, _)) = self.in_flight.first_key_value() {
            let sent = self.sent_at.get(seq as usize).copied().unwrap_or(now);
            if now.saturating_duration_since(sent) < self.loss_timeout {
                break;
            }
            let mut nowhere = !self.dests.is_empty();
            for d in &mut self.dests {
                if d.seen.contains(seq) {
                    nowhere = false;
                } else if d.lost_set.insert(seq) {
                    d.lost += 1;
                    declared += 1;
                }
            }
            if nowhere {
                let b = self.missed_everywhere.get_or_insert(MissedBlock {
                    first: seq,
                    last: seq,
                    count: 0,
                });
                b.last = seq;
                b.count += 1;
            }
            self.in_flight.remove(&seq);
        }
        declared
    }

    /// Probes sent and neither delivered nor declared lost at destination `i`.
    pub fn pending(&self, i: usize) -> u64 {
        let d = &self.dests[i];
        self.sent_count
            .saturating_sub(d.delivered + d.lost + d.late)
    }

    /// Whether every destination has every sent probe, or it was declared lost.
    pub fn settled(&self) -> bool {
        (0..self.dests.len()).all(|i| self.pending(i) == 0)
    }

    /// [`Tracker::settled`] for the destinations `among` only.
    pub fn settled_among(&self, among: &[usize]) -> bool {
        among.iter().all(|&i| self.pending(i) == 0)
    }

    /// Where probe `seq` of this run stands at destination `dest`: arrived,
    /// declared lost, still expected, or never sent.
    pub fn seq_status(&self, dest: usize, seq: u64) -> SeqStatus {
        let Some(d) = self.dests.get(dest) else {
            return SeqStatus::NotSent;
        };
        if d.seen.contains(seq) {
            SeqStatus::Arrived
        } else if d.lost_set.contains(seq) {
            SeqStatus::Lost
        } else if self.in_flight.contains_key(&seq) {
            SeqStatus::Pending
        } else {
            SeqStatus::NotSent
        }
    }

    /// The (intended) send instant of `seq`, if it was sent.
    pub fn sent_at(&self, seq: u64) -> Option<Instant> {
        (seq < self.next_seq)
            .then(|| self.sent_at.get(seq as usize).copied())
            .flatten()
    }

    /// The newest block of probes no destination received (see [`MissedBlock`]).
    pub fn missed_everywhere(&self) -> Option<MissedBlock> {
        self.missed_everywhere
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

    fn tracker(n: usize) -> (Tracker, Instant) {
        (
            Tracker::new("r1", n, Duration::from_secs(10)),
            Instant::now(),
        )
    }

    #[test]
    fn delivered_duplicate_reordered_foreign() {
        let (mut t, t0) = tracker(2);
        for seq in 0..5 {
            t.record_sent(seq, t0 + ms(seq));
        }
        assert_eq!(t.sent(), 5);
        let order = [0u64, 1, 3, 2, 4];
        let mut verdicts = vec![];
        for (i, seq) in order.iter().enumerate() {
            verdicts.push(t.record_arrival(0, Some(("r1", *seq)), t0 + ms(10 + i as u64)));
        }
        assert_eq!(
            verdicts[0],
            Verdict::Delivered {
                latency: ms(10),
                out_of_order: false
            }
        );
        assert_eq!(
            verdicts[3],
            Verdict::Delivered {
                latency: ms(11),
                out_of_order: true
            }
        );
        assert_eq!(
            t.record_arrival(0, Some(("r1", 3)), t0 + ms(20)),
            Verdict::Duplicate
        );
        assert_eq!(
            t.record_arrival(0, Some(("other", 1)), t0 + ms(20)),
            Verdict::Foreign
        );
        assert_eq!(t.record_arrival(0, None, t0 + ms(20)), Verdict::Foreign);
        // a seq of this run that was never sent is not ours to count
        assert_eq!(
            t.record_arrival(0, Some(("r1", 99)), t0 + ms(20)),
            Verdict::Foreign
        );
        let d = t.dest(0);
        assert_eq!(
            (d.delivered, d.duplicates, d.out_of_order, d.foreign),
            (5, 1, 1, 3)
        );
        assert_eq!(d.latency.cumulative().count, 5);
        assert_eq!((t.pending(0), t.pending(1)), (0, 5));
        assert_eq!(t.tracked(), 5, "dest 1 has not seen any yet");
        for seq in 0..5 {
            t.record_arrival(1, Some(("r1", seq)), t0 + ms(50));
        }
        assert_eq!(t.tracked(), 0, "state of resolved messages is freed");
        assert!(t.settled());
    }

    #[test]
    fn order_is_judged_per_partition() {
        let (mut t, t0) = tracker(1);
        for seq in 0..6 {
            t.record_sent(seq, t0);
        }
        // seqs 0..6 spread over partitions 0, 1, 2 round robin, consumed
        // partition by partition: in order within each, interleaved overall
        for p in 0..3 {
            for seq in (p as u64..6).step_by(3) {
                let v = t.record_arrival_in(0, Some(("r1", seq)), Some(p), t0 + ms(10));
                assert!(
                    matches!(
                        v,
                        Verdict::Delivered {
                            out_of_order: false,
                            ..
                        }
                    ),
                    "{seq}@{p}: {v:?}"
                );
            }
        }
        // within partition 2, seq 2 after 5: out of order
        let (mut t2, t0) = tracker(1);
        for seq in 0..6 {
            t2.record_sent(seq, t0);
        }
        t2.record_arrival_in(0, Some(("r1", 5)), Some(2), t0 + ms(10));
        let v = t2.record_arrival_in(0, Some(("r1", 2)), Some(2), t0 + ms(11));
        assert!(matches!(
            v,
            Verdict::Delivered {
                out_of_order: true,
                ..
            }
        ));
        assert_eq!(
            (t.dest(0).out_of_order, t.dest(0).partitions()),
            (0, vec![0, 1, 2])
        );
    }

    #[test]
    fn a_late_arrival_ends_the_missed_everywhere_block() {
        let (mut t, t0) = tracker(2);
        for seq in 0..3 {
            t.record_sent(seq, t0);
        }
        t.sweep(t0 + Duration::from_secs(11));
        assert_eq!(
            t.missed_everywhere().map(|b| (b.first, b.last)),
            Some((0, 2))
        );
        t.record_arrival(1, Some(("r1", 1)), t0 + Duration::from_secs(12));
        assert_eq!(
            t.missed_everywhere(),
            None,
            "seq 1 reached a destination, late"
        );
    }

    #[test]
    fn gaps_become_lost_then_late() {
        let (mut t, t0) = tracker(2);
        for seq in 0..10 {
            t.record_sent(seq, t0);
        }
        // dest 0 misses 3 and 7; dest 1 gets everything
        for seq in (0..10).filter(|s| *s != 3 && *s != 7) {
            t.record_arrival(0, Some(("r1", seq)), t0 + ms(5));
        }
        for seq in 0..10 {
            t.record_arrival(1, Some(("r1", seq)), t0 + ms(5));
        }
        assert_eq!(t.sweep(t0 + ms(9_999)), 0, "not before the timeout");
        assert_eq!(t.pending(0), 2);
        assert!(!t.settled());
        assert_eq!(t.sweep(t0 + ms(10_000)), 2);
        assert_eq!((t.dest(0).lost, t.dest(1).lost), (2, 0));
        assert_eq!(t.tracked(), 0);
        assert!(t.settled());
        // 7 turns up after all: late, not delivered, no longer lost
        assert_eq!(
            t.record_arrival(0, Some(("r1", 7)), t0 + ms(12_000)),
            Verdict::Late {
                latency: ms(12_000)
            }
        );
        let d = t.dest(0);
        assert_eq!((d.delivered, d.lost, d.late), (8, 1, 1));
        // and again: a duplicate
        assert_eq!(
            t.record_arrival(0, Some(("r1", 7)), t0 + ms(12_001)),
            Verdict::Duplicate
        );
        assert_eq!(t.pending(0), 0);
    }

    #[test]
    fn sweep_goes_by_send_time() {
        let (mut t, t0) = tracker(2);
        t.record_sent(0, t0);
        t.record_sent(1, t0 + ms(20_000));
        t.record_arrival(1, Some(("r1", 0)), t0 + ms(1));
        // sweeping at 15 s declares seq 0 lost at dest 0 only
        assert_eq!(t.sweep(t0 + ms(15_000)), 1);
        assert_eq!(t.pending(0), 1, "seq 1 is not due yet");
        assert_eq!(
            t.record_arrival(0, Some(("r1", 0)), t0 + ms(16_000)),
            Verdict::Late {
                latency: ms(16_000)
            }
        );
    }

    #[test]
    fn a_new_run_counts_old_probes_as_foreign() {
        let (mut t, t0) = tracker(1);
        t.record_sent(0, t0);
        let mut t2 = Tracker::new("r2", 1, Duration::from_secs(10));
        t2.record_sent(0, t0);
        assert_eq!(t2.record_arrival(0, Some(("r1", 0)), t0), Verdict::Foreign);
        assert!(matches!(
            t2.record_arrival(0, Some(("r2", 0)), t0),
            Verdict::Delivered { .. }
        ));
        assert!(matches!(
            t.record_arrival(0, Some(("r1", 0)), t0),
            Verdict::Delivered { .. }
        ));
    }

    #[test]
    fn memory_follows_in_flight_over_a_long_run() {
        let (mut t, t0) = tracker(2);
        for seq in 0..200_000u64 {
            t.record_sent(seq, t0);
            t.record_arrival(0, Some(("r1", seq)), t0);
            t.record_arrival(1, Some(("r1", seq)), t0);
        }
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.dest(1).delivered, 200_000);
    }

    #[test]
    fn never_sent_seqs_are_not_pending() {
        let (mut t, t0) = tracker(1);
        // seqs 0..3 failed before sending (link down); 3 and 4 were sent
        t.record_sent(3, t0);
        t.record_sent(4, t0);
        assert_eq!((t.sent(), t.pending(0)), (2, 2));
        t.record_arrival(0, Some(("r1", 3)), t0);
        t.record_arrival(0, Some(("r1", 4)), t0);
        assert_eq!(t.pending(0), 0);
        assert!(t.settled());
    }

    #[test]
    fn unknown_destination_is_foreign() {
        let (mut t, t0) = tracker(1);
        t.record_sent(0, t0);
        assert_eq!(t.record_arrival(7, Some(("r1", 0)), t0), Verdict::Foreign);
    }
}
