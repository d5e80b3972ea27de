//! Environment interpolation on the raw config text, before YAML parsing,
//! as Bento does it (internal/config/env_vars.go):
//!
//! - `${VAR}` — the value of VAR; an error when VAR is unset;
//! - `${VAR:default}` — the default when VAR is unset OR empty;
//! - `${VAR:}` — explicitly empty when unset or empty;
//! - `${{VAR}}` — an escaped literal `${VAR}` (no lookup);
//! - `${! ... }` — Bloblang interpolation, left untouched for the component.

use std::fmt;

/// A `${VAR}` without default whose variable is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    pub name: String,
    /// 1-based line and column of the `$`.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for MissingVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: environment variable {} is not set and has no default (write ${{{}:default}} to give one)",
            self.line, self.column, self.name, self.name
        )
    }
}

/// A substituted value's newlines written as `\n` (Bento's env_vars.go does
/// this), so a value stays on its line and cannot add YAML structure.
fn escape_newlines(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains('\n') {
        std::borrow::Cow::Owned(v.replace('\n', "\\n"))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// `text` with every `${VAR}`, `${VAR:default}` and `${{VAR}}` reference
/// replaced by as many `x` as it has characters: YAML that parses where the
/// references would not (e.g. an unquoted `${VAR}` in a flow mapping), with
/// every line:col of the file unchanged.
pub fn masked(text: &str) -> String {
    static REF: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\$\{\{[A-Za-z0-9_]+\}\}|\$\{[A-Za-z0-9_]+(:[^}\n]*)?\}").expect("regex")
    });
    REF.replace_all(text, |c: &regex::Captures| "x".repeat(c[0].chars().count()))
        .into_owned()
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces every environment reference in `text`, looking values up with
/// `lookup`. Returns every missing variable (not just the first) on error.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<MissingVar>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    let mut consumed = 0usize; // byte offset of `rest` in `text`
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let at = consumed + pos;
        // ${{VAR}} → literal ${VAR}
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(end) = inner.find("}}") {
                let name = &inner[..end];
                if !name.is_empty() && !name.contains(['{', '\n']) {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                    let used = pos + 2 + 1 + end + 2;
                    rest = &rest[used..];
                    consumed += used;
                    continue;
                }
            }
        }
        // ${VAR} / ${VAR:default}; default runs to the first '}' (Bento's regex
        // forbids '}' inside it).
        let name_len = after.find(|c: char| !is_var_char(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let parsed = if name.is_empty() {
            None
        } else if tail.starts_with('}') {
            Some((None, name_len + 1))
        } else if let Some(def) = tail.strip_prefix(':') {
            def.find('}')
                .map(|end| (Some(&def[..end]), name_len + 1 + end + 1))
        } else {
            None
        };
        match parsed {
            None => {
                // not a reference (e.g. `${! bloblang }`): keep as is
                out.push_str("${");
                rest = &rest[pos + 2..];
                consumed += pos + 2;
            }
            Some((default, len)) => {
                let value = lookup(name);
                match (value, default) {
                    (Some(v), _) if !v.is_empty() => out.push_str(&escape_newlines(&v)),
                    (_, Some(d)) => out.push_str(d),
                    (Some(v), None) => out.push_str(&escape_newlines(&v)),
                    (None, None) => {
                        let (line, column) = line_col(text, at);
                        missing.push(MissingVar {
                            name: name.to_owned(),
                            line,
                            column,
                        });
                    }
                }
                rest = &rest[pos + 2 + len..];
                consumed += pos + 2 + len;
            }
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// An unresolvable Tyk reference (`$secret_env.NAME`, `$api_config.KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRef {
    /// The reference as written, e.g. `$api_config.amqp_password`.
    pub reference: String,
    pub line: usize,
    pub column: usize,
    pub why: String,
}

impl fmt::Display for BadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}",
            self.line, self.column, self.reference, self.why
        )
    }
}

