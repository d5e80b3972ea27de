//! The `fallback` output (internal/impl/pure/output_fallback.go): tries
//! each child in order; a message passed on carries metadata
//! `fallback_error` = the previous child's error; fails when the last child
//! fails. Children are not retry-wrapped.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Out, Output, ready, submit};
use crate::pipeline::message::{Completion, Msg};

/// A running fallback output.
pub struct Fallback {
    children: Vec<Out>,
}

/// A fallback over built `children` (at least one: checked).
pub fn build(children: Vec<Out>) -> Fallback {
    Fallback { children }
}

impl Output for Fallback {
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let children = self.children.clone();
            let first = submit(&children[0], msg.clone()).await;
            let done: Completion = Box::pin(async move {
                let mut pending = first;
                let mut i = 0;
                loop {
                    match pending.await {
                        Ok(()) => return Ok(()),
                        Err(e) if i + 1 < children.len() => {
                            tracing::warn!(output = %children[i].label(), next = %children[i + 1].label(), error = %format!("{e:#}"), "fallback: trying the next output");
                            i += 1;
                            let mut next = (*msg).clone();
                            next.meta.insert("fallback_error".into(), format!("{e:#}"));
                            pending = submit(&children[i], Arc::new(next)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.children[0].has_capacity()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        ready(&self.children[0])
    }

    fn label(&self) -> String {
        "fallback".into()
    }
}
