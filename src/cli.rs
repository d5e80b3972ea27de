//! Command-line interface (clap). Every option is a long flag with an
//! environment variable; defaults are the seed demo's endpoints and names.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

use crate::amqp::AmqpEndpoint;
use crate::kafka::KafkaEndpoint;
use crate::secrets::Secrets;

/// See a Tyk Streams / Bento pipeline work: inject probe messages into an
/// AMQP 1.0 source, watch every destination, measure every message.
#[derive(Debug, Parser)]
#[command(name = "streamprobe", version, about, long_about = None, allow_negative_numbers = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the terminal UI (the default command).
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The subcommands. Without one, streamprobe opens the terminal UI.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference of the variants is harmless.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Headless run for CI: inject probes, wait, print a report (text or
    /// JSON). Exit 0 = every probe delivered exactly once everywhere (and
    /// within --max-p99); 1 = loss, duplicates, late or failed sends, or the
    /// limit breached; 2 = bad configuration or a broker that cannot be reached.
    #[command(allow_negative_numbers = true)]
    Probe(ProbeArgs),
    /// Print the summary `probe` prints from a session recorded with
    /// `--record FILE` or the UI's `w` (JSON Lines), for the LAST run in the
    /// file (a UI session holds one run per reset). A probe still missing
    /// when the recording ended counts as lost; `requested` is the probes
    /// that run tried to send. Exit 0 when that run passes, 1 when not, 2
    /// when the file cannot be read or a line is malformed (FILE:LINE: ...).
    Report {
        /// A recording (JSON Lines).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the JSON report instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// List the profiles of ~/.config/streamprobe/config.toml (or
    /// $STREAMPROBE_CONFIG): `[profiles.NAME]` tables of long flags, used
    /// with --profile NAME; secret values shown as ***.
    Profiles,
    /// Run stream definitions (Bento/Tyk Streams YAML) locally, in-process.
    Pipeline(PipelineArgs),
    /// Check stream definitions without running them: each problem as
    /// `file:line:col: message`; exit 1 on any error.
    Lint {
        /// Stream definition files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// As for `pipeline`: the map `$api_config.KEY` is resolved from.
        #[arg(long, env = "STREAMPROBE_API_CONFIG", value_name = "FILE")]
        api_config: Option<PathBuf>,
        /// Also warn about what this Tyk release does not run (e.g. `5.8`:
        /// no `amqp_1` before Tyk 5.9.0).
        #[arg(long, env = "STREAMPROBE_TYK_VERSION", value_name = "VERSION")]
        tyk_version: Option<String>,
    },
}

/// Broker endpoints and names shared by the UI and the headless probe.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// AMQP 1.0 broker URL (source and AMQP destination).
    /// (A URL may carry `user:password@`; its value is never printed.)
    #[arg(
        long,
        env = "STREAMPROBE_AMQP_URL",
        default_value = "amqp://localhost:5672",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// SASL PLAIN user for the AMQP broker (empty: anonymous).
    #[arg(long, env = "STREAMPROBE_AMQP_USER", default_value = "guest")]
    pub amqp_user: String,
    /// SASL PLAIN password for the AMQP broker. Never shown or logged.
    #[arg(
        long,
        env = "STREAMPROBE_AMQP_PASSWORD",
        default_value = "guest",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub amqp_password: String,
    /// CA certificate(s) that sign the AMQP broker's certificate (PEM), for
    /// `amqps://` URLs. Default: the Mozilla roots (webpki-roots).
    #[arg(long, env = "STREAMPROBE_AMQP_CA", value_name = "FILE")]
    pub amqp_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) presented to the AMQP broker (mutual TLS).
    #[arg(
        long,
        env = "STREAMPROBE_AMQP_CLIENT_CERT",
        value_name = "FILE",
        requires = "amqp_client_key"
    )]
    pub amqp_client_cert: Option<PathBuf>,
    /// Private key (PEM) of --amqp-client-cert.
    #[arg(
        long,
        env = "STREAMPROBE_AMQP_CLIENT_KEY",
        value_name = "FILE",
        requires = "amqp_client_cert"
    )]
    pub amqp_client_key: Option<PathBuf>,
    /// How to log in to the AMQP broker: PLAIN (--amqp-user /
    /// --amqp-password), ANONYMOUS, or EXTERNAL (the user is taken from the
    /// client certificate: amqps:// with --amqp-client-cert/--amqp-client-key).
    #[arg(long, env = "STREAMPROBE_AMQP_SASL_MECHANISM", value_name = "MECHANISM",
          default_value = "PLAIN",
          value_parser = clap::builder::PossibleValuesParser::new(["PLAIN", "ANONYMOUS", "EXTERNAL"])
              .map(|s| s.to_ascii_uppercase()),
          ignore_case = true)]
    pub amqp_sasl_mechanism: String,
    /// Accept any AMQPS certificate. Never for a real deployment: said on
    /// screen and in the report.
    #[arg(long, env = "STREAMPROBE_TLS_SKIP_VERIFY")]
    pub tls_skip_verify: bool,
    /// AMQP 1.0 address the stream reads from (where probes are injected).
    #[arg(long, env = "STREAMPROBE_SOURCE", default_value = "EXTERNAL")]
    pub source: String,
    /// AMQP 1.0 address of the AMQP destination.
    #[arg(long, env = "STREAMPROBE_AMQP_TARGET", default_value = "FOO")]
    pub amqp_target: String,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(
        long,
        env = "STREAMPROBE_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        hide_env_values = true
    )]
    pub kafka_brokers: String,
    /// Kafka topic of the Kafka destination.
    #[arg(long, env = "STREAMPROBE_KAFKA_TOPIC", default_value = "FOO")]
    pub kafka_topic: String,
    /// Kafka `security.protocol` (librdkafka's): PLAINTEXT, SSL,
    /// SASL_PLAINTEXT or SASL_SSL. Default: PLAINTEXT, or SASL_SSL when
    /// --kafka-user is given.
    #[arg(long, env = "STREAMPROBE_KAFKA_SECURITY_PROTOCOL", value_name = "PROTOCOL",
          value_parser = clap::builder::PossibleValuesParser::new(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
              .map(|s| s.to_ascii_uppercase()),
          ignore_case = true)]
    pub kafka_security_protocol: Option<String>,
    /// Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    /// (default PLAIN when --kafka-user is given).
    #[arg(long, env = "STREAMPROBE_KAFKA_SASL_MECHANISM", value_name = "MECHANISM",
          value_parser = clap::builder::PossibleValuesParser::new(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
              .map(|s| s.to_ascii_uppercase()),
          ignore_case = true)]
    pub kafka_sasl_mechanism: Option<String>,
    /// Kafka SASL user.
    #[arg(long, env = "STREAMPROBE_KAFKA_USER")]
    pub kafka_user: Option<String>,
    /// Kafka SASL password. Never shown or logged.
    #[arg(long, env = "STREAMPROBE_KAFKA_PASSWORD", hide_env_values = true)]
    pub kafka_password: Option<String>,
    /// CA certificate(s) that sign the Kafka brokers' certificates (PEM
    /// file; librdkafka's `ssl.ca.location`). Default: the system's.
    #[arg(long, env = "STREAMPROBE_KAFKA_CA", value_name = "FILE")]
    pub kafka_ca: Option<PathBuf>,
    /// A librdkafka property for every Kafka client (`KEY=VALUE`,
    /// repeatable; as kcat's `-X`), applied after the flags above, e.g.
    /// `ssl.endpoint.identification.algorithm=none`. Values of keys naming a
    /// password, secret or key are never shown.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = key_value)]
    pub kafka_properties: Vec<(String, String)>,
    /// RabbitMQ management HTTP API for the broker view (queues, routes,
    /// consumers of the source and AMQP destinations), logged in to with
    /// the AMQP user and password (or the URL's own `user:password@`).
    /// `off` disables it. http:// only.
    #[arg(
        long,
        env = "STREAMPROBE_RABBITMQ_API",
        default_value = crate::broker::DEFAULT_API,
        hide_env_values = true
    )]
    pub rabbitmq_api: String,
    /// Take every option left unset (by flags and environment) from this
    /// profile of ~/.config/streamprobe/config.toml (`streamprobe profiles`
    /// lists them).
    #[arg(long, env = "STREAMPROBE_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Take the source and every destination (fallbacks and dead-letter
    /// targets included) from this stream file instead of the flags above.
    #[arg(long, env = "STREAMPROBE_STREAM", value_name = "FILE",
          conflicts_with_all = ["source", "amqp_target", "kafka_topic", "kafka_brokers", "amqp_url", "amqp_user", "amqp_password"])]
    pub stream: Option<PathBuf>,
}

