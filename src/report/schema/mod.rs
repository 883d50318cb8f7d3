//! The report as data: what every output format renders, and the JSON contract `report` writes
//! and `merge` reads back (one set of types, serialised and deserialised alike).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::format::Missing;
use crate::correlate::JoinMethod;
use crate::input::{Kind, Origin};
use crate::summary::MalformedLine;

mod add;

pub use add::{add_counts, add_examples};

/// Version of the JSON contract; bumped on any incompatible change.
pub const SCHEMA: &str = "ngx502/1";

/// The upstream row for failures whose upstream no log names (a backend-sent 5xx in a format
/// without `$upstream_addr`).
pub const UNKNOWN_UPSTREAM: &str = "(unknown)";

/// The row that sums the upstreams a report has no room to list (see [`crate::aggregate::build::MAX_UPSTREAM_ROWS`]).
pub const OTHER_UPSTREAMS: &str = "(other upstreams)";

/// A cause slug (or other text of this version's own). An alias, so that serde reads it through
/// `slug` instead of borrowing it from the input.
pub type Slug = &'static str;

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`] when written; a reader checks it before anything else.
    pub schema: String,
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
    /// Where each upstream error line went: claimed by a request, unmatched, filtered out or
    /// waiting for the next run.
    #[serde(default)]
    pub error_lines: ErrorLines,
    /// What to change for a more exact diagnosis (renderers word it).
    pub advice: Vec<Advice>,
    pub period: Period,
    /// The filters in force (`path ~ ^/api/`, `status in 502,504`): counts are of what passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// `--label KEY=VALUE`: what the report is about (`host` = `web1`); in a fleet report, the
    /// labels every host shares.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A fleet report's breakdown by each label whose value differs between hosts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_label: BTreeMap<String, Vec<LabelRow>>,
}

/// The hosts of a fleet with one value of a label, and what they counted.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LabelRow {
    pub value: String,
    pub hosts: u64,
    pub requests: u64,
    pub failures: u64,
    pub failure_rate: f64,
    pub by_cause: BTreeMap<String, u64>,
}

/// The terminal upstream error lines (those that name a failure) a report read, and where each
/// went, so none is lost or counted twice: `read` = `claimed` + `unmatched` + `filtered` +
/// `waiting`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLines {
    /// Read by this run, with those an earlier `--state` run carried over to it.
    pub read: u64,
    /// The cause of a request's failed attempt (client-facing or recovered by a retry).
    pub claimed: u64,
    /// Claimed by no request: `unmatched_error_lines`.
    pub unmatched: u64,
    /// Outside the time window, or of a failure the filters left out.
    pub filtered: u64,
    /// Held back for the next `--state` run, which may read their request.
    pub waiting: u64,
    /// Context lines (FastCGI stderr, a peer marked down) claimed with them as evidence.
    pub context_claimed: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Client-facing 5xx (and `009`) responses explained below.
    pub failures: u64,
    pub lines_read: u64,
    pub parsed: u64,
    pub malformed_lines: u64,
    pub filtered: u64,
    /// Other programs' lines in streams (see [`InputRow::other`]), so that lines read are
    /// parsed + malformed + filtered + other.
    #[serde(default)]
    pub other: u64,
    /// Whether access logs were read: without them, client-facing counts are unknown.
    pub access_logs: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CauseRow {
    #[serde(deserialize_with = "slug::one")]
    pub cause: Slug,
    pub count: u64,
    pub share: f64,
    pub statuses: BTreeMap<String, u64>,
    /// The cause's summary and fix steps: written for readers of the JSON, restored from the
    /// cause when read back (see [`Report::restore`]).
    #[serde(default, deserialize_with = "slug::derived")]
    pub summary: Slug,
    #[serde(default, deserialize_with = "slug::derived")]
    pub fix: &'static [&'static str],
    /// Up to `top` error lines (or access lines) that show it.
    pub evidence: Vec<String>,
    pub top_paths: Vec<(String, u64)>,
    /// What these failures say concretely: which upstream and since when, the timeout nginx
    /// applied, what preceded them (see [`crate::aggregate::findings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// With `--nginx-conf`: the directives that applied to these failures, at `FILE:LINE`, per
    /// location (see [`crate::cite`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<crate::cite::Citation>,
}

/// A concrete finding about one cause's failures: a kind, its numbers and its subjects. Only
/// renderers word it, so a merged report recomputes findings from merged numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An upstream failed `failures` times with this cause, from `first` to `last` (RFC 3339 in
    /// the log's own offset; `last` absent when all were at one moment, both when none was timed).
    Upstream { upstream: String, failures: u64, first: Option<String>, last: Option<String> },
    /// A timeout: nginx gave up after the median request time of `samples` failures (the
    /// timeout in force); `endpoints` are the paths that hit it (templated as the top paths
    /// are), with their counts.
    GaveUpAfter { median_seconds: f64, samples: u64, endpoints: Vec<(String, u64)> },
    /// `no_live_upstreams`: every server of `block` had been marked down by `at`.
    AllServersDown { block: Option<String>, at: String },
}

