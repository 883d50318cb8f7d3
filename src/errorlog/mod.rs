//! Error logs: the line parser, the cause taxonomy, and reading whole logs into records.

/// A substring searcher for a literal, built on first use and kept for the life of the process:
/// building a searcher costs more than searching one log line with it, so no line pays for it.
macro_rules! finder {
    ($needle:expr) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        &*FINDER
    }};
}

pub mod cause;
pub mod negative;
pub mod parse;
pub mod paste;
pub mod read;

pub use cause::{classify, Cause, CauseInfo, Role};
pub use parse::{parse_line, starts_record, upstream_peer, ErrorLine, ErrorRecord, Level};
