//! AMQP 1.0 (fe2o3-amqp): connecting, the probe publisher and the
//! destination consumer used by the UI and the headless probe.
//!
//! Every task here reconnects with exponential backoff when its broker goes
//! away or is not up yet, reports `Up`/`Down` events, and never panics on a
//! broker error. Passwords are never formatted into errors or logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::CreditMode;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{Body, Data, Message, Outcome, Properties};
use fe2o3_amqp::types::primitives::{Binary, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::envelope::Probe;
use crate::event::{Arrival, BodyOptions, Event, Link, SendRequest};
use crate::retry::Backoff;
use crate::sanitize;

/// How long one connect + attach attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most probe deliveries the publisher keeps unsettled at once.
pub const MAX_UNSETTLED: usize = 256;
/// Link credit window of the destination consumer.
pub const CONSUMER_CREDIT: u32 = 256;
/// Longest body preview kept per message, in characters.
pub const PREVIEW_CHARS: usize = 160;

/// Where and how to connect to an AMQP 1.0 broker.
#[derive(Clone)]
pub struct AmqpEndpoint {
    /// Broker URL, e.g. `amqp://localhost:5672`. May carry `user:pass@`.
    pub url: String,
    /// SASL PLAIN user; empty means SASL ANONYMOUS (or the URL's userinfo).
    pub user: String,
    /// SASL PLAIN password. Never displayed.
    pub password: String,
}

impl std::fmt::Debug for AmqpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpEndpoint")
            .field("url", &redact_url(&self.url))
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

impl AmqpEndpoint {
    /// The URL with any password replaced by `***`, safe to show.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
/// A URL that does not parse is shown only up to its scheme, so a password
/// can never slip through a malformed URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let mut shown = u.to_string();
            // Url adds a trailing '/' to an empty path; keep the user's form.
            if !url.ends_with('/') && shown.ends_with('/') && u.path() == "/" {
                shown.pop();
            }
            shown
        }
        Err(_) if url.contains('@') => match url.find("://") {
            Some(i) => format!("{}://***", &url[..i]),
            None => "***".to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// A short reason for an I/O error ("connection refused", …).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

/// Decodes `%XX` escapes of URL userinfo.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Strips the password from an error text if it appears verbatim.
fn scrub(text: String, ep: &AmqpEndpoint) -> String {
    if ep.password.len() >= 3 && ep.password != ep.user && text.contains(&ep.password) {
        text.replace(&ep.password, "***")
    } else {
        text
    }
}

/// An open connection and one session on it.
pub struct AmqpSession {
    pub connection: ConnectionHandle<()>,
    pub session: SessionHandle<()>,
}

impl AmqpSession {
    /// Attaches a sender link to `address` ([`attach_sender`]); on failure
    /// the session is closed and the error returned.
    pub async fn with_sender(mut self, name: &str, address: &str) -> Result<(AmqpSession, Sender)> {
        match attach_sender(&mut self, name, address).await {
            Ok(link) => Ok((self, link)),
            Err(e) => {
                self.close().await;
                Err(e)
            }
        }
    }

    /// Attaches a receiver link to `address` ([`attach_receiver`]); on
    /// failure the session is closed and the error returned.
    pub async fn with_receiver(
        mut self,
        name: &str,
        address: &str,
    ) -> Result<(AmqpSession, Receiver)> {
        match attach_receiver(&mut self, name, address).await {
            Ok(link) => Ok((self, link)),
            Err(e) => {
                self.close().await;
                Err(e)
            }
        }
    }

    /// Ends the session and closes the connection, each bounded by a short
    /// timeout; errors are ignored (the peer may already be gone).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session.end()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.connection.close()).await;
    }
}

/// Opens a connection (SASL PLAIN when a user is set) and begins a session,
/// within [`CONNECT_TIMEOUT`].
///
/// Errors: the URL is invalid, the broker refuses the connection or the
/// credentials, or the timeout passes. The error text never holds the password.
pub async fn connect(ep: &AmqpEndpoint, container_id: &str) -> Result<AmqpSession> {
    let attempt = async {
        let url = url::Url::parse(&ep.url)
            .map_err(|e| anyhow!("invalid AMQP URL {}: {e}", ep.display_url()))?;
        if url.scheme() != "amqp" {
            bail!(
                "unsupported scheme in {}: only amqp:// is supported (no TLS yet)",
                ep.display_url()
            );
        }
        let host = url
            .host_str()
            .ok_or_else(|| anyhow!("no host in AMQP URL {}", ep.display_url()))?
            .to_owned();
        let port = url.port().unwrap_or(5672);
        // Our own socket, to set TCP_NODELAY: without it, Nagle's algorithm
        // holds small frames (settlements, flow) back for up to 40 ms.
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| anyhow!("cannot connect to {}: {}", ep.display_url(), io_reason(&e)))?;
        let _ = stream.set_nodelay(true);
        let mut builder = Connection::builder()
            .container_id(container_id.to_owned())
            .hostname(host.as_str())
            .sasl_hostname(host.as_str())
            .idle_time_out(30_000u32);
        let (user, password) = if url.username().is_empty() {
            (ep.user.clone(), ep.password.clone())
        } else {
            let decode = |s: &str| percent_decode(s);
            (decode(url.username()), decode(url.password().unwrap_or("")))
        };
        if !user.is_empty() {
            builder = builder.sasl_profile(SaslProfile::Plain {
                username: user,
                password,
            });
        }
        let mut connection = builder.open_with_stream(stream).await.map_err(|e| {
            anyhow!(
                "cannot open an AMQP connection to {}: {e}",
                ep.display_url()
            )
        })?;
        let session = match Session::begin(&mut connection).await {
            Ok(s) => s,
            Err(e) => {
                let _ = connection.close().await;
                return Err(anyhow!("cannot begin session on {}: {e}", ep.display_url()));
            }
        };
        Ok(AmqpSession {
            connection,
            session,
        })
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(r) => r.map_err(|e: anyhow::Error| anyhow!(scrub(e.to_string(), ep))),
        Err(_) => Err(anyhow!(
            "timed out after {}s connecting to {}",
            CONNECT_TIMEOUT.as_secs(),
            ep.display_url()
        )),
    }
}

