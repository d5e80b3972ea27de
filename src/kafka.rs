//! Kafka (rdkafka, bundled librdkafka): the destination consumer used by the
//! UI and the headless probe.
//!
//! The consumer does not join a consumer group: it reads the topic's
//! partitions by explicit assignment, starting at the first record whose
//! timestamp is at or after the moment the process started (else at the
//! END), so old data never pollutes a run and nothing produced after
//! start-up is missed, even when Kafka was unreachable or the topic did not
//! exist yet when streamprobe started. Blocking librdkafka calls (metadata,
//! watermarks, close) run on the blocking pool, never on the UI task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message, Timestamp};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::amqp::PREVIEW_CHARS;
use crate::envelope::Probe;
use crate::event::{Arrival, BODY_KEEP, Detail, Event, KafkaPos, Link, Proto, TimestampType};
use crate::retry::{self, Backoff, Down, Next, Reconnect};
use crate::sanitize;

/// How to reach a Kafka cluster: its bootstrap servers and the librdkafka
/// properties that secure the connection (`security.protocol`, `sasl.*`,
/// `ssl.*`) or tune it (`--kafka-property KEY=VALUE`, as kcat's `-X`).
/// The properties are applied after streamprobe's own, so they win.
/// `Debug` masks every value whose key names a password, secret or key;
/// `Display` shows the servers alone.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KafkaEndpoint {
    /// Comma-separated `host:port` list (`bootstrap.servers`).
    pub brokers: String,
    /// librdkafka `KEY=VALUE` pairs, in the order given.
    pub props: Vec<(String, String)>,
}

impl KafkaEndpoint {
    /// Whether TLS is on without checking the brokers' certificates
    /// (`enable.ssl.certificate.verification=false`, the last value set wins
    /// as in librdkafka).
    /// Also when the brokers' names are not checked
    /// (`ssl.endpoint.identification.algorithm=none`). librdkafka reads
    /// `false`, `f`, `0` as false (any case).
    pub fn unverified(&self) -> bool {
        let last = |key: &str| {
            self.props
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let tls = last("security.protocol").is_some_and(|v| v.ends_with("ssl"));
        let off = last("enable.ssl.certificate.verification")
            .is_some_and(|v| matches!(v.as_str(), "false" | "f" | "0"));
        let no_name = last("ssl.endpoint.identification.algorithm").is_some_and(|v| v == "none");
        tls && (off || no_name)
    }

    /// Servers only: PLAINTEXT, librdkafka's defaults.
    pub fn plain(brokers: impl Into<String>) -> Self {
        KafkaEndpoint {
            brokers: brokers.into(),
            props: Vec::new(),
        }
    }

    /// A client config with `bootstrap.servers` and the endpoint's
    /// properties, with `settings` (streamprobe's own) set first.
    pub fn config(&self, settings: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        // rdkafka sets the client's log level from the `log` crate's
        // (none here: Error) after creation, over `log_level`: info, so that
        // refusals only logged (see [`Refusal`]) reach the context
        c.set_log_level(rdkafka::config::RDKafkaLogLevel::Info);
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in settings {
            c.set(*k, *v);
        }
        for (k, v) in &self.props {
            c.set(k, v);
        }
        c
    }

    /// The `security.protocol` in use (`PLAINTEXT` when not set).
    pub fn protocol(&self) -> String {
        self.props
            .iter()
            .rev()
            .find(|(k, _)| k == "security.protocol")
            .map_or("PLAINTEXT".to_owned(), |(_, v)| v.to_ascii_uppercase())
    }
}

/// Sets many librdkafka properties in a builder chain (later ones win).
pub trait SetAll {
    /// Sets every `(key, value)` of `props`, in order.
    fn set_all(&mut self, props: &[(String, String)]) -> &mut Self;
}

impl SetAll for ClientConfig {
    fn set_all(&mut self, props: &[(String, String)]) -> &mut Self {
        for (k, v) in props {
            self.set(k, v);
        }
        self
    }
}

/// Whether a librdkafka property holds a secret (its value is never shown).
pub fn secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "key.pem",
        "ssl.key",
        "jaas",
        "token",
        "oauthbearer.config",
        "keytab",
    ]
    .iter()
    .any(|w| k.contains(w))
}

