//! `ngx502 merge`: per-host JSON reports combined into one fleet report.
//!
//! A JSON report is mostly counters, and counters add: totals, statuses, causes, upstreams,
//! timeline buckets. Shares and rates are recomputed from the merged counts, never averaged.
//! What does not simply add, and what happens to it:
//! - latency quantiles: merged from each upstream's `latency_sketch`, so they are what one pass
//!   over all hosts' logs gives; if a host's row has quantiles but no sketch, that upstream's
//!   merged latency is left out rather than guessed;
//! - timelines with different bucket sizes: re-bucketed to the coarsest (the sizes ngx502
//!   picks divide each other; sizes that do not are refused);
//! - incidents: detected again on the merged timeline, fleet-wide, each credited to the upstream
//!   that dominated the hosts' own incidents in that window;
//! - top-N lists (failing paths, evidence): merged from each host's top N, so a path just under
//!   every host's cut can be missing from the fleet's list;
//! - malformed-line examples: left in the host reports (their counts are merged).
//!
//! Inputs are read into slim mirrors of the JSON contract holding only what is merged; the
//! result is a [`Report`], so every output format renders it and it can be merged again.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use crate::correlate::JoinMethod;
use crate::errorlog::Cause;
use crate::input::Kind;
use crate::report::model::{cap_upstreams, folded_advice, MAX_UPSTREAM_ROWS};
use crate::report::schema::{
    ratio, Bucket, CauseRow, Incident, InputRow, Latency, PathRow, Period, Report, Totals, UpstreamRow,
    SCHEMA,
};
use crate::sketch::Sketch;
use crate::time::rfc3339;

/// Why a report cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("not JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("not an ngx502 JSON report (no \"schema\"); write one with `ngx502 report --output json`")]
    NotAReport,
    #[error("schema {found:?} is not {SCHEMA:?}: merge reports written by the same version of ngx502")]
    Schema { found: String },
    #[error("not an ngx502 report: {0}")]
    Shape(#[source] serde_json::Error),
    #[error("unknown {what} {value:?} (was the report written by a newer ngx502?)")]
    Unknown { what: &'static str, value: String },
    #[error("{0:?} is not an RFC 3339 time")]
    Time(String),
    #[error(
        "timeline buckets of {0}s and {1}s cannot be combined: write the reports with the same --bucket"
    )]
    Buckets(i64, i64),
}

