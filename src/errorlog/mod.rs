//! Error logs: the line parser, the cause taxonomy, and reading whole logs into records.

pub mod cause;
mod needles;
pub mod negative;
pub mod parse;
pub mod paste;
pub mod read;
pub mod text;

pub use cause::{classify, Cause, CauseInfo, Role};
pub use parse::{parse_line, starts_record, upstream_peer, ErrorLine, ErrorRecord, Level};