impl std::fmt::Debug for KafkaEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: Vec<String> = self
            .props
            .iter()
            .map(|(k, v)| {
                if secret_property(k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        f.debug_struct("KafkaEndpoint")
            .field("brokers", &self.brokers)
            .field("props", &props)
            .finish()
    }
}

impl std::fmt::Display for KafkaEndpoint {
    /// The brokers (a pasted `user:password@` hidden), and `(TLS NOT
    /// VERIFIED)` when [`KafkaEndpoint::unverified`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_brokers(&self.brokers))?;
        if self.unverified() {
            f.write_str(" (TLS NOT VERIFIED)")?;
        }
        Ok(())
    }
}

/// Bootstrap servers safe to show: a `user:password@` (which Kafka does
/// not take, but a user may paste) becomes `***@`.
pub fn redact_brokers(brokers: &str) -> String {
    brokers
        .split(',')
        .map(|b| match b.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => b.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A librdkafka client context that keeps logs readable: librdkafka reports
/// the same connection error every second while a broker is down; this
/// logs each distinct error once (again after a minute if it persists) at
/// WARN, and librdkafka's own log lines at DEBUG.
pub struct QuietContext {
    label: String,
    last: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    refusal: Refusal,
}

impl QuietContext {
    /// A context whose log lines carry `label` (e.g. `kafka:FOO`).
    pub fn new(label: impl Into<String>) -> Self {
        QuietContext {
            label: label.into(),
            last: std::sync::Mutex::default(),
            refusal: Refusal::default(),
        }
    }
}

/// The last error of a client that a retry does not fix, shared between
/// its librdkafka context and the link that owns the client: SASL
/// authentication failed, the TLS handshake failed (e.g. the broker's
/// certificate is not signed by the CA given), or a plaintext client met a
/// TLS listener. librdkafka's own words (they never hold the password).
#[derive(Clone, Default)]
pub struct Refusal(Arc<std::sync::Mutex<Option<String>>>);

impl Refusal {
    /// The refusal seen since the last [`Refusal::clear`], if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|r| r.clone())
    }

    /// Forgets it (the client got through).
    pub fn clear(&self) {
        if let Ok(mut r) = self.0.lock() {
            *r = None;
        }
    }

    fn set(&self, why: String) {
        if let Ok(mut r) = self.0.lock() {
            *r = Some(why);
        }
    }
}

/// Whether a librdkafka client error is one a retry does not fix.
fn is_refusal(error: &KafkaError, reason: &str) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
    ) || is_refusal_text(reason)
}

