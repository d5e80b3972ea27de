//! [`RunStats`]: the ONE fold of worker [`Event`]s into the measurement of a
//! run. The terminal UI, `streamprobe probe` and `streamprobe report` all
//! apply events here and read their figures from it, so the three never
//! disagree (trippy's `State` and oha's `ResultData` are the models).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::event::{Event, TimestampType};
use crate::latency::Latency;
use crate::tracker::{Tracker, Verdict};

/// The measurement of one run: sends, settlements, per-destination
/// accounting and latency.
pub struct RunStats {
    /// Per-destination accounting of this run's probes.
    pub tracker: Tracker,
    /// Publish-to-settle latency of confirmed probes (µs histogram).
    pub settle: Latency,
    /// Sender lag of paced probes: the actual send instant minus the
    /// intended one, µs, both from the sender's monotonic clock (how much of
    /// a latency counted from the intended time is the tool's own; empty
    /// when unpaced).
    pub sender_lag: Latency,
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
    /// Monotonic instant of this run's newest send.
    pub last_send: Option<Instant>,
    /// Per destination: when this run's newest delivered probe arrived there,
    /// measured from the first send (zero: none yet).
    pub last_arrival: Vec<Duration>,
    /// Per destination: monotonic instant of the newest arrival of a probe
    /// of this run (delivered, late or duplicate).
    pub last_probe_at: Vec<Option<Instant>>,
    /// Per destination: a Kafka destination's latency split at the record's
    /// timestamp (empty for AMQP destinations).
    pub split: Vec<KafkaSplit>,
}

/// A Kafka destination's end-to-end latency split at the record timestamp:
/// inject → produce (the stream's producer set a CreateTime) or inject →
/// append (the topic uses LogAppendTime: the broker's clock), and from
/// there → consume. The two parts add up to the probe's latency: the second
/// is our arrival wall clock minus the timestamp (clamped to 0..=latency),
/// the first the rest, so they are only as right as the clocks of the
/// stream's host (or the broker) and ours agree (same host: exact to 1 ms,
/// Kafka's timestamp resolution).
#[derive(Default)]
pub struct KafkaSplit {
    /// Inject → the record timestamp, µs.
    pub to_timestamp: Latency,
    /// The record timestamp → our consumer, µs.
    pub from_timestamp: Latency,
    /// Delivered probes whose record carried a CreateTime.
    pub create_time: u64,
    /// Delivered probes whose record carried a LogAppendTime.
    pub log_append_time: u64,
}

/// Splits `latency` of a record that arrived at wall time `arrival` and
/// carries timestamp `ts_ms` (ms since the Unix epoch) into (inject → the
/// timestamp, the timestamp → arrival); see [`KafkaSplit`] for the rule.
pub fn split_at(latency: Duration, arrival: DateTime<Utc>, ts_ms: i64) -> (Duration, Duration) {
    let since_us = (arrival.timestamp_micros() - ts_ms.saturating_mul(1000)).max(0) as u64;
    let after = Duration::from_micros(since_us).min(latency);
    (latency - after, after)
}

impl KafkaSplit {
    /// `produce` for CreateTime records, `append` when any record carried a
    /// LogAppendTime (the topic's `message.timestamp.type`), `None` without samples.
    pub fn point(&self) -> Option<&'static str> {
        if self.log_append_time > 0 {
            Some("append")
        } else if self.create_time > 0 {
            Some("produce")
        } else {
            None
        }
    }
}

