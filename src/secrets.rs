//! Values of Tyk references (`$secret_env.NAME`, `$api_config.KEY`) must
//! never be shown. Every value the config loader resolves is registered
//! here, and every message the program prints (lint findings, config and
//! build errors, log lines) passes through [`redact`], which puts the
//! reference back in place of its value.

use std::borrow::Cow;
use std::sync::RwLock;

/// (value, reference as written), longest value first.
static SECRETS: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Values shorter than this are not redacted: replacing every "1" or "ok"
/// would garble messages, and such values are not secrets worth the name.
const MIN_LEN: usize = 3;

/// Registers a resolved value and the reference it came from (e.g.
/// `$secret_env.AMQP_PASSWORD`).
pub fn register(value: &str, reference: &str) {
    if value.chars().count() < MIN_LEN {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    // also as error messages quote it (`{:?}`: `\n`, `\"`, `\\` escaped)
    for form in [value.to_owned(), value.escape_debug().to_string()] {
        if !s.iter().any(|(v, _)| *v == form) {
            s.push((form, reference.to_owned()));
        }
    }
    s.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
}

/// `text` with every registered value replaced by its reference.
pub fn redact(text: &str) -> Cow<'_, str> {
    let s = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if s.iter().all(|(v, _)| !text.contains(v.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for (v, r) in s.iter() {
        out = out.replace(v.as_str(), r);
    }
    Cow::Owned(out)
}

/// An `io::Write` that redacts what passes through it (for log lines; a
/// tracing event arrives as one write).
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => {
                if let Cow::Owned(clean) = redact(text) {
                    self.0.write_all(clean.as_bytes())?;
                    return Ok(buf.len());
                }
                self.0.write(buf)
            }
            Err(_) => self.0.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_replaced_by_their_reference() {
        register("hunter2-TOPSECRET", "$secret_env.T1");
        register("ab", "$secret_env.SHORT");
        register("pw \"q\\nx", "$secret_env.Q");
        assert_eq!(
            redact(r#"string "pw \"q\\nx""#),
            r#"string "$secret_env.Q""#
        );
        assert_eq!(
            redact("invalid type: string \"hunter2-TOPSECRET\", expected u32"),
            "invalid type: string \"$secret_env.T1\", expected u32"
        );
        assert_eq!(redact("credit ab"), "credit ab");
        let mut out = Vec::new();
        std::io::Write::write_all(&mut Redacting(&mut out), b"x hunter2-TOPSECRET y\n").unwrap();
        assert_eq!(out, b"x $secret_env.T1 y\n");
    }
}
