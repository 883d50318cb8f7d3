//! The report as data: what every output format renders, and the stable JSON contract.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::correlate::{Event, JoinMethod};
use crate::errorlog::{Cause, Role};
use crate::escape::lossless;
use crate::pipeline::Analysis;

/// Version of the JSON contract; bumped on any incompatible change.
pub const SCHEMA: &str = "ngx502/1";

/// The upstream row for failures whose upstream no log names (a backend-sent 5xx in a format
/// without `$upstream_addr`).
pub const UNKNOWN_UPSTREAM: &str = "(unknown)";

/// Most upstream rows a report lists. A log can name hundreds of thousands of distinct
/// `$upstream_addr` values (short-lived pods, a resolver gone wild, a forged log); past this,
/// the rows with the fewest failures are summed into one [`OTHER_UPSTREAMS`] row, so every
/// output stays readable and bounded in size.
pub const MAX_UPSTREAM_ROWS: usize = 100;

/// The row that sums the upstreams past [`MAX_UPSTREAM_ROWS`].
pub const OTHER_UPSTREAMS: &str = "(other upstreams)";

/// How many paths, examples and evidence lines lists keep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub top: usize,
}

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
    pub join: Option<&'static str>,
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

/// Formats a UTC timestamp in the given offset, RFC 3339.
pub fn rfc3339(utc: i64, offset: i32) -> String {
    use chrono::{FixedOffset, TimeZone};
    let zone = FixedOffset::east_opt(offset)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC is a valid offset"));
    zone.timestamp_opt(utc, 0).single().map_or_else(|| utc.to_string(), |t| t.to_rfc3339())
}

/// `n / d`, or 0 when there is nothing to divide by.
pub fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

fn status_key(status: u16) -> String {
    format!("{status:03}")
}

/// The path of a request line (`GET /a/b?x=1 HTTP/1.1` → `/a/b`).
pub fn request_path(request: &[u8]) -> &[u8] {
    let target = request.split(|&b| b == b' ').nth(1).unwrap_or(request);
    target.split(|&b| b == b'?').next().unwrap_or(target)
}

/// Picks a timeline bucket so a span gives at most about 120 buckets.
pub fn bucket_for_span(span: i64) -> i64 {
    const STEPS: [i64; 8] = [60, 300, 900, 1800, 3600, 6 * 3600, 12 * 3600, 86400];
    STEPS.into_iter().find(|s| span / s <= 120).unwrap_or(86400)
}

impl Report {
    /// Shapes an analysis into the report.
    pub fn build(analysis: &Analysis, limits: Limits, bucket: Option<i64>) -> Report {
        let access = &analysis.access;
        let offset = analysis.error_utc_offset;
        let events: Vec<&Event> = analysis.correlation.events.iter().collect();
        let client: Vec<&Event> = events.iter().copied().filter(|e| e.client_facing()).collect();
        let access_logs = analysis.access_logs_known
            || analysis.inputs.iter().any(|i| i.kind == Some(crate::input::Kind::Access));

        let causes = if access_logs {
            cause_rows(&client, analysis, limits)
        } else {
            error_only_cause_rows(analysis, limits)
        };
        let mut upstreams = upstream_rows(analysis, &events, offset);
        let bucket_seconds =
            bucket.unwrap_or_else(|| bucket_for_span(access.last.unwrap_or(0) - access.first.unwrap_or(0)));
        let timeline = timeline(analysis, &client, bucket_seconds, offset);
        fill_failures_over_time(&mut upstreams, &client, &timeline);
        let folded = cap_upstreams(&mut upstreams, MAX_UPSTREAM_ROWS);
        let incidents = crate::incidents::detect(&timeline, &client, bucket_seconds, offset);

        let mut advice = Vec::new();
        for format in &analysis.access_formats {
            if let crate::access::AccessFormat::Template(f) = format {
                let missing = f.missing_for_exact_join();
                if !missing.is_empty() {
                    for m in missing {
                        advice.push(format!("{}: {}", f.name, m));
                    }
                    advice.push(format!(
                        "Add to nginx.conf and use it in access_log: {}",
                        crate::access::format::upstream_directive()
                    ));
                }
            }
        }
        advice.dedup();
        if folded > 0 {
            advice.push(format!(
                "{} upstreams: the {MAX_UPSTREAM_ROWS} with the most failures are listed, the other {folded} are summed in the row {OTHER_UPSTREAMS}.",
                MAX_UPSTREAM_ROWS + folded
            ));
        }
        if !access_logs && !analysis.errors.is_empty() {
            advice.push("No access log was read: counts are error-log lines (failed attempts), not client responses; pass the access log too for client-facing counts.".into());
        }

        let lines_read = analysis.inputs.iter().map(|i| i.lines).sum();
        Report {
            schema: SCHEMA,
            totals: Totals {
                requests: access.statuses.total(),
                by_status: access.statuses.iter().map(|(s, n)| (status_key(s), n)).collect(),
                failures: client.len() as u64,
                lines_read,
                parsed: analysis.inputs.iter().map(|i| i.parsed).sum(),
                malformed_lines: analysis.inputs.iter().map(|i| i.malformed).sum(),
                filtered: analysis.inputs.iter().map(|i| i.filtered).sum(),
                access_logs,
            },
            causes,
            upstreams,
            top_paths: path_rows(&client, limits.top),
            timeline,
            incidents,
            inputs: input_rows(analysis),
            unmatched_error_lines: analysis.correlation.unmatched.len() as u64,
            advice,
            period: Period {
                first: access.first.map(|t| rfc3339(t, offset)),
                last: access.last.map(|t| rfc3339(t, offset)),
                bucket_seconds,
            },
            filters: Vec::new(),
        }
    }
}

