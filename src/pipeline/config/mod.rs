//! The stream definition model (Bento / Tyk Streams YAML) for the subset the
//! local runner supports, with Bento's field names and defaults
//! (internal/impl/amqp1/config.go, internal/impl/kafka/output_sarama_kafka.go,
//! internal/impl/pure/output_broker.go). Unknown fields and components are
//! errors, located by file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::finding::{Finding, Seg, index, join};
use super::interp;
use crate::amqp;
use crate::secrets::Secrets;

mod common;
mod input;
mod output;
mod processor;

pub use common::*;
pub use input::*;
pub use output::*;
pub use processor::*;

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

/// A `tls:` block at `base.tls` the runner can use (its files read, its
/// PEM parsed).
fn check_tls(base: &[Seg], tls: &Tls) -> Result<(), Box<Finding>> {
    match tls.problem() {
        None => Ok(()),
        Some((field, why)) => {
            let mut path = join(base, &["tls"]);
            if !field.is_empty() {
                path = join(&path, &[field]);
            }
            Err(Box::new(Finding::error(path, why)))
        }
    }
}

/// A kafka component's `addresses` at `base`: at least one, each
/// `host:port` (no URL, no `user:password@`, which is shown hidden).
fn check_kafka_addresses(base: &[Seg], addresses: &[String]) -> Result<(), Box<Finding>> {
    let list = join(base, &["addresses"]);
    if common::broker_list(addresses).is_empty() {
        return Err(Box::new(Finding::error(
            list,
            "must name at least one broker",
        )));
    }
    if let Some(i) = addresses
        .iter()
        .position(|a| a.contains('@') || a.contains("://"))
    {
        return Err(Box::new(Finding::error(
            index(&list, i),
            format!(
                "{:?} is not host:port: Kafka takes no URL and no user:password@ in an address (use `sasl`)",
                crate::kafka::redact_brokers(&addresses[i])
            ),
        )));
    }
    Ok(())
}

/// A kafka component's `tls:` and `sasl:` at `base`: TLS as above, and a
/// mechanism librdkafka runs here (PLAIN, SCRAM-SHA-256/512) with a user.
fn check_kafka_security(base: &[Seg], tls: &Tls, sasl: &KafkaSasl) -> Result<(), Box<Finding>> {
    check_tls(base, tls)?;
    let at = |k: &str| join(&join(base, &["sasl"]), &[k]);
    match sasl.mechanism {
        KafkaSaslMechanism::None => Ok(()),
        KafkaSaslMechanism::OauthBearer | KafkaSaslMechanism::AwsMskIam => {
            Err(Box::new(Finding::error(
                at("mechanism"),
                "not supported by the local runner (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)",
            )))
        }
        _ if sasl.user.is_empty() => Err(Box::new(Finding::error(
            at("user"),
            "must not be empty with a SASL mechanism",
        ))),
        _ => Ok(()),
    }
}

