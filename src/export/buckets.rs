//! The rows of the buckets table: client-facing failures per time bucket × upstream × cause.
//!
//! Long format, because the set of causes is open-ended and a column per cause would change the
//! schema from one export to the next (DuckDB and Spark then refuse to read a fleet's files as
//! one table). The access summaries count requests per minute but not per upstream per minute,
//! so `requests` is the whole bucket's count, repeated on each of its rows; a bucket that had
//! requests and no failure still gets one row (no upstream, no cause, zero failures) so rates
//! over time see it. Buckets are sized and aligned like the report's timeline, so the two agree.

use std::collections::BTreeMap;

use crate::escape::lossless;
use crate::pipeline::Analysis;
use crate::time::bucket_for_span;

/// One bucket × upstream × cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketRow {
    /// Start of the bucket, UTC seconds.
    pub start: i64,
    /// The last attempt's upstream; `None` when the failure had none, or on a bucket's
    /// no-failure row.
    pub upstream: Option<String>,
    /// `None` only on a bucket's no-failure row.
    pub cause: Option<&'static str>,
    pub failures: u64,
    pub status_502: u64,
    pub status_504: u64,
    /// Every request in the bucket, all upstreams together.
    pub requests: u64,
}

/// The buckets of an analysis and their size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    pub seconds: i64,
    pub rows: Vec<BucketRow>,
}

#[derive(Default)]
struct Tally {
    failures: u64,
    status_502: u64,
    status_504: u64,
}

/// Counts the client-facing failures of `analysis` per bucket, upstream and cause. Failures
/// without a time (a `log_format` without `$time_local`) cannot be placed and are left out.
pub fn buckets(analysis: &Analysis) -> Buckets {
    let access = &analysis.access;
    let seconds = bucket_for_span(access.last.unwrap_or(0) - access.first.unwrap_or(0));
    let offset = i64::from(analysis.error_utc_offset);
    let start_of = |t: i64| (t + offset).div_euclid(seconds) * seconds - offset;

    let mut requests: BTreeMap<i64, u64> = BTreeMap::new();
    for (&minute, counts) in &access.minutes {
        *requests.entry(start_of(minute)).or_default() += counts.requests;
    }
    type Key = (i64, Option<String>, &'static str);
    let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
    for e in super::failure_events(analysis) {
        let Some(time) = e.request.time else { continue };
        let start = start_of(time);
        requests.entry(start).or_default();
        let tally = tallies.entry((start, e.upstream().map(lossless), e.cause.slug())).or_default();
        tally.failures += 1;
        match e.request.status {
            502 => tally.status_502 += 1,
            504 => tally.status_504 += 1,
            _ => {}
        }
    }

    let mut rows = Vec::with_capacity(tallies.len() + requests.len());
    let mut tallies = tallies.into_iter().peekable();
    for (start, bucket_requests) in requests {
        let before = rows.len();
        while let Some(((_, upstream, cause), tally)) = tallies.next_if(|((s, _, _), _)| *s == start) {
            rows.push(BucketRow {
                start,
                upstream,
                cause: Some(cause),
                failures: tally.failures,
                status_502: tally.status_502,
                status_504: tally.status_504,
                requests: bucket_requests,
            });
        }
        if rows.len() == before {
            rows.push(BucketRow {
                start,
                upstream: None,
                cause: None,
                failures: 0,
                status_502: 0,
                status_504: 0,
                requests: bucket_requests,
            });
        }
    }
    Buckets { seconds, rows }
}
