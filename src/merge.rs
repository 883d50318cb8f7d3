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
//! - findings: recomputed per cause from the hosts' findings (upstream failures add and their
//!   first/last widen, endpoint counts add by name (path templates, so each host's
//!   `/api/{id}` adds up), a timeout's median is the failure-weighted median of
//!   the hosts' medians, a block's servers were all down at the earliest time any host saw);
//! - advice: each kind once; a fleet with access logs needs no "pass the access log";
//! - malformed-line examples: left in the host reports (their counts are merged).
//!
//! Hosts are read as the same [`Report`] `report` writes, and the result is one too, so every
//! output format renders it and it can be merged again.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::aggregate::build::{cap_upstreams, sort_upstreams, MAX_UPSTREAM_ROWS};
use crate::aggregate::findings::{top, TOP};
use crate::fleet::HostCounts;
use crate::report::schema::{
    add_counts, ratio, Advice, Bucket, CauseRow, ErrorLines, Finding, Incident, InputRow, PathRow, Period,
    Report, Totals, UpstreamRow, OTHER_UPSTREAMS, SCHEMA,
};

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
    #[error("{0:?} is not an RFC 3339 time")]
    Time(String),
    #[error(
        "timeline buckets of {0}s and {1}s cannot be combined: write the reports with the same --bucket"
    )]
    Buckets(i64, i64),
}

/// Reads one `report --output json` document, refusing other schemas before anything else.
pub fn parse(text: &str) -> Result<Report, MergeError> {
    let value: Value = serde_json::from_str(text).map_err(MergeError::Syntax)?;
    match value.get("schema").and_then(Value::as_str) {
        None => Err(MergeError::NotAReport),
        Some(SCHEMA) => {
            let mut report = Report::deserialize(value).map_err(MergeError::Shape)?;
            report.restore().map_err(MergeError::Time)?;
            Ok(report)
        }
        Some(found) => Err(MergeError::Schema { found: found.to_string() }),
    }
}

/// Combines host reports into one; counts add and every rate is recomputed.
pub fn merge(hosts: &[Report]) -> Result<Report, MergeError> {
    let bucket_seconds = bucket_size(hosts)?;
    let starts = hosts
        .iter()
        .map(|h| h.timeline.iter().map(|b| rebucket(&b.start, bucket_seconds)).collect())
        .collect::<Result<Vec<Vec<(i64, i32)>>, _>>()?;
    let timeline = merge_timeline(hosts, &starts);
    let mut upstreams = merge_upstreams(hosts, &starts, &timeline);
    // The fleet's rows are capped as one report's are.
    let folded = cap_upstreams(&mut upstreams, MAX_UPSTREAM_ROWS);
    let offset = starts.iter().flatten().next().map_or(0, |&(_, offset)| offset);
    let mut incidents =
        crate::aggregate::incidents::detect(&timeline, |_, _| BTreeMap::new(), bucket_seconds, offset);
    for incident in &mut incidents {
        incident.upstream = dominant_upstream(incident, hosts)?;
    }
    let totals = merge_totals(hosts);
    let advice = merge_advice(hosts, totals.access_logs, &upstreams, folded);
    let counts: Vec<HostCounts<'_>> = hosts
        .iter()
        .map(|h| HostCounts {
            labels: &h.labels,
            requests: h.totals.requests,
            failures: h.totals.failures,
            causes: h.causes.iter().map(|c| (c.cause, c.count)).collect(),
        })
        .collect();
    let (labels, by_label) = crate::fleet::labels(&counts);
    Ok(Report {
        schema: SCHEMA.to_owned(),
        totals,
        causes: merge_causes(hosts)?,
        upstreams,
        top_paths: merge_paths(hosts),
        timeline,
        incidents,
        inputs: hosts
            .iter()
            .flat_map(|h| &h.inputs)
            .map(|i| InputRow { malformed_examples: Vec::new(), ..i.clone() })
            .collect(),
        unmatched_error_lines: hosts.iter().map(|h| h.unmatched_error_lines).fold(0, u64::saturating_add),
        error_lines: hosts
            .iter()
            .map(|h| h.error_lines)
            .fold(ErrorLines::default(), ErrorLines::saturating_add),
        advice,
        period: merge_period(hosts, bucket_seconds)?,
        filters: crate::fleet::filters(hosts.iter().map(|h| &h.filters[..])),
        labels,
        by_label,
    })
}

