//! The shape check: every component that does not deserialise, each with
//! its place in the file.
//!
//! Deserialising a whole stream stops at the first error. `lint` instead
//! checks each component on its own (the input, each processor, each output
//! of the tree, the wrappers `broker` / `fallback` / `retry` / `drop_on`
//! apart from their children), so one run reports every invalid component.
//! Paths come from `serde_path_to_error`; their line:col from the YAML
//! parser's event marks (`yaml-rust2`), which also works inside flow
//! mappings and `streams:` maps where serde's own positions are lost.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::pipeline::config;
use crate::pipeline::finding::{Seg, join};

/// One problem: where (a path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Vec<Seg>,
    pub message: String,
}

#[derive(Default)]
struct Walk {
    stack: Vec<Frame>,
    at: HashMap<Vec<Seg>, (usize, usize)>,
    /// Every key that repeats within its mapping: its path and place.
    duplicates: Vec<(Vec<Seg>, (usize, usize))>,
}

enum Frame {
    Map {
        key: Option<String>,
        seen: std::collections::HashSet<String>,
    },
    Seq {
        index: usize,
    },
}

impl Walk {
    fn path(&self) -> Vec<Seg> {
        self.stack
            .iter()
            .filter_map(|f| match f {
                Frame::Map { key: Some(k), .. } => Some(Seg::Key(k.clone())),
                Frame::Map { key: None, .. } => None,
                Frame::Seq { index } => Some(Seg::Index(*index)),
            })
            .collect()
    }
    /// A value (scalar or whole collection) ended in the current frame.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }
    fn item_start(&mut self, mark: Marker) {
        if matches!(self.stack.last(), Some(Frame::Seq { .. })) {
            let p = self.path();
            self.at.entry(p).or_insert((mark.line(), mark.col() + 1));
        }
    }
}

