//! Opening AMQP connections for the runner's amqp_1 components.

use anyhow::{Result, anyhow};

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