/// librdkafka's words for a refusal (its log lines and error reasons).
fn is_refusal_text(text: &str) -> bool {
    [
        "incorrect security.protocol",
        "SSL handshake failed",
        "SASL authentication error",
        "wrong version number",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// The error for a metadata request that failed: [`crate::amqp::Refused`]
/// when the client was refused (see [`Refusal`]), else "cannot reach".
fn unreachable(kafka: &KafkaEndpoint, refusal: &Refusal, e: KafkaError) -> anyhow::Error {
    match refusal.get() {
        Some(why) => anyhow::Error::new(crate::amqp::Refused(format!(
            "Kafka at {kafka} ({}) refused the connection: {why}",
            kafka.protocol()
        ))),
        None => anyhow::anyhow!("cannot reach Kafka at {kafka}: {e}"),
    }
}

impl rdkafka::ClientContext for QuietContext {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        // some refusals are only logged (at info: `log_level` 6), e.g. a
        // plaintext client meeting a TLS listener
        if is_refusal_text(message) {
            self.refusal.set(message.to_owned());
        } else if message.contains("connection closed by peer")
            && message.contains("state APIVERSION_QUERY")
        {
            // closed before the first Kafka answer: librdkafka 2.12 no longer
            // hints at it, but it is a plaintext client at a TLS listener
            self.refusal.set(format!(
                "{message}: the broker closed the connection before answering a plaintext Kafka request (a TLS listener? set --kafka-security-protocol SSL or SASL_SSL)"
            ));
        }
        tracing::debug!(target: "librdkafka", client = %self.label, "{fac} {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_refusal(&error, reason) {
            self.refusal.set(reason.to_owned());
        }
        let key = error.to_string();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let repeat = last
            .get(&key)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
        if !repeat {
            tracing::warn!(client = %self.label, "Kafka: {error}: {reason}");
            last.insert(key, Instant::now());
        }
    }
}

impl rdkafka::consumer::ConsumerContext for QuietContext {}

type ProbeConsumer = StreamConsumer<QuietContext>;

/// Timeout of one metadata / watermark request.
const META_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the consumer checks that the cluster answers (UP/DOWN).
const HEALTH_EVERY: Duration = Duration::from_secs(2);

/// Creates the consumer: no group membership (explicit assignment), no
/// commits, a unique group id so nothing is shared with other readers.
fn new_consumer(
    kafka: &KafkaEndpoint,
    label: &str,
) -> Result<(ProbeConsumer, Refusal), KafkaError> {
    let ctx = QuietContext::new(label);
    let refusal = ctx.refusal.clone();
    let group = format!(
        "streamprobe-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    );
    kafka
        .config(&[
            ("group.id", &group),
            ("client.id", "streamprobe"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            ("socket.nagle.disable", "true"),
            ("fetch.wait.max.ms", "100"),
            ("reconnect.backoff.max.ms", "2000"),
            ("socket.timeout.ms", "5000"),
            ("log_level", "6"),
        ])
        .create_with_context(ctx)
        .map(|c| (c, refusal))
}

/// Partition ids of `topic`, or `Ok(None)` when the topic does not exist.
fn partitions(consumer: &ProbeConsumer, topic: &str) -> Result<Option<Vec<i32>>, KafkaError> {
    let md = consumer.fetch_metadata(Some(topic), META_TIMEOUT)?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => {
            Ok(None)
        }
        Some(e) => Err(KafkaError::MetadataFetch(e.into())),
        None if t.partitions().is_empty() => Ok(None),
        None => Ok(Some(t.partitions().iter().map(|p| p.id()).collect())),
    }
}

/// Blocking: finds the partitions and where to start reading each: the
/// first record with a timestamp at or after `since_ms` (ms since the Unix
/// epoch, the moment this process started), else the high watermark read
/// BEFORE that lookup (so a record produced in between is not skipped).
/// `Ok(None)` when the topic does not exist yet.
fn plan_assignment(
    consumer: &ProbeConsumer,
    topic: &str,
    since_ms: i64,
) -> Result<Option<TopicPartitionList>, KafkaError> {
    let Some(parts) = partitions(consumer, topic)? else {
        return Ok(None);
    };
    let mut highs = Vec::with_capacity(parts.len());
    let mut query = TopicPartitionList::new();
    for &p in &parts {
        highs.push(consumer.fetch_watermarks(topic, p, META_TIMEOUT)?.1);
        query.add_partition_offset(topic, p, Offset::Offset(since_ms))?;
    }
    let found = consumer.offsets_for_times(query, META_TIMEOUT)?;
    let mut tpl = TopicPartitionList::new();
    for (&p, &high) in parts.iter().zip(&highs) {
        let at = match found.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= 0 => o.min(high),
            _ => high,
        };
        tpl.add_partition_offset(topic, p, Offset::Offset(at))?;
    }
    Ok(Some(tpl))
}

/// Runs `f` on the blocking pool with the shared consumer.
async fn blocking<T: Send + 'static>(
    c: &Arc<ProbeConsumer>,
    f: impl FnOnce(&ProbeConsumer) -> T + Send + 'static,
) -> Option<T> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || f(&c)).await.ok()
}