/// Attaches a sender link to `address`, within [`CONNECT_TIMEOUT`].
pub async fn attach_sender(s: &mut AmqpSession, name: &str, address: &str) -> Result<Sender> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        Sender::attach(&mut s.session, name.to_owned(), address.to_owned()),
    )
    .await
    .map_err(|_| anyhow!("timed out attaching a sender to address {address:?}"))?
    .map_err(|e| refused("sender", address, e))
}

/// The error for a refused attach, with the fix for RabbitMQ 3.x's clash of
/// a bare address (declared non-durable on attach) with a durable queue.
fn refused(kind: &str, address: &str, e: impl std::fmt::Display) -> anyhow::Error {
    let e = e.to_string();
    let hint = if e.contains("inequivalent arg 'durable'") && !address.starts_with('/') {
        format!(
            " (the queue exists as a durable queue; address it as \"/amq/queue/{address}\" on RabbitMQ 3.x or \"/queues/{address}\" on RabbitMQ 4)"
        )
    } else {
        String::new()
    };
    anyhow!("broker refused a {kind} link to address {address:?}: {e}{hint}")
}

/// Attaches a receiver link to `address` with manual credit (none granted
/// yet: use a [`CreditWindow`]), within [`CONNECT_TIMEOUT`].
pub async fn attach_receiver(s: &mut AmqpSession, name: &str, address: &str) -> Result<Receiver> {
    let fut = Receiver::builder()
        .name(name.to_owned())
        .source(address.to_owned())
        .credit_mode(CreditMode::Manual)
        .attach(&mut s.session);
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("timed out attaching a receiver to address {address:?}"))?
        .map_err(|e| refused("receiver", address, e))
}

