//! RabbitMQ through its management HTTP API (plugin `rabbitmq_management`,
//! `http://localhost:15672` by default): where an AMQP 1.0 address routes
//! to, and what the queues there hold.
//!
//! **Routing.** [`parse_address`] reads an address the way RabbitMQ 3.10's
//! AMQP 1.0 plugin reads a link *target* (its README, "Routing and
//! Addressing"): a bare `Q` or `/queue/Q` or `/amq/queue/Q` publishes to the
//! default exchange with routing key `Q` (the queue `Q`); `/exchange/X/K`
//! to exchange `X` with key `K`; `/exchange/X` to `X` with each message's
//! `subject` as the key; `/topic/K` to `amq.topic` with key `K`. `%2F` in a
//! part stands for `/`. [`resolve`] then follows the exchange's bindings
//! (`/api/exchanges/{vhost}/{X}/bindings/source`) as the exchange type
//! does: direct = the exact key, fanout = every binding, topic = the
//! pattern (`*` one word, `#` zero or more, [`topic_matches`]),
//! exchange-to-exchange bindings and an `alternate-exchange` followed;
//! headers (and plugin types) are "unknown".
//!
//! Seen on 3.10.8 (with qpid-proton): a message without `subject` sent to
//! `/exchange/amq.direct` reaches no queue (not even one bound with key
//! `""`), reaches every queue of a fanout exchange, and makes the broker
//! close the session when the exchange is a topic exchange; an unroutable
//! message is still settled `accepted`. So an address without a key is
//! routed only for fanout exchanges, "unknown" otherwise.
//!
//! **What RabbitMQ 3.10 shows of an AMQP 1.0 receiver** (checked with two
//! qpid-proton receivers, one granting no credit, one 100; `/api/consumers`
//! and `rabbitmqctl list_consumers` agree): `prefetch_count` is 65535 for
//! both, the argument `x-credit` is `{"credit": 0, "drain": false}` for
//! both (the credit the plugin consumed with, not the link's live credit),
//! `ack_required` true, `active` true, and the consumer tag is `ctag-`
//! followed by 4 raw bytes (the link handle). **The link credit is not
//! exposed.** What does tell a starved consumer apart: the queue's
//! `consumer_capacity` (≈0 for the no-credit receiver with 5 messages
//! ready, ≈1 for the other), and messages ready with consumers attached
//! while the `deliver_get` counter stays still: [`QueueView::undelivered_for_s`].
//! The management API's figures are as old as the broker's
//! `collect_statistics_interval` (5 s by default; the local stack sets 1 s).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Timeout of one HTTP request to the management API.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(3);
/// Most queues of one address whose figures are fetched per snapshot (an
/// exchange may be bound to many); the rest are counted in
/// [`AddressView::queues_not_shown`].
pub const MAX_QUEUES: usize = 16;
/// Most exchanges followed through exchange-to-exchange bindings and
/// alternate exchanges for one address.
const MAX_EXCHANGES: usize = 16;

/// Where a link target sends messages, as RabbitMQ 3.10's AMQP 1.0 plugin
/// reads the address (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The default exchange with routing key `name`, i.e. the queue `name`.
    /// `declared_on_attach`: attaching a sender declares the queue (bare
    /// `Q` and `/queue/Q`); `/amq/queue/Q` must name an existing queue.
    Queue {
        /// The queue (= routing key on the default exchange).
        name: String,
        /// Whether attaching a sender declares the queue.
        declared_on_attach: bool,
    },
    /// Exchange `exchange` (`""` = the default exchange) with routing key
    /// `key`; `None` = each message's `subject`.
    Exchange {
        /// The exchange name.
        exchange: String,
        /// The routing key; `None` = each message's subject.
        key: Option<String>,
    },
}

/// Parses a link target address (see the module docs).
///
/// Errors: an address RabbitMQ 3.10 refuses (`/exchange/`, `/topic/`,
/// `a/b`, too many parts) or one that is not a queue or exchange
/// (`/temp-queue/…`, `/reply-queue/…`), with the reason.
pub fn parse_address(address: &str) -> Result<Target, String> {
    let parts: Vec<&str> = address.split('/').collect();
    let unknown = || format!("RabbitMQ 3.10 does not accept the address {address:?} as a target");
    match parts.as_slice() {
        [name] => Ok(Target::Queue {
            name: unescape(name),
            declared_on_attach: true,
        }),
        ["", "queue"] => Ok(Target::Exchange {
            exchange: String::new(),
            key: None,
        }),
        ["", "queue", name] if !name.is_empty() => Ok(Target::Queue {
            name: unescape(name),
            declared_on_attach: true,
        }),
        ["", "amq", "queue", name] if !name.is_empty() => Ok(Target::Queue {
            name: unescape(name),
            declared_on_attach: false,
        }),
        ["", "exchange", x] if !x.is_empty() => Ok(Target::Exchange {
            exchange: unescape(x),
            key: None,
        }),
        ["", "exchange", x, key] if !x.is_empty() => Ok(Target::Exchange {
            exchange: unescape(x),
            // an empty key means "the subject", as no key does
            key: (!key.is_empty()).then(|| unescape(key)),
        }),
        ["", "topic", key] if !key.is_empty() => Ok(Target::Exchange {
            exchange: "amq.topic".into(),
            key: Some(unescape(key)),
        }),
        ["", kind @ ("temp-queue" | "reply-queue"), ..] => Err(format!(
            "{address:?}: a /{kind}/ address is a private queue of the link, not watched"
        )),
        _ => Err(unknown()),
    }
}

