//! The named Bloblang subset the local runner supports in `mapping`:
//!
//! - `meta = deleted()` — remove every metadata key;
//! - `meta <key> = deleted()` — remove one key;
//! - `meta <key> = "<string>"` — set one key (JSON string escapes);
//! - `root = this` — keep the body;
//! - `# comments` and blank lines.
//!
//! When `root` is never assigned, the body stays byte-for-byte unchanged
//! (Bento's rule). Anything else is rejected with the line quoted: the
//! runner never guesses what a Bloblang statement means.

use std::collections::BTreeMap;

/// One supported statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    DeleteAllMeta,
    DeleteMeta(String),
    SetMeta(String, String),
    RootThis,
}

/// A parsed mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping(pub Vec<Stmt>);

/// Why a mapping was rejected: the 1-based line inside the mapping text and
/// the statement as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "mapping line {line}: unsupported Bloblang statement `{text}` (the local runner supports: meta = deleted(), meta <key> = deleted(), meta <key> = \"<string>\", root = this)"
)]
pub struct Unsupported {
    pub line: usize,
    pub text: String,
}

fn strip_comment(line: &str) -> &str {
    // a '#' outside a string literal starts a comment
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '\\' if in_str && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
        escaped = false;
    }
    line
}

fn meta_key(k: &str) -> Option<String> {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(k.to_owned());
    }
    // quoted key: meta "x-key" = ...
    serde_json::from_str::<String>(k)
        .ok()
        .filter(|s| !s.is_empty())
}

impl Mapping {
    /// Parses mapping text. Errors name the first unsupported line.
    pub fn parse(text: &str) -> Result<Mapping, Unsupported> {
        let mut out = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let bad = || Unsupported {
                line: i + 1,
                text: raw.trim().to_owned(),
            };
            let (lhs, rhs) = line.split_once('=').ok_or_else(bad)?;
            let (lhs, rhs) = (lhs.trim(), rhs.trim());
            let stmt = if lhs == "root" {
                if rhs == "this" {
                    Stmt::RootThis
                } else {
                    return Err(bad());
                }
            } else if lhs == "meta" {
                if rhs == "deleted()" {
                    Stmt::DeleteAllMeta
                } else {
                    return Err(bad());
                }
            } else if let Some(key) = lhs.strip_prefix("meta ").map(str::trim) {
                let key = meta_key(key).ok_or_else(bad)?;
                if rhs == "deleted()" {
                    Stmt::DeleteMeta(key)
                } else if rhs.starts_with('"') {
                    let v: String = serde_json::from_str(rhs).map_err(|_| bad())?;
                    Stmt::SetMeta(key, v)
                } else {
                    return Err(bad());
                }
            } else {
                return Err(bad());
            };
            out.push(stmt);
        }
        Ok(Mapping(out))
    }

    /// Applies the mapping to a message's metadata (the body is never
    /// changed by the supported subset).
    pub fn apply(&self, meta: &mut BTreeMap<String, String>) {
        for s in &self.0 {
            match s {
                Stmt::DeleteAllMeta => meta.clear(),
                Stmt::DeleteMeta(k) => {
                    meta.remove(k);
                }
                Stmt::SetMeta(k, v) => {
                    meta.insert(k.clone(), v.clone());
                }
                Stmt::RootThis => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_mapping() {
        let m = Mapping::parse("# Remove all existing metadata from messages\nmeta = deleted()\n")
            .unwrap();
        assert_eq!(m.0, vec![Stmt::DeleteAllMeta]);
        let mut meta = BTreeMap::from([(
            "amqp_content_type".to_owned(),
            "application/json".to_owned(),
        )]);
        m.apply(&mut meta);
        assert!(meta.is_empty());
    }

    #[test]
    fn subset() {
        let m = Mapping::parse("root = this\nmeta a = deleted()  # drop a\nmeta b = \"x # not a comment\"\nmeta \"x-k\" = \"v\"").unwrap();
        assert_eq!(
            m.0,
            vec![
                Stmt::RootThis,
                Stmt::DeleteMeta("a".into()),
                Stmt::SetMeta("b".into(), "x # not a comment".into()),
                Stmt::SetMeta("x-k".into(), "v".into()),
            ]
        );
        let mut meta = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("c".to_owned(), "3".to_owned()),
        ]);
        m.apply(&mut meta);
        assert_eq!(meta.len(), 3);
        assert_eq!(meta["b"], "x # not a comment");
    }

    #[test]
    fn rejects_with_line_quoted() {
        let e = Mapping::parse("meta = deleted()\n\nroot = this.uppercase()\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.text, "root = this.uppercase()");
        assert!(e.to_string().contains("`root = this.uppercase()`"));
        assert!(Mapping::parse("root.x = 1").is_err());
        assert!(Mapping::parse("meta foo = bar").is_err());
    }
}