impl MarkedEventReceiver for Walk {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(v, ..) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    seen,
                }) = self.stack.last_mut()
                {
                    let repeated = !seen.insert(v.clone());
                    *key = Some(v);
                    let p = self.path();
                    let place = (mark.line(), mark.col() + 1);
                    if repeated {
                        self.duplicates.push((p.clone(), place));
                    }
                    self.at.entry(p).or_insert(place);
                } else {
                    self.item_start(mark);
                    self.value_done();
                }
            }
            Event::Alias(_) => {
                self.item_start(mark);
                self.value_done();
            }
            Event::MappingStart(..) => {
                self.item_start(mark);
                self.stack.push(Frame::Map {
                    key: None,
                    seen: Default::default(),
                });
            }
            Event::SequenceStart(..) => {
                self.item_start(mark);
                self.stack.push(Frame::Seq { index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

fn walk(text: &str) -> Option<Walk> {
    let mut w = Walk::default();
    Parser::new_from_str(text).load(&mut w, false).ok()?;
    Some(w)
}

/// 1-based line:col of every mapping key and sequence item of a YAML text,
/// by path (the first occurrence of a repeated key). `None` when the text
/// is not valid YAML.
pub fn positions(text: &str) -> Option<HashMap<Vec<Seg>, (usize, usize)>> {
    Some(walk(text)?.at)
}

/// Every key of `text` that repeats within its mapping (YAML forbids it):
/// its path and the line:col of the repetition.
pub fn duplicate_keys(text: &str) -> Vec<(Vec<Seg>, (usize, usize))> {
    walk(text).map(|w| w.duplicates).unwrap_or_default()
}

/// The YAML syntax error of `text`, if any: 1-based line:col and what.
pub fn syntax_error(text: &str) -> Option<((usize, usize), String)> {
    struct Ignore;
    impl MarkedEventReceiver for Ignore {
        fn on_event(&mut self, _: Event, _: Marker) {}
    }
    let e = Parser::new_from_str(text).load(&mut Ignore, false).err()?;
    Some((
        (e.marker().line(), e.marker().col() + 1),
        e.info().to_owned(),
    ))
}

/// The line:col of `path`, or of its nearest ancestor that has one.
pub fn locate(at: &HashMap<Vec<Seg>, (usize, usize)>, path: &[Seg]) -> Option<(usize, usize)> {
    (0..=path.len())
        .rev()
        .find_map(|n| at.get(&path[..n]).copied())
}

/// Deserialises `v` as a `T` (Bento's singleton-map shape for enums) and
/// returns the problem, with the full path, if that fails.
fn check<T: DeserializeOwned>(v: &Value, base: &[Seg]) -> Option<Problem> {
    // through YAML text, as the loader reads the file: a plain scalar
    // (`123`) is then a string where a string is wanted, as it is there
    let text = serde_yaml_ng::to_string(v).ok()?;
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(
        serde_yaml_ng::Deserializer::from_str(&text),
        &mut track,
    );
    let err = serde_yaml_ng::with::singleton_map_recursive::deserialize::<T, _>(de).err()?;
    let mut path = base.to_vec();
    for seg in track.path().iter() {
        match seg {
            serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
            serde_path_to_error::Segment::Unknown => break,
        }
    }
    let mut message = err.to_string();
    // point at an unknown key itself, not at the mapping holding it
    if let Some(k) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
        && path.last() != Some(&Seg::Key(k.to_owned()))
    {
        path.push(Seg::Key(k.to_owned()));
    }
    if message.contains("unknown variant") {
        message = config::plain_unknown_variant(&message);
    }
    // serde quotes the value it refused: never a secret's
    if let Some(Seg::Key(k)) = path.last()
        && crate::kafka::secret_property(k)
    {
        message = message
            .split('`')
            .enumerate()
            .map(|(i, part)| if i % 2 == 1 { "***" } else { part })
            .collect::<Vec<_>>()
            .join("`");
    }
    // serde_yaml_ng's text reader says where, in the re-serialised text:
    // `amqp_1.sasl: ... at line 3 column 5`; the path is ours, the place
    // the file's
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if let Some((head, rest)) = message.split_once(": ")
        && !head.contains([' ', '`'])
    {
        message = rest.to_owned();
    }
    Some(Problem { path, message })
}

/// `m` with `key` replaced by `placeholder` (a valid value), and the old value.
fn split(m: &Mapping, key: &str, placeholder: Value) -> (Value, Option<Value>) {
    let mut m = m.clone();
    let child = m.remove(key);
    if child.is_some() {
        m.insert(Value::from(key), placeholder);
    }
    (Value::Mapping(m), child)
}

fn output(v: &Value, path: &[Seg], out: &mut Vec<Problem>) {
    let wrapper = v.as_mapping().filter(|m| m.len() == 1).and_then(|m| {
        let (k, inner) = m.iter().next()?;
        Some((k.as_str()?, inner))
    });
    let no_output = || {
        let mut m = Mapping::new();
        m.insert(Value::from("fallback"), Value::Sequence(vec![]));
        Value::Mapping(m)
    };
    match wrapper {
        Some(("broker", Value::Mapping(m))) => {
            let (own, children) = split(m, "outputs", Value::Sequence(vec![]));
            out.extend(check::<config::Broker>(&own, &join(path, &["broker"])));
            if let Some(Value::Sequence(list)) = children {
                for (i, c) in list.iter().enumerate() {
                    let mut p = join(path, &["broker", "outputs"]);
                    p.push(Seg::Index(i));
                    output(c, &p, out);
                }
            }
        }
        Some(("fallback", Value::Sequence(list))) => {
            for (i, c) in list.iter().enumerate() {
                let mut p = join(path, &["fallback"]);
                p.push(Seg::Index(i));
                output(c, &p, out);
            }
        }
        Some((k @ ("retry" | "drop_on"), Value::Mapping(m))) => {
            let (own, child) = split(m, "output", no_output());
            let p = join(path, &[k]);
            out.extend(if k == "retry" {
                check::<config::Retry>(&own, &p)
            } else {
                check::<config::DropOn>(&own, &p)
            });
            if let Some(c) = child {
                output(&c, &join(&p, &["output"]), out);
            }
        }
        _ => out.extend(check::<config::Output>(v, path)),
    }
}

/// Every problem of one stream definition `v` found at `base` in its file.
pub fn stream(v: &Value, base: &[Seg]) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(m) = v.as_mapping() else {
        return vec![Problem {
            path: base.to_vec(),
            message: "a stream must be a mapping with `input` and `output`".into(),
        }];
    };
    // the stream's own keys, with the components checked below replaced by
    // valid placeholders
    let mut own = m.clone();
    let placeholders: [(&str, &str); 2] = [
        (
            "input",
            "{kafka: {addresses: [x], topics: [x], consumer_group: x}}",
        ),
        ("output", "{fallback: []}"),
    ];
    for (k, ph) in placeholders {
        if own.contains_key(k) {
            own.insert(
                Value::from(k),
                serde_yaml_ng::from_str(ph).expect("placeholder"),
            );
        }
    }
    let processors = own
        .get_mut("pipeline")
        .and_then(Value::as_mapping_mut)
        .and_then(|p| {
            let list = p.remove("processors");
            if list.is_some() {
                p.insert(Value::from("processors"), Value::Sequence(vec![]));
            }
            list
        });
    out.extend(check::<config::StreamConfig>(&Value::Mapping(own), base));
    if let Some(input) = m.get("input") {
        out.extend(check::<config::Input>(input, &join(base, &["input"])));
    }
    if let Some(Value::Sequence(list)) = processors {
        for (i, p) in list.iter().enumerate() {
            let mut path = join(base, &["pipeline", "processors"]);
            path.push(Seg::Index(i));
            out.extend(check::<config::Processor>(p, &path));
        }
    }
    if let Some(o) = m.get("output") {
        output(o, &join(base, &["output"]), &mut out);
    }
    out
}

/// Every problem of every stream in a parsed file (one stream, or a
/// Tyk-style `streams:` map).
pub fn file(doc: &Value) -> Vec<Problem> {
    match config::streams_map(doc) {
        Some((root, Some(Value::Mapping(streams)), _)) => streams
            .iter()
            .flat_map(|(id, s)| {
                let id = id.as_str().unwrap_or_default().to_owned();
                stream(s, &[root.clone(), vec![Seg::Key(id)]].concat())
            })
            .collect(),
        Some(_) => Vec::new(),
        None => stream(doc, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKEN: &str = "input:
  amqp_1:
    urls: [amqp://localhost:5672]
    source_adress: EXTERNAL
pipeline:
  processors:
    - mapping: meta = deleted()
    - bloblang: root = this
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka:
          addresses: [127.0.0.1:9092]
          topic: FOO
          max_in_flight: many
      - amqp_1: {urls: [amqp://localhost:5672], target: FOO}
      - retry:
          max_retries: 3
          bogus: 1
          output:
            nats: {}
";

    #[test]
    fn every_broken_component_is_found_and_located() {
        let doc: Value = serde_yaml_ng::from_str(BROKEN).unwrap();
        let at = positions(BROKEN).unwrap();
        let found: Vec<(String, Option<(usize, usize)>)> = file(&doc)
            .iter()
            .map(|p| {
                (
                    crate::pipeline::finding::display(&p.path),
                    locate(&at, &p.path),
                )
            })
            .collect();
        let expect = [
            ("input.amqp_1.source_adress", (4, 5)),
            ("pipeline.processors[1]", (8, 7)),
            ("output.broker.outputs[0].kafka.max_in_flight", (16, 11)),
            ("output.broker.outputs[1].amqp_1.target", (17, 49)),
            ("output.broker.outputs[2].retry.bogus", (20, 11)),
            ("output.broker.outputs[2].retry.output.nats", (22, 13)),
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for (path, at) in expect {
            assert!(
                found
                    .iter()
                    .any(|(p, a)| p.starts_with(path) && *a == Some(at)),
                "{path} at {at:?} not in {found:#?}"
            );
        }
    }

    #[test]
    fn a_valid_stream_has_no_problems() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stream.yaml"),
        )
        .unwrap();
        let text = crate::pipeline::interp::interpolate(&text, |_| None).unwrap();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(file(&doc), vec![]);
    }
}
