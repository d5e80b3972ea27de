//! Running a stream: the amqp_1 input, the processors and the output tree.
//!
//! Delivery is at-least-once as in Bento: a source delivery is accepted only
//! after the whole output tree confirmed the message (for `fan_out`: every
//! output). A failing `fan_out` child is retried forever with Bento's backoff
//! while the stream waits (the input's credit caps what is in flight); a
//! nack settles the delivery Released, which RabbitMQ requeues. Deliveries still in flight when the input link drops, or when
//! the drain time runs out at shutdown, are left unsettled: the broker
//! redelivers them (duplicates are possible, loss is not).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{Body, Message, MessageAnnotations, Outcome};
use fe2o3_amqp::types::primitives::{Binary, Symbol, Value};
use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{RwLock, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::{
    self, Amqp1Input, Amqp1Output, KafkaOutput, MetadataFilter, Pattern, Sasl, SaslMechanism,
};
use super::mapping::Mapping;
use crate::amqp::{self, AmqpEndpoint, AmqpSession};
use crate::kafka::QuietContext;
use crate::retry::Backoff;

/// Bento's snake_case name of a config enum value (`FanOutSequential` →
/// `fan_out_sequential`), from its Debug form.
fn snake(v: impl std::fmt::Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Awaits `first` (a completion of `c` for `msg`), submitting the message
/// again with Bento's fan_out backoff until `c` confirms it. With a `gate`
/// (a fan_out child's), the retries hold it shut, so the child takes no new
/// message meanwhile and the stream waits, as Bento's retry wrapper does.
pub(super) async fn retry_forever(
    c: Arc<Out>,
    msg: Arc<Msg>,
    first: Completion,
    gate: Option<Arc<RwLock<()>>>,
) {
    let mut backoff = Backoff::bento_fan_out();
    let mut pending = first;
    let mut _shut = None;
    while let Err(e) = pending.await {
        if _shut.is_none()
            && let Some(g) = &gate
        {
            _shut = Some(g.clone().write_owned().await);
        }
        let wait = backoff.next_delay();
        tracing::warn!(output = %c.label(), error = %format!("{e:#}"), retry_in = ?wait, "output failed; retrying (fan_out never drops a message)");
        tokio::time::sleep(wait).await;
        pending = c.submit(msg.clone()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_application_properties() {
        assert_eq!(
            literal_map("# tag it\nroot = {\"source\": \"probe\", \"n\": 3}"),
            // in the file's order (serde_json's preserve_order)
            Some(vec![
                ("source".into(), "probe".into()),
                ("n".into(), "3".into())
            ])
        );
        assert_eq!(literal_map("root = this.foo"), None);
        assert_eq!(literal_map("root = {\"a\": {\"b\": 1}}"), None);
    }
}

/// A message inside the runner: body bytes and string metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg {
    pub body: Vec<u8>,
    pub meta: BTreeMap<String, String>,
}

/// Counters of one stream, for status lines.
#[derive(Debug, Default)]
pub struct Counters {
    /// Deliveries taken from the input.
    pub received: AtomicU64,
    /// Deliveries accepted after the output tree confirmed them.
    pub acked: AtomicU64,
    /// Deliveries settled Released (the broker redelivers).
    pub nacked: AtomicU64,
    /// Deliveries left unsettled (link lost, or drain time over): the
    /// broker redelivers them, so they are received again.
    pub abandoned: AtomicU64,
    /// When the last nack was logged (ms since process start; 0 = never).
    pub nack_logged_ms: AtomicU64,
}

/// Process start, for rate-limited logging.
static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

impl Counters {
    /// Deliveries taken and not yet settled or abandoned.
    pub fn in_flight(&self) -> u64 {
        let r = self.received.load(Ordering::Relaxed);
        r.saturating_sub(
            self.acked.load(Ordering::Relaxed)
                + self.nacked.load(Ordering::Relaxed)
                + self.abandoned.load(Ordering::Relaxed),
        )
    }
}

/// Kafka `addresses` as one list (comma-separated entries split, blanks dropped).
pub(super) fn broker_list(addresses: &[String]) -> Vec<&str> {
    addresses
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect()
}

/// The AMQP endpoints of an amqp_1 component: every URL (comma-separated
/// lists split), with SASL PLAIN credentials when the mechanism is plain.
pub(crate) fn endpoints(urls: &[String], sasl: &Sasl) -> Vec<AmqpEndpoint> {
    let (user, password) = match sasl.mechanism {
        SaslMechanism::Plain => (sasl.user.clone(), sasl.password.clone()),
        SaslMechanism::None | SaslMechanism::Anonymous => (String::new(), String::new()),
    };
    urls.iter()
        .flat_map(|u| u.split(','))
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| AmqpEndpoint {
            url: u.to_owned(),
            user: user.clone(),
            password: password.clone(),
        })
        .collect()
}

/// The endpoints of an amqp_1 component at `path` (e.g. `input.amqp_1`),
/// checked: at least one URL, each `amqp://` with a host, and a non-empty
/// address (`field`). `amqps://` is refused here, as [`amqp::connect`]
/// refuses it (no TLS yet), so `lint` and `pipeline` give the same finding
/// instead of `pipeline` retrying a connection that can never open. Errors
/// name the path; URLs are shown with the password hidden.
fn checked_endpoints(
    path: &str,
    urls: &[String],
    sasl: &Sasl,
    field: &str,
    address: &str,
) -> Result<Vec<AmqpEndpoint>> {
    let eps = endpoints(urls, sasl);
    if eps.is_empty() {
        bail!("{path}.urls: must name at least one broker");
    }
    for (i, ep) in eps.iter().enumerate() {
        let why = match url::Url::parse(&ep.url) {
            Err(e) => Some(e.to_string()),
            Ok(u) if u.scheme() == "amqps" => Some(
                "scheme `amqps` (TLS) is not supported by the local runner yet: use amqp://".into(),
            ),
            Ok(u) if u.scheme() != "amqp" => {
                Some(format!("scheme `{}` is not amqp or amqps", u.scheme()))
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("no host".into()),
            Ok(_) => None,
        };
        if let Some(why) = why {
            bail!(
                "{path}.urls[{i}]: invalid AMQP URL {:?}: {why}",
                amqp::redact_url(&ep.url)
            );
        }
    }
    if address.trim().is_empty() {
        bail!("{path}.{field}: must not be empty");
    }
    Ok(eps)
}

/// Connects to the first endpoint that answers (Bento: "the first URL to
/// successfully connect is used").
async fn connect_any(eps: &[AmqpEndpoint], container: &str) -> Result<AmqpSession> {
    let mut errors = Vec::new();
    for ep in eps {
        match amqp::connect(ep, container).await {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    Err(anyhow!(errors.join("; ")))
}

// ---------------------------------------------------------------- outputs

/// Completion of a submitted message: resolves when the output confirmed it
/// (`Ok`) or gave up (`Err`).
pub type Completion = BoxFuture<'static, Result<()>>;

/// A built output tree.
///
/// Writing is two-phase so the runner keeps input order, as Bento does:
/// [`Out::submit`] enqueues a message at every leaf output in the order it is
/// called (waiting for a `max_in_flight` slot), and returns a [`Completion`]
/// that resolves when the message is confirmed. The input submits messages
/// one after another and awaits the completions concurrently.
pub enum Out {
    Kafka(Arc<KafkaOut>),
    Amqp(Arc<AmqpOut>),
    /// Bento's `fan_out`: every child gets every message; each child is
    /// retried forever (0.5 s → 3 s, ×1.5, ±50 %); confirms when all did.
    FanOut(Vec<Gated>),
    /// Bento's `fan_out_sequential`: like `fan_out`, but each child only
    /// after the previous one confirmed the message.
    FanOutSequential(Vec<Gated>),
    /// Bento's `fan_out_fail_fast`: every child gets every message, no
    /// retries; the first error fails the message (nack).
    FanOutFailFast(Vec<Arc<Out>>),
    /// Bento's `fan_out_sequential_fail_fast`: each child after the previous
    /// one confirmed, no retries; the first error fails the message.
    FanOutSequentialFailFast(Vec<Arc<Out>>),
    /// Bento's `round_robin`: each message goes to one child, in turn.
    RoundRobin(Vec<Arc<Out>>, std::sync::atomic::AtomicUsize),
    /// Bento's `greedy`: each message goes to one child, picked at random
    /// among those with a free `max_in_flight` slot (waits when none has);
    /// a child's error fails the message.
    Greedy(Vec<Arc<Out>>),
    /// Bento's `drop_on`: see [`DropOn`].
    DropOn(Arc<DropOn>),
    /// Bento's `fallback`: tries each child in order; a message passed on
    /// carries metadata `fallback_error` = the previous child's error; fails
    /// when the last child fails. Children are not retry-wrapped.
    Fallback(Vec<Arc<Out>>),
    /// Bento's `retry`: retries its child with backoff until it confirms or
    /// `max_retries` (0 = unlimited) / `max_elapsed_time` (0 = none) run out,
    /// then fails ("message failed to reach a target destination").
    /// While it retries a message it takes no new ones (its gate is shut).
    Retry {
        child: Gated,
        max_retries: u32,
        backoff: config::RetryBackoff,
    },
}

/// A child whose failures are retried: while a retry is under way its gate
/// is shut and new messages wait at it (Bento's retry wrapper takes no new
/// message while it retries one, so the stream stalls behind a failing
/// output; the input's credit caps what waits).
#[derive(Clone)]
pub struct Gated {
    pub out: Arc<Out>,
    gate: Arc<RwLock<()>>,
}

impl Gated {
    fn new(out: Out) -> Gated {
        Gated {
            out: Arc::new(out),
            gate: Default::default(),
        }
    }

    /// Enqueues `msg` once the gate is open.
    async fn submit(&self, msg: Arc<Msg>) -> Completion {
        let _open = self.gate.read().await;
        self.out.submit(msg).await
    }

    /// Retries `msg` until confirmed, holding the gate shut meanwhile.
    fn retry_forever(&self, msg: Arc<Msg>, first: Completion) -> impl Future<Output = ()> + use<> {
        retry_forever(self.out.clone(), msg, first, Some(self.gate.clone()))
    }
}

impl Out {
    /// Builds the output tree of stream `stream`. Errors name the component
    /// and the setting the local runner does not support (the first of
    /// them; [`Out::build_all`] gives every one).
    pub fn build(conf: &config::Output, stream: &str, path: &str) -> Result<Out> {
        let mut errors = Vec::new();
        match Out::build_all(conf, stream, path, &mut errors) {
            Some(out) if errors.is_empty() => Ok(out),
            _ => Err(errors.remove(0)),
        }
    }

    /// Builds the output tree, adding an error to `errors` for every invalid
    /// component (`None` when there was any).
    pub fn build_all(
        conf: &config::Output,
        stream: &str,
        path: &str,
        errors: &mut Vec<anyhow::Error>,
    ) -> Option<Out> {
        match conf {
            config::Output::Kafka(k) => match KafkaOut::new(k, path) {
                Ok(o) => Some(Out::Kafka(Arc::new(o))),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            config::Output::Amqp1(a) => match AmqpOut::new(a, stream, path) {
                Ok(o) => Some(Out::Amqp(Arc::new(o))),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            config::Output::Broker(b) => {
                let mut ok = true;
                if b.copies != 1 {
                    errors.push(anyhow!(
                        "{path}.broker.copies: values other than 1 are not supported by the local runner yet"
                    ));
                    ok = false;
                }
                if b.outputs.is_empty() {
                    errors.push(anyhow!("{path}.broker.outputs: must not be empty"));
                    ok = false;
                }
                let children: Option<Vec<Arc<Out>>> = b
                    .outputs
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        Out::build_all(o, stream, &format!("{path}.broker.outputs[{i}]"), errors)
                            .map(Arc::new)
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect();
                let children = children.filter(|_| ok)?;
                let gated = || {
                    children
                        .iter()
                        .map(|c| Gated {
                            out: c.clone(),
                            gate: Default::default(),
                        })
                        .collect()
                };
                Some(match b.pattern {
                    Pattern::FanOut => Out::FanOut(gated()),
                    Pattern::FanOutSequential => Out::FanOutSequential(gated()),
                    Pattern::FanOutFailFast => Out::FanOutFailFast(children),
                    Pattern::FanOutSequentialFailFast => Out::FanOutSequentialFailFast(children),
                    Pattern::RoundRobin => Out::RoundRobin(children, Default::default()),
                    Pattern::Greedy => Out::Greedy(children),
                })
            }
            config::Output::Fallback(list) => {
                if list.is_empty() {
                    errors.push(anyhow!(
                        "{path}.fallback: the list of outputs must not be empty"
                    ));
                    return None;
                }
                let children: Option<Vec<Arc<Out>>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        Out::build_all(o, stream, &format!("{path}.fallback[{i}]"), errors)
                            .map(Arc::new)
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect();
                Some(Out::Fallback(children?))
            }
            config::Output::Retry(r) => Some(Out::Retry {
                child: Gated::new(Out::build_all(
                    &r.output,
                    stream,
                    &format!("{path}.retry.output"),
                    errors,
                )?),
                max_retries: r.max_retries,
                backoff: r.backoff.clone(),
            }),
            config::Output::DropOn(d) => {
                let patterns: Option<Vec<regex::Regex>> = d
                    .error_patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match regex::Regex::new(p) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            let why = e.to_string();
                            let why = why.lines().last().unwrap_or_default().trim().to_owned();
                            errors.push(anyhow!("{path}.drop_on.error_patterns[{i}]: invalid regular expression `{p}`: {why}"));
                            None
                        }
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect();
                let child =
                    Out::build_all(&d.output, stream, &format!("{path}.drop_on.output"), errors);
                Some(Out::DropOn(Arc::new(DropOn {
                    child: Arc::new(child?),
                    on_error: d.error,
                    patterns: patterns?,
                    back_pressure: d.back_pressure.map(|g| g.0),
                    backed_up: Default::default(),
                    dropped: Default::default(),
                })))
            }
        }
    }

    /// The check pass of an output tree: adds an error to `errors` for every
    /// component the runner would refuse (the same errors, in the same order,
    /// as [`Out::build_all`]), without building anything: no Kafka producer,
    /// no AMQP task, no socket (`lint` uses it).
    pub fn check_all(conf: &config::Output, path: &str, errors: &mut Vec<anyhow::Error>) {
        match conf {
            config::Output::Kafka(k) => {
                if let Err(e) = KafkaOut::check(k, path) {
                    errors.push(e);
                }
            }
            config::Output::Amqp1(a) => {
                if let Err(e) = AmqpOut::check(a, path) {
                    errors.push(e);
                }
            }
            config::Output::Broker(b) => {
                if b.copies != 1 {
                    errors.push(anyhow!(
                        "{path}.broker.copies: values other than 1 are not supported by the local runner yet"
                    ));
                }
                if b.outputs.is_empty() {
                    errors.push(anyhow!("{path}.broker.outputs: must not be empty"));
                }
                for (i, o) in b.outputs.iter().enumerate() {
                    Out::check_all(o, &format!("{path}.broker.outputs[{i}]"), errors);
                }
            }
            config::Output::Fallback(list) => {
                if list.is_empty() {
                    errors.push(anyhow!(
                        "{path}.fallback: the list of outputs must not be empty"
                    ));
                }
                for (i, o) in list.iter().enumerate() {
                    Out::check_all(o, &format!("{path}.fallback[{i}]"), errors);
                }
            }
            config::Output::Retry(r) => {
                Out::check_all(&r.output, &format!("{path}.retry.output"), errors)
            }
            config::Output::DropOn(d) => {
                for (i, p) in d.error_patterns.iter().enumerate() {
                    if let Err(e) = regex::Regex::new(p) {
                        let why = e.to_string();
                        let why = why.lines().last().unwrap_or_default().trim().to_owned();
                        errors.push(anyhow!("{path}.drop_on.error_patterns[{i}]: invalid regular expression `{p}`: {why}"));
                    }
                }
                Out::check_all(&d.output, &format!("{path}.drop_on.output"), errors);
            }
        }
    }

    /// Whether a message submitted now would be taken without waiting for a
    /// `max_in_flight` slot.
    pub fn has_capacity(&self) -> bool {
        match self {
            Out::Kafka(k) => k.in_flight.available_permits() > 0,
            Out::Amqp(a) => a.in_flight.available_permits() > 0,
            Out::FanOut(c) => c.iter().all(|c| c.out.has_capacity()),
            Out::FanOutFailFast(c) => c.iter().all(|c| c.has_capacity()),
            Out::FanOutSequential(c) => c[0].out.has_capacity(),
            Out::FanOutSequentialFailFast(c) | Out::Fallback(c) => c[0].has_capacity(),
            Out::RoundRobin(c, next) => {
                c[next.load(std::sync::atomic::Ordering::Relaxed) % c.len()].has_capacity()
            }
            Out::Greedy(c) => c.iter().any(|c| c.has_capacity()),
            Out::Retry { child, .. } => child.out.has_capacity(),
            Out::DropOn(d) => d.child.has_capacity(),
        }
    }

    /// Resolves once [`Out::has_capacity`] may have become true.
    fn ready(self: &Arc<Self>) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move {
            let slot = |sem: &Arc<Semaphore>| {
                let sem = sem.clone();
                async move {
                    let _ = sem.acquire().await;
                }
            };
            match &*this {
                Out::Kafka(k) => slot(&k.in_flight).await,
                Out::Amqp(a) => slot(&a.in_flight).await,
                Out::FanOut(c) => {
                    futures::future::join_all(c.iter().map(|c| c.out.ready())).await;
                }
                Out::FanOutFailFast(c) => {
                    futures::future::join_all(c.iter().map(|c| c.ready())).await;
                }
                Out::FanOutSequential(c) => c[0].out.ready().await,
                Out::FanOutSequentialFailFast(c) | Out::Fallback(c) => c[0].ready().await,
                Out::RoundRobin(c, next) => {
                    c[next.load(std::sync::atomic::Ordering::Relaxed) % c.len()]
                        .ready()
                        .await
                }
                Out::Greedy(c) => {
                    futures::future::select_all(c.iter().map(|c| c.ready())).await;
                }
                Out::Retry { child, .. } => child.out.ready().await,
                Out::DropOn(d) => d.child.ready().await,
            }
        })
    }

    /// A short label: `kafka:FOO`, `amqp:FOO`, `fan_out`.
    pub fn label(&self) -> String {
        match self {
            Out::Kafka(k) => format!("kafka:{}", k.topic),
            Out::Amqp(a) => format!("amqp:{}", a.target),
            Out::FanOut(_) => "fan_out".into(),
            Out::FanOutSequential(_) => "fan_out_sequential".into(),
            Out::FanOutFailFast(_) => "fan_out_fail_fast".into(),
            Out::FanOutSequentialFailFast(_) => "fan_out_sequential_fail_fast".into(),
            Out::RoundRobin(..) => "round_robin".into(),
            Out::Greedy(_) => "greedy".into(),
            Out::DropOn(d) => format!("drop_on({})", d.child.label()),
            Out::Fallback(_) => "fallback".into(),
            Out::Retry { child, .. } => format!("retry({})", child.out.label()),
        }
    }

    /// Enqueues `msg` at every leaf of this subtree, in call order, and
    /// returns its completion.
    // The outer future is the enqueue phase; the `Completion` it yields is
    // awaited later, concurrently with the next messages' enqueue phases.
    #[allow(clippy::async_yields_async)]
    pub fn submit(self: &Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        let this = self.clone();
        Box::pin(async move {
            match &*this {
                Out::Kafka(k) => k.clone().submit(msg).await,
                Out::Amqp(a) => a.clone().submit(msg).await,
                Out::FanOut(children) => {
                    let mut parts = Vec::with_capacity(children.len());
                    for c in children {
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
                Out::FanOutSequential(children) => {
                    let children = children.clone();
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
                Out::FanOutFailFast(children) => {
                    let mut parts = Vec::with_capacity(children.len());
                    for c in children {
                        parts.push(c.submit(msg.clone()).await);
                    }
                    let done: Completion =
                        Box::pin(
                            async move { futures::future::try_join_all(parts).await.map(|_| ()) },
                        );
                    done
                }
                Out::RoundRobin(children, next) => {
                    let i =
                        next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % children.len();
                    children[i].submit(msg).await
                }
                Out::FanOutSequentialFailFast(children) => {
                    let children = children.clone();
                    let first = children[0].submit(msg.clone()).await;
                    let done: Completion = Box::pin(async move {
                        first.await?;
                        for c in &children[1..] {
                            c.submit(msg.clone()).await.await?;
                        }
                        Ok(())
                    });
                    done
                }
                Out::Greedy(children) => loop {
                    let ready: Vec<&Arc<Out>> =
                        children.iter().filter(|c| c.has_capacity()).collect();
                    if !ready.is_empty() {
                        break ready[fastrand::usize(..ready.len())].submit(msg).await;
                    }
                    futures::future::select_all(children.iter().map(|c| c.ready())).await;
                },
                Out::DropOn(d) => d.clone().submit(msg).await,
                Out::Fallback(children) => {
                    let children = children.clone();
                    let first = children[0].submit(msg.clone()).await;
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
                                    pending = children[i].submit(Arc::new(next)).await;
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    });
                    done
                }
                Out::Retry {
                    child,
                    max_retries,
                    backoff,
                } => {
                    let (child, max_retries, b) = (child.clone(), *max_retries, backoff.clone());
                    let first = child.submit(msg.clone()).await;
                    let done: Completion = Box::pin(async move {
                        let start = Instant::now();
                        let mut schedule =
                            Backoff::new(b.initial_interval.0, b.max_interval.0, 1.5, 0.5);
                        let mut pending = first;
                        let mut attempts = 0u32;
                        // shut while this message is retried (see Gated)
                        let mut _shut = None;
                        loop {
                            match pending.await {
                                Ok(()) => return Ok(()),
                                Err(e) => {
                                    if _shut.is_none() {
                                        _shut = Some(child.gate.clone().write_owned().await);
                                    }
                                    attempts += 1;
                                    let wait = schedule.next_delay();
                                    let out_of_count = max_retries > 0 && attempts > max_retries;
                                    let out_of_time = !b.max_elapsed_time.0.is_zero()
                                        && start.elapsed() + wait > b.max_elapsed_time.0;
                                    if out_of_count || out_of_time {
                                        bail!(
                                            "message failed to reach a target destination after {attempts} attempts: {e:#}"
                                        );
                                    }
                                    tracing::warn!(output = %child.out.label(), error = %format!("{e:#}"), retry_in = ?wait, "retry");
                                    tokio::time::sleep(wait).await;
                                    pending = child.out.submit(msg.clone()).await;
                                }
                            }
                        }
                    });
                    done
                }
            }
        })
    }
}

/// Bento's `drop_on` output around one child.
///
/// A child error matching `error: true` or one of `error_patterns` is
/// logged and the message acked (dropped); other errors fail it. With
/// `back_pressure`, a message the child does not take within that time (no
/// free `max_in_flight` slot, e.g. its broker is unreachable) is dropped
/// when `error` is true and failed otherwise, and so is every later message
/// at once until the child has room again (Bento's documented behaviour).
pub struct DropOn {
    child: Arc<Out>,
    on_error: bool,
    patterns: Vec<regex::Regex>,
    back_pressure: Option<Duration>,
    /// Set after a back-pressure timeout, cleared when the child has room.
    backed_up: std::sync::atomic::AtomicBool,
    /// Messages dropped so far (for the log).
    dropped: AtomicU64,
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

    async fn submit(self: Arc<Self>, msg: Arc<Msg>) -> Completion {
        let first = match self.back_pressure {
            None => self.child.submit(msg).await,
            Some(limit) => {
                let backed_up = self.backed_up.load(Ordering::Relaxed);
                let taken = if backed_up && !self.child.has_capacity() {
                    None
                } else {
                    tokio::time::timeout(limit, self.child.submit(msg))
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
                        return Box::pin(async move { r });
                    }
                }
            }
        };
        Box::pin(async move {
            match first.await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let text = format!("{e:#}");
                    let matches = self.drops(&text);
                    self.give_up(text, matches)
                }
            }
        })
    }
}

/// What [`KafkaOut::check`] derives from the settings: (librdkafka
/// partitioner, compression codec, bootstrap brokers).
type KafkaSettings<'a> = (&'static str, &'static str, Vec<&'a str>);

/// The kafka output (rdkafka FutureProducer).
pub struct KafkaOut {
    producer: FutureProducer<QuietContext>,
    topic: String,
    key: Option<String>,
    static_headers: BTreeMap<String, String>,
    filter: MetadataFilter,
    in_flight: Arc<Semaphore>,
    max_retries: u32,
    backoff: config::KafkaBackoff,
}

impl KafkaOut {
    /// The settings the local runner cannot run, named by `path`, without
    /// building anything: (librdkafka partitioner, compression codec, brokers).
    fn check<'a>(c: &'a KafkaOutput, path: &str) -> Result<KafkaSettings<'a>> {
        for (field, v) in [("topic", &c.topic), ("key", &c.key)] {
            if v.contains("${!") {
                bail!(
                    "{path}.kafka: {field} `{v}`: Bloblang interpolation (${{! ... }}) is not supported by the local runner yet"
                );
            }
        }
        let partitioner = match c.partitioner {
            config::Partitioner::Fnv1aHash => "fnv1a_random",
            config::Partitioner::Murmur2Hash => "murmur2_random",
            config::Partitioner::Random => "random",
            other => bail!(
                "{path}.kafka: partitioner `{}` is not supported by the local runner yet (supported: fnv1a_hash, murmur2_hash, random)",
                snake(other)
            ),
        };
        let compression = match c.compression {
            config::Compression::None => "none",
            config::Compression::Snappy => "snappy",
            config::Compression::Lz4 => "lz4",
            config::Compression::Gzip => "gzip",
            config::Compression::Zstd => "zstd",
        };
        let brokers = broker_list(&c.addresses);
        if brokers.is_empty() {
            bail!("{path}.kafka.addresses: must name at least one broker");
        }
        if c.topic.trim().is_empty() {
            bail!("{path}.kafka.topic: must not be empty");
        }
        if c.max_msg_bytes < 1000 {
            bail!(
                "{path}.kafka.max_msg_bytes: the local runner's Kafka client (librdkafka) cannot enforce less than 1000 bytes"
            );
        }
        Ok((partitioner, compression, brokers))
    }

    fn new(c: &KafkaOutput, path: &str) -> Result<KafkaOut> {
        let (partitioner, compression, brokers) = KafkaOut::check(c, path)?;
        let producer: FutureProducer<QuietContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers.join(","))
            .set("client.id", &c.client_id)
            .set("acks", if c.ack_replicas { "all" } else { "1" })
            .set("compression.codec", compression)
            .set("partitioner", partitioner)
            .set(
                "message.timeout.ms",
                c.timeout.0.as_millis().max(1).to_string(),
            )
            .set("message.max.bytes", c.max_msg_bytes.to_string())
            .set("linger.ms", "0")
            .set("socket.nagle.disable", "true")
            .set("enable.idempotence", "false")
            .set("log_level", "3")
            .create_with_context(QuietContext::new(format!("kafka:{}", c.topic)))
            .map_err(|e| anyhow!("{path}.kafka: invalid producer settings: {e}"))?;
        Ok(KafkaOut {
            producer,
            topic: c.topic.clone(),
            key: (!c.key.is_empty()).then(|| c.key.clone()),
            static_headers: c.static_headers.clone(),
            filter: c.metadata.clone(),
            in_flight: Arc::new(Semaphore::new(c.max_in_flight.max(1))),
            max_retries: c.max_retries,
            backoff: c.backoff.clone(),
        })
    }

    /// Hands one attempt to librdkafka (in call order); the future resolves
    /// with the broker's acknowledgement.
    fn enqueue(
        &self,
        msg: &Msg,
    ) -> std::result::Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new();
        let mut any_header = false;
        for (k, v) in msg.meta.iter().filter(|(k, _)| self.filter.keeps(k)) {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
            any_header = true;
        }
        for (k, v) in &self.static_headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
            any_header = true;
        }
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).payload(&msg.body[..]);
        if let Some(k) = &self.key {
            record = record.key(k.as_str());
        }
        if any_header {
            record = record.headers(headers);
        }
        self.producer.send_result(record).map_err(|(e, _)| e)
    }

    /// Produces `msg` (metadata → record headers, static headers added),
    /// retrying with the configured backoff; the completion fails after
    /// `max_retries` attempts or `max_elapsed_time`, as Bento's kafka output.
    async fn submit(self: Arc<Self>, msg: Arc<Msg>) -> Completion {
        let permit = match self.in_flight.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return Box::pin(async { Err(anyhow!("kafka output closed")) }),
        };
        let first = self.enqueue(&msg);
        Box::pin(async move {
            let _permit = permit;
            let start = Instant::now();
            let b = &self.backoff;
            let mut backoff = Backoff::new(b.initial_interval.0, b.max_interval.0, 1.5, 0.5);
            let mut attempts = 0u32;
            let mut attempt = first;
            loop {
                let error = match attempt {
                    Ok(fut) => match fut.await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err((e, _))) => e.to_string(),
                        Err(_) => "producer dropped the message".to_owned(),
                    },
                    Err(e) => e.to_string(),
                };
                attempts += 1;
                let wait = backoff.next_delay();
                let out_of_count = self.max_retries > 0 && attempts > self.max_retries;
                let out_of_time = !b.max_elapsed_time.0.is_zero()
                    && start.elapsed() + wait > b.max_elapsed_time.0;
                if out_of_count || out_of_time {
                    bail!(
                        "kafka topic {}: {error} (gave up after {attempts} attempts in {:.1?})",
                        self.topic,
                        start.elapsed()
                    );
                }
                tracing::warn!(topic = %self.topic, %error, attempt = attempts, retry_in = ?wait, "kafka output: send failed; retrying");
                tokio::time::sleep(wait).await;
                attempt = self.enqueue(&msg);
            }
        })
    }
}

