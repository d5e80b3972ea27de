//! The I/O side shared by the terminal UI and the headless probe: one
//! publisher (injects into the source) and one consumer per destination,
//! each a tokio task that reconnects on its own and reports [`Event`]s over
//! one mpsc channel.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::Endpoints;
use crate::event::{BodyOptions, Event, SendRequest};
use crate::{amqp, kafka};

/// Capacity of the event channel; workers wait (backpressure) when it is full.
pub const EVENT_QUEUE: usize = 65_536;

/// Names and endpoints of the destinations, in destination order:
/// 0 = the Kafka topic (`kafka:FOO`), 1 = the AMQP address (`amqp:FOO`).
pub fn destinations(e: &Endpoints) -> Vec<(String, String)> {
    vec![
        (format!("kafka:{}", e.kafka_topic), e.kafka_brokers.clone()),
        (format!("amqp:{}", e.amqp_target), e.amqp().display_url()),
    ]
}

/// Handles to the running I/O tasks.
pub struct Workers {
    /// Every event of every link.
    pub events: mpsc::Receiver<Event>,
    /// Send requests for the publisher.
    pub requests: mpsc::Sender<SendRequest>,
    /// Cancels every task.
    pub cancel: CancellationToken,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the publisher and the two destination consumers.
pub fn spawn(e: &Endpoints, body: BodyOptions) -> Workers {
    let (ev_tx, events) = mpsc::channel(EVENT_QUEUE);
    let (requests, req_rx) = mpsc::channel(1_024);
    let cancel = CancellationToken::new();
    let tasks = vec![
        tokio::spawn(amqp::run_publisher(e.amqp(), e.source.clone(), body, req_rx, ev_tx.clone(), cancel.clone())),
        tokio::spawn(kafka::run_consumer(e.kafka_brokers.clone(), e.kafka_topic.clone(), 0, ev_tx.clone(), cancel.clone())),
        tokio::spawn(amqp::run_consumer(e.amqp(), e.amqp_target.clone(), 1, ev_tx, cancel.clone())),
    ];
    Workers { events, requests, cancel, tasks }
}
