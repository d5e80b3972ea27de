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
use crate::pipeline::metrics::{ComponentId, Counter, Metrics};

/// An output whose outcomes are counted.
pub struct Measured {
    inner: Out,
    id: ComponentId,
    metrics: Arc<Metrics>,
}

/// `inner` with its outcomes counted under `id`.
pub fn wrap(inner: Out, id: ComponentId, metrics: Arc<Metrics>) -> Measured {
    Measured { inner, id, metrics }
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
                        self.metrics.add(Counter::OutputSent, &self.id, 1);
                        self.metrics.latency(&self.id, taken.elapsed());
                    }
                    Err(_) => self.metrics.add(Counter::OutputError, &self.id, 1),
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
