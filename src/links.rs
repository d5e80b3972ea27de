//! The I/O side shared by the terminal UI and the headless probe: one
//! publisher (injects into the source) and one consumer per destination,
//! each a tokio task that reconnects on its own and reports [`Event`]s over
//! one mpsc channel.
//!
//! What to watch is a [`Plan`]: from the command-line flags (the seed's
//! source and its two destinations), or discovered from a stream file
//! (`--stream`): the source is the first stream's amqp_1 input, and every
//! kafka / amqp_1 output in its output tree is a destination, labelled by
//! role (primary; fallback; dead letter = the last output of a `fallback`).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::amqp::AmqpEndpoint;
use crate::cli::Endpoints;
use crate::event::{BodyOptions, Event, SendRequest};
use crate::pipeline::config::{self, Output};
use crate::{amqp, kafka};

/// Capacity of the event channel; workers wait (backpressure) when it is full.
pub const EVENT_QUEUE: usize = 65_536;

/// What a destination is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every probe should arrive here exactly once.
    Primary,
    /// Receives messages only when the output before it failed.
    Fallback,
    /// The last output of a `fallback`: where failed messages end up.
    DeadLetter,
}

impl Role {
    /// `primary`, `fallback`, `dead letter`.
    pub fn label(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Fallback => "fallback",
            Role::DeadLetter => "dead letter",
        }
    }
}

/// Where a destination is read from.
#[derive(Debug, Clone)]
pub enum DestKind {
    Kafka {
        brokers: String,
        topic: String,
    },
    Amqp {
        endpoint: AmqpEndpoint,
        address: String,
    },
}

/// One destination to watch.
#[derive(Debug, Clone)]
pub struct Dest {
    /// `kafka:<topic>` or `amqp:<address>`.
    pub name: String,
    pub role: Role,
    pub kind: DestKind,
}

impl Dest {
    /// Where it is read from, safe to show (no password).
    pub fn endpoint(&self) -> String {
        match &self.kind {
            DestKind::Kafka { brokers, .. } => brokers.clone(),
            DestKind::Amqp { endpoint, .. } => endpoint.display_url(),
        }
    }
}

/// The source to inject into and the destinations to watch.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: AmqpEndpoint,
    pub source_address: String,
    pub dests: Vec<Dest>,
}

impl Plan {
    /// The seed's layout from the flags: destination 0 = the Kafka topic,
    /// 1 = the AMQP address, both primary.
    pub fn from_flags(e: &Endpoints) -> Plan {
        Plan {
            source: e.amqp(),
            source_address: e.source.clone(),
            dests: vec![
                Dest {
                    name: format!("kafka:{}", e.kafka_topic),
                    role: Role::Primary,
                    kind: DestKind::Kafka {
                        brokers: e.kafka_brokers.clone(),
                        topic: e.kafka_topic.clone(),
                    },
                },
                Dest {
                    name: format!("amqp:{}", e.amqp_target),
                    role: Role::Primary,
                    kind: DestKind::Amqp {
                        endpoint: e.amqp(),
                        address: e.amqp_target.clone(),
                    },
                },
            ],
        }
    }

    /// The plan of `--stream FILE` (environment and Tyk references resolved
    /// as `streamprobe pipeline` does), or of the flags without one.
    ///
    /// Errors: the file cannot be read or parsed, or its first stream has no
    /// amqp_1 input or no kafka/amqp_1 output.
    pub fn from_args(e: &Endpoints) -> Result<Plan> {
        match &e.stream {
            None => Ok(Plan::from_flags(e)),
            Some(path) => Plan::from_stream(path),
        }
    }

    /// Discovers the plan from a stream file (see the module docs).
    pub fn from_stream(path: &Path) -> Result<Plan> {
        let streams = config::load(path, None).map_err(|e| {
            // lint's findings carry the file's own line:col for every
            // invalid component (the parser's are of the substituted text)
            let located: Vec<String> = crate::pipeline::lint::lint_file(path, None)
                .iter()
                .filter(|f| !f.warning)
                .map(|f| crate::pipeline::lint::format(path, f))
                .collect();
            if located.is_empty() {
                anyhow!("--stream {e}")
            } else {
                anyhow!("--stream {}", located.join("\n  "))
            }
        })?;
        let s = streams
            .first()
            .ok_or_else(|| anyhow!("--stream {}: no stream in the file", path.display()))?;
        let config::Input::Amqp1(input) = &s.config.input else {
            bail!(
                "--stream {}: stream {} does not read an amqp_1 input, so there is nothing to inject into",
                path.display(),
                s.id
            );
        };
        let source = endpoint(&input.urls, &input.sasl)
            .ok_or_else(|| anyhow!("--stream {}: the amqp_1 input has no urls", path.display()))?;
        let mut dests = Vec::new();
        walk(&s.config.output, Role::Primary, &mut dests);
        if dests.is_empty() {
            bail!(
                "--stream {}: stream {} has no kafka or amqp_1 output to watch",
                path.display(),
                s.id
            );
        }
        Ok(Plan {
            source,
            source_address: input.source_address.clone(),
            dests,
        })
    }
}

