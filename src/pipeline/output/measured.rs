//! Bento's output metrics around any output: `output_sent` when a message's
//! completion is confirmed, `output_error` when it fails, and
//! `output_latency_ns` from the output taking the message (its enqueue
//! phase done) to the confirmation. The build pass wraps every output of
//! the tree in one, so each output's series carry its own path.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::{Out, Output, ready, submit};
use crate::pipeline::message::{Completion, Msg};
use prometheus::{Histogram, IntCounter};

use crate::pipeline::metrics::{ComponentId, Counter, Metrics};

/// An output whose outcomes are counted.
pub struct Measured {
    inner: Out,
    sent: IntCounter,
    error: IntCounter,
    latency: Histogram,
}

/// `inner` with its outcomes counted under `id`.
pub fn wrap(inner: Out, id: ComponentId, metrics: Arc<Metrics>) -> Measured {
    Measured {
        inner,
        sent: metrics.counter(Counter::OutputSent, &id),
        error: metrics.counter(Counter::OutputError, &id),
        latency: metrics.timer(&id),
    }
}

impl Output for Measured {
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let pending = submit(&self.inner, msg).await;
            let taken = Instant::now();
            let done: Completion = Box::pin(async move {
                let r = pending.await;
                match &r {
                    Ok(()) => {
                        self.sent.inc();
                        self.latency.observe(taken.elapsed().as_secs_f64());
                    }
                    Err(_) => self.error.inc(),
                }
                r
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.inner.has_capacity()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        ready(&self.inner)
    }

    fn label(&self) -> String {
        self.inner.label()
    }
}
