//! Builds the report from an analysis: causes, upstreams, paths, timeline, incidents, inputs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::access::request_path;
use crate::correlate::{Event, JoinMethod};
use crate::errorlog::{Cause, Role};
use crate::escape::{lossless, lossless_cow};
use crate::path_template::{PathKey, PathTally};
use crate::pipeline::Analysis;
use crate::report::schema::{
    ratio, Advice, Bucket, CauseRow, ErrorLines, InputRow, Latency, PathRow, Period, Report, Totals,
    UpstreamRow, OTHER_UPSTREAMS, SCHEMA, UNKNOWN_UPSTREAM,
};
use crate::time::{bucket_for_span, rfc3339};

/// Most upstream rows a report lists. A log can name hundreds of thousands of distinct
/// `$upstream_addr` values (short-lived pods, a resolver gone wild, a forged log); past this,
/// the rows with the fewest failures are summed into one [`OTHER_UPSTREAMS`] row, so every
/// output stays readable and bounded in size.
pub const MAX_UPSTREAM_ROWS: usize = 100;

/// How many paths, examples and evidence lines lists keep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub top: usize,
    /// Group ids in paths into templates (`/orders/{id}`); `--raw-paths` turns it off.
    pub templates: bool,
}

fn status_key(status: u16) -> String {
    format!("{status:03}")
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

        // Templating a path costs more than counting it: each failure's is made once, in
        // parallel, for the top paths of the report and of its cause.
        let paths: Vec<PathKey> = client
            .par_iter()
            .map(|e| PathKey::new(e.request.request().map_or(&b"-"[..], request_path), limits.templates))
            .collect();
        let bucket_seconds =
            bucket.unwrap_or_else(|| bucket_for_span(access.last.unwrap_or(0) - access.first.unwrap_or(0)));
        // Causes and paths on one side, upstreams and time on the other: each walks every
        // failure, and neither needs the other.
        let ((causes, top_paths), (upstreams, timeline, incidents, folded)) = rayon::join(
            || {
                let causes = if access_logs {
                    cause_rows(&client, &paths, analysis, limits)
                } else {
                    error_only_cause_rows(analysis, limits)
                };
                (causes, path_rows(client.iter().zip(&paths), limits.top))
            },
            || {
                let mut upstreams = upstream_rows(analysis, &events, offset);
                let timeline = timeline(analysis, &client, bucket_seconds, offset);
                fill_failures_over_time(&mut upstreams, &client, &timeline);
                let folded = cap_upstreams(&mut upstreams, MAX_UPSTREAM_ROWS);
                let incidents =
                    crate::aggregate::incidents::detect(&timeline, &client, bucket_seconds, offset);
                (upstreams, timeline, incidents, folded)
            },
        );

        let mut advice = Vec::new();
        for format in &analysis.access_formats {
            if let crate::access::AccessFormat::Template(f) = format {
                let missing = f.missing_for_exact_join();
                if !missing.is_empty() {
                    for lacks in missing {
                        advice.push(Advice::FormatLacks { format: f.name.clone(), lacks });
                    }
                    advice.push(Advice::UseUpstreamFormat);
                }
            }
        }
        advice.dedup();
        advice.extend(folded_advice(folded));
        if analysis.settled_unexplained > 0 {
            advice.push(Advice::SettledWithoutErrorLine { requests: analysis.settled_unexplained });
        }
        if !access_logs && !analysis.errors.is_empty() {
            advice.push(Advice::PassAccessLog);
        }

        let lines_read = analysis.inputs.iter().map(|i| i.lines).sum();
        Report {
            schema: SCHEMA.to_owned(),
            totals: Totals {
                requests: access.statuses.total(),
                by_status: access.statuses.iter().map(|(s, n)| (status_key(s), n)).collect(),
                failures: client.len() as u64,
                lines_read,
                parsed: analysis.inputs.iter().map(|i| i.parsed).sum(),
                malformed_lines: analysis.inputs.iter().map(|i| i.malformed).sum(),
                filtered: analysis.inputs.iter().map(|i| i.filtered).sum(),
                other: analysis.inputs.iter().map(|i| i.other).sum(),
                access_logs,
            },
            causes,
            upstreams,
            top_paths,
            timeline,
            incidents,
            inputs: input_rows(analysis),
            unmatched_error_lines: analysis.correlation.unmatched.len() as u64,
            error_lines: error_lines(analysis),
            advice,
            period: Period {
                first: access.first.map(|t| rfc3339(t, offset)),
                last: access.last.map(|t| rfc3339(t, offset)),
                bucket_seconds,
            },
            filters: Vec::new(),
            labels: BTreeMap::new(),
            by_label: BTreeMap::new(),
        }
    }
}