/// Advice for a more exact diagnosis: a kind and its subjects; renderers word it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Advice {
    /// The access format named `format` does not log what an exact join needs.
    FormatLacks { format: String, lacks: Missing },
    /// Log in ngx502's `upstream` format (which logs all of it).
    UseUpstreamFormat,
    /// More upstreams failed than a report lists: `listed` are shown, `folded` are summed in
    /// the row [`OTHER_UPSTREAMS`].
    UpstreamsFolded { upstreams: u64, listed: u64, folded: u64 },
    /// `requests` failed requests waited (`--state`) for an error line their logs can no longer
    /// bring, and are counted without one.
    SettledWithoutErrorLine { requests: u64 },
    /// Only error logs were read: pass the access log too, for client-facing counts.
    PassAccessLog,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpstreamRow {
    pub upstream: String,
    /// The nginx.conf `upstream {}` block the server belongs to, when `--nginx-conf` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// Attempts sent to it, when `$upstream_addr` is logged.
    pub requests: Option<u64>,
    /// Client-facing failures whose last attempt was this upstream, by cause.
    #[serde(deserialize_with = "slug::map")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_sketch: Option<crate::aggregate::sketch::Sketch>,
    /// Client-facing failures whose last attempt was this upstream, per `timeline` bucket (same
    /// length and order), so a report can draw each upstream's failures over time.
    #[serde(default)]
    pub failures_over_time: Vec<u64>,
    /// A part of this row (a host's) had quantiles without the sketch behind them: the row's
    /// latency is unknown, whatever other parts add. Not written: the JSON shows no latency.
    #[serde(skip)]
    pub latency_lost: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    pub fn from_sketch(sketch: &crate::aggregate::sketch::Sketch) -> Option<Latency> {
        Some(Latency {
            samples: sketch.count(),
            p50: sketch.quantile(0.5)?,
            p90: sketch.quantile(0.9)?,
            p99: sketch.quantile(0.99)?,
            error_bound: 0.01,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PathRow {
    /// The path, or its template (`/orders/{id}`) when ids were grouped.
    pub path: String,
    pub count: u64,
    #[serde(deserialize_with = "slug::map")]
    pub by_cause: BTreeMap<&'static str, u64>,
    /// Two of the paths a template stands for (none for a plain path).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Bucket {
    pub start: String,
    /// `start` in UTC seconds, for arithmetic; restored from `start` when read back.
    #[serde(skip)]
    pub start_utc: i64,
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    #[serde(deserialize_with = "slug::map")]
    pub by_cause: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Incident {
    pub start: String,
    pub end: String,
    pub failures: u64,
    pub peak_rate: f64,
    /// The dominant cause (`unattributed` when none had one).
    #[serde(deserialize_with = "slug::one")]
    pub cause: Slug,
    pub upstream: Option<String>,
}

/// What happened to one input: counted while it is read, shown in the inputs table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputRow {
    pub path: String,
    pub kind: Option<Kind>,
    pub format: Option<String>,
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub filtered: u64,
    /// Other programs' lines in a stream: neither access nor error lines, and not malformed.
    #[serde(default)]
    pub other: u64,
    /// A few malformed lines as examples.
    pub malformed_examples: Vec<MalformedRow>,
    /// Why the input was not (fully) read, if it was not.
    pub problem: Option<String>,
    /// Skipped as not a log (found while walking a directory).
    pub skipped: bool,
    /// How this input's 5xx lines were joined to error lines (set once the join is done).
    pub join: Option<JoinMethod>,
}

/// A malformed line kept as an example: where, why, and its first characters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MalformedRow {
    pub line: u64,
    pub reason: Cow<'static, str>,
    pub text: String,
}

impl From<&MalformedLine> for MalformedRow {
    fn from(m: &MalformedLine) -> Self {
        MalformedRow { line: m.line, reason: Cow::Borrowed(m.reason), text: crate::escape::lossless(&m.text) }
    }
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

impl InputRow {
    /// The row of an input nothing was read from yet.
    pub fn new(origin: &Origin) -> Self {
        InputRow {
            path: origin.to_string(),
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
            join: None,
        }
    }
}

impl Report {
    /// What the JSON leaves out because it follows from the rest: each cause's summary and fix
    /// steps, each bucket's start in UTC seconds. Fails with the text of a bucket's start or an
    /// upstream's failure time that is not RFC 3339 (rows add by comparing those as instants).
    pub fn restore(&mut self) -> Result<(), String> {
        for c in &mut self.causes {
            if let Some(cause) = crate::errorlog::Cause::from_slug(c.cause) {
                c.summary = cause.info().summary;
                c.fix = cause.info().fix;
            }
        }
        for b in &mut self.timeline {
            b.start_utc = crate::time::parse_rfc3339(&b.start).ok_or_else(|| b.start.clone())?.0;
        }
        let failure_times = self.upstreams.iter().flat_map(|u| [&u.first_failure, &u.last_failure]);
        match failure_times.flatten().find(|t| crate::time::parse_rfc3339(t).is_none()) {
            Some(bad) => Err(bad.clone()),
            None => Ok(()),
        }
    }
}

/// Cause slugs as the contract writes them, read back as this version's own `&'static str`: a
/// report naming a cause this version does not know is refused rather than miscounted.
mod slug {
    use std::collections::BTreeMap;

    use serde::de::{Deserializer, Error};
    use serde::Deserialize;

    fn known<E: Error>(slug: &str) -> Result<&'static str, E> {
        match crate::errorlog::Cause::from_slug(slug) {
            Some(cause) => Ok(cause.slug()),
            None => {
                Err(E::custom(format!("unknown cause {slug:?} (was the report written by a newer ngx502?)")))
            }
        }
    }

    pub fn one<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        known(&String::deserialize(d)?)
    }

    /// A field that follows from the cause: read past, restored by [`super::Report::restore`].
    pub fn derived<'de, D: Deserializer<'de>, T: Default>(d: D) -> Result<T, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(T::default())
    }

    pub fn map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<&'static str, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(d)?.into_iter().map(|(slug, n)| Ok((known(&slug)?, n))).collect()
    }
}
