//! The rows of the buckets table: client-facing failures per time bucket × upstream × cause.
//!
//! Long format, because the set of causes is open-ended and a column per cause would change the
//! schema from one export to the next (DuckDB and Spark then refuse to read a fleet's files as
//! one table). The access summaries count requests per minute but not per upstream per minute,
//! so `requests` is the whole bucket's count, repeated on each of its rows; a bucket that had
//! requests and no failure still gets one row (no upstream, no cause, zero failures) so rates
//! over time see it. Buckets are sized and aligned like the report's timeline, so the two agree.

use std::collections::BTreeMap;

use crate::aggregate::{start_of, FINE_SECONDS};
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

/// A failure's minute (on the error logs' clock), upstream and cause.
type Key = (i64, Option<String>, &'static str);

/// The buckets of a run, counted segment by segment: the bucket size follows the run's span,
/// known only at the end, so requests and failures are counted per minute until then (every
/// size [`bucket_for_span`] picks is a whole number of minutes). The error logs' zone is the
/// first segment's, as the report's timeline takes it.
#[derive(Default)]
pub struct BucketTally {
    offset: Option<i32>,
    first: Option<i64>,
    last: Option<i64>,
    requests: BTreeMap<i64, u64>,
    failures: BTreeMap<Key, Tally>,
}

impl BucketTally {
    /// Counts the requests and client-facing failures of one segment (or of the whole run).
    pub fn add(&mut self, analysis: &Analysis) {
        let access = &analysis.access;
        let offset = *self.offset.get_or_insert(analysis.error_utc_offset);
        self.first = match (self.first, access.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(access.last);
        for (&minute, counts) in &access.minutes {
            *self.requests.entry(minute).or_default() += counts.requests;
        }
        for e in super::failure_events(analysis) {
            // Failures without a time (a `log_format` without `$time_local`) cannot be placed.
            let Some(time) = e.request.time else { continue };
            let key = (start_of(time, FINE_SECONDS, offset), e.upstream().map(lossless), e.cause.slug());
            let tally = self.failures.entry(key).or_default();
            tally.failures += 1;
            match e.request.status {
                502 => tally.status_502 += 1,
                504 => tally.status_504 += 1,
                _ => {}
            }
        }
    }

    /// The buckets, sized and aligned like the report's timeline over the run's span.
    pub fn finish(self) -> Buckets {
        let seconds = bucket_for_span(self.last.unwrap_or(0) - self.first.unwrap_or(0));
        let offset = self.offset.unwrap_or(0);
        let start = |t: i64| start_of(t, seconds, offset);
        let mut requests: BTreeMap<i64, u64> = BTreeMap::new();
        for (minute, n) in self.requests {
            *requests.entry(start(minute)).or_default() += n;
        }
        let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
        for ((minute, upstream, cause), tally) in self.failures {
            requests.entry(start(minute)).or_default();
            let sum = tallies.entry((start(minute), upstream, cause)).or_default();
            sum.failures += tally.failures;
            sum.status_502 += tally.status_502;
            sum.status_504 += tally.status_504;
        }
        Buckets { seconds, rows: rows(requests, tallies) }
    }
}

/// One row per bucket, upstream and cause, in that order; a bucket without failures gets one.
fn rows(requests: BTreeMap<i64, u64>, tallies: BTreeMap<Key, Tally>) -> Vec<BucketRow> {
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
    rows
}
