//! Processor components: `mapping` (the Bloblang subset of
//! [`crate::pipeline::processor::mapping`]).

use serde::Deserialize;

use crate::pipeline::finding::{Finding, Seg, join};
use crate::pipeline::processor::mapping::Mapping;

/// Processors the runner supports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Processor {
    /// Bloblang mapping text (see [`crate::pipeline::processor::mapping`] for the subset).
    Mapping(String),
}

impl Processor {
    /// Why the local runner cannot run this processor, at `path` (its item
    /// under `pipeline.processors`).
    pub fn check(&self, path: &[Seg]) -> Result<(), Box<Finding>> {
        match self {
            Processor::Mapping(text) => Mapping::parse(text)
                .map(|_| ())
                .map_err(|e| Box::new(Finding::error(join(path, &["mapping"]), e.to_string()))),
        }
    }
}
