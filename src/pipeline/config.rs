//! The stream definition model (Bento / Tyk Streams YAML) for the subset the
//! local runner supports, with Bento's field names and defaults
//! (internal/impl/amqp1/config.go, internal/impl/kafka/output_sarama_kafka.go,
//! internal/impl/pure/output_broker.go). Unknown fields and components are
//! errors, located by file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::interp;

/// One stream: input → processors → output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    pub input: Input,
    #[serde(default)]
    pub pipeline: PipelineSection,
    pub output: Output,
    /// Accepted and ignored by the local runner (a warning is logged).
    #[serde(default)]
    pub buffer: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub logger: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub metrics: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub http: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub tracer: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub shutdown_delay: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub shutdown_timeout: Option<serde_yaml_ng::Value>,
}

impl StreamConfig {
    /// The top-level sections present that the local runner accepts and
    /// ignores (Bento uses them), in file-format order.
    pub fn ignored_sections(&self) -> Vec<&'static str> {
        [
            ("buffer", &self.buffer),
            ("logger", &self.logger),
            ("metrics", &self.metrics),
            ("http", &self.http),
            ("tracer", &self.tracer),
            ("shutdown_delay", &self.shutdown_delay),
            ("shutdown_timeout", &self.shutdown_timeout),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(name, _)| name)
        .collect()
    }
}

/// `pipeline:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(default)]
    pub processors: Vec<Processor>,
    /// Accepted; the runner processes messages concurrently up to the input's credit.
    #[serde(default)]
    pub threads: Option<i64>,
}

/// Inputs the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    #[serde(rename = "amqp_1")]
    Amqp1(Amqp1Input),
    Kafka(KafkaInput),
}

fn default_true() -> bool {
    true
}
fn default_checkpoint() -> usize {
    1024
}
fn default_commit_period() -> GoDuration {
    dur(1_000)
}

/// `input.kafka` (Bento's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInput {
    pub addresses: Vec<String>,
    pub topics: Vec<String>,
    /// Consumer group: offsets are committed for it.
    pub consumer_group: String,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Where a group with no committed offset starts: oldest (true) or newest.
    #[serde(default = "default_true")]
    pub start_from_oldest: bool,
    /// Most messages in flight (unconfirmed) at once.
    #[serde(default = "default_checkpoint")]
    pub checkpoint_limit: usize,
    /// How often confirmed offsets are committed.
    #[serde(default = "default_commit_period")]
    pub commit_period: GoDuration,
}

/// Processors the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Processor {
    /// Bloblang mapping text (see [`super::mapping`] for the subset).
    Mapping(String),
}

/// Outputs the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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

/// An optional Go duration where an empty string means "not set".
fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GoDuration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_go_duration(s.trim())
            .map(|d| Some(GoDuration(d)))
            .map_err(serde::de::Error::custom),
    }
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

/// SASL mechanism of the amqp_1 components.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaslMechanism {
    #[default]
    None,
    Plain,
    Anonymous,
}

/// `sasl:` of the amqp_1 components.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    #[serde(default)]
    pub mechanism: SaslMechanism,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

fn default_credit() -> u32 {
    64
}
fn default_in_flight() -> usize {
    64
}

/// `input.amqp_1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amqp1Input {
    /// Broker URLs; the first that connects is used.
    #[serde(default)]
    pub urls: Vec<String>,
    pub source_address: String,
    #[serde(default)]
    pub sasl: Sasl,
    /// Receiver link credit: at most this many unsettled deliveries in flight.
    #[serde(default = "default_credit")]
    pub credit: u32,
    /// Adds header fields as metadata (`amqp_durable`, `amqp_priority`, …).
    #[serde(default)]
    pub read_header: bool,
    /// Not supported locally: must be absent or disabled.
    #[serde(default)]
    pub tls: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub azure_renew_lock: bool,
}

/// `metadata:` of outputs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataFilter {
    #[serde(default)]
    pub exclude_prefixes: Vec<String>,
}