/// The Kafka destination consumer for destination `dest`: assigns every
/// partition of `topic` at its end, sends an [`Event::Arrived`] per record,
/// and reports `Up`/`Down` from a periodic metadata request. Runs until
/// `cancel` fires; the consumer is closed on the blocking pool without
/// waiting, so quitting never hangs on an unreachable cluster.
pub async fn run_consumer(
    kafka: KafkaEndpoint,
    topic: String,
    dest: usize,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let link = Link::Dest(dest);
    let (consumer, refusal) = match new_consumer(&kafka, &format!("kafka:{topic}")) {
        Ok((c, r)) => (Arc::new(c), r),
        Err(e) => {
            // librdkafka refused the settings (a TLS file it cannot load, a
            // missing SASL password): a retry does not fix that
            let _ = events
                .send(Event::Refused {
                    link,
                    error: format!("invalid Kafka client config: {e}"),
                })
                .await;
            return;
        }
    };
    let mut link = KafkaConsumer {
        consumer,
        refusal,
        kafka,
        topic,
        dest,
        events,
        cancel: cancel.clone(),
        started: Instant::now(),
        since_ms: Utc::now().timestamp_millis(),
    };
    retry::keep(&mut link, Backoff::reconnect(), &cancel).await;
    close_in_background(link.consumer);
}

/// The topic a consumer waits for does not exist yet (not a failure: it is
/// retried soon, reported as [`Event::Waiting`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotYet(String);

/// A Kafka destination consumer, kept up by [`retry::keep`]: a connection
/// is the assignment of every partition at its end; after that librdkafka
/// reconnects by itself and a health check reports up/down.
struct KafkaConsumer {
    consumer: Arc<ProbeConsumer>,
    refusal: Refusal,
    kafka: KafkaEndpoint,
    topic: String,
    dest: usize,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
    started: Instant,
    since_ms: i64,
}

impl Reconnect for KafkaConsumer {
    type Conn = ();

    async fn connect(&mut self) -> anyhow::Result<()> {
        let (t, since_ms) = (self.topic.clone(), self.since_ms);
        match blocking(&self.consumer, move |c| plan_assignment(c, &t, since_ms)).await {
            Some(Ok(Some(tpl))) => self
                .consumer
                .assign(&tpl)
                .map_err(|e| anyhow::anyhow!("cannot assign partitions of {}: {e}", self.topic)),
            Some(Ok(None)) => {
                Err(NotYet(format!("topic {:?} does not exist yet", self.topic)).into())
            }
            Some(Err(e)) => {
                // a consumer hears its client's errors only when polled:
                // poll once (nothing is assigned, no record can come) so an
                // authentication or TLS refusal is known now
                let _ = tokio::time::timeout(Duration::from_millis(20), self.consumer.recv()).await;
                Err(unreachable(&self.kafka, &self.refusal, e))
            }
            None => Err(anyhow::anyhow!("metadata task failed")),
        }
    }

    async fn up(&mut self) {
        tracing::info!(dest = self.dest, topic = %self.topic, since_ms = self.since_ms, "kafka consumer assigned");
        let link = Link::Dest(self.dest);
        let _ = self.events.send(Event::Up { link }).await;
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        let (dest, link, elapsed) = (self.dest, Link::Dest(self.dest), self.started.elapsed());
        let (event, next) = match why {
            Down::Failed(e) => match e.downcast_ref::<NotYet>() {
                Some(NotYet(reason)) => {
                    tracing::debug!(dest, error = %reason, ?elapsed, "kafka consumer waiting for the topic");
                    // poll for the topic quickly: the first records may come any moment
                    (
                        Event::Waiting {
                            link,
                            reason: reason.clone(),
                        },
                        Next::Soon,
                    )
                }
                None => {
                    tracing::warn!(dest, error = %format!("{e:#}"), ?elapsed, "kafka consumer not ready");
                    (crate::amqp::down_or_refused(link, e), Next::Backoff)
                }
            },
            Down::Lost(e) => (
                Event::Down {
                    link,
                    error: e.to_owned(),
                },
                Next::Backoff,
            ),
        };
        let _ = self.events.send(event).await;
        next
    }

