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
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Body, Data, Message, MessageAnnotations, Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{Binary, Symbol, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::envelope::Probe;
use crate::event::{
    Arrival, BODY_KEEP, BodyOptions, Detail, Event, Inject, Link, Proto, SendRequest,
};
use crate::retry::{self, Backoff, Down, Next, Reconnect};
use crate::sanitize;

/// How long one connect + attach attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the TLS handshake of an `amqps://` connection may take before
/// the endpoint is taken for a plaintext listener (one that waits for an
/// AMQP header and never answers a ClientHello); within [`CONNECT_TIMEOUT`].
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most probe deliveries the publisher keeps unsettled at once.
pub const MAX_UNSETTLED: usize = 256;
/// Link credit window of the destination consumer.
pub const CONSUMER_CREDIT: u32 = 256;
/// Longest body preview kept per message, in characters.
pub const PREVIEW_CHARS: usize = 160;

/// Where and how to connect to an AMQP 1.0 broker.
#[derive(Clone, Default)]
pub struct AmqpEndpoint {
    /// Broker URL, e.g. `amqp://localhost:5672`. May carry `user:pass@`.
    pub url: String,
    /// SASL PLAIN user; empty means SASL ANONYMOUS (or the URL's userinfo).
    pub user: String,
    /// SASL PLAIN password. Never displayed.
    pub password: String,
    /// How an `amqps://` URL is secured (unused for `amqp://`).
    pub tls: crate::tls::TlsOptions,
    /// SASL EXTERNAL: the broker takes the user from the TLS client
    /// certificate ([`crate::sasl::external`]); `user` and `password` are
    /// unused. Needs TLS and `tls.client_cert`.
    pub sasl_external: bool,
}

impl std::fmt::Debug for AmqpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpEndpoint")
            .field("url", &redact_url(&self.url))
            .field("user", &self.user)
            .field("password", &"***")
            .field("tls", &self.tls)
            .field("sasl_external", &self.sasl_external)
            .finish()
    }
}

impl AmqpEndpoint {
    /// The URL with any password replaced by `***`, safe to show; an
    /// `amqps://` URL whose certificate is not checked says so wherever
    /// it is shown (`… (TLS NOT VERIFIED)`).
    pub fn display_url(&self) -> String {
        let shown = redact_url(&self.url);
        if self.unverified() {
            format!("{shown} (TLS NOT VERIFIED)")
        } else {
            shown
        }
    }
}

impl AmqpEndpoint {
    /// TLS whose certificate is not checked (`--tls-skip-verify`, Bento's
    /// `skip_cert_verify`) on an `amqps://` URL or a forced-TLS one.
    pub fn unverified(&self) -> bool {
        self.tls.skip_verify && (self.url.starts_with("amqps:") || self.tls.force)
    }
}