/// Where the terminal error lines went: counted from the lines and the events apart, so a line
/// lost or claimed twice shows as `read` ≠ the sum of the rest.
fn error_lines(analysis: &Analysis) -> ErrorLines {
    let terminal = |i: &usize| analysis.errors[*i].cause.role() == Role::Terminal;
    let evidence = || analysis.correlation.events.iter().flat_map(Event::evidence);
    let claimed = evidence().filter(|i| terminal(i)).count() as u64;
    ErrorLines {
        read: (0..analysis.errors.len()).filter(terminal).count() as u64,
        claimed,
        unmatched: analysis.correlation.unmatched.len() as u64,
        filtered: analysis.errors_filtered,
        waiting: analysis.errors_waiting,
        context_claimed: evidence().count() as u64 - claimed,
    }
}

fn evidence_line(analysis: &Analysis, event: &Event) -> Option<String> {
    match event.evidence().rev().find(|&i| analysis.errors[i].cause.role() == Role::Terminal) {
        Some(i) => Some(lossless(analysis.errors[i].raw())),
        None => event.request.request().map(|r| {
            format!(
                "{} {} (access log line {}, no error line)",
                event.request.status,
                lossless(r),
                event.request.line
            )
        }),
    }
}

fn cause_rows(
    client: &[&Event],
    paths: &[PathKey<'_>],
    analysis: &Analysis,
    limits: Limits,
) -> Vec<CauseRow> {
    let mut groups: BTreeMap<Cause, Vec<usize>> = BTreeMap::new();
    for (at, e) in client.iter().enumerate() {
        groups.entry(e.cause).or_default().push(at);
    }
    let total = client.len() as u64;
    let conf = analysis.nginx_conf.as_deref();
    let router = conf.map(crate::nginx_conf::route::Router::new);
    // Each cause's findings, citations and paths walk only its own failures: one task per cause.
    let mut rows: Vec<CauseRow> = groups
        .into_par_iter()
        .map(|(cause, members)| {
            let events: Vec<&Event> = members.iter().map(|&at| client[at]).collect();
            let info = cause.info();
            // Counted by number, named once per status rather than once per failure.
            let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
            for e in &events {
                *by_status.entry(e.request.status).or_insert(0) += 1;
            }
            let statuses = by_status.into_iter().map(|(s, n)| (status_key(s), n)).collect();
            let mut evidence: Vec<String> = Vec::new();
            for e in &events {
                if evidence.len() >= limits.top {
                    break;
                }
                if let Some(line) = evidence_line(analysis, e) {
                    evidence.push(line);
                }
            }
            let paths = path_rows(members.iter().map(|&at| (&client[at], &paths[at])), limits.top)
                .into_iter()
                .map(|p| (p.path, p.count))
                .collect();
            CauseRow {
                cause: info.slug,
                count: events.len() as u64,
                share: ratio(events.len() as u64, total),
                statuses,
                summary: info.summary,
                fix: info.fix,
                findings: super::findings::findings(cause, &events),
                citations: match (conf, &router) {
                    (Some(conf), Some(router)) => crate::cite::citations(
                        conf,
                        router,
                        cause,
                        &events,
                        &analysis.errors,
                        &analysis.access.upstreams,
                    ),
                    _ => Vec::new(),
                },
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
                    .take(limits.top)
                    .map(|&i| lossless(analysis.errors[i].raw()))
                    .collect(),
                top_paths: Vec::new(),
                findings: Vec::new(),
                citations: Vec::new(),
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
    // Keyed by names borrowed from the analysis: a failure costs a lookup, not a copy.
    let mut tallies: FxHashMap<&[u8], UpstreamTally> = FxHashMap::default();
    for e in events {
        let client_facing = e.client_facing();
        for attempt in e.attempts() {
            let failed = attempt.cause.is_some() || attempt.status.is_some_and(|s| s >= 500);
            let Some(upstream) = attempt.upstream.as_deref().filter(|_| failed) else { continue };
            let tally = tallies.entry(upstream).or_default();
            tally.failed += 1;
            tally.saw_failure(e.request.time);
            if !client_facing {
                tally.hidden += 1;
            }
        }
        if client_facing {
            let key = e.upstream().unwrap_or(UNKNOWN_UPSTREAM.as_bytes());
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
        let key = r.peer().unwrap_or(UNKNOWN_UPSTREAM.as_bytes());
        let tally = tallies.entry(key).or_default();
        tally.failed += 1;
        tally.hidden += 1;
        tally.saw_failure(Some(r.local_time - i64::from(offset)));
    }
    let mut names: Vec<&[u8]> = tallies.keys().copied().collect();
    for addr in analysis.access.upstreams.keys() {
        if !tallies.contains_key(&addr[..]) {
            names.push(&addr[..]);
        }
    }
    let mut rows: Vec<UpstreamRow> = names
        .into_iter()
        .map(|name| {
            let tally = tallies.remove(name).unwrap_or_default();
            let counts = analysis.access.upstreams.get(name);
            let requests = counts.map(|c| c.attempts);
            let latency = counts.and_then(|c| Latency::from_sketch(&c.latency));
            UpstreamRow {
                upstream: lossless(name),
                block: crate::nginx_conf::block_of(&analysis.upstream_blocks, name).map(str::to_owned),
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
                latency_lost: false,
            }
        })
        .collect();
    sort_upstreams(&mut rows);
    rows
}

/// The report's order of upstreams: most client-facing failures, then most failed attempts, then
/// name.
pub fn sort_upstreams(rows: &mut [UpstreamRow]) {
    rows.sort_by(|a, b| {
        (b.failures().cmp(&a.failures()))
            .then(b.failed_attempts.cmp(&a.failed_attempts))
            .then(a.upstream.cmp(&b.upstream))
    });
}

/// What the report says when [`cap_upstreams`] summed `folded` rows.
fn folded_advice(folded: usize) -> Option<Advice> {
    (folded > 0).then(|| Advice::UpstreamsFolded {
        upstreams: (MAX_UPSTREAM_ROWS + folded) as u64,
        listed: MAX_UPSTREAM_ROWS as u64,
        folded: folded as u64,
    })
}

/// Keeps the first `max` rows (sorted most failures first) and sums the others into one
/// [`OTHER_UPSTREAMS`] row; returns how many were summed. Its rates are over the summed rows that
/// have attempt counts, and its latency merges their sketches, so it reads like any other row.
pub fn cap_upstreams(rows: &mut Vec<UpstreamRow>, max: usize) -> usize {
    // A row of upstreams an earlier report folded (merge reads reports) is folded again.
    let earlier = rows.iter().position(|r| r.upstream == OTHER_UPSTREAMS).map(|i| rows.remove(i));
    if rows.len() <= max && earlier.is_none() {
        return 0;
    }
    let mut folded = rows.split_off(max.min(rows.len()));
    let count = folded.len();
    folded.extend(earlier);
    let mut other = UpstreamRow::new(OTHER_UPSTREAMS.to_owned());
    for row in &folded {
        other.add(row);
    }
    // The sum of several upstreams belongs to no one block.
    other.block = None;
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
        let name = e.upstream().map_or(Cow::Borrowed(UNKNOWN_UPSTREAM), lossless_cow);
        if let Some(&row) = index.get(&*name) {
            rows[row].failures_over_time[bucket] += 1;
        }
    }
}

/// The top paths of `events`, each with its key made by [`PathKey::new`].
fn path_rows<'a>(events: impl Iterator<Item = (&'a &'a Event, &'a PathKey<'a>)>, top: usize) -> Vec<PathRow> {
    let mut tally = PathTally::default();
    for (e, path) in events {
        tally.add_key(path, e.cause.slug());
    }
    tally.top(top)
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
            Some(JoinMethod::Connection)
        } else if methods.contains(&JoinMethod::Request) {
            Some(JoinMethod::Request)
        } else {
            None
        }
    };
    analysis
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| InputRow { join: join_of(i), ..input.clone() })
        .collect()
}
