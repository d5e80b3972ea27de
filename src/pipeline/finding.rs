//! The one findings model of the check pass: what is wrong with a stream
//! definition, where (a path into the document, as data), and how bad.
//! `lint`, `pipeline` and `--stream` all print these.

use std::fmt::Write as _;
use std::path::Path;

use crate::secrets::Secrets;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a document: `[Key("output"), Key("broker"), Key("outputs"), Index(1)]`.
pub type DocPath = Vec<Seg>;

/// `base` extended by `keys`.
pub fn join(base: &[Seg], keys: &[&str]) -> DocPath {
    let mut p = base.to_vec();
    p.extend(keys.iter().map(|k| Seg::Key((*k).to_owned())));
    p
}

/// `base` extended by one index.
pub fn index(base: &[Seg], i: usize) -> DocPath {
    let mut p = base.to_vec();
    p.push(Seg::Index(i));
    p
}

/// Renders a path as serde_yaml_ng does in its errors: `output.broker.outputs[1].kafka`.
pub fn display(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

/// How bad a finding is: errors stop `lint` (exit 1) and `pipeline` (exit 2);
/// warnings are printed by `lint` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding.
///
/// Rendered as `[stream ID: ][PATH: ]MESSAGE[ HINT]`; `path` is relative to
/// the stream when `stream` is set (the stream's place in the file is added
/// when locating it), else to the file's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The stream the finding is about, for findings of the runner's
    /// component checks (its id: file name or `streams:` key).
    pub stream: Option<String>,
    /// Where in the document; empty when the finding is about the whole
    /// file or the place is only known by `span`.
    pub path: DocPath,
    /// 1-based line and column in the file, when known.
    pub span: Option<(usize, usize)>,
    pub severity: Severity,
    pub message: String,
    /// What to write instead, when there is a known fix.
    pub hint: Option<String>,
}

impl Finding {
    /// An error at `path` (no stream, no span yet).
    pub fn error(path: DocPath, message: impl Into<String>) -> Finding {
        Finding {
            stream: None,
            path,
            span: None,
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: DocPath, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(path, message)
        }
    }

    /// This finding with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    /// This finding at 1-based `line:col`.
    pub fn at(mut self, span: Option<(usize, usize)>) -> Finding {
        self.span = span;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The text without file and place: `stream ID: PATH: MESSAGE HINT`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(id) = &self.stream {
            let _ = write!(s, "stream {id}: ");
        }
        if !self.path.is_empty() {
            let _ = write!(s, "{}: ", display(&self.path));
        }
        s.push_str(&self.message);
        if let Some(h) = &self.hint {
            s.push(' ');
            s.push_str(h);
        }
        s
    }
}

/// A finding as `lint` prints it: `file:line:col: [warning: ]text`
/// (line:col omitted when unknown), redacted by `secrets`.
pub fn format(file: &Path, f: &Finding, secrets: &Secrets) -> String {
    let kind = if f.is_error() { "" } else { "warning: " };
    let text = f.text();
    let text = secrets.redact(&text);
    match f.span {
        Some((l, c)) => format!("{}:{l}:{c}: {kind}{text}", file.display()),
        None => format!("{}: {kind}{text}", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_joins_stream_path_message_and_hint() {
        let f = Finding::error(
            index(&join(&[], &["output", "broker", "outputs"]), 1),
            "must not be empty",
        );
        assert_eq!(f.text(), "output.broker.outputs[1]: must not be empty");
        let f = Finding {
            stream: Some("one".into()),
            ..f.with_hint("(write a topic)")
        };
        assert_eq!(
            f.text(),
            "stream one: output.broker.outputs[1]: must not be empty (write a topic)"
        );
        assert_eq!(Finding::error(vec![], "cannot read").text(), "cannot read");
    }
}
