//! The `kafka` output: an rdkafka `FutureProducer`, metadata as record
//! headers, retries under the output's own policy (Bento's kafka output:
//! `max_retries` + `backoff`, then the error goes up the tree).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::kafka::SetAll as _;
use anyhow::{Result, anyhow, bail};
use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{Output, RetryPolicy, Slots};
use crate::kafka::QuietContext;
use crate::pipeline::config::{KafkaOutput, MetadataFilter, broker_list};
use crate::pipeline::connect;
use crate::pipeline::message::{Completion, Msg};
use crate::pipeline::metrics::LinkState;

/// The running kafka output.
pub struct KafkaOut {
    producer: FutureProducer<QuietContext>,
    topic: String,
    key: Option<String>,
    static_headers: BTreeMap<String, String>,
    filter: MetadataFilter,
    in_flight: Slots,
    policy: RetryPolicy,
    /// Stops the connection watcher when the output is dropped.
    _watch: tokio_util::sync::DropGuard,
}

/// Builds a checked kafka output: librdkafka connects in the background,
/// and a watcher reports the connection through `link`
/// ([`connect::watch_kafka`]). Errors when librdkafka refuses the settings.
pub fn build(c: &KafkaOutput, link: LinkState) -> Result<KafkaOut> {
    let partitioner = c
        .librdkafka_partitioner()
        .ok_or_else(|| anyhow!("partitioner not supported (unchecked config)"))?;
    let producer: FutureProducer<QuietContext> = ClientConfig::new()
        .set("bootstrap.servers", broker_list(&c.addresses).join(","))
        .set("client.id", &c.client_id)
        .set("acks", if c.ack_replicas { "all" } else { "1" })
        .set("compression.codec", c.compression_codec())
        .set("partitioner", partitioner)
        .set(
            "message.timeout.ms",
            c.timeout.0.as_millis().max(1).to_string(),
        )
        .set("message.max.bytes", c.max_msg_bytes.to_string())
        .set("linger.ms", "0")
        .set("socket.nagle.disable", "true")
        .set("enable.idempotence", "false")
        .set("log_level", "3")
        .set_all(&crate::pipeline::config::kafka_security(&c.tls, &c.sasl))
        .create_with_context(QuietContext::new(format!("kafka:{}", c.topic)))
        .map_err(|e| anyhow!("invalid producer settings: {e}"))?;
    let watch = tokio_util::sync::CancellationToken::new();
    tokio::spawn(connect::watch_kafka(
        {
            let producer = producer.clone();
            Arc::new(move |t| producer.client().fetch_metadata(None, t).is_ok())
        },
        link,
        watch.clone(),
    ));
    Ok(KafkaOut {
        producer,
        topic: c.topic.clone(),
        key: (!c.key.is_empty()).then(|| c.key.clone()),
        static_headers: c.static_headers.clone(),
        filter: c.metadata.clone(),
        in_flight: Slots::new(c.max_in_flight),
        policy: RetryPolicy {
            max_retries: c.max_retries,
            initial: c.backoff.initial_interval.0,
            max: c.backoff.max_interval.0,
            max_elapsed: c.backoff.max_elapsed_time.0,
        },
        _watch: watch.drop_guard(),
    })
}

impl KafkaOut {
    /// Hands one attempt to librdkafka (in call order); the future resolves
    /// with the broker's acknowledgement.
    fn enqueue(
        &self,
        msg: &Msg,
    ) -> std::result::Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new();
        let mut any_header = false;
        for (k, v) in msg.meta.iter().filter(|(k, _)| self.filter.keeps(k)) {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
            any_header = true;
        }
        for (k, v) in &self.static_headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
            any_header = true;
        }
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).payload(&msg.body[..]);
        if let Some(k) = &self.key {
            record = record.key(k.as_str());
        }
        if any_header {
            record = record.headers(headers);
        }
        self.producer.send_result(record).map_err(|(e, _)| e)
    }
}

impl Output for KafkaOut {
    /// Produces `msg` (metadata → record headers, static headers added),
    /// retrying under the output's policy; the completion fails after
    /// `max_retries` attempts or `max_elapsed_time`, as Bento's kafka output.
    fn submit(self: Arc<Self>, msg: Arc<Msg>) -> BoxFuture<'static, Completion> {
        Box::pin(async move {
            let permit = match self.in_flight.take().await {
                Some(p) => p,
                None => {
                    let done: Completion = Box::pin(async { Err(anyhow!("kafka output closed")) });
                    return done;
                }
            };
            let first = self.enqueue(&msg);
            let done: Completion = Box::pin(async move {
                let _permit = permit;
                let mut attempts = self.policy.start();
                let mut attempt = first;
                loop {
                    let error = match attempt {
                        Ok(fut) => match fut.await {
                            Ok(Ok(_)) => return Ok(()),
                            Ok(Err((e, _))) => e.to_string(),
                            Err(_) => "producer dropped the message".to_owned(),
                        },
                        Err(e) => e.to_string(),
                    };
                    let Some(wait) = attempts.failed() else {
                        bail!(
                            "kafka topic {}: {error} (gave up after {} attempts in {:.1?})",
                            self.topic,
                            attempts.count(),
                            attempts.elapsed()
                        );
                    };
                    tracing::warn!(topic = %self.topic, %error, attempt = attempts.count(), retry_in = ?wait, "kafka output: send failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt = self.enqueue(&msg);
                }
            });
            done
        })
    }

    fn has_capacity(&self) -> bool {
        self.in_flight.free()
    }

    fn ready(self: Arc<Self>) -> BoxFuture<'static, ()> {
        self.in_flight.ready()
    }

    fn label(&self) -> String {
        format!("kafka:{}", self.topic)
    }
}