/// One host's report, as read from its JSON.
#[derive(Debug, Deserialize)]
pub struct HostReport {
    totals: Totals,
    causes: Vec<CauseIn>,
    upstreams: Vec<UpstreamIn>,
    top_paths: Vec<PathIn>,
    timeline: Vec<BucketIn>,
    incidents: Vec<IncidentIn>,
    inputs: Vec<InputIn>,
    unmatched_error_lines: u64,
    advice: Vec<String>,
    period: Period,
    #[serde(default)]
    filters: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct CauseIn {
    cause: String,
    count: u64,
    statuses: BTreeMap<String, u64>,
    evidence: Vec<String>,
    top_paths: Vec<(String, u64)>,
    #[serde(default)]
    findings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UpstreamIn {
    upstream: String,
    #[serde(default)]
    block: Option<String>,
    requests: Option<u64>,
    errors_by_cause: BTreeMap<String, u64>,
    client_502: u64,
    client_504: u64,
    failed_attempts: u64,
    hidden_failures: u64,
    first_failure: Option<String>,
    last_failure: Option<String>,
    latency: Option<IgnoredAny>,
    #[serde(default)]
    latency_sketch: Option<Sketch>,
    #[serde(default)]
    failures_over_time: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct PathIn {
    path: String,
    count: u64,
    by_cause: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct BucketIn {
    start: String,
    requests: u64,
    by_status: BTreeMap<String, u64>,
    by_cause: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct IncidentIn {
    start: String,
    end: String,
    failures: u64,
    upstream: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InputIn {
    path: String,
    kind: Option<String>,
    format: Option<String>,
    lines: u64,
    parsed: u64,
    malformed: u64,
    filtered: u64,
    #[serde(default)]
    other: u64,
    problem: Option<String>,
    skipped: bool,
    join: Option<JoinMethod>,
}

/// Reads one `report --output json` document, refusing other schemas before anything else.
pub fn parse(text: &str) -> Result<HostReport, MergeError> {
    let value: Value = serde_json::from_str(text).map_err(MergeError::Syntax)?;
    match value.get("schema").and_then(Value::as_str) {
        None => Err(MergeError::NotAReport),
        Some(SCHEMA) => HostReport::deserialize(value).map_err(MergeError::Shape),
        Some(found) => Err(MergeError::Schema { found: found.to_string() }),
    }
}

/// Combines host reports into one; counts add and every rate is recomputed.
pub fn merge(hosts: &[HostReport]) -> Result<Report, MergeError> {
    let bucket_seconds = bucket_size(hosts)?;
    let starts = hosts
        .iter()
        .map(|h| h.timeline.iter().map(|b| rebucket(&b.start, bucket_seconds)).collect())
        .collect::<Result<Vec<Vec<(i64, i32)>>, _>>()?;
    let timeline = merge_timeline(hosts, &starts)?;
    let mut upstreams = merge_upstreams(hosts, &starts, &timeline)?;
    // The fleet's rows are capped as one report's are.
    let folded = cap_upstreams(&mut upstreams, MAX_UPSTREAM_ROWS);
    let offset = starts.iter().flatten().next().map_or(0, |&(_, offset)| offset);
    let mut incidents = crate::incidents::detect(&timeline, &[], bucket_seconds, offset);
    for incident in &mut incidents {
        incident.upstream = dominant_upstream(incident, hosts)?;
    }
    let mut advice: Vec<String> = Vec::new();
    for line in hosts.iter().flat_map(|h| &h.advice).cloned().chain(folded_advice(folded)) {
        if !advice.contains(&line) {
            advice.push(line);
        }
    }
    Ok(Report {
        schema: SCHEMA,
        totals: merge_totals(hosts),
        causes: merge_causes(hosts)?,
        upstreams,
        top_paths: merge_paths(hosts)?,
        timeline,
        incidents,
        inputs: hosts.iter().flat_map(|h| &h.inputs).map(input_row).collect::<Result<_, _>>()?,
        unmatched_error_lines: hosts.iter().map(|h| h.unmatched_error_lines).fold(0, u64::saturating_add),
        advice,
        period: merge_period(hosts, bucket_seconds)?,
        filters: merged_filters(hosts),
    })
}

/// Each host's filters, once: hosts filtered alike give the fleet those filters.
fn merged_filters(hosts: &[HostReport]) -> Vec<String> {
    let mut filters: Vec<String> = Vec::new();
    for f in hosts.iter().flat_map(|h| &h.filters) {
        if !filters.contains(f) {
            filters.push(f.clone());
        }
    }
    filters
}

/// The coarsest bucket, which every other size must divide.
fn bucket_size(hosts: &[HostReport]) -> Result<i64, MergeError> {
    let sizes = || hosts.iter().map(|h| h.period.bucket_seconds.max(1));
    let coarsest = sizes().max().unwrap_or(60);
    match sizes().find(|size| coarsest % size != 0) {
        Some(size) => Err(MergeError::Buckets(size, coarsest)),
        None => Ok(coarsest),
    }
}

/// `(utc seconds, offset seconds)` of an RFC 3339 time.
fn instant(text: &str) -> Result<(i64, i32), MergeError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| (t.timestamp(), t.offset().local_minus_utc()))
        .map_err(|_| MergeError::Time(text.to_string()))
}

/// The start (UTC) of the `size`-second bucket holding `start`, aligned in its own zone as the
/// report aligns its buckets; with the zone's offset.
fn rebucket(start: &str, size: i64) -> Result<(i64, i32), MergeError> {
    let (utc, offset) = instant(start)?;
    let local = utc + i64::from(offset);
    Ok((local.div_euclid(size) * size - i64::from(offset), offset))
}

fn cause(slug: &str) -> Result<Cause, MergeError> {
    Cause::from_slug(slug).ok_or_else(|| MergeError::Unknown { what: "cause", value: slug.to_string() })
}

/// Keeps in `kept` whichever of it and `text` comes first (`want` = `Less`) or last (`Greater`).
fn keep_extreme(
    kept: &mut Option<(i64, String)>,
    text: Option<&String>,
    want: Ordering,
) -> Result<(), MergeError> {
    if let Some(text) = text {
        let t = instant(text)?.0;
        if kept.as_ref().is_none_or(|(k, _)| t.cmp(k) == want) {
            *kept = Some((t, text.clone()));
        }
    }
    Ok(())
}

fn add<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        let slot = into.entry(k.clone()).or_insert(0);
        *slot = slot.saturating_add(*n);
    }
}

fn add_causes(
    into: &mut BTreeMap<&'static str, u64>,
    from: &BTreeMap<String, u64>,
) -> Result<(), MergeError> {
    for (cause, n) in from {
        let slot = into.entry(self::cause(cause)?.slug()).or_insert(0);
        *slot = slot.saturating_add(*n);
    }
    Ok(())
}

fn merge_totals(hosts: &[HostReport]) -> Totals {
    let mut t = Totals {
        requests: 0,
        by_status: BTreeMap::new(),
        failures: 0,
        lines_read: 0,
        parsed: 0,
        malformed_lines: 0,
        filtered: 0,
        access_logs: false,
    };
    for h in hosts {
        let other = &h.totals;
        t.requests = t.requests.saturating_add(other.requests);
        add(&mut t.by_status, &other.by_status);
        t.failures = t.failures.saturating_add(other.failures);
        t.lines_read = t.lines_read.saturating_add(other.lines_read);
        t.parsed = t.parsed.saturating_add(other.parsed);
        t.malformed_lines = t.malformed_lines.saturating_add(other.malformed_lines);
        t.filtered = t.filtered.saturating_add(other.filtered);
        t.access_logs |= other.access_logs;
    }
    t
}

fn merge_causes(hosts: &[HostReport]) -> Result<Vec<CauseRow>, MergeError> {
    let rows = || hosts.iter().flat_map(|h| &h.causes);
    let evidence_kept = rows().map(|c| c.evidence.len()).max().unwrap_or(0);
    let paths_kept = rows().map(|c| c.top_paths.len()).max().unwrap_or(0);
    type Acc = (u64, BTreeMap<String, u64>, Vec<String>, BTreeMap<String, u64>);
    let mut causes: BTreeMap<Cause, Acc> = BTreeMap::new();
    // Each host's findings name its own upstreams and times: they are kept side by side.
    let mut findings: BTreeMap<Cause, Vec<String>> = BTreeMap::new();
    for row in rows() {
        findings.entry(cause(&row.cause)?).or_default().extend(row.findings.iter().cloned());
        let (count, statuses, evidence, paths) = causes.entry(cause(&row.cause)?).or_default();
        *count = count.saturating_add(row.count);
        add(statuses, &row.statuses);
        let room = evidence_kept.saturating_sub(evidence.len());
        evidence.extend(row.evidence.iter().take(room).cloned());
        add(paths, &row.top_paths.iter().cloned().collect());
    }
    let total = causes.values().map(|acc| acc.0).fold(0, u64::saturating_add);
    let mut out: Vec<CauseRow> = Vec::with_capacity(causes.len());
    for (cause, (count, statuses, evidence, paths)) in causes {
        let info = cause.info();
        let mut top_paths: Vec<(String, u64)> = paths.into_iter().collect();
        top_paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_paths.truncate(paths_kept);
        out.push(CauseRow {
            cause: info.slug,
            count,
            share: ratio(count, total),
            statuses,
            summary: info.summary,
            fix: info.fix,
            evidence,
            top_paths,
            findings: findings.remove(&cause).unwrap_or_default(),
            // Each host has its own nginx.conf: its lines mean nothing in a fleet report.
            citations: Vec::new(),
        });
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(b.cause)));
    Ok(out)
}

#[derive(Default)]
struct UpstreamAcc {
    /// The nginx.conf block the first host that knew it named.
    block: Option<String>,
    requests: Option<u64>,
    errors_by_cause: BTreeMap<&'static str, u64>,
    client_502: u64,
    client_504: u64,
    failed: u64,
    hidden: u64,
    first: Option<(i64, String)>,
    last: Option<(i64, String)>,
    sketch: Sketch,
    /// A host gave quantiles without the sketch behind them.
    latency_lost: bool,
    /// Failures per merged bucket start.
    over_time: BTreeMap<i64, u64>,
}

impl UpstreamAcc {
    fn add(&mut self, row: &UpstreamIn, starts: &[(i64, i32)]) -> Result<(), MergeError> {
        if self.block.is_none() {
            self.block.clone_from(&row.block);
        }
        if let Some(r) = row.requests {
            self.requests = Some(self.requests.unwrap_or(0).saturating_add(r));
        }
        add_causes(&mut self.errors_by_cause, &row.errors_by_cause)?;
        self.client_502 = self.client_502.saturating_add(row.client_502);
        self.client_504 = self.client_504.saturating_add(row.client_504);
        self.failed = self.failed.saturating_add(row.failed_attempts);
        self.hidden = self.hidden.saturating_add(row.hidden_failures);
        keep_extreme(&mut self.first, row.first_failure.as_ref(), Ordering::Less)?;
        keep_extreme(&mut self.last, row.last_failure.as_ref(), Ordering::Greater)?;
        match (&row.latency, &row.latency_sketch) {
            (_, Some(sketch)) => self.sketch.merge(sketch),
            (Some(_), None) => self.latency_lost = true,
            (None, None) => {}
        }
        for (&(start, _), &n) in starts.iter().zip(&row.failures_over_time) {
            let slot = self.over_time.entry(start).or_insert(0);
            *slot = slot.saturating_add(n);
        }
        Ok(())
    }

