//! `streamprobe lint`: checks stream definitions without running them.
//!
//! Every problem is one line `file:line:col: message` (line:col omitted when
//! unknown). Besides what the runner rejects (unknown fields and components,
//! wrong types, missing fields, unsupported Bloblang, unset variables), lint
//! recognises shapes from the seed demo's README that the real engine
//! rejects and shows the shape that works (see ../shared/BENTO.md):
//! `fallback` written as a map, `retry` with `base_delay`/`max_delay`, and a
//! top-level `streams:` map in a plain Bento config (a warning: Tyk's API
//! definition and `streamprobe pipeline` accept it).

use std::path::Path;

use super::{config, interp, runner, validate};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// Warnings do not fail the lint.
    pub warning: bool,
}

fn at_key(text: &str, key: &str) -> Option<(usize, usize)> {
    // the key as a YAML mapping key at the start of a line (after indentation or "- ")
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '-']);
        if trimmed.starts_with(&format!("{key}:")) {
            let col = line.len() - trimmed.len();
            return Some(interp::line_col(text, offset + col));
        }
        offset += line.len();
    }
    None
}

/// Hints for the seed README's shapes that Bento rejects.
fn seed_shapes(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(_) => return out,
    };
    let mut stack = vec![&value];
    let (mut map_fallback, mut old_retry) = (false, false);
    while let Some(v) = stack.pop() {
        match v {
            serde_yaml_ng::Value::Mapping(m) => {
                if let Some(f) = m.get("fallback") {
                    if f.as_mapping()
                        .is_some_and(|fm| fm.contains_key("output") || fm.contains_key("fallbacks"))
                    {
                        map_fallback = true;
                    }
                }
                if let Some(r) = m.get("retry").and_then(|r| r.as_mapping()) {
                    if r.contains_key("base_delay") || r.contains_key("max_delay") {
                        old_retry = true;
                    }
                }
                stack.extend(m.values());
            }
            serde_yaml_ng::Value::Sequence(s) => stack.extend(s.iter()),
            _ => {}
        }
    }
    if map_fallback {
        out.push(Finding {
            at: at_key(text, "fallback"),
            message: "`fallback` takes a LIST of outputs, tried in order; Bento rejects a map with `output`/`fallbacks`. Write:\n  fallback:\n    - kafka: {...}      # primary\n    - amqp_1: {...}     # dead-letter target".into(),
            warning: false,
        });
    }
    if old_retry {
        out.push(Finding {
            at: at_key(text, "base_delay").or_else(|| at_key(text, "max_delay")),
            message: "`retry` has no `base_delay`/`max_delay`; Bento uses:\n  retry:\n    output: {...}\n    max_retries: 20\n    backoff:\n      initial_interval: 30s\n      max_interval: 5m".into(),
            warning: false,
        });
    }
    if let Some(i) = text.find("$api_config.") {
        out.push(Finding {
            at: Some(interp::line_col(text, i)),
            message: "`$api_config.…` (from the seed README) is not a Tyk 5.8 variable; Tyk 5.8 resolves `$secret_env.NAME`, `$secret_conf.NAME` and `$secret_vault.…`. The local runner takes `$api_config.KEY` from `--api-config FILE`".into(),
            warning: true,
        });
    }
    if value.get("streams").is_some() {
        out.push(Finding {
            at: at_key(text, "streams"),
            message: "a top-level `streams:` map is Tyk's API-definition shape (x-tyk-streaming.streams); `streamprobe pipeline` accepts it, but plain Bento rejects it (\"field streams not recognised\"): for Bento, put each stream in its own file".into(),
            warning: true,
        });
    }
    out
}