/// Link credit granted in whole windows: a new grant only once every
/// transfer of the previous one has been received.
///
/// Why: RabbitMQ 3.x's AMQP 1.0 plugin treats a flow's link-credit as new
/// credit on top of what it already sent, while fe2o3-amqp counts credit
/// only as the application takes deliveries. Topping credit up while
/// transfers are still queued (fe2o3's `CreditMode::Auto`) lets the broker
/// send more than the receiver allows, and the link fails with "The peer
/// sent more message transfers than currently allowed on the link" (seen
/// with 2,000 probes through the pipeline). Granting only when nothing is
/// outstanding is correct under either reading of the spec.
pub struct CreditWindow {
    outstanding: u32,
}

impl CreditWindow {
    /// No credit granted yet.
    pub fn new() -> Self {
        CreditWindow { outstanding: 0 }
    }

    /// Transfers the broker may still send under the current grant.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Counts one received transfer.
    pub fn received(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// Grants `n` more transfers if nothing is outstanding (else does
    /// nothing). Errors: the link is no longer usable.
    pub async fn grant(&mut self, receiver: &mut Receiver, n: u32) -> Result<()> {
        if self.outstanding == 0 && n > 0 {
            receiver
                .set_credit(n)
                .await
                .map_err(|e| anyhow!("cannot grant link credit: {e}"))?;
            self.outstanding = n;
        }
        Ok(())
    }
}

impl Default for CreditWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// The body bytes as Bento's amqp_1 input takes them: the first Data
/// section; else a string AmqpValue; else empty (`None` marks "no bytes
/// body": a non-string value, a sequence, or no body at all).
pub fn body_bytes(body: &Body<Value>) -> Option<Vec<u8>> {
    match body {
        Body::Data(batch) => Some(
            batch
                .iter()
                .next()
                .map(|d| d.0.to_vec())
                .unwrap_or_default(),
        ),
        Body::Value(v) => match &v.0 {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        },
        Body::Sequence(_) | Body::Empty => None,
    }
}

/// The bytes to show for a body: Bento's rule, plus a binary or symbol
/// AmqpValue (what many clients send for `bytes`) taken as bytes.
fn display_bytes(body: &Body<Value>) -> Option<Vec<u8>> {
    match body {
        Body::Value(v) => match &v.0 {
            Value::Binary(b) => Some(b.to_vec()),
            Value::Symbol(s) => Some(s.0.as_bytes().to_vec()),
            _ => body_bytes(body),
        },
        _ => body_bytes(body),
    }
}

/// The AMQP type name of a value (never its content, which may be huge).
fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Binary(_) => "binary",
        Value::Symbol(_) => "symbol",
        Value::Timestamp(_) => "timestamp",
        Value::Uuid(_) => "uuid",
        Value::Described(_) => "described",
        _ => "number",
    }
}

/// A short description of a body that has no bytes form, for display.
fn describe_body(body: &Body<Value>) -> String {
    match body {
        Body::Value(v) => format!("<amqp-value {}>", value_kind(&v.0)),
        Body::Sequence(s) => format!("<amqp-sequence x{}>", s.len()),
        Body::Empty => "<no body>".to_owned(),
        Body::Data(_) => "<data>".to_owned(),
    }
}

