//! The `amqp_1` output: one connection task owns the sender link and sends
//! in the order messages were submitted; writers wait for the broker's
//! settlement (Bento's amqp_1 output: a Data section, metadata as message
//! annotations, no header or properties).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{Message, MessageAnnotations, Outcome};
use fe2o3_amqp::types::primitives::{Binary, Symbol, Value};
use futures::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::Output;
use crate::amqp::{AmqpEndpoint, AmqpSession};
use crate::pipeline::config::{Amqp1Output, MetadataFilter};
use crate::pipeline::connect::connect_any;
use crate::pipeline::message::{Completion, Msg};
use crate::pipeline::metrics::LinkState;
use crate::retry::Backoff;

type AmqpRequest = (
    Message<fe2o3_amqp::types::messaging::Data>,
    oneshot::Sender<Result<()>>,
);

/// The running amqp_1 output.
pub struct AmqpOut {
    target: String,
    filter: MetadataFilter,
    /// Literal application properties (`application_properties_map: root = {...}`).
    app_props: Vec<(String, String)>,
    in_flight: Arc<Semaphore>,
    tx: mpsc::Sender<AmqpRequest>,
}

/// Builds a checked amqp_1 output and spawns its connection task, which
/// connects at once and reports its connection through `link`; `name`
/// names its AMQP container and link.
pub fn build(c: &Amqp1Output, name: String, link: LinkState) -> AmqpOut {
    let (tx, rx) = mpsc::channel(c.max_in_flight.max(1));
    tokio::spawn(amqp_output_task(
        c.sasl.endpoints(&c.urls),
        c.target_address.clone(),
        name,
        rx,
        link,
    ));
    AmqpOut {
        target: c.target_address.clone(),
        filter: c.metadata.clone(),
        app_props: c.literal_application_properties(),
        in_flight: Arc::new(Semaphore::new(c.max_in_flight.max(1))),
        tx,
    }
}

impl AmqpOut {
    /// The AMQP message Bento's amqp_1 output sends for `msg`.
    fn message(&self, msg: &Msg) -> Message<fe2o3_amqp::types::messaging::Data> {
        let mut annotations = MessageAnnotations::default();
        for (k, v) in msg.meta.iter().filter(|(k, _)| self.filter.keeps(k)) {
            annotations.0.insert(
                OwnedKey::Symbol(Symbol::from(k.as_str())),
                Value::String(v.clone()),
            );
        }
        let app_props = if self.app_props.is_empty() {
            None
        } else {
            let mut b = fe2o3_amqp::types::messaging::ApplicationProperties::builder();
            for (k, v) in &self.app_props {
                b = b.insert(k.clone(), v.clone());
            }
            Some(b.build())
        };
        Message::builder()
            .message_annotations(if annotations.0.is_empty() {
                None
            } else {
                Some(annotations)
            })
            .application_properties(app_props)
            .data(Binary::from(msg.body.clone()))
            .build()
    }
}

impl Output for AmqpOut {
    /// Sends one Data section, metadata as message annotations. Completes
    /// once Accepted.
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let permit = match self.in_flight.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => {
                    let done: Completion = Box::pin(async { Err(anyhow!("amqp output closed")) });
                    return done;
                }
            };
            let message = self.message(&msg);
            let (reply, rx) = oneshot::channel();
            let sent = self.tx.send((message, reply)).await;
            let done: Completion = Box::pin(async move {
                let _permit = permit;
                sent.map_err(|_| anyhow!("amqp output task stopped"))?;
                rx.await.map_err(|_| anyhow!("amqp output task stopped"))?
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.in_flight.available_permits() > 0
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.in_flight.acquire().await;
        })
    }

    fn label(&self) -> String {
        format!("amqp:{}", self.target)
    }
}

