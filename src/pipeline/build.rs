//! The build pass: turns a checked stream definition into running
//! components (outputs start connecting, tasks are spawned). Call it only
//! on a stream whose [`super::config::StreamConfig::check`] found no error;
//! it does not check again.

use std::sync::Arc;

use anyhow::{Result, anyhow};

use super::config::{self, NamedStream};
use super::finding::{Seg, display, index, join};
use super::metrics::{ComponentId, Metrics};
use super::output::{self, Out};
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

/// Builds a checked stream. Errors only when a client library refuses the
/// settings (e.g. librdkafka), naming the component's path.
pub fn stream(s: &NamedStream, metrics: Arc<Metrics>) -> Result<Stream> {
    let ctx = Ctx {
        stream: s.id.clone(),
        metrics,
    };
    let processors = s
        .config
        .pipeline
        .processors
        .iter()
        .map(|p| match p {
            config::Processor::Mapping(text) => Mapping::parse(text).unwrap_or_default(),
        })
        .collect();
    let output = output(&s.config.output, &ctx, &join(&[], &["output"]))?;
    for name in s.config.ignored_sections() {
        tracing::warn!(stream = %s.id, "`{name}` is ignored by the local runner");
    }
    Ok(Stream {
        id: s.id.clone(),
        input: s.config.input.clone(),
        processors,
        output,
        counters: Arc::default(),
    })
}

/// Builds the output tree at `path` (the output's place in the stream).
pub fn output(conf: &config::Output, ctx: &Ctx, path: &[Seg]) -> Result<Out> {
    let children = |list: &[config::Output], base: &[Seg]| -> Result<Vec<Out>> {
        list.iter()
            .enumerate()
            .map(|(i, o)| output(o, ctx, &index(base, i)))
            .collect()
    };
    let out: Out = match conf {
        config::Output::Kafka(k) => Arc::new(
            output::kafka::build(k)
                .map_err(|e| anyhow!("{}.kafka: {e:#}", display(path)))?,
        ),
        config::Output::Amqp1(a) => Arc::new(output::amqp_1::build(
            a,
            format!("{}-{}", ctx.stream, display(path)),
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
        ctx.id(path),
        ctx.metrics.clone(),
    )))
}
