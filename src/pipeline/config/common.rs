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
    pub fn endpoints(&self, urls: &[String]) -> Vec<AmqpEndpoint> {
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
                tls: Default::default(),
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
