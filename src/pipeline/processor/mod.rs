//! Processors at run time: each one changes a message in place.

pub mod mapping;
