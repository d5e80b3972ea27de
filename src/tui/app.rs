//! UI state and its pure reducer.
//!
//! [`App::on_event`] folds worker events into the state, [`App::on_tick`]
//! advances time (loss sweep, per-second series) and [`App::on_key`] turns
//! key presses into commands for the I/O side. None of them does I/O or
//! reads a clock (every instant comes in as an argument), so all are tested
//! without a terminal or a broker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use hdrhistogram::Histogram;

use crate::event::{Event, Link, SendRequest};
use crate::latency::Latency;
use crate::tracker::{Tracker, Verdict};

/// Newest messages kept per destination pane.
pub const RECENT_CAP: usize = 200;
/// Seconds of history kept for the sparklines.
pub const HISTORY_SECS: usize = 120;
/// Largest burst `+` can reach.
pub const MAX_BURST: u32 = 1_000_000;

/// Connection state of one link as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not connected yet (first attempt running).
    Connecting,
    /// Connected and attached.
    Up,
    /// The broker answers; waiting for the topic/queue to exist.
    Waiting(String),
    /// Failed; retrying with backoff. Holds the last error (no secrets).
    Down(String),
}

/// Messages per second, counted in whole one-second buckets.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    bucket_start: Option<Instant>,
    current: u64,
    last: u64,
}

impl RateMeter {
    /// Counts one message at `at`.
    pub fn hit(&mut self, at: Instant) {
        match self.bucket_start {
            None => self.bucket_start = Some(at),
            Some(start) => {
                let elapsed = at.saturating_duration_since(start);
                if elapsed >= Duration::from_secs(2) {
                    self.last = 0;
                    self.current = 0;
                    self.bucket_start = Some(at);
                } else if elapsed >= Duration::from_secs(1) {
                    self.last = self.current;
                    self.current = 0;
                    self.bucket_start = Some(start + Duration::from_secs(1));
                }
            }
        }
        self.current += 1;
    }

    /// Messages counted in the last complete second before `now`.
    pub fn per_second(&self, now: Instant) -> u64 {
        match self.bucket_start {
            None => 0,
            Some(start) => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed >= Duration::from_secs(2) {
                    0
                } else if elapsed >= Duration::from_secs(1) {
                    self.current
                } else {
                    self.last
                }
            }
        }
    }
}

/// Per-second history of arrivals and their p99 latency (sparklines).
pub struct Series {
    second_start: Option<Instant>,
    count: u64,
    hist: Histogram<u64>,
    /// `(arrivals, p99 µs)` per closed second, oldest first.
    pub seconds: VecDeque<(u64, u64)>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            second_start: None,
            count: 0,
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static bounds"),
            seconds: VecDeque::new(),
        }
    }
}

impl Series {
    /// Closes every whole second that ended before `now`.
    pub fn roll(&mut self, now: Instant) {
        let Some(mut start) = self.second_start else {
            self.second_start = Some(now);
            return;
        };
        while now.saturating_duration_since(start) >= Duration::from_secs(1) {
            let p99 = if self.hist.is_empty() {
                0
            } else {
                self.hist.value_at_quantile(0.99)
            };
            self.seconds.push_back((self.count, p99));
            if self.seconds.len() > HISTORY_SECS {
                self.seconds.pop_front();
            }
            self.count = 0;
            self.hist.reset();
            start += Duration::from_secs(1);
        }
        self.second_start = Some(start);
    }

    /// Counts one arrival at `at`, with its latency when it has one.
    pub fn hit(&mut self, at: Instant, latency: Option<Duration>) {
        self.roll(at);
        self.count += 1;
        if let Some(l) = latency {
            let _ = self
                .hist
                .record((l.as_micros() as u64).clamp(1, 3_600_000_000));
        }
    }
}

/// The injector (publisher) pane.
#[derive(Debug)]
pub struct Injector {
    /// `amqp://host:port → ADDRESS` (password redacted).
    pub target: String,
    pub status: LinkStatus,
    /// Probes handed to the link.
    pub sent: u64,
    /// Probes the broker settled as Accepted.
    pub confirmed: u64,
    /// Probes rejected, released, modified, or not sendable (link down).
    pub failed: u64,
    /// Last send failure, if any.
    pub last_failure: Option<String>,
    pub rate: RateMeter,
}