    /// Receives until `cancel`, reporting up/down from a periodic metadata
    /// request and from receive errors (librdkafka reconnects by itself).
    async fn session(&mut self, (): ()) -> Result<(), String> {
        let link = Link::Dest(self.dest);
        let mut up = true;
        let mut health = tokio::time::interval(HEALTH_EVERY);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut probe: Option<tokio::task::JoinHandle<Result<(), String>>> = None;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = health.tick(), if probe.is_none() => {
                    let c = self.consumer.clone();
                    let t = self.topic.clone();
                    probe = Some(tokio::task::spawn_blocking(move || {
                        c.fetch_metadata(Some(&t), META_TIMEOUT).map(|_| ()).map_err(|e| e.to_string())
                    }));
                }
                r = async { probe.as_mut().expect("guarded by is_some").await }, if probe.is_some() => {
                    probe = None;
                    match r {
                        Ok(Ok(())) if !up => {
                            up = true;
                            let _ = self.events.send(Event::Up { link }).await;
                        }
                        Ok(Err(e)) if up => {
                            up = false;
                            let _ = self.events.send(Event::Down { link, error: format!("Kafka at {} not answering: {e}", self.kafka) }).await;
                        }
                        _ => {}
                    }
                }
                m = self.consumer.recv() => match m {
                    Ok(msg) => {
                        let at = Instant::now();
                        let arrival = kafka_arrival(self.dest, at, &msg);
                        if !up {
                            up = true;
                            let _ = self.events.send(Event::Up { link }).await;
                        }
                        let _ = self.events.send(Event::Arrived(arrival)).await;
                    }
                    Err(e) => {
                        tracing::warn!(dest = self.dest, error = %e, "kafka receive error");
                        if up {
                            up = false;
                            let _ = self.events.send(Event::Down { link, error: e.to_string() }).await;
                        }
                    }
                }
            }
        }
        if let Some(p) = probe {
            p.abort();
        }
        Ok(())
    }
}

/// The arrival of one record at destination `dest`, with its [`Detail`]
/// (topic, partition, offset, key, headers, timestamp and the first
/// [`BODY_KEEP`] body bytes).
pub fn kafka_arrival(dest: usize, at: Instant, msg: &impl Message) -> Arrival {
    let body = msg.payload().unwrap_or_default();
    let headers = msg
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    let timestamp = match msg.timestamp() {
        Timestamp::NotAvailable => None,
        Timestamp::CreateTime(ms) => Some((ms, TimestampType::CreateTime)),
        Timestamp::LogAppendTime(ms) => Some((ms, TimestampType::LogAppendTime)),
    };
    Arrival {
        dest,
        at,
        wall: Utc::now(),
        probe: Probe::decode(body).map(|p| (p.run, p.seq)),
        size: body.len(),
        preview: sanitize::preview(body, PREVIEW_CHARS),
        kafka: Some(KafkaPos {
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp,
        }),
        detail: Some(Box::new(Detail {
            body: body[..body.len().min(BODY_KEEP)].to_vec(),
            proto: Proto::Kafka {
                topic: msg.topic().to_owned(),
                partition: msg.partition(),
                offset: msg.offset(),
                key: msg.key().map(<[u8]>::to_vec),
                headers,
                timestamp,
            },
        })),
    }
}

/// Drops the consumer on the blocking pool: librdkafka's close can block
/// for as long as the cluster is unreachable, and nobody waits for it.
fn close_in_background(consumer: Arc<ProbeConsumer>) {
    tokio::task::spawn_blocking(move || drop(consumer));
}

/// A producer with [`QuietContext`] logging.
type ProbeProducer = rdkafka::producer::FutureProducer<QuietContext>;

/// How long librdkafka keeps retrying one probe before reporting it failed.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);