/// `%2F` stands for `/` inside one part of an address (only that escape).
fn unescape(part: &str) -> String {
    part.replace("%2F", "/")
}

/// Whether routing key `key` matches topic binding `pattern`: words are
/// separated by `.`, `*` matches exactly one word, `#` zero or more. The
/// empty key has no words (so `#` matches it, `*` does not).
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn words(s: &str) -> Vec<&str> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split('.').collect()
        }
    }
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|skip| go(rest, &k[skip..])),
            Some((w, rest)) => match k.split_first() {
                Some((kw, krest)) => (*w == "*" || w == kw) && go(rest, krest),
                None => false,
            },
        }
    }
    go(&words(pattern), &words(key))
}

/// Where an address's messages go.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Route {
    /// Every message is put on each of these queues (sorted).
    Queues {
        /// The exchange published to (`""` = the default exchange).
        exchange: String,
        /// The routing key; `None` = each message's subject.
        key: Option<String>,
        /// Queue names, sorted, each once.
        queues: Vec<String>,
    },
    /// Messages reach no queue: RabbitMQ still accepts them, then drops them.
    NoQueue {
        /// The exchange published to (`""` = the default exchange).
        exchange: String,
        /// The routing key; `None` = each message's subject.
        key: Option<String>,
        /// e.g. `no binding of amq.direct matches key "nowhere"`.
        why: String,
    },
    /// The broker view cannot tell (headers exchange, key from the
    /// subject, an address RabbitMQ refuses, ...).
    Unknown {
        /// Why, one line.
        reason: String,
    },
}

impl Route {
    /// The queues messages go to (empty unless [`Route::Queues`]).
    pub fn queues(&self) -> &[String] {
        match self {
            Route::Queues { queues, .. } => queues,
            _ => &[],
        }
    }
}

/// One binding as `/api/exchanges/{vhost}/{X}/bindings/source` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Binding {
    /// The queue or exchange bound.
    pub destination: String,
    /// `queue` or `exchange`.
    pub destination_type: String,
    /// The binding key (a pattern for topic exchanges).
    #[serde(default)]
    pub routing_key: String,
}

/// Whether a binding with `binding_key` on an exchange of type `kind`
/// takes a message with routing key `key` (`None` = the message's
/// subject, whatever it is). `Err` = the view cannot tell, with why.
pub fn binding_takes(kind: &str, binding_key: &str, key: Option<&str>) -> Result<bool, String> {
    match (kind, key) {
        ("fanout", _) => Ok(true),
        ("direct", Some(k)) => Ok(k == binding_key),
        ("topic", Some(k)) => Ok(topic_matches(binding_key, k)),
        ("direct" | "topic", None) => Err(
            "the routing key is each message's subject (the address names no key); \
             a message without one reaches no queue"
                .into(),
        ),
        ("headers", _) => Err("a headers exchange routes on message headers".into()),
        (other, _) => Err(format!("exchange type {other}: routing not modelled")),
    }
}

/// A GET on the management API: `Ok(None)` = 404 (no such object).
pub trait Fetch {
    /// `path` starts with `/api/`, its parts already percent-encoded.
    fn get(&self, path: &str) -> Result<Option<Value>, ApiError>;
}

