//! Processors at run time: each one changes a message in place.

pub mod mapping;

use std::sync::Arc;

use prometheus::IntCounter;

use self::mapping::Mapping;
use super::message::Msg;
use super::metrics::{ComponentId, Counter, Metrics};

/// A stream's `pipeline.processors`, in order, each counted as Bento counts
/// a processor: `processor_received` and `processor_sent` per message (the
/// runner's mappings only touch metadata and cannot fail, so
/// `processor_error` stays 0).
#[derive(Default)]
pub struct Processors {
    /// Each mapping with its `processor_received` and `processor_sent`.
    steps: Vec<(Mapping, IntCounter, IntCounter)>,
}

impl Processors {
    /// `steps` with their metrics ids (`root.pipeline.processors.N`), whose
    /// counters are resolved here, once.
    pub fn new(steps: Vec<(Mapping, ComponentId)>, metrics: Arc<Metrics>) -> Processors {
        let steps = steps
            .into_iter()
            .map(|(m, id)| {
                let received = metrics.counter(Counter::ProcessorReceived, &id);
                let sent = metrics.counter(Counter::ProcessorSent, &id);
                (m, received, sent)
            })
            .collect();
        Processors { steps }
    }

    /// Runs every processor on `msg`, in order.
    pub fn apply(&self, msg: &mut Msg) {
        for (m, received, sent) in &self.steps {
            received.inc();
            m.apply(&mut msg.meta);
            sent.inc();
        }
    }
}
