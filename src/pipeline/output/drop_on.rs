//! The `drop_on` output (internal/impl/pure/output_drop_on.go) around one
//! child.
//!
//! A child error matching `error: true` or one of `error_patterns` is
//! logged and the message acked (dropped); other errors fail it. With
//! `back_pressure`, a message the child does not take within that time (no
//! free `max_in_flight` slot, e.g. its broker is unreachable) is dropped
//! when `error` is true and failed otherwise, and so is every later message
//! at once until the child has room again (Bento's documented behaviour).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use futures::future::BoxFuture;

use super::{Out, Output, ready, submit};
use crate::pipeline::config;
use crate::pipeline::message::{Completion, Msg};

/// A running drop_on output.
pub struct DropOn {
    child: Out,
    on_error: bool,
    patterns: Vec<regex::Regex>,
    back_pressure: Option<Duration>,
    /// Set after a back-pressure timeout, cleared when the child has room.
    backed_up: AtomicBool,
    /// Messages dropped so far (for the log).
    dropped: AtomicU64,
}

/// A drop_on output around a built `child` (patterns checked).
pub fn build(c: &config::DropOn, child: Out) -> DropOn {
    DropOn {
        child,
        on_error: c.error,
        patterns: c.patterns(),
        back_pressure: c.back_pressure.map(|g| g.0),
        backed_up: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    }
}

impl DropOn {
    fn drops(&self, error: &str) -> bool {
        self.on_error || self.patterns.iter().any(|p| p.is_match(error))
    }

    /// Acks the message (drop) or fails it, as the settings say for `error`.
    fn give_up(&self, error: String, matches: bool) -> Result<()> {
        if !matches {
            bail!(error);
        }
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(output = %self.child.label(), %error, dropped_so_far = n, "drop_on: message dropped");
        Ok(())
    }
}

impl Output for DropOn {
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let first = match self.back_pressure {
                None => submit(&self.child, msg).await,
                Some(limit) => {
                    let backed_up = self.backed_up.load(Ordering::Relaxed);
                    let taken = if backed_up && !self.child.has_capacity() {
                        None
                    } else {
                        tokio::time::timeout(limit, submit(&self.child, msg))
                            .await
                            .ok()
                    };
                    match taken {
                        Some(c) => {
                            self.backed_up.store(false, Ordering::Relaxed);
                            c
                        }
                        None => {
                            self.backed_up.store(true, Ordering::Relaxed);
                            let r = self.give_up(
                                format!(
                                    "{} applied back pressure for longer than {}",
                                    self.child.label(),
                                    humantime::format_duration(limit)
                                ),
                                self.on_error,
                            );
                            let done: Completion = Box::pin(async move { r });
                            return done;
                        }
                    }
                }
            };
            let done: Completion = Box::pin(async move {
                match first.await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let text = format!("{e:#}");
                        let matches = self.drops(&text);
                        self.give_up(text, matches)
                    }
                }
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.child.has_capacity()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        ready(&self.child)
    }

    fn label(&self) -> String {
        format!("drop_on({})", self.child.label())
    }
}
