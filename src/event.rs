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
    /// The link failed or could not connect; it will retry with backoff.
    /// `error` is human-readable and never contains a password.
    Down { link: Link, error: String },
    /// Probe `seq` of run `run` is about to be transferred, at monotonic `at`.
    Sent { run: String, seq: u64, at: Instant },
    /// The broker settled probe `seq` with Accepted, `settle` after it was sent
    /// (publish-to-settle latency); `at` is the monotonic settle instant.
    Confirmed { run: String, seq: u64, at: Instant, settle: Duration },
    /// Probe `seq` was not accepted by the broker (rejected/released/modified),
    /// or could not be sent at all (link down).
    Failed { run: String, seq: u64, error: String },
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
}
