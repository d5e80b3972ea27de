//! Hints for shapes from the seed demo's README that the real engine
//! rejects, with the shape that works (see ../shared/BENTO.md): `fallback`
//! written as a map, `retry` with `base_delay`/`max_delay`, `$api_config`,
//! and a top-level `streams:` map in a plain Bento config (a warning: Tyk's
//! API definition and `streamprobe pipeline` accept it).

use crate::pipeline::finding::Finding;
use crate::pipeline::interp;

pub fn at_key(text: &str, key: &str) -> Option<(usize, usize)> {
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
pub fn seed_shapes(text: &str) -> Vec<Finding> {
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
        out.push(
            Finding::error(
                vec![],
                "`fallback` takes a LIST of outputs, tried in order; Bento rejects a map with `output`/`fallbacks`.",
            )
            .with_hint("Write:\n  fallback:\n    - kafka: {...}      # primary\n    - amqp_1: {...}     # dead-letter target")
            .at(at_key(text, "fallback")),
        );
    }
    if old_retry {
        out.push(
            Finding::error(vec![], "`retry` has no `base_delay`/`max_delay`;")
                .with_hint("Bento uses:\n  retry:\n    output: {...}\n    max_retries: 20\n    backoff:\n      initial_interval: 30s\n      max_interval: 5m")
                .at(at_key(text, "base_delay").or_else(|| at_key(text, "max_delay"))),
        );
    }
    if let Some(i) = text.find("$api_config.") {
        out.push(
            Finding::warning(vec![], "`$api_config.…` (from the seed README) is not a Tyk variable; Tyk resolves `$secret_env.NAME` (TYK_SECRET_NAME), `$secret_conf.NAME` and `$secret_vault.…`, per request, in streams with an `http_server` path, and `env://NAME` at API load.")
                .with_hint("The local runner takes `$api_config.KEY` from `--api-config FILE`")
                .at(Some(interp::line_col(text, i))),
        );
    }
    if value.get("streams").is_some() {
        out.push(
            Finding::warning(vec![], "a top-level `streams:` map is Tyk's API-definition shape (x-tyk-streaming.streams); `streamprobe pipeline` accepts it, but plain Bento rejects it (\"field streams not recognised\"):")
                .with_hint("for Bento, put each stream in its own file")
                .at(at_key(text, "streams")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_fallback_and_retry_shapes_get_hints() {
        let text = "output:\n  fallback:\n    output:\n      kafka: {addresses: [a], topic: b}\n    fallbacks:\n      - amqp_1: {target_address: X}\n";
        let f = seed_shapes(text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].span, Some((2, 3)));
        assert!(f[0].text().contains("takes a LIST"));
        let text = "output:\n  retry:\n    output: {kafka: {addresses: [a], topic: b}}\n    base_delay: 1s\n    max_delay: 5m\n";
        let f = seed_shapes(text);
        assert_eq!((f[0].span, f[0].is_error()), (Some((4, 5)), true));
        assert!(f[0].text().contains("initial_interval"));
        let f = seed_shapes("streams:\n  a: {}\n");
        assert_eq!((f[0].span, f[0].is_error()), (Some((1, 1)), false));
    }
}
