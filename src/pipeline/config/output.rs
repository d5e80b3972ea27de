//! Output components: `kafka`, `amqp_1`, `broker`, `fallback`, `retry`,
//! `drop_on` (Bento's field names and defaults:
//! internal/impl/kafka/output_sarama_kafka.go, internal/impl/amqp1/,
//! internal/impl/pure/output_{broker,fallback,retry,drop_on}.go), with the
//! checks the local runner makes before building anything.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check_kafka_security;
use super::common::{
    GoDuration, KafkaSasl, MetadataFilter, Sasl, Tls, default_client_id, default_in_flight, dur,
    optional_duration,
};
use crate::pipeline::finding::{Finding, Seg, index, join};

fn default_max_msg_bytes() -> usize {
    1_000_000
}
fn default_kafka_timeout() -> GoDuration {
    dur(5_000)
}

/// Outputs the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
// a config tree, built once per file: the size difference is harmless
#[allow(clippy::large_enum_variant)]
pub enum Output {
    Kafka(KafkaOutput),
    #[serde(rename = "amqp_1")]
    Amqp1(Amqp1Output),
    Broker(Broker),
    /// Bento's `fallback`: a LIST of outputs tried in order.
    Fallback(Vec<Output>),
    Retry(Retry),
    DropOn(DropOn),
}

/// `output.drop_on` (Bento): acks (drops) a message its child failed, or
/// could not take in time, instead of failing it upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropOn {
    /// Drop on every child error (and on back pressure).
    #[serde(default)]
    pub error: bool,
    /// Drop on child errors matching one of these regular expressions
    /// (anywhere in the error text).
    #[serde(default)]
    pub error_patterns: Vec<String>,
    /// Longest wait for the child to take a message (a free `max_in_flight`
    /// slot). Past it the message is dropped when `error` is true and
    /// failed (nacked; a `fallback` moves on) otherwise; later messages are
    /// treated the same at once until the child has room again. Empty or
    /// absent: wait for ever.
    #[serde(default, deserialize_with = "optional_duration")]
    pub back_pressure: Option<GoDuration>,
    pub output: Box<Output>,
}

fn retry_initial() -> GoDuration {
    dur(500)
}
fn retry_max() -> GoDuration {
    dur(3_000)
}

/// `backoff:` of the retry output (Bento's defaults: 500ms, 3s, no limit).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBackoff {
    #[serde(default = "retry_initial")]
    pub initial_interval: GoDuration,
    #[serde(default = "retry_max")]
    pub max_interval: GoDuration,
    /// 0 = no limit.
    #[serde(default = "zero")]
    pub max_elapsed_time: GoDuration,
}

fn zero() -> GoDuration {
    dur(0)
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            initial_interval: retry_initial(),
            max_interval: retry_max(),
            max_elapsed_time: zero(),
        }
    }
}

/// `output.retry`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub output: Box<Output>,
    /// 0 = unlimited.
    #[serde(default)]
    pub max_retries: u32,
    #[serde(default)]
    pub backoff: RetryBackoff,
}

/// `output.amqp_1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amqp1Output {
    #[serde(default)]
    pub urls: Vec<String>,
    pub target_address: String,
    #[serde(default)]
    pub sasl: Sasl,
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    #[serde(default)]
    pub application_properties_map: Option<String>,
    #[serde(default)]
    pub metadata: MetadataFilter,
    #[serde(default)]
    pub tls: Tls,
}

/// `backoff:` of kafka output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaBackoff {
    #[serde(default = "kafka_backoff_initial")]
    pub initial_interval: GoDuration,
    #[serde(default = "kafka_backoff_max")]
    pub max_interval: GoDuration,
    #[serde(default = "kafka_backoff_elapsed")]
    pub max_elapsed_time: GoDuration,
}
fn kafka_backoff_initial() -> GoDuration {
    dur(3_000)
}
fn kafka_backoff_max() -> GoDuration {
    dur(10_000)
}
fn kafka_backoff_elapsed() -> GoDuration {
    dur(30_000)
}
impl Default for KafkaBackoff {
    fn default() -> Self {
        KafkaBackoff {
            initial_interval: kafka_backoff_initial(),
            max_interval: kafka_backoff_max(),
            max_elapsed_time: kafka_backoff_elapsed(),
        }
    }
}

