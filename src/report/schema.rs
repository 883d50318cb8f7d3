//! The report as data: what every output format renders, and the stable JSON contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlate::JoinMethod;
use crate::input::{Kind, Origin};
use crate::summary::MalformedLine;

/// Version of the JSON contract; bumped on any incompatible change.
pub const SCHEMA: &str = "ngx502/1";

/// The upstream row for failures whose upstream no log names (a backend-sent 5xx in a format
/// without `$upstream_addr`).
pub const UNKNOWN_UPSTREAM: &str = "(unknown)";

/// The row that sums the upstreams a report has no room to list (see [`super::model::MAX_UPSTREAM_ROWS`]).
pub const OTHER_UPSTREAMS: &str = "(other upstreams)";

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub totals: Totals,
    pub causes: Vec<CauseRow>,
    pub upstreams: Vec<UpstreamRow>,
    pub top_paths: Vec<PathRow>,
    pub timeline: Vec<Bucket>,
    pub incidents: Vec<Incident>,
    pub inputs: Vec<InputRow>,
    /// Upstream error lines that no 5xx access line claimed (retries that recovered, or
    /// requests outside the access logs).
    pub unmatched_error_lines: u64,
    /// What the access format lacks for an exact diagnosis, and the `log_format` to add.
    pub advice: Vec<String>,
    pub period: Period,
    /// The filters in force (`path ~ ^/api/`, `status in 502,504`): counts are of what passed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Client-facing 5xx (and `009`) responses explained below.
    pub failures: u64,
    pub lines_read: u64,
    pub parsed: u64,
    pub malformed_lines: u64,
    pub filtered: u64,
    /// Whether access logs were read: without them, client-facing counts are unknown.
    pub access_logs: bool,
}

#[derive(Debug, Serialize)]
pub struct CauseRow {
    pub cause: &'static str,
    pub count: u64,
    pub share: f64,
    pub statuses: BTreeMap<String, u64>,
    pub summary: &'static str,
    pub fix: &'static [&'static str],
    /// Up to `top` error lines (or access lines) that show it.
    pub evidence: Vec<String>,
    pub top_paths: Vec<(String, u64)>,
    /// What these failures say concretely: which upstream and since when, the timeout nginx
    /// applied, what preceded them (see [`super::findings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// With `--nginx-conf`: the directives that applied to these failures, at `FILE:LINE`, per
    /// location (see [`crate::cite`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<crate::cite::Citation>,
}

#[derive(Debug, Serialize)]
pub struct UpstreamRow {
    pub upstream: String,
    /// The nginx.conf `upstream {}` block the server belongs to, when `--nginx-conf` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// Attempts sent to it, when `$upstream_addr` is logged.
    pub requests: Option<u64>,
    /// Client-facing failures whose last attempt was this upstream, by cause.
    pub errors_by_cause: BTreeMap<&'static str, u64>,
    pub client_502: u64,
    pub client_504: u64,
    /// Attempts on it that failed, client-facing or not.
    pub failed_attempts: u64,
    /// Failed attempts in requests the client never saw fail (a retry recovered).
    pub hidden_failures: u64,
    pub rate_502: Option<f64>,
    pub rate_5xx: Option<f64>,
    pub first_failure: Option<String>,
    pub last_failure: Option<String>,
    pub latency: Option<Latency>,
    /// The sketch behind `latency`, so `ngx502 merge` can give exact fleet quantiles (quantiles
    /// themselves cannot be merged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_sketch: Option<crate::sketch::Sketch>,
    /// Client-facing failures whose last attempt was this upstream, per `timeline` bucket (same
    /// length and order), so a report can draw each upstream's failures over time.
    pub failures_over_time: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// Relative error bound of the quantiles.
    pub error_bound: f64,
}

impl Latency {
    /// The quantiles of `sketch`, or `None` when it holds no sample.
    pub fn from_sketch(sketch: &crate::sketch::Sketch) -> Option<Latency> {
        Some(Latency {
            samples: sketch.count(),
            p50: sketch.quantile(0.5)?,
            p90: sketch.quantile(0.9)?,
            p99: sketch.quantile(0.99)?,
            error_bound: 0.01,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct PathRow {
    pub path: String,
    pub count: u64,
    pub by_cause: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    pub start: String,
    #[serde(skip)]
    pub start_utc: i64,
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_cause: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct Incident {
    pub start: String,
    pub end: String,
    pub failures: u64,
    pub peak_rate: f64,
    pub cause: &'static str,
    pub upstream: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InputRow {
    pub path: String,
    pub kind: Option<crate::input::Kind>,
    pub format: Option<String>,
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub filtered: u64,
    /// Other programs' lines in a stream: neither access nor error lines, and not malformed.
    pub other: u64,
    pub malformed_examples: Vec<MalformedRow>,
    pub problem: Option<String>,
    pub skipped: bool,
    /// How this input's 5xx lines were joined to error lines.
    pub join: Option<JoinMethod>,
}

#[derive(Debug, Serialize)]
pub struct MalformedRow {
    pub line: u64,
    pub reason: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Period {
    pub first: Option<String>,
    pub last: Option<String>,
    pub bucket_seconds: i64,
}

impl Totals {
    /// Client-facing failures per request (0 when no request was read).
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.requests)
    }
}

impl Period {
    /// `" from FIRST to LAST"`, or nothing when no access line carried a time.
    pub fn from_to(&self) -> String {
        match (&self.first, &self.last) {
            (Some(a), Some(b)) => format!(" from {a} to {b}"),
            _ => String::new(),
        }
    }
}

/// `n / d`, or 0 when there is nothing to divide by.
pub fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// What happened to one input.
#[derive(Clone, Debug)]
pub struct InputReport {
    pub origin: Origin,
    pub kind: Option<Kind>,
    pub format: Option<String>,
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    /// Read but not requests or records: blank lines, error-log lines about other things.
    pub filtered: u64,
    /// Lines of other programs in a stream (entrypoint scripts, `nginx: [emerg]`, klog).
    pub other: u64,
    pub malformed_examples: Vec<MalformedLine>,
    /// Why the input was not (fully) read, if it was not.
    pub problem: Option<String>,
    /// Skipped as not a log (found while walking a directory).
    pub skipped: bool,
}

impl InputReport {
    /// The report of an input nothing was read from yet.
    pub fn new(origin: Origin) -> Self {
        InputReport {
            origin,
            kind: None,
            format: None,
            lines: 0,
            parsed: 0,
            malformed: 0,
            filtered: 0,
            other: 0,
            malformed_examples: Vec::new(),
            problem: None,
            skipped: false,
        }
    }
}