/// Everything but RFC 3986's unreserved characters is escaped in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `name` as one percent-encoded path segment (vhost `/` → `%2F`).
pub fn seg(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// Follows `target` through the broker's exchanges and bindings (see the
/// module docs) to the queues it puts messages on.
///
/// Errors: only when the API cannot be asked (unreachable, refused login,
/// malformed answer); everything the broker answers becomes a [`Route`].
pub fn resolve(api: &dyn Fetch, vhost: &str, target: &Target) -> Result<Route, ApiError> {
    let (exchange, key) = match target {
        Target::Queue {
            name,
            declared_on_attach,
        } => {
            let exists = api
                .get(&format!("/api/queues/{}/{}", seg(vhost), seg(name)))?
                .is_some();
            return Ok(if exists {
                Route::Queues {
                    exchange: String::new(),
                    key: Some(name.clone()),
                    queues: vec![name.clone()],
                }
            } else {
                Route::NoQueue {
                    exchange: String::new(),
                    key: Some(name.clone()),
                    why: if *declared_on_attach {
                        format!(
                            "queue {name:?} does not exist (yet: attaching a sender to the address declares it)"
                        )
                    } else {
                        format!("queue {name:?} does not exist (/amq/queue/ never declares it)")
                    },
                }
            });
        }
        Target::Exchange { exchange, key } => (exchange.clone(), key.clone()),
    };
    if exchange.is_empty() {
        // `/queue` without a name: the default exchange, key = subject
        return Ok(Route::Unknown {
            reason: "the address /queue routes each message to the queue named by its subject"
                .into(),
        });
    }
    let mut queues = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![exchange.clone()];
    let mut missing = None;
    while let Some(x) = todo.pop() {
        if !seen.insert(x.clone()) {
            continue;
        }
        if seen.len() > MAX_EXCHANGES {
            return Ok(Route::Unknown {
                reason: format!("more than {MAX_EXCHANGES} exchanges chained from {exchange}"),
            });
        }
        let path = format!("/api/exchanges/{}/{}", seg(vhost), seg(&x));
        let Some(info) = api.get(&path)? else {
            if x == exchange {
                missing = Some(format!("exchange {x:?} does not exist"));
            }
            continue;
        };
        let kind = info["type"].as_str().unwrap_or("").to_owned();
        let bindings: Vec<Binding> = match api.get(&format!("{path}/bindings/source"))? {
            Some(v) => serde_json::from_value(v).map_err(|e| ApiError::Decode {
                what: format!("bindings of {x}"),
                error: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let mut routed_here = false;
        for b in &bindings {
            match binding_takes(&kind, &b.routing_key, key.as_deref()) {
                Ok(false) => {}
                Ok(true) => {
                    routed_here = true;
                    if b.destination_type == "exchange" {
                        todo.push(b.destination.clone());
                    } else {
                        queues.insert(b.destination.clone());
                    }
                }
                Err(reason) => {
                    return Ok(Route::Unknown {
                        reason: format!("{x} ({kind}): {reason}"),
                    });
                }
            }
        }
        if !routed_here {
            if let Some(alt) = info["arguments"]["alternate-exchange"].as_str() {
                todo.push(alt.to_owned());
            }
        }
    }
    Ok(if queues.is_empty() {
        Route::NoQueue {
            why: missing.unwrap_or_else(|| match &key {
                Some(k) => format!("no binding of {exchange} matches key {k:?}"),
                None => format!("{exchange} has no binding"),
            }),
            exchange,
            key,
        }
    } else {
        Route::Queues {
            exchange,
            key,
            queues: queues.into_iter().collect(),
        }
    })
}

/// Messages per second over RabbitMQ's last sample interval, when the
/// queue has `message_stats` for it (absent until the first such message).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Published into the queue.
    pub publish: Option<f64>,
    /// Delivered to consumers plus fetched by basic.get.
    pub deliver_get: Option<f64>,
    /// Acknowledged by consumers (AMQP 1.0: settled `accepted`).
    pub ack: Option<f64>,
}

/// Counters since the queue was created (same presence rules as [`Rates`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Messages published into the queue.
    pub publish: Option<u64>,
    /// Messages delivered to consumers or fetched (basic.get).
    pub deliver_get: Option<u64>,
    /// Messages acknowledged.
    pub ack: Option<u64>,
    /// Deliveries that were redeliveries.
    pub redeliver: Option<u64>,
}

/// One consumer of a queue as RabbitMQ shows it (`consumer_details`).
/// For an AMQP 1.0 receiver (3.10) `prefetch_count` is always 65535 and
/// `x_credit` always 0: neither is the link's credit (module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerView {
    /// The consumer tag, raw: AMQP 1.0 tags hold control bytes
    /// (`ctag-\0\0\0\x01`): escape before showing.
    pub tag: String,
    /// Unacknowledged deliveries allowed (AMQP 0-9-1 `basic.qos`). Left out
    /// of reports, like `x_credit`: RabbitMQ gives 65535 for every AMQP 1.0
    /// receiver, which reads like a credit and is none.
    #[serde(skip)]
    pub prefetch_count: Option<u64>,
    /// The `credit` of the consumer's `x-credit` argument: the credit it
    /// consumed with (AMQP 1.0 consumers), not its live credit.
    #[serde(skip)]
    pub x_credit: Option<u64>,
    /// Whether deliveries wait for an acknowledgement (AMQP 1.0: the link
    /// is not pre-settled).
    pub ack_required: Option<bool>,
    /// Whether the queue delivers to it (false: a waiting single-active consumer).
    pub active: Option<bool>,
    /// `up`, `waiting` (single active consumer), ...
    pub activity_status: Option<String>,
    /// The channel, e.g. `127.0.0.1:38032 -> 127.0.0.1:5672 (1)`; an AMQP
    /// 1.0 session shows as a channel.
    pub channel: Option<String>,
    /// The connection, e.g. `127.0.0.1:38032 -> 127.0.0.1:5672`.
    pub connection: Option<String>,
}

/// What a queue holds and who reads it (`/api/queues/{vhost}/{name}`).
/// Figures are `None` until RabbitMQ has emitted statistics for the queue
/// (a queue declared less than a statistics interval ago has none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView {
    /// The queue name.
    pub name: String,
    /// `classic`, `quorum` or `stream`.
    pub kind: Option<String>,
    /// `running`, `idle`, ...
    pub state: Option<String>,
    /// Waiting to be delivered.
    pub messages_ready: Option<u64>,
    /// Delivered, not yet acknowledged.
    pub messages_unacknowledged: Option<u64>,
    /// Attached consumers (AMQP 1.0 receivers count).
    pub consumers: Option<u64>,
    /// Fraction (0–1) of time the queue could hand messages to its
    /// consumers at once; near 0 with messages ready = consumers are not
    /// taking them (no credit, prefetch full). A moving average: it takes
    /// seconds to fall (≈0.57 after 3 s of a credit-less receiver).
    pub consumer_capacity: Option<f64>,
    /// Messages per second.
    pub rates: Rates,
    /// Counters since the queue was created.
    pub totals: Totals,
    /// Seconds during which the queue has had messages ready and at least
    /// one consumer while its `deliver_get` counter did not move (measured
    /// across this process's snapshots; `None` when not in that state).
    /// Counters are as old as the statistics interval, so judge N s with
    /// N above it.
    pub undelivered_for_s: Option<f64>,
    /// Messages acknowledged per second, from the `ack` counter across this
    /// process's snapshots of the last [`ACK_WINDOW`] (at least 2 s of them;
    /// `None` before that). Steadier than `rates.ack`, RabbitMQ's rate over
    /// one statistics interval, which reads 0 between batched settlements.
    pub acked_per_s: Option<f64>,
    /// Seconds since the `ack` counter last moved, across this process's
    /// snapshots (`None` until it is known; 0 when it just moved). As old
    /// as the statistics interval, like [`QueueView::undelivered_for_s`].
    pub acks_still_for_s: Option<f64>,
    /// The shortest time seen between two moves of the `ack` counter, in
    /// seconds: RabbitMQ's statistics step as this queue shows it (1 s on
    /// the local stack, 5 s by default); `None` before two moves.
    pub ack_step_s: Option<f64>,
    /// Every consumer attached.
    pub consumer_details: Vec<ConsumerView>,
}