/// Whether an `@` is left after `u`'s authority (in its path, query or
/// fragment): a user or password held an unescaped `@ / ? #` and the URL
/// split inside it, so what follows is no host to dial and may be secret.
pub fn split_by_unescaped_at(u: &url::Url) -> bool {
    u.path().contains('@')
        || u.query().is_some_and(|q| q.contains('@'))
        || u.fragment().is_some_and(|f| f.contains('@'))
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
/// A URL that does not parse is shown only up to its scheme, so a password
/// can never slip through a malformed URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        // `user:password@host` without a scheme parses as scheme `user`
        // with the rest as its path: an `@` outside the authority may
        // follow a password
        Ok(u) if url.contains('@') && u.username().is_empty() && u.password().is_none() => {
            match url.find("://") {
                Some(i) => format!("{}://***", &url[..i]),
                None => "***".to_owned(),
            }
        }
        Ok(u) if split_by_unescaped_at(&u) => {
            format!(
                "{}://*** (a password with @ / ? # must be percent-encoded)",
                u.scheme()
            )
        }
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
        std::io::ErrorKind::UnexpectedEof => "the broker closed the connection".into(),
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

/// The broker refused us for a reason a retry will not fix by itself (SASL
/// authentication failed: wrong user or password; a link refused with
/// RabbitMQ's `PRECONDITION_FAILED` or `ACCESS_REFUSED`, e.g. a bare
/// address that clashes with a durable queue). The text names the user
/// and the endpoint, never the password. Callers find it with
/// `anyhow::Error::downcast_ref::<Refused>()`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// TLS 1.3: the broker's verdict on our client certificate comes after the
/// handshake, as an alert on the first read (`io` is that read's error).
fn client_cert_refused(ep: &AmqpEndpoint, io: &std::io::Error) -> Refused {
    Refused(format!(
        "{}: TLS handshake failed: the broker refused the client certificate ({io}): is it signed by a CA the broker trusts?",
        ep.display_url()
    ))
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
        let tls = match url.scheme() {
            "amqp" => ep.tls.force,
            "amqps" => true,
            _ => bail!(
                "unsupported scheme in {}: use amqp:// or amqps://",
                ep.display_url()
            ),
        };
        // an IPv6 literal without its brackets: `[::1]` is no name to resolve
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => bail!("no host in AMQP URL {}", ep.display_url()),
        };
        let port = url.port().unwrap_or(if tls { 5671 } else { 5672 });
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
        let shown_user = user.clone();
        let has_client_cert = ep.tls.client_cert.is_some() || ep.tls.client_pem.is_some();
        if ep.sasl_external && !(tls && ep.tls.client_cert.is_some()) {
            bail!(Refused(format!(
                "SASL EXTERNAL at {} needs {}: the broker takes the user from the certificate",
                ep.display_url(),
                if tls {
                    "a client certificate"
                } else {
                    "TLS (amqps://) and a client certificate"
                }
            )));
        }
        if !user.is_empty() && !ep.sasl_external {
            builder = builder.sasl_profile(SaslProfile::Plain {
                username: user,
                password,
            });
        }
        let opened = if tls {
            // a handshake the broker refuses (its certificate, ours) or a
            // port that does not speak TLS: a retry does not fix either
            let plain_hint = if port == 5672 {
                " (5672 is AMQP's plaintext port: amqps is usually 5671)".to_owned()
            } else {
                format!(" (is port {port} a plaintext amqp:// listener? amqps needs a TLS port)")
            };
            let handshake =
                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, ep.tls.handshake(stream, &host));
            let stream = match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    let text = format!("{e:#}");
                    // the broker answered the ClientHello with something
                    // that is not TLS (an AMQP header) or hung up
                    let not_tls = port == 5672
                        || [
                            "corrupt message",
                            "InvalidContentType",
                            "eof",
                            "end of file",
                            "reset",
                        ]
                        .iter()
                        .any(|w| text.contains(w));
                    let ca_hint = if text.contains("UnknownIssuer") {
                        match &ep.tls.ca {
                            Some(ca) => format!(
                                " (the CA in {} {} did not sign the broker's certificate)",
                                ep.tls.names.ca,
                                ca.display()
                            ),
                            None if ep.tls.ca_pem.is_some() => {
                                " (root_cas did not sign the broker's certificate)".to_owned()
                            }
                            None => format!(
                                " (no public CA signed the broker's certificate: give its CA with {})",
                                ep.tls.names.ca
                            ),
                        }
                    } else {
                        String::new()
                    };
                    bail!(Refused(format!(
                        "{}: {text}{}{ca_hint}",
                        ep.display_url(),
                        if not_tls { plain_hint.as_str() } else { "" }
                    )));
                }
                // a TLS broker answers a ClientHello in milliseconds; a
                // listener that waits for AMQP's header never does
                Err(_) => bail!(Refused(format!(
                    "{}: no TLS answer within {} s{plain_hint}",
                    ep.display_url(),
                    TLS_HANDSHAKE_TIMEOUT.as_secs()
                ))),
            };
            let mut stream = stream;
            if ep.sasl_external {
                crate::sasl::external(&mut stream, &host, &ep.display_url())
                    .await
                    .map_err(|e| match e.downcast::<std::io::Error>() {
                        Ok(io)
                            if io.to_string().contains("received fatal alert")
                                || io.kind() == std::io::ErrorKind::ConnectionReset =>
                        {
                            anyhow::Error::new(client_cert_refused(ep, &io))
                        }
                        Ok(io) => {
                            anyhow!("{}: SASL EXTERNAL: {}", ep.display_url(), io_reason(&io))
                        }
                        Err(e) => e,
                    })?;
            }
            builder.open_with_stream(stream).await
        } else {
            builder.open_with_stream(stream).await
        };
        let mut connection = opened
            .map_err(|e| match e {
                fe2o3_amqp::connection::OpenError::SaslError {
                    code:
                        fe2o3_amqp::types::sasl::SaslCode::Auth
                        | fe2o3_amqp::types::sasl::SaslCode::SysPerm,
                    ..
                } => anyhow::Error::new(Refused(format!(
                    "authentication failed for user {shown_user} at {}",
                    ep.display_url()
                ))),
                // TLS 1.3: the broker's verdict on our client certificate
                // comes after the handshake, as an alert on the first read
                // (or, as often, the broker just resets the connection)
                fe2o3_amqp::connection::OpenError::Io(io)
                    if tls
                        && (io.to_string().contains("received fatal alert")
                            || (has_client_cert
                                && io.kind() == std::io::ErrorKind::ConnectionReset)) =>
                {
                    anyhow::Error::new(client_cert_refused(ep, &io))
                }
                // the broker wants SASL we did not offer, or does not offer
                // the mechanism we asked for: a retry does not fix it
                fe2o3_amqp::connection::OpenError::NotImplemented(detail) => {
                    let detail = detail.unwrap_or_default();
                    let why = if detail.contains("id: Sasl") {
                        "the broker requires a SASL login: give --amqp-user and --amqp-password".to_owned()
                    } else {
                        format!("the broker does not offer SASL PLAIN for user {shown_user} ({detail}); see --amqp-sasl-mechanism")
                    };
                    anyhow::Error::new(Refused(format!(
                        "cannot open an AMQP connection to {}: {why}",
                        ep.display_url()
                    )))
                }
                fe2o3_amqp::connection::OpenError::Io(io) if !tls && port == 5671 => {
                    anyhow::Error::new(Refused(format!(
                        "cannot open an AMQP connection to {}: {} (5671 is AMQPS's port: use amqps://)",
                        ep.display_url(),
                        io_reason(&io)
                    )))
                }
                fe2o3_amqp::connection::OpenError::Io(io) => anyhow!(
                    "cannot open an AMQP connection to {}: {}",
                    ep.display_url(),
                    io_reason(&io)
                ),
                e => anyhow!(
                    "cannot open an AMQP connection to {}: {e}",
                    ep.display_url()
                ),
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
        Ok(r) => r.map_err(|e: anyhow::Error| {
            if e.is::<Refused>() {
                e
            } else {
                anyhow!(scrub(e.to_string(), ep))
            }
        }),
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

/// One readable line from fe2o3-amqp's error text: the broker's own
/// description (`PRECONDITION_FAILED - inequivalent arg ...`) when the text
/// carries one as `description: Some("...")`, with the condition's name
/// when there is no description; else the text as it is.
pub fn amqp_error_line(text: &str) -> String {
    static DESC: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"description: Some\("((?:[^"\\]|\\.)*)"\)"#).expect("valid regex")
    });
    static COND: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"condition: \w+\((\w+)\)").expect("valid regex")
    });
    if let Some(d) = DESC.captures(text) {
        return d[1].replace("\\\"", "\"").replace("\\'", "'");
    }
    match COND.captures(text) {
        Some(c) => format!("{} (no description from the broker)", &c[1]),
        None => text.to_owned(),
    }
}

