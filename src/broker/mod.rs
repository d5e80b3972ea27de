//! The broker view: what the brokers around the stream say about it, so a
//! missing message has a place ("12 ready in queue EXTERNAL, 1 consumer,
//! nothing delivered for 8 s"; "FOO routes to no queue"; "group g is 40
//! records behind on FOO").
//!
//! Every [`POLL_EVERY`] [`run`] takes a [`BrokerSnapshot`]: the source
//! address and every AMQP destination through RabbitMQ's management HTTP
//! API ([`rabbitmq`]: route to queues, queue figures, consumers), every
//! Kafka destination through librdkafka's metadata and group APIs
//! ([`kafka`]: partitions, end offsets, growth, group lag), and sends it as
//! [`Event::Broker`]. When the management API cannot be asked, the
//! snapshot says why in one line ([`BrokerSnapshot::rabbitmq_off`]) and
//! the rest goes on; nothing else of the probe depends on this view.
//!
//! One RabbitMQ is watched: the source's (the `--amqp-url` broker), with
//! the source endpoint's user and password (or the API URL's own
//! `user:password@`), in vhost `/` (streamprobe's AMQP 1.0 connections ask
//! for no other). An AMQP destination on another host is [`Route::Unknown`].

pub mod kafka;
pub mod rabbitmq;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::amqp::AmqpEndpoint;
use crate::event::Event;
use crate::links::{DestKind, Plan, Source};

pub use kafka::{GroupPartition, GroupView, PartitionView, TopicView};
pub use rabbitmq::{AddressView, ApiError, ConsumerView, QueueView, Rates, Route, Target, Totals};

/// `--rabbitmq-api`'s default.
pub const DEFAULT_API: &str = "http://localhost:15672";
/// How often [`run`] takes a snapshot.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// The vhost of every address (see the module docs).
pub const VHOST: &str = "/";

/// What the brokers said at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerSnapshot {
    /// When the snapshot was taken (monotonic; not serialized).
    #[serde(skip)]
    pub at: Instant,
    /// The same moment, wall clock (RFC 3339 in JSON).
    pub wall: DateTime<Utc>,
    /// Why there are no RabbitMQ figures, one line, e.g. `broker view off:
    /// http://localhost:15672 refused the connection`; `None` when the
    /// management API answered.
    pub rabbitmq_off: Option<String>,
    /// The source address (where probes are injected); `None` when
    /// `rabbitmq_off` says why, or when the source is a Kafka topic.
    pub source: Option<AddressView>,
    /// The source topic, when the source is Kafka (`--source kafka:T`, a
    /// stream with a kafka input); absent from JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_topic: Option<TopicView>,
    /// One per destination of the plan, same order; `None` for an AMQP
    /// destination while `rabbitmq_off`.
    pub dests: Vec<Option<DestBrokerView>>,
    /// When the RabbitMQ part was asked for (monotonic; `None` until it
    /// came in). RabbitMQ's own figures are up to its
    /// `collect_statistics_interval` older than this.
    #[serde(skip)]
    pub rabbitmq_at: Option<Instant>,
    /// When the Kafka part was asked for (`None` until it came in).
    #[serde(skip)]
    pub kafka_at: Option<Instant>,
}

/// The broker's side of one destination (or of the source).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DestBrokerView {
    /// An AMQP 1.0 address on RabbitMQ.
    Amqp(AddressView),
    /// A Kafka topic.
    Kafka(TopicView),
}

impl BrokerSnapshot {
    /// Whether both parts (RabbitMQ's and Kafka's) were asked for at or
    /// after `t`: the figures cover what happened before `t`, once RabbitMQ's
    /// statistics interval is added to `t` by the caller.
    pub fn taken_after(&self, t: Instant) -> bool {
        self.rabbitmq_at.is_some_and(|a| a >= t) && self.kafka_at.is_some_and(|a| a >= t)
    }

