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

/// The key of failures that name no upstream.
const UNNAMED: u32 = u32::MAX;

/// Client-facing failures per fine bucket: by cause, and by upstream. Memory per bucket and key,
/// not per failure (a name is held once, its counts keyed by number); any report bucket that is
/// a multiple of the fine one is summed from them exactly.
#[derive(Debug)]
pub struct FineBuckets {
    size: i64,
    offset: i32,
    by_cause: FxHashMap<(i64, Cause), u64>,
    /// Upstream names, numbered in the order they were first seen.
    names: FxHashMap<Box<[u8]>, u32>,
    /// By bucket start and upstream number ([`UNNAMED`] for none).
    by_upstream: FxHashMap<(i64, u32), u64>,
}

impl FineBuckets {
    /// Buckets of `size` seconds on the clock of `offset`.
    pub fn new(size: i64, offset: i32) -> FineBuckets {
        FineBuckets {
            size,
            offset,
            by_cause: FxHashMap::default(),
            names: FxHashMap::default(),
            by_upstream: FxHashMap::default(),
        }
    }

    fn number(&mut self, name: &[u8]) -> u32 {
        match self.names.get(name) {
            Some(&n) => n,
            None => {
                let n = self.names.len() as u32;
                self.names.insert(name.into(), n);
                n
            }
        }
    }

    /// Counts a failure at `t` of `cause`, last sent to `upstream`.
    pub fn add(&mut self, t: i64, cause: Cause, upstream: Option<&[u8]>) {
        let start = start_of(t, self.size, self.offset);
        *self.by_cause.entry((start, cause)).or_insert(0) += 1;
        let upstream = upstream.map_or(UNNAMED, |name| self.number(name));
        *self.by_upstream.entry((start, upstream)).or_insert(0) += 1;
    }

    /// Adds the counts of `other` (of the same size and offset).
    pub fn merge(&mut self, other: FineBuckets) {
        for (key, n) in other.by_cause {
            *self.by_cause.entry(key).or_insert(0) += n;
        }
        let mut theirs = vec![UNNAMED; other.names.len()];
        for (name, n) in other.names {
            if let Some(slot) = theirs.get_mut(n as usize) {
                *slot = self.number(&name);
            }
        }
        for ((start, upstream), n) in other.by_upstream {
            let mine = theirs.get(upstream as usize).copied().unwrap_or(UNNAMED);
            *self.by_upstream.entry((start, mine)).or_insert(0) += n;
        }
    }

    /// The names by number.
    fn names(&self) -> Vec<&[u8]> {
        let mut names = vec![&b""[..]; self.names.len()];
        for (name, &n) in &self.names {
            names[n as usize] = name;
        }
        names
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
        let row_of: Vec<Option<usize>> =
            self.names().iter().map(|name| index.get(&lossless(name)).copied()).collect();
        let unnamed = index.get(UNKNOWN_UPSTREAM).copied();
        for (&(fine, upstream), &n) in &self.by_upstream {
            let row =
                if upstream == UNNAMED { unnamed } else { row_of.get(upstream as usize).copied().flatten() };
            let Some(row) = row else { continue };
            let Some(bucket) = timeline.partition_point(|b| b.start_utc <= fine).checked_sub(1) else {
                continue;
            };
            rows[row].failures_over_time[bucket] += n;
        }
    }

    /// Failures per named upstream from `start` (inclusive) to `end` (exclusive), both on the
    /// fine buckets' boundaries.
    pub fn upstreams_between(&self, start: i64, end: i64) -> BTreeMap<Vec<u8>, u64> {
        let names = self.names();
        let mut out: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for (&(fine, upstream), &n) in &self.by_upstream {
            // No name for [`UNNAMED`]: failures without an upstream credit none.
            if let Some(name) = names.get(upstream as usize).filter(|_| (start..end).contains(&fine)) {
                *out.entry(name.to_vec()).or_insert(0) += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILURES: [(i64, Option<&[u8]>); 6] = [
        (30, Some(b"a:80")),
        (70, Some(b"b:80")),
        (75, None),
        (130, Some(b"b:80")),
        (190, Some(b"a:80")),
        (250, Some(b"b:80")),
    ];

    fn folded(failures: &[(i64, Option<&[u8]>)]) -> FineBuckets {
        let mut buckets = FineBuckets::new(60, 3600);
        for &(t, upstream) in failures {
            buckets.add(t, Cause::ConnectRefused, upstream);
        }
        buckets
    }

    #[test]
    fn parts_naming_upstreams_in_another_order_merge_into_the_same_counts() {
        let whole = folded(&FAILURES);
        let mut merged = folded(&FAILURES[..1]);
        // The later part sees `b:80` first: its numbers differ from the earlier part's.
        merged.merge(folded(&FAILURES[1..]));
        for (start, end) in [(0, 300), (60, 120), (120, 240)] {
            assert_eq!(merged.upstreams_between(start, end), whole.upstreams_between(start, end));
        }
        let b = |n| (b"b:80".to_vec(), n);
        assert_eq!(merged.upstreams_between(60, 180), BTreeMap::from([b(2)]));
        let rows = || vec![UpstreamRow::new("a:80".into()), UpstreamRow::new(UNKNOWN_UPSTREAM.into())];
        let timeline = merged.timeline(&FxHashMap::default(), 120);
        assert_eq!(timeline.iter().map(|b| b.start_utc).collect::<Vec<_>>(), [0, 120, 240]);
        let (mut from_merged, mut from_whole) = (rows(), rows());
        merged.fill_failures_over_time(&mut from_merged, &timeline);
        whole.fill_failures_over_time(&mut from_whole, &timeline);
        let series =
            |rows: &[UpstreamRow]| rows.iter().map(|r| r.failures_over_time.clone()).collect::<Vec<_>>();
        assert_eq!(series(&from_merged), [vec![1, 1, 0], vec![1, 0, 0]]);
        assert_eq!(series(&from_merged), series(&from_whole));
    }
}