/// The error for a refused attach, with the fix for RabbitMQ 3.x's clash of
/// a bare address (declared non-durable on attach) with a durable queue.
fn refused(kind: &str, address: &str, e: impl std::fmt::Display) -> anyhow::Error {
    let raw = e.to_string();
    // conditions a retry does not change: the queue's arguments clash with
    // ours, or the user may not use it (amqp:precondition-failed,
    // amqp:unauthorized-access; RabbitMQ's texts name them)
    let lasting = [
        "PreconditionFailed",
        "PRECONDITION_FAILED",
        "UnauthorizedAccess",
        "ACCESS_REFUSED",
    ]
    .iter()
    .any(|c| raw.contains(c))
        // an exchange that does not exist: nothing an AMQP 1.0 client or
        // stream does declares one (a missing queue may still be declared
        // by a stream that starts later)
        || (raw.contains("NOT_FOUND") && raw.contains("no exchange"))
        // `/amq/queue/Q` never declares Q; RabbitMQ 4-style `/queues/`,
        // `/exchanges/` addresses that 3.x does not know
        || (raw.contains("NOT_FOUND") && address.starts_with("/amq/queue/"))
        || raw.contains("unknown_destination");
    let e = amqp_error_line(&raw);
    let hint = if e.contains("inequivalent arg 'durable'") && !address.starts_with('/') {
        format!(
            " (the queue exists as a durable queue; address it as \"/amq/queue/{address}\" on RabbitMQ 3.x or \"/queues/{address}\" on RabbitMQ 4)"
        )
    } else {
        String::new()
    };
    let text = format!("the broker refused a {kind} link to {address:?}: {e}{hint}");
    if lasting {
        anyhow::Error::new(Refused(text))
    } else {
        anyhow!(text)
    }
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

// ---- The inspector's view of an AMQP message -------------------------------

/// Longest text of one rendered value (a huge list or map is cut with `…`).
const VALUE_CHARS: usize = 1024;

/// The exact AMQP type name of a value (`uint`, `string`, `list`, ...).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Described(_) => "described",
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Ubyte(_) => "ubyte",
        Value::Ushort(_) => "ushort",
        Value::Uint(_) => "uint",
        Value::Ulong(_) => "ulong",
        Value::Byte(_) => "byte",
        Value::Short(_) => "short",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Decimal32(_) => "decimal32",
        Value::Decimal64(_) => "decimal64",
        Value::Decimal128(_) => "decimal128",
        Value::Char(_) => "char",
        Value::Timestamp(_) => "timestamp",
        Value::Uuid(_) => "uuid",
        Value::Binary(_) => "binary",
        Value::String(_) => "string",
        Value::Symbol(_) => "symbol",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Array(_) => "array",
    }
}

/// A value as text, the obvious AMQP way: a string as itself, `null`, and
/// every other type followed by its name: `42 (uint)`, `true (boolean)`,
/// `0x00ff (binary)`, `x-opt (symbol)`, `2024-05-01T10:00:00.000Z
/// (timestamp)`, `["a", 1 (int)] (list)`. Raw text: the inspector escapes it.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        _ => {
            let mut out = String::new();
            write_inner(&mut out, v);
            out.push_str(" (");
            out.push_str(type_name(v));
            out.push(')');
            cut(out)
        }
    }
}