/// Checks the endpoints of an amqp_1 component at `base` (e.g.
/// `input.amqp_1`): its `tls` block (files readable, PEM parsed), at least
/// one URL, each `amqp://` or `amqps://` with a host, and a non-empty
/// address (`field`), so `lint` and `pipeline` give the same finding
/// instead of `pipeline` retrying a connection that can never open. URLs
/// are shown with the password hidden.
fn check_amqp_endpoints(
    base: &[Seg],
    urls: &[String],
    sasl: &Sasl,
    tls: &Tls,
    field: &str,
    address: &str,
) -> Result<(), Box<Finding>> {
    check_tls(base, tls)?;
    let eps = sasl.endpoints(urls, tls);
    if eps.is_empty() {
        return Err(Box::new(Finding::error(
            join(base, &["urls"]),
            "must name at least one broker",
        )));
    }
    for (i, ep) in eps.iter().enumerate() {
        let why = match url::Url::parse(&ep.url) {
            Err(e) => Some(e.to_string()),
            Ok(u) if u.scheme() != "amqp" && u.scheme() != "amqps" => {
                Some(format!("scheme `{}` is not amqp or amqps", u.scheme()))
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("no host".into()),
            Ok(_) => None,
        };
        if let Some(why) = why {
            return Err(Box::new(Finding::error(
                index(&join(base, &["urls"]), i),
                format!("invalid AMQP URL {:?}: {why}", amqp::redact_url(&ep.url)),
            )));
        }
    }
    if address.trim().is_empty() {
        return Err(Box::new(Finding::error(
            join(base, &[field]),
            "must not be empty",
        )));
    }
    Ok(())
}

impl StreamConfig {
    /// The check pass over one stream: a finding for every component the
    /// local runner would refuse (the input's, each processor's, each output
    /// component's), with paths from the stream's root. Pure: builds,
    /// connects and spawns nothing.
    pub fn check(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        out.extend(self.input.check(&join(&[], &["input"])).err().map(|f| *f));
        let procs = join(&[], &["pipeline", "processors"]);
        for (i, p) in self.pipeline.processors.iter().enumerate() {
            out.extend(p.check(&index(&procs, i)).err().map(|f| *f));
        }
        self.output.check(&join(&[], &["output"]), &mut out);
        out
    }
}

/// One named stream from a file.
#[derive(Debug, Clone)]
pub struct NamedStream {
    /// Stream id: the file name without `.yaml`, or the key of a `streams:`
    /// map; in a Tyk OAS API definition `<api id>_<name>` as Tyk names it
    /// (`x-tyk-api-gateway.info.id`; the name alone without an id).
    pub id: String,
    pub file: PathBuf,
    /// Where the stream's definition sits in the file (`[]` for a whole
    /// file, `streams.NAME`, `x-tyk-streaming.streams.NAME`).
    pub root: Vec<Seg>,
    pub config: StreamConfig,
}

/// The streams map of a parsed file, when it has one: a Tyk OAS API
/// definition's `x-tyk-streaming.streams` (Tyk's `apidef/streams` schema:
/// `streams` is the extension's only key) or a top-level `streams:` map;
/// `(path of the map, the map, the API's id)`.
pub fn streams_map(
    doc: &serde_yaml_ng::Value,
) -> Option<(Vec<Seg>, Option<&serde_yaml_ng::Value>, Option<String>)> {
    let m = doc.as_mapping()?;
    if let Some(ext) = m.get("x-tyk-streaming") {
        let id = doc
            .get("x-tyk-api-gateway")
            .and_then(|g| g.get("info"))
            .and_then(|i| i.get("id"))
            .and_then(|i| i.as_str())
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        return Some((
            vec![
                Seg::Key("x-tyk-streaming".into()),
                Seg::Key("streams".into()),
            ],
            ext.get("streams"),
            id,
        ));
    }
    m.get("streams")
        .map(|s| (vec![Seg::Key("streams".into())], Some(s), None))
}

/// A config file that could not be used: the file and what is wrong, with
/// line:column where known.
/// Displayed as `file: message`; the message was redacted when made.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", file.display(), message)]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}

/// What Tyk's references in a stream file resolve against, and the list
/// their values are registered in (so that no message shows them).
#[derive(Debug, Clone, Default)]
pub struct Refs {
    /// The `--api-config` map (`$api_config.KEY`); `None` when not given.
    pub api_config: Option<BTreeMap<String, String>>,
    /// Where every resolved value is registered.
    pub secrets: Secrets,
    /// The Tyk release `lint --tyk-version` checks against (major, minor,
    /// patch): its warnings name what that release does not run.
    pub tyk_version: Option<(u32, u32, u32)>,
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
    parse_text_with(path, raw, lookup, &Refs::default())
}

/// [`parse_text`] with Tyk's references resolved first
/// ([`interp::tyk_refs`] against `refs`). Errors are redacted with
/// `refs.secrets` (a serde error may quote a resolved value).
pub fn parse_text_with(
    path: &Path,
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
    refs: &Refs,
) -> Result<Vec<NamedStream>, ConfigError> {
    let err = |message: String| ConfigError {
        file: path.to_owned(),
        message: refs.secrets.redact(&message).into_owned(),
    };
    let text = interpolated(path, raw, lookup, refs)?;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| err(yaml_error(&e)))?;
    let map = value
        .as_mapping()
        .ok_or_else(|| err("expected a mapping with input and output at the top level".into()))?;
    if let Some((root, streams, api_id)) = streams_map(&value) {
        let oas = root.len() == 2;
        let at = if oas {
            "x-tyk-streaming.streams"
        } else {
            "streams"
        };
        if !oas && map.len() > 1 {
            return Err(err(
                "a file with a `streams:` map must hold nothing else at the top level".into(),
            ));
        }
        let streams = streams.and_then(|s| s.as_mapping()).ok_or_else(|| {
            err(format!(
                "`{at}` must map stream names to stream definitions"
            ))
        })?;
        let mut out = Vec::new();
        for (k, v) in streams {
            let name = k
                .as_str()
                .ok_or_else(|| err(format!("stream names under `{at}` must be strings")))?;
            // through YAML text, as a whole file is read: a plain scalar
            // (`123`) is then a string where a string is wanted
            let one = serde_yaml_ng::to_string(v).map_err(|e| err(e.to_string()))?;
            let config: StreamConfig = serde_yaml_ng::with::singleton_map_recursive::deserialize(
                serde_yaml_ng::Deserializer::from_str(&one),
            )
            .map_err(|e| {
                let e = yaml_error(&e);
                // the position is in the re-serialised entry, not the file
                let e = e
                    .split_once(": ")
                    .filter(|(l, _)| {
                        l.contains(':') && l.chars().all(|c| c.is_ascii_digit() || c == ':')
                    })
                    .map_or(e.clone(), |(_, m)| m.to_owned());
                err(format!("{at}.{name}: {e}"))
            })?;
            out.push(NamedStream {
                id: match &api_id {
                    Some(api) => format!("{api}_{name}"),
                    None => name.to_owned(),
                },
                file: path.to_owned(),
                root: [root.clone(), vec![Seg::Key(name.to_owned())]].concat(),
                config,
            });
        }
        if out.is_empty() {
            return Err(err(format!("`{at}` is empty")));
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
        root: Vec::new(),
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
    refs: &Refs,
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
    let text = interp::tyk_refs(raw, &lookup, refs.api_config.as_ref(), &refs.secrets)
        .map_err(|m| err(path, m))?;
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
/// Tyk references resolved against `refs`.
pub fn load(path: &Path, refs: &Refs) -> Result<Vec<NamedStream>, ConfigError> {
    let raw = read(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        message: format!("cannot read: {e}"),
    })?;
    parse_text_with(path, &raw, |k| std::env::var(k).ok(), refs)
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
    use std::time::Duration;

    use super::*;

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