/// Lints one file: parses it and runs the runner's check pass
/// ([`runner::Stream::check_all`]); builds nothing, opens no socket and
/// spawns no task.
pub fn lint_file(
    path: &Path,
    api: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<Finding> {
    let raw = match config::read(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding {
                at: None,
                message: format!("cannot read: {e}"),
                warning: false,
            }];
        }
    };
    let mut findings = seed_shapes(&raw);
    match config::parse_text_with(path, &raw, |k| std::env::var(k).ok(), api) {
        Err(_) if every_problem(path, &raw, api, &mut findings) => {}
        Err(e) => {
            // "L:C: message" at the front of the message, when serde knew it
            // several located problems come joined by "; " (one per variable)
            for part in e.message.split("; ") {
                let (at, msg) = split_location(part);
                // serde loses positions inside a `streams:` map: find the named key
                let at = at.or_else(|| msg.split('`').nth(1).and_then(|k| at_key(&raw, k)));
                // the seed-shape hint already explains a map-shaped fallback/retry
                let explained = findings.iter().any(|f| !f.warning)
                    && (msg.contains("fallback") || msg.contains("retry"));
                if !explained {
                    findings.push(Finding {
                        at,
                        message: msg,
                        warning: false,
                    });
                }
            }
        }
        Ok(streams) => {
            // the file's positions, parsed once for every finding below
            let at = validate::positions(&interp::masked(&raw)).unwrap_or_default();
            for s in &streams {
                for name in s.config.ignored_sections() {
                    findings.push(Finding {
                        at: locate_build_error(&raw, &at, &s.id, &format!("{name}: ")),
                        message: format!(
                            "stream {}: `{name}` is ignored by the local runner (Bento uses it)",
                            s.id
                        ),
                        warning: true,
                    });
                }
                for e in runner::Stream::check_all(s) {
                    let detail = format!("{e:#}");
                    let place = locate_build_error(&raw, &at, &s.id, &detail);
                    let msg = format!("stream {}: {detail}", s.id);
                    findings.push(Finding {
                        at: place,
                        message: msg,
                        warning: false,
                    });
                }
            }
        }
    }
    findings
}

/// Adds a finding for every invalid component of every stream in the file
/// (see [`validate`]); false when that finds nothing to say (the file fails
/// before components: a variable, YAML syntax, the top-level shape), so the
/// parser's own error is the one to report.
fn every_problem(
    path: &Path,
    raw: &str,
    api: Option<&std::collections::BTreeMap<String, String>>,
    findings: &mut Vec<Finding>,
) -> bool {
    let Ok(text) = config::interpolated(path, raw, |k| std::env::var(k).ok(), api) else {
        return false;
    };
    // the file with references masked: the file's own positions
    let masked = interp::masked(raw);
    let doc = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
        Ok(doc) => doc,
        Err(e) => {
            // repeated keys or a syntax error already in the file: their
            // positions in the file (the parser's own are in the text with
            // variables substituted, and at the mapping for a repeated key)
            let dups = validate::duplicate_keys(&masked);
            for (path, at) in &dups {
                findings.push(Finding {
                    at: Some(*at),
                    message: format!("{}: key repeated in its mapping", validate::display(path)),
                    warning: false,
                });
            }
            if !dups.is_empty() {
                return true;
            }
            if let Some((at, what)) = validate::syntax_error(&masked) {
                findings.push(Finding {
                    at: Some(at),
                    message: format!("YAML syntax: {what}"),
                    warning: false,
                });
                return true;
            }
            // the file is fine: a substituted value broke it. Point at the
            // reference (substitution keeps lines), never inside the value.
            let Some((line, col, reference)) =
                e.location().and_then(|l| reference_on_line(raw, l.line()))
            else {
                return false;
            };
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or_default();
            findings.push(Finding {
                at: Some((line, col)),
                message: format!(
                    "the value substituted for `{reference}` breaks the YAML here ({what}): quote the reference (\"{reference}\") or change the value"
                ),
                warning: false,
            });
            return true;
        }
    };
    let problems = validate::file(&doc);
    if problems.is_empty() {
        return false;
    }
    let at = validate::positions(&masked)
        .or_else(|| validate::positions(&text))
        .unwrap_or_default();
    let hinted = findings.iter().any(|f| !f.warning);
    for p in problems {
        let where_ = validate::display(&p.path);
        let message = if where_.is_empty() {
            p.message
        } else {
            format!("{where_}: {}", p.message)
        };
        // the seed-shape hint already explains a map-shaped fallback/retry
        if hinted && (message.contains("fallback") || message.contains("retry")) {
            continue;
        }
        findings.push(Finding {
            at: validate::locate(&at, &p.path),
            message,
            warning: false,
        });
    }
    true
}

