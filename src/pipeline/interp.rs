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

/// Replaces Tyk's references the way Tyk does before it builds a stream:
/// `$secret_env.NAME` → environment variable NAME (`env`), and
/// `$api_config.KEY` → KEY of the API definition's config data, which the
/// local runner takes from `--api-config FILE` (`api`; `None` when not
/// given). Names are `[A-Za-z0-9_]+`. Every unresolvable reference is
/// reported; resolved values are never part of an error, and each is
/// registered in `secrets` so that no message shows it.
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
        let hit = ["$secret_env.", "$api_config."]
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
        let value = if name.is_empty() {
            Err("has no name".to_owned())
        } else if prefix == "$secret_env." {
            env(name).ok_or_else(|| format!("is not set: environment variable {name} is missing"))
        } else {
            match api {
                None => Err("needs --api-config FILE (a YAML/JSON map standing in for the API definition's config data)".to_owned()),
                Some(m) => m.get(name).cloned().ok_or_else(|| format!("is not set: key {name:?} is not in the --api-config file")),
            }
        };
        match value {
            Ok(v) => {
                let escaped = escape_newlines(&v);
                secrets.register(&v, reference);
                secrets.register(&escaped, reference);
                out.push_str(&escaped)
            }
            Err(why) => bad.push(BadRef {
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
        let t = "password: $api_config.amqp_password\nuser: $secret_env.HOST\n";
        assert_eq!(
            tyk_refs(t, env, Some(&api), &Default::default()).unwrap(),
            "password: s3cret\nuser: rabbit\n"
        );
        let e = tyk_refs(t, env, None, &Default::default()).unwrap_err();
        assert_eq!((e[0].line, e[0].column), (1, 11));
        assert!(e[0].to_string().contains("needs --api-config"), "{}", e[0]);
        let e = tyk_refs(
            "a: $secret_env.NOPE\nb: $api_config.missing",
            env,
            Some(&api),
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(
            e[0].to_string()
                .starts_with("1:4: $secret_env.NOPE is not set"),
            "{}",
            e[0]
        );
        assert!(
            e[1].to_string()
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
