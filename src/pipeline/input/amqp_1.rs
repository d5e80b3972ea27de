//! The `amqp_1` input (internal/impl/amqp1/input.go): a receiver link with
//! `credit` as the cap on unsettled deliveries; a delivery is accepted only
//! after the output tree confirmed it, released (requeued) when it failed.
//!
//! Delivery is at-least-once as in Bento: deliveries still in flight when
//! the input link drops, or when the drain time runs out at shutdown, are
//! left unsettled: the broker redelivers them (duplicates are possible,
//! loss is not).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{Body, Message};
use fe2o3_amqp::types::primitives::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use anyhow::Result;

use crate::amqp;
use crate::pipeline::config::Amqp1Input;
use crate::pipeline::connect::connect_any;
use crate::pipeline::message::{Counters, Msg};
use crate::pipeline::metrics::Counter;
use crate::pipeline::output::submit;
use crate::pipeline::stream::Stream;
use crate::retry::{self, Backoff, Down, Next, Reconnect};

/// Process start, for rate-limited logging.
static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// Metadata as Bento's amqp_1 input sets it: `amqp_content_type`,
/// `amqp_content_encoding`, `amqp_to`, header fields with `read_header`, and
/// every message annotation whose key and value are strings (`-` in the key
/// becomes `_`). Empty values are skipped.
pub fn input_metadata<B>(m: &Message<B>, read_header: bool) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            meta.insert(k.to_owned(), v);
        }
    };
    if let Some(p) = &m.properties {
        if let Some(ct) = &p.content_type {
            put("amqp_content_type", ct.0.clone());
        }
        if let Some(ce) = &p.content_encoding {
            put("amqp_content_encoding", ce.0.clone());
        }
        if let Some(to) = &p.to {
            put("amqp_to", to.clone());
        }
    }
    if read_header {
        if let Some(h) = &m.header {
            put("amqp_durable", h.durable.to_string());
            put("amqp_priority", h.priority.0.to_string());
            if let Some(ttl) = h.ttl {
                put("amqp_ttl", ttl.to_string());
            }
            put("amqp_first_acquirer", h.first_acquirer.to_string());
            put("amqp_delivery_count", h.delivery_count.to_string());
        }
    }
    if let Some(ma) = &m.message_annotations {
        for (k, v) in ma.0.iter() {
            let key = match k {
                OwnedKey::Symbol(s) => s.0.clone(),
                _ => continue,
            };
            let val = match v {
                Value::String(s) => s.clone(),
                Value::Symbol(s) => s.0.clone(),
                _ => continue,
            };
            put(&key.replace('-', "_"), val);
        }
    }
    meta
}

type Settlement = (fe2o3_amqp::link::delivery::DeliveryInfo, Result<()>);

/// Accepts a confirmed delivery, or nacks a failed one with Released so
/// RabbitMQ requeues it. Bento settles with Modified(delivery-failed), which
/// RabbitMQ 3.10.8's AMQP 1.0 plugin does not know: it closes the session and
/// requeues every unsettled delivery (rabbitmq-server#2584, fixed in later
/// 3.10.x); Released is requeued by every RabbitMQ version.
async fn settle(
    id: &str,
    c: &Counters,
    receiver: &fe2o3_amqp::Receiver,
    (info, result): Settlement,
) {
    let res = match result {
        Ok(()) => {
            c.acked.fetch_add(1, Ordering::Relaxed);
            receiver.accept(info).await
        }
        Err(e) => {
            // at most one line per second (a message that always fails is
            // redelivered at once, again and again); the status line counts all
            let now = START.elapsed().as_millis() as u64;
            let last = c.nack_logged_ms.load(Ordering::Relaxed);
            if last == 0 || now.saturating_sub(last) >= 1000 {
                c.nack_logged_ms.store(now.max(1), Ordering::Relaxed);
                tracing::warn!(stream = %id, error = %format!("{e:#}"), nacked_so_far = c.nacked.load(Ordering::Relaxed) + 1, "message failed; nacking (the broker redelivers it)");
            }
            c.nacked.fetch_add(1, Ordering::Relaxed);
            receiver.release(info).await
        }
    };
    if let Err(e) = res {
        tracing::warn!(stream = %id, error = %e, "could not settle a delivery; the broker will redeliver it");
    }
}

/// Settles a batch of finished deliveries: the accepted ones in as few
/// dispositions as possible (one per run of consecutive delivery ids, which
/// saves the broker work per message), the failed ones one by one.
async fn settle_all(
    id: &str,
    c: &Counters,
    receiver: &fe2o3_amqp::Receiver,
    batch: Vec<Settlement>,
) {
    let mut accepted = Vec::with_capacity(batch.len());
    for (info, result) in batch {
        match result {
            Ok(()) => accepted.push(info),
            Err(e) => settle(id, c, receiver, (info, Err(e))).await,
        }
    }
    if accepted.is_empty() {
        return;
    }
    c.acked.fetch_add(accepted.len() as u64, Ordering::Relaxed);
    if let Err(e) = receiver.accept_all(accepted).await {
        tracing::warn!(stream = %id, error = %e, "could not settle deliveries; the broker will redeliver them");
    }
}

/// Waits for the next finished delivery and takes every other one already
/// finished.
async fn finished(inflight: &mut JoinSet<Settlement>) -> Vec<Settlement> {
    let mut batch = Vec::new();
    if let Some(Ok(r)) = inflight.join_next().await {
        batch.push(r);
    }
    while let Some(j) = inflight.try_join_next() {
        if let Ok(r) = j {
            batch.push(r);
        }
    }
    batch
}

