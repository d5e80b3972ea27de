//! The build pass: turns a checked stream definition into running
//! components (outputs start connecting, tasks are spawned). Call it only
//! on a stream whose [`super::config::StreamConfig::check`] found no error;
//! it does not check again.

use std::sync::Arc;

use anyhow::{Result, anyhow};

use super::config::{self, NamedStream};
use super::finding::{Seg, display, index, join};
use super::metrics::{ComponentId, Kind, Metrics, Side};
use super::output::{self, Out};
use super::processor::Processors;
use super::processor::mapping::Mapping;
use super::stream::Stream;

/// What every component of one stream is built with.
pub struct Ctx {
    /// The stream's id.
    pub stream: String,
    /// The registry its components count into.
    pub metrics: Arc<Metrics>,
}

impl Ctx {
    /// The metrics id of the component at `path` (Bento's path:
    /// `root.output.broker.outputs.0`; no `label:` support yet).
    pub fn id(&self, path: &[Seg]) -> ComponentId {
        let mut p = String::from("root");
        for seg in path {
            match seg {
                Seg::Key(k) => {
                    p.push('.');
                    p.push_str(k);
                }
                Seg::Index(i) => {
                    p.push('.');
                    p.push_str(&i.to_string());
                }
            }
        }
        ComponentId {
            stream: self.stream.clone(),
            path: p,
            label: String::new(),
        }
    }
}

/// Builds a checked stream, registering every component's metrics
/// (input, processors, outputs) in `metrics`. Errors only when a client library refuses the
/// settings (e.g. librdkafka), naming the component's path.
pub fn stream(s: &NamedStream, metrics: Arc<Metrics>) -> Result<Stream> {
    let ctx = Ctx {
        stream: s.id.clone(),
        metrics,
    };
    let procs = join(&[], &["pipeline", "processors"]);
    let steps = s
        .config
        .pipeline
        .processors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = ctx.id(&index(&procs, i));
            ctx.metrics.register(&id, Kind::Processor);
            let step = match p {
                config::Processor::Mapping(text) => Mapping::parse(text).unwrap_or_default(),
            };
            (step, id)
        })
        .collect();
    let input_id = ctx.id(&join(&[], &["input"]));
    let input_name = match &s.config.input {
        config::Input::Amqp1(i) => format!("amqp_1 {}", i.source_address),
        config::Input::Kafka(k) => format!("kafka {}", k.topics.join(",")),
    };
    ctx.metrics.register(&input_id, Kind::Input(&input_name));
    let input_link = ctx.metrics.link(Side::Input, input_id);
    let output = output(&s.config.output, &ctx, &join(&[], &["output"]))?;
    for name in s.config.ignored_sections() {
        tracing::warn!(stream = %s.id, "`{name}` is ignored by the local runner");
    }
    Ok(Stream {
        id: s.id.clone(),
        input: s.config.input.clone(),
        processors: Processors::new(steps, ctx.metrics.clone()),
        output,
        input_link,
        counters: Arc::default(),
    })
}

/// Builds the output tree at `path` (the output's place in the stream),
/// every output of it registered and wrapped in [`output::measured`]
/// (Bento counts each output of a broker under its own path).
pub fn output(conf: &config::Output, ctx: &Ctx, path: &[Seg]) -> Result<Out> {
    let children = |list: &[config::Output], base: &[Seg]| -> Result<Vec<Out>> {
        list.iter()
            .enumerate()
            .map(|(i, o)| output(o, ctx, &index(base, i)))
            .collect()
    };
    let id = ctx.id(path);
    let leaf = match conf {
        config::Output::Kafka(k) => Some(format!("kafka {}", k.topic)),
        config::Output::Amqp1(a) => Some(format!("amqp_1 {}", a.target_address)),
        _ => None,
    };
    ctx.metrics.register(&id, Kind::Output(leaf.as_deref()));
    let link = || ctx.metrics.link(Side::Output, id.clone());
    let out: Out = match conf {
        config::Output::Kafka(k) => Arc::new(
            output::kafka::build(k, link())
                .map_err(|e| anyhow!("{}.kafka: {e:#}", display(path)))?,
        ),
        config::Output::Amqp1(a) => Arc::new(output::amqp_1::build(
            a,
            format!("{}-{}", ctx.stream, display(path)),
            link(),
        )),
        config::Output::Broker(b) => Arc::new(output::broker::build(
            b.pattern,
            children(&b.outputs, &join(path, &["broker", "outputs"]))?,
        )),
        config::Output::Fallback(list) => Arc::new(output::fallback::build(children(
            list,
            &join(path, &["fallback"]),
        )?)),
        config::Output::Retry(r) => Arc::new(output::retry::build(
            r,
            output(&r.output, ctx, &join(path, &["retry", "output"]))?,
        )),
        config::Output::DropOn(d) => Arc::new(output::drop_on::build(
            d,
            output(&d.output, ctx, &join(path, &["drop_on", "output"]))?,
        )),
    };
    Ok(Arc::new(output::measured::wrap(
        out,
        id,
        ctx.metrics.clone(),
    )))
}
