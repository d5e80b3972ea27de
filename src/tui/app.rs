//! UI state and its pure reducer.
//!
//! [`App::on_event`] folds worker events into the state; [`App::on_key`]
//! handles key presses and returns what the I/O side must do. Neither does
//! I/O or reads a clock (every instant comes in with the event), so both are
//! tested without a terminal or a broker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::event::{Event, Link, SendRequest};
use crate::latency::Latency;
use crate::tracker::{Tracker, Verdict};

/// Newest messages kept per destination pane.
pub const RECENT_CAP: usize = 200;
/// Largest burst `+` can reach.
pub const MAX_BURST: u32 = 1_000_000;

/// Connection state of one link as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not connected yet (first attempt running).
    Connecting,
    /// Connected and attached.
    Up,
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
        self.roll(at);
        self.current += 1;
    }

    fn roll(&mut self, now: Instant) {
        match self.bucket_start {
            None => self.bucket_start = Some(now),
            Some(start) => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed >= Duration::from_secs(2) {
                    // a whole second (or more) with nothing in it
                    self.last = 0;
                    self.current = 0;
                    self.bucket_start = Some(now);
                } else if elapsed >= Duration::from_secs(1) {
                    self.last = self.current;
                    self.current = 0;
                    self.bucket_start = Some(start + Duration::from_secs(1));
                }
            }
        }
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
    /// End-to-end latency (this run's probes only).
    pub latency: Option<Duration>,
    /// What the tracker made of it.
    pub verdict: Verdict,
    /// Sequence number, for this run's probes.
    pub seq: Option<u64>,
    pub size: usize,
    /// Terminal-safe one-line preview.
    pub preview: String,
}

/// One destination pane.
#[derive(Debug)]
pub struct Destination {
    /// `kafka:FOO` or `amqp:FOO`.
    pub name: String,
    /// Where it is read from (`127.0.0.1:9092`, `amqp://localhost:5672`).
    pub endpoint: String,
    pub status: LinkStatus,
    /// Newest first, at most [`RECENT_CAP`].
    pub recent: VecDeque<Recent>,
    pub rate: RateMeter,
}

/// The whole UI state.
pub struct App {
    pub injector: Injector,
    pub dests: Vec<Destination>,
    pub tracker: Tracker,
    /// Publish-to-settle latency of confirmed probes.
    pub settle: Latency,
    pub burst: u32,
    /// Next sequence number to hand to the publisher.
    pub next_seq: u64,
    pub show_help: bool,
    pub quit: bool,
}

impl App {
    /// A new UI state for run `run`, injecting at `injector_target`, with one
    /// pane per `(name, endpoint)` destination.
    pub fn new(run: &str, injector_target: String, dests: Vec<(String, String)>, burst: u32) -> Self {
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
            tracker: Tracker::new(run, dests.len()),
            dests: dests
                .into_iter()
                .map(|(name, endpoint)| Destination {
                    name,
                    endpoint,
                    status: LinkStatus::Connecting,
                    recent: VecDeque::new(),
                    rate: RateMeter::default(),
                })
                .collect(),
            settle: Latency::default(),
            burst: burst.clamp(1, MAX_BURST),
            next_seq: 0,
            show_help: false,
            quit: false,
        }
    }

    /// Probes sent whose settlement has not come back yet.
    pub fn in_flight(&self) -> u64 {
        self.injector.sent.saturating_sub(self.injector.confirmed + self.injector.failed)
    }

    fn status_mut(&mut self, link: Link) -> Option<&mut LinkStatus> {
        match link {
            Link::Injector => Some(&mut self.injector.status),
            Link::Dest(i) => self.dests.get_mut(i).map(|d| &mut d.status),
        }
    }

    /// Folds one worker event into the state.
    pub fn on_event(&mut self, ev: Event) {
        let run = self.tracker.run().to_owned();
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
            Event::Sent { run: r, seq, at } if r == run => {
                self.injector.sent += 1;
                self.injector.rate.hit(at);
                self.tracker.record_sent(seq, at);
            }
            Event::Confirmed { run: r, at, settle, .. } if r == run => {
                self.injector.confirmed += 1;
                self.settle.record(settle, at);
            }
            Event::Failed { run: r, error, .. } if r == run => {
                self.injector.failed += 1;
                self.injector.last_failure = Some(error);
            }
            // Settlements of an earlier run (after a reset) are not counted.
            Event::Sent { .. } | Event::Confirmed { .. } | Event::Failed { .. } => {}
            Event::Arrived(a) => {
                let probe = a.probe.as_ref().map(|(r, s)| (r.as_str(), *s));
                let verdict = self.tracker.record_arrival(a.dest, probe, a.at);
                let Some(d) = self.dests.get_mut(a.dest) else { return };
                d.rate.hit(a.at);
                let latency = match verdict {
                    Verdict::Delivered { latency, .. } => Some(latency),
                    _ => None,
                };
                let seq = match verdict {
                    Verdict::Foreign => None,
                    _ => a.probe.as_ref().map(|(_, s)| *s),
                };
                d.recent.push_front(Recent { wall: a.wall, latency, verdict, seq, size: a.size, preview: a.preview });
                d.recent.truncate(RECENT_CAP);
            }
        }
    }

    /// Allocates the next `n` seqs of this run as a send request.
    fn request(&mut self, n: u32) -> SendRequest {
        let start = self.next_seq;
        self.next_seq += u64::from(n);
        SendRequest { run: self.tracker.run().to_owned(), seqs: start..self.next_seq }
    }

    /// Handles a key press; returns a send request when one is due.
    /// Keys: `s` one message, `b` a burst, `+`/`-` burst size (×2 / ÷2),
    /// `?` help, `Esc` closes help, `q`/Ctrl-C quit.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<SendRequest> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.show_help = !self.show_help,
            KeyCode::Esc => self.show_help = false,
            KeyCode::Char('s') => return Some(self.request(1)),
            KeyCode::Char('b') => return Some(self.request(self.burst)),
            KeyCode::Char('+') | KeyCode::Char('=') => self.burst = (self.burst.saturating_mul(2)).min(MAX_BURST),
            KeyCode::Char('-') | KeyCode::Char('_') => self.burst = (self.burst / 2).max(1),
            _ => {}
        }
        None
    }
}
