//! The runner's message and acknowledgement types.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;

/// A message inside the runner: body bytes and string metadata (Bento's
/// message part: raw bytes and a string map).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg {
    pub body: Vec<u8>,
    pub meta: BTreeMap<String, String>,
}

/// Completion of a submitted message: resolves when the output confirmed it
/// (`Ok`, the input may ack) or gave up (`Err`, the input nacks).
pub type Completion = BoxFuture<'static, anyhow::Result<()>>;

/// Counters of one stream, for status lines.
#[derive(Debug, Default)]
pub struct Counters {
    /// Deliveries taken from the input.
    pub received: AtomicU64,
    /// Deliveries accepted after the output tree confirmed them.
    pub acked: AtomicU64,
    /// Deliveries settled Released (the broker redelivers).
    pub nacked: AtomicU64,
    /// Deliveries left unsettled (link lost, or drain time over): the
    /// broker redelivers them, so they are received again.
    pub abandoned: AtomicU64,
    /// When the last nack was logged (ms since process start; 0 = never).
    pub nack_logged_ms: AtomicU64,
}

impl Counters {
    /// Deliveries taken and not yet settled or abandoned.
    pub fn in_flight(&self) -> u64 {
        let r = self.received.load(Ordering::Relaxed);
        r.saturating_sub(
            self.acked.load(Ordering::Relaxed)
                + self.nacked.load(Ordering::Relaxed)
                + self.abandoned.load(Ordering::Relaxed),
        )
    }
}