/// A probe message as the publisher sends it: one Data section with the
/// envelope, content type `application/json`.
pub fn probe_message(body: Vec<u8>) -> Message<Data> {
    Message::builder()
        .properties(
            Properties::builder()
                .content_type("application/json")
                .build(),
        )
        .data(Binary::from(body))
        .build()
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The probe publisher: keeps a sender link to `address` and sends each
/// [`SendRequest`] pipelined (`send_batchable`, at most [`MAX_UNSETTLED`]
/// unsettled), reporting `Sent` before each transfer and `Confirmed`/`Failed`
/// when the broker settles it. Requests that arrive while the link is down
/// fail at once (`Failed`, "not connected"), so the counts stay true.
/// Runs until `cancel` fires.
pub async fn run_publisher(
    ep: AmqpEndpoint,
    address: String,
    body: BodyOptions,
    mut requests: mpsc::Receiver<SendRequest>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let link = Link::Injector;
    let mut backoff = Backoff::reconnect();
    let unsettled = Arc::new(Semaphore::new(MAX_UNSETTLED));
    let mut last_error: String;
    while !cancel.is_cancelled() {
        let attempt = async {
            connect(
                &ep,
                &format!("streamprobe-publisher-{}", std::process::id()),
            )
            .await?
            .with_sender("streamprobe-publisher", &address)
            .await
        };
        let (s, mut sender) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = attempt => match r {
                Ok(v) => v,
                Err(e) => {
                    last_error = format!("{e:#}");
                    tracing::warn!(error = %last_error, "publisher connect failed");
                    let _ = events.send(Event::Down { link, error: last_error.clone() }).await;
                    let wait = backoff.next_delay();
                    // Fail what the user asks for while we are down.
                    let deadline = tokio::time::Instant::now() + wait;
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep_until(deadline) => break,
                            Some(req) = requests.recv() => fail_request(&req, &last_error, &events).await,
                        }
                    }
                    continue;
                }
            }
        };
        backoff.reset();
        tracing::info!(address = %address, "publisher attached");
        let _ = events.send(Event::Up { link }).await;
        let err = loop {
            tokio::select! {
                _ = cancel.cancelled() => break None,
                e = sender.on_detach() => break Some(format!("link detached: {e}")),
                req = requests.recv() => {
                    let Some(req) = req else { break None };
                    if let Err(e) = send_request(&mut sender, &req, &body, &events, &unsettled).await {
                        break Some(e);
                    }
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), sender.close()).await;
        s.close().await;
        match err {
            None => break,
            Some(e) => {
                tracing::warn!(error = %e, "publisher link lost");
                let _ = events.send(Event::Down { link, error: e }).await;
                if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
                    break;
                }
            }
        }
    }
}

async fn fail_request(req: &SendRequest, error: &str, events: &mpsc::Sender<Event>) {
    for seq in req.seqs.clone() {
        let _ = events
            .send(Event::Failed {
                run: req.run.clone(),
                seq,
                error: format!("not connected: {error}"),
            })
            .await;
    }
}

/// The body of probe `seq`: the envelope, padded and with the user payload
/// as `opts` asks.
pub fn probe_body(run: &str, seq: u64, opts: &BodyOptions) -> Vec<u8> {
    let mut p = Probe::new(run, seq, Utc::now());
    p.payload = opts.payload.clone();
    let body = p.encode();
    match opts.size {
        // `,"pad":""` costs 9 bytes
        Some(n) if n > body.len() + 9 => {
            p.pad = Some("x".repeat(n - body.len() - 9));
            p.encode()
        }
        _ => body,
    }
}

