//! ngx502: why did my users get 502s? Joins nginx access and error logs and names the upstream
//! failure behind every 502/504.
//!
//! Data flow: [`input`] finds and opens logs and decides their kind and format; [`access`] and
//! [`errorlog`] parse lines on bytes; [`summary`] counts access lines in parallel chunks and copies
//! out the rare 5xx; [`correlate`] joins them with error lines; [`report`] and [`export`] render.

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
pub mod time;
pub mod window;
