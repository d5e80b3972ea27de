//! Events that I/O tasks send to the UI (or the headless probe) over a tokio
//! mpsc channel. Workers never touch UI state; they only send these.

use std::ops::Range;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Which link an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The publisher that injects probes into the source address.
    Injector,
    /// Destination number `n` (index into the configured destinations).
    Dest(usize),
}

/// Connection state of one link, as the UI shows it and the diagnoses read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not connected yet (first attempt running).
    Connecting,
    /// Connected and attached.
    Up,
    /// The broker answers; waiting for the topic/queue to exist.
    Waiting(String),
    /// Failed (or refused); retrying with backoff. Holds the last error (no secrets).
    Down(String),
}

impl LinkStatus {
    /// The state after `ev` for the link `ev` is about (`None`: `ev` is not
    /// a link event).
    pub fn after(ev: &Event) -> Option<(Link, LinkStatus)> {
        match ev {
            Event::Up { link } => Some((*link, LinkStatus::Up)),
            Event::Waiting { link, reason } => Some((*link, LinkStatus::Waiting(reason.clone()))),
            Event::Down { link, error } | Event::Refused { link, error } => {
                Some((*link, LinkStatus::Down(error.clone())))
            }
            _ => None,
        }
    }
}

/// One thing that happened on a link.
#[derive(Debug, Clone)]
pub enum Event {
    /// The link is connected and attached.
    Up { link: Link },
    /// The broker answers, but the link waits for something to exist (a
    /// Kafka topic not created yet); it reads from the moment it appears.
    /// Counts as ready.
    Waiting { link: Link, reason: String },
    /// The link failed or could not connect; it will retry with backoff.
    /// `error` is human-readable and never contains a password.
    Down { link: Link, error: String },
    /// As [`Event::Down`], for a refusal a retry will not fix by itself
    /// (SASL authentication failed). The link still retries with backoff
    /// (the broker's users may change); `probe` gives up at once (exit 2).
    Refused { link: Link, error: String },
    /// Probe `seq` of run `run` is about to be transferred, at monotonic
    /// `at`. With a rate set, `intended` is when it was due: latency counts
    /// from there, so a stalled sender cannot hide delay (coordinated omission).
    Sent {
        run: String,
        seq: u64,
        at: Instant,
        intended: Option<Instant>,
    },
    /// The broker settled probe `seq` with Accepted, `settle` after it was sent
    /// (publish-to-settle latency); `at` is the monotonic settle instant.
    Confirmed {
        run: String,
        seq: u64,
        at: Instant,
        settle: Duration,
    },
    /// Probe `seq` was not accepted by the broker (rejected/released/modified),
    /// or could not be sent at all (link down).
    Failed {
        run: String,
        seq: u64,
        error: String,
    },
    /// A message arrived at a destination.
    Arrived(Arrival),
    /// What the brokers around the stream said (queues, routes, Kafka
    /// offsets and group lag), about once a second ([`crate::broker::run`]).
    Broker(Box<crate::broker::BrokerSnapshot>),
}

/// A message seen at a destination, already reduced to what the UI needs.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Destination index.
    pub dest: usize,
    /// Monotonic receive instant (same clock as [`Event::Sent`]).
    pub at: Instant,
    /// Wall-clock receive time, for display.
    pub wall: DateTime<Utc>,
    /// `(run, seq)` when the body is a probe envelope.
    pub probe: Option<(String, u64)>,
    /// Body size in bytes.
    pub size: usize,
    /// One-line, terminal-safe preview of the body (see [`crate::sanitize`]).
    pub preview: String,
    /// Everything the protocol carried, for the inspector (boxed: most
    /// arrivals are only counted). `None` when the worker does not capture it.
    pub detail: Option<Box<Detail>>,
    /// Where a Kafka record sat and when it was produced (`None` for AMQP).
    /// Kept apart from [`Self::detail`] because the accounting uses it
    /// (order per partition, the produce/consume split) and recordings keep it.
    pub kafka: Option<KafkaPos>,
}

/// A Kafka record's partition, offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaPos {
    pub partition: i32,
    pub offset: i64,
    /// Record timestamp, ms since the Unix epoch, and its type.
    pub timestamp: Option<(i64, TimestampType)>,
}