impl QueueView {
    /// Reads a queue object of the management API. Missing or mistyped
    /// fields become `None` (shapes differ between queue types and versions).
    pub fn from_json(v: &Value) -> QueueView {
        let u = |v: &Value| v.as_u64();
        let stats = &v["message_stats"];
        let rate = |k: &str| stats[format!("{k}_details")]["rate"].as_f64();
        let consumers = v["consumer_details"]
            .as_array()
            .map(|a| a.iter().map(consumer_view).collect())
            .unwrap_or_default();
        QueueView {
            name: v["name"].as_str().unwrap_or("").to_owned(),
            kind: v["type"].as_str().map(str::to_owned),
            state: v["state"].as_str().map(str::to_owned),
            messages_ready: u(&v["messages_ready"]),
            messages_unacknowledged: u(&v["messages_unacknowledged"]),
            consumers: u(&v["consumers"]),
            consumer_capacity: v["consumer_capacity"].as_f64(),
            rates: Rates {
                publish: rate("publish"),
                deliver_get: rate("deliver_get"),
                ack: rate("ack"),
            },
            totals: Totals {
                publish: u(&stats["publish"]),
                deliver_get: u(&stats["deliver_get"]),
                ack: u(&stats["ack"]),
                redeliver: u(&stats["redeliver"]),
            },
            undelivered_for_s: None,
            acked_per_s: None,
            acks_still_for_s: None,
            ack_step_s: None,
            consumer_details: consumers,
        }
    }

    /// Whether the queue has had messages ready and a consumer, with
    /// nothing delivered, for at least `n`.
    pub fn stalled(&self, n: Duration) -> bool {
        self.undelivered_for_s.is_some_and(|s| s >= n.as_secs_f64())
    }
}

/// One entry of `consumer_details` or `/api/consumers`.
pub fn consumer_view(c: &Value) -> ConsumerView {
    // `channel_details` is an object, or `[]` once the channel is gone
    let ch = &c["channel_details"];
    ConsumerView {
        tag: c["consumer_tag"].as_str().unwrap_or("").to_owned(),
        prefetch_count: c["prefetch_count"].as_u64(),
        x_credit: c["arguments"]["x-credit"]["credit"].as_u64(),
        ack_required: c["ack_required"].as_bool(),
        active: c["active"].as_bool(),
        activity_status: c["activity_status"].as_str().map(str::to_owned),
        channel: ch["name"].as_str().map(str::to_owned),
        connection: ch["connection_name"].as_str().map(str::to_owned),
    }
}

/// What the broker view knows about one AMQP address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressView {
    /// The AMQP 1.0 address as configured.
    pub address: String,
    /// The RabbitMQ virtual host asked.
    pub vhost: String,
    /// Where its messages go.
    pub route: Route,
    /// The figures of the queues of [`Route::Queues`] (at most
    /// [`MAX_QUEUES`], in the route's order; a queue deleted meanwhile is left out).
    pub queues: Vec<QueueView>,
    /// Queues of the route whose figures were not fetched.
    pub queues_not_shown: usize,
}

/// Routes `address` and fetches its queues' figures (blocking).
///
/// Errors: as [`resolve`].
pub fn address_view(api: &dyn Fetch, vhost: &str, address: &str) -> Result<AddressView, ApiError> {
    let route = match parse_address(address) {
        Ok(t) => resolve(api, vhost, &t)?,
        Err(reason) => Route::Unknown { reason },
    };
    let names = route.queues();
    let mut queues = Vec::new();
    for name in names.iter().take(MAX_QUEUES) {
        if let Some(v) = api.get(&format!("/api/queues/{}/{}", seg(vhost), seg(name)))? {
            queues.push(QueueView::from_json(&v));
        }
    }
    Ok(AddressView {
        address: address.to_owned(),
        vhost: vhost.to_owned(),
        queues_not_shown: names.len().saturating_sub(MAX_QUEUES),
        route,
        queues,
    })
}

/// Per-queue memory across snapshots, for [`QueueView::undelivered_for_s`].
#[derive(Debug, Default)]
pub struct History {
    queues: HashMap<(String, String), Track>,
}

/// How far back [`QueueView::acked_per_s`] looks.
pub const ACK_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Track {
    deliver_get: Option<u64>,
    /// `(when, ack counter)` of the snapshots of the last [`ACK_WINDOW`].
    acks: std::collections::VecDeque<(Instant, u64)>,
    /// Since when messages have waited for a consumer without a delivery.
    waiting_since: Option<Instant>,
    /// The ack counter and since when it has had that value.
    ack_since: Option<(u64, Instant)>,
    /// The shortest gap seen between two moves of the ack counter.
    ack_step: Option<Duration>,
    seen: Instant,
}

