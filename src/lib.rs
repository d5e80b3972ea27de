//! streamprobe: see a Tyk Streams / Bento pipeline work.
//!
//! Async tasks publish probe messages to an AMQP 1.0 source and consume the
//! stream's destinations (Kafka, AMQP 1.0), sending [`event::Event`]s over a
//! tokio mpsc channel to a ratatui render loop ([`tui`]). [`pipeline`] runs
//! the same stream definitions locally.

pub mod amqp;
pub mod broker;
pub mod cli;
pub mod diagnose;
pub mod envelope;
pub mod event;
pub mod kafka;
pub mod latency;
pub mod links;
pub mod logging;
pub mod pipeline;
pub mod probe;
pub mod profile;
pub mod record;
pub mod retry;
pub mod sanitize;
pub mod sasl;
pub mod secrets;
pub mod stats;
pub mod tls;
pub mod tracker;
pub mod tui;
