//! Client-facing failures over time, counted in fine buckets while the failures are folded, and
//! summed into the report's buckets at the end, once the run's span (and so the bucket size) is
//! known.

use std::collections::BTreeMap;
use std::sync::Arc;

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
/// not per failure (an upstream is keyed by its number in [`super::upstreams::Upstreams`], which holds the names);
/// any report bucket that is a multiple of the fine one is summed from them exactly.
#[derive(Debug)]
pub struct FineBuckets {
    size: i64,
    offset: i32,
    by_cause: FxHashMap<(i64, Cause), u64>,
    /// By bucket start and upstream number ([`UNNAMED`] for none).
    by_upstream: FxHashMap<(i64, u32), u64>,
}

impl FineBuckets {
    /// Buckets of `size` seconds on the clock of `offset`.
    pub fn new(size: i64, offset: i32) -> FineBuckets {
        FineBuckets { size, offset, by_cause: FxHashMap::default(), by_upstream: FxHashMap::default() }
    }

    /// Counts a failure at `t` of `cause`, last sent to the upstream numbered `upstream`.
    pub fn add(&mut self, t: i64, cause: Cause, upstream: Option<u32>) {
        let start = start_of(t, self.size, self.offset);
        *self.by_cause.entry((start, cause)).or_insert(0) += 1;
        *self.by_upstream.entry((start, upstream.unwrap_or(UNNAMED))).or_insert(0) += 1;
    }

    /// Adds the counts of `other` (of the same size and offset), whose upstream numbers are
    /// these ones' `theirs` (as [`super::upstreams::Upstreams::merge`] gives them).
    pub fn merge(&mut self, other: FineBuckets, theirs: &[u32]) {
        for (key, n) in other.by_cause {
            *self.by_cause.entry(key).or_insert(0) += n;
        }
        for ((start, upstream), n) in other.by_upstream {
            let mine = theirs.get(upstream as usize).copied().unwrap_or(UNNAMED);
            *self.by_upstream.entry((start, mine)).or_insert(0) += n;
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
    /// upstream count for the row named [`UNKNOWN_UPSTREAM`]; `names` are the upstreams by number.
    pub fn fill_failures_over_time(
        &self,
        names: &[Arc<[u8]>],
        rows: &mut [UpstreamRow],
        timeline: &[Bucket],
    ) {
        let index: FxHashMap<String, usize> =
            rows.iter().enumerate().map(|(i, r)| (r.upstream.clone(), i)).collect();
        for row in rows.iter_mut() {
            row.failures_over_time = vec![0; timeline.len()];
        }
        let row_of: Vec<Option<usize>> =
            names.iter().map(|name| index.get(&lossless(name)).copied()).collect();
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
    /// fine buckets' boundaries; `names` are the upstreams by number.
    pub fn upstreams_between(&self, names: &[Arc<[u8]>], start: i64, end: i64) -> BTreeMap<Vec<u8>, u64> {
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
    use crate::aggregate::upstreams::Upstreams;

    const FAILURES: [(i64, Option<&[u8]>); 6] = [
        (30, Some(b"a:80")),
        (70, Some(b"b:80")),
        (75, None),
        (130, Some(b"b:80")),
        (190, Some(b"a:80")),
        (250, Some(b"b:80")),
    ];

    /// The failures folded, and the upstreams that numbered their names.
    fn folded(failures: &[(i64, Option<&[u8]>)]) -> (FineBuckets, Upstreams) {
        let (mut buckets, mut upstreams) = (FineBuckets::new(60, 3600), Upstreams::default());
        for &(t, upstream) in failures {
            buckets.add(t, Cause::ConnectRefused, upstream.map(|name| upstreams.number(name)));
        }
        (buckets, upstreams)
    }

    #[test]
    fn parts_naming_upstreams_in_another_order_merge_into_the_same_counts() {
        let (whole, whole_upstreams) = folded(&FAILURES);
        let (mut merged, mut upstreams) = folded(&FAILURES[..1]);
        // The later part sees `b:80` first: its numbers differ from the earlier part's.
        let (later, later_upstreams) = folded(&FAILURES[1..]);
        assert_eq!(later_upstreams.names()[0][..], *b"b:80");
        merged.merge(later, &upstreams.merge(later_upstreams));
        let (names, whole_names) = (upstreams.names(), whole_upstreams.names());
        for (start, end) in [(0, 300), (60, 120), (120, 240)] {
            assert_eq!(
                merged.upstreams_between(names, start, end),
                whole.upstreams_between(whole_names, start, end)
            );
        }
        let b = |n| (b"b:80".to_vec(), n);
        assert_eq!(merged.upstreams_between(names, 60, 180), BTreeMap::from([b(2)]));
        let rows = || vec![UpstreamRow::new("a:80".into()), UpstreamRow::new(UNKNOWN_UPSTREAM.into())];
        let timeline = merged.timeline(&FxHashMap::default(), 120);
        assert_eq!(timeline.iter().map(|b| b.start_utc).collect::<Vec<_>>(), [0, 120, 240]);
        let (mut from_merged, mut from_whole) = (rows(), rows());
        merged.fill_failures_over_time(names, &mut from_merged, &timeline);
        whole.fill_failures_over_time(whole_names, &mut from_whole, &timeline);
        let series =
            |rows: &[UpstreamRow]| rows.iter().map(|r| r.failures_over_time.clone()).collect::<Vec<_>>();
        assert_eq!(series(&from_merged), [vec![1, 1, 0], vec![1, 0, 0]]);
        assert_eq!(series(&from_merged), series(&from_whole));
    }
}
