//! Processors at run time: each one changes a message in place.

pub mod mapping;

use std::sync::Arc;

use self::mapping::Mapping;
use super::message::Msg;
use super::metrics::{ComponentId, Counter, Metrics};

/// A stream's `pipeline.processors`, in order, each counted as Bento counts
/// a processor: `processor_received` and `processor_sent` per message (the
/// runner's mappings only touch metadata and cannot fail, so
/// `processor_error` stays 0).
#[derive(Default)]
pub struct Processors {
    steps: Vec<(Mapping, ComponentId)>,
    metrics: Option<Arc<Metrics>>,
}

impl Processors {
    /// `steps` with their metrics ids (`root.pipeline.processors.N`).
    pub fn new(steps: Vec<(Mapping, ComponentId)>, metrics: Arc<Metrics>) -> Processors {
        Processors {
            steps,
            metrics: Some(metrics),
        }
    }

    /// Runs every processor on `msg`, in order.
    pub fn apply(&self, msg: &mut Msg) {
        for (m, id) in &self.steps {
            if let Some(metrics) = &self.metrics {
                metrics.add(Counter::ProcessorReceived, id, 1);
            }
            m.apply(&mut msg.meta);
            if let Some(metrics) = &self.metrics {
                metrics.add(Counter::ProcessorSent, id, 1);
            }
        }
    }
}
