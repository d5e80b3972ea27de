//! Bento's metrics and readiness, for the local runner: the counters and
//! the latency timer Bento's components register (names and labels as in
//! Bento's `internal/component/{input,output,processor}` and its manager's
//! `IntoPath` / `forLabel` / `forStream`), in a Prometheus registry that
//! `GET /metrics` serves, and each input's and output's connection state,
//! which `GET /ready` reports (see [`super::http`]).
//!
//! Labels: `label` (the component's `label:` field, empty when unset),
//! `path` (`root.input`, `root.output.broker.outputs.0`,
//! `root.pipeline.processors.0`) and, only in streams mode (a file with a
//! `streams:` map, or several files), `stream` (the stream's id), as Bento
//! adds it only then.
//!
//! `output_latency_ns` is a histogram in **seconds** with Prometheus' default
//! buckets, which is what Bento exports with `use_histogram_timing: true`
//! (Bento's default is a summary in nanoseconds, which the Rust Prometheus
//! client has no type for); its `_sum` / `_count` are the same either way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Where a component sits, as Bento labels its metrics.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    /// The stream's id (its file stem or its key under `streams:`).
    pub stream: String,
    /// Bento's component path: `root.input`, `root.output.broker.outputs.0`.
    pub path: String,
    /// The component's `label:` field; empty when unset.
    pub label: String,
}

/// Which side of a stream a connected component is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Input,
    Output,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output => "output",
        }
    }
}

/// A connection event, counted as `<side>_connection_<event>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Connected (again): `*_connection_up`; the component counts as ready.
    Up,
    /// A connection that was up went away: `*_connection_lost`.
    Lost,
    /// An attempt to connect failed: `*_connection_failed`.
    Failed,
}

/// Bento's counters, by metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// `input_received`: messages read from the input.
    InputReceived,
    /// `processor_received`: messages into a processor.
    ProcessorReceived,
    /// `processor_sent`: messages out of a processor.
    ProcessorSent,
    /// `processor_error`: messages a processor failed.
    ProcessorError,
    /// `output_sent`: messages an output wrote (acknowledged by its broker).
    OutputSent,
    /// `output_error`: failed write attempts of an output.
    OutputError,
}

impl Counter {
    const ALL: [Counter; 6] = [
        Counter::InputReceived,
        Counter::ProcessorReceived,
        Counter::ProcessorSent,
        Counter::ProcessorError,
        Counter::OutputSent,
        Counter::OutputError,
    ];

    /// The metric name Bento exports.
    pub fn name(self) -> &'static str {
        match self {
            Counter::InputReceived => "input_received",
            Counter::ProcessorReceived => "processor_received",
            Counter::ProcessorSent => "processor_sent",
            Counter::ProcessorError => "processor_error",
            Counter::OutputSent => "output_sent",
            Counter::OutputError => "output_error",
        }
    }
}