fn evidence_line(analysis: &Analysis, event: &Event) -> Option<String> {
    match event.evidence.iter().rev().find(|&&i| analysis.errors[i].cause.role() == Role::Terminal) {
        Some(&i) => Some(lossless(&analysis.errors[i].raw)),
        None => event.request.request.as_deref().map(|r| {
            format!(
                "{} {} (access log line {}, no error line)",
                event.request.status,
                lossless(r),
                event.request.line
            )
        }),
    }
}

fn cause_rows(client: &[&Event], analysis: &Analysis, limits: Limits) -> Vec<CauseRow> {
    let mut groups: BTreeMap<Cause, Vec<&Event>> = BTreeMap::new();
    for e in client {
        groups.entry(e.cause).or_default().push(e);
    }
    let total = client.len() as u64;
    let mut rows: Vec<CauseRow> = groups
        .into_iter()
        .map(|(cause, events)| {
            let info = cause.info();
            let mut statuses = BTreeMap::new();
            for e in &events {
                *statuses.entry(status_key(e.request.status)).or_insert(0) += 1;
            }
            let mut evidence: Vec<String> = Vec::new();
            for e in &events {
                if evidence.len() >= limits.top.min(3) {
                    break;
                }
                if let Some(line) = evidence_line(analysis, e) {
                    evidence.push(line);
                }
            }
            let paths =
                path_rows(&events, limits.top.min(5)).into_iter().map(|p| (p.path, p.count)).collect();
            CauseRow {
                cause: info.slug,
                count: events.len() as u64,
                share: ratio(events.len() as u64, total),
                statuses,
                summary: info.summary,
                fix: info.fix,
                findings: super::findings::findings(cause, &events),
                evidence,
                top_paths: paths,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(b.cause)));
    rows
}

/// Without access logs: one row per cause of the error lines themselves.
fn error_only_cause_rows(analysis: &Analysis, limits: Limits) -> Vec<CauseRow> {
    // With no access line to claim them, every terminal line in the time window is unmatched.
    let mut groups: BTreeMap<Cause, Vec<usize>> = BTreeMap::new();
    for &i in &analysis.correlation.unmatched {
        groups.entry(analysis.errors[i].cause).or_default().push(i);
    }
    let total: u64 = groups.values().map(|v| v.len() as u64).sum();
    let mut rows: Vec<CauseRow> = groups
        .into_iter()
        .map(|(cause, lines)| {
            let info = cause.info();
            let mut statuses = BTreeMap::new();
            if let Some(s) = info.status {
                statuses.insert(status_key(s), lines.len() as u64);
            }
            CauseRow {
                cause: info.slug,
                count: lines.len() as u64,
                share: ratio(lines.len() as u64, total),
                statuses,
                summary: info.summary,
                fix: info.fix,
                evidence: lines
                    .iter()
                    .take(limits.top.min(3))
                    .map(|&i| lossless(&analysis.errors[i].raw))
                    .collect(),
                top_paths: Vec::new(),
                findings: Vec::new(),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(b.cause)));
    rows
}

#[derive(Default)]
struct UpstreamTally {
    errors_by_cause: BTreeMap<&'static str, u64>,
    client_502: u64,
    client_504: u64,
    client_5xx: u64,
    failed: u64,
    hidden: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl UpstreamTally {
    fn saw_failure(&mut self, time: Option<i64>) {
        if let Some(t) = time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

fn upstream_rows(analysis: &Analysis, events: &[&Event], offset: i32) -> Vec<UpstreamRow> {
    let mut tallies: FxHashMap<Vec<u8>, UpstreamTally> = FxHashMap::default();
    for e in events {
        let client_facing = e.client_facing();
        for attempt in &e.attempts {
            let failed = attempt.cause.is_some() || attempt.status.is_some_and(|s| s >= 500);
            let Some(upstream) = attempt.upstream.as_deref().filter(|_| failed) else { continue };
            let tally = tallies.entry(upstream.to_vec()).or_default();
            tally.failed += 1;
            tally.saw_failure(e.request.time);
            if !client_facing {
                tally.hidden += 1;
            }
        }
        if client_facing {
            let key =
                e.upstream.as_deref().map_or_else(|| UNKNOWN_UPSTREAM.as_bytes().to_vec(), <[u8]>::to_vec);
            let tally = tallies.entry(key).or_default();
            tally.saw_failure(e.request.time);
            *tally.errors_by_cause.entry(e.cause.slug()).or_insert(0) += 1;
            match e.request.status {
                502 => tally.client_502 += 1,
                504 => tally.client_504 += 1,
                _ => {}
            }
            tally.client_5xx += 1;
        }
    }
    for &i in &analysis.correlation.unmatched {
        let r = &analysis.errors[i];
        let key = r.peer().map_or_else(|| UNKNOWN_UPSTREAM.as_bytes().to_vec(), <[u8]>::to_vec);
        let tally = tallies.entry(key).or_default();
        tally.failed += 1;
        tally.hidden += 1;
        tally.saw_failure(Some(r.local_time - i64::from(offset)));
    }
    let mut names: Vec<Vec<u8>> = tallies.keys().cloned().collect();
    for addr in analysis.access.upstreams.keys() {
        if !tallies.contains_key(&addr[..]) {
            names.push(addr.to_vec());
        }
    }
    let mut rows: Vec<UpstreamRow> = names
        .into_iter()
        .map(|name| {
            let tally = tallies.remove(&name).unwrap_or_default();
            let counts = analysis.access.upstreams.get(&name[..]);
            let requests = counts.map(|c| c.attempts);
            let latency = counts.and_then(|c| Latency::from_sketch(&c.latency));
            UpstreamRow {
                upstream: lossless(&name),
                block: crate::nginx_conf::block_of(&analysis.upstream_blocks, &name).map(str::to_owned),
                requests,
                errors_by_cause: tally.errors_by_cause,
                client_502: tally.client_502,
                client_504: tally.client_504,
                failed_attempts: tally.failed,
                hidden_failures: tally.hidden,
                rate_502: requests.map(|r| ratio(tally.client_502, r)),
                rate_5xx: requests.map(|r| ratio(tally.client_5xx, r)),
                first_failure: tally.first.map(|t| rfc3339(t, offset)),
                last_failure: tally.last.map(|t| rfc3339(t, offset)),
                latency,
                latency_sketch: counts.map(|c| c.latency.clone()).filter(|s| s.count() > 0),
                failures_over_time: Vec::new(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let fa = a.errors_by_cause.values().sum::<u64>();
        let fb = b.errors_by_cause.values().sum::<u64>();
        fb.cmp(&fa).then(b.failed_attempts.cmp(&a.failed_attempts)).then(a.upstream.cmp(&b.upstream))
    });
    rows
}

/// Keeps the first `max` rows (sorted most failures first) and sums the others into one
/// [`OTHER_UPSTREAMS`] row; returns how many were summed. Its rates are over the summed rows that
/// have attempt counts, and its latency merges their sketches, so it reads like any other row.
fn cap_upstreams(rows: &mut Vec<UpstreamRow>, max: usize) -> usize {
    if rows.len() <= max {
        return 0;
    }
    let folded = rows.split_off(max);
    let count = folded.len();
    let buckets = folded.first().map_or(0, |r| r.failures_over_time.len());
    let mut other = UpstreamRow {
        upstream: OTHER_UPSTREAMS.to_owned(),
        block: None,
        requests: None,
        errors_by_cause: BTreeMap::new(),
        client_502: 0,
        client_504: 0,
        failed_attempts: 0,
        hidden_failures: 0,
        rate_502: None,
        rate_5xx: None,
        first_failure: None,
        last_failure: None,
        latency: None,
        latency_sketch: None,
        failures_over_time: vec![0; buckets],
    };
    let (mut counted_502, mut counted_5xx) = (0, 0);
    let mut sketch = crate::sketch::Sketch::default();
    for row in folded {
        if let Some(r) = row.requests {
            other.requests = Some(other.requests.unwrap_or(0) + r);
            counted_502 += row.client_502;
            counted_5xx += row.errors_by_cause.values().sum::<u64>();
        }
        for (cause, n) in row.errors_by_cause {
            *other.errors_by_cause.entry(cause).or_insert(0) += n;
        }
        other.client_502 += row.client_502;
        other.client_504 += row.client_504;
        other.failed_attempts += row.failed_attempts;
        other.hidden_failures += row.hidden_failures;
        // Every row's times are written in the same offset, so text order is time order.
        other.first_failure = other.first_failure.into_iter().chain(row.first_failure).min();
        other.last_failure = other.last_failure.into_iter().chain(row.last_failure).max();
        if let Some(s) = &row.latency_sketch {
            sketch.merge(s);
        }
        for (sum, n) in other.failures_over_time.iter_mut().zip(&row.failures_over_time) {
            *sum += n;
        }
    }
    other.rate_502 = other.requests.map(|r| ratio(counted_502, r));
    other.rate_5xx = other.requests.map(|r| ratio(counted_5xx, r));
    other.latency = Latency::from_sketch(&sketch);
    other.latency_sketch = (sketch.count() > 0).then_some(sketch);
    rows.push(other);
    count
}

/// Buckets each upstream's client-facing failures like the timeline; every timed event has a
/// bucket there, so the last bucket starting at or before it is its own.
fn fill_failures_over_time(rows: &mut [UpstreamRow], client: &[&Event], timeline: &[Bucket]) {
    let index: FxHashMap<String, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.upstream.clone(), i)).collect();
    for row in rows.iter_mut() {
        row.failures_over_time = vec![0; timeline.len()];
    }
    for e in client {
        let Some(t) = e.request.time else { continue };
        let Some(bucket) = timeline.partition_point(|b| b.start_utc <= t).checked_sub(1) else { continue };
        let name = e.upstream.as_deref().map_or_else(|| UNKNOWN_UPSTREAM.to_owned(), lossless);
        if let Some(&row) = index.get(&name) {
            rows[row].failures_over_time[bucket] += 1;
        }
    }
}

fn path_rows(events: &[&Event], top: usize) -> Vec<PathRow> {
    let mut paths: FxHashMap<&[u8], (u64, BTreeMap<&'static str, u64>)> = FxHashMap::default();
    for e in events {
        let path = e.request.request.as_deref().map_or(&b"-"[..], request_path);
        let entry = paths.entry(path).or_default();
        entry.0 += 1;
        *entry.1.entry(e.cause.slug()).or_insert(0) += 1;
    }
    let mut rows: Vec<PathRow> = paths
        .into_iter()
        .map(|(p, (count, by_cause))| PathRow { path: lossless(p), count, by_cause })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.path.cmp(&b.path)));
    rows.truncate(top);
    rows
}

fn timeline(analysis: &Analysis, client: &[&Event], bucket: i64, offset: i32) -> Vec<Bucket> {
    type Counts = (u64, BTreeMap<String, u64>, BTreeMap<&'static str, u64>);
    let mut buckets: BTreeMap<i64, Counts> = BTreeMap::new();
    let start_of = |t: i64| (t + i64::from(offset)).div_euclid(bucket) * bucket - i64::from(offset);
    for (&minute, counts) in &analysis.access.minutes {
        let b = buckets.entry(start_of(minute)).or_default();
        b.0 += counts.requests;
        for &(status, n) in &counts.errors {
            *b.1.entry(status_key(status)).or_insert(0) += n;
        }
    }
    for e in client {
        if let Some(t) = e.request.time {
            *buckets.entry(start_of(t)).or_default().2.entry(e.cause.slug()).or_insert(0) += 1;
        }
    }
    buckets
        .into_iter()
        .map(|(start, (requests, by_status, by_cause))| Bucket {
            start: rfc3339(start, offset),
            start_utc: start,
            requests,
            by_status,
            by_cause,
        })
        .collect()
}

/// One row per input: what was read, how it was joined, and what went wrong.
pub fn input_rows(analysis: &Analysis) -> Vec<InputRow> {
    let join_of = |index: usize| {
        let methods: Vec<JoinMethod> = analysis
            .correlation
            .events
            .iter()
            .filter(|e| e.request.input == index && e.join != JoinMethod::None)
            .map(|e| e.join)
            .collect();
        if methods.contains(&JoinMethod::Connection) {
            Some("connection")
        } else if methods.contains(&JoinMethod::Request) {
            Some("request")
        } else {
            None
        }
    };
    analysis
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| InputRow {
            path: input.origin.to_string(),
            kind: input.kind,
            format: input.format.clone(),
            lines: input.lines,
            parsed: input.parsed,
            malformed: input.malformed,
            filtered: input.filtered,
            other: input.other,
            malformed_examples: input
                .malformed_examples
                .iter()
                .map(|m| MalformedRow { line: m.line, reason: m.reason, text: lossless(&m.text) })
                .collect(),
            problem: input.problem.clone(),
            skipped: input.skipped,
            join: join_of(i),
        })
        .collect()
}
