//! Aggregation: analyses (parsed, joined events and counters) folded into the report's numbers:
//! causes, upstreams, paths, timeline, incidents, findings, and the latency sketches and request-time counts behind them.

mod buckets;
pub mod build;
mod causes;
mod failures;
pub mod findings;
pub mod fold;
pub mod incidents;
pub mod inputs;
pub mod samples;
pub mod sketch;
mod upstreams;

pub use buckets::{start_of, FINE_SECONDS};
pub use build::Limits;
pub use fold::Fold;
