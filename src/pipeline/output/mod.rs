//! Outputs at run time: one module per component, all behind [`Output`].
//!
//! Writing is two-phase so the runner keeps input order, as Bento does:
//! [`Output::submit`] enqueues a message at every leaf output in the order
//! it is called (waiting for a `max_in_flight` slot), and returns a
//! [`Completion`] that resolves when the message is confirmed. The input
//! submits messages one after another and awaits the completions
//! concurrently.
//!
//! A new output is a module here implementing [`Output`], a variant of
//! [`crate::pipeline::config::Output`] with its check, and one arm in
//! [`crate::pipeline::build::output`].

// `submit` is two-phase on purpose: its future resolves to a `Completion`,
// itself a future, awaited later (see the module docs). Clippy's
// async_yields_async flags exactly that shape, so it is allowed here and in
// the component modules below.
#![allow(clippy::async_yields_async)]

pub mod amqp_1;
pub mod broker;
pub mod drop_on;
pub mod fallback;
pub mod kafka;
pub mod measured;
pub mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::RwLock;

use super::message::{Completion, Msg};
use crate::retry::Backoff;

/// A leaf output's `max_in_flight` slots (Bento's field): a message holds
/// one from being taken until it is confirmed or failed.
pub struct Slots(Arc<tokio::sync::Semaphore>);

impl Slots {
    /// `max_in_flight` slots (at least 1).
    pub fn new(max_in_flight: usize) -> Slots {
        Slots(Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))))
    }

    /// Waits for a free slot; `None` once the output is closed.
    pub async fn take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }

    /// Whether a slot is free now ([`Output::has_capacity`]).
    pub fn free(&self) -> bool {
        self.0.available_permits() > 0
    }

    /// Resolves once a slot is free ([`Output::ready`]).
    pub fn ready(&self) -> BoxFuture<'static, ()> {
        let s = self.0.clone();
        Box::pin(async move {
            let _ = s.acquire().await;
        })
    }
}

/// A running output component.
pub trait Output: Send + Sync {
    /// Enqueues `msg` at every leaf of this subtree, in call order, and
    /// returns its completion. The outer future is the enqueue phase (it
    /// waits for room); the [`Completion`] is awaited later, concurrently
    /// with the next messages' enqueue phases.
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion>;

    /// Whether a message submitted now would be taken without waiting for a
    /// `max_in_flight` slot.
    fn has_capacity(&self) -> bool;

    /// Resolves once [`Output::has_capacity`] may have become true.
    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()>;

    /// A short label for logs: `kafka:FOO`, `amqp:FOO`, `fan_out`.
    fn label(&self) -> String;
}

/// A built output (sub)tree.
pub type Out = Arc<dyn Output>;

/// Submits `msg` to `out` (see [`Output::submit`]).
pub fn submit(out: &Out, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
    out.clone().submit(msg)
}

/// Resolves once `out` may have room (see [`Output::ready`]).
pub fn ready(out: &Out) -> BoxFuture<'static, ()> {
    out.clone().ready()
}

/// A child whose failures are retried: while a retry is under way its gate
/// is shut and new messages wait at it (Bento's retry wrapper takes no new
/// message while it retries one, so the stream stalls behind a failing
/// output; the input's credit caps what waits).
#[derive(Clone)]
pub struct Gated {
    pub out: Out,
    gate: Arc<RwLock<()>>,
}

impl Gated {
    pub fn new(out: Out) -> Gated {
        Gated {
            out,
            gate: Default::default(),
        }
    }

    /// Enqueues `msg` once the gate is open.
    pub async fn submit(&self, msg: Arc<Msg>) -> Completion {
        let _open = self.gate.read().await;
        submit(&self.out, msg).await
    }

    /// Shuts the gate until the guard is dropped.
    pub async fn shut(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// Retries `msg` until confirmed, holding the gate shut meanwhile.
    pub fn retry_forever(
        &self,
        msg: Arc<Msg>,
        first: Completion,
    ) -> impl Future<Output = ()> + use<> {
        retry_forever(self.out.clone(), msg, first, Some(self.clone()))
    }
}

/// Awaits `first` (a completion of `c` for `msg`), submitting the message
/// again with Bento's fan_out backoff until `c` confirms it. With a `gate`
/// (a fan_out child's), the retries hold it shut, so the child takes no new
/// message meanwhile and the stream waits, as Bento's retry wrapper does.
pub async fn retry_forever(c: Out, msg: Arc<Msg>, first: Completion, gate: Option<Gated>) {
    let mut backoff = Backoff::bento_fan_out();
    let mut pending = first;
    let mut _shut = None;
    while let Err(e) = pending.await {
        if _shut.is_none()
            && let Some(g) = &gate
        {
            _shut = Some(g.shut().await);
        }
        let wait = backoff.next_delay();
        tracing::warn!(output = %c.label(), error = %format!("{e:#}"), retry_in = ?wait, "output failed; retrying (fan_out never drops a message)");
        tokio::time::sleep(wait).await;
        pending = submit(&c, msg.clone()).await;
    }
}

/// A bounded retry policy, as Bento's `retry` output and the kafka output's
/// `max_retries` + `backoff` use it: exponential backoff (×1.5, ±50 %)
/// from `initial` to `max`; gives up after `max_retries` retries (0 = no
/// count limit) or when the next wait would pass `max_elapsed` since the
/// first attempt (zero = no time limit).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial: Duration,
    pub max: Duration,
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// The attempts of one message, starting now.
    pub fn start(&self) -> Attempts {
        Attempts {
            policy: *self,
            start: Instant::now(),
            failed: 0,
            backoff: Backoff::new(self.initial, self.max, 1.5, 0.5),
        }
    }
}

/// The attempts of one message under a [`RetryPolicy`].
pub struct Attempts {
    policy: RetryPolicy,
    start: Instant,
    failed: u32,
    backoff: Backoff,
}

impl Attempts {
    /// Records a failed attempt: the wait before the next one, or `None`
    /// when the policy gives up (count or time).
    pub fn failed(&mut self) -> Option<Duration> {
        self.failed += 1;
        let wait = self.backoff.next_delay();
        let p = &self.policy;
        let out_of_count = p.max_retries > 0 && self.failed > p.max_retries;
        let out_of_time = !p.max_elapsed.is_zero() && self.start.elapsed() + wait > p.max_elapsed;
        (!(out_of_count || out_of_time)).then_some(wait)
    }

    /// Failed attempts so far.
    pub fn count(&self) -> u32 {
        self.failed
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_gives_up_by_count_or_by_time() {
        let by_count = RetryPolicy {
            max_retries: 2,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(1),
            max_elapsed: Duration::ZERO,
        };
        let mut a = by_count.start();
        assert!(a.failed().is_some());
        assert!(a.failed().is_some());
        assert_eq!(a.failed(), None);
        assert_eq!(a.count(), 3);
        let by_time = RetryPolicy {
            max_retries: 0,
            initial: Duration::from_secs(10),
            max: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(1),
        };
        // the first wait (5-15 s) already passes 1 s
        assert_eq!(by_time.start().failed(), None);
        let unlimited = RetryPolicy {
            max_elapsed: Duration::ZERO,
            ..by_time
        };
        let mut a = unlimited.start();
        assert!((0..100).all(|_| a.failed().is_some()));
    }
}