impl Endpoints {
    /// The Kafka bootstrap servers of the flags, without security (see
    /// [`Endpoints::kafka_props`], applied to every Kafka endpoint).
    pub fn kafka(&self) -> KafkaEndpoint {
        KafkaEndpoint::plain(self.kafka_brokers.clone())
    }

    /// The librdkafka properties of the Kafka security flags, then every
    /// `--kafka-property`, in that order. The password (and any secret
    /// property's value) is registered in `secrets`.
    ///
    /// Errors: --kafka-ca names no readable PEM certificate file; --kafka-password without
    /// --kafka-user (allowed with --stream: it replaces the file's
    /// password); a user with a protocol that has no SASL.
    pub fn kafka_props(&self, secrets: &Secrets) -> anyhow::Result<Vec<(String, String)>> {
        let mut props = Vec::new();
        let sasl = self.kafka_user.is_some();
        let protocol = self
            .kafka_security_protocol
            .clone()
            .or_else(|| sasl.then(|| "SASL_SSL".to_owned()));
        if let Some(p) = &protocol {
            if sasl && !p.starts_with("SASL_") {
                anyhow::bail!(
                    "--kafka-user needs a SASL protocol: --kafka-security-protocol {p} has none (use SASL_SSL or SASL_PLAINTEXT)"
                );
            }
            props.push(("security.protocol".to_owned(), p.clone()));
        }
        if let Some(user) = &self.kafka_user {
            // librdkafka would refuse it only when the client is made (a
            // stream file may hold the password)
            if self.kafka_password.is_none() && self.stream.is_none() {
                anyhow::bail!(
                    "--kafka-user {user} is given without --kafka-password (or STREAMPROBE_KAFKA_PASSWORD)"
                );
            }
            let mechanism = self.kafka_sasl_mechanism.as_deref().unwrap_or("PLAIN");
            props.push(("sasl.mechanism".to_owned(), mechanism.to_owned()));
            props.push(("sasl.username".to_owned(), user.clone()));
        } else if self.kafka_password.is_some() && self.stream.is_none() {
            // with --stream, the password alone replaces the stream file's
            // `sasl.password` (its user stays)
            anyhow::bail!("--kafka-password is given without --kafka-user");
        } else if let Some(m) = &self.kafka_sasl_mechanism {
            props.push(("sasl.mechanism".to_owned(), m.clone()));
        }
        if let Some(pw) = &self.kafka_password {
            secrets.register(pw, "--kafka-password");
            props.push(("sasl.password".to_owned(), pw.clone()));
        }
        if let Some(ca) = &self.kafka_ca {
            crate::tls::check_ca_file("--kafka-ca", ca)?;
            // a CA for a plaintext protocol is never used: the user thinks
            // the link is secured (a stream file may set the protocol)
            let protocol = self
                .kafka_properties
                .iter()
                .rev()
                .find(|(k, _)| k == "security.protocol")
                .map(|(_, v)| v.to_ascii_uppercase())
                .or_else(|| protocol.clone());
            if self.stream.is_none() && !protocol.as_deref().is_some_and(|p| p.ends_with("SSL")) {
                anyhow::bail!(
                    "--kafka-ca given, but the Kafka security protocol is {}: add --kafka-security-protocol SSL or SASL_SSL",
                    protocol.as_deref().unwrap_or("PLAINTEXT")
                );
            }
            props.push(("ssl.ca.location".to_owned(), ca.display().to_string()));
        }
        for (k, v) in &self.kafka_properties {
            if crate::kafka::secret_property(k) {
                secrets.register(v, &format!("--kafka-property {k}"));
            }
            props.push((k.clone(), v.clone()));
        }
        Ok(props)
    }

