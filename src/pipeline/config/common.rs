//! Types shared by several components: Go durations, SASL, metadata
//! filters, broker lists (Bento's shapes and rules).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::amqp::AmqpEndpoint;

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

/// Bento's `tls:` block (amqp_1 and kafka components; Bento's
/// `internal/impl/*/tls` fields). Off unless `enabled`; an `amqps://` URL
/// uses it too.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub enabled: bool,
    /// Accept any certificate (Bento's `skip_cert_verify`).
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// Accepted and ignored (TLS 1.3 has no renegotiation; rustls none).
    #[serde(default)]
    pub enable_renegotiation: bool,
    /// CA certificates as PEM text.
    #[serde(default)]
    pub root_cas: String,
    /// A PEM file of CA certificates.
    #[serde(default)]
    pub root_cas_file: String,
    /// Client certificates (the first is presented).
    #[serde(default)]
    pub client_certs: Vec<ClientCert>,
}

/// One of `tls.client_certs`: PEM text (`cert`, `key`) or files.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCert {
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    /// An encrypted key's password: not supported (the check says so).
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("enabled", &self.enabled)
            .field("skip_cert_verify", &self.skip_cert_verify)
            .field("root_cas_file", &self.root_cas_file)
            .field("client_certs", &self.client_certs.len())
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The TLS options of an amqp_1 component.
    pub fn options(&self) -> crate::tls::TlsOptions {
        let first = self.client_certs.first();
        let file = |s: &str| (!s.is_empty()).then(|| std::path::PathBuf::from(s));
        crate::tls::TlsOptions {
            ca: file(&self.root_cas_file),
            client_cert: first.and_then(|c| file(&c.cert_file)),
            client_key: first.and_then(|c| file(&c.key_file)),
            skip_verify: self.skip_cert_verify,
            ca_pem: (!self.root_cas.is_empty()).then(|| self.root_cas.clone()),
            client_pem: first
                .filter(|c| !c.cert.is_empty())
                .map(|c| (c.cert.clone(), c.key.clone())),
            force: self.enabled,
            names: crate::tls::TlsNames::BENTO,
        }
    }

    /// librdkafka's properties for the block (none when not enabled).
    pub fn kafka_props(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if !self.enabled {
            return p;
        }
        let mut set = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
        if self.skip_cert_verify {
            set("enable.ssl.certificate.verification", "false");
        }
        if !self.root_cas_file.is_empty() {
            set("ssl.ca.location", &self.root_cas_file);
        }
        if !self.root_cas.is_empty() {
            set("ssl.ca.pem", &self.root_cas);
        }
        if let Some(c) = self.client_certs.first() {
            if !c.cert_file.is_empty() {
                set("ssl.certificate.location", &c.cert_file);
                set("ssl.key.location", &c.key_file);
            }
            if !c.cert.is_empty() {
                set("ssl.certificate.pem", &c.cert);
                set("ssl.key.pem", &c.key);
            }
        }
        p
    }

    /// What the runner cannot use, known without a connection: an
    /// unreadable file, PEM that holds no certificate, a key password.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.client_certs.iter().any(|c| !c.password.is_empty()) {
            return Some((
                "client_certs",
                "an encrypted client key (`password`) is not supported by the local runner".into(),
            ));
        }
        if !(self.enabled || !self.root_cas.is_empty() || !self.root_cas_file.is_empty()) {
            return None;
        }
        self.options().check().err().map(|e| ("", format!("{e:#}")))
    }
}

/// SASL mechanism of the kafka components (Bento's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum KafkaSaslMechanism {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
    #[serde(rename = "AWS_MSK_IAM")]
    AwsMskIam,
}

/// `sasl:` of the kafka components.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    #[serde(default)]
    pub mechanism: KafkaSaslMechanism,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub token_cache: String,
    #[serde(default)]
    pub token_key: String,
}

impl std::fmt::Debug for KafkaSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSasl")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

/// librdkafka's properties for a kafka component's `tls` and `sasl`:
/// `security.protocol` as Bento picks it (TLS on: SSL or SASL_SSL; off:
/// PLAINTEXT or SASL_PLAINTEXT), the mechanism and login, the TLS files.
pub fn kafka_security(tls: &Tls, sasl: &KafkaSasl) -> Vec<(String, String)> {
    let mechanism = match sasl.mechanism {
        KafkaSaslMechanism::None => None,
        KafkaSaslMechanism::Plain => Some("PLAIN"),
        KafkaSaslMechanism::ScramSha256 => Some("SCRAM-SHA-256"),
        KafkaSaslMechanism::ScramSha512 => Some("SCRAM-SHA-512"),
        // refused by the check
        KafkaSaslMechanism::OauthBearer | KafkaSaslMechanism::AwsMskIam => None,
    };
    let protocol = match (tls.enabled, mechanism.is_some()) {
        (false, false) => "PLAINTEXT",
        (true, false) => "SSL",
        (false, true) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    };
    let mut p = vec![("security.protocol".to_owned(), protocol.to_owned())];
    if let Some(m) = mechanism {
        p.push(("sasl.mechanism".into(), m.into()));
        p.push(("sasl.username".into(), sasl.user.clone()));
        p.push(("sasl.password".into(), sasl.password.clone()));
    }
    p.extend(tls.kafka_props());
    p
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

pub(super) fn dur(ms: u64) -> GoDuration {
    GoDuration(Duration::from_millis(ms))
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn default_client_id() -> String {
    "bento".into()
}

pub(super) fn default_in_flight() -> usize {
    64
}

/// An optional Go duration where an empty string means "not set".
pub(super) fn optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<GoDuration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_go_duration(s.trim())
            .map(|d| Some(GoDuration(d)))
            .map_err(serde::de::Error::custom),
    }
}

/// Kafka `addresses` as one list (comma-separated entries split, blanks dropped).
pub fn broker_list(addresses: &[String]) -> Vec<&str> {
    addresses
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect()
}

impl Sasl {
    /// The AMQP endpoints of an amqp_1 component: every URL (comma-separated
    /// lists split), with SASL PLAIN credentials when the mechanism is plain.
    pub fn endpoints(&self, urls: &[String], tls: &Tls) -> Vec<AmqpEndpoint> {
        let (user, password) = match self.mechanism {
            SaslMechanism::Plain => (self.user.clone(), self.password.clone()),
            SaslMechanism::None | SaslMechanism::Anonymous => (String::new(), String::new()),
        };
        urls.iter()
            .flat_map(|u| u.split(','))
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| AmqpEndpoint {
                url: u.to_owned(),
                user: user.clone(),
                password: password.clone(),
                tls: tls.options(),
                sasl_external: false, // not in Bento's amqp_1 sasl
            })
            .collect()
    }
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
}
