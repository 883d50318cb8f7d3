//! Client-facing failures over time, counted in fine buckets while the failures are folded, and
//! summed into the report's buckets at the end, once the run's span (and so the bucket size) is
//! known.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::build::status_key;
use crate::errorlog::Cause;
use crate::escape::lossless;
use crate::report::schema::{Bucket, UpstreamRow, UNKNOWN_UPSTREAM};
use crate::summary::MinuteCounts;
use crate::time::rfc3339;

/// The fine bucket when `--bucket` does not give one: every size the report picks
/// ([`crate::time::bucket_for_span`]) is a multiple of it.
pub const FINE_SECONDS: i64 = 60;

/// The start (UTC) of the `size`-second bucket of `t` on the clock of `offset`: buckets begin
/// on the log's own hours, not UTC's.
pub fn start_of(t: i64, size: i64, offset: i32) -> i64 {
    (t + i64::from(offset)).div_euclid(size) * size - i64::from(offset)
}

/// One fine bucket's failures by the upstream that last failed them.
#[derive(Debug, Default)]
struct Upstreams {
    named: FxHashMap<Box<[u8]>, u64>,
    /// Failures no upstream is named for.
    unnamed: u64,
}

/// Client-facing failures per fine bucket: by cause, and by upstream. Memory per bucket and key,
/// not per failure; any report bucket that is a multiple of the fine one is summed from them
/// exactly.
#[derive(Debug)]
pub struct FineBuckets {
    size: i64,
    offset: i32,
    by_cause: FxHashMap<(i64, Cause), u64>,
    by_upstream: BTreeMap<i64, Upstreams>,
}

impl FineBuckets {
    /// Buckets of `size` seconds on the clock of `offset`.
    pub fn new(size: i64, offset: i32) -> FineBuckets {
        FineBuckets { size, offset, by_cause: FxHashMap::default(), by_upstream: BTreeMap::new() }
    }

    /// Counts a failure at `t` of `cause`, last sent to `upstream`.
    pub fn add(&mut self, t: i64, cause: Cause, upstream: Option<&[u8]>) {
        let start = start_of(t, self.size, self.offset);
        *self.by_cause.entry((start, cause)).or_insert(0) += 1;
        let upstreams = self.by_upstream.entry(start).or_default();
        match upstream {
            Some(name) => match upstreams.named.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    upstreams.named.insert(name.into(), 1);
                }
            },
            None => upstreams.unnamed += 1,
        }
    }

    /// Adds the counts of `other` (of the same size and offset).
    pub fn merge(&mut self, other: FineBuckets) {
        for (key, n) in other.by_cause {
            *self.by_cause.entry(key).or_insert(0) += n;
        }
        for (start, theirs) in other.by_upstream {
            let mine = self.by_upstream.entry(start).or_default();
            mine.unnamed += theirs.unnamed;
            for (name, n) in theirs.named {
                *mine.named.entry(name).or_insert(0) += n;
            }
        }
    }

    /// The timeline in buckets of `bucket` seconds (a multiple of the fine size): requests and
    /// errors by status from the access log's `minutes`, failures by cause from these counts.
    pub fn timeline(&self, minutes: &FxHashMap<i64, MinuteCounts>, bucket: i64) -> Vec<Bucket> {
        type Counts = (u64, BTreeMap<String, u64>, BTreeMap<&'static str, u64>);
        let mut buckets: BTreeMap<i64, Counts> = BTreeMap::new();
        let start = |t: i64| start_of(t, bucket, self.offset);
        for (&minute, counts) in minutes {
            let b = buckets.entry(start(minute)).or_default();
            b.0 += counts.requests;
            for &(status, n) in &counts.errors {
                *b.1.entry(status_key(status)).or_insert(0) += n;
            }
        }
        for (&(fine, cause), &n) in &self.by_cause {
            *buckets.entry(start(fine)).or_default().2.entry(cause.slug()).or_insert(0) += n;
        }
        buckets
            .into_iter()
            .map(|(start, (requests, by_status, by_cause))| Bucket {
                start: rfc3339(start, self.offset),
                start_utc: start,
                requests,
                by_status,
                by_cause,
            })
            .collect()
    }

    /// Buckets each upstream's failures like `timeline` (made by [`FineBuckets::timeline`]): a
    /// fine bucket lies in the last report bucket starting at or before it. Failures with no
    /// upstream count for the row named [`UNKNOWN_UPSTREAM`].
    pub fn fill_failures_over_time(&self, rows: &mut [UpstreamRow], timeline: &[Bucket]) {
        let index: FxHashMap<String, usize> =
            rows.iter().enumerate().map(|(i, r)| (r.upstream.clone(), i)).collect();
        for row in rows.iter_mut() {
            row.failures_over_time = vec![0; timeline.len()];
        }
        for (&fine, upstreams) in &self.by_upstream {
            let Some(bucket) = timeline.partition_point(|b| b.start_utc <= fine).checked_sub(1) else {
                continue;
            };
            let named = upstreams.named.iter().map(|(name, &n)| (lossless(name), n));
            for (name, n) in named.chain(std::iter::once((UNKNOWN_UPSTREAM.to_owned(), upstreams.unnamed))) {
                if let Some(&row) = index.get(&name).filter(|_| n > 0) {
                    rows[row].failures_over_time[bucket] += n;
                }
            }
        }
    }

    /// Failures per named upstream from `start` (inclusive) to `end` (exclusive), both on the
    /// fine buckets' boundaries.
    pub fn upstreams_between(&self, start: i64, end: i64) -> BTreeMap<Vec<u8>, u64> {
        let mut out: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for upstreams in self.by_upstream.range(start..end).map(|(_, u)| u) {
            for (name, &n) in &upstreams.named {
                *out.entry(name.to_vec()).or_insert(0) += n;
            }
        }
        out
    }
}