impl MetadataFilter {
    /// Whether metadata key `k` is passed on.
    pub fn keeps(&self, k: &str) -> bool {
        !self
            .exclude_prefixes
            .iter()
            .any(|p| k.starts_with(p.as_str()))
    }
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
    pub tls: Option<serde_yaml_ng::Value>,
}

/// Parses a duration as Go's `time.ParseDuration` (which Bento uses) does:
/// decimal numbers, each with an optional fraction and a unit `ns`, `us`
/// (`µs`), `ms`, `s`, `m` or `h`, written together: `300ms`, `1.5h`,
/// `2h45m`; `0` alone. No spaces or other units (Bento would refuse them);
/// negative durations are refused as no setting here takes one.
///
/// Errors quote the input and say what is wrong.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid duration {text:?}: {why} (Go durations: a number and a unit ns, us, ms, s, m or h, e.g. 500ms, 1m30s)"
        ))
    };
    let mut s = text.strip_prefix('+').unwrap_or(text);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return bad("must not be negative");
    }
    if s.is_empty() {
        return bad("empty");
    }
    let mut nanos = 0f64;
    while !s.is_empty() {
        let n = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let Ok(value) = s[..n].parse::<f64>() else {
            return bad("expected a number");
        };
        s = &s[n..];
        let u = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let scale = match &s[..u] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return bad("missing unit"),
            other => return bad(&format!("unknown unit {other:?}")),
        };
        nanos += value * scale;
        s = &s[u..];
    }
    if nanos > i64::MAX as f64 {
        return bad("too long");
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// A Go-style duration string (`500ms`, `3s`, `1m30s`), see [`parse_go_duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_go_duration(s.trim())
            .map(GoDuration)
            .map_err(serde::de::Error::custom)
    }
}

