//! Events that I/O tasks send to the UI (or the headless probe) over a tokio
//! mpsc channel. Workers never touch UI state; they only send these.

use std::ops::Range;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Which link an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The publisher that injects probes into the source address.
    Injector,
    /// Destination number `n` (index into the configured destinations).
    Dest(usize),
}

/// One thing that happened on a link.
#[derive(Debug, Clone)]
pub enum Event {
    /// The link is connected and attached.
    Up { link: Link },
    /// The broker answers, but the link waits for something to exist (a
    /// Kafka topic not created yet); it reads from the moment it appears.
    /// Counts as ready.
    Waiting { link: Link, reason: String },
    /// The link failed or could not connect; it will retry with backoff.
    /// `error` is human-readable and never contains a password.
    Down { link: Link, error: String },
    /// Probe `seq` of run `run` is about to be transferred, at monotonic
    /// `at`. With a rate set, `intended` is when it was due: latency counts
    /// from there, so a stalled sender cannot hide delay (coordinated omission).
    Sent {
        run: String,
        seq: u64,
        at: Instant,
        intended: Option<Instant>,
    },
    /// The broker settled probe `seq` with Accepted, `settle` after it was sent
    /// (publish-to-settle latency); `at` is the monotonic settle instant.
    Confirmed {
        run: String,
        seq: u64,
        at: Instant,
        settle: Duration,
    },
    /// Probe `seq` was not accepted by the broker (rejected/released/modified),
    /// or could not be sent at all (link down).
    Failed {
        run: String,
        seq: u64,
        error: String,
    },
    /// A message arrived at a destination.
    Arrived(Arrival),
}

/// A message seen at a destination, already reduced to what the UI needs.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Destination index.
    pub dest: usize,
    /// Monotonic receive instant (same clock as [`Event::Sent`]).
    pub at: Instant,
    /// Wall-clock receive time, for display.
    pub wall: DateTime<Utc>,
    /// `(run, seq)` when the body is a probe envelope.
    pub probe: Option<(String, u64)>,
    /// Body size in bytes.
    pub size: usize,
    /// One-line, terminal-safe preview of the body (see [`crate::sanitize`]).
    pub preview: String,
}

/// A request to the publisher: send probes with these seqs for `run`.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub run: String,
    pub seqs: Range<u64>,
    /// Messages per second; `None` (or 0) = as fast as the link allows.
    /// Probe `seq` is due at `start + (seq - seqs.start) / rate`, where
    /// `start` is when the publisher takes the request.
    pub rate: Option<f64>,
}

impl SendRequest {
    /// A request without a rate.
    pub fn unpaced(run: &str, seqs: Range<u64>) -> Self {
        SendRequest {
            run: run.to_owned(),
            seqs,
            rate: None,
        }
    }
}

/// What goes into every probe body besides the envelope fields.
#[derive(Debug, Clone, Default)]
pub struct BodyOptions {
    /// Pad the body with `x`s to about this many bytes (`--payload-size`).
    pub size: Option<usize>,
    /// User JSON embedded as `payload` (`--payload-file`).
    pub payload: Option<serde_json::Value>,
}