/// What a registered component is.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    /// An input, named for `/ready` (`amqp_1 EXTERNAL`).
    Input(&'a str),
    /// An output; `Some(name)` for one that holds a connection (`kafka
    /// FOO`), `None` for one that only routes (broker, fallback, retry,
    /// drop_on), which has counters but no readiness of its own.
    Output(Option<&'a str>),
    /// A processor (`processor_received` / `_sent` / `_error`).
    Processor,
}

/// How one input or output reports its connection: counts
/// `<side>_connection_up` when it comes up (once per transition),
/// `_lost` when an up connection goes away, `_failed` for every attempt or
/// check that fails while it is down; `/ready` follows the last report.
#[derive(Clone)]
pub struct LinkState {
    metrics: Arc<Metrics>,
    id: ComponentId,
    side: Side,
    up: Arc<AtomicBool>,
}

impl LinkState {
    /// The connection is up (again).
    pub fn up(&self) {
        if !self.up.swap(true, AtomicOrdering::Relaxed) {
            self.metrics.connection(self.side, &self.id, Connection::Up);
        }
    }

    /// A connection attempt failed, or an up connection was lost.
    pub fn down(&self) {
        let event = if self.up.swap(false, AtomicOrdering::Relaxed) {
            Connection::Lost
        } else {
            Connection::Failed
        };
        self.metrics.connection(self.side, &self.id, event);
    }

    /// One of this component's counters ([`Metrics::counter`]).
    pub fn counter(&self, counter: Counter) -> IntCounter {
        self.metrics.counter(counter, &self.id)
    }
}

/// What a component is, for `/ready`'s 503 body.
#[derive(Debug, Clone)]
struct Link {
    /// `amqp_1 EXTERNAL`, `kafka FOO`.
    name: String,
    connected: bool,
}

/// The registry behind `/metrics` and the connection table behind `/ready`.
/// Shared (`Arc`) by every component of every stream the runner runs.
pub struct Metrics {
    registry: Registry,
    streams_mode: bool,
    counters: BTreeMap<Counter, IntCounterVec>,
    connections: BTreeMap<(Side, &'static str), IntCounterVec>,
    latency: HistogramVec,
    links: Mutex<BTreeMap<(Side, ComponentId), Link>>,
}

impl Metrics {
    /// A registry with every metric declared (no series yet); `streams_mode`
    /// adds the `stream` label, as Bento does in streams mode.
    pub fn new(streams_mode: bool) -> Metrics {
        let registry = Registry::new();
        let labels: &[&str] = if streams_mode {
            &["label", "path", "stream"]
        } else {
            &["label", "path"]
        };
        let counter = |name: &str| {
            let c = IntCounterVec::new(Opts::new(name, "Bento Counter metric"), labels)
                .expect("a valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let counters = Counter::ALL
            .iter()
            .map(|&c| (c, counter(c.name())))
            .collect();
        let mut connections = BTreeMap::new();
        for side in [Side::Input, Side::Output] {
            for event in ["up", "lost", "failed"] {
                let name = format!("{}_connection_{event}", side.word());
                connections.insert((side, event), counter(&name));
            }
        }
        let latency = HistogramVec::new(
            HistogramOpts::new("output_latency_ns", "Bento Timing metric"),
            labels,
        )
        .expect("a valid metric name");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        Metrics {
            registry,
            streams_mode,
            counters,
            connections,
            latency,
            links: Mutex::new(BTreeMap::new()),
        }
    }

    fn values<'a>(&self, id: &'a ComponentId) -> Vec<&'a str> {
        if self.streams_mode {
            vec![&id.label, &id.path, &id.stream]
        } else {
            vec![&id.label, &id.path]
        }
    }

    /// Declares a component: its series appear at 0 at once (as Bento's
    /// components register theirs when built). An input, and an output
    /// that holds a connection ([`Kind::Output`] with a name), count as not
    /// ready until their first [`Connection::Up`]; `/ready` names them by
    /// that name (`kafka FOO`).
    pub fn register(&self, id: &ComponentId, kind: Kind<'_>) {
        let v = self.values(id);
        let (which, side, link): (&[Counter], Option<Side>, Option<&str>) = match kind {
            Kind::Input(name) => (&[Counter::InputReceived], Some(Side::Input), Some(name)),
            Kind::Output(name) => (
                &[Counter::OutputSent, Counter::OutputError],
                Some(Side::Output),
                name,
            ),
            Kind::Processor => (
                &[
                    Counter::ProcessorReceived,
                    Counter::ProcessorSent,
                    Counter::ProcessorError,
                ],
                None,
                None,
            ),
        };
        for c in which {
            self.counters[c].with_label_values(&v);
        }
        if side == Some(Side::Output) {
            self.latency.with_label_values(&v);
        }
        if let (Some(side), Some(name)) = (side, link) {
            for event in ["up", "lost", "failed"] {
                self.connections[&(side, event)].with_label_values(&v);
            }
            self.links.lock().expect("metrics lock").insert(
                (side, id.clone()),
                Link {
                    name: name.to_owned(),
                    connected: false,
                },
            );
        }
    }

    /// The handle through which the connected component `id` reports its
    /// connection (register it first).
    pub fn link(self: &Arc<Self>, side: Side, id: ComponentId) -> LinkState {
        LinkState {
            metrics: self.clone(),
            id,
            side,
            up: Arc::new(AtomicBool::new(false)),
        }
    }

    /// One component's counter, resolved once so a hot path only
    /// increments it (no label lookup per message).
    pub fn counter(&self, counter: Counter, id: &ComponentId) -> IntCounter {
        self.counters[&counter].with_label_values(&self.values(id))
    }

    /// One output's `output_latency_ns` series, resolved once (see
    /// [`Metrics::counter`]); observe seconds.
    pub fn timer(&self, id: &ComponentId) -> Histogram {
        self.latency.with_label_values(&self.values(id))
    }

    /// Adds `n` to a counter of a component.
    pub fn add(&self, counter: Counter, id: &ComponentId, n: u64) {
        self.counters[&counter]
            .with_label_values(&self.values(id))
            .inc_by(n);
    }

    /// Counts a connection event and updates the component's readiness.
    pub fn connection(&self, side: Side, id: &ComponentId, event: Connection) {
        let word = match event {
            Connection::Up => "up",
            Connection::Lost => "lost",
            Connection::Failed => "failed",
        };
        self.connections[&(side, word)]
            .with_label_values(&self.values(id))
            .inc();
        if let Some(link) = self
            .links
            .lock()
            .expect("metrics lock")
            .get_mut(&(side, id.clone()))
        {
            link.connected = event == Connection::Up;
        }
    }

    /// Records one write's latency (from the output taking the message to
    /// its broker's acknowledgement).
    pub fn latency(&self, id: &ComponentId, took: Duration) {
        self.latency
            .with_label_values(&self.values(id))
            .observe(took.as_secs_f64());
    }

    /// `Ok` when every registered input and output is connected; else one
    /// line per one that is not: `output not connected: kafka FOO
    /// (root.output.broker.outputs.0)`, prefixed `stream S: ` in streams mode.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let links = self.links.lock().expect("metrics lock");
        let down: Vec<String> = links
            .iter()
            .filter(|(_, l)| !l.connected)
            .map(|((side, id), l)| {
                let stream = if self.streams_mode {
                    format!("stream {}: ", id.stream)
                } else {
                    String::new()
                };
                format!(
                    "{stream}{} not connected: {} ({})",
                    side.word(),
                    l.name,
                    id.path
                )
            })
            .collect();
        if down.is_empty() { Ok(()) } else { Err(down) }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(path: &str) -> ComponentId {
        ComponentId {
            stream: "s".into(),
            path: path.into(),
            label: String::new(),
        }
    }

    #[test]
    fn series_appear_at_zero_and_count_with_bentos_names_and_labels() {
        let m = Metrics::new(false);
        let (input, out) = (id("root.input"), id("root.output.broker.outputs.0"));
        m.register(&input, Kind::Input("amqp_1 EXTERNAL"));
        m.register(&out, Kind::Output(Some("kafka FOO")));
        let text = m.encode();
        assert!(
            text.contains("input_received{label=\"\",path=\"root.input\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("output_sent{label=\"\",path=\"root.output.broker.outputs.0\"} 0\n"));
        m.add(Counter::InputReceived, &input, 1000);
        m.add(Counter::OutputSent, &out, 3);
        m.latency(&out, Duration::from_millis(2));
        let text = m.encode();
        assert!(text.contains("input_received{label=\"\",path=\"root.input\"} 1000\n"));
        assert!(text.contains("output_sent{label=\"\",path=\"root.output.broker.outputs.0\"} 3\n"));
        assert!(text.contains(
            "output_latency_ns_count{label=\"\",path=\"root.output.broker.outputs.0\"} 1\n"
        ));
        assert!(!text.contains("stream="));
    }

    #[test]
    fn ready_only_when_every_input_and_output_is_up() {
        let m = Metrics::new(true);
        let (input, out) = (id("root.input"), id("root.output"));
        m.register(&input, Kind::Input("amqp_1 EXTERNAL"));
        m.register(&out, Kind::Output(Some("kafka FOO")));
        m.register(&id("root.pipeline.processors.0"), Kind::Processor);
        assert_eq!(m.readiness().unwrap_err().len(), 2);
        m.connection(Side::Input, &input, Connection::Up);
        assert_eq!(
            m.readiness(),
            Err(vec![
                "stream s: output not connected: kafka FOO (root.output)".to_owned()
            ])
        );
        m.connection(Side::Output, &out, Connection::Up);
        assert_eq!(m.readiness(), Ok(()));
        m.connection(Side::Output, &out, Connection::Lost);
        assert!(m.readiness().is_err());
        let text = m.encode();
        assert!(
            text.contains(
                "output_connection_lost{label=\"\",path=\"root.output\",stream=\"s\"} 1\n"
            ),
            "{text}"
        );
    }
}