type AmqpRequest = (
    Message<fe2o3_amqp::types::messaging::Data>,
    oneshot::Sender<Result<()>>,
);

/// What [`AmqpOut::check`] derives from the settings: (literal application
/// properties, endpoints).
type AmqpSettings = (Vec<(String, String)>, Vec<AmqpEndpoint>);

/// The amqp_1 output: one connection task owns the sender link and sends in
/// the order messages were submitted; writers wait for the broker's
/// settlement.
pub struct AmqpOut {
    target: String,
    filter: MetadataFilter,
    /// Literal application properties (`application_properties_map: root = {...}`).
    app_props: Vec<(String, String)>,
    in_flight: Arc<Semaphore>,
    tx: mpsc::Sender<AmqpRequest>,
}

impl AmqpOut {
    /// The settings the local runner cannot run, named by `path`, without
    /// connecting or spawning anything: (literal application properties,
    /// endpoints).
    fn check(c: &Amqp1Output, path: &str) -> Result<AmqpSettings> {
        let app_props = match &c.application_properties_map {
            None => Vec::new(),
            Some(text) => literal_map(text).ok_or_else(|| {
                anyhow!(
                    "{path}.amqp_1: application_properties_map `{}` is not supported by the local runner: it supports a literal object, e.g. root = {{\"source\": \"streamprobe\"}}, with string, number or boolean values",
                    text.trim()
                )
            })?,
        };
        if c.tls.as_ref().is_some_and(tls_enabled) {
            bail!("{path}.amqp_1.tls: not supported by the local runner yet");
        }
        let eps = checked_endpoints(
            &format!("{path}.amqp_1"),
            &c.urls,
            &c.sasl,
            "target_address",
            &c.target_address,
        )?;
        Ok((app_props, eps))
    }

