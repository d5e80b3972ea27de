//! Bento's HTTP face for the local runner, so it fits where Bento fits
//! (health checks, Prometheus scrapes): `GET /ping` → 200 `pong`;
//! `GET /ready` → 200 `OK` when every input and output is connected, else
//! 503 with one line per one that is not (Bento's `internal/stream/type.go`
//! answers the same way, naming only "input"/"output"); `GET /metrics` →
//! Prometheus text ([`super::metrics`]). Bento listens on `0.0.0.0:4195`;
//! the runner defaults to `127.0.0.1:4195` (`--http-address`, `off`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// The default address, Bento's port on loopback.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:4195";

async fn ping() -> &'static str {
    "pong"
}

async fn ready(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    match m.readiness() {
        Ok(()) => (StatusCode::OK, "OK".to_owned()),
        Err(lines) => (
            StatusCode::SERVICE_UNAVAILABLE,
            lines.iter().map(|l| format!("{l}\n")).collect(),
        ),
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        m.encode(),
    )
}

/// Binds `address` (`HOST:PORT`; an error names it: in use, not an
/// address, unknown host; port 0 picks a free one), before anything is
/// built, so a wrong address touches no broker.
pub async fn bind(address: &str) -> Result<tokio::net::TcpListener> {
    // Go's form, as Bento takes it: `:4195` is every interface
    let all = format!("0.0.0.0{address}");
    let address = if address.starts_with(':') {
        all.as_str()
    } else {
        address
    };
    if address
        .rsplit_once(':')
        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
    {
        anyhow::bail!(
            "--http-address {address:?}: expected HOST:PORT (e.g. 127.0.0.1:4195) or `off`"
        );
    }
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--http-address {address}: cannot listen"))
}

/// Serves the three endpoints on `listener` (from [`bind`]) until
/// `cancel`; returns the bound address.
pub fn serve(
    listener: tokio::net::TcpListener,
    metrics_: Arc<Metrics>,
    cancel: CancellationToken,
) -> Result<SocketAddr> {
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/ping", get(ping))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(metrics_);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}