impl History {
    /// Fills `q.undelivered_for_s` from the previous snapshots (`now` = this
    /// snapshot's instant), and remembers `q`.
    pub fn update(&mut self, vhost: &str, q: &mut QueueView, now: Instant) {
        let waiting = q.messages_ready.unwrap_or(0) > 0 && q.consumers.unwrap_or(0) > 0;
        let key = (vhost.to_owned(), q.name.clone());
        let t = self.queues.entry(key).or_insert(Track {
            deliver_get: q.totals.deliver_get,
            acks: Default::default(),
            waiting_since: None,
            ack_since: None,
            ack_step: None,
            seen: now,
        });
        let moved = q.totals.deliver_get != t.deliver_get;
        t.deliver_get = q.totals.deliver_get;
        t.seen = now;
        t.waiting_since = match (waiting, t.waiting_since) {
            (false, _) => None,
            (true, None) => Some(now),
            (true, Some(_)) if moved => Some(now),
            (true, since) => since,
        };
        q.undelivered_for_s = t
            .waiting_since
            .map(|s| now.saturating_duration_since(s).as_secs_f64());
        if let Some(a) = q.totals.ack {
            t.acks.push_back((now, a));
            t.ack_since = match t.ack_since {
                Some((old, since)) if old == a => Some((old, since)),
                Some((_, since)) => {
                    let gap = now.saturating_duration_since(since);
                    t.ack_step = Some(t.ack_step.map_or(gap, |s| s.min(gap)));
                    Some((a, now))
                }
                None => Some((a, now)),
            };
        }
        q.acks_still_for_s = t
            .ack_since
            .map(|(_, since)| now.saturating_duration_since(since).as_secs_f64());
        q.ack_step_s = t.ack_step.map(|d| d.as_secs_f64());
        while t
            .acks
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > ACK_WINDOW)
        {
            t.acks.pop_front();
        }
        q.acked_per_s = match (t.acks.front(), t.acks.back()) {
            (Some((t0, a0)), Some((t1, a1)))
                if t1.saturating_duration_since(*t0) >= Duration::from_secs(2) =>
            {
                Some(
                    a1.saturating_sub(*a0) as f64 / t1.saturating_duration_since(*t0).as_secs_f64(),
                )
            }
            _ => None,
        };
        // forget queues not seen for a while (deleted, no longer routed to)
        self.queues
            .retain(|_, t| now.saturating_duration_since(t.seen) < Duration::from_secs(300));
    }
}

/// Why the management API could not be asked, as one line that names the
/// API's URL (never a password).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Nothing listens there (the URL).
    #[error("{0} refused the connection")]
    Refused(String),
    /// No answer in time (the URL, seconds).
    #[error("{0} did not answer within {1} s")]
    Timeout(String, u64),
    /// The host name does not resolve (the URL).
    #[error("{0}: host not found")]
    HostNotFound(String),
    /// HTTP 401: wrong user or password.
    #[error("{url} did not accept the login of user {user:?} (HTTP 401)")]
    Unauthorized {
        /// The API's URL.
        url: String,
        /// The user name (never the password).
        user: String,
    },
    /// HTTP 403: the user may not use the management API.
    #[error("{url} refused user {user:?} (HTTP 403: it needs the management or monitoring tag)")]
    Forbidden {
        /// The API's URL.
        url: String,
        /// The user name.
        user: String,
    },
    /// Another HTTP status.
    #[error("{url}{path}: HTTP {status}")]
    Status {
        /// The API's URL.
        url: String,
        /// The path asked.
        path: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the JSON expected.
    #[error("{what}: not a management API answer: {error}")]
    Decode {
        /// What was asked.
        what: String,
        /// The parser's message.
        error: String,
    },
    /// Any other transport failure (the URL, the client's message).
    #[error("{0}: {1}")]
    Other(String, String),
}