impl KafkaPos {
    /// The position a Kafka [`Detail`] carries (`None` for AMQP).
    pub fn of(detail: &Detail) -> Option<KafkaPos> {
        match detail.proto {
            Proto::Kafka {
                partition,
                offset,
                timestamp,
                ..
            } => Some(KafkaPos {
                partition,
                offset,
                timestamp,
            }),
            Proto::Amqp { .. } => None,
        }
    }
}

/// Most body bytes kept per message for the inspector ([`Detail::body`]);
/// [`Arrival::size`] keeps the real size.
pub const BODY_KEEP: usize = 64 * 1024;

/// What a destination's protocol carried with one message, raw (the
/// inspector escapes every text before it reaches the terminal).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    /// The first [`BODY_KEEP`] bytes of the body as received (for AMQP: the
    /// first Data section's bytes, or the text/binary/symbol of an
    /// amqp-value; another amqp-value or a sequence as its value's text).
    pub body: Vec<u8>,
    /// The protocol's own fields.
    pub proto: Proto,
}

/// Kafka record fields or AMQP 1.0 message sections.
#[derive(Debug, Clone, PartialEq)]
pub enum Proto {
    /// A Kafka record.
    Kafka {
        topic: String,
        partition: i32,
        offset: i64,
        /// `None` = null key; `Some(vec![])` = empty key.
        key: Option<Vec<u8>>,
        /// Record headers in order; a `None` value is a null header value
        /// (distinct from an empty one).
        headers: Vec<(String, Option<Vec<u8>>)>,
        /// Record timestamp, ms since the Unix epoch, and its type.
        timestamp: Option<(i64, TimestampType)>,
    },
    /// An AMQP 1.0 message. Values are rendered as text the way AMQP types
    /// print, never interpreted ([`crate::amqp::format_value`]): a string
    /// as itself, every other type with its name (`42 (uint)`, `0x00ff
    /// (binary)`, `x-opt (symbol)`, `["a", 1 (int)] (list)`), `null`.
    /// Fields whose type the spec fixes print plain (`content-type`
    /// `text/plain`, `creation-time` as RFC 3339 UTC, `user-id` as `0x…`).
    Amqp {
        /// `data` (`data xN` for N > 1 Data sections), `amqp-value <type>`
        /// (`amqp-value uint`), `amqp-sequence xN` or `none`.
        body_section: String,
        /// The header section's fields (`durable`, `priority`,
        /// `delivery-count`, `ttl`, `first-acquirer`), when present.
        header: Vec<(String, String)>,
        /// Properties that are set (`message-id`, `content-type`, ...).
        properties: Vec<(String, String)>,
        /// Application properties, in order.
        application_properties: Vec<(String, String)>,
        /// Message annotations, in order (keys as symbols print).
        annotations: Vec<(String, String)>,
    },
}

impl Default for Proto {
    fn default() -> Self {
        Proto::Amqp {
            body_section: "none".into(),
            header: Vec::new(),
            properties: Vec::new(),
            application_properties: Vec::new(),
            annotations: Vec::new(),
        }
    }
}

/// Kafka's timestamp types (librdkafka's `CreateTime` / `LogAppendTime`;
/// serialized under those names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the record.
    LogAppendTime,
}

/// What the injector puts on a probe besides the envelope: AMQP
/// properties, application properties and message annotations
/// (`--content-type`, `--property`, `--annotation`, or the UI's composer),
/// and a user payload that overrides `--payload-file`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Inject {
    /// The `content-type` property (default `application/json`).
    pub content_type: String,
    /// Application properties (string values), in order.
    pub properties: Vec<(String, String)>,
    /// Message annotations (symbol keys, string values), in order.
    pub annotations: Vec<(String, String)>,
    /// Embedded as the probe's `payload` instead of `--payload-file`'s.
    pub payload: Option<serde_json::Value>,
}

impl Default for Inject {
    fn default() -> Self {
        Inject {
            content_type: "application/json".into(),
            properties: Vec::new(),
            annotations: Vec::new(),
            payload: None,
        }
    }
}

/// How long before a paced probe's due time the sender stops sleeping on
/// tokio's millisecond timer and finishes on the OS's ([`SendRequest::wait_due`]).
const COARSE: Duration = Duration::from_millis(3);