    fn new(c: &Amqp1Output, stream: &str, path: &str) -> Result<AmqpOut> {
        let (app_props, eps) = AmqpOut::check(c, path)?;
        let (tx, rx) = mpsc::channel(c.max_in_flight.max(1));
        tokio::spawn(amqp_output_task(
            eps,
            c.target_address.clone(),
            format!("{stream}-{path}"),
            rx,
        ));
        Ok(AmqpOut {
            target: c.target_address.clone(),
            filter: c.metadata.clone(),
            app_props,
            in_flight: Arc::new(Semaphore::new(c.max_in_flight.max(1))),
            tx,
        })
    }

    /// Sends one Data section, metadata as message annotations (Bento's
    /// amqp_1 output: no header, no properties). Completes once Accepted.
    async fn submit(self: Arc<Self>, msg: Arc<Msg>) -> Completion {
        let permit = match self.in_flight.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return Box::pin(async { Err(anyhow!("amqp output closed")) }),
        };
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
        let message = Message::builder()
            .message_annotations(if annotations.0.is_empty() {
                None
            } else {
                Some(annotations)
            })
            .application_properties(app_props)
            .data(Binary::from(msg.body.clone()))
            .build();
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send((message, reply)).await;
        Box::pin(async move {
            let _permit = permit;
            sent.map_err(|_| anyhow!("amqp output task stopped"))?;
            rx.await.map_err(|_| anyhow!("amqp output task stopped"))?
        })
    }
}

