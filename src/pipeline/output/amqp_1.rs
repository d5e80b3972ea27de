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
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Output, Slots};
use crate::amqp::{AmqpEndpoint, AmqpSession};
use crate::pipeline::config::{Amqp1Output, MetadataFilter};
use crate::pipeline::connect::connect_any;
use crate::pipeline::message::{Completion, Msg};
use crate::pipeline::metrics::LinkState;
use crate::retry::{self, Backoff, Down, Next, Reconnect};

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
    in_flight: Slots,
    tx: mpsc::Sender<AmqpRequest>,
}

/// Builds a checked amqp_1 output and spawns its connection task, which
/// connects at once and reports its connection through `link`; `name`
/// names its AMQP container and link.
pub fn build(c: &Amqp1Output, name: String, link: LinkState) -> AmqpOut {
    let (tx, rx) = mpsc::channel(c.max_in_flight.max(1));
    tokio::spawn(amqp_output_task(
        c.sasl.endpoints(&c.urls, &c.tls),
        c.target_address.clone(),
        name,
        rx,
        link,
    ));
    AmqpOut {
        target: c.target_address.clone(),
        filter: c.metadata.clone(),
        app_props: c.literal_application_properties(),
        in_flight: Slots::new(c.max_in_flight),
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
            let permit = match self.in_flight.take().await {
                Some(p) => p,
                None => {
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
        self.in_flight.free()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        self.in_flight.ready()
    }

    fn label(&self) -> String {
        format!("amqp:{}", self.target)
    }
}

/// The amqp_1 output's connection task, as Bento's amqp_1 output behaves: it
/// connects at start (so `/ready` can tell), and a message that cannot be
/// sent (no connection, link lost before the broker settled it) is resent,
/// after reconnecting with backoff (0.5 s → 1 s, [`retry::keep`]), for
/// ever, so connection errors never reach `fan_out`, `fallback` or `retry`;
/// while it waits, the `max_in_flight` slots fill up and writers block (back
/// pressure, which `drop_on.back_pressure` can turn into an error). Only a
/// broker's definite refusal (settled other than Accepted) fails a message.
/// The connection is reported through `state`; one that closes while idle
/// is noticed within [`IDLE_CHECK`]. Ends when the output is dropped.
async fn amqp_output_task(
    eps: Vec<AmqpEndpoint>,
    target: String,
    name: String,
    rx: mpsc::Receiver<AmqpRequest>,
    state: LinkState,
) {
    let (resend_tx, resend_rx) = mpsc::unbounded_channel::<AmqpRequest>();
    let done = CancellationToken::new();
    let mut link = Link {
        eps,
        target,
        name,
        state,
        rx,
        resend_tx,
        resend_rx,
        done: done.clone(),
    };
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1), 1.5, 0.5);
    retry::keep(&mut link, backoff, &done).await;
}

/// How often an idle amqp_1 output checks that its connection is still open.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// The amqp_1 output's link, kept up by [`retry::keep`].
struct Link {
    eps: Vec<AmqpEndpoint>,
    target: String,
    name: String,
    state: LinkState,
    /// Messages in submission order.
    rx: mpsc::Receiver<AmqpRequest>,
    /// Messages whose link went before the broker settled them; sent first.
    resend_tx: mpsc::UnboundedSender<AmqpRequest>,
    resend_rx: mpsc::UnboundedReceiver<AmqpRequest>,
    /// Fired when the output is gone and nothing is left to send.
    done: CancellationToken,
}

/// Closes a link in the background (bounded in time).
fn close_later((s, snd): (AmqpSession, fe2o3_amqp::Sender)) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), snd.close()).await;
        s.close().await;
    });
}

impl Reconnect for Link {
    type Conn = (AmqpSession, fe2o3_amqp::Sender);

    async fn connect(&mut self) -> Result<Self::Conn> {
        connect_any(&self.eps, &format!("streamprobe-pipeline-{}", self.name))
            .await?
            .with_sender(&format!("{}-sender", self.name), &self.target)
            .await
    }

    async fn up(&mut self) {
        tracing::info!(target = %self.target, "amqp_1 output connected");
        self.state.up();
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        self.state.down();
        match why {
            Down::Failed(e) => {
                tracing::warn!(target = %self.target, error = %format!("{e:#}"), "amqp_1 output cannot connect; messages wait")
            }
            Down::Lost(e) => {
                tracing::warn!(target = %self.target, error = %e, "amqp_1 output link lost; reconnecting to resend")
            }
        }
        Next::Backoff
    }

    async fn wait(&mut self, delay: Duration) {
        tokio::time::sleep(delay).await;
        if self.rx.is_closed() && self.rx.is_empty() && self.resend_rx.is_empty() {
            self.done.cancel();
        }
    }

    /// Sends in order (resends first) until the output is dropped (`Ok`)
    /// or the link fails (`Err`; the message is queued for resending).
    /// Settlements are awaited in the background.
    async fn session(&mut self, mut conn: Self::Conn) -> Result<(), String> {
        let mut idle = tokio::time::interval(IDLE_CHECK);
        loop {
            let (message, reply) = tokio::select! {
                biased;
                Some(r) = self.resend_rx.recv() => r,
                r = self.rx.recv() => match r {
                    Some(r) => r,
                    None => {
                        close_later(conn);
                        return Ok(());
                    }
                },
                _ = idle.tick() => {
                    if conn.0.connection.is_closed() {
                        close_later(conn);
                        return Err("connection closed".into());
                    }
                    continue;
                }
            };
            match conn.1.send_batchable(message.clone()).await {
                Ok(fut) => {
                    let (target, resend) = (self.target.clone(), self.resend_tx.clone());
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
                }
                Err(e) => {
                    let _ = self.resend_tx.send((message, reply));
                    close_later(conn);
                    return Err(e.to_string());
                }
            }
        }
    }
}