    /// The AMQP endpoint (URL + credentials + TLS options).
    pub fn amqp(&self) -> AmqpEndpoint {
        let plain = self.amqp_sasl_mechanism == "PLAIN";
        AmqpEndpoint {
            url: self.amqp_url.clone(),
            user: if plain {
                self.amqp_user.clone()
            } else {
                String::new()
            },
            password: if plain {
                self.amqp_password.clone()
            } else {
                String::new()
            },
            tls: self.tls(),
            sasl_external: self.amqp_sasl_mechanism == "EXTERNAL",
        }
    }

    /// The TLS options of the flags, for `amqps://` URLs.
    pub fn tls(&self) -> crate::tls::TlsOptions {
        crate::tls::TlsOptions {
            ca: self.amqp_ca.clone(),
            client_cert: self.amqp_client_cert.clone(),
            client_key: self.amqp_client_key.clone(),
            skip_verify: self.tls_skip_verify,
            ..Default::default()
        }
    }
}

/// How probes are sent and judged (UI and headless probe).
#[derive(Debug, Clone, Args)]
pub struct MeasureArgs {
    /// Send rate in messages per second (0 = as fast as the link allows).
    /// With a rate, latency counts from each probe's intended send time.
    #[arg(long, env = "STREAMPROBE_RATE", default_value_t = 0.0, value_parser = rate)]
    pub rate: f64,
    /// A probe not seen at a destination this long after it was sent is
    /// counted lost there (late if it turns up afterwards). Seconds, or
    /// with units (`3s`, `500ms`, `1m`).
    #[arg(long, env = "STREAMPROBE_LOSS_TIMEOUT", default_value_t = 10.0, value_parser = seconds)]
    pub loss_timeout: f64,
    /// Pad every probe body to about this many bytes (JSON stays valid).
    #[arg(long, env = "STREAMPROBE_PAYLOAD_SIZE", value_parser = clap::value_parser!(u32).range(0..=16_000_000))]
    pub payload_size: Option<u32>,
    /// A JSON file embedded in every probe body as `payload`.
    #[arg(long, env = "STREAMPROBE_PAYLOAD_FILE", value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// An application property set on every probe (`KEY=VALUE`, string
    /// value; repeatable). The trace shows which destinations still carry it.
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = key_value)]
    pub properties: Vec<(String, String)>,
    /// A message annotation set on every probe (`KEY=VALUE`, symbol key,
    /// string value; repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = key_value)]
    pub annotations: Vec<(String, String)>,
    /// The AMQP `content-type` property of every probe.
    #[arg(
        long,
        env = "STREAMPROBE_CONTENT_TYPE",
        default_value = "application/json"
    )]
    pub content_type: String,
}

