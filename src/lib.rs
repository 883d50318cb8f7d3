//! ngx502: why did my users get 502s? Joins nginx access and error logs and names the upstream
//! failure behind every 502/504.
//!
//! Data flow: [`input`] finds and opens logs and decides their kind and format; [`access`] and
//! [`errorlog`] parse lines on bytes; [`summary`] counts access lines in parallel chunks and copies
//! out the rare 5xx; [`correlate`] joins them with error lines; [`report`] and [`export`] render.

/// A substring searcher for a literal, built on first use and kept for the life of the process:
/// building a searcher costs more than searching one log line with it, so no line pays for it
/// (every per-line search of the error-log and stream readers goes through one).
macro_rules! finder {
    ($needle:expr) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        &*FINDER
    }};
}

pub mod access;
pub mod aggregate;
pub mod alert;
pub mod cite;
pub mod cli;
pub mod cmd;
pub mod color;
pub mod correlate;
pub mod errorlog;
pub mod escape;
pub mod exit;
pub mod export;
pub mod filter;
pub mod fleet;
pub mod heap;
pub mod input;
pub mod labels;
pub mod lines;
pub mod live;
pub mod merge;
pub mod nginx_conf;
pub mod number;
pub mod path_template;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod state;
pub mod stream;
pub mod summary;
pub mod swar;
pub mod time;
pub mod window;
