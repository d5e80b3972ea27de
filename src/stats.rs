//! [`RunStats`]: the ONE fold of worker [`Event`]s into the measurement of a
//! run. The terminal UI, `streamprobe probe` and `streamprobe report` all
//! apply events here and read their figures from it, so the three never
//! disagree (trippy's `State` and oha's `ResultData` are the models).

use std::time::{Duration, Instant};

use crate::event::Event;
use crate::latency::Latency;
use crate::tracker::{Tracker, Verdict};

/// The measurement of one run: sends, settlements, per-destination
/// accounting and latency.
pub struct RunStats {
    /// Per-destination accounting of this run's probes.
    pub tracker: Tracker,
    /// Publish-to-settle latency of confirmed probes (µs histogram).
    pub settle: Latency,
    /// `Sent` events of this run (probes handed to the AMQP link).
    pub sent: u64,
    /// Probes the broker settled as Accepted.
    pub confirmed: u64,
    /// Probes not accepted, or not sendable (link down).
    pub failed: u64,
    /// The last send failure's message (no secrets: workers never put any in).
    pub last_failure: Option<String>,
    /// Monotonic instant of this run's first send.
    pub first_send: Option<Instant>,
    /// Per destination: when this run's newest delivered probe arrived there,
    /// measured from the first send (zero: none yet).
    pub last_arrival: Vec<Duration>,
    /// Per destination: monotonic instant of the newest arrival of a probe
    /// of this run (delivered, late or duplicate).
    pub last_probe_at: Vec<Option<Instant>>,
}

impl RunStats {
    /// An empty run `run` over `destinations` destinations; a probe missing
    /// at a destination `loss_timeout` after its send is declared lost there.
    pub fn new(run: &str, destinations: usize, loss_timeout: Duration) -> Self {
        RunStats {
            tracker: Tracker::new(run, destinations, loss_timeout),
            settle: Latency::default(),
            sent: 0,
            confirmed: 0,
            failed: 0,
            last_failure: None,
            first_send: None,
            last_arrival: vec![Duration::ZERO; destinations],
            last_probe_at: vec![None; destinations],
        }
    }

    /// This run's id.
    pub fn run(&self) -> &str {
        self.tracker.run()
    }

    /// Probes sent whose settlement has not come back yet.
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.confirmed + self.failed)
    }

    /// Folds one event in. Sends and settlements of another run (an earlier
    /// one, before a reset) are ignored; link events change nothing here.
    /// Returns the tracker's verdict for an arrival (`None` otherwise).
    pub fn apply(&mut self, ev: &Event) -> Option<Verdict> {
        match ev {
            Event::Sent {
                run,
                seq,
                at,
                intended,
            } if run == self.tracker.run() => {
                self.sent += 1;
                self.first_send.get_or_insert(*at);
                self.tracker.record_sent(*seq, intended.unwrap_or(*at));
                None
            }
            Event::Confirmed {
                run, at, settle, ..
            } if run == self.tracker.run() => {
                self.confirmed += 1;
                self.settle.record(*settle, *at);
                None
            }
            Event::Failed { run, error, .. } if run == self.tracker.run() => {
                self.failed += 1;
                self.last_failure = Some(error.clone());
                None
            }
            Event::Arrived(a) => {
                let probe = a.probe.as_ref().map(|(r, s)| (r.as_str(), *s));
                let v = self.tracker.record_arrival(a.dest, probe, a.at);
                if v != Verdict::Foreign {
                    if let Some(l) = self.last_probe_at.get_mut(a.dest) {
                        *l = Some(a.at);
                    }
                }
                if let (Some(start), Verdict::Delivered { .. }) = (self.first_send, v) {
                    if let Some(l) = self.last_arrival.get_mut(a.dest) {
                        *l = a.at.saturating_duration_since(start);
                    }
                }
                Some(v)
            }
            _ => None,
        }
    }

    /// Advances time to `now`: declares overdue probes lost (see
    /// [`Tracker::sweep`]); returns how many (seq, destination) pairs.
    pub fn sweep(&mut self, now: Instant) -> u64 {
        self.tracker.sweep(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Arrival;

    fn arrival(dest: usize, run: &str, seq: u64, at: Instant) -> Event {
        Event::Arrived(Arrival {
            dest,
            at,
            wall: chrono::Utc::now(),
            probe: Some((run.into(), seq)),
            size: 10,
            preview: String::new(),
            detail: None,
        })
    }

    #[test]
    fn folds_sends_settlements_and_arrivals_of_this_run_only() {
        let t0 = Instant::now();
        let mut s = RunStats::new("r", 2, Duration::from_secs(10));
        for seq in 0..3 {
            s.apply(&Event::Sent {
                run: "r".into(),
                seq,
                at: t0,
                intended: None,
            });
        }
        s.apply(&Event::Sent {
            run: "old".into(),
            seq: 9,
            at: t0,
            intended: None,
        });
        s.apply(&Event::Confirmed {
            run: "r".into(),
            seq: 0,
            at: t0,
            settle: Duration::from_millis(2),
        });
        s.apply(&Event::Failed {
            run: "r".into(),
            seq: 1,
            error: "nope".into(),
        });
        let v = s.apply(&arrival(0, "r", 0, t0 + Duration::from_millis(5)));
        assert!(matches!(v, Some(Verdict::Delivered { .. })));
        assert_eq!(s.apply(&arrival(0, "x", 0, t0)), Some(Verdict::Foreign));
        assert_eq!((s.sent, s.confirmed, s.failed, s.in_flight()), (3, 1, 1, 1));
        assert_eq!(s.last_arrival[0], Duration::from_millis(5));
        assert_eq!(s.last_arrival[1], Duration::ZERO);
        assert_eq!(s.last_failure.as_deref(), Some("nope"));
        assert_eq!(s.settle.cumulative().count, 1);
    }
}