/// The amqp_1 output's connection task, as Bento's amqp_1 output behaves: it
/// connects at start (so `/ready` can tell), and a message that cannot be
/// sent (no connection, link lost before the broker settled it) is resent,
/// after reconnecting with backoff (0.5 s → 1 s), for ever, so connection
/// errors never reach `fan_out`, `fallback` or `retry`; while it waits, the
/// `max_in_flight` slots fill up and writers block (back pressure, which
/// `drop_on.back_pressure` can turn into an error). Only a broker's definite
/// refusal (settled other than Accepted) fails a message. The connection is
/// reported through `link`; a connection that closes while idle is noticed
/// within [`IDLE_CHECK`].
async fn amqp_output_task(
    eps: Vec<AmqpEndpoint>,
    target: String,
    name: String,
    mut rx: mpsc::Receiver<AmqpRequest>,
    link: LinkState,
) {
    let (resend_tx, mut resend_rx) = mpsc::unbounded_channel::<AmqpRequest>();
    let mut conn = Connection {
        eps,
        target,
        name,
        link,
        open: None,
        backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(1), 1.5, 0.5),
    };
    let mut idle = tokio::time::interval(IDLE_CHECK);
    loop {
        if conn.open.is_none() && !conn.connect().await {
            // Down: wait out the backoff, unless the output is done.
            tokio::time::sleep(conn.backoff.next_delay()).await;
            if rx.is_closed() && rx.is_empty() && resend_rx.is_empty() {
                break;
            }
            continue;
        }
        let (message, reply) = tokio::select! {
            biased;
            Some(r) = resend_rx.recv() => r,
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = idle.tick() => {
                if conn.open.as_ref().is_some_and(|(s, _)| s.connection.is_closed()) {
                    tracing::warn!(target = %conn.target, "amqp_1 output connection closed; reconnecting");
                    conn.lost();
                }
                continue;
            }
        };
        conn.send(message, reply, &resend_tx).await;
    }
    conn.close();
}

/// How often an idle amqp_1 output checks that its connection is still open.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// The amqp_1 output's connection state.
struct Connection {
    eps: Vec<AmqpEndpoint>,
    target: String,
    name: String,
    link: LinkState,
    open: Option<(AmqpSession, fe2o3_amqp::Sender)>,
    backoff: Backoff,
}

impl Connection {
    /// One attempt to connect and attach; reports the outcome.
    async fn connect(&mut self) -> bool {
        let attempt = async {
            connect_any(&self.eps, &format!("streamprobe-pipeline-{}", self.name))
                .await?
                .with_sender(&format!("{}-sender", self.name), &self.target)
                .await
        };
        match attempt.await {
            Ok(l) => {
                tracing::info!(target = %self.target, "amqp_1 output connected");
                self.link.up();
                self.open = Some(l);
                true
            }
            Err(e) => {
                tracing::warn!(target = %self.target, error = %format!("{e:#}"), "amqp_1 output cannot connect; messages wait");
                self.link.down();
                false
            }
        }
    }

    /// Drops the connection (lost), closing it in the background.
    fn lost(&mut self) {
        self.link.down();
        self.close();
    }

    fn close(&mut self) {
        if let Some((s, snd)) = self.open.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), snd.close()).await;
                s.close().await;
            });
        }
    }

    /// Sends one message, reconnecting with backoff until the link takes
    /// it; its settlement is awaited in the background (resent through
    /// `resend` when the link goes before the broker settled it).
    async fn send(
        &mut self,
        message: Message<fe2o3_amqp::types::messaging::Data>,
        reply: oneshot::Sender<Result<()>>,
        resend: &mpsc::UnboundedSender<AmqpRequest>,
    ) {
        loop {
            if self.open.is_none() && !self.connect().await {
                tokio::time::sleep(self.backoff.next_delay()).await;
                continue;
            }
            let Some((_, sender)) = self.open.as_mut() else {
                continue;
            };
            match sender.send_batchable(message.clone()).await {
                Ok(fut) => {
                    self.backoff.reset();
                    let (target, resend) = (self.target.clone(), resend.clone());
                    tokio::spawn(async move {
                        match fut.await {
                            Ok(Outcome::Accepted(_)) => {
                                let _ = reply.send(Ok(()));
                            }
                            Ok(o) => {
                                let _ = reply.send(Err(anyhow!(
                                    "amqp_1 output to {target:?}: broker settled with {o:?}"
                                )));
                            }
                            Err(e) => {
                                tracing::warn!(target = %target, error = %e, "amqp_1 output: no settlement; resending");
                                let _ = resend.send((message, reply));
                            }
                        }
                    });
                    return;
                }
                Err(e) => {
                    let wait = self.backoff.next_delay();
                    tracing::warn!(target = %self.target, error = %e, retry_in = ?wait, "amqp_1 output link lost; reconnecting to resend");
                    self.lost();
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}
