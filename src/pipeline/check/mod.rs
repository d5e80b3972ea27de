//! The check pass: every problem of a stream file as a [`Finding`], with
//! its place in the file. `lint`, `pipeline` and `--stream` all call
//! [`file`]; it reads and parses, but builds nothing, opens no socket and
//! spawns no task.
//!
//! Besides what the runner rejects (unknown fields and components, wrong
//! types, missing fields, unsupported Bloblang, unset variables, settings
//! it cannot run: [`crate::pipeline::config::StreamConfig::check`]), it
//! recognises shapes from the seed demo's README ([`seed`]).

pub mod seed;
pub mod shape;
pub mod tyk;

use std::collections::HashMap;
use std::path::Path;

use super::config::{self, Refs};
use super::finding::{Finding, Seg};
use super::interp;

/// Every finding of one file, in file order of discovery: seed-shape hints,
/// then parse or shape problems, or (when the file parses) the runner's
/// component checks of each stream and warnings for ignored sections.
/// Environment variables come from the process; `api` is the
/// `--api-config` map.
pub fn file(path: &Path, refs: &Refs) -> Vec<Finding> {
    let raw = match config::read(path) {
        Ok(t) => t,
        Err(e) => return vec![Finding::error(vec![], format!("cannot read: {e}"))],
    };
    let mut findings = seed::seed_shapes(&raw);
    // references Tyk leaves as written in a broker-to-broker stream
    for w in interp::tyk_warnings(&raw, |k| std::env::var(k).ok()) {
        findings.push(
            Finding::warning(vec![], format!("{} {}", w.reference, w.why))
                .at(Some((w.line, w.column))),
        );
    }
    // where Tyk differs from Bento (a Tyk-shaped file, or --tyk-version)
    let masked = interp::masked(&raw);
    if let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&masked) {
        let at = shape::positions(&masked).unwrap_or_default();
        findings.extend(tyk::warnings(&doc, &at, refs.tyk_version));
        findings.extend(skip_verify_warnings(&doc, &at));
    }
    match config::parse_text_with(path, &raw, |k| std::env::var(k).ok(), refs) {
        Err(_) if every_problem(path, &raw, refs, &mut findings) => {}
        Err(e) => {
            // "L:C: message" at the front of the message, when serde knew it;
            // several located problems come joined by "; " (one per variable)
            for part in e.message.split("; ") {
                let (at, msg) = split_location(part);
                // serde loses positions inside a `streams:` map: find the named key
                let at = at.or_else(|| msg.split('`').nth(1).and_then(|k| seed::at_key(&raw, k)));
                // the seed-shape hint already explains a map-shaped fallback/retry
                let explained = findings.iter().any(Finding::is_error)
                    && (msg.contains("fallback") || msg.contains("retry"));
                if !explained {
                    findings.push(Finding::error(vec![], msg).at(at));
                }
            }
        }
        Ok(streams) => {
            // the file's positions, parsed once for every finding below
            let at = shape::positions(&interp::masked(&raw)).unwrap_or_default();
            for s in &streams {
                for name in s.config.ignored_sections() {
                    let f = Finding::warning(
                        vec![Seg::Key(name.to_owned())],
                        "ignored by the local runner (Bento uses it)",
                    );
                    let span = locate(&raw, &at, &s.root, &f);
                    findings.push(
                        Finding::warning(
                            vec![],
                            format!(
                                "stream {}: `{name}` is ignored by the local runner (Bento uses it)",
                                s.id
                            ),
                        )
                        .at(span),
                    );
                }
                for mut f in s.config.check() {
                    let span = locate(&raw, &at, &s.root, &f);
                    f.stream = Some(s.id.clone());
                    findings.push(f.at(span));
                }
            }
        }
    }
    findings
}

/// A warning at every `tls: {skip_cert_verify: true}` of the file (`doc`,
/// positions `at`): Bento takes it, but the broker's certificate is then
/// not checked at all.
fn skip_verify_warnings(
    doc: &serde_yaml_ng::Value,
    at: &HashMap<Vec<Seg>, (usize, usize)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    tyk::walk(doc, &[], &mut |path, key, v| {
        if key == "skip_cert_verify"
            && v.as_bool() == Some(true)
            && matches!(path.last(), Some(Seg::Key(k)) if k == "tls")
        {
            let here = [path.to_vec(), vec![Seg::Key(key.to_owned())]].concat();
            out.push(
                Finding::warning(
                    here.clone(),
                    "the broker's TLS certificate is not verified: anyone on the path can read and change these messages",
                )
                .at(shape::locate(at, &here)),
            );
        }
    });
    out
}

