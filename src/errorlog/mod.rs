//! Error logs: the line parser and the cause taxonomy.

pub mod cause;
pub mod negative;
pub mod parse;
pub mod paste;

pub use cause::{classify, Cause, CauseInfo, Role};
pub use parse::{parse_line, starts_record, upstream_peer, ErrorLine, ErrorRecord, Level};
