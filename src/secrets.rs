//! Values of Tyk references (`$secret_env.NAME`, `$api_config.KEY`) must
//! never be shown. Every value the config loader resolves is registered
//! in a [`Secrets`] list, and every message the program prints (lint findings, config and
//! build errors, log lines) passes through [`Secrets::redact`], which puts the
//! reference back in place of its value.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// Values shorter than this are not redacted: replacing every "1" or "ok"
/// would garble messages, and such values are not secrets worth the name.
const MIN_LEN: usize = 3;

/// The values to hide, each with the reference it came from. One is made in
/// `main` and handed (cloned: clones share the list) to config loading,
/// which fills it, and to logging and printing, which read it.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// (value, reference as written), longest value first.
    list: Arc<RwLock<Vec<(String, String)>>>,
}

impl Secrets {
    /// An empty list.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Registers a resolved value and the reference it came from (e.g.
    /// `$secret_env.AMQP_PASSWORD`), also in the form error messages quote
    /// it (`{:?}`: `\n`, `\"`, `\\` escaped). Values shorter than 3
    /// characters are not registered.
    pub fn register(&self, value: &str, reference: &str) {
        if value.chars().count() < MIN_LEN {
            return;
        }
        let mut s = self.list.write().unwrap_or_else(|e| e.into_inner());
        for form in [value.to_owned(), value.escape_debug().to_string()] {
            if !s.iter().any(|(v, _)| *v == form) {
                s.push((form, reference.to_owned()));
            }
        }
        s.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// `text` with every registered value replaced by its reference.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let s = self.list.read().unwrap_or_else(|e| e.into_inner());
        if s.iter().all(|(v, _)| !text.contains(v.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for (v, r) in s.iter() {
            out = out.replace(v.as_str(), r);
        }
        Cow::Owned(out)
    }

    /// `inner`, with everything written through it redacted.
    pub fn writer<W>(&self, inner: W) -> Redacting<W> {
        Redacting {
            inner,
            secrets: self.clone(),
        }
    }
}

/// An `io::Write` that redacts what passes through it (for log lines; a
/// tracing event arrives as one write). Made by [`Secrets::writer`].
pub struct Redacting<W> {
    inner: W,
    secrets: Secrets,
}

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => {
                if let Cow::Owned(clean) = self.secrets.redact(text) {
                    self.inner.write_all(clean.as_bytes())?;
                    return Ok(buf.len());
                }
                self.inner.write(buf)
            }
            Err(_) => self.inner.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_replaced_by_their_reference() {
        let secrets = Secrets::new();
        secrets.register("hunter2-TOPSECRET", "$secret_env.T1");
        secrets.register("ab", "$secret_env.SHORT");
        secrets.register("pw \"q\\nx", "$secret_env.Q");
        assert_eq!(
            secrets.redact(r#"string "pw \"q\\nx""#),
            r#"string "$secret_env.Q""#
        );
        assert_eq!(
            secrets.redact("invalid type: string \"hunter2-TOPSECRET\", expected u32"),
            "invalid type: string \"$secret_env.T1\", expected u32"
        );
        assert_eq!(secrets.redact("credit ab"), "credit ab");
        let mut out = Vec::new();
        std::io::Write::write_all(&mut secrets.writer(&mut out), b"x hunter2-TOPSECRET y\n")
            .unwrap();
        assert_eq!(out, b"x $secret_env.T1 y\n");
    }
}