impl RunStats {
    /// An empty run `run` over `destinations` destinations; a probe missing
    /// at a destination `loss_timeout` after its send is declared lost there.
    pub fn new(run: &str, destinations: usize, loss_timeout: Duration) -> Self {
        RunStats {
            tracker: Tracker::new(run, destinations, loss_timeout),
            settle: Latency::default(),
            sender_lag: Latency::default(),
            sent: 0,
            confirmed: 0,
            failed: 0,
            last_failure: None,
            first_send: None,
            last_send: None,
            last_arrival: vec![Duration::ZERO; destinations],
            last_probe_at: vec![None; destinations],
            split: (0..destinations).map(|_| KafkaSplit::default()).collect(),
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

    /// The run's send rate in probes per second, from its first to its
    /// newest send (monotonic clock); `None` before two sends, or when they
    /// all went within a millisecond.
    pub fn send_rate(&self) -> Option<f64> {
        let span = self.last_send?.saturating_duration_since(self.first_send?);
        (self.sent > 1 && span >= Duration::from_millis(1))
            .then(|| (self.sent - 1) as f64 / span.as_secs_f64())
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
                self.last_send = Some(*at);
                self.tracker.record_sent(*seq, intended.unwrap_or(*at));
                if let Some(i) = intended {
                    self.sender_lag
                        .record(at.saturating_duration_since(*i), *at);
                }
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
                let partition = a.kafka.map(|k| k.partition);
                let v = self
                    .tracker
                    .record_arrival_in(a.dest, probe, partition, a.at);
                if v != Verdict::Foreign {
                    if let Some(l) = self.last_probe_at.get_mut(a.dest) {
                        *l = Some(a.at);
                    }
                }
                if let (Verdict::Delivered { latency, .. }, Some((ts_ms, kind)), Some(split)) = (
                    v,
                    a.kafka.and_then(|k| k.timestamp),
                    self.split.get_mut(a.dest),
                ) {
                    let (before, after) = split_at(latency, a.wall, ts_ms);
                    split.from_timestamp.record(after, a.at);
                    split.to_timestamp.record(before, a.at);
                    match kind {
                        TimestampType::CreateTime => split.create_time += 1,
                        TimestampType::LogAppendTime => split.log_append_time += 1,
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
            kafka: None,
        })
    }

    /// Sender lag is actual − intended send time, for paced sends only.
    #[test]
    fn sender_lag_counts_paced_sends_only() {
        let t0 = Instant::now();
        let mut s = RunStats::new("r", 1, Duration::from_secs(10));
        s.apply(&Event::Sent {
            run: "r".into(),
            seq: 0,
            at: t0,
            intended: None,
        });
        assert_eq!(s.sender_lag.cumulative().count, 0, "unpaced: no lag");
        for (seq, late_us) in [(1, 100), (2, 300), (3, 2_000)] {
            s.apply(&Event::Sent {
                run: "r".into(),
                seq,
                at: t0 + Duration::from_micros(late_us),
                intended: Some(t0),
            });
        }
        let lag = s.sender_lag.cumulative();
        assert_eq!((lag.count, lag.p50, lag.max), (3, 300, 2_000));
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

    #[test]
    fn kafka_latency_splits_at_the_record_timestamp() {
        let t0 = Instant::now();
        let mut s = RunStats::new("r", 1, Duration::from_secs(10));
        s.apply(&Event::Sent {
            run: "r".into(),
            seq: 0,
            at: t0,
            intended: None,
        });
        // arrives 30 ms after the send; the producer stamped it 12 ms before
        let wall = chrono::Utc::now();
        let Event::Arrived(mut a) = arrival(0, "r", 0, t0 + Duration::from_millis(30)) else {
            unreachable!()
        };
        a.wall = wall;
        a.kafka = Some(crate::event::KafkaPos {
            partition: 2,
            offset: 7,
            timestamp: Some((wall.timestamp_millis() - 12, TimestampType::CreateTime)),
        });
        let frac_us = (wall.timestamp_micros() % 1000) as u64; // below Kafka's ms
        s.apply(&Event::Arrived(a));
        let sp = &s.split[0];
        assert_eq!(sp.point(), Some("produce"));
        let (to, from) = (sp.to_timestamp.cumulative(), sp.from_timestamp.cumulative());
        // (the histogram keeps 3 significant digits)
        assert!(from.max.abs_diff(12_000 + frac_us) <= 15, "{}", from.max);
        assert!(
            (to.max + from.max).abs_diff(30_000) <= 30,
            "the parts add up to the latency"
        );
        assert_eq!(s.tracker.dest(0).partitions(), [2]);
    }
}