/// The coarsest bucket, which every other size must divide.
fn bucket_size(hosts: &[Report]) -> Result<i64, MergeError> {
    let sizes = || hosts.iter().map(|h| h.period.bucket_seconds.max(1));
    let coarsest = sizes().max().unwrap_or(60);
    match sizes().find(|size| coarsest % size != 0) {
        Some(size) => Err(MergeError::Buckets(size, coarsest)),
        None => Ok(coarsest),
    }
}

/// `(utc seconds, offset seconds)` of an RFC 3339 time.
fn instant(text: &str) -> Result<(i64, i32), MergeError> {
    crate::time::parse_rfc3339(text).ok_or_else(|| MergeError::Time(text.to_string()))
}

/// The start (UTC) of the `size`-second bucket holding `start`, aligned in its own zone as the
/// report aligns its buckets; with the zone's offset.
fn rebucket(start: &str, size: i64) -> Result<(i64, i32), MergeError> {
    let (utc, offset) = instant(start)?;
    let local = utc + i64::from(offset);
    Ok((local.div_euclid(size) * size - i64::from(offset), offset))
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

fn merge_totals(hosts: &[Report]) -> Totals {
    let mut totals = Totals::default();
    for h in hosts {
        totals.add(&h.totals);
    }
    totals
}

fn merge_causes(hosts: &[Report]) -> Result<Vec<CauseRow>, MergeError> {
    let rows = || hosts.iter().flat_map(|h| &h.causes);
    let evidence_kept = rows().map(|c| c.evidence.len()).max().unwrap_or(0);
    let paths_kept = rows().map(|c| c.top_paths.len()).max().unwrap_or(0);
    let mut causes: BTreeMap<&'static str, CauseRow> = BTreeMap::new();
    for row in rows() {
        causes.entry(row.cause).or_insert_with(|| CauseRow::new(row.cause)).add(row, evidence_kept);
    }
    let total = causes.values().map(|c| c.count).fold(0, u64::saturating_add);
    let mut out: Vec<CauseRow> = causes.into_values().collect();
    for row in &mut out {
        row.share = ratio(row.count, total);
        row.top_paths.truncate(paths_kept);
        row.findings = merge_findings(&row.findings)?;
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(b.cause)));
    Ok(out)
}

fn merge_upstreams(hosts: &[Report], starts: &[Vec<(i64, i32)>], timeline: &[Bucket]) -> Vec<UpstreamRow> {
    let mut rows: BTreeMap<&str, UpstreamRow> = BTreeMap::new();
    for (host, starts) in hosts.iter().zip(starts) {
        for row in &host.upstreams {
            // The host's failures over time, on the fleet's timeline.
            let mut over_time = vec![0u64; timeline.len()];
            for (&(start, _), &n) in starts.iter().zip(&row.failures_over_time) {
                if let Ok(i) = timeline.binary_search_by_key(&start, |b| b.start_utc) {
                    over_time[i] = over_time[i].saturating_add(n);
                }
            }
            let aligned = UpstreamRow { failures_over_time: over_time, ..row.clone() };
            rows.entry(&row.upstream).or_insert_with(|| UpstreamRow::new(row.upstream.clone())).add(&aligned);
        }
    }
    let mut rows: Vec<UpstreamRow> = rows.into_values().collect();
    sort_upstreams(&mut rows);
    rows
}

fn merge_paths(hosts: &[Report]) -> Vec<PathRow> {
    let kept = hosts.iter().map(|h| h.top_paths.len()).max().unwrap_or(0);
    let mut paths: BTreeMap<&str, PathRow> = BTreeMap::new();
    for row in hosts.iter().flat_map(|h| &h.top_paths) {
        paths.entry(&row.path).or_insert_with(|| PathRow::new(row.path.clone(), 0, BTreeMap::new())).add(row);
    }
    let mut rows: Vec<PathRow> = paths.into_values().collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    rows.truncate(kept);
    rows
}

fn merge_timeline(hosts: &[Report], starts: &[Vec<(i64, i32)>]) -> Vec<Bucket> {
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for (host, starts) in hosts.iter().zip(starts) {
        for (b, &(start, offset)) in host.timeline.iter().zip(starts) {
            buckets.entry(start).or_insert_with(|| Bucket::new(start, offset)).add(b);
        }
    }
    buckets.into_values().collect()
}

