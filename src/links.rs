//! The I/O side shared by the terminal UI and the headless probe: one
//! publisher (injects into the source) and one consumer per destination,
//! each a tokio task that reconnects on its own and reports [`Event`]s over
//! one mpsc channel.
//!
//! What to watch is a [`Plan`]: from the command-line flags (the seed's
//! source and its two destinations), or discovered from a stream file
//! (`--stream`): the source is the first stream's input (an amqp_1 address
//! or the first topic of a kafka input; `--source kafka:TOPIC` from the
//! flags), and every
//! kafka / amqp_1 output in its output tree is a destination, labelled by
//! role (primary; fallback; dead letter = the last output of a `fallback`).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::amqp::AmqpEndpoint;
use crate::cli::Endpoints;
use crate::event::{BodyOptions, Event, SendRequest};
use crate::kafka::KafkaEndpoint;
use crate::pipeline::config::{self, Output};
use crate::secrets::Secrets;
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
// a few per run, built once: the AMQP endpoint's size does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DestKind {
    Kafka {
        kafka: KafkaEndpoint,
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
            DestKind::Kafka { kafka, .. } => kafka.to_string(),
            DestKind::Amqp { endpoint, .. } => endpoint.display_url(),
        }
    }
}

/// Where probes are injected: the stream's input.
#[allow(clippy::large_enum_variant)] // one per run
#[derive(Debug, Clone)]
pub enum Source {
    /// An AMQP 1.0 address (the seed's `EXTERNAL`).
    Amqp {
        endpoint: AmqpEndpoint,
        address: String,
    },
    /// A Kafka topic (a stream with a `kafka` input, e.g. the seed's
    /// dead-letter recovery stream). Probes are produced without a key or
    /// partition, so the topic's default partitioner places them.
    Kafka { kafka: KafkaEndpoint, topic: String },
}

impl Source {
    /// `amqp:<address>` or `kafka:<topic>`.
    pub fn name(&self) -> String {
        match self {
            Source::Amqp { address, .. } => format!("amqp:{address}"),
            Source::Kafka { topic, .. } => format!("kafka:{topic}"),
        }
    }

    /// Where and what, safe to show: `amqp://localhost:5672 → EXTERNAL`,
    /// `kafka 127.0.0.1:9092 → AMQP_DLQ`.
    pub fn display(&self) -> String {
        match self {
            Source::Amqp { endpoint, address } => {
                format!("{} → {address}", endpoint.display_url())
            }
            Source::Kafka { kafka, topic } => format!("kafka {kafka} → {topic}"),
        }
    }

    /// The address or topic alone (`EXTERNAL`).
    pub fn target(&self) -> &str {
        match self {
            Source::Amqp { address, .. } => address,
            Source::Kafka { topic, .. } => topic,
        }
    }
}

/// The source to inject into and the destinations to watch.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: Source,
    pub dests: Vec<Dest>,
}

impl Plan {
    /// Whether any AMQP endpoint of the plan runs TLS without checking the
    /// broker's certificate ([`AmqpEndpoint::unverified`]).
    pub fn unverified_tls(&self) -> bool {
        self.any_endpoint(AmqpEndpoint::unverified, |_| false)
    }

    /// Whether any Kafka endpoint of the plan runs TLS without checking the
    /// brokers' certificates ([`KafkaEndpoint::unverified`]).
    pub fn unverified_kafka_tls(&self) -> bool {
        self.any_endpoint(|_| false, KafkaEndpoint::unverified)
    }

    /// Whether `amqp` or `kafka` holds for an endpoint of the source or of a
    /// destination.
    fn any_endpoint(
        &self,
        amqp: impl Fn(&AmqpEndpoint) -> bool,
        kafka: impl Fn(&KafkaEndpoint) -> bool,
    ) -> bool {
        let src = match &self.source {
            Source::Amqp { endpoint, .. } => amqp(endpoint),
            Source::Kafka { kafka: k, .. } => kafka(k),
        };
        src || self.dests.iter().any(|d| match &d.kind {
            DestKind::Amqp { endpoint, .. } => amqp(endpoint),
            DestKind::Kafka { kafka: k, .. } => kafka(k),
        })
    }