/// Kafka output partitioners (Bento's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partitioner {
    #[default]
    Fnv1aHash,
    Murmur2Hash,
    Random,
    RoundRobin,
    Manual,
}

/// Kafka compression codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    None,
    Snappy,
    Lz4,
    Gzip,
    Zstd,
}

/// `output.kafka`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOutput {
    pub addresses: Vec<String>,
    pub topic: String,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub partitioner: Partitioner,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default)]
    pub static_headers: BTreeMap<String, String>,
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    #[serde(default)]
    pub ack_replicas: bool,
    #[serde(default = "default_max_msg_bytes")]
    pub max_msg_bytes: usize,
    #[serde(default = "default_kafka_timeout")]
    pub timeout: GoDuration,
    /// Accepted; the runner sends single messages, so it has no effect.
    #[serde(default)]
    pub retry_as_batch: bool,
    /// 0 = no count limit (the backoff's max_elapsed_time still applies).
    #[serde(default)]
    pub max_retries: u32,
    #[serde(default)]
    pub backoff: KafkaBackoff,
    #[serde(default)]
    pub metadata: MetadataFilter,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub sasl: KafkaSasl,
}

/// Broker patterns (Bento's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    #[default]
    FanOut,
    FanOutSequential,
    FanOutFailFast,
    FanOutSequentialFailFast,
    RoundRobin,
    Greedy,
}

fn default_copies() -> usize {
    1
}

/// `output.broker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    #[serde(default)]
    pub pattern: Pattern,
    pub outputs: Vec<Output>,
    #[serde(default = "default_copies")]
    pub copies: usize,
}

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

impl Output {
    /// The check pass of an output tree at `path`: a finding for every
    /// component the local runner would refuse (the first problem of each),
    /// parents before children. Builds nothing.
    pub fn check(&self, path: &[Seg], out: &mut Vec<Finding>) {
        match self {
            Output::Kafka(k) => out.extend(k.check(path).err().map(|f| *f)),
            Output::Amqp1(a) => out.extend(a.check(path).err().map(|f| *f)),
            Output::Broker(b) => {
                let base = join(path, &["broker"]);
                if b.copies != 1 {
                    out.push(Finding::error(
                        join(&base, &["copies"]),
                        "values other than 1 are not supported by the local runner yet",
                    ));
                }
                let list = join(&base, &["outputs"]);
                if b.outputs.is_empty() {
                    out.push(Finding::error(list.clone(), "must not be empty"));
                }
                for (i, o) in b.outputs.iter().enumerate() {
                    o.check(&index(&list, i), out);
                }
            }
            Output::Fallback(children) => {
                let base = join(path, &["fallback"]);
                if children.is_empty() {
                    out.push(Finding::error(
                        base.clone(),
                        "the list of outputs must not be empty",
                    ));
                }
                for (i, o) in children.iter().enumerate() {
                    o.check(&index(&base, i), out);
                    if i > 0 {
                        fallback_error_to_amqp(o, &index(&base, i), out);
                    }
                }
            }
            Output::Retry(r) => r.output.check(&join(path, &["retry", "output"]), out),
            Output::DropOn(d) => {
                let base = join(path, &["drop_on"]);
                for (i, p) in d.error_patterns.iter().enumerate() {
                    if let Err(e) = regex::Regex::new(p) {
                        let why = e.to_string();
                        let why = why.lines().last().unwrap_or_default().trim().to_owned();
                        out.push(Finding::error(
                            index(&join(&base, &["error_patterns"]), i),
                            format!("invalid regular expression `{p}`: {why}"),
                        ));
                    }
                }
                d.output.check(&join(&base, &["output"]), out);
            }
        }
    }
}

/// A warning for every `amqp_1` output under a fallback's second or later
/// child that passes the metadata key `fallback_error` on (it writes
/// metadata as message annotations): RabbitMQ 4.x refuses an annotation
/// whose key does not start with `x-` (3.x takes it).
fn fallback_error_to_amqp(o: &Output, path: &[Seg], out: &mut Vec<Finding>) {
    match o {
        Output::Amqp1(a)
            if !a
                .metadata
                .exclude_prefixes
                .iter()
                .any(|p| "fallback_error".starts_with(p.as_str())) =>
        {
            out.push(
                Finding::warning(
                    join(path, &["amqp_1"]),
                    "a fallback passes `fallback_error` on as a message annotation, which RabbitMQ 4.x refuses (annotation keys must start with `x-`; 3.x takes it): add `metadata: {exclude_prefixes: [fallback_error]}`",
                ),
            );
        }
        Output::Retry(r) => {
            fallback_error_to_amqp(&r.output, &join(path, &["retry", "output"]), out)
        }
        Output::DropOn(d) => {
            fallback_error_to_amqp(&d.output, &join(path, &["drop_on", "output"]), out)
        }
        Output::Broker(b) => {
            for (i, c) in b.outputs.iter().enumerate() {
                fallback_error_to_amqp(c, &index(&join(path, &["broker", "outputs"]), i), out);
            }
        }
        _ => {}
    }
}