/// One cause's findings recomputed from the hosts' (see the module notes). Hosts keep their own
/// top upstreams and endpoints, so one just under every host's cut can be missing here.
fn merge_findings(findings: &[Finding]) -> Result<Vec<Finding>, MergeError> {
    type Span = (u64, Option<(i64, String)>, Option<(i64, String)>);
    let mut upstreams: BTreeMap<&str, Span> = BTreeMap::new();
    let mut medians: Vec<(f64, u64)> = Vec::new();
    let mut endpoints: BTreeMap<String, u64> = BTreeMap::new();
    let mut down: Option<(i64, &String, &Option<String>)> = None;
    for finding in findings {
        match finding {
            Finding::Upstream { upstream, failures, first, last } => {
                let (n, from, to) = upstreams.entry(upstream).or_default();
                *n = n.saturating_add(*failures);
                keep_extreme(from, first.as_ref(), Ordering::Less)?;
                keep_extreme(to, last.as_ref().or(first.as_ref()), Ordering::Greater)?;
            }
            Finding::GaveUpAfter { median_seconds, samples, endpoints: paths } => {
                medians.push((*median_seconds, *samples));
                add_counts(&mut endpoints, &paths.iter().cloned().collect());
            }
            Finding::AllServersDown { block, at } => {
                let t = instant(at)?.0;
                if down.is_none_or(|(earliest, _, _)| t < earliest) {
                    down = Some((t, at, block));
                }
            }
        }
    }
    let mut rows: Vec<(&str, Span)> = upstreams.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
    let mut out: Vec<Finding> = rows
        .into_iter()
        .take(TOP)
        .map(|(upstream, (failures, first, last))| Finding::Upstream {
            upstream: upstream.to_owned(),
            failures,
            last: last.filter(|l| first.as_ref().is_some_and(|f| f.0 != l.0)).map(|(_, text)| text),
            first: first.map(|(_, text)| text),
        })
        .collect();
    medians.sort_by(|a, b| a.0.total_cmp(&b.0));
    let samples = medians.iter().map(|m| m.1).fold(0, u64::saturating_add);
    let mut seen = 0u64;
    if let Some(&(median_seconds, _)) = medians.iter().find(|m| {
        seen = seen.saturating_add(m.1);
        seen > samples / 2
    }) {
        out.push(Finding::GaveUpAfter { median_seconds, samples, endpoints: top(endpoints) });
    }
    if let Some((_, at, block)) = down {
        out.push(Finding::AllServersDown { block: block.clone(), at: at.clone() });
    }
    Ok(out)
}

/// The hosts' advice, each once, recomputed where it counts something: the row
/// [`OTHER_UPSTREAMS`] sums the `fleet_folded` rows the fleet had no room for and the rows the
/// hosts summed there (an upstream two hosts summed counts twice).
fn merge_advice(
    hosts: &[Report],
    access_logs: bool,
    upstreams: &[UpstreamRow],
    fleet_folded: usize,
) -> Vec<Advice> {
    let mut advice: Vec<Advice> = Vec::new();
    let mut folded = fleet_folded as u64;
    let mut settled = 0u64;
    for a in hosts.iter().flat_map(|h| &h.advice) {
        match a {
            Advice::UpstreamsFolded { folded: n, .. } => folded = folded.saturating_add(*n),
            Advice::SettledWithoutErrorLine { requests } => settled = settled.saturating_add(*requests),
            Advice::PassAccessLog if access_logs => {}
            other if !advice.contains(other) => advice.push(other.clone()),
            _ => {}
        }
    }
    if settled > 0 {
        advice.push(Advice::SettledWithoutErrorLine { requests: settled });
    }
    if folded > 0 {
        let listed = upstreams.iter().filter(|u| u.upstream != OTHER_UPSTREAMS).count() as u64;
        advice.push(Advice::UpstreamsFolded { upstreams: listed.saturating_add(folded), listed, folded });
    }
    advice
}