/// `KEY=VALUE` with a non-empty key (the value may be empty or hold `=`).
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE (a non-empty key, then `=`)"
        )),
    }
}

/// 0 (unpaced) or 0.01 ..= 10,000,000 messages per second.
fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v == 0.0 || (0.01..=10_000_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not 0 or a rate from 0.01 to 10000000 messages per second"
        )),
    }
}

/// A duration from 1 ms to 1,000,000 s, in seconds: a plain number is
/// seconds (`2.5`), or a number with units as Bento's duration fields take
/// them (`3s`, `500ms`, `1m30s`, `2h`; parsed by `humantime`).
fn seconds(s: &str) -> Result<f64, String> {
    secs_from(s, 0.001)
}

/// As [`seconds`], but 0 is allowed (`--drain-timeout 0`: do not wait).
fn seconds_or_zero(s: &str) -> Result<f64, String> {
    secs_from(s, 0.0)
}

fn secs_from(s: &str, min: f64) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.parse::<f64>() {
        Ok(v) => v,
        Err(_) => humantime::parse_duration(t)
            .map(|d| d.as_secs_f64())
            .map_err(|e| {
                format!("{s:?} is not a duration (seconds, or with units: 3s, 500ms, 1m30s): {e}")
            })?,
    };
    if (min..=1_000_000.0).contains(&v) {
        Ok(v)
    } else {
        let low = if min == 0.0 { "0" } else { "1ms" };
        Err(format!(
            "{s:?} is not a duration from {low} to 1000000s (a plain number is seconds)"
        ))
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number > 0")),
    }
}