fn new_producer(
    kafka: &KafkaEndpoint,
    label: &str,
) -> Result<(ProbeProducer, Refusal), KafkaError> {
    let ctx = QuietContext::new(label);
    let refusal = ctx.refusal.clone();
    let timeout = PRODUCE_TIMEOUT.as_millis().to_string();
    kafka
        .config(&[
            ("client.id", "streamprobe"),
            // a probe is timed: send each one at once, never wait for a batch
            ("linger.ms", "0"),
            ("socket.nagle.disable", "true"),
            ("acks", "all"),
            ("message.timeout.ms", &timeout),
            ("reconnect.backoff.max.ms", "2000"),
            ("log_level", "6"),
        ])
        .create_with_context(ctx)
        .map(|p| (p, refusal))
}

/// The injector for a Kafka source (a stream with a `kafka` input): produces
/// every probe of every [`SendRequest`] to `topic` without a key or a
/// partition (the topic's default partitioner places them), reporting
/// `Sent` before each produce and `Confirmed` when the broker acknowledged
/// it (`acks=all`; `settle` = produce → acknowledgement) or `Failed` with
/// librdkafka's error. `--property KEY=VALUE` pairs become record headers;
/// the content type and annotations are AMQP's and are not set. `Up` once
/// the cluster answers a metadata request, `Down` (retried with backoff)
/// while it does not; librdkafka reconnects by itself after that.
pub async fn run_publisher(
    kafka: KafkaEndpoint,
    topic: String,
    body: crate::event::BodyOptions,
    requests: mpsc::Receiver<crate::event::SendRequest>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let (producer, refusal) = match new_producer(&kafka, &format!("injector kafka:{topic}")) {
        Ok((p, r)) => (Arc::new(p), r),
        Err(e) => {
            let error = format!("invalid Kafka client config: {e}");
            let _ = events
                .send(Event::Refused {
                    link: Link::Injector,
                    error,
                })
                .await;
            return;
        }
    };
    let mut link = KafkaInjector {
        producer,
        refusal,
        kafka,
        topic,
        body,
        requests,
        events,
        cancel: cancel.clone(),
        last_error: String::new(),
    };
    retry::keep(&mut link, Backoff::reconnect(), &cancel).await;
}

/// The Kafka injector, kept up by [`retry::keep`]: it is connected once the
/// cluster answers a metadata request for the topic.
struct KafkaInjector {
    producer: Arc<ProbeProducer>,
    refusal: Refusal,
    kafka: KafkaEndpoint,
    topic: String,
    body: crate::event::BodyOptions,
    requests: mpsc::Receiver<crate::event::SendRequest>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
    last_error: String,
}

impl Reconnect for KafkaInjector {
    type Conn = ();

    async fn connect(&mut self) -> anyhow::Result<()> {
        let (p, t) = (self.producer.clone(), self.topic.clone());
        let answer = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            p.client()
                .fetch_metadata(Some(&t), META_TIMEOUT)
                .map(|_| ())
        })
        .await;
        match answer {
            Ok(Ok(())) => {
                self.refusal.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(unreachable(&self.kafka, &self.refusal, e)),
            Err(e) => Err(anyhow::anyhow!("metadata task failed: {e}")),
        }
    }

    async fn up(&mut self) {
        tracing::info!(topic = %self.topic, "kafka injector ready");
        let _ = self
            .events
            .send(Event::Up {
                link: Link::Injector,
            })
            .await;
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        let event = match why {
            Down::Failed(e) => crate::amqp::down_or_refused(Link::Injector, e),
            Down::Lost(e) => Event::Down {
                link: Link::Injector,
                error: e.to_owned(),
            },
        };
        if let Event::Down { error, .. } | Event::Refused { error, .. } = &event {
            self.last_error = error.clone();
        }
        let _ = self.events.send(event).await;
        Next::Backoff
    }

    /// What the user asks for while the cluster is unreachable fails at once.
    async fn wait(&mut self, delay: Duration) {
        crate::event::fail_requests_for(delay, &mut self.requests, &self.last_error, &self.events)
            .await;
    }

    /// Produces every request until `cancel` or the requests end
    /// (librdkafka reconnects by itself).
    async fn session(&mut self, (): ()) -> Result<(), String> {
        loop {
            let req = tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                r = self.requests.recv() => match r { Some(r) => r, None => return Ok(()) },
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                _ = produce_request(&self.producer, &self.topic, &req, &self.body, &self.events) => {}
            }
        }
    }
}

