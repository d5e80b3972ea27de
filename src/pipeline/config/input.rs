//! Input components: `amqp_1` and `kafka` (Bento's field names and
//! defaults: internal/impl/amqp1/config.go, internal/impl/kafka/), with
//! the checks the local runner makes before building anything.

use serde::Deserialize;

use super::check_kafka_security;
use super::common::{GoDuration, KafkaSasl, Sasl, Tls, default_client_id, default_true, dur};
use crate::pipeline::finding::{DocPath, Finding, Seg, join};

fn default_checkpoint() -> usize {
    1024
}
fn default_commit_period() -> GoDuration {
    dur(1_000)
}
fn default_credit() -> u32 {
    64
}

/// Inputs the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    #[serde(rename = "amqp_1")]
    Amqp1(Amqp1Input),
    Kafka(KafkaInput),
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
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub sasl: KafkaSasl,
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
    /// Bento's TLS settings (also used by an `amqps://` URL).
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub azure_renew_lock: bool,
}

impl Input {
    /// The settings the local runner cannot run (the first one found), at
    /// `path` (the `input` key).
    pub fn check(&self, path: &[Seg]) -> Result<(), Box<Finding>> {
        match self {
            Input::Amqp1(input) => {
                let base = join(path, &["amqp_1"]);
                if input.azure_renew_lock {
                    return Err(Box::new(Finding::error(
                        join(&base, &["azure_renew_lock"]),
                        "not supported by the local runner",
                    )));
                }
                super::check_amqp_endpoints(
                    &base,
                    &input.urls,
                    &input.sasl,
                    &input.tls,
                    "source_address",
                    &input.source_address,
                )?;
                if input.credit == 0 {
                    return Err(Box::new(Finding::error(
                        join(&base, &["credit"]),
                        "must be at least 1",
                    )));
                }
            }
            Input::Kafka(k) => {
                let base = join(path, &["kafka"]);
                let at = |key: &str| -> DocPath { join(&base, &[key]) };
                check_kafka_security(&base, &k.tls, &k.sasl)?;
                super::check_kafka_addresses(&base, &k.addresses)?;
                if k.topics.is_empty() || k.topics.iter().any(|t| t.trim().is_empty()) {
                    return Err(Box::new(Finding::error(
                        at("topics"),
                        "must name at least one topic, none empty",
                    )));
                }
                if k.topics.iter().any(|t| t.contains(':')) {
                    return Err(Box::new(Finding::error(
                        at("topics"),
                        "explicit partitions (`topic:partition`) are not supported by the local runner yet",
                    )));
                }
            }
        }
        Ok(())
    }
}