fn dur(ms: u64) -> GoDuration {
    GoDuration(Duration::from_millis(ms))
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

fn default_client_id() -> String {
    "bento".into()
}
fn default_max_msg_bytes() -> usize {
    1_000_000
}
fn default_kafka_timeout() -> GoDuration {
    dur(5_000)
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

/// One named stream from a file.
#[derive(Debug, Clone)]
pub struct NamedStream {
    /// Stream id: the file name without `.yaml`, or the key of a `streams:` map.
    pub id: String,
    pub file: PathBuf,
    pub config: StreamConfig,
}

/// A config file that could not be used: the file and what is wrong, with
/// line:column where known.
/// Displayed as `file: message` with Tyk reference values redacted.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", file.display(), crate::secrets::redact(message))]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}

fn stream_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(&name)
        .to_owned()
}

/// Parses one file's text (after environment interpolation with `lookup`).
/// A top-level `streams:` map (Tyk's shape) gives one stream per key;
/// otherwise the file is one stream named after the file.
pub fn parse_text(
    path: &Path,
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<NamedStream>, ConfigError> {
    parse_text_with(path, raw, lookup, None)
}

/// [`parse_text`] with Tyk's references resolved first
/// ([`interp::tyk_refs`]; `api` is the `--api-config` map).
pub fn parse_text_with(
    path: &Path,
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
    api: Option<&BTreeMap<String, String>>,
) -> Result<Vec<NamedStream>, ConfigError> {
    let err = |message: String| ConfigError {
        file: path.to_owned(),
        message,
    };
    let text = interpolated(path, raw, lookup, api)?;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| err(yaml_error(&e)))?;
    let map = value
        .as_mapping()
        .ok_or_else(|| err("expected a mapping with input and output at the top level".into()))?;
    if let Some(streams) = map.get("streams") {
        if map.len() > 1 {
            return Err(err(
                "a file with a `streams:` map must hold nothing else at the top level".into(),
            ));
        }
        let streams = streams
            .as_mapping()
            .ok_or_else(|| err("`streams:` must map stream names to stream definitions".into()))?;
        // Re-parse each entry from its own YAML so serde errors keep a path.
        let mut out = Vec::new();
        for (k, v) in streams {
            let id = k
                .as_str()
                .ok_or_else(|| err("stream names under `streams:` must be strings".into()))?;
            let config: StreamConfig =
                serde_yaml_ng::with::singleton_map_recursive::deserialize(v.clone())
                    .map_err(|e| err(format!("streams.{id}: {}", yaml_error(&e))))?;
            out.push(NamedStream {
                id: id.to_owned(),
                file: path.to_owned(),
                config,
            });
        }
        if out.is_empty() {
            return Err(err("`streams:` is empty".into()));
        }
        return Ok(out);
    }
    let config: StreamConfig = serde_yaml_ng::with::singleton_map_recursive::deserialize(
        serde_yaml_ng::Deserializer::from_str(&text),
    )
    .map_err(|e| err(yaml_error(&e)))?;
    Ok(vec![NamedStream {
        id: stream_id(path),
        file: path.to_owned(),
        config,
    }])
}

/// `raw` with Tyk references (`$secret_env.NAME`, `$api_config.KEY`) and
/// then environment variables resolved, as the runner parses it. Errors list
/// every unresolvable reference with its line:col, joined by "; ".
pub fn interpolated(
    path: &Path,
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
    api: Option<&BTreeMap<String, String>>,
) -> Result<String, ConfigError> {
    fn err<E: std::fmt::Display>(path: &Path, m: Vec<E>) -> ConfigError {
        ConfigError {
            file: path.to_owned(),
            message: m
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
    let text = interp::tyk_refs(raw, &lookup, api).map_err(|m| err(path, m))?;
    interp::interpolate(&text, lookup).map_err(|m| err(path, m))
}

/// Reads a text file; a leading UTF-8 byte-order mark is dropped (as Go's
/// YAML reader does).
pub fn read(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Reads and parses a stream file with the process environment and the
/// optional `--api-config` map.
pub fn load(
    path: &Path,
    api: Option<&BTreeMap<String, String>>,
) -> Result<Vec<NamedStream>, ConfigError> {
    let raw = read(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        message: format!("cannot read: {e}"),
    })?;
    parse_text_with(path, &raw, |k| std::env::var(k).ok(), api)
}

/// Reads `--api-config FILE`: a YAML (or JSON) map of string keys to
/// scalar values, standing in for a Tyk API definition's config data.
/// Errors name the file (and line:col for YAML errors), never a value.
pub fn load_api_config(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError {
        file: path.to_owned(),
        message,
    };
    let raw = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&raw).map_err(|e| err(yaml_error(&e)))?;
    let m = v
        .as_mapping()
        .ok_or_else(|| err("expected a map of keys to values".into()))?;
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let k = k
            .as_str()
            .ok_or_else(|| err("keys must be strings".into()))?;
        let v = match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(err(format!(
                    "key {k:?}: value must be a string, number or boolean"
                )));
            }
        };
        out.insert(k.to_owned(), v);
    }
    Ok(out)
}

/// `line:col: message` from a serde_yaml_ng error, with serde's wording of
/// unknown components made plain.
/// serde's "unknown variant `x`" in plain words: an unknown or unsupported
/// component when the expected names are components, else value.
pub(super) fn plain_unknown_variant(msg: &str) -> String {
    let components = ["`kafka`", "`amqp_1`", "`mapping`"];
    let what = if components.iter().any(|c| msg.contains(c)) {
        "unknown or unsupported component"
    } else {
        "unknown or unsupported value"
    };
    msg.replace("unknown variant", what)
}

