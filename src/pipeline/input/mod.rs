//! Inputs at run time: one module per component. Each runs as
//! `run(stream, config, cancel, drain)`: reads until `cancel`, hands each
//! message (after the stream's processors) to its output tree, acks what
//! the tree confirmed, then drains for up to `drain`. It reports its
//! connection and `input_received` through the stream's input
//! [`super::metrics::LinkState`].

pub mod amqp_1;
pub mod kafka;