impl MeasureArgs {
    /// What the injector sets on every probe (content type, application
    /// properties, annotations); the payload comes from [`Self::body_options`].
    pub fn inject(&self) -> crate::event::Inject {
        crate::event::Inject {
            content_type: self.content_type.clone(),
            properties: self.properties.clone(),
            annotations: self.annotations.clone(),
            payload: None,
        }
    }

    /// The loss timeout as a duration.
    pub fn loss_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.loss_timeout)
    }

    /// The rate, `None` when unpaced.
    pub fn rate(&self) -> Option<f64> {
        (self.rate > 0.0).then_some(self.rate)
    }

    /// Body options, reading and checking `--payload-file`.
    ///
    /// Errors: the file cannot be read or is not JSON (the message names
    /// the file, and the line and column of a JSON error).
    pub fn body_options(&self) -> Result<crate::event::BodyOptions, String> {
        let payload = match &self.payload_file {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("--payload-file {}: {e}", p.display()))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("--payload-file {}: not JSON: {e}", p.display()))?,
                )
            }
        };
        Ok(crate::event::BodyOptions {
            size: self.payload_size.map(|n| n as usize),
            payload,
        })
    }
}

/// Options of `streamprobe probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Number of probes to send.
    #[arg(long, env = "STREAMPROBE_COUNT", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub count: u64,
    /// Fail (exit 1) when a destination's end-to-end p99 exceeds this many
    /// milliseconds.
    #[arg(long, env = "STREAMPROBE_MAX_P99", value_parser = positive)]
    pub max_p99: Option<f64>,
    /// Print one JSON object (schema in the README) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for every link to come up before giving up (exit
    /// 2). Seconds, or with units (`20s`, `1m`).
    #[arg(long, env = "STREAMPROBE_CONNECT_TIMEOUT", default_value_t = 20.0, value_parser = seconds)]
    pub connect_timeout: f64,
    /// Log file (default: no logs; the report goes to stdout).
    #[arg(long, env = "STREAMPROBE_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Write every event of the run to this file as JSON Lines (read it
    /// back with `streamprobe report FILE`).
    #[arg(long, env = "STREAMPROBE_RECORD", value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// Options of the terminal UI.
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Messages sent by one burst (`b`); `+`/`-` change it in the UI.
    #[arg(long, env = "STREAMPROBE_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub burst: u32,
    /// Log file (the terminal never shows logs). Default:
    /// $XDG_STATE_HOME/streamprobe/streamprobe.log (or ~/.local/state/...).
    #[arg(long, env = "STREAMPROBE_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Record every event of the session to this file as JSON Lines from
    /// the start (`w` in the UI starts recording to a default file).
    #[arg(long, env = "STREAMPROBE_RECORD", value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// A file whose contents the composer (`m`) starts with as the body.
    #[arg(long, env = "STREAMPROBE_MESSAGE_FILE", value_name = "FILE")]
    pub message_file: Option<PathBuf>,
}

