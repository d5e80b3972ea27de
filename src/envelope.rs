//! The probe message body.
//!
//! The stream deletes all metadata (`meta = deleted()`), so everything
//! streamprobe needs to recognise its own messages travels in the BODY: a
//! small JSON object
//! `{"streamprobe":1,"run":"<id>","seq":42,"sent_at":"<RFC 3339 UTC>"}`,
//! optionally with a `pad` string (payload size) and a `payload` (user JSON).
//! Any other body is a *foreign* message: shown and counted, never given a
//! latency (see DESIGN.md, "Measuring honestly").

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Envelope format version written in the `streamprobe` field.
pub const VERSION: u32 = 1;

/// A decoded probe envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Format version; always [`VERSION`] when we write it.
    pub streamprobe: u32,
    /// Run id: identifies one streamprobe process run (or one `r` reset).
    pub run: String,
    /// Sequence number within the run, starting at 0, dense.
    pub seq: u64,
    /// Wall-clock send time (UTC). Only used for probes of OTHER processes;
    /// our own latency comes from the monotonic clock.
    pub sent_at: DateTime<Utc>,
    /// Padding to reach a requested payload size (ASCII `x`s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<String>,
    /// Optional user JSON carried unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

impl Probe {
    /// A probe for `run`/`seq` sent at `sent_at`, with no padding or payload.
    pub fn new(run: &str, seq: u64, sent_at: DateTime<Utc>) -> Self {
        Probe {
            streamprobe: VERSION,
            run: run.to_owned(),
            seq,
            sent_at,
            pad: None,
            payload: None,
        }
    }

    /// The JSON body bytes (UTF-8, one line, fields in the order above,
    /// `sent_at` with microseconds).
    pub fn encode(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wire<'a> {
            streamprobe: u32,
            run: &'a str,
            seq: u64,
            sent_at: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            pad: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<&'a serde_json::Value>,
        }
        let wire = Wire {
            streamprobe: self.streamprobe,
            run: &self.run,
            seq: self.seq,
            sent_at: self.sent_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            pad: self.pad.as_deref(),
            payload: self.payload.as_ref(),
        };
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes a body. Returns `None` for anything that is not a probe
    /// envelope (not JSON, not an object, missing/ill-typed fields, or a
    /// different `streamprobe` version): such a body is a foreign message.
    pub fn decode(body: &[u8]) -> Option<Probe> {
        // Cheap pre-check so foreign traffic does not cost a JSON parse.
        if body.first() != Some(&b'{') {
            return None;
        }
        let p: Probe = serde_json::from_slice(body).ok()?;
        (p.streamprobe == VERSION).then_some(p)
    }
}

/// A new run id: 8 lowercase hex digits, random.
pub fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut p = Probe::new("abcd1234", 42, t);
        let body = p.encode();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"streamprobe":1,"run":"abcd1234","seq":42,"sent_at":"2026-11-29T10:00:00.123456Z"}"#
        );
        assert_eq!(Probe::decode(&body), Some(p.clone()));
        p.pad = Some("xxxx".into());
        p.payload = Some(serde_json::json!({"k": [1, 2]}));
        assert_eq!(Probe::decode(&p.encode()), Some(p));
    }

    #[test]
    fn foreign_bodies_are_not_probes() {
        for body in [
            &b""[..],
            b"hello",
            b"{}",
            b"{\"streamprobe\":2,\"run\":\"a\",\"seq\":1,\"sent_at\":\"2026-11-29T10:00:00Z\"}",
            b"{\"streamprobe\":1,\"run\":\"a\",\"seq\":-1,\"sent_at\":\"2026-11-29T10:00:00Z\"}",
            b"{\"streamprobe\":1,\"run\":\"a\",\"seq\":1,\"sent_at\":\"yesterday\"}",
            b"\xff\xfe\x00",
        ] {
            assert_eq!(Probe::decode(body), None, "{body:?}");
        }
    }

    #[test]
    fn run_ids_are_hex() {
        let id = new_run_id();
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