/// An application property's value (a simple value) as [`format_value`].
pub fn format_simple(v: &fe2o3_amqp::types::primitives::SimpleValue) -> String {
    use fe2o3_amqp::types::primitives::SimpleValue;
    match v {
        SimpleValue::String(s) => s.clone(),
        other => format_value(&Value::from(other.clone())),
    }
}

fn cut(mut s: String) -> String {
    if s.len() > VALUE_CHARS {
        let mut end = VALUE_CHARS;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// ms since the Unix epoch as RFC 3339 UTC with milliseconds.
fn timestamp_text(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms} ms"),
    }
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// A value without its type suffix; inside lists and maps strings are
/// quoted and other members carry their type, as at the top level.
fn write_inner(out: &mut String, v: &Value) {
    use std::fmt::Write as _;
    if out.len() > VALUE_CHARS {
        return;
    }
    match v {
        Value::Described(d) => {
            match &d.descriptor {
                serde_amqp::descriptor::Descriptor::Name(s) => out.push_str(&s.0),
                serde_amqp::descriptor::Descriptor::Code(c) => {
                    let _ = write!(out, "0x{c:x}");
                }
            }
            out.push(':');
            write_member(out, &d.value);
        }
        Value::Null => out.push_str("null"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Ubyte(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Ushort(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Ulong(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Byte(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Short(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Long(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{}", f.0);
        }
        Value::Double(f) => {
            let _ = write!(out, "{}", f.0);
        }
        Value::Decimal32(d) => out.push_str(&hex(d.as_inner())),
        Value::Decimal64(d) => out.push_str(&hex(d.as_inner())),
        Value::Decimal128(d) => out.push_str(&hex(d.as_inner())),
        Value::Char(c) => out.push(*c),
        Value::Timestamp(t) => out.push_str(&timestamp_text(t.milliseconds())),
        Value::Uuid(u) => out.push_str(&uuid_text(u.as_inner())),
        Value::Binary(b) => out.push_str(&hex(b)),
        Value::String(s) => out.push_str(s),
        Value::Symbol(s) => out.push_str(&s.0),
        Value::List(items) => write_seq(out, items.iter()),
        Value::Array(items) => write_seq(out, items.iter()),
        Value::Map(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if out.len() > VALUE_CHARS {
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                write_member(out, k);
                out.push_str(": ");
                write_member(out, v);
            }
            out.push('}');
        }
    }
}

fn write_seq<'a>(out: &mut String, items: impl Iterator<Item = &'a Value>) {
    out.push('[');
    for (i, v) in items.enumerate() {
        if out.len() > VALUE_CHARS {
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        write_member(out, v);
    }
    out.push(']');
}

/// A member of a list / map / array: strings quoted, `null` bare, anything
/// else with its type.
fn write_member(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{s:?}");
        }
        Value::Null => out.push_str("null"),
        _ => {
            write_inner(out, v);
            out.push_str(" (");
            out.push_str(type_name(v));
            out.push(')');
        }
    }
}

/// A message-id / correlation-id: a string as itself, else with its type.
fn message_id_text(id: &fe2o3_amqp::types::messaging::MessageId) -> String {
    use fe2o3_amqp::types::messaging::MessageId;
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => format!("{n} (ulong)"),
        MessageId::Uuid(u) => format!("{} (uuid)", uuid_text(u.as_inner())),
        MessageId::Binary(b) => format!("{} (binary)", hex(b)),
    }
}

/// `data` (`data xN` for N > 1 sections), `amqp-value <type>`,
/// `amqp-sequence xN` or `none`.
fn body_section(body: &Body<Value>) -> String {
    match body {
        Body::Data(batch) if batch.len() > 1 => format!("data x{}", batch.len()),
        Body::Data(_) => "data".to_owned(),
        Body::Value(v) => format!("amqp-value {}", type_name(&v.0)),
        Body::Sequence(s) => format!("amqp-sequence x{}", s.len()),
        Body::Empty => "none".to_owned(),
    }
}

/// The body the inspector shows for a body that is not bytes (a non-text
/// amqp-value, a sequence, none): its value as text.
fn body_text(body: &Body<Value>) -> Vec<u8> {
    match body {
        Body::Value(v) => format_value(&v.0).into_bytes(),
        Body::Sequence(batch) => {
            let mut out = String::new();
            for (i, s) in batch.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                write_seq(&mut out, s.0.iter());
                out.push_str(" (list)");
            }
            cut(out).into_bytes()
        }
        Body::Data(_) | Body::Empty => Vec::new(),
    }
}

/// What the message carried besides the body, for [`Proto::Amqp`].
pub fn amqp_proto(message: &Message<Body<Value>>) -> Proto {
    let mut header = Vec::new();
    if let Some(h) = &message.header {
        header.push(("durable".to_owned(), h.durable.to_string()));
        header.push(("priority".to_owned(), h.priority.0.to_string()));
        if let Some(ttl) = h.ttl {
            header.push(("ttl".to_owned(), format!("{ttl} ms")));
        }
        header.push(("first-acquirer".to_owned(), h.first_acquirer.to_string()));
        header.push(("delivery-count".to_owned(), h.delivery_count.to_string()));
    }
    let mut properties = Vec::new();
    if let Some(p) = &message.properties {
        let mut set = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                properties.push((k.to_owned(), v));
            }
        };
        set("message-id", p.message_id.as_ref().map(message_id_text));
        set("user-id", p.user_id.as_ref().map(|b| hex(b)));
        set("to", p.to.clone());
        set("subject", p.subject.clone());
        set("reply-to", p.reply_to.clone());
        set(
            "correlation-id",
            p.correlation_id.as_ref().map(message_id_text),
        );
        set("content-type", p.content_type.as_ref().map(|s| s.0.clone()));
        set(
            "content-encoding",
            p.content_encoding.as_ref().map(|s| s.0.clone()),
        );
        set(
            "absolute-expiry-time",
            p.absolute_expiry_time
                .as_ref()
                .map(|t| timestamp_text(t.milliseconds())),
        );
        set(
            "creation-time",
            p.creation_time
                .as_ref()
                .map(|t| timestamp_text(t.milliseconds())),
        );
        set("group-id", p.group_id.clone());
        set("group-sequence", p.group_sequence.map(|n| n.to_string()));
        set("reply-to-group-id", p.reply_to_group_id.clone());
    }
    let application_properties = message
        .application_properties
        .as_ref()
        .map(|a| {
            a.0.iter()
                .map(|(k, v)| (k.clone(), format_simple(v)))
                .collect()
        })
        .unwrap_or_default();
    let annotations = message
        .message_annotations
        .as_ref()
        .map(|a| {
            a.0.iter()
                .map(|(k, v)| {
                    let key = match k {
                        OwnedKey::Symbol(s) => s.0.clone(),
                        OwnedKey::Ulong(n) => format!("{n} (ulong)"),
                    };
                    (key, format_value(v))
                })
                .collect()
        })
        .unwrap_or_default();
    Proto::Amqp {
        body_section: body_section(&message.body),
        header,
        properties,
        application_properties,
        annotations,
    }
}

/// The arrival of one AMQP delivery at destination `dest`, with its
/// [`Detail`]. The body bytes are copied once: the kept prefix reuses them.
pub fn amqp_arrival(
    dest: usize,
    at: Instant,
    wall: chrono::DateTime<Utc>,
    message: &Message<Body<Value>>,
) -> Arrival {
    let body = &message.body;
    let (probe, size, preview, mut kept) = match display_bytes(body) {
        Some(bytes) => (
            Probe::decode(&bytes).map(|p| (p.run, p.seq)),
            bytes.len(),
            sanitize::preview(&bytes, PREVIEW_CHARS),
            bytes,
        ),
        None => (
            None,
            0,
            sanitize::preview(describe_body(body).as_bytes(), PREVIEW_CHARS),
            body_text(body),
        ),
    };
    kept.truncate(BODY_KEEP);
    Arrival {
        dest,
        at,
        wall,
        probe,
        size,
        preview,
        detail: Some(Box::new(Detail {
            body: kept,
            proto: amqp_proto(message),
        })),
        kafka: None,
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

/// The sections of every probe of one request, built once from its
/// [`Inject`] and cloned per message (the default, with no application
/// properties or annotations, costs what [`probe_message`] does).
#[derive(Debug, Clone)]
pub struct ProbeTemplate {
    properties: Properties,
    application_properties: Option<ApplicationProperties>,
    annotations: Option<MessageAnnotations>,
}

impl ProbeTemplate {
    /// Content type, application properties (string values) and message
    /// annotations (symbol keys, string values) from `inject`, in order.
    pub fn new(inject: &Inject) -> Self {
        let application_properties = (!inject.properties.is_empty()).then(|| {
            inject
                .properties
                .iter()
                .fold(ApplicationProperties::builder(), |b, (k, v)| {
                    b.insert(k.clone(), v.clone())
                })
                .build()
        });
        let annotations = (!inject.annotations.is_empty()).then(|| {
            let mut a = MessageAnnotations::default();
            for (k, v) in &inject.annotations {
                a.0.insert(
                    OwnedKey::Symbol(Symbol::from(k.as_str())),
                    Value::String(v.clone()),
                );
            }
            a
        });
        ProbeTemplate {
            properties: Properties::builder()
                .content_type(inject.content_type.as_str())
                .build(),
            application_properties,
            annotations,
        }
    }

    /// A probe message with `body` as its one Data section.
    pub fn message(&self, body: Vec<u8>) -> Message<Data> {
        Message::builder()
            .properties(self.properties.clone())
            .application_properties(self.application_properties.clone())
            .message_annotations(self.annotations.clone())
            .data(Binary::from(body))
            .build()
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
    requests: mpsc::Receiver<SendRequest>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut link = Publisher {
        ep,
        address,
        body,
        requests,
        events,
        cancel: cancel.clone(),
        unsettled: Arc::new(Semaphore::new(MAX_UNSETTLED)),
        last_error: String::new(),
    };
    retry::keep(&mut link, Backoff::reconnect(), &cancel).await;
}

/// The probe publisher's link, kept up by [`retry::keep`].
struct Publisher {
    ep: AmqpEndpoint,
    address: String,
    body: BodyOptions,
    requests: mpsc::Receiver<SendRequest>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
    unsettled: Arc<Semaphore>,
    /// Why the link is down, for requests failed meanwhile.
    last_error: String,
}

impl Reconnect for Publisher {
    type Conn = (AmqpSession, Sender);

    async fn connect(&mut self) -> Result<Self::Conn> {
        connect(
            &self.ep,
            &format!("streamprobe-publisher-{}", std::process::id()),
        )
        .await?
        .with_sender("streamprobe-publisher", &self.address)
        .await
    }

    async fn up(&mut self) {
        tracing::info!(address = %self.address, "publisher attached");
        let _ = self
            .events
            .send(Event::Up {
                link: Link::Injector,
            })
            .await;
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        let link = Link::Injector;
        let event = match why {
            Down::Failed(e) => {
                self.last_error = format!("{e:#}");
                tracing::warn!(error = %self.last_error, "publisher connect failed");
                down_or_refused(link, e)
            }
            Down::Lost(e) => {
                self.last_error = e.to_owned();
                tracing::warn!(error = %e, "publisher link lost");
                Event::Down {
                    link,
                    error: e.to_owned(),
                }
            }
        };
        let _ = self.events.send(event).await;
        Next::Backoff
    }

    /// Fails what the user asks for while the link is down, so the counts
    /// stay true.
    async fn wait(&mut self, delay: Duration) {
        crate::event::fail_requests_for(delay, &mut self.requests, &self.last_error, &self.events)
            .await;
    }

    async fn session(&mut self, (s, mut sender): Self::Conn) -> Result<(), String> {
        let err = loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break None,
                e = sender.on_detach() => break Some(format!("link detached: {e}")),
                req = self.requests.recv() => {
                    let Some(req) = req else { break None };
                    if let Err(e) = send_request(&mut sender, &req, &self.body, &self.events, &self.unsettled).await {
                        break Some(e);
                    }
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), sender.close()).await;
        s.close().await;
        err.map_or(Ok(()), Err)
    }
}

/// [`Event::Refused`] when `e` is a [`Refused`], else [`Event::Down`].
pub fn down_or_refused(link: Link, e: &anyhow::Error) -> Event {
    let error = format!("{e:#}");
    if e.is::<Refused>() {
        Event::Refused { link, error }
    } else {
        Event::Down { link, error }
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
    let template = ProbeTemplate::new(&req.inject);
    let opts = &req.body_options(opts);
    for seq in req.seqs.clone() {
        let Some(intended) = req.wait_due(start, seq).await else {
            return Ok(());
        };
        let Ok(permit) = unsettled.clone().acquire_owned().await else {
            return Err("publisher shutting down".into());
        };
        let body = probe_body(&req.run, seq, opts);
        let at = req.mark_sent(seq, intended, events).await;
        match sender.send_batchable(template.message(body)).await {
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
                    stop: req.stop.clone(),
                };
                crate::event::fail_request(&rest, &error, events).await;
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
    let mut link = Consumer {
        ep,
        address,
        dest,
        events,
        cancel: cancel.clone(),
    };
    retry::keep(&mut link, Backoff::reconnect(), &cancel).await;
}

/// A destination consumer's link, kept up by [`retry::keep`].
struct Consumer {
    ep: AmqpEndpoint,
    address: String,
    dest: usize,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
}

impl Reconnect for Consumer {
    type Conn = (AmqpSession, Receiver);

    async fn connect(&mut self) -> Result<Self::Conn> {
        let dest = self.dest;
        connect(
            &self.ep,
            &format!("streamprobe-consumer-{}-{dest}", std::process::id()),
        )
        .await?
        .with_receiver(&format!("streamprobe-consumer-{dest}"), &self.address)
        .await
    }

    async fn up(&mut self) {
        tracing::info!(dest = self.dest, address = %self.address, "consumer attached");
        let link = Link::Dest(self.dest);
        let _ = self.events.send(Event::Up { link }).await;
    }

    async fn down(&mut self, why: Down<'_>) -> Next {
        let (dest, link) = (self.dest, Link::Dest(self.dest));
        let event = match why {
            Down::Failed(e) => {
                tracing::warn!(dest, error = %format!("{e:#}"), "consumer connect failed");
                down_or_refused(link, e)
            }
            Down::Lost(e) => {
                tracing::warn!(dest, error = %e, "consumer link lost");
                Event::Down {
                    link,
                    error: e.to_owned(),
                }
            }
        };
        let _ = self.events.send(event).await;
        Next::Backoff
    }

    async fn session(&mut self, (s, mut receiver): Self::Conn) -> Result<(), String> {
        let mut credit = CreditWindow::new();
        // Accepted in batches (one disposition per run of consecutive
        // deliveries): flushed at 64, or once no delivery came for 2 ms.
        let mut unaccepted: Vec<fe2o3_amqp::link::delivery::DeliveryInfo> = Vec::new();
        let err = loop {
            if let Err(e) = credit.grant(&mut receiver, CONSUMER_CREDIT).await {
                break Some(format!("{e:#}"));
            }
            if unaccepted.len() >= 64 {
                accept_all(&receiver, &mut unaccepted, self.dest).await;
            }
            let delivery = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break None,
                d = receiver.recv::<Body<Value>>() => d,
                _ = tokio::time::sleep(Duration::from_millis(2)), if !unaccepted.is_empty() => {
                    accept_all(&receiver, &mut unaccepted, self.dest).await;
                    continue;
                }
            };
            match delivery {
                Ok(delivery) => {
                    credit.received();
                    let at = Instant::now();
                    let wall = Utc::now();
                    let arrival = amqp_arrival(self.dest, at, wall, delivery.message());
                    unaccepted.push((&delivery).into());
                    let _ = self.events.send(Event::Arrived(arrival)).await;
                }
                Err(e) => break Some(format!("receive failed: {e}")),
            }
        };
        if err.is_none() {
            accept_all(&receiver, &mut unaccepted, self.dest).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), receiver.close()).await;
        s.close().await;
        err.map_or(Ok(()), Err)
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

    #[test]
    fn broker_errors_read_as_one_line() {
        let debug = r#"The session stopped before the link was attached: RemoteEndedWithError(Error { condition: AmqpError(PreconditionFailed), description: Some("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"), info: None })"#;
        assert_eq!(
            amqp_error_line(debug),
            "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"
        );
        assert_eq!(
            amqp_error_line(
                "RemoteDetachedWithError(Error { condition: AmqpError(NotFound), description: None, info: None })"
            ),
            "NotFound (no description from the broker)"
        );
        assert_eq!(amqp_error_line("plain text"), "plain text");
    }
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("amqp://localhost:5672"), "amqp://localhost:5672");
        // no scheme: `user` parses as one, the password as a path
        assert_eq!(redact_url("spuser:Zq9SecretPw@127.0.0.1:5672"), "***");
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
            ..Default::default()
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

    #[test]
    fn values_print_the_amqp_way() {
        use fe2o3_amqp::types::primitives::{OrderedMap, SimpleValue, Timestamp, Uuid};
        assert_eq!(format_value(&Value::String("acme".into())), "acme");
        assert_eq!(format_value(&Value::String("42".into())), "42");
        assert_eq!(format_value(&Value::Null), "null");
        assert_eq!(format_value(&Value::Uint(42)), "42 (uint)");
        assert_eq!(format_value(&Value::Ulong(7)), "7 (ulong)");
        assert_eq!(format_value(&Value::Int(-3)), "-3 (int)");
        assert_eq!(format_value(&Value::Long(-3)), "-3 (long)");
        assert_eq!(format_value(&Value::Ubyte(255)), "255 (ubyte)");
        assert_eq!(format_value(&Value::Bool(true)), "true (boolean)");
        assert_eq!(format_value(&Value::Double(1.5.into())), "1.5 (double)");
        assert_eq!(format_value(&Value::Char('z')), "z (char)");
        assert_eq!(
            format_value(&Value::Symbol(Symbol::from("x-opt"))),
            "x-opt (symbol)"
        );
        assert_eq!(
            format_value(&Value::Binary(vec![0x00, 0xff].into())),
            "0x00ff (binary)"
        );
        assert_eq!(
            format_value(&Value::Binary(Vec::new().into())),
            "0x (binary)"
        );
        assert_eq!(
            format_value(&Value::Timestamp(Timestamp::from_milliseconds(
                1_714_557_600_123
            ))),
            "2024-05-01T10:00:00.123Z (timestamp)"
        );
        let u: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            format_value(&Value::Uuid(Uuid::from(u))),
            "00010203-0405-0607-0809-0a0b0c0d0e0f (uuid)"
        );
        assert_eq!(
            format_value(&Value::List(vec![
                Value::String("a".into()),
                Value::Int(1),
                Value::Null
            ])),
            "[\"a\", 1 (int), null] (list)"
        );
        let mut m = OrderedMap::new();
        m.insert(Value::Symbol(Symbol::from("k")), Value::String("v".into()));
        assert_eq!(format_value(&Value::Map(m)), "{k (symbol): \"v\"} (map)");
        // simple values (application properties) print the same way
        assert_eq!(format_simple(&SimpleValue::String("acme".into())), "acme");
        assert_eq!(format_simple(&SimpleValue::Uint(42)), "42 (uint)");
        // a huge value is cut
        let big = Value::List((0..10_000).map(Value::Uint).collect());
        let t = format_value(&big);
        assert!(
            t.chars().count() < VALUE_CHARS + 64 && t.ends_with('…'),
            "{}",
            t.len()
        );
    }

    #[test]
    fn amqp_detail_has_every_section() {
        use fe2o3_amqp::types::messaging::{AmqpValue, Header, MessageId};
        use fe2o3_amqp::types::primitives::{SimpleValue, Timestamp};
        let mut ann = MessageAnnotations::default();
        ann.0.insert(
            OwnedKey::Symbol(Symbol::from("x-opt-a")),
            Value::String("1".into()),
        );
        ann.0.insert(OwnedKey::Ulong(9), Value::Uint(42));
        let msg: Message<Body<Value>> = Message {
            header: Some(Header {
                durable: true,
                priority: 7.into(),
                ttl: Some(1000),
                first_acquirer: false,
                delivery_count: 2,
            }),
            delivery_annotations: None,
            message_annotations: Some(ann),
            properties: Some(
                Properties::builder()
                    .message_id(MessageId::Ulong(5))
                    .user_id(Binary::from(b"guest".to_vec()))
                    .subject("s")
                    .content_type("text/plain")
                    .creation_time(Timestamp::from_milliseconds(0))
                    .group_sequence(3)
                    .build(),
            ),
            application_properties: Some(
                ApplicationProperties::builder()
                    .insert("tenant", "acme")
                    .insert("n", SimpleValue::Int(-1))
                    .build(),
            ),
            body: Body::Data(vec![Data(Binary::from(b"hello".to_vec()))].into()),
            footer: None,
        };
        let a = amqp_arrival(1, Instant::now(), Utc::now(), &msg);
        let d = a.detail.expect("detail");
        assert_eq!(d.body, b"hello");
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            d.proto,
            Proto::Amqp {
                body_section: "data".into(),
                header: pairs(&[
                    ("durable", "true"),
                    ("priority", "7"),
                    ("ttl", "1000 ms"),
                    ("first-acquirer", "false"),
                    ("delivery-count", "2"),
                ]),
                properties: pairs(&[
                    ("message-id", "5 (ulong)"),
                    ("user-id", "0x6775657374"),
                    ("subject", "s"),
                    ("content-type", "text/plain"),
                    ("creation-time", "1970-01-01T00:00:00.000Z"),
                    ("group-sequence", "3"),
                ]),
                application_properties: pairs(&[("tenant", "acme"), ("n", "-1 (int)")]),
                annotations: pairs(&[("x-opt-a", "1"), ("9 (ulong)", "42 (uint)")]),
            }
        );
        // other body sections
        let mut m = msg.clone();
        m.header = None;
        m.properties = None;
        m.application_properties = None;
        m.message_annotations = None;
        m.body = Body::Value(AmqpValue(Value::Uint(42)));
        let a = amqp_arrival(0, Instant::now(), Utc::now(), &m);
        let d = a.detail.expect("detail");
        assert_eq!(d.body, b"42 (uint)");
        assert_eq!(
            d.proto,
            Proto::Amqp {
                body_section: "amqp-value uint".into(),
                header: vec![],
                properties: vec![],
                application_properties: vec![],
                annotations: vec![],
            }
        );
        m.body = Body::Empty;
        let d = amqp_arrival(0, Instant::now(), Utc::now(), &m)
            .detail
            .expect("detail");
        assert_eq!((d.body.len(), d.proto), (0, Proto::default()));
        // the body is kept up to BODY_KEEP bytes, the size is the real one
        m.body = Body::Data(vec![Data(Binary::from(vec![b'x'; BODY_KEEP + 10]))].into());
        let a = amqp_arrival(0, Instant::now(), Utc::now(), &m);
        assert_eq!(
            (a.size, a.detail.expect("detail").body.len()),
            (BODY_KEEP + 10, BODY_KEEP)
        );
    }

    #[test]
    fn probe_template_applies_the_inject() {
        let plain = ProbeTemplate::new(&Inject::default()).message(b"b".to_vec());
        assert_eq!(
            plain,
            probe_message(b"b".to_vec()),
            "the default is today's message"
        );
        let inject = Inject {
            content_type: "text/plain".into(),
            properties: vec![("tenant".into(), "acme".into()), ("b".into(), "".into())],
            annotations: vec![("x-opt-a".into(), "1".into())],
            payload: None,
        };
        let m = ProbeTemplate::new(&inject).message(b"b".to_vec());
        let m: Message<Body<Value>> = Message {
            header: m.header,
            delivery_annotations: None,
            message_annotations: m.message_annotations,
            properties: m.properties,
            application_properties: m.application_properties,
            body: Body::Data(vec![m.body].into()),
            footer: None,
        };
        let Proto::Amqp {
            properties,
            application_properties,
            annotations,
            ..
        } = amqp_proto(&m)
        else {
            panic!("amqp")
        };
        assert_eq!(
            properties,
            [("content-type".to_owned(), "text/plain".to_owned())]
        );
        assert_eq!(
            application_properties,
            [
                ("tenant".to_owned(), "acme".to_owned()),
                ("b".to_owned(), String::new())
            ]
        );
        assert_eq!(annotations, [("x-opt-a".to_owned(), "1".to_owned())]);
    }
}
