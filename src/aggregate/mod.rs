//! Aggregation: an analysis (parsed, joined events and counters) shaped into the report's numbers:
//! causes, upstreams, paths, timeline, incidents, findings, and the latency sketches behind them.

pub mod build;
pub mod findings;
pub mod incidents;
pub mod sketch;

pub use build::Limits;