/// Only the errors of [`file`].
pub fn errors(path: &Path, refs: &Refs) -> Vec<Finding> {
    file(path, refs)
        .into_iter()
        .filter(Finding::is_error)
        .collect()
}

/// Adds a finding for every invalid component of every stream in the file
/// (see [`validate`]); false when that finds nothing to say (the file fails
/// before components: a variable, YAML syntax, the top-level shape), so the
/// parser's own error is the one to report.
fn every_problem(path: &Path, raw: &str, refs: &Refs, findings: &mut Vec<Finding>) -> bool {
    let Ok(text) = config::interpolated(path, raw, |k| std::env::var(k).ok(), refs) else {
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
            let dups = shape::duplicate_keys(&masked);
            for (path, at) in &dups {
                findings.push(
                    Finding::error(path.clone(), "key repeated in its mapping").at(Some(*at)),
                );
            }
            if !dups.is_empty() {
                return true;
            }
            if let Some((at, what)) = shape::syntax_error(&masked) {
                // a Tyk API definition is often JSON (read as YAML, its superset)
                let json = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                let lang = if json { "JSON" } else { "YAML" };
                findings
                    .push(Finding::error(vec![], format!("{lang} syntax: {what}")).at(Some(at)));
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
            findings.push(
                Finding::error(
                    vec![],
                    format!(
                        "the value substituted for `{reference}` breaks the YAML here ({what}):"
                    ),
                )
                .with_hint(format!(
                    "quote the reference (\"{reference}\") or change the value"
                ))
                .at(Some((line, col))),
            );
            return true;
        }
    };
    let problems = shape::file(&doc);
    if problems.is_empty() {
        return false;
    }
    let at = shape::positions(&masked)
        .or_else(|| shape::positions(&text))
        .unwrap_or_default();
    let hinted = findings.iter().any(Finding::is_error);
    for p in problems {
        let f = Finding::error(p.path, p.message);
        // the seed-shape hint already explains a map-shaped fallback/retry
        let text = f.text();
        if hinted && (text.contains("fallback") || text.contains("retry")) {
            continue;
        }
        let span = shape::locate(&at, &f.path);
        findings.push(f.at(span));
    }
    true
}

/// The first `${...}` / `$secret_env.NAME` / `$api_config.KEY` / `env://NAME` reference
/// on 1-based `line` of `raw`: (line, col, reference as written).
fn reference_on_line(raw: &str, line: usize) -> Option<(usize, usize, String)> {
    static REF: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\$\{[^}\n]*\}|\$(secret_env|api_config)\.[A-Za-z0-9_]+|env://[A-Za-z0-9_]+",
        )
        .expect("regex")
    });
    let text = raw.lines().nth(line.checked_sub(1)?)?;
    let m = REF.find(text)?;
    Some((
        line,
        text[..m.start()].chars().count() + 1,
        m.as_str().to_owned(),
    ))
}

/// The line:column in `raw` (whose [`shape::positions`] are `at`) of a
/// component finding `f` of stream `id` (its path from the stream's root),
/// else of the first `backquoted` snippet of its text.
fn locate(
    raw: &str,
    at: &HashMap<Vec<Seg>, (usize, usize)>,
    root: &[Seg],
    f: &Finding,
) -> Option<(usize, usize)> {
    let full = [root.to_vec(), f.path.clone()].concat();
    let by_path = if f.path.is_empty() {
        None
    } else {
        shape::locate(at, &full)
    };
    by_path.or_else(|| locate_snippet(raw, &f.text()))
}

/// The line:column in `text` of the first `backquoted` snippet of `msg`
/// that occurs there (e.g. an unsupported Bloblang statement).
fn locate_snippet(text: &str, msg: &str) -> Option<(usize, usize)> {
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
        seed::at_key(text, field).or_else(|| {
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

#[cfg(test)]
mod tests {
    use super::*;

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
