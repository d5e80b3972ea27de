//! Where Tyk differs from plain Bento, as warnings (the runner follows
//! Bento). The rules are Tyk's own code (`ee/middleware/streams`):
//!
//! - `stream.go`'s `unsafeComponents`: Tyk removes every key of that name,
//!   at any depth of a stream, from the stream before Bento sees it, unless
//!   the gateway's `streaming.allow_unsafe` lists it (logged at info only);
//! - the components a release registers: Tyk 5.8.x imports Bento's `io`,
//!   `kafka` and `nats` packages only (no `amqp_1`, no `amqp_0_9`); 5.9.0
//!   to 5.12.0 embed Bento 1.7.1 with `components/all`, 5.12.1 and later
//!   Bento 1.16.2.

use std::collections::HashMap;

use serde_yaml_ng::Value;

use super::shape;
use crate::pipeline::config;
use crate::pipeline::finding::{Finding, Seg};

/// Tyk's `unsafeComponents` (inputs, processors, outputs, caches).
const UNSAFE: &[&str] = &[
    "csv",
    "dynamic",
    "file",
    "inproc",
    "socket",
    "socket_server",
    "stdin",
    "subprocess",
    "command",
    "wasm",
];

/// Components Tyk 5.8.x does not register although plain Bento has them
/// (the ones a broker-to-broker stream is likely to name).
const NOT_IN_5_8: &[&str] = &["amqp_1", "amqp_0_9"];

/// A Tyk release as `--tyk-version` names it (`5.8`, `5.12.1`):
/// (major, minor, patch), a missing patch is 0.
///
/// Errors: not `MAJOR.MINOR[.PATCH]`.
pub fn parse_version(s: &str) -> Result<(u32, u32, u32), String> {
    let parts: Vec<&str> = s.trim().trim_start_matches('v').split('.').collect();
    let n = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<u32>());
    match (parts.len(), n(0), n(1), n(2)) {
        (2 | 3, Ok(a), Ok(b), Ok(_)) if (a, b) < (5, 8) => Err(format!(
            "--tyk-version {s:?}: streamprobe knows what Tyk registers from 5.8 on (Tyk Streams' first LTS release); {a}.{b} is not covered"
        )),
        (2 | 3, Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        _ => Err(format!(
            "--tyk-version {s:?}: expected MAJOR.MINOR or MAJOR.MINOR.PATCH (e.g. 5.8 or 5.12.1)"
        )),
    }
}

/// The Bento release a Tyk release embeds, for the warning's text.
fn bento_of((a, b, c): (u32, u32, u32)) -> &'static str {
    match (a, b, c) {
        (5, 8, 0..=2) => "Bento 1.4.0",
        (5, 8, _) | (5, 9..=11, _) | (5, 12, 0) => "Bento 1.7.1",
        _ => "Bento 1.16.2",
    }
}

/// The warnings for `doc` (the file, parsed with references masked; `at`
/// its positions): for a Tyk-shaped file (an API definition or a
/// `streams:` map) or when `version` is given, every unsafe key, and with
/// `version` every component that release does not register.
pub fn warnings(
    doc: &Value,
    at: &HashMap<Vec<Seg>, (usize, usize)>,
    version: Option<(u32, u32, u32)>,
) -> Vec<Finding> {
    let tyk_shaped = config::streams_map(doc).is_some();
    if !tyk_shaped && version.is_none() {
        return Vec::new();
    }
    let roots: Vec<(Vec<Seg>, &Value)> = match config::streams_map(doc) {
        Some((root, Some(Value::Mapping(m)), _)) => m
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    [root.clone(), vec![Seg::Key(k.as_str()?.to_owned())]].concat(),
                    v,
                ))
            })
            .collect(),
        Some(_) => Vec::new(),
        None => vec![(Vec::new(), doc)],
    };
    let mut out = Vec::new();
    for (root, v) in roots {
        walk(v, &root, &mut |path, key, _| {
            let here = [path.to_vec(), vec![Seg::Key(key.to_owned())]].concat();
            if UNSAFE.contains(&key) {
                out.push(
                    Finding::warning(
                        here.clone(),
                        format!("Tyk removes every `{key}:` key of a stream (its unsafe components, at any depth) before Bento sees it, unless the gateway's `streaming.allow_unsafe` lists `{key}`"),
                    )
                    .at(shape::locate(at, &here)),
                );
            }
            if let Some(ver) = version
                && ver < (5, 9, 0)
                && NOT_IN_5_8.contains(&key)
                && is_component(path)
            {
                out.push(
                    Finding::warning(
                        here.clone(),
                        format!(
                            "Tyk {}.{}.{} ({}) does not register `{key}`: it arrived in Tyk 5.9.0",
                            ver.0,
                            ver.1,
                            ver.2,
                            bento_of(ver)
                        ),
                    )
                    .at(shape::locate(at, &here)),
                );
            }
        });
    }
    out
}

/// Whether a key under `path` names a component: directly under `input`,
/// `output`, an item of `outputs`/`processors`, or a wrapper's `output`.
fn is_component(path: &[Seg]) -> bool {
    matches!(
        path.last(),
        Some(Seg::Key(k)) if k == "input" || k == "output"
    ) || matches!(path.last(), Some(Seg::Index(_)))
}

/// Calls `f(path, key, value)` for every mapping key under `v` (at `path`).
pub(super) fn walk(v: &Value, path: &[Seg], f: &mut impl FnMut(&[Seg], &str, &Value)) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                if let Some(k) = k.as_str() {
                    f(path, k, child);
                    walk(
                        child,
                        &[path.to_vec(), vec![Seg::Key(k.to_owned())]].concat(),
                        f,
                    );
                }
            }
        }
        Value::Sequence(list) => {
            for (i, child) in list.iter().enumerate() {
                walk(child, &[path.to_vec(), vec![Seg::Index(i)]].concat(), f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_their_bento() {
        assert_eq!(parse_version("5.8"), Ok((5, 8, 0)));
        assert_eq!(parse_version("v5.12.1"), Ok((5, 12, 1)));
        assert!(parse_version("five").is_err());
        // no component table before Tyk 5.8
        assert!(parse_version("5.3").unwrap_err().contains("from 5.8 on"));
        assert!(parse_version("4.0.1").is_err());
        assert_eq!(bento_of((5, 8, 3)), "Bento 1.7.1");
        assert_eq!(bento_of((5, 12, 1)), "Bento 1.16.2");
    }

    #[test]
    fn unsafe_keys_and_missing_components_are_warned() {
        let doc: Value = serde_yaml_ng::from_str(
            "streams:\n  s:\n    input: {amqp_1: {urls: [amqp://h], source_address: X}}\n    output: {file: {path: /tmp/x}}\n",
        )
        .unwrap();
        let w = warnings(&doc, &HashMap::new(), Some((5, 8, 0)));
        let text: Vec<String> = w.iter().map(Finding::text).collect();
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(text[0].contains("does not register `amqp_1`"), "{text:#?}");
        assert!(text[1].contains("removes every `file:` key"), "{text:#?}");
        // a plain Bento file without --tyk-version: nothing to say
        let plain: Value = serde_yaml_ng::from_str("input: {file: {paths: [x]}}\n").unwrap();
        assert!(warnings(&plain, &HashMap::new(), None).is_empty());
    }
}