    fn finish(self, upstream: String, timeline: &[Bucket]) -> UpstreamRow {
        let failures = self.errors_by_cause.values().fold(0u64, |a, &b| a.saturating_add(b));
        let sketch = Some(self.sketch).filter(|s| !self.latency_lost && s.count() > 0);
        UpstreamRow {
            block: self.block,
            upstream,
            requests: self.requests,
            client_502: self.client_502,
            client_504: self.client_504,
            failed_attempts: self.failed,
            hidden_failures: self.hidden,
            rate_502: self.requests.map(|r| ratio(self.client_502, r)),
            rate_5xx: self.requests.map(|r| ratio(failures, r)),
            first_failure: self.first.map(|(_, text)| text),
            last_failure: self.last.map(|(_, text)| text),
            latency: sketch.as_ref().and_then(Latency::from_sketch),
            latency_sketch: sketch,
            failures_over_time: timeline
                .iter()
                .map(|b| self.over_time.get(&b.start_utc).copied().unwrap_or(0))
                .collect(),
            errors_by_cause: self.errors_by_cause,
        }
    }
}

fn merge_upstreams(
    hosts: &[HostReport],
    starts: &[Vec<(i64, i32)>],
    timeline: &[Bucket],
) -> Result<Vec<UpstreamRow>, MergeError> {
    let mut accs: BTreeMap<&str, UpstreamAcc> = BTreeMap::new();
    for (host, starts) in hosts.iter().zip(starts) {
        for row in &host.upstreams {
            accs.entry(&row.upstream).or_default().add(row, starts)?;
        }
    }
    let mut rows: Vec<UpstreamRow> =
        accs.into_iter().map(|(name, acc)| acc.finish(name.to_string(), timeline)).collect();
    // The report's order: most client-facing failures, then most failed attempts, then name.
    rows.sort_by_cached_key(|r| {
        let failures = r.errors_by_cause.values().fold(0u64, |a, &b| a.saturating_add(b));
        (std::cmp::Reverse(failures), std::cmp::Reverse(r.failed_attempts), r.upstream.clone())
    });
    Ok(rows)
}

fn merge_paths(hosts: &[HostReport]) -> Result<Vec<PathRow>, MergeError> {
    let kept = hosts.iter().map(|h| h.top_paths.len()).max().unwrap_or(0);
    let mut paths: BTreeMap<&str, (u64, BTreeMap<&'static str, u64>)> = BTreeMap::new();
    for row in hosts.iter().flat_map(|h| &h.top_paths) {
        let (count, by_cause) = paths.entry(&row.path).or_default();
        *count = count.saturating_add(row.count);
        add_causes(by_cause, &row.by_cause)?;
    }
    let mut rows: Vec<PathRow> = paths
        .into_iter()
        .map(|(path, (count, by_cause))| PathRow { path: path.to_string(), count, by_cause })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    rows.truncate(kept);
    Ok(rows)
}

fn merge_timeline(hosts: &[HostReport], starts: &[Vec<(i64, i32)>]) -> Result<Vec<Bucket>, MergeError> {
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for (host, starts) in hosts.iter().zip(starts) {
        for (b, &(start, offset)) in host.timeline.iter().zip(starts) {
            let merged = buckets.entry(start).or_insert_with(|| Bucket {
                start: rfc3339(start, offset),
                start_utc: start,
                requests: 0,
                by_status: BTreeMap::new(),
                by_cause: BTreeMap::new(),
            });
            merged.requests = merged.requests.saturating_add(b.requests);
            add(&mut merged.by_status, &b.by_status);
            add_causes(&mut merged.by_cause, &b.by_cause)?;
        }
    }
    Ok(buckets.into_values().collect())
}

/// The upstream with the most failures in the hosts' incidents that overlap `incident`.
fn dominant_upstream(incident: &Incident, hosts: &[HostReport]) -> Result<Option<String>, MergeError> {
    let (start, end) = (instant(&incident.start)?.0, instant(&incident.end)?.0);
    let mut weight: BTreeMap<&str, u64> = BTreeMap::new();
    for i in hosts.iter().flat_map(|h| &h.incidents) {
        let Some(upstream) = &i.upstream else { continue };
        if instant(&i.start)?.0 < end && instant(&i.end)?.0 > start {
            let slot = weight.entry(upstream).or_insert(0);
            *slot = slot.saturating_add(i.failures);
        }
    }
    // Ties go to the first name in order.
    Ok(weight.iter().rev().max_by_key(|(_, n)| **n).map(|(u, _)| u.to_string()))
}

fn input_row(input: &InputIn) -> Result<InputRow, MergeError> {
    let unknown = |what, value: &str| MergeError::Unknown { what, value: value.to_string() };
    let kind = match input.kind.as_deref() {
        None => None,
        Some("access") => Some(Kind::Access),
        Some("error") => Some(Kind::Error),
        Some("stream") => Some(Kind::Stream),
        Some(other) => return Err(unknown("input kind", other)),
    };
    Ok(InputRow {
        path: input.path.clone(),
        kind,
        format: input.format.clone(),
        lines: input.lines,
        parsed: input.parsed,
        malformed: input.malformed,
        filtered: input.filtered,
        other: input.other,
        malformed_examples: Vec::new(),
        problem: input.problem.clone(),
        skipped: input.skipped,
        join: input.join,
    })
}

fn merge_period(hosts: &[HostReport], bucket_seconds: i64) -> Result<Period, MergeError> {
    let (mut first, mut last) = (None, None);
    for h in hosts {
        keep_extreme(&mut first, h.period.first.as_ref(), Ordering::Less)?;
        keep_extreme(&mut last, h.period.last.as_ref(), Ordering::Greater)?;
    }
    Ok(Period { first: first.map(|(_, text)| text), last: last.map(|(_, text)| text), bucket_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host report with one timeline bucket and one upstream.
    fn host(bucket_seconds: i64, start: &str, failures: u64, sketch: Option<&Sketch>) -> HostReport {
        let mut upstream = serde_json::json!({
            "upstream": "10.0.1.11:8080", "requests": 100, "errors_by_cause": {"connect_refused": failures},
            "client_502": failures, "client_504": 0, "failed_attempts": failures, "hidden_failures": 0,
            "first_failure": start, "last_failure": start, "latency": null, "failures_over_time": [failures],
        });
        if let Some(s) = sketch {
            upstream["latency"] = serde_json::json!({"samples": s.count()});
            upstream["latency_sketch"] = serde_json::to_value(s).unwrap();
        }
        let report = serde_json::json!({
            "schema": SCHEMA,
            "totals": {"requests": 100, "by_status": {"502": failures}, "failures": failures, "lines_read": 100,
                "parsed": 100, "malformed_lines": 0, "filtered": 0, "access_logs": true},
            "causes": [], "upstreams": [upstream], "top_paths": [],
            "timeline": [{"start": start, "requests": 100, "by_status": {"502": failures},
                "by_cause": {"connect_refused": failures}}],
            "incidents": [], "inputs": [], "unmatched_error_lines": 0, "advice": [],
            "period": {"first": start, "last": start, "bucket_seconds": bucket_seconds},
        });
        parse(&report.to_string()).unwrap()
    }

    #[test]
    fn finer_buckets_fold_into_the_coarsest() {
        let merged = merge(&[
            host(300, "2024-10-10T13:05:00+02:00", 2, None),
            host(3600, "2024-10-10T13:00:00+02:00", 3, None),
        ])
        .unwrap();
        assert_eq!(merged.period.bucket_seconds, 3600);
        assert_eq!(merged.timeline.len(), 1);
        assert_eq!(merged.timeline[0].start, "2024-10-10T13:00:00+02:00");
        assert_eq!(merged.timeline[0].by_cause, BTreeMap::from([("connect_refused", 5)]));
        assert_eq!(merged.upstreams[0].failures_over_time, vec![5]);
        assert_eq!(merged.upstreams[0].rate_5xx, Some(0.025));
        assert!(matches!(
            merge(&[
                host(3600, "2024-10-10T13:00:00Z", 1, None),
                host(5400, "2024-10-10T13:00:00Z", 1, None)
            ]),
            Err(MergeError::Buckets(3600, 5400))
        ));
    }

    #[test]
    fn latency_merges_exactly_and_is_dropped_when_a_host_lacks_its_sketch() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for ms in 1..=300 {
            let seconds = f64::from(ms) / 100.0;
            if ms % 3 == 0 {
                a.add(seconds)
            } else {
                b.add(seconds)
            }
            all.add(seconds);
        }
        let at = "2024-10-10T13:00:00Z";
        let merged = merge(&[host(60, at, 1, Some(&a)), host(60, at, 1, Some(&b))]).unwrap();
        assert_eq!(merged.upstreams[0].latency_sketch.as_ref(), Some(&all));
        assert_eq!(merged.upstreams[0].latency.as_ref().map(|l| l.p90), all.quantile(0.9));

        let mut no_sketch = host(60, at, 1, Some(&a));
        no_sketch.upstreams[0].latency_sketch = None;
        let merged = merge(&[no_sketch, host(60, at, 1, Some(&b))]).unwrap();
        assert!(merged.upstreams[0].latency.is_none() && merged.upstreams[0].latency_sketch.is_none());
    }

    #[test]
    fn unknown_causes_and_schemas_are_refused() {
        assert!(
            matches!(parse(r#"{"schema": "ngx502/0"}"#), Err(MergeError::Schema { found }) if found == "ngx502/0")
        );
        assert!(matches!(parse("{}"), Err(MergeError::NotAReport)));
        assert!(matches!(parse(r#"{"schema": "ngx502/1"}"#), Err(MergeError::Shape(_))));
        let mut h = host(60, "2024-10-10T13:00:00Z", 1, None);
        h.timeline[0].by_cause.insert("gremlins".into(), 1);
        assert!(
            matches!(merge(&[h]), Err(MergeError::Unknown { what: "cause", value }) if value == "gremlins")
        );
    }
}
