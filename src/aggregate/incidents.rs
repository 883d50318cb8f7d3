//! Incidents: stretches of time where the failure rate rises well above its usual level.
//!
//! Rule: a bucket is *hot* when its client-facing failure rate is at least 1 % and at least
//! three times the baseline (the median rate over all buckets), with at least 3 failures.
//! Consecutive hot buckets form one incident, reported with its peak rate, dominant cause and
//! dominant upstream.

use std::collections::BTreeMap;

use crate::errorlog::Cause;
use crate::escape::lossless;
use crate::report::schema::{Bucket, Incident};
use crate::time::rfc3339;

/// Lowest failure rate of a hot bucket.
pub const MIN_RATE: f64 = 0.01;
/// How many times the baseline (the median bucket's rate) a hot bucket's rate is at least.
pub const BASELINE_FACTOR: f64 = 3.0;
/// Fewest failures in a hot bucket.
pub const MIN_FAILURES: u64 = 3;

/// Saturating: merged timelines come from JSON a user hands over.
fn failures(b: &Bucket) -> u64 {
    b.by_cause.values().fold(0, |a, &n| a.saturating_add(n))
}

fn rate(b: &Bucket) -> f64 {
    if b.requests == 0 {
        0.0
    } else {
        failures(b) as f64 / b.requests as f64
    }
}

/// Finds incidents in a timeline; `upstreams(start, end)` counts the client-facing failures
/// behind it per upstream from `start` to `end` (exclusive), where the timeline has them.
pub fn detect(
    timeline: &[Bucket],
    upstreams: impl Fn(i64, i64) -> BTreeMap<Vec<u8>, u64>,
    bucket: i64,
    offset: i32,
) -> Vec<Incident> {
    let mut rates: Vec<f64> = timeline.iter().map(rate).collect();
    rates.sort_by(f64::total_cmp);
    let baseline = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    let threshold = (baseline * BASELINE_FACTOR).max(MIN_RATE);
    let hot = |b: &Bucket| failures(b) >= MIN_FAILURES && rate(b) >= threshold;

    let mut incidents = Vec::new();
    let mut run: Vec<&Bucket> = Vec::new();
    for b in timeline.iter().chain(std::iter::once(&Bucket::sentinel())) {
        let contiguous = run.last().is_none_or(|last| b.start_utc == last.start_utc + bucket);
        if hot(b) && contiguous {
            run.push(b);
            continue;
        }
        if !run.is_empty() {
            incidents.push(summarize(&run, &upstreams, bucket, offset));
            run.clear();
        }
        if hot(b) {
            run.push(b);
        }
    }
    incidents
}

fn summarize(
    run: &[&Bucket],
    upstreams: &impl Fn(i64, i64) -> BTreeMap<Vec<u8>, u64>,
    bucket: i64,
    offset: i32,
) -> Incident {
    let start = run[0].start_utc;
    let end = run[run.len() - 1].start_utc + bucket;
    let mut causes: BTreeMap<&'static str, u64> = BTreeMap::new();
    for b in run {
        for (c, n) in &b.by_cause {
            *causes.entry(c).or_insert(0) += n;
        }
    }
    let upstreams = upstreams(start, end);
    Incident {
        start: rfc3339(start, offset),
        end: rfc3339(end, offset),
        failures: run.iter().map(|b| failures(b)).fold(0, u64::saturating_add),
        peak_rate: run.iter().map(|b| rate(b)).fold(0.0, f64::max),
        cause: most(&causes).copied().unwrap_or(Cause::Unattributed.slug()),
        upstream: most(&upstreams).map(|u| lossless(u)),
    }
}

/// The key with the highest count (the first such key on a tie).
fn most<K: Ord>(counts: &BTreeMap<K, u64>) -> Option<&K> {
    counts.iter().rev().max_by_key(|(_, n)| **n).map(|(k, _)| k)
}

impl Bucket {
    /// A bucket that is never hot, closing the last run.
    fn sentinel() -> Bucket {
        Bucket {
            start: String::new(),
            start_utc: i64::MIN,
            requests: 0,
            by_status: BTreeMap::new(),
            by_cause: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: i64, requests: u64, failures: u64) -> Bucket {
        let mut by_cause = BTreeMap::new();
        if failures > 0 {
            by_cause.insert("connect_refused", failures);
        }
        Bucket { start: start.to_string(), start_utc: start, requests, by_status: BTreeMap::new(), by_cause }
    }

    #[test]
    fn a_generated_outage_is_one_incident() {
        let mut timeline: Vec<Bucket> = (0..30).map(|i| bucket(i * 60, 1000, 1)).collect();
        for b in &mut timeline[10..14] {
            *b = bucket(b.start_utc, 1000, 200);
        }
        let found = detect(&timeline, |_, _| BTreeMap::new(), 60, 0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].failures, 800);
        assert_eq!(found[0].cause, "connect_refused");
        assert_eq!(found[0].start, rfc3339(600, 0));
        assert_eq!(found[0].end, rfc3339(840, 0));
        assert!((found[0].peak_rate - 0.2).abs() < 1e-9);
    }

    #[test]
    fn steady_low_errors_are_no_incident() {
        let timeline: Vec<Bucket> = (0..30).map(|i| bucket(i * 60, 1000, 2)).collect();
        assert!(detect(&timeline, |_, _| BTreeMap::new(), 60, 0).is_empty());
    }
}