/// A request to the publisher: send probes with these seqs for `run`.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub run: String,
    pub seqs: Range<u64>,
    /// Messages per second; `None` (or 0) = as fast as the link allows.
    /// Probe `seq` is due at `start + (seq - seqs.start) / rate`, where
    /// `start` is when the publisher takes the request.
    pub rate: Option<f64>,
    /// Metadata and payload of every probe of this request.
    pub inject: std::sync::Arc<Inject>,
    /// Cancelled when the run this request belongs to ends (the UI's `r`):
    /// the publisher sends none of its remaining seqs.
    pub stop: tokio_util::sync::CancellationToken,
}

impl SendRequest {
    /// When probe `seq` is due, with the request taken at `start`: `None`
    /// when unpaced (send at once).
    pub fn due(&self, start: Instant, seq: u64) -> Option<Instant> {
        self.rate
            .filter(|r| *r > 0.0)
            .map(|r| start + Duration::from_secs_f64((seq - self.seqs.start) as f64 / r))
    }

    /// The body options of this request: `base` (`--payload-size`,
    /// `--payload-file`) with the request's own payload, if any, instead.
    pub fn body_options(&self, base: &BodyOptions) -> BodyOptions {
        BodyOptions {
            size: base.size,
            payload: self.inject.payload.clone().or_else(|| base.payload.clone()),
        }
    }

    /// Waits until probe `seq` is due (with the request taken at `start`)
    /// and returns when it was due (`Some(None)`: unpaced); `None` when the
    /// request was stopped before or while waiting ([`Self::stop`]).
    pub async fn wait_due(&self, start: Instant, seq: u64) -> Option<Option<Instant>> {
        if self.stop.is_cancelled() {
            return None;
        }
        let intended = self.due(start, seq);
        if let Some(due) = intended {
            // tokio's timer counts whole milliseconds and fires 1–2 ms late
            // (measured: sender lag p50 1.6 ms at 200 msg/s), which would
            // count as latency: sleep on it until COARSE before the due
            // time, then the rest on a blocking thread (the OS's timer,
            // ~60 µs late)
            if let Some(coarse) = due.checked_sub(COARSE).filter(|c| *c > Instant::now()) {
                tokio::select! {
                    _ = self.stop.cancelled() => return None,
                    _ = tokio::time::sleep_until(coarse.into()) => {}
                }
            }
            let rest = due.saturating_duration_since(Instant::now());
            if !rest.is_zero() {
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
            }
        }
        Some(intended)
    }

    /// Reports probe `seq` as [`Event::Sent`] now (the instant it returns),
    /// due at `intended`.
    pub async fn mark_sent(
        &self,
        seq: u64,
        intended: Option<Instant>,
        events: &tokio::sync::mpsc::Sender<Event>,
    ) -> Instant {
        let at = Instant::now();
        let _ = events
            .send(Event::Sent {
                run: self.run.clone(),
                seq,
                at,
                intended,
            })
            .await;
        at
    }

    /// A request without a rate.
    pub fn unpaced(run: &str, seqs: Range<u64>) -> Self {
        SendRequest {
            run: run.to_owned(),
            seqs,
            rate: None,
            inject: Default::default(),
            stop: Default::default(),
        }
    }
}

/// What goes into every probe body besides the envelope fields.
#[derive(Debug, Clone, Default)]
pub struct BodyOptions {
    /// Pad the body with `x`s to about this many bytes (`--payload-size`).
    pub size: Option<usize>,
    /// User JSON embedded as `payload` (`--payload-file`).
    pub payload: Option<serde_json::Value>,
}

/// Fails every probe of `req` at once (`Failed`, "not connected: {error}"),
/// so a request made while a link is down is counted, not lost.
pub async fn fail_request(
    req: &SendRequest,
    error: &str,
    events: &tokio::sync::mpsc::Sender<Event>,
) {
    for seq in req.seqs.clone() {
        let _ = events
            .send(Event::Failed {
                run: req.run.clone(),
                seq,
                error: format!("not connected: {error}"),
            })
            .await;
    }
}

/// Waits `delay` while an injector's link is down, failing every request
/// that arrives meanwhile ([`fail_request`]); used by both injectors'
/// [`crate::retry::Reconnect::wait`].
pub async fn fail_requests_for(
    delay: Duration,
    requests: &mut tokio::sync::mpsc::Receiver<SendRequest>,
    error: &str,
    events: &tokio::sync::mpsc::Sender<Event>,
) {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            Some(req) = requests.recv() => fail_request(&req, error, events).await,
        }
    }
}