/// Sends every seq of `req` (paced when it has a rate); on a link error the
/// rest of the request is reported failed and the error returned (the caller
/// reconnects).
async fn send_request(
    sender: &mut Sender,
    req: &SendRequest,
    opts: &BodyOptions,
    events: &mpsc::Sender<Event>,
    unsettled: &Arc<Semaphore>,
) -> std::result::Result<(), String> {
    let start = Instant::now();
    let rate = req.rate.filter(|r| *r > 0.0);
    for seq in req.seqs.clone() {
        let intended =
            rate.map(|r| start + Duration::from_secs_f64((seq - req.seqs.start) as f64 / r));
        if let Some(due) = intended {
            tokio::time::sleep_until(due.into()).await;
        }
        let Ok(permit) = unsettled.clone().acquire_owned().await else {
            return Err("publisher shutting down".into());
        };
        let body = probe_body(&req.run, seq, opts);
        let at = Instant::now();
        let _ = events
            .send(Event::Sent {
                run: req.run.clone(),
                seq,
                at,
                intended,
            })
            .await;
        match sender.send_batchable(probe_message(body)).await {
            Ok(fut) => {
                let events = events.clone();
                let run = req.run.clone();
                tokio::spawn(async move {
                    let ev = match fut.await {
                        Ok(Outcome::Accepted(_)) => {
                            let now = Instant::now();
                            Event::Confirmed {
                                run,
                                seq,
                                at: now,
                                settle: now.saturating_duration_since(at),
                            }
                        }
                        Ok(other) => Event::Failed {
                            run,
                            seq,
                            error: format!("broker settled with {other:?}"),
                        },
                        Err(e) => Event::Failed {
                            run,
                            seq,
                            error: format!("no settlement: {e}"),
                        },
                    };
                    drop(permit);
                    let _ = events.send(ev).await;
                });
            }
            Err(e) => {
                let error = format!("send failed: {e}");
                let _ = events
                    .send(Event::Failed {
                        run: req.run.clone(),
                        seq,
                        error: error.clone(),
                    })
                    .await;
                let rest = SendRequest {
                    run: req.run.clone(),
                    seqs: seq + 1..req.seqs.end,
                    rate: None,
                    inject: req.inject.clone(),
                };
                fail_request(&rest, &error, events).await;
                return Err(error);
            }
        }
    }
    Ok(())
}

/// A destination consumer: keeps a receiver link on `address`, turns every
/// delivery into an [`Event::Arrived`] for destination `dest`, and settles
/// every delivery (Accepted), even one whose body it cannot decode, so
/// link credit never leaks. Runs until `cancel` fires.
pub async fn run_consumer(
    ep: AmqpEndpoint,
    address: String,
    dest: usize,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let link = Link::Dest(dest);
    let mut backoff = Backoff::reconnect();
    while !cancel.is_cancelled() {
        let attempt = async {
            connect(
                &ep,
                &format!("streamprobe-consumer-{}-{dest}", std::process::id()),
            )
            .await?
            .with_receiver(&format!("streamprobe-consumer-{dest}"), &address)
            .await
        };
        let (s, mut receiver) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = attempt => match r {
                Ok(v) => v,
                Err(e) => {
                    let error = format!("{e:#}");
                    tracing::warn!(dest, error = %error, "consumer connect failed");
                    let _ = events.send(Event::Down { link, error }).await;
                    if !sleep_or_cancel(backoff.next_delay(), &cancel).await { break; }
                    continue;
                }
            }
        };
        backoff.reset();
        tracing::info!(dest, address = %address, "consumer attached");
        let _ = events.send(Event::Up { link }).await;
        let mut credit = CreditWindow::new();
        // Accepted in batches (one disposition per run of consecutive
        // deliveries): flushed at 64, or once no delivery came for 2 ms.
        let mut unaccepted: Vec<fe2o3_amqp::link::delivery::DeliveryInfo> = Vec::new();
        let err = loop {
            if let Err(e) = credit.grant(&mut receiver, CONSUMER_CREDIT).await {
                break Some(format!("{e:#}"));
            }
            if unaccepted.len() >= 64 {
                accept_all(&receiver, &mut unaccepted, dest).await;
            }
            let delivery = tokio::select! {
                biased;
                _ = cancel.cancelled() => break None,
                d = receiver.recv::<Body<Value>>() => d,
                _ = tokio::time::sleep(Duration::from_millis(2)), if !unaccepted.is_empty() => {
                    accept_all(&receiver, &mut unaccepted, dest).await;
                    continue;
                }
            };
            match delivery {
                Ok(delivery) => {
                    credit.received();
                    let at = Instant::now();
                    let wall = Utc::now();
                    let body = delivery.body();
                    let arrival = match display_bytes(body) {
                        Some(bytes) => Arrival {
                            dest,
                            at,
                            wall,
                            probe: Probe::decode(&bytes).map(|p| (p.run, p.seq)),
                            size: bytes.len(),
                            preview: sanitize::preview(&bytes, PREVIEW_CHARS),
                            detail: None,
                        },
                        None => Arrival {
                            dest,
                            at,
                            wall,
                            probe: None,
                            size: 0,
                            preview: sanitize::preview(
                                describe_body(body).as_bytes(),
                                PREVIEW_CHARS,
                            ),
                            detail: None,
                        },
                    };
                    unaccepted.push((&delivery).into());
                    let _ = events.send(Event::Arrived(arrival)).await;
                }
                Err(e) => break Some(format!("receive failed: {e}")),
            }
        };
        if err.is_none() {
            accept_all(&receiver, &mut unaccepted, dest).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), receiver.close()).await;
        s.close().await;
        match err {
            None => break,
            Some(e) => {
                tracing::warn!(dest, error = %e, "consumer link lost");
                let _ = events.send(Event::Down { link, error: e }).await;
                if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
                    break;
                }
            }
        }
    }
}