    /// The source's view, AMQP address or Kafka topic (`None`: unknown).
    pub fn source_view(&self) -> Option<DestBrokerView> {
        self.source
            .clone()
            .map(DestBrokerView::Amqp)
            .or_else(|| self.source_topic.clone().map(DestBrokerView::Kafka))
    }
}

impl DestBrokerView {
    /// One terminal-safe line of figures: `0 ready, 2 unacked, 1 consumer`
    /// (each queue, `queue Q: ...` and `; `-separated when Q is not the
    /// address itself), `routes to no queue (...)`, `end offset 1500
    /// (+20/s), 3 partitions; group g lag 0`, `topic does not exist`. The
    /// caller shows the address or topic.
    pub fn summary(&self) -> String {
        let safe = |s: &str| crate::sanitize::preview(s.as_bytes(), 60);
        let n = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        match self {
            DestBrokerView::Amqp(a) => match &a.route {
                Route::NoQueue { why, .. } => format!("routes to no queue ({})", safe(why)),
                Route::Unknown { reason } => format!("route unknown: {}", safe(reason)),
                Route::Queues { .. } => a
                    .queues
                    .iter()
                    .map(|q| {
                        let c = q.consumers;
                        let name = if q.name == a.address {
                            String::new()
                        } else {
                            format!("queue {}: ", safe(&q.name))
                        };
                        format!(
                            "{name}{} ready, {} unacked, {} consumer{}",
                            n(q.messages_ready),
                            n(q.messages_unacknowledged),
                            n(c),
                            if c == Some(1) { "" } else { "s" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            DestBrokerView::Kafka(t) => {
                if let Some(e) = &t.error {
                    return safe(e);
                }
                if t.exists == Some(false) {
                    return "topic does not exist".into();
                }
                let mut s = format!(
                    "end offset {}{}, {} partition{}",
                    t.end_offset_total(),
                    t.growth_per_s
                        .map_or(String::new(), |g| format!(" (+{g:.0}/s)")),
                    t.partitions.len(),
                    if t.partitions.len() == 1 { "" } else { "s" }
                );
                for g in &t.groups {
                    s.push_str(&format!("; group {} lag {}", safe(&g.group), g.lag));
                }
                s
            }
        }
    }
}

/// What [`run`] watches.
#[derive(Debug, Clone)]
pub struct Config {
    /// The management API's base URL; `None` = the view is off (`--rabbitmq-api off`).
    pub rabbitmq_api: Option<String>,
    /// The AMQP endpoint whose broker the API serves (the source's, or for
    /// a Kafka source the first AMQP destination's): its credentials log in.
    pub source: AmqpEndpoint,
    /// The AMQP address probes are injected into (`None`: a Kafka source).
    pub source_address: Option<String>,
    /// The plan's destinations, same order; for a Kafka source, one more
    /// entry last: the source topic (reported as
    /// [`BrokerSnapshot::source_topic`], not as a destination).
    pub dests: Vec<DestKind>,
    /// Time between snapshots ([`POLL_EVERY`]).
    pub every: Duration,
}

impl Config {
    /// The view of `plan`'s source and destinations through the API at
    /// `rabbitmq_api` (`off`, in any case, or empty = no RabbitMQ view).
    pub fn new(plan: &Plan, rabbitmq_api: &str) -> Config {
        let api = rabbitmq_api.trim();
        let mut dests: Vec<DestKind> = plan.dests.iter().map(|d| d.kind.clone()).collect();
        let first_amqp = plan.dests.iter().find_map(|d| match &d.kind {
            DestKind::Amqp { endpoint, .. } => Some(endpoint.clone()),
            DestKind::Kafka { .. } => None,
        });
        let (login, source_address) = match &plan.source {
            Source::Amqp { endpoint, address } => (Some(endpoint.clone()), Some(address.clone())),
            Source::Kafka { kafka, topic } => {
                dests.push(DestKind::Kafka {
                    kafka: kafka.clone(),
                    topic: topic.clone(),
                });
                (first_amqp, None)
            }
        };
        let on = !api.is_empty() && !api.eq_ignore_ascii_case("off") && login.is_some();
        Config {
            rabbitmq_api: on.then(|| api.to_owned()),
            source: login.unwrap_or_default(),
            source_address,
            dests,
            every: POLL_EVERY,
        }
    }
}

/// `host:port` of an AMQP URL, to tell whether two endpoints are one broker.
fn broker_of(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    Some((u.host_str()?.to_ascii_lowercase(), u.port().unwrap_or(5672)))
}

/// The URL's user and password when it has them, else the endpoint's (as
/// [`crate::amqp::connect`] logs in).
fn credentials(ep: &AmqpEndpoint) -> (String, String) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    match url::Url::parse(&ep.url) {
        Ok(u) if !u.username().is_empty() => {
            (decode(u.username()), decode(u.password().unwrap_or("")))
        }
        _ => (ep.user.clone(), ep.password.clone()),
    }
}

/// The RabbitMQ half: blocking, behind a mutex so it can move into
/// `spawn_blocking` and back.
struct Rabbit {
    api: Result<rabbitmq::Api, String>,
    history: rabbitmq::History,
    /// Whether the API was asked if it serves the source's AMQP port.
    checked: bool,
}

/// `Err(reason)` when the RabbitMQ behind `api` has no listener on the
/// AMQP port of `source` (another broker answers there, e.g. ActiveMQ
/// Artemis): its queue figures would be of other queues of the same name.
/// Unknown listeners (an old API, a proxy) count as a match.
fn same_broker(api: &rabbitmq::Api, source: &str) -> Result<(), String> {
    let Some((host, port)) = broker_of(source) else {
        return Ok(());
    };
    let Ok(Some(o)) = rabbitmq::Fetch::get(api, "/api/overview") else {
        return Ok(());
    };
    let ports: Vec<u64> = o["listeners"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["port"].as_u64()).collect())
        .unwrap_or_default();
    if ports.is_empty() || ports.contains(&u64::from(port)) {
        return Ok(());
    }
    let list: Vec<String> = ports.iter().map(u64::to_string).collect();
    Err(format!(
        "broker view off: the AMQP broker at {host}:{port} is not the RabbitMQ whose management API answers (its listeners: {}); another AMQP 1.0 broker has no RabbitMQ figures",
        list.join(", ")
    ))
}

/// Takes snapshots; keeps what growth and stall figures need between them.
pub struct Poller {
    config: Config,
    rabbit: Arc<Mutex<Rabbit>>,
    /// One watcher per distinct bootstrap list, with the dest indexes it serves.
    kafka: Vec<(Arc<Mutex<kafka::Watcher>>, Vec<usize>)>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("rabbitmq_api", &self.config.rabbitmq_api)
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// A poller of `config`'s brokers (nothing connects before [`Self::poll`]).
    pub fn new(config: Config) -> Poller {
        let api = match &config.rabbitmq_api {
            None => Err("broker view off: --rabbitmq-api off".to_owned()),
            Some(url) => {
                let (user, password) = credentials(&config.source);
                rabbitmq::Api::new(url, &user, &password)
                    .map_err(|e| format!("broker view off: {e}"))
            }
        };
        let mut kafka: Vec<(Arc<Mutex<kafka::Watcher>>, Vec<usize>)> = Vec::new();
        for (i, d) in config.dests.iter().enumerate() {
            if let DestKind::Kafka { kafka: ep, .. } = d {
                match kafka
                    .iter_mut()
                    .find(|(w, _)| w.lock().is_ok_and(|w| w.kafka() == ep))
                {
                    Some((_, idx)) => idx.push(i),
                    None => kafka.push((Arc::new(Mutex::new(kafka::Watcher::new(ep))), vec![i])),
                }
            }
        }
        Poller {
            rabbit: Arc::new(Mutex::new(Rabbit {
                api,
                history: rabbitmq::History::default(),
                checked: false,
            })),
            config,
            kafka,
        }
    }

    /// Takes one snapshot: RabbitMQ and each Kafka cluster asked at once,
    /// each on a blocking thread (a few seconds at most when a broker does
    /// not answer: [`rabbitmq::HTTP_TIMEOUT`], [`kafka::META_TIMEOUT`]).
    pub async fn poll(&mut self) -> BrokerSnapshot {
        let at = Instant::now();
        let wall = Utc::now();
        let n = self.config.dests.len();
        // (dest index, address) of the AMQP destinations on the source's broker
        let source_broker = broker_of(&self.config.source.url);
        let mut amqp = Vec::new();
        let mut elsewhere = Vec::new();
        for (i, d) in self.config.dests.iter().enumerate() {
            if let DestKind::Amqp { endpoint, address } = d {
                if broker_of(&endpoint.url) == source_broker {
                    amqp.push((i, address.clone()));
                } else {
                    elsewhere.push((i, address.clone(), endpoint.display_url()));
                }
            }
        }
        let rabbit = self.rabbit.clone();
        let source_address = self.config.source_address.clone();
        let source_url = self.config.source.url.clone();
        let rmq = tokio::task::spawn_blocking(move || {
            let mut r = rabbit.lock().unwrap_or_else(|e| e.into_inner());
            let Rabbit {
                api,
                history,
                checked,
            } = &mut *r;
            if !*checked {
                if let Ok(a) = api.as_ref() {
                    if let Err(why) = same_broker(a, &source_url) {
                        *api = Err(why);
                    }
                }
                *checked = api.is_ok();
            }
            let api = api.as_ref().map_err(Clone::clone)?;
            let mut view = |address: &str| {
                rabbitmq::address_view(api, VHOST, address).map(|mut v| {
                    for q in &mut v.queues {
                        history.update(VHOST, q, at);
                    }
                    v
                })
            };
            let source = match &source_address {
                Some(a) => Some(view(a).map_err(|e| format!("broker view off: {e}"))?),
                None => None,
            };
            let mut dests = Vec::new();
            for (i, address) in amqp {
                dests.push((
                    i,
                    view(&address).map_err(|e| format!("broker view off: {e}"))?,
                ));
            }
            Ok::<_, String>((source, dests))
        });
        let kafka_jobs: Vec<_> = self
            .kafka
            .iter()
            .map(|(w, idx)| {
                let w = w.clone();
                let topics: Vec<(usize, String)> = idx
                    .iter()
                    .filter_map(|&i| match &self.config.dests[i] {
                        DestKind::Kafka { topic, .. } => Some((i, topic.clone())),
                        _ => None,
                    })
                    .collect();
                tokio::task::spawn_blocking(move || {
                    let names: Vec<String> = topics.iter().map(|(_, t)| t.clone()).collect();
                    let views = w
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .views(&names, at);
                    topics
                        .into_iter()
                        .map(|(i, _)| i)
                        .zip(views)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut dests: Vec<Option<DestBrokerView>> = vec![None; n];
        for job in kafka_jobs {
            if let Ok(views) = job.await {
                for (i, v) in views {
                    dests[i] = Some(DestBrokerView::Kafka(v));
                }
            }
        }
        for (i, address, url) in elsewhere {
            dests[i] = Some(DestBrokerView::Amqp(AddressView {
                address,
                vhost: VHOST.into(),
                route: Route::Unknown {
                    reason: format!(
                        "on {url}, not the broker of the management API ({})",
                        self.config.source.display_url()
                    ),
                },
                queues: Vec::new(),
                queues_not_shown: 0,
            }));
        }
        let (rabbitmq_off, source) = match rmq.await {
            Ok(Ok((source, amqp_dests))) => {
                for (i, v) in amqp_dests {
                    dests[i] = Some(DestBrokerView::Amqp(v));
                }
                (None, source)
            }
            Ok(Err(line)) => (Some(line), None),
            Err(e) => (Some(format!("broker view off: {e}")), None),
        };
        // a Kafka source rides last among the Kafka topics (see Config::dests)
        let source_topic = match self.config.source_address {
            None => dests.pop().flatten().and_then(|v| match v {
                DestBrokerView::Kafka(t) => Some(t),
                DestBrokerView::Amqp(_) => None,
            }),
            Some(_) => None,
        };
        BrokerSnapshot {
            at,
            wall,
            rabbitmq_off,
            source,
            source_topic,
            dests,
            rabbitmq_at: Some(at),
            kafka_at: Some(at),
        }
    }
}

/// Polls every `config.every` and sends each snapshot as [`Event::Broker`]
/// until `cancel` fires or the receiver is gone. A slow broker delays the
/// next snapshot instead of piling them up.
pub async fn run(config: Config, tx: mpsc::Sender<Event>, cancel: CancellationToken) {
    // RabbitMQ and Kafka are polled apart, so a slow one (librdkafka's
    // metadata calls after a Kafka restart take seconds) never makes the
    // other's figures stale; every part that comes in is merged into the
    // newest snapshot, which is sent.
    let kinds = config.dests.clone();
    let every = config.every;
    let mut rabbit_only = Poller::new(config.clone());
    rabbit_only.kafka.clear();
    let mut kafka_only = Poller::new(config);
    kafka_only.rabbit = Arc::new(Mutex::new(Rabbit {
        api: Err(String::new()),
        history: rabbitmq::History::default(),
        checked: true,
    }));
    let (part_tx, mut parts) = mpsc::channel::<(bool, BrokerSnapshot)>(4);
    for (is_rabbit, mut poller) in [(true, rabbit_only), (false, kafka_only)] {
        let (part_tx, cancel) = (part_tx.clone(), cancel.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let snap = tokio::select! {
                    _ = cancel.cancelled() => return,
                    s = poller.poll() => s,
                };
                if part_tx.send((is_rabbit, snap)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(part_tx);
    let mut latest: Option<BrokerSnapshot> = None;
    loop {
        let (is_rabbit, part) = tokio::select! {
            _ = cancel.cancelled() => return,
            p = parts.recv() => match p { Some(p) => p, None => return },
        };
        let at = Some(part.at);
        let mut snap = match latest.take() {
            // the Kafka part alone says nothing about RabbitMQ yet
            None if !is_rabbit => BrokerSnapshot {
                rabbitmq_off: None,
                rabbitmq_at: None,
                ..part
            },
            None => BrokerSnapshot {
                kafka_at: None,
                ..part
            },
            Some(mut cur) => {
                cur.at = part.at;
                cur.wall = part.wall;
                if is_rabbit {
                    cur.rabbitmq_off = part.rabbitmq_off;
                    cur.source = part.source;
                } else {
                    cur.source_topic = part.source_topic;
                }
                for (i, v) in part.dests.into_iter().enumerate() {
                    let mine = matches!(kinds.get(i), Some(DestKind::Amqp { .. })) == is_rabbit;
                    if let (true, Some(slot)) = (mine, cur.dests.get_mut(i)) {
                        *slot = v;
                    }
                }
                cur
            }
        };
        if is_rabbit {
            snap.rabbitmq_at = at;
        } else {
            snap.kafka_at = at;
        }
        latest = Some(snap.clone());
        if tx.send(Event::Broker(Box::new(snap))).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{Dest, Role};

    fn plan(amqp_url: &str) -> Plan {
        let ep = AmqpEndpoint {
            url: amqp_url.into(),
            user: "guest".into(),
            password: "pw-never-shown".into(),
            ..Default::default()
        };
        Plan {
            source: Source::Amqp {
                endpoint: ep.clone(),
                address: "EXTERNAL".into(),
            },
            dests: vec![
                Dest {
                    name: "kafka:FOO".into(),
                    role: Role::Primary,
                    kind: DestKind::Kafka {
                        kafka: crate::kafka::KafkaEndpoint::plain("127.0.0.1:1"),
                        topic: "FOO".into(),
                    },
                },
                Dest {
                    name: "amqp:FOO".into(),
                    role: Role::Primary,
                    kind: DestKind::Amqp {
                        endpoint: ep,
                        address: "FOO".into(),
                    },
                },
                Dest {
                    name: "amqp:DLQ".into(),
                    role: Role::DeadLetter,
                    kind: DestKind::Amqp {
                        endpoint: AmqpEndpoint {
                            url: "amqp://other:5672".into(),
                            ..Default::default()
                        },
                        address: "DLQ".into(),
                    },
                },
            ],
        }
    }

    #[test]
    fn off_means_off() {
        for v in ["off", "OFF", " off ", ""] {
            assert_eq!(Config::new(&plan("amqp://h:5672"), v).rabbitmq_api, None);
        }
        assert_eq!(
            Config::new(&plan("amqp://h:5672"), DEFAULT_API)
                .rabbitmq_api
                .as_deref(),
            Some(DEFAULT_API)
        );
    }

    #[test]
    fn credentials_come_from_the_url_as_the_amqp_client_takes_them() {
        let Source::Amqp {
            endpoint: mut ep, ..
        } = plan("amqp://h").source
        else {
            unreachable!()
        };
        assert_eq!(credentials(&ep), ("guest".into(), "pw-never-shown".into()));
        ep.url = "amqp://bob:p%40ss@h:5672".into();
        assert_eq!(credentials(&ep), ("bob".into(), "p@ss".into()));
        assert_eq!(broker_of("amqp://H:5672"), broker_of("amqp://h"));
    }

    /// With the API and Kafka unreachable, a snapshot still comes, each
    /// part saying why in one line, and no password anywhere in it.
    #[tokio::test]
    async fn unreachable_brokers_give_a_snapshot_that_says_why() {
        let mut cfg = Config::new(&plan("amqp://127.0.0.1:5672"), "http://127.0.0.1:1");
        cfg.every = Duration::from_millis(50);
        let (tx, mut rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(cfg, tx, cancel.clone()));
        // the two parts are polled apart: wait for the merge of both
        let s = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let Some(Event::Broker(s)) = rx.recv().await else {
                    panic!("a snapshot expected")
                };
                if s.rabbitmq_off.is_some() && s.dests[0].is_some() {
                    return s;
                }
            }
        })
        .await
        .expect("a snapshot with both parts within 20 s");
        cancel.cancel();
        task.await.unwrap();
        assert_eq!(
            s.rabbitmq_off.as_deref(),
            Some("broker view off: http://127.0.0.1:1 refused the connection")
        );
        assert!(s.source.is_none());
        assert_eq!(s.dests.len(), 3);
        let Some(DestBrokerView::Kafka(k)) = &s.dests[0] else {
            panic!("kafka view expected: {:?}", s.dests[0])
        };
        assert!(k.error.as_deref().unwrap().starts_with("Kafka 127.0.0.1:1"));
        assert!(s.dests[1].is_none());
        let Some(DestBrokerView::Amqp(other)) = &s.dests[2] else {
            panic!()
        };
        assert!(
            matches!(&other.route, Route::Unknown { reason } if reason.contains("amqp://other:5672"))
        );
        let json = serde_json::to_string(&*s).unwrap();
        assert!(!json.contains("pw-never-shown"), "{json}");
        assert!(json.contains(
            "\"rabbitmq_off\":\"broker view off: http://127.0.0.1:1 refused the connection\""
        ));
    }
}