/// Replaces Tyk's references the way Tyk's code does for a stream it
/// builds without a request (every broker-to-broker stream; the local
/// runner has no `http_server`):
///
/// - `$secret_env.NAME` stays as written: Tyk substitutes it (from
///   `TYK_SECRET_<NAME upper-cased>`) only per request, for streams with an
///   `http_server` path (`ee/middleware/streams` `processStreamsConfig`);
///   [`tyk_warnings`] says so and what works instead;
/// - `env://NAME` → environment variable NAME, exactly (Tyk's
///   `replaceSecrets` at API load), left as written when unset or empty;
/// - `secrets://NAME` stays as written (the gateway's `secrets` config,
///   which the local runner does not have);
/// - `$api_config.KEY` → KEY of `--api-config FILE` (`api`), the seed
///   README's stand-in for config data (not a Tyk variable); unresolvable
///   ones are errors with their line:col.
///
/// Names are `[A-Za-z0-9_]+`. Resolved values are never part of an error,
/// and each is registered in `secrets` so that no message shows it.
pub fn tyk_refs(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
    api: Option<&std::collections::BTreeMap<String, String>>,
    secrets: &crate::secrets::Secrets,
) -> Result<String, Vec<BadRef>> {
    let mut out = String::with_capacity(text.len());
    let mut bad = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let hit = ["$api_config.", "env://"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        let Some(prefix) = hit else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let name_len = rest[prefix.len()..]
            .find(|c: char| !is_var_char(c))
            .unwrap_or(rest.len() - prefix.len());
        let name = &rest[prefix.len()..prefix.len() + name_len];
        let reference = &rest[..prefix.len() + name_len];
        let (line, column) = line_col(text, i);
        let value = if prefix == "env://" {
            // Tyk: replaced when set and not empty, else left as written
            env(name)
                .filter(|v| !v.is_empty() && !name.is_empty())
                .ok_or(None)
        } else if name.is_empty() {
            Err(Some("has no name".to_owned()))
        } else {
            match api {
                None => Err(Some("needs --api-config FILE (a YAML/JSON map standing in for the API definition's config data)".to_owned())),
                Some(m) => m.get(name).cloned().ok_or_else(|| Some(format!("is not set: key {name:?} is not in the --api-config file"))),
            }
        };
        match value {
            Ok(v) => {
                let escaped = escape_newlines(&v);
                secrets.register(&v, reference);
                secrets.register(&escaped, reference);
                out.push_str(&escaped)
            }
            Err(None) => out.push_str(reference),
            Err(Some(why)) => bad.push(BadRef {
                reference: reference.to_owned(),
                line,
                column,
                why,
            }),
        }
        i += reference.len();
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

/// What Tyk leaves as written in `text` (a broker-to-broker stream), each
/// with its line:col and the way that works: `$secret_env.NAME` (Tyk
/// substitutes it only per request, in streams with an `http_server`
/// path), `secrets://NAME`, and `env://NAME` while NAME is unset (`env`).
pub fn tyk_warnings(text: &str, env: impl Fn(&str) -> Option<String>) -> Vec<BadRef> {
    static REF: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\$secret_env\.([A-Za-z0-9_]*)|secrets://([A-Za-z0-9_]*)|env://([A-Za-z0-9_]*)",
        )
        .expect("regex")
    });
    let mut out = Vec::new();
    for c in REF.captures_iter(text) {
        let m = c.get(0).expect("match");
        let (line, column) = line_col(text, m.start());
        let why = if let Some(n) = c.get(1) {
            let var = format!("TYK_SECRET_{}", n.as_str().to_ascii_uppercase());
            format!(
                "stays as written: Tyk substitutes `$secret_env.` (from {var}) only per request, in streams with an `http_server` path; in a broker-to-broker stream write Bento's `${{{var}}}` (the gateway's environment, in every stream)"
            )
        } else if c.get(2).is_some() {
            "stays as written: `secrets://` resolves from the gateway's `secrets` config, which the local runner does not have".to_owned()
        } else {
            let n = c.get(3).map_or("", |n| n.as_str());
            if env(n).is_some_and(|v| !v.is_empty()) {
                continue;
            }
            format!(
                "stays as written: environment variable {n:?} is not set (Tyk replaces `env://` at API load only when it is; file-loaded OAS definitions before Tyk 5.14 keep it as written)"
            )
        };
        out.push(BadRef {
            reference: m.as_str().to_owned(),
            line,
            column,
            why,
        });
    }
    out
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_in_values_are_escaped_and_references_masked() {
        let out = interpolate("a: ${V}\nb: 1\n", |_| Some("x\n  c: 2".into())).unwrap();
        assert_eq!(out, "a: x\\n  c: 2\nb: 1\n");
        assert_eq!(
            masked("k: {t: ${TOPIC}, d: ${X:dé}, l: ${{Y}}}"),
            "k: {t: xxxxxxxx, d: xxxxxxx, l: xxxxxx}"
        );
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("rabbit".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn bento_rules() {
        let t = "a: ${HOST}\nb: ${HOST:x}\nc: ${EMPTY:dflt}\nd: ${UNSET:amqp://localhost:5672}\ne: ${UNSET:}\nf: ${{HOST}}\ng: ${! meta(\"k\") }\nh: ${EMPTY}\n";
        assert_eq!(
            interpolate(t, env).unwrap(),
            "a: rabbit\nb: rabbit\nc: dflt\nd: amqp://localhost:5672\ne: \nf: ${HOST}\ng: ${! meta(\"k\") }\nh: \n"
        );
    }

    #[test]
    fn missing_vars_are_all_reported_with_position() {
        let err = interpolate("x: 1\ny: ${NOPE}  ${ALSO}\n", env).unwrap_err();
        assert_eq!(err.len(), 2);
        assert_eq!(
            (err[0].name.as_str(), err[0].line, err[0].column),
            ("NOPE", 2, 4)
        );
        assert_eq!(
            (err[1].name.as_str(), err[1].line, err[1].column),
            ("ALSO", 2, 13)
        );
        assert!(err[0].to_string().contains("NOPE is not set"));
    }

    #[test]
    fn tyk_references() {
        let api =
            std::collections::BTreeMap::from([("amqp_password".to_owned(), "s3cret".to_owned())]);
        // $secret_env stays as written (Tyk: only per request); env://
        // resolves when set, else stays; $api_config from --api-config
        let t = "password: $api_config.amqp_password\nuser: $secret_env.HOST\nh: env://HOST\nn: env://NOPE\ns: secrets://K\n";
        assert_eq!(
            tyk_refs(t, env, Some(&api), &Default::default()).unwrap(),
            "password: s3cret\nuser: $secret_env.HOST\nh: rabbit\nn: env://NOPE\ns: secrets://K\n"
        );
        let w = tyk_warnings(t, env);
        let w: Vec<String> = w.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].starts_with("2:7: $secret_env.HOST stays as written")
                && w[0].contains("${TYK_SECRET_HOST}"),
            "{w:#?}"
        );
        assert!(
            w[1].starts_with("4:4: env://NOPE stays as written"),
            "{w:#?}"
        );
        assert!(
            w[2].starts_with("5:4: secrets://K stays as written"),
            "{w:#?}"
        );
        let e = tyk_refs(t, env, None, &Default::default()).unwrap_err();
        assert_eq!((e[0].line, e[0].column), (1, 11));
        assert!(e[0].to_string().contains("needs --api-config"), "{}", e[0]);
        let e = tyk_refs(
            "b: $api_config.missing",
            env,
            Some(&api),
            &Default::default(),
        )
        .unwrap_err();
        assert!(
            e[0].to_string()
                .contains("\"missing\" is not in the --api-config file")
        );
        assert!(!format!("{e:?}").contains("s3cret"));
    }

    #[test]
    fn plain_dollars_pass_through() {
        assert_eq!(
            interpolate("p: $secret ${ x}", env).unwrap(),
            "p: $secret ${ x}"
        );
    }
}