/// One message in a destination pane's recent list.
#[derive(Debug, Clone)]
pub struct Recent {
    pub wall: DateTime<Utc>,
    /// What the tracker made of it (with the latency of this run's probes).
    pub verdict: Verdict,
    /// Sequence number, for this run's probes.
    pub seq: Option<u64>,
    pub size: usize,
    /// Terminal-safe one-line preview.
    pub preview: String,
}

/// One destination pane.
pub struct Destination {
    /// `kafka:FOO` or `amqp:FOO`.
    pub name: String,
    /// Where it is read from (`127.0.0.1:9092`, `amqp://localhost:5672`).
    pub endpoint: String,
    pub status: LinkStatus,
    /// Newest first, at most [`RECENT_CAP`].
    pub recent: VecDeque<Recent>,
    pub rate: RateMeter,
    pub series: Series,
    /// Whether every probe should arrive here (a primary). Fallback and
    /// dead-letter panes only count what arrives.
    pub expected: bool,
}

/// What the I/O side must do after a key press.
#[derive(Debug, Clone)]
pub enum Command {
    /// Send these probes.
    Send(SendRequest),
    /// Statistics were reset; start a new run (the caller supplies its id
    /// to [`App::reset`]).
    Reset,
}

/// The whole UI state.
pub struct App {
    pub injector: Injector,
    pub dests: Vec<Destination>,
    pub tracker: Tracker,
    /// Publish-to-settle latency of confirmed probes.
    pub settle: Latency,
    pub burst: u32,
    /// Send rate for `s`/`b` (messages per second), `None` = unpaced.
    pub rate: Option<f64>,
    /// Next sequence number to hand to the publisher.
    pub next_seq: u64,
    pub show_help: bool,
    pub quit: bool,
}

impl App {
    /// A new UI state for run `run`, injecting at `injector_target`, with one
    /// pane per `(name, endpoint)` destination.
    pub fn new(
        run: &str,
        injector_target: String,
        dests: Vec<(String, String)>,
        burst: u32,
        loss_timeout: Duration,
    ) -> Self {
        App {
            injector: Injector {
                target: injector_target,
                status: LinkStatus::Connecting,
                sent: 0,
                confirmed: 0,
                failed: 0,
                last_failure: None,
                rate: RateMeter::default(),
            },
            tracker: Tracker::new(run, dests.len(), loss_timeout),
            dests: dests
                .into_iter()
                .map(|(name, endpoint)| Destination {
                    name,
                    endpoint,
                    status: LinkStatus::Connecting,
                    recent: VecDeque::new(),
                    rate: RateMeter::default(),
                    series: Series::default(),
                    expected: true,
                })
                .collect(),
            settle: Latency::default(),
            burst: burst.clamp(1, MAX_BURST),
            rate: None,
            next_seq: 0,
            show_help: false,
            quit: false,
        }
    }

    /// Probes sent whose settlement has not come back yet.
    pub fn in_flight(&self) -> u64 {
        self.injector
            .sent
            .saturating_sub(self.injector.confirmed + self.injector.failed)
    }

    /// Starts run `run`: every counter, latency and series back to zero
    /// (link statuses and recent messages stay).
    pub fn reset(&mut self, run: &str) {
        self.tracker = Tracker::new(run, self.dests.len(), self.tracker.loss_timeout());
        self.settle = Latency::default();
        self.next_seq = 0;
        let i = &mut self.injector;
        (i.sent, i.confirmed, i.failed, i.last_failure, i.rate) =
            (0, 0, 0, None, RateMeter::default());
        for d in &mut self.dests {
            d.rate = RateMeter::default();
            d.series = Series::default();
        }
    }

    fn status_mut(&mut self, link: Link) -> Option<&mut LinkStatus> {
        match link {
            Link::Injector => Some(&mut self.injector.status),
            Link::Dest(i) => self.dests.get_mut(i).map(|d| &mut d.status),
        }
    }

    /// Advances time to `now`: declares overdue probes lost and closes the
    /// per-second series.
    pub fn on_tick(&mut self, now: Instant) {
        self.tracker.sweep(now);
        for d in &mut self.dests {
            d.series.roll(now);
        }
    }