impl DropOn {
    /// The compiled `error_patterns` (checked: [`Output::check`]).
    pub fn patterns(&self) -> Vec<regex::Regex> {
        self.error_patterns
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect()
    }
}

impl KafkaOutput {
    /// Why the local runner cannot run this kafka output (the first
    /// problem), at `path` (the output's place; the finding names the
    /// `kafka` key or the field).
    pub fn check(&self, path: &[Seg]) -> Result<(), Box<Finding>> {
        let base = join(path, &["kafka"]);
        check_kafka_security(&base, &self.tls, &self.sasl)?;
        for (field, v) in [("topic", &self.topic), ("key", &self.key)] {
            if v.contains("${!") {
                return Err(Box::new(Finding::error(
                    base,
                    format!(
                        "{field} `{v}`: Bloblang interpolation (${{! ... }}) is not supported by the local runner yet"
                    ),
                )));
            }
        }
        if self.librdkafka_partitioner().is_none() {
            return Err(Box::new(Finding::error(
                base,
                format!(
                    "partitioner `{}` is not supported by the local runner yet (supported: fnv1a_hash, murmur2_hash, random)",
                    snake(self.partitioner)
                ),
            )));
        }
        super::check_kafka_addresses(&base, &self.addresses)?;
        if self.topic.trim().is_empty() {
            return Err(Box::new(Finding::error(
                join(&base, &["topic"]),
                "must not be empty",
            )));
        }
        if self.max_msg_bytes < 1000 {
            return Err(Box::new(Finding::error(
                join(&base, &["max_msg_bytes"]),
                "the local runner's Kafka client (librdkafka) cannot enforce less than 1000 bytes",
            )));
        }
        Ok(())
    }

    /// librdkafka's `partitioner` for Bento's, `None` when there is none
    /// (`round_robin`, `manual`).
    pub fn librdkafka_partitioner(&self) -> Option<&'static str> {
        match self.partitioner {
            Partitioner::Fnv1aHash => Some("fnv1a_random"),
            Partitioner::Murmur2Hash => Some("murmur2_random"),
            Partitioner::Random => Some("random"),
            Partitioner::RoundRobin | Partitioner::Manual => None,
        }
    }

    /// librdkafka's `compression.codec`.
    pub fn compression_codec(&self) -> &'static str {
        match self.compression {
            Compression::None => "none",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl Amqp1Output {
    /// Why the local runner cannot run this amqp_1 output (the first
    /// problem), at `path` (the output's place).
    pub fn check(&self, path: &[Seg]) -> Result<(), Box<Finding>> {
        let base = join(path, &["amqp_1"]);
        if let Some(text) = &self.application_properties_map
            && literal_map(text).is_none()
        {
            return Err(Box::new(Finding::error(
                base,
                format!(
                    "application_properties_map `{}` is not supported by the local runner: it supports a literal object, e.g. root = {{\"source\": \"streamprobe\"}}, with string, number or boolean values",
                    text.trim()
                ),
            )));
        }
        super::check_amqp_endpoints(
            &base,
            &self.urls,
            &self.sasl,
            &self.tls,
            "target_address",
            &self.target_address,
        )
    }

    /// The literal application properties (`application_properties_map:
    /// root = {...}`), in the file's order; empty when absent or not a
    /// literal (checked: [`Amqp1Output::check`]).
    pub fn literal_application_properties(&self) -> Vec<(String, String)> {
        self.application_properties_map
            .as_deref()
            .and_then(literal_map)
            .unwrap_or_default()
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

    #[test]
    fn enum_values_in_bento_names() {
        assert_eq!(snake(Partitioner::RoundRobin), "round_robin");
        assert_eq!(
            snake(Pattern::FanOutSequentialFailFast),
            "fan_out_sequential_fail_fast"
        );
    }
}