/// The upstream with the most failures in the hosts' incidents that overlap `incident`.
fn dominant_upstream(incident: &Incident, hosts: &[Report]) -> Result<Option<String>, MergeError> {
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

fn merge_period(hosts: &[Report], bucket_seconds: i64) -> Result<Period, MergeError> {
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
    use crate::aggregate::sketch::Sketch;
    use crate::report::schema::Latency;

    /// A host report with one timeline bucket and one upstream.
    fn host(bucket_seconds: i64, start: &str, failures: u64, sketch: Option<&Sketch>) -> Report {
        parse(&host_json(bucket_seconds, start, failures, sketch).to_string()).unwrap()
    }

    fn host_json(bucket_seconds: i64, start: &str, failures: u64, sketch: Option<&Sketch>) -> Value {
        let mut upstream = serde_json::json!({
            "upstream": "10.0.1.11:8080", "requests": 100, "errors_by_cause": {"connect_refused": failures},
            "client_502": failures, "client_504": 0, "failed_attempts": failures, "hidden_failures": 0,
            "first_failure": start, "last_failure": start, "latency": null, "failures_over_time": [failures],
        });
        if let Some(s) = sketch {
            upstream["latency"] = serde_json::to_value(Latency::from_sketch(s)).unwrap();
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
        report
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

        let no_sketch = || {
            let mut h = host(60, at, 1, Some(&a));
            h.upstreams[0].latency_sketch = None;
            h
        };
        // Whichever host comes first, a later sketch does not bring the latency back.
        for hosts in [[no_sketch(), host(60, at, 1, Some(&b))], [host(60, at, 1, Some(&b)), no_sketch()]] {
            let merged = merge(&hosts).unwrap();
            assert!(merged.upstreams[0].latency.is_none() && merged.upstreams[0].latency_sketch.is_none());
        }
    }

    #[test]
    fn rates_count_only_the_hosts_that_counted_attempts_and_times_widen_as_instants() {
        let mut uncounted = host(60, "2024-10-10T12:59:00+02:00", 2, None);
        uncounted.upstreams[0].requests = None;
        let merged = merge(&[host(60, "2024-10-10T11:00:00Z", 3, None), uncounted]).unwrap();
        let row = &merged.upstreams[0];
        assert_eq!(
            (row.requests, row.client_502, row.rate_502, row.rate_5xx),
            (Some(100), 5, Some(0.03), Some(0.03))
        );
        assert_eq!(row.first_failure.as_deref(), Some("2024-10-10T12:59:00+02:00"));
        assert_eq!(row.last_failure.as_deref(), Some("2024-10-10T11:00:00Z"));
        let mut bad = host(60, "2024-10-10T11:00:00Z", 1, None);
        bad.upstreams[0].last_failure = Some("yesterday".into());
        let text = serde_json::to_value(&bad).unwrap();
        assert!(matches!(parse(&text.to_string()), Err(MergeError::Time(t)) if t == "yesterday"));
    }

    #[test]
    fn unknown_causes_and_schemas_are_refused() {
        assert!(
            matches!(parse(r#"{"schema": "ngx502/0"}"#), Err(MergeError::Schema { found }) if found == "ngx502/0")
        );
        assert!(matches!(parse("{}"), Err(MergeError::NotAReport)));
        assert!(matches!(parse(r#"{"schema": "ngx502/1"}"#), Err(MergeError::Shape(_))));
        let mut h = host_json(60, "2024-10-10T13:00:00Z", 1, None);
        h["timeline"][0]["by_cause"]["gremlins"] = 1.into();
        assert!(
            matches!(parse(&h.to_string()), Err(MergeError::Shape(e)) if e.to_string().contains("unknown cause \"gremlins\""))
        );
    }

    #[test]
    fn findings_are_recomputed_from_the_hosts_numbers() {
        let upstream = |failures, first: &str, last: Option<&str>| Finding::Upstream {
            upstream: "10.0.1.11:8080".into(),
            failures,
            first: Some(first.into()),
            last: last.map(Into::into),
        };
        let gave_up = |median_seconds, samples, path: &str, n| Finding::GaveUpAfter {
            median_seconds,
            samples,
            endpoints: vec![(path.into(), n)],
        };
        let a = [
            upstream(2, "2024-10-10T13:00:00+02:00", Some("2024-10-10T13:05:00+02:00")),
            gave_up(30.0, 3, "/slow", 3),
        ];
        let b = [upstream(1, "2024-10-10T10:59:00Z", None), gave_up(60.0, 1, "/slow", 1)];
        let all: Vec<Finding> = a.iter().chain(&b).cloned().collect();
        assert_eq!(
            merge_findings(&all).unwrap(),
            [
                upstream(3, "2024-10-10T10:59:00Z", Some("2024-10-10T13:05:00+02:00")),
                gave_up(30.0, 4, "/slow", 4)
            ]
        );
    }
}