    /// Folds one worker event into the state.
    pub fn on_event(&mut self, ev: Event) {
        // Sends and settlements of an earlier run (before a reset) do not count.
        let ours = match &ev {
            Event::Sent { run, .. } | Event::Confirmed { run, .. } | Event::Failed { run, .. } => {
                run == self.tracker.run()
            }
            _ => true,
        };
        match ev {
            Event::Up { link } => {
                if let Some(s) = self.status_mut(link) {
                    *s = LinkStatus::Up;
                }
            }
            Event::Down { link, error } => {
                if let Some(s) = self.status_mut(link) {
                    *s = LinkStatus::Down(error);
                }
            }
            Event::Waiting { link, reason } => {
                if let Some(s) = self.status_mut(link) {
                    *s = LinkStatus::Waiting(reason);
                }
            }
            Event::Sent {
                seq, at, intended, ..
            } if ours => {
                self.injector.sent += 1;
                self.injector.rate.hit(at);
                self.tracker.record_sent(seq, intended.unwrap_or(at));
            }
            Event::Confirmed { at, settle, .. } if ours => {
                self.injector.confirmed += 1;
                self.settle.record(settle, at);
            }
            Event::Failed { error, .. } if ours => {
                self.injector.failed += 1;
                self.injector.last_failure = Some(error);
            }
            Event::Sent { .. } | Event::Confirmed { .. } | Event::Failed { .. } => {}
            Event::Arrived(a) => {
                let probe = a.probe.as_ref().map(|(r, s)| (r.as_str(), *s));
                let verdict = self.tracker.record_arrival(a.dest, probe, a.at);
                let Some(d) = self.dests.get_mut(a.dest) else {
                    return;
                };
                d.rate.hit(a.at);
                let latency = match verdict {
                    Verdict::Delivered { latency, .. } => Some(latency),
                    _ => None,
                };
                d.series.hit(a.at, latency);
                let seq = match verdict {
                    Verdict::Foreign => None,
                    _ => a.probe.as_ref().map(|(_, s)| *s),
                };
                d.recent.push_front(Recent {
                    wall: a.wall,
                    verdict,
                    seq,
                    size: a.size,
                    preview: a.preview,
                });
                d.recent.truncate(RECENT_CAP);
            }
        }
    }

    /// Allocates the next `n` seqs of this run as a send request.
    fn request(&mut self, n: u32) -> SendRequest {
        let start = self.next_seq;
        self.next_seq += u64::from(n);
        SendRequest {
            run: self.tracker.run().to_owned(),
            seqs: start..self.next_seq,
            rate: self.rate,
            inject: Default::default(),
        }
    }

    /// Handles a key press; returns what the I/O side must do.
    /// Keys: `s` one message, `b` a burst, `+`/`-` burst size (×2 / ÷2),
    /// `r` reset statistics (new run), `?` help, `Esc` closes help,
    /// `q`/Ctrl-C quit.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.show_help = !self.show_help,
            KeyCode::Esc => self.show_help = false,
            KeyCode::Char('s') => return Some(Command::Send(self.request(1))),
            KeyCode::Char('b') => return Some(Command::Send(self.request(self.burst))),
            KeyCode::Char('r') => return Some(Command::Reset),
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.burst = (self.burst.saturating_mul(2)).min(MAX_BURST)
            }
            KeyCode::Char('-') | KeyCode::Char('_') => self.burst = (self.burst / 2).max(1),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_closes_seconds_with_p99() {
        let t0 = Instant::now();
        let mut s = Series::default();
        s.roll(t0);
        for i in 0..100u64 {
            s.hit(
                t0 + Duration::from_millis(i),
                Some(Duration::from_millis(i + 1)),
            );
        }
        s.roll(t0 + Duration::from_millis(2_500));
        assert_eq!(s.seconds.len(), 2);
        let (n, p99) = s.seconds[0];
        assert_eq!(n, 100);
        assert!((98_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(s.seconds[1], (0, 0));
    }

    #[test]
    fn rate_meter_reports_last_whole_second() {
        let t0 = Instant::now();
        let mut r = RateMeter::default();
        for i in 0..50u64 {
            r.hit(t0 + Duration::from_millis(i * 10));
        }
        r.hit(t0 + Duration::from_millis(1_100));
        assert_eq!(r.per_second(t0 + Duration::from_millis(1_200)), 50);
        assert_eq!(r.per_second(t0 + Duration::from_millis(5_000)), 0);
    }
}