pub(super) fn yaml_error(e: &serde_yaml_ng::Error) -> String {
    let mut msg = e.to_string();
    // serde_yaml_ng writes " at line L column C" (sometimes twice); move the
    // location to the front, once.
    if let Some(loc) = e.location() {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        msg = msg.replace(&at, "");
        msg = format!("{}:{}: {}", loc.line(), loc.column(), msg);
    }
    if msg.contains("unknown variant") {
        msg = plain_unknown_variant(&msg);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("2h45m0.5s"), Duration::from_millis(9_900_500));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("10us"), Duration::from_micros(10));
        for bad in [
            "5 seconds",
            "1d",
            "2weeks",
            "",
            "-1s",
            "1",
            "s",
            "1h1000000000000h",
            "1..5s",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    const SEED: &str = r#"
input:
  amqp_1:
    sasl:
      mechanism: plain
      password: ${AMQP_PASSWORD:guest}
      user: guest
    source_address: EXTERNAL
    urls:
      - amqp://localhost:5672
output:
  broker:
    outputs:
      - kafka:
          addresses:
            - 127.0.0.1:9092
          client_id: tyk_streams_producer
          max_in_flight: 1
          retry_as_batch: true
          topic: FOO
      - amqp_1:
          sasl:
            mechanism: plain
            password: guest
            user: guest
          target_address: FOO
          urls:
            - amqp://localhost:5672
    pattern: fan_out
pipeline:
  processors:
    - mapping: |
        # Remove all existing metadata from messages
        meta = deleted()
"#;

    #[test]
    fn parses_the_seed_stream() {
        let s = parse_text(Path::new("dir/stream.yaml"), SEED, |_| None).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].id, "stream");
        let c = &s[0].config;
        let Input::Amqp1(i) = &c.input else {
            panic!("amqp_1 input expected")
        };
        assert_eq!(
            (
                i.source_address.as_str(),
                i.credit,
                i.sasl.password.as_str()
            ),
            ("EXTERNAL", 64, "guest")
        );
        let Output::Broker(b) = &c.output else {
            panic!("broker expected")
        };
        assert_eq!(b.pattern, Pattern::FanOut);
        let Output::Kafka(k) = &b.outputs[0] else {
            panic!("kafka expected")
        };
        assert_eq!(
            (k.max_in_flight, k.timeout.0, k.client_id.as_str()),
            (1, Duration::from_secs(5), "tyk_streams_producer")
        );
        assert_eq!(k.backoff.max_elapsed_time.0, Duration::from_secs(30));
        assert!(!format!("{c:?}").contains("password: \"guest\""));
    }

    #[test]
    fn unknown_component_is_located() {
        let t = "input:\n  amqp_1:\n    source_address: X\noutput:\n  http_client:\n    url: http://x\n";
        let e = parse_text(Path::new("s.yaml"), t, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.yaml: output: 5:3: unknown or unsupported component `http_client`")
                || e.contains("http_client"),
            "{e}"
        );
        assert!(e.contains("5:"), "{e}");
    }

    #[test]
    fn unknown_field_and_missing_var() {
        let t = "input:\n  amqp_1:\n    source_adress: X\noutput:\n  kafka: {addresses: [a], topic: b}\n";
        let e = parse_text(Path::new("s.yaml"), t, |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("source_adress"), "{e}");
        let e = parse_text(Path::new("s.yaml"), "input: ${NOPE}\n", |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml: 1:8: environment variable NOPE"), "{e}");
    }

    #[test]
    fn fallback_list_and_retry() {
        let t = "input: {amqp_1: {source_address: X}}\noutput:\n  fallback:\n    - retry:\n        output: {kafka: {addresses: [h], topic: T}}\n        max_retries: 3\n        backoff: {initial_interval: 1s}\n    - amqp_1: {target_address: DLQ}\n";
        let s = parse_text(Path::new("x.yaml"), t, |_| None).unwrap();
        let Output::Fallback(list) = &s[0].config.output else {
            panic!("fallback")
        };
        let Output::Retry(r) = &list[0] else {
            panic!("retry first")
        };
        assert_eq!(
            (
                r.max_retries,
                r.backoff.initial_interval.0,
                r.backoff.max_interval.0
            ),
            (3, Duration::from_secs(1), Duration::from_secs(3))
        );
        assert!(matches!(list[1], Output::Amqp1(_)));
    }

    #[test]
    fn tyk_streams_map() {
        let t = "streams:\n  a:\n    input: {amqp_1: {source_address: X}}\n    output: {kafka: {addresses: [h], topic: T}}\n  b:\n    input: {amqp_1: {source_address: Y}}\n    output: {amqp_1: {target_address: Z}}\n";
        let s = parse_text(Path::new("x.yaml"), t, |_| None).unwrap();
        assert_eq!(
            s.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
