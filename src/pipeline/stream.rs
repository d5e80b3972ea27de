//! A built stream: its input, processors and output tree, run until
//! cancelled.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::config;
use super::input;
use super::message::Counters;
use super::metrics::LinkState;
use super::output::Out;
use super::processor::Processors;

/// A runnable stream (see [`super::build::stream`]).
pub struct Stream {
    pub id: String,
    pub(super) input: config::Input,
    pub(super) processors: Processors,
    pub(super) output: Out,
    /// How the input reports its connection and `input_received`.
    pub(super) input_link: LinkState,
    pub counters: Arc<Counters>,
}

impl Stream {
    /// Runs until `cancel` fires, then stops taking input and waits up to
    /// `drain` for in-flight messages to be confirmed and settled.
    pub async fn run(self, cancel: CancellationToken, drain: Duration) {
        match &self.input {
            config::Input::Amqp1(i) => input::amqp_1::run(&self, i, cancel, drain).await,
            config::Input::Kafka(k) => input::kafka::run(&self, k, cancel, drain).await,
        }
    }
}