/// Options of `streamprobe pipeline`.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Stream definition files (one stream per file, or one file with a
    /// Tyk-style `streams:` map).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// On Ctrl-C/SIGTERM, how long to wait for in-flight messages to be
    /// confirmed by the outputs before leaving them unsettled (the broker
    /// then redelivers them). Seconds, or with units (`10s`, `500ms`).
    #[arg(long, env = "STREAMPROBE_DRAIN_TIMEOUT", default_value_t = 10.0, value_parser = seconds_or_zero)]
    pub drain_timeout: f64,
    /// A YAML/JSON map standing in for the Tyk API definition's config data:
    /// `$api_config.KEY` in a stream file takes KEY's value from it.
    #[arg(long, env = "STREAMPROBE_API_CONFIG", value_name = "FILE")]
    pub api_config: Option<PathBuf>,
    /// Where to serve Bento's HTTP endpoints (`/ping`, `/ready`,
    /// `/metrics`), as IP:PORT, or `off`. Default 127.0.0.1:4195 (Bento's
    /// port); when that default is taken (another runner), the runner warns
    /// and goes on without them, while an address given here must be free.
    #[arg(long, env = "STREAMPROBE_HTTP_ADDRESS", value_name = "ADDR")]
    pub http_address: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_seeds() {
        let cli = Cli::try_parse_from(["streamprobe"]).unwrap();
        let e = &cli.ui.endpoints;
        assert_eq!(e.amqp_url, "amqp://localhost:5672");
        assert_eq!(
            (e.amqp_user.as_str(), e.amqp_password.as_str()),
            ("guest", "guest")
        );
        assert_eq!(
            (e.source.as_str(), e.amqp_target.as_str()),
            ("EXTERNAL", "FOO")
        );
        assert_eq!(
            (e.kafka_brokers.as_str(), e.kafka_topic.as_str()),
            ("127.0.0.1:9092", "FOO")
        );
        assert_eq!(e.rabbitmq_api, "http://localhost:15672");
        assert_eq!(cli.ui.burst, 100);
        assert_eq!(
            (cli.ui.measure.rate, cli.ui.measure.loss_timeout),
            (0.0, 10.0)
        );
    }

    #[test]
    fn probe_options() {
        let cli = Cli::try_parse_from([
            "streamprobe",
            "probe",
            "--count",
            "2000",
            "--json",
            "--rate",
            "500",
            "--max-p99",
            "250",
        ])
        .unwrap();
        let Some(Command::Probe(p)) = cli.command else {
            panic!("probe expected")
        };
        assert_eq!(
            (p.count, p.json, p.measure.rate(), p.max_p99),
            (2000, true, Some(500.0), Some(250.0))
        );
        for bad in [
            ["--count", "0"],
            ["--rate", "-1"],
            ["--loss-timeout", "0"],
            ["--rate", "abc"],
            ["--rate", "1e-300"],
            ["--loss-timeout", "1e20"],
            ["--connect-timeout", "1e20"],
            ["--loss-timeout", "3 parsecs"],
            ["--loss-timeout", "0ms"],
            ["--max-p99", "-5"],
        ] {
            let e = Cli::try_parse_from(["streamprobe", "probe", bad[0], bad[1]])
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad[1]), "the error quotes the bad value: {e}");
        }
    }

    #[test]
    fn durations_take_units() {
        for (v, secs) in [
            ("3s", 3.0),
            ("500ms", 0.5),
            ("1m30s", 90.0),
            ("2.5", 2.5),
            ("7", 7.0),
        ] {
            let cli = Cli::try_parse_from([
                "streamprobe",
                "probe",
                "--loss-timeout",
                v,
                "--connect-timeout",
                v,
            ])
            .unwrap();
            let Some(Command::Probe(p)) = cli.command else {
                panic!()
            };
            assert_eq!(
                (p.measure.loss_timeout, p.connect_timeout),
                (secs, secs),
                "{v}"
            );
        }
        let cli =
            Cli::try_parse_from(["streamprobe", "pipeline", "--drain-timeout", "0", "s.yaml"])
                .unwrap();
        let Some(Command::Pipeline(p)) = cli.command else {
            panic!()
        };
        assert_eq!(p.drain_timeout, 0.0);
    }

    #[test]
    fn stream_file_and_explicit_destinations_conflict() {
        assert!(Cli::try_parse_from(["streamprobe", "--stream", "s.yaml"]).is_ok());
        // the stream file's own login is used: a flag for it would be ignored
        for flag in [
            "--kafka-topic",
            "--amqp-target",
            "--source",
            "--amqp-user",
            "--amqp-password",
        ] {
            let e = Cli::try_parse_from(["streamprobe", "probe", "--stream", "s.yaml", flag, "X"])
                .unwrap_err();
            assert!(e.to_string().contains("cannot be used with"), "{e}");
        }
        let e = Cli::try_parse_from(["streamprobe", "probe", "--rate", "-1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not 0 or a rate"), "{e}");
    }

    #[test]
    fn pipeline_needs_a_file() {
        assert!(Cli::try_parse_from(["streamprobe", "pipeline"]).is_err());
        let cli = Cli::try_parse_from(["streamprobe", "pipeline", "stream.yaml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Pipeline(_))));
    }
}