/// A literal `root = {"k": "v", ...}` mapping (comments allowed) as
/// key/value pairs; values may be strings, numbers or booleans (sent as
/// strings). `None` for anything else.
fn literal_map(text: &str) -> Option<Vec<(String, String)>> {
    let body: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let (lhs, rhs) = body.split_once('=')?;
    if lhs.trim() != "root" {
        return None;
    }
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(rhs.trim()).ok()?;
    v.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect()
}

fn tls_enabled(v: &serde_yaml_ng::Value) -> bool {
    v.get("enabled").and_then(|e| e.as_bool()).unwrap_or(false)
}

/// The amqp_1 output's connection task, as Bento's amqp_1 output behaves: a
/// message that cannot be sent (no connection, link lost before the broker
/// settled it) is resent, after reconnecting with backoff (0.5 s → 1 s), for
/// ever, so connection errors never reach `fan_out`, `fallback` or `retry`;
/// while it waits, the `max_in_flight` slots fill up and writers block (back
/// pressure, which `drop_on.back_pressure` can turn into an error). Only a
/// broker's definite refusal (settled other than Accepted) fails a message.
async fn amqp_output_task(
    eps: Vec<AmqpEndpoint>,
    target: String,
    name: String,
    mut rx: mpsc::Receiver<AmqpRequest>,
) {
    let (resend_tx, mut resend_rx) = mpsc::unbounded_channel::<AmqpRequest>();
    let mut link: Option<(AmqpSession, fe2o3_amqp::Sender)> = None;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1), 1.5, 0.5);
    let close = |link: Option<(AmqpSession, fe2o3_amqp::Sender)>| {
        if let Some((s, snd)) = link {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), snd.close()).await;
                s.close().await;
            });
        }
    };
    loop {
        let (message, reply) = tokio::select! {
            biased;
            Some(r) = resend_rx.recv() => r,
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
        };
        loop {
            if link.is_none() {
                let attempt = async {
                    connect_any(&eps, &format!("streamprobe-pipeline-{name}"))
                        .await?
                        .with_sender(&format!("{name}-sender"), &target)
                        .await
                };
                match attempt.await {
                    Ok(l) => {
                        tracing::info!(target = %target, "amqp_1 output connected");
                        link = Some(l);
                    }
                    Err(e) => {
                        let wait = backoff.next_delay();
                        tracing::warn!(target = %target, error = %format!("{e:#}"), retry_in = ?wait, "amqp_1 output cannot connect; the message waits");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            }
            let Some((_, sender)) = link.as_mut() else {
                continue;
            };
            match sender.send_batchable(message.clone()).await {
                Ok(fut) => {
                    backoff.reset();
                    let (target, resend) = (target.clone(), resend_tx.clone());
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
                    break;
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(target = %target, error = %e, retry_in = ?wait, "amqp_1 output link lost; reconnecting to resend");
                    close(link.take());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    close(link.take());
}

// ------------------------------------------------------------------ input

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

/// The input settings the local runner cannot run, named by path.
fn check_input(input: &config::Input) -> Result<()> {
    match input {
        config::Input::Amqp1(input) => {
            if input.tls.as_ref().is_some_and(tls_enabled) {
                bail!("input.amqp_1.tls: not supported by the local runner yet");
            }
            if input.azure_renew_lock {
                bail!("input.amqp_1.azure_renew_lock: not supported by the local runner");
            }
            checked_endpoints(
                "input.amqp_1",
                &input.urls,
                &input.sasl,
                "source_address",
                &input.source_address,
            )?;
            if input.credit == 0 {
                bail!("input.amqp_1.credit: must be at least 1");
            }
        }
        config::Input::Kafka(k) => {
            if k.addresses.iter().all(|a| a.trim().is_empty()) {
                bail!("input.kafka.addresses: must name at least one broker");
            }
            if k.topics.is_empty() || k.topics.iter().any(|t| t.trim().is_empty()) {
                bail!("input.kafka.topics: must name at least one topic, none empty");
            }
            if k.topics.iter().any(|t| t.contains(':')) {
                bail!(
                    "input.kafka.topics: explicit partitions (`topic:partition`) are not supported by the local runner yet"
                );
            }
        }
    }
    Ok(())
}

/// A runnable stream.
pub struct Stream {
    pub id: String,
    input: config::Input,
    processors: Vec<Mapping>,
    output: Arc<Out>,
    pub counters: Arc<Counters>,
}

impl Stream {
    /// Checks and builds a stream (outputs start connecting lazily).
    /// Errors name the stream and the unsupported or invalid setting.
    pub fn build(s: &config::NamedStream) -> Result<Stream> {
        Stream::build_all(s).map_err(|mut e| e.remove(0))
    }

    /// The check pass of a stream: every error [`Stream::build_all`] would
    /// give (the input's, each processor's, each invalid output
    /// component's), without building, connecting or spawning anything.
    /// `lint` uses it, and `pipeline` and `--stream` report through lint.
    pub fn check_all(s: &config::NamedStream) -> Vec<anyhow::Error> {
        let mut errors = Vec::new();
        if let Err(e) = check_input(&s.config.input) {
            errors.push(e);
        }
        for (i, p) in s.config.pipeline.processors.iter().enumerate() {
            match p {
                config::Processor::Mapping(text) => {
                    if let Err(e) = Mapping::parse(text) {
                        errors.push(anyhow!("pipeline.processors[{i}].mapping: {e}"));
                    }
                }
            }
        }
        Out::check_all(&s.config.output, "output", &mut errors);
        errors
    }

    /// Like [`Stream::build`], with every error: the input's, each
    /// processor's and each invalid output component's (lint shows them all).
    pub fn build_all(s: &config::NamedStream) -> std::result::Result<Stream, Vec<anyhow::Error>> {
        let mut errors = Vec::new();
        if let Err(e) = check_input(&s.config.input) {
            errors.push(e);
        }
        let processors: Vec<Option<Mapping>> = s
            .config
            .pipeline
            .processors
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                config::Processor::Mapping(text) => Mapping::parse(text)
                    .map_err(|e| errors.push(anyhow!("pipeline.processors[{i}].mapping: {e}")))
                    .ok(),
            })
            .collect();
        let output = Out::build_all(&s.config.output, &s.id, "output", &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        for name in s.config.ignored_sections() {
            tracing::warn!(stream = %s.id, "`{name}` is ignored by the local runner");
        }
        Ok(Stream {
            id: s.id.clone(),
            input: s.config.input.clone(),
            processors: processors.into_iter().flatten().collect(),
            output: Arc::new(output.expect("no errors, so built")),
            counters: Arc::default(),
        })
    }

    /// Runs until `cancel` fires, then stops taking input and waits up to
    /// `drain` for in-flight messages to be confirmed and settled.
    pub async fn run(self, cancel: CancellationToken, drain: Duration) {
        match self.input.clone() {
            config::Input::Amqp1(input) => self.run_amqp(&input, cancel, drain).await,
            config::Input::Kafka(input) => {
                super::kafka_input::run(
                    &self.id,
                    &input,
                    &self.processors,
                    &self.output,
                    &self.counters,
                    cancel,
                    drain,
                )
                .await
            }
        }
    }

    async fn run_amqp(&self, input: &Amqp1Input, cancel: CancellationToken, drain: Duration) {
        let eps = endpoints(&input.urls, &input.sasl);
        let credit = input.credit.max(1);
        let mut backoff = Backoff::reconnect();
        let c = &self.counters;
        loop {
            let attempt = async {
                connect_any(&eps, &format!("streamprobe-pipeline-{}-input", self.id))
                    .await?
                    .with_receiver(&format!("{}-input", self.id), &input.source_address)
                    .await
            };
            let (session, mut receiver) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = attempt => match r {
                    Ok(v) => v,
                    Err(e) => {
                        let wait = backoff.next_delay();
                        tracing::warn!(stream = %self.id, error = %format!("{e:#}"), retry_in = ?wait, "input cannot connect");
                        tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(wait) => continue }
                    }
                }
            };
            backoff.reset();
            tracing::info!(stream = %self.id, source = %input.source_address, credit, "input connected");
            let mut inflight: JoinSet<Settlement> = JoinSet::new();
            let mut window = amqp::CreditWindow::new();
            let lost = loop {
                // Grant a new window once the last one is used up and at
                // most half the credit is in flight (Bento's `credit` caps
                // unsettled deliveries).
                let free = credit.saturating_sub(inflight.len() as u32);
                if window.outstanding() == 0 && free >= credit.div_ceil(2) {
                    if let Err(e) = window.grant(&mut receiver, free).await {
                        break Some(format!("{e:#}"));
                    }
                }
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break None,
                    batch = finished(&mut inflight), if !inflight.is_empty() => {
                        settle_all(&self.id, c, &receiver, batch).await;
                    }
                    d = receiver.recv::<Body<Value>>(), if window.outstanding() > 0 => match d {
                        Ok(delivery) => {
                            window.received();
                            c.received.fetch_add(1, Ordering::Relaxed);
                            let (info, message) = delivery.into_parts();
                            let mut msg = Msg {
                                meta: input_metadata(&message, input.read_header),
                                body: amqp::body_bytes(&message.body).unwrap_or_default(),
                            };
                            for p in &self.processors {
                                p.apply(&mut msg.meta);
                            }
                            // Submit in input order (this waits for a
                            // max_in_flight slot); confirm concurrently.
                            let done = tokio::select! {
                                d = self.output.submit(Arc::new(msg)) => d,
                                // Never submitted: left unsettled, so the
                                // broker redelivers it after we detach.
                                _ = cancel.cancelled() => {
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
            match lost {
                None => {
                    // Draining: no new input; finish what is in flight.
                    let n = inflight.len();
                    tracing::info!(stream = %self.id, in_flight = n, never_submitted = c.abandoned.load(Ordering::Relaxed), "draining (never_submitted: taken from the input while the output could not take them; left unsettled)");
                    let deadline = tokio::time::Instant::now() + drain;
                    while !inflight.is_empty() {
                        match tokio::time::timeout_at(deadline, inflight.join_next()).await {
                            Ok(Some(Ok(r))) => settle(&self.id, c, &receiver, r).await,
                            Ok(_) => {}
                            Err(_) => {
                                tracing::warn!(stream = %self.id, left = inflight.len(), "drain time over; leaving the rest unsettled (the broker redelivers them)");
                                c.abandoned
                                    .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                                inflight.abort_all();
                                break;
                            }
                        }
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
                    session.close().await;
                    return;
                }
                Some(e) => {
                    tracing::warn!(stream = %self.id, error = %e, in_flight = inflight.len(), "input link lost; in-flight deliveries will be redelivered by the broker");
                    c.abandoned
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    inflight.abort_all();
                    let _ = tokio::time::timeout(Duration::from_secs(1), receiver.close()).await;
                    session.close().await;
                    let wait = backoff.next_delay();
                    tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(wait) => {} }
                }
            }
        }
    }
}