/// Accepts (and clears) `infos`. A failure is logged only: the messages
/// did arrive and are counted; the broker redelivers them.
async fn accept_all(
    receiver: &Receiver,
    infos: &mut Vec<fe2o3_amqp::link::delivery::DeliveryInfo>,
    dest: usize,
) {
    if let Err(e) = receiver.accept_all(std::mem::take(infos)).await {
        tracing::warn!(dest, error = %e, "accept failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("amqp://localhost:5672"), "amqp://localhost:5672");
        assert_eq!(
            redact_url("amqp://bob:s3cret@host:5672/vh"),
            "amqp://bob:***@host:5672/vh"
        );
        assert_eq!(redact_url("amqps://bob@host"), "amqps://bob@host");
        // a '/' or '?' inside the password must not end the redaction early
        // (such a URL does not parse: it is hidden whole)
        assert_eq!(
            redact_url("amqp://guest:Pa/ss9Word@localhost:5672"),
            "amqp://***"
        );
        assert_eq!(
            redact_url("amqp://guest:Pa%2Fss@localhost:5672"),
            "amqp://guest:***@localhost:5672"
        );
        assert!(
            !redact_url("amqp://u:p?w#x@h:1").contains("p?w"),
            "{}",
            redact_url("amqp://u:p?w#x@h:1")
        );
        assert!(!redact_url("amqp://u:p@ss@h:1").contains("p@ss"));
        assert_eq!(redact_url("nonsense"), "nonsense");
        let ep = AmqpEndpoint {
            url: "amqp://a:pw1234@h".into(),
            user: "u".into(),
            password: "hunter2".into(),
        };
        let dbg = format!("{ep:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("pw1234"), "{dbg}");
        assert_eq!(
            scrub("bad password hunter2".into(), &ep),
            "bad password ***"
        );
    }

    #[test]
    fn probe_bodies_honour_size_and_payload() {
        let opts = BodyOptions {
            size: Some(1024),
            payload: Some(serde_json::json!({"order": 7})),
        };
        let b = probe_body("run1", 3, &opts);
        assert_eq!(b.len(), 1024);
        let p = Probe::decode(&b).unwrap();
        assert_eq!(
            (p.seq, p.payload),
            (3, Some(serde_json::json!({"order": 7})))
        );
        let small = probe_body(
            "run1",
            3,
            &BodyOptions {
                size: Some(10),
                payload: None,
            },
        );
        assert!(
            Probe::decode(&small).is_some(),
            "a size below the envelope leaves it unpadded"
        );
    }

    #[test]
    fn bento_body_rules() {
        use fe2o3_amqp::types::messaging::AmqpValue;
        let data: Body<Value> = Body::Data(vec![Data(Binary::from(b"abc".to_vec()))].into());
        assert_eq!(body_bytes(&data), Some(b"abc".to_vec()));
        let s: Body<Value> = Body::Value(AmqpValue(Value::String("hi".into())));
        assert_eq!(body_bytes(&s), Some(b"hi".to_vec()));
        let n: Body<Value> = Body::Value(AmqpValue(Value::Int(3)));
        assert_eq!(body_bytes(&n), None);
        assert_eq!(body_bytes(&Body::Empty), None);
    }
}
