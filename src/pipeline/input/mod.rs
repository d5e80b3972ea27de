//! Inputs at run time: one module per component. Each runs as
//! `run(id, config, processors, output, counters, cancel, drain)`: reads
//! until `cancel`, hands each message (after the processors) to the output
//! tree, acks what the tree confirmed, then drains for up to `drain`.

pub mod amqp_1;
pub mod kafka;
