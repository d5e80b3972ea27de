//! The `broker` output: Bento's patterns over several children
//! (internal/impl/pure/output_broker.go).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;

use super::{Gated, Out, Output, ready, submit};
use crate::pipeline::config::Pattern;
use crate::pipeline::message::{Completion, Msg};

/// A running broker output.
pub struct Broker {
    pattern: Pattern,
    /// The children, each with its retry gate (used by the `fan_out` and
    /// `fan_out_sequential` patterns, which retry a failing child forever).
    children: Vec<Gated>,
    /// `round_robin`: the next child.
    next: AtomicUsize,
}

/// A broker with `pattern` over built `children` (at least one: checked).
///
/// - `fan_out`: every child gets every message; each child is retried
///   forever (0.5 s → 3 s, ×1.5, ±50 %); confirms when all did.
/// - `fan_out_sequential`: like `fan_out`, but each child only after the
///   previous one confirmed the message.
/// - `fan_out_fail_fast`: every child gets every message, no retries; the
///   first error fails the message (nack).
/// - `fan_out_sequential_fail_fast`: each child after the previous one
///   confirmed, no retries; the first error fails the message.
/// - `round_robin`: each message goes to one child, in turn.
/// - `greedy`: each message goes to one child, picked at random among those
///   with a free `max_in_flight` slot (waits when none has); a child's
///   error fails the message.
pub fn build(pattern: Pattern, children: Vec<Out>) -> Broker {
    Broker {
        pattern,
        children: children.into_iter().map(Gated::new).collect(),
        next: AtomicUsize::new(0),
    }
}

impl Broker {
    fn outs(&self) -> impl Iterator<Item = &Out> {
        self.children.iter().map(|c| &c.out)
    }

    /// The child `round_robin` sends the next message to.
    fn turn(&self) -> &Out {
        &self.children[self.next.load(Ordering::Relaxed) % self.children.len()].out
    }
}

impl Output for Broker {
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            match self.pattern {
                Pattern::FanOut => {
                    let mut parts = Vec::with_capacity(self.children.len());
                    for c in &self.children {
                        parts.push((c.clone(), c.submit(msg.clone()).await));
                    }
                    let done: Completion = Box::pin(async move {
                        futures::future::join_all(
                            parts
                                .into_iter()
                                .map(|(c, first)| c.retry_forever(msg.clone(), first)),
                        )
                        .await;
                        Ok(())
                    });
                    done
                }
                Pattern::FanOutSequential => {
                    let children = self.children.clone();
                    let first = children[0].submit(msg.clone()).await;
                    let done: Completion = Box::pin(async move {
                        let mut pending = Some(first);
                        for c in children {
                            let first = match pending.take() {
                                Some(f) => f,
                                None => c.submit(msg.clone()).await,
                            };
                            c.retry_forever(msg.clone(), first).await;
                        }
                        Ok(())
                    });
                    done
                }
                Pattern::FanOutFailFast => {
                    let mut parts = Vec::with_capacity(self.children.len());
                    for c in self.outs() {
                        parts.push(submit(c, msg.clone()).await);
                    }
                    let done: Completion =
                        Box::pin(
                            async move { futures::future::try_join_all(parts).await.map(|_| ()) },
                        );
                    done
                }
                Pattern::FanOutSequentialFailFast => {
                    let children: Vec<Out> = self.outs().cloned().collect();
                    let first = submit(&children[0], msg.clone()).await;
                    let done: Completion = Box::pin(async move {
                        first.await?;
                        for c in &children[1..] {
                            submit(c, msg.clone()).await.await?;
                        }
                        Ok(())
                    });
                    done
                }
                Pattern::RoundRobin => {
                    let i = self.next.fetch_add(1, Ordering::Relaxed) % self.children.len();
                    submit(&self.children[i].out, msg).await
                }
                Pattern::Greedy => loop {
                    let free: Vec<&Out> = self.outs().filter(|c| c.has_capacity()).collect();
                    if !free.is_empty() {
                        break submit(free[fastrand::usize(..free.len())], msg).await;
                    }
                    futures::future::select_all(self.outs().map(ready)).await;
                },
            }
        })
    }

    fn has_capacity(&self) -> bool {
        match self.pattern {
            Pattern::FanOut | Pattern::FanOutFailFast => self.outs().all(|c| c.has_capacity()),
            Pattern::FanOutSequential | Pattern::FanOutSequentialFailFast => {
                self.children[0].out.has_capacity()
            }
            Pattern::RoundRobin => self.turn().has_capacity(),
            Pattern::Greedy => self.outs().any(|c| c.has_capacity()),
        }
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            match self.pattern {
                Pattern::FanOut | Pattern::FanOutFailFast => {
                    futures::future::join_all(self.outs().map(ready)).await;
                }
                Pattern::FanOutSequential | Pattern::FanOutSequentialFailFast => {
                    ready(&self.children[0].out).await
                }
                Pattern::RoundRobin => ready(self.turn()).await,
                Pattern::Greedy => {
                    futures::future::select_all(self.outs().map(ready)).await;
                }
            }
        })
    }

    fn label(&self) -> String {
        match self.pattern {
            Pattern::FanOut => "fan_out",
            Pattern::FanOutSequential => "fan_out_sequential",
            Pattern::FanOutFailFast => "fan_out_fail_fast",
            Pattern::FanOutSequentialFailFast => "fan_out_sequential_fail_fast",
            Pattern::RoundRobin => "round_robin",
            Pattern::Greedy => "greedy",
        }
        .into()
    }
}