/// The first endpoint of an amqp_1 component (the one the runner tries first).
fn endpoint(urls: &[String], sasl: &config::Sasl) -> Option<AmqpEndpoint> {
    crate::pipeline::runner::endpoints(urls, sasl)
        .into_iter()
        .next()
}

fn walk(out: &Output, role: Role, dests: &mut Vec<Dest>) {
    let mut push = |d: Dest| {
        if !dests.iter().any(|x| x.name == d.name) {
            dests.push(d);
        }
    };
    match out {
        Output::Kafka(k) => push(Dest {
            name: format!("kafka:{}", k.topic),
            role,
            kind: DestKind::Kafka {
                brokers: k.addresses.join(","),
                topic: k.topic.clone(),
            },
        }),
        Output::Amqp1(a) => {
            if let Some(ep) = endpoint(&a.urls, &a.sasl) {
                push(Dest {
                    name: format!("amqp:{}", a.target_address),
                    role,
                    kind: DestKind::Amqp {
                        endpoint: ep,
                        address: a.target_address.clone(),
                    },
                })
            }
        }
        Output::Broker(b) => b.outputs.iter().for_each(|o| walk(o, role, dests)),
        Output::Retry(r) => walk(&r.output, role, dests),
        Output::DropOn(d) => walk(&d.output, role, dests),
        Output::Fallback(list) => {
            let last = list.len().saturating_sub(1);
            for (i, o) in list.iter().enumerate() {
                let r = match i {
                    0 => role,
                    i if i == last => Role::DeadLetter,
                    _ => Role::Fallback,
                };
                walk(o, r, dests);
            }
        }
    }
}

/// Handles to the running I/O tasks.
pub struct Workers {
    /// Every event of every link.
    pub events: mpsc::Receiver<Event>,
    /// Send requests for the publisher.
    pub requests: mpsc::Sender<SendRequest>,
    /// Cancels every task.
    pub cancel: CancellationToken,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the publisher and one consumer per destination of `plan`
/// (destination `i` reports as `Link::Dest(i)`).
pub fn spawn(plan: &Plan, body: BodyOptions) -> Workers {
    spawn_with_broker_view(plan, body, None)
}

/// [`spawn`], plus the broker view ([`crate::broker::run`]) through the
/// management API at `rabbitmq_api` (`Endpoints::rabbitmq_api`; `off` =
/// Kafka only) when `Some`: its snapshots arrive as `Event::Broker`.
pub fn spawn_with_broker_view(
    plan: &Plan,
    body: BodyOptions,
    rabbitmq_api: Option<&str>,
) -> Workers {
    let (ev_tx, events) = mpsc::channel(EVENT_QUEUE);
    let (requests, req_rx) = mpsc::channel(1_024);
    let cancel = CancellationToken::new();
    let mut tasks = vec![tokio::spawn(amqp::run_publisher(
        plan.source.clone(),
        plan.source_address.clone(),
        body,
        req_rx,
        ev_tx.clone(),
        cancel.clone(),
    ))];
    for (i, d) in plan.dests.iter().enumerate() {
        tasks.push(match &d.kind {
            DestKind::Kafka { brokers, topic } => tokio::spawn(kafka::run_consumer(
                brokers.clone(),
                topic.clone(),
                i,
                ev_tx.clone(),
                cancel.clone(),
            )),
            DestKind::Amqp { endpoint, address } => tokio::spawn(amqp::run_consumer(
                endpoint.clone(),
                address.clone(),
                i,
                ev_tx.clone(),
                cancel.clone(),
            )),
        });
    }
    if let Some(api) = rabbitmq_api {
        tasks.push(tokio::spawn(crate::broker::run(
            crate::broker::Config::new(plan, api),
            ev_tx.clone(),
            cancel.clone(),
        )));
    }
    Workers {
        events,
        requests,
        cancel,
        tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_roles_from_a_fallback_stream() {
        let dir = std::env::temp_dir().join(format!("plan_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.yaml");
        std::fs::write(
            &f,
            "input: {amqp_1: {urls: [amqp://h:5672], source_address: SRC, sasl: {mechanism: plain, user: u, password: p}}}\n\
             output:\n  broker:\n    outputs:\n      - fallback:\n          - kafka: {addresses: [k:9092], topic: FOO}\n          - amqp_1: {urls: [amqp://h:5672], target_address: KAFKA_DLQ}\n      - amqp_1: {urls: [amqp://h:5672], target_address: FOO}\n",
        )
        .unwrap();
        let p = Plan::from_stream(&f).unwrap();
        assert_eq!(
            (
                p.source.url.as_str(),
                p.source.user.as_str(),
                p.source_address.as_str()
            ),
            ("amqp://h:5672", "u", "SRC")
        );
        let got: Vec<(String, Role)> = p.dests.iter().map(|d| (d.name.clone(), d.role)).collect();
        assert_eq!(
            got,
            [
                ("kafka:FOO".to_owned(), Role::Primary),
                ("amqp:KAFKA_DLQ".to_owned(), Role::DeadLetter),
                ("amqp:FOO".to_owned(), Role::Primary)
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