    /// The seed's layout from the flags: destination 0 = the Kafka topic,
    /// 1 = the AMQP address, both primary.
    pub fn from_flags(e: &Endpoints) -> Plan {
        // `--source kafka:TOPIC` / `amqp:ADDRESS`; no scheme = AMQP
        let source = match e.source.split_once(':') {
            Some(("kafka", topic)) => Source::Kafka {
                kafka: e.kafka(),
                topic: topic.to_owned(),
            },
            Some(("amqp", address)) => Source::Amqp {
                endpoint: e.amqp(),
                address: address.to_owned(),
            },
            _ => Source::Amqp {
                endpoint: e.amqp(),
                address: e.source.clone(),
            },
        };
        Plan {
            source,
            dests: vec![
                Dest {
                    name: format!("kafka:{}", e.kafka_topic),
                    role: Role::Primary,
                    kind: DestKind::Kafka {
                        kafka: e.kafka(),
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
    /// Errors: the file cannot be read or parsed, or its first stream has
    /// no kafka/amqp_1 output; or an endpoint is wrong in a way known
    /// before any connection ([`Plan::check`]).
    /// Resolved reference values are registered in `secrets`.
    pub fn from_args(e: &Endpoints, secrets: &Secrets) -> Result<Plan> {
        let mut plan = match &e.stream {
            None => Plan::from_flags(e),
            Some(path) => Plan::from_stream(path, secrets)?,
        };
        // the Kafka security flags reach every Kafka client, also those of a
        // stream file's components
        let props = e.kafka_props(secrets)?;
        for k in plan.kafka_endpoints() {
            k.props.extend(props.iter().cloned());
        }
        // and the AMQPS flags, when given, every AMQP endpoint (over a
        // stream file's own `tls` blocks)
        let tls = e.tls();
        if tls != crate::tls::TlsOptions::default() {
            if let Source::Amqp { endpoint, .. } = &mut plan.source {
                endpoint.tls = tls.clone();
            }
            for d in &mut plan.dests {
                if let DestKind::Amqp { endpoint, .. } = &mut d.kind {
                    endpoint.tls = tls.clone();
                }
            }
        }
        plan.check()?;
        Ok(plan)
    }

    /// Every Kafka endpoint of the plan (source and destinations).
    fn kafka_endpoints(&mut self) -> impl Iterator<Item = &mut KafkaEndpoint> {
        let source = match &mut self.source {
            Source::Kafka { kafka, .. } => Some(kafka),
            Source::Amqp { .. } => None,
        };
        source
            .into_iter()
            .chain(self.dests.iter_mut().filter_map(|d| match &mut d.kind {
                DestKind::Kafka { kafka, .. } => Some(kafka),
                DestKind::Amqp { .. } => None,
            }))
    }

    /// What can be known wrong without a connection, so it is reported at
    /// once rather than after a connect timeout: an unparsable AMQP URL, a
    /// scheme other than `amqp`, no host, a port out of 1..=65535, a Kafka
    /// bootstrap server that is not `host:port`, an empty address, an
    /// invalid Kafka topic name (Kafka's rule: 1 to 249 of `[a-zA-Z0-9._-]`,
    /// not `.` or `..`).
    ///
    /// Errors: the first problem, naming the flag's value (never a password).
    pub fn check(&self) -> Result<()> {
        match &self.source {
            Source::Amqp { endpoint, address } => {
                check_amqp_url(endpoint)?;
                if address.is_empty() {
                    bail!("the source address is empty");
                }
                // RabbitMQ's forms of one queue's address
                let queue = |a: &str| {
                    ["/amq/queue/", "/queues/", "/queue/"]
                        .iter()
                        .find_map(|p| a.strip_prefix(p))
                        .unwrap_or(a)
                        .to_owned()
                };
                if let Some(d) = self.dests.iter().find(|d| {
                    matches!(&d.kind, DestKind::Amqp { endpoint: e, address: a }
                        if e.url == endpoint.url && queue(a) == queue(address))
                }) {
                    bail!(
                        "the source {address} is also the destination {}: probes would be read back without passing through the stream; give the destination with --amqp-target (or --stream)",
                        d.name
                    );
                }
            }
            Source::Kafka { kafka, topic } => {
                check_kafka(kafka)?;
                check_topic(topic)?;
                // probes produced there would be read back at once, never
                // having passed through the stream
                if let Some(d) = self.dests.iter().find(|d| {
                    matches!(&d.kind, DestKind::Kafka { kafka: k, topic: t } if t == topic && k.brokers == kafka.brokers)
                }) {
                    bail!(
                        "the source kafka:{topic} is also the destination {}: probes would be read back without passing through the stream; give the destination with --kafka-topic (or --stream)",
                        d.name
                    );
                }
            }
        }
        for d in &self.dests {
            match &d.kind {
                DestKind::Amqp { endpoint, address } => {
                    check_amqp_url(endpoint)?;
                    if address.is_empty() {
                        bail!("{}: the AMQP address is empty", d.name);
                    }
                }
                DestKind::Kafka { kafka, topic } => {
                    check_kafka(kafka)?;
                    check_topic(topic)?;
                }
            }
        }
        Ok(())
    }

    /// Discovers the plan from a stream file (see the module docs).
    pub fn from_stream(path: &Path, secrets: &Secrets) -> Result<Plan> {
        let refs = config::Refs {
            api_config: None,
            secrets: secrets.clone(),
            tyk_version: None,
        };
        let streams = config::load(path, &refs).map_err(|e| {
            // lint's findings carry the file's own line:col for every
            // invalid component (the parser's are of the substituted text)
            let located: Vec<String> = crate::pipeline::check::errors(path, &refs)
                .iter()
                .map(|f| crate::pipeline::finding::format(path, f, secrets))
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
        let source = match &s.config.input {
            config::Input::Amqp1(input) => Source::Amqp {
                endpoint: endpoint(&input.urls, &input.sasl, &input.tls).ok_or_else(|| {
                    anyhow!("--stream {}: the amqp_1 input has no urls", path.display())
                })?,
                address: input.source_address.clone(),
            },
            config::Input::Kafka(k) => Source::Kafka {
                kafka: KafkaEndpoint {
                    brokers: kafka_addresses(&k.addresses),
                    props: config::kafka_security(&k.tls, &k.sasl),
                },
                // `topic:partition` names a partition of `topic`
                topic: k
                    .topics
                    .first()
                    .map(|t| t.split(':').next().unwrap_or_default().to_owned())
                    .ok_or_else(|| {
                        anyhow!("--stream {}: the kafka input has no topics", path.display())
                    })?,
            },
        };
        let mut dests = Vec::new();
        walk(&s.config.output, Role::Primary, &mut dests);
        if dests.is_empty() {
            bail!(
                "--stream {}: stream {} has no kafka or amqp_1 output to watch",
                path.display(),
                s.id
            );
        }
        Ok(Plan { source, dests })
    }
}

fn check_amqp_url(ep: &AmqpEndpoint) -> Result<()> {
    let shown = ep.display_url();
    let url = url::Url::parse(&ep.url).map_err(|e| {
        // `user:pa#ss@host`: the `#` ends the authority early
        let hint = if ep.url.contains('@') {
            " (a user or password with @ / ? # must be percent-encoded: @ is %40, / is %2F, ? is %3F, # is %23)"
        } else {
            ""
        };
        anyhow!("invalid AMQP URL {shown}: {e}{hint}")
    })?;
    if ep.sasl_external && !(url.scheme() == "amqps" || ep.tls.force) {
        bail!(
            "--amqp-sasl-mechanism EXTERNAL needs amqps:// and a client certificate (the broker takes the user from it): {shown} is plaintext"
        );
    }
    if ep.sasl_external && ep.tls.client_cert.is_none() && ep.tls.client_pem.is_none() {
        bail!(
            "--amqp-sasl-mechanism EXTERNAL needs --amqp-client-cert and --amqp-client-key (the broker takes the user from the certificate)"
        );
    }
    // an `@` after the authority: a password with an unescaped @ / ? #
    // split the URL (dialling its tail as a host name can only fail)
    if crate::amqp::split_by_unescaped_at(&url) {
        bail!(
            "AMQP URL {shown}: the part after the host holds an `@`: percent-encode @ / ? # in a user or password (@ is %40, / is %2F)"
        );
    }
    match url.scheme() {
        // TLS flags on a plaintext URL: the user thinks the link is secured
        "amqp" if !ep.tls.force && ep.tls.names == crate::tls::TlsNames::FLAGS => {
            let t = &ep.tls;
            let given: Vec<&str> = [
                (t.ca.is_some(), "--amqp-ca"),
                (t.client_cert.is_some(), "--amqp-client-cert"),
                (t.client_key.is_some(), "--amqp-client-key"),
                (t.skip_verify, "--tls-skip-verify"),
            ]
            .into_iter()
            .filter_map(|(on, flag)| on.then_some(flag))
            .collect();
            if !given.is_empty() {
                bail!(
                    "{} given, but {shown} is plaintext amqp://: use amqps:// (RabbitMQ's TLS port is 5671)",
                    given.join(", ")
                );
            }
        }
        "amqp" => {}
        // the TLS files are read now: a wrong one is said at once
        "amqps" => ep.tls.check()?,
        other => bail!("unsupported scheme {other:?} in AMQP URL {shown}: use amqp:// or amqps://"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("no host in AMQP URL {shown}");
    }
    if url.port() == Some(0) {
        bail!("invalid port 0 in AMQP URL {shown}");
    }
    Ok(())
}

/// Comma-separated `host:port` (port 1..=65535; `[v6]:port` allowed).
/// The bootstrap servers are `host:port` and librdkafka takes every
/// property (a name it knows, a value it accepts), without connecting.
fn check_kafka(kafka: &KafkaEndpoint) -> Result<()> {
    check_kafka_brokers(&kafka.brokers)?;
    // files librdkafka loads only when the client is made: named now
    for (k, v) in &kafka.props {
        if k.starts_with("ssl.") && k.ends_with(".location") && !v.is_empty() {
            let p = std::path::Path::new(v);
            if let Err(e) = std::fs::File::open(p) {
                bail!("Kafka property {k}={v}: cannot read it: {e}");
            }
            if p.is_dir() {
                bail!("Kafka property {k}={v}: a folder, not a PEM file");
            }
        }
    }
    kafka.config(&[]).create_native_config().map_err(|e| {
        // librdkafka quotes a refused value: never a secret one
        let mut text = e.to_string();
        for (k, v) in &kafka.props {
            if kafka::secret_property(k) && !v.is_empty() {
                text = text.replace(v.as_str(), "***");
            }
        }
        anyhow!("Kafka client settings for {kafka}: {text}")
    })?;
    Ok(())
}

fn check_kafka_brokers(brokers: &str) -> Result<()> {
    if brokers.trim().is_empty() {
        bail!("no Kafka bootstrap server given");
    }
    for b in brokers.split(',').map(str::trim) {
        if b.contains('@') || b.contains("://") {
            bail!(
                "Kafka bootstrap server {:?} is not host:port: Kafka takes no URL and no user:password@ in an address (use --kafka-user / --kafka-password)",
                kafka::redact_brokers(b)
            );
        }
        let Some((host, port)) = b.rsplit_once(':') else {
            bail!("Kafka bootstrap server {b:?} is not host:port");
        };
        if host.is_empty() || host == "[]" {
            bail!("Kafka bootstrap server {b:?} has no host");
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => bail!("Kafka bootstrap server {b:?}: port {port:?} is not 1..65535"),
        }
    }
    Ok(())
}

/// Kafka's topic-name rule (`Topic.validate` in Kafka's own code).
pub fn check_topic(topic: &str) -> Result<()> {
    let ok_chars = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if topic.is_empty() || topic.len() > 249 || topic == "." || topic == ".." || !ok_chars {
        bail!(
            "invalid Kafka topic name {:?}: 1 to 249 of a-z A-Z 0-9 . _ - (and not . or ..)",
            crate::sanitize::preview(topic.as_bytes(), 80)
        );
    }
    Ok(())
}

/// The first endpoint of an amqp_1 component (the one the runner tries first).
fn endpoint(urls: &[String], sasl: &config::Sasl, tls: &config::Tls) -> Option<AmqpEndpoint> {
    sasl.endpoints(urls, tls).into_iter().next()
}

/// Bento's `addresses`: a list whose items may hold comma-separated lists.
fn kafka_addresses(list: &[String]) -> String {
    list.iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(",")
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
                kafka: KafkaEndpoint {
                    brokers: kafka_addresses(&k.addresses),
                    props: config::kafka_security(&k.tls, &k.sasl),
                },
                topic: k.topic.clone(),
            },
        }),
        Output::Amqp1(a) => {
            if let Some(ep) = endpoint(&a.urls, &a.sasl, &a.tls) {
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
    let mut tasks = vec![match &plan.source {
        Source::Amqp { endpoint, address } => tokio::spawn(amqp::run_publisher(
            endpoint.clone(),
            address.clone(),
            body,
            req_rx,
            ev_tx.clone(),
            cancel.clone(),
        )),
        Source::Kafka { kafka, topic } => tokio::spawn(kafka::run_publisher(
            kafka.clone(),
            topic.clone(),
            body,
            req_rx,
            ev_tx.clone(),
            cancel.clone(),
        )),
    }];
    for (i, d) in plan.dests.iter().enumerate() {
        tasks.push(match &d.kind {
            DestKind::Kafka { kafka, topic } => tokio::spawn(kafka::run_consumer(
                kafka.clone(),
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
    fn endpoint_mistakes_are_known_at_once() {
        let flags = |args: &[&str]| {
            let mut v = vec!["streamprobe"];
            v.extend_from_slice(args);
            let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(v).unwrap();
            Plan::from_args(&cli.ui.endpoints, &Secrets::new())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(flags(&[]).is_ok());
        for (args, want) in [
            (&["--amqp-url", "amqp//nohost"][..], "invalid AMQP URL"),
            (
                &["--amqp-url", "http://localhost:5672"],
                "unsupported scheme \"http\"",
            ),
            (
                &["--amqp-url", "amqp://localhost:99999"],
                "invalid AMQP URL",
            ),
            (&["--amqp-url", "amqp://localhost:0"], "invalid port 0"),
            (
                &["--amqp-url", "amqp://u:s3cret@localhost:99999"],
                "invalid AMQP URL",
            ),
            (&["--kafka-brokers", "localhost"], "is not host:port"),
            (&["--kafka-brokers", "localhost:70000"], "is not 1..65535"),
            (&["--kafka-brokers", ""], "no Kafka bootstrap server"),
            (&["--kafka-topic", "bad topic"], "invalid Kafka topic name"),
            (&["--kafka-topic", ".."], "invalid Kafka topic name"),
            (&["--source", ""], "source address is empty"),
        ] {
            let e = flags(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

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
        let p = Plan::from_stream(&f, &Secrets::new()).unwrap();
        let Source::Amqp { endpoint, address } = &p.source else {
            panic!("amqp source expected")
        };
        assert_eq!(
            (
                endpoint.url.as_str(),
                endpoint.user.as_str(),
                address.as_str()
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