/// A client of one management API (blocking calls: run them in
/// `tokio::task::spawn_blocking`).
pub struct Api {
    /// `http://host:port[/prefix]`, no user info, no trailing `/`.
    base: String,
    user: String,
    /// `Basic …`; `None` = no user (anonymous).
    auth: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A client of the API at `url` (`http://host:15672`, a path prefix
    /// allowed) logging in as `user`/`password` (Basic auth), or as the
    /// URL's own `user:password@` when it has one.
    ///
    /// Errors: the URL does not parse, is not `http://` (no TLS in this
    /// build), or has no host; the message shows the URL without password.
    pub fn new(url: &str, user: &str, password: &str) -> Result<Api, String> {
        let shown = crate::amqp::redact_url(url);
        let mut u = url::Url::parse(url).map_err(|e| format!("--rabbitmq-api {shown}: {e}"))?;
        match u.scheme() {
            "http" => {}
            "https" => {
                return Err(format!(
                    "--rabbitmq-api {shown}: https:// is not supported yet (this build has no TLS)"
                ));
            }
            s => return Err(format!("--rabbitmq-api {shown}: {s}:// is not http://")),
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(format!("--rabbitmq-api {shown}: no host"));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let (user, password) = if u.username().is_empty() {
            (user.to_owned(), password.to_owned())
        } else {
            (decode(u.username()), decode(u.password().unwrap_or("")))
        };
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        let base = u.as_str().trim_end_matches('/').to_owned();
        let auth = (!user.is_empty()).then(|| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(HTTP_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Ok(Api {
            base,
            user,
            auth,
            agent,
        })
    }

    /// The API's base URL, safe to show.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn io_error(&self, e: &std::io::Error) -> ApiError {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ApiError::Refused(self.base.clone()),
            K::TimedOut | K::WouldBlock => {
                ApiError::Timeout(self.base.clone(), HTTP_TIMEOUT.as_secs())
            }
            _ => ApiError::Other(self.base.clone(), e.to_string()),
        }
    }
}

impl Fetch for Api {
    fn get(&self, path: &str) -> Result<Option<Value>, ApiError> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("accept", "application/json");
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        let mut resp = req.call().map_err(|e| match e {
            ureq::Error::Io(io) => self.io_error(&io),
            ureq::Error::Timeout(_) => ApiError::Timeout(self.base.clone(), HTTP_TIMEOUT.as_secs()),
            ureq::Error::HostNotFound => ApiError::HostNotFound(self.base.clone()),
            ureq::Error::ConnectionFailed => ApiError::Refused(self.base.clone()),
            other => ApiError::Other(self.base.clone(), other.to_string()),
        })?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .read_json::<Value>()
                .map(Some)
                .map_err(|e| ApiError::Decode {
                    what: format!("{}{path}", self.base),
                    error: e.to_string(),
                }),
            404 => Ok(None),
            401 => Err(ApiError::Unauthorized {
                url: self.base.clone(),
                user: self.user.clone(),
            }),
            403 => Err(ApiError::Forbidden {
                url: self.base.clone(),
                user: self.user.clone(),
            }),
            status => Err(ApiError::Status {
                url: self.base.clone(),
                path: path.to_owned(),
                status,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/broker/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn addresses_parse_as_the_amqp_1_0_plugin_reads_targets() {
        let q = |n: &str, d| {
            Ok(Target::Queue {
                name: n.into(),
                declared_on_attach: d,
            })
        };
        let x = |e: &str, k: Option<&str>| {
            Ok(Target::Exchange {
                exchange: e.into(),
                key: k.map(Into::into),
            })
        };
        assert_eq!(parse_address("FOO"), q("FOO", true));
        assert_eq!(parse_address("EXTERNAL"), q("EXTERNAL", true));
        assert_eq!(parse_address("a%2Fb"), q("a/b", true));
        assert_eq!(parse_address("/queue/Q"), q("Q", true));
        assert_eq!(parse_address("/amq/queue/Q"), q("Q", false));
        assert_eq!(parse_address("/queue"), x("", None));
        assert_eq!(parse_address("/exchange/X/K"), x("X", Some("K")));
        assert_eq!(parse_address("/exchange/X/a.b.c"), x("X", Some("a.b.c")));
        assert_eq!(parse_address("/exchange/X"), x("X", None));
        assert_eq!(parse_address("/exchange/X/"), x("X", None));
        assert_eq!(
            parse_address("/exchange/my%2Fx/k%2F1"),
            x("my/x", Some("k/1"))
        );
        assert_eq!(
            parse_address("/topic/orders.eu"),
            x("amq.topic", Some("orders.eu"))
        );
        for bad in [
            "/exchange/",
            "/exchange",
            "/exchange//k",
            "/exchange/X/K/more",
            "/topic/",
            "/topic",
            "/queue/",
            "/amq/queue/",
            "/amq/queue",
            "a/b",
            "/unknown/x",
            "/queue/a/b",
        ] {
            assert!(parse_address(bad).is_err(), "{bad} must not parse");
        }
        assert!(
            parse_address("/temp-queue/t")
                .unwrap_err()
                .contains("temp-queue")
        );
    }

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        let yes = [
            ("a.b.c", "a.b.c"),
            ("*.b.c", "a.b.c"),
            ("a.*.c", "a.x.c"),
            ("#", ""),
            ("#", "a"),
            ("#", "a.b.c"),
            ("a.#", "a"),
            ("a.#", "a.b.c"),
            ("#.c", "c"),
            ("#.c", "a.b.c"),
            ("a.#.c", "a.c"),
            ("a.#.c", "a.b.b.c"),
            ("#.#", "a"),
            ("*.#", "a"),
            ("", ""),
            ("a..b", "a..b"),
            ("a.*.b", "a..b"),
        ];
        for (p, k) in yes {
            assert!(topic_matches(p, k), "{p} should match {k:?}");
        }
        let no = [
            ("*", ""),
            ("a.b", "a.b.c"),
            ("a.*", "a"),
            ("a.*", "a.b.c"),
            ("*.*", "a"),
            ("a.#.c", "a.b.d"),
            ("#.c", "c.d"),
            ("", "a"),
            ("a", ""),
            ("orders.*.eu", "orders.eu"),
        ];
        for (p, k) in no {
            assert!(!topic_matches(p, k), "{p} should not match {k:?}");
        }
    }

    #[test]
    fn a_recorded_queue_with_a_credit_less_amqp_1_0_receiver() {
        let q = QueueView::from_json(&fixture("queue_credit0.json"));
        assert_eq!(q.name, "cq0");
        assert_eq!(
            (q.messages_ready, q.messages_unacknowledged, q.consumers),
            (Some(5), Some(0), Some(1))
        );
        assert!(q.consumer_capacity.unwrap() < 0.01);
        assert_eq!(q.totals.publish, Some(5));
        assert_eq!(q.totals.deliver_get, None, "never delivered: no counter");
        assert_eq!(q.rates.publish, Some(0.0));
        let c = &q.consumer_details[0];
        assert_eq!(c.tag, "ctag-\0\0\0\0");
        assert_eq!(
            (c.prefetch_count, c.x_credit, c.ack_required, c.active),
            (Some(65535), Some(0), Some(true), Some(true))
        );
        assert_eq!(
            c.connection.as_deref(),
            Some("127.0.0.1:38032 -> 127.0.0.1:5672")
        );
        assert_eq!(
            c.channel.as_deref(),
            Some("127.0.0.1:38032 -> 127.0.0.1:5672 (1)")
        );

        let q = QueueView::from_json(&fixture("queue_credit100.json"));
        assert_eq!(
            (q.messages_ready, q.messages_unacknowledged, q.consumers),
            (Some(0), Some(5), Some(1))
        );
        assert_eq!((q.totals.deliver_get, q.totals.ack), (Some(5), Some(0)));
        assert!(q.consumer_capacity.unwrap() > 0.99);
        // the same figures as the credit-less receiver: credit is not exposed
        assert_eq!(q.consumer_details[0].prefetch_count, Some(65535));
        assert_eq!(q.consumer_details[0].x_credit, Some(0));
    }

    #[test]
    fn recorded_consumers_and_figure_less_queues() {
        let v = fixture("consumers_amqp10.json");
        let cs: Vec<ConsumerView> = v.as_array().unwrap().iter().map(consumer_view).collect();
        assert_eq!(cs.len(), 2);
        assert!(
            cs.iter()
                .all(|c| c.x_credit == Some(0) && c.prefetch_count == Some(65535))
        );
        for f in ["queue_fresh.json", "queue_quorum.json"] {
            let q = QueueView::from_json(&fixture(f));
            assert_eq!(q.totals, Totals::default(), "{f}");
            assert!(q.consumer_details.is_empty());
        }
        let fresh = QueueView::from_json(&fixture("queue_fresh.json"));
        assert_eq!((fresh.messages_ready, fresh.consumers), (None, None));
        let quorum = QueueView::from_json(&fixture("queue_quorum.json"));
        assert_eq!(quorum.kind.as_deref(), Some("quorum"));
        assert_eq!(
            (quorum.messages_ready, quorum.consumers),
            (Some(0), Some(0))
        );
        // a consumer whose channel is gone shows `channel_details: []`
        let gone = consumer_view(&serde_json::json!({"consumer_tag": "t", "channel_details": []}));
        assert_eq!((gone.channel, gone.connection), (None, None));
    }

    /// The management API as a map of paths to recorded answers.
    struct Fake(HashMap<String, Value>);
    impl Fetch for Fake {
        fn get(&self, path: &str) -> Result<Option<Value>, ApiError> {
            Ok(self.0.get(path).cloned())
        }
    }

    fn fake() -> Fake {
        let mut m = HashMap::new();
        let ex = |name: &str, kind: &str| serde_json::json!({"name": name, "type": kind, "arguments": {}});
        m.insert(
            "/api/exchanges/%2F/amq.topic".into(),
            fixture("exchange_amq_topic.json"),
        );
        m.insert(
            "/api/exchanges/%2F/amq.topic/bindings/source".into(),
            fixture("bindings_amq_topic.json"),
        );
        m.insert(
            "/api/exchanges/%2F/amq.direct".into(),
            ex("amq.direct", "direct"),
        );
        m.insert(
            "/api/exchanges/%2F/amq.direct/bindings/source".into(),
            serde_json::json!([
                {"destination": "q1", "destination_type": "queue", "routing_key": "k"},
                {"destination": "q2", "destination_type": "queue", "routing_key": "k"},
                {"destination": "q3", "destination_type": "queue", "routing_key": "other"},
                {"destination": "fan", "destination_type": "exchange", "routing_key": "k"}
            ]),
        );
        m.insert("/api/exchanges/%2F/fan".into(), ex("fan", "fanout"));
        m.insert(
            "/api/exchanges/%2F/fan/bindings/source".into(),
            serde_json::json!([{"destination": "f1", "destination_type": "queue", "routing_key": "x"}]),
        );
        m.insert("/api/exchanges/%2F/h".into(), ex("h", "headers"));
        m.insert(
            "/api/exchanges/%2F/h/bindings/source".into(),
            serde_json::json!([{"destination": "f1", "destination_type": "queue", "routing_key": ""}]),
        );
        m.insert(
            "/api/exchanges/%2F/withalt".into(),
            serde_json::json!({"name": "withalt", "type": "direct", "arguments": {"alternate-exchange": "fan"}}),
        );
        m.insert("/api/queues/%2F/FOO".into(), fixture("queue_credit0.json"));
        Fake(m)
    }

    #[test]
    fn routes_follow_recorded_bindings() {
        let api = fake();
        let route = |a: &str| resolve(&api, "/", &parse_address(a).unwrap()).unwrap();
        assert_eq!(route("/topic/orders.x.eu").queues(), ["tq1"]);
        assert!(matches!(route("/topic/orders.eu"), Route::NoQueue { .. }));
        // direct: exact key; the exchange-to-exchange binding is followed
        assert_eq!(route("/exchange/amq.direct/k").queues(), ["f1", "q1", "q2"]);
        assert_eq!(route("/exchange/amq.direct/other").queues(), ["q3"]);
        let Route::NoQueue { exchange, key, why } = route("/exchange/amq.direct/nowhere") else {
            panic!("no queue expected")
        };
        assert_eq!(
            (exchange.as_str(), key.as_deref()),
            ("amq.direct", Some("nowhere"))
        );
        assert!(why.contains("nowhere"), "{why}");
        // fanout: every binding, whatever the key (or none)
        assert_eq!(route("/exchange/fan").queues(), ["f1"]);
        assert_eq!(route("/exchange/fan/zzz").queues(), ["f1"]);
        // no key on a direct exchange: it depends on each message's subject
        assert!(matches!(
            route("/exchange/amq.direct"),
            Route::Unknown { .. }
        ));
        let Route::Unknown { reason } = route("/exchange/h/k") else {
            panic!("headers: unknown")
        };
        assert!(reason.contains("headers"), "{reason}");
        // unroutable on withalt goes to its alternate exchange
        assert_eq!(route("/exchange/withalt/k").queues(), ["f1"]);
        let Route::NoQueue { why, .. } = route("/exchange/missing/k") else {
            panic!()
        };
        assert!(why.contains("does not exist"), "{why}");
        // queues: the default exchange
        assert_eq!(route("FOO").queues(), ["FOO"]);
        let Route::NoQueue { why, .. } = route("BAR") else {
            panic!()
        };
        assert!(why.contains("declares it"), "{why}");
        let Route::NoQueue { why, .. } = route("/amq/queue/BAR") else {
            panic!()
        };
        assert!(why.contains("never declares"), "{why}");
        // the whole view: route + figures
        let v = address_view(&api, "/", "FOO").unwrap();
        assert_eq!(v.queues.len(), 1);
        assert_eq!(v.queues[0].messages_ready, Some(5));
        let v = address_view(&api, "/", "a/b").unwrap();
        assert!(matches!(v.route, Route::Unknown { .. }) && v.queues.is_empty());
    }

    #[test]
    fn undelivered_time_grows_while_ready_messages_wait_for_a_consumer() {
        let mut h = History::default();
        let t0 = Instant::now();
        let mut q = QueueView::from_json(&fixture("queue_credit0.json"));
        h.update("/", &mut q, t0);
        assert_eq!(q.undelivered_for_s, Some(0.0));
        let mut q2 = q.clone();
        h.update("/", &mut q2, t0 + Duration::from_secs(7));
        assert_eq!(q2.undelivered_for_s, Some(7.0));
        assert!(q2.stalled(Duration::from_secs(5)) && !q2.stalled(Duration::from_secs(8)));
        // a delivery resets it
        let mut q3 = q.clone();
        q3.totals.deliver_get = Some(1);
        h.update("/", &mut q3, t0 + Duration::from_secs(8));
        assert_eq!(q3.undelivered_for_s, Some(0.0));
        // nothing ready: not waiting
        let mut q4 = q.clone();
        q4.messages_ready = Some(0);
        h.update("/", &mut q4, t0 + Duration::from_secs(9));
        assert_eq!(q4.undelivered_for_s, None);
    }

    /// The ack rate averages the last 10 s; how long the counter has stood
    /// still tells a stalled stream from a slow one.
    #[test]
    fn the_ack_counter_standing_still_is_timed() {
        let mut h = History::default();
        let t0 = Instant::now();
        let mut q = QueueView::from_json(&fixture("queue_credit0.json"));
        let at = |h: &mut History, q: &QueueView, secs: u64, ack: u64| {
            let mut q = q.clone();
            q.totals.ack = Some(ack);
            h.update("/", &mut q, t0 + Duration::from_secs(secs));
            (q.acked_per_s, q.acks_still_for_s)
        };
        assert_eq!(at(&mut h, &q, 0, 10), (None, Some(0.0)));
        assert_eq!(at(&mut h, &q, 2, 30), (Some(10.0), Some(0.0)));
        // a stall: the average still says 10/s for a while, the counter not
        assert_eq!(at(&mut h, &q, 4, 30), (Some(5.0), Some(2.0)));
        assert_eq!(at(&mut h, &q, 9, 30), (Some(20.0 / 9.0), Some(7.0)));
        q.totals.ack = None;
        h.update("/", &mut q, t0 + Duration::from_secs(10));
        assert_eq!(q.acks_still_for_s, Some(8.0));
        // the counter moves again, 9 s after the last move: the step stays
        // the shortest gap seen, 2 s
        let mut q2 = q.clone();
        q2.totals.ack = Some(31);
        h.update("/", &mut q2, t0 + Duration::from_secs(11));
        assert_eq!(q2.ack_step_s, Some(2.0));
    }

    #[test]
    fn errors_name_the_url_never_the_password() {
        let api = Api::new("http://127.0.0.1:1", "guest", "s3cr3t-pw").unwrap();
        let e = api.get("/api/overview").unwrap_err();
        assert_eq!(e.to_string(), "http://127.0.0.1:1 refused the connection");
        let api = Api::new("http://admin:s3cr3t-pw@127.0.0.1:1/", "guest", "x").unwrap();
        assert_eq!(api.url(), "http://127.0.0.1:1");
        assert!(!format!("{api:?}").contains("s3cr3t"));
        let e = Api::new("https://u:s3cr3t-pw@h:15671", "", "").unwrap_err();
        assert!(e.contains("https") && !e.contains("s3cr3t"), "{e}");
        assert!(Api::new("not a url", "", "").is_err());
    }
}