/// The first `${...}` / `$secret_env.NAME` / `$api_config.KEY` reference
/// on 1-based `line` of `raw`: (line, col, reference as written).
fn reference_on_line(raw: &str, line: usize) -> Option<(usize, usize, String)> {
    static REF: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\$\{[^}\n]*\}|\$(secret_env|api_config)\.[A-Za-z0-9_]+").expect("regex")
    });
    let text = raw.lines().nth(line.checked_sub(1)?)?;
    let m = REF.find(text)?;
    Some((
        line,
        text[..m.start()].chars().count() + 1,
        m.as_str().to_owned(),
    ))
}

/// The line:column in `raw` (whose [`validate::positions`] are `at`) of a
/// build error of stream `id` (`detail` starts with the path of the
/// setting, e.g. `output.broker.outputs: ...`), else of its first
/// `backquoted` snippet.
fn locate_build_error(
    raw: &str,
    at: &std::collections::HashMap<Vec<validate::Seg>, (usize, usize)>,
    id: &str,
    detail: &str,
) -> Option<(usize, usize)> {
    let by_path = validate::leading_path(detail).and_then(|path| {
        let in_map = vec![
            validate::Seg::Key("streams".into()),
            validate::Seg::Key(id.to_owned()),
        ];
        let full = if at.contains_key(&in_map) {
            [in_map, path].concat()
        } else {
            path
        };
        validate::locate(at, &full)
    });
    by_path.or_else(|| locate_snippet(raw, detail))
}

/// The line:column in `text` of the first `backquoted` snippet of `msg`
/// that occurs there (e.g. an unsupported Bloblang statement).
pub fn locate_snippet(text: &str, msg: &str) -> Option<(usize, usize)> {
    let found = msg.split('`').skip(1).step_by(2).find_map(|snippet| {
        let snippet = snippet.trim();
        (!snippet.is_empty())
            .then(|| text.find(snippet))
            .flatten()
            .map(|at| interp::line_col(text, at))
    });
    // The value may be written differently in the file (quoted, escaped):
    // then locate the field named just before it (`topic `${! ... }``).
    found.or_else(|| {
        let before = msg.split('`').next()?;
        let field = before.trim_end().rsplit([' ', '.', ':']).next()?;
        if field.is_empty() {
            return None;
        }
        at_key(text, field).or_else(|| {
            // flow style: `{..., topic: ...}`
            text.find(&format!("{field}:"))
                .map(|at| interp::line_col(text, at))
        })
    })
}

fn split_location(msg: &str) -> (Option<(usize, usize)>, String) {
    let mut parts = msg.splitn(3, ':');
    if let (Some(l), Some(c), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        if let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse()) {
            return (Some((l, c)), rest.trim().to_owned());
        }
    }
    (None, msg.to_owned())
}

/// Formats a finding as `file:line:col: message`.
pub fn format(path: &Path, f: &Finding) -> String {
    let kind = if f.warning { "warning: " } else { "" };
    let message = crate::secrets::redact(&f.message);
    match f.at {
        Some((l, c)) => format!("{}:{l}:{c}: {kind}{message}", path.display()),
        None => format!("{}: {kind}{message}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_fallback_and_retry_shapes_get_hints() {
        let text = "output:\n  fallback:\n    output:\n      kafka: {addresses: [a], topic: b}\n    fallbacks:\n      - amqp_1: {target_address: X}\n";
        let f = seed_shapes(text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].at, Some((2, 3)));
        assert!(f[0].message.contains("takes a LIST"));
        let text = "output:\n  retry:\n    output: {kafka: {addresses: [a], topic: b}}\n    base_delay: 1s\n    max_delay: 5m\n";
        let f = seed_shapes(text);
        assert_eq!((f[0].at, f[0].warning), (Some((4, 5)), false));
        assert!(f[0].message.contains("initial_interval"));
        let f = seed_shapes("streams:\n  a: {}\n");
        assert_eq!((f[0].at, f[0].warning), (Some((1, 1)), true));
    }

    #[test]
    fn locations_are_split_off() {
        assert_eq!(
            split_location("5:3: output: unknown"),
            (Some((5, 3)), "output: unknown".to_owned())
        );
        assert_eq!(
            split_location("cannot read"),
            (None, "cannot read".to_owned())
        );
    }
}