/// Produces every seq of `req` (paced when it has a rate).
async fn produce_request(
    producer: &Arc<ProbeProducer>,
    topic: &str,
    req: &crate::event::SendRequest,
    base: &crate::event::BodyOptions,
    events: &mpsc::Sender<Event>,
) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::FutureRecord;
    let start = Instant::now();
    let opts = req.body_options(base);
    let mut headers = OwnedHeaders::new();
    for (k, v) in &req.inject.properties {
        headers = headers.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    // at most this many probes produced and not yet acknowledged
    let unacked = Arc::new(tokio::sync::Semaphore::new(crate::amqp::MAX_UNSETTLED));
    for seq in req.seqs.clone() {
        let Some(intended) = req.wait_due(start, seq).await else {
            return;
        };
        let Ok(permit) = unacked.clone().acquire_owned().await else {
            return;
        };
        let payload = crate::amqp::probe_body(&req.run, seq, &opts);
        let at = req.mark_sent(seq, intended, events).await;
        let mut record: FutureRecord<'_, (), [u8]> = FutureRecord::to(topic)
            .payload(&payload[..])
            .headers(headers.clone());
        let delivery = loop {
            match producer.send_result(record) {
                Ok(d) => break Ok(d),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => break Err(e),
            }
        };
        let run = req.run.clone();
        match delivery {
            Ok(d) => {
                let events = events.clone();
                tokio::spawn(async move {
                    let ev = match d.await {
                        Ok(Ok(_)) => {
                            let now = Instant::now();
                            Event::Confirmed {
                                run,
                                seq,
                                at: now,
                                settle: now.saturating_duration_since(at),
                            }
                        }
                        Ok(Err((e, _))) => Event::Failed {
                            run,
                            seq,
                            error: format!("produce failed: {e}"),
                        },
                        Err(_) => Event::Failed {
                            run,
                            seq,
                            error: "produce cancelled".into(),
                        },
                    };
                    drop(permit);
                    let _ = events.send(ev).await;
                });
            }
            Err(e) => {
                let error = format!("produce failed: {e}");
                let _ = events.send(Event::Failed { run, seq, error }).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    #[test]
    fn kafka_detail_keeps_null_apart_from_empty() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "h",
                value: Some("v"),
            })
            .insert(Header {
                key: "empty",
                value: Some(""),
            })
            .insert(Header::<&str> {
                key: "null",
                value: None,
            });
        let m = OwnedMessage::new(
            Some(b"body".to_vec()),
            Some(Vec::new()),
            "t".into(),
            Timestamp::LogAppendTime(1234),
            3,
            42,
            Some(headers),
        );
        let a = kafka_arrival(0, Instant::now(), &m);
        let d = a.detail.expect("detail");
        assert_eq!(d.body, b"body");
        assert_eq!(
            d.proto,
            Proto::Kafka {
                topic: "t".into(),
                partition: 3,
                offset: 42,
                key: Some(Vec::new()),
                headers: vec![
                    ("h".into(), Some(b"v".to_vec())),
                    ("empty".into(), Some(Vec::new())),
                    ("null".into(), None),
                ],
                timestamp: Some((1234, TimestampType::LogAppendTime)),
            }
        );
        let m = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 0, None);
        let d = kafka_arrival(0, Instant::now(), &m).detail.expect("detail");
        assert_eq!(
            (d.body.len(), d.proto),
            (
                0,
                Proto::Kafka {
                    topic: "t".into(),
                    partition: 0,
                    offset: 0,
                    key: None,
                    headers: vec![],
                    timestamp: None,
                }
            )
        );
    }
}
