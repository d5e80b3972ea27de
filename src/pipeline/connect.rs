//! Opening and watching the runner's connections (AMQP and Kafka).

use std::sync::Arc;

use anyhow::{Result, anyhow};

use super::metrics::LinkState;
use crate::amqp::{self, AmqpEndpoint, AmqpSession};

/// Connects to the first endpoint that answers (Bento: "the first URL to
/// successfully connect is used"); the error lists every endpoint's.
pub async fn connect_any(eps: &[AmqpEndpoint], container: &str) -> Result<AmqpSession> {
    let mut errors = Vec::new();
    for ep in eps {
        match amqp::connect(ep, container).await {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    Err(anyhow!(errors.join("; ")))
}

/// How often a Kafka client's connection is checked, and how long one
/// check may take: a stopped broker shows in `/ready` within about
/// `KAFKA_CHECK_EVERY + KAFKA_CHECK_TIMEOUT` (1.5 s).
pub const KAFKA_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// See [`KAFKA_CHECK_EVERY`].
pub const KAFKA_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Reports a Kafka client's connection through `link` until `cancel`:
/// librdkafka connects and reconnects by itself and tells no one, so every
/// [`KAFKA_CHECK_EVERY`] `check` runs off the runtime with
/// [`KAFKA_CHECK_TIMEOUT`]: it sends a metadata request for all topics
/// (which creates none) and says whether it was answered in time: up if so,
/// down if not.
pub async fn watch_kafka(
    check: Arc<dyn Fn(std::time::Duration) -> bool + Send + Sync>,
    link: LinkState,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(KAFKA_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let check = check.clone();
        let answered = tokio::task::spawn_blocking(move || check(KAFKA_CHECK_TIMEOUT))
            .await
            .unwrap_or(false);
        if answered { link.up() } else { link.down() }
    }
}
