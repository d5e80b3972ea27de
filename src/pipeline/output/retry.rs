//! The `retry` output (internal/impl/pure/output_retry.go): retries its
//! child with backoff until it confirms or the policy runs out
//! (`max_retries`, 0 = unlimited; `backoff.max_elapsed_time`, 0 = none),
//! then fails ("message failed to reach a target destination"). While it
//! retries a message it takes no new ones (its gate is shut).

use std::sync::Arc;

use anyhow::bail;
use futures::future::BoxFuture;

use super::{Gated, Out, Output, RetryPolicy, ready, submit};
use crate::pipeline::config;
use crate::pipeline::message::{Completion, Msg};

/// A running retry output.
pub struct Retry {
    child: Gated,
    policy: RetryPolicy,
}

/// A retry output around a built `child`.
pub fn build(c: &config::Retry, child: Out) -> Retry {
    Retry {
        child: Gated::new(child),
        policy: RetryPolicy {
            max_retries: c.max_retries,
            initial: c.backoff.initial_interval.0,
            max: c.backoff.max_interval.0,
            max_elapsed: c.backoff.max_elapsed_time.0,
        },
    }
}

impl Output for Retry {
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let first = self.child.submit(msg.clone()).await;
            let done: Completion = Box::pin(async move {
                let mut attempts = self.policy.start();
                let mut pending = first;
                // shut while this message is retried (see Gated)
                let mut _shut = None;
                loop {
                    let Err(e) = pending.await else {
                        return Ok(());
                    };
                    if _shut.is_none() {
                        _shut = Some(self.child.shut().await);
                    }
                    let Some(wait) = attempts.failed() else {
                        bail!(
                            "message failed to reach a target destination after {} attempts: {e:#}",
                            attempts.count()
                        );
                    };
                    tracing::warn!(output = %self.child.out.label(), error = %format!("{e:#}"), retry_in = ?wait, "retry");
                    tokio::time::sleep(wait).await;
                    pending = submit(&self.child.out, msg.clone()).await;
                }
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.child.out.has_capacity()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        ready(&self.child.out)
    }

    fn label(&self) -> String {
        format!("retry({})", self.child.out.label())
    }
}