/// Runs the amqp_1 input of stream `s` until `cancel` fires, then stops
/// taking input and waits up to `drain` for in-flight messages to be
/// confirmed and settled. Reconnects with backoff ([`retry::keep`]) when
/// the link is lost (what was in flight is left unsettled: the broker
/// redelivers it).
pub async fn run(s: &Stream, input: &Amqp1Input, cancel: CancellationToken, drain: Duration) {
    let mut link = Link {
        s,
        input,
        eps: input.sasl.endpoints(&input.urls, &input.tls),
        credit: input.credit.max(1),
        cancel: cancel.clone(),
        drain,
    };
    retry::keep(&mut link, Backoff::reconnect(), &cancel).await;
}

/// The input's link, kept up by [`retry::keep`].
struct Link<'a> {
    s: &'a Stream,
    input: &'a Amqp1Input,
    eps: Vec<amqp::AmqpEndpoint>,
    credit: u32,
    cancel: CancellationToken,
    drain: Duration,
}

impl Reconnect for Link<'_> {
    type Conn = (amqp::AmqpSession, fe2o3_amqp::Receiver);

    async fn connect(&mut self) -> Result<Self::Conn> {
        let id = &self.s.id;
        connect_any(&self.eps, &format!("streamprobe-pipeline-{id}-input"))
            .await?
            .with_receiver(&format!("{id}-input"), &self.input.source_address)
            .await
    }

    async fn up(&mut self) {
        self.s.input_link.up();
        tracing::info!(stream = %self.s.id, source = %self.input.source_address, credit = self.credit, "input connected");
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        self.s.input_link.down();
        match why {
            Down::Failed(e) => {
                tracing::warn!(stream = %self.s.id, error = %format!("{e:#}"), "input cannot connect")
            }
            Down::Lost(e) => {
                tracing::warn!(stream = %self.s.id, error = %e, "input link lost; in-flight deliveries will be redelivered by the broker")
            }
        }
        Next::Backoff
    }

    /// Reads, submits and settles until `cancel` (then drains: `Ok`) or
    /// until the link fails (`Err`; in-flight deliveries are left
    /// unsettled, so the broker redelivers them).
    async fn session(&mut self, (session, mut receiver): Self::Conn) -> Result<(), String> {
        let (s, id) = (self.s, self.s.id.as_str());
        let (output, c) = (&s.output, &*s.counters);
        let received = s.input_link.counter(Counter::InputReceived);
        let mut inflight: JoinSet<Settlement> = JoinSet::new();
        let mut window = amqp::CreditWindow::new();
        let lost = loop {
            // Grant a new window once the last one is used up and at
            // most half the credit is in flight (Bento's `credit` caps
            // unsettled deliveries).
            let free = self.credit.saturating_sub(inflight.len() as u32);
            if window.outstanding() == 0 && free >= self.credit.div_ceil(2) {
                if let Err(e) = window.grant(&mut receiver, free).await {
                    break Some(format!("{e:#}"));
                }
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break None,
                batch = finished(&mut inflight), if !inflight.is_empty() => {
                    settle_all(id, c, &receiver, batch).await;
                }
                d = receiver.recv::<Body<Value>>(), if window.outstanding() > 0 => match d {
                    Ok(delivery) => {
                        window.received();
                        c.received.fetch_add(1, Ordering::Relaxed);
                        received.inc();
                        let (info, message) = delivery.into_parts();
                        let mut msg = Msg {
                            meta: input_metadata(&message, self.input.read_header),
                            body: amqp::body_bytes(&message.body).unwrap_or_default(),
                        };
                        s.processors.apply(&mut msg);
                        // Submit in input order (this waits for a
                        // max_in_flight slot); confirm concurrently.
                        let done = tokio::select! {
                            d = submit(output, Arc::new(msg)) => d,
                            // Never submitted: left unsettled, so the
                            // broker redelivers it after we detach.
                            _ = self.cancel.cancelled() => {
                                c.abandoned.fetch_add(1, Ordering::Relaxed);
                                break None;
                            }
                        };
                        inflight.spawn(async move { (info, done.await) });
                    }
                    Err(e) => break Some(format!("{e}")),
                }
            }
        };
        let Some(e) = lost else {
            // Draining: no new input; finish what is in flight.
            let n = inflight.len();
            tracing::info!(stream = %id, in_flight = n, never_submitted = c.abandoned.load(Ordering::Relaxed), "draining (never_submitted: taken from the input while the output could not take them; left unsettled)");
            let deadline = tokio::time::Instant::now() + self.drain;
            while !inflight.is_empty() {
                match tokio::time::timeout_at(deadline, inflight.join_next()).await {
                    Ok(Some(Ok(r))) => settle(id, c, &receiver, r).await,
                    Ok(_) => {}
                    Err(_) => {
                        tracing::warn!(stream = %id, left = inflight.len(), "drain time over; leaving the rest unsettled (the broker redelivers them)");
                        c.abandoned
                            .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                        inflight.abort_all();
                        break;
                    }
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
            session.close().await;
            return Ok(());
        };
        let n = inflight.len();
        c.abandoned.fetch_add(n as u64, Ordering::Relaxed);
        inflight.abort_all();
        let _ = tokio::time::timeout(Duration::from_secs(1), receiver.close()).await;
        session.close().await;
        Err(format!("{e} ({n} in flight)"))
    }
}
