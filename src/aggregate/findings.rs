//! Concrete findings per cause, from the failures themselves: which upstream failed and since
//! when, how long nginx waited before a timeout, which endpoints were slow, what came before a
//! `no_live_upstreams`. They turn a generic checklist into "127.0.0.1:8080 refused connections
//! from 10:02:11 to 10:07:40" (renderers word them; see [`crate::report::schema::Finding`]).

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::correlate::Event;
use crate::errorlog::Cause;
use crate::escape::{lossless, lossless_cow};
use crate::path_template::PathKey;
use crate::report::schema::{Finding, UNKNOWN_UPSTREAM};
use crate::time::rfc3339;

use super::samples::Samples;

/// Upstreams and endpoints named per finding.
pub const TOP: usize = 3;

/// A moment as logged: UTC seconds and the log's offset (findings show the log's own clock).
type Moment = (i64, i32);

fn when(e: &Event) -> Option<Moment> {
    e.request.time.map(|t| (t, e.request.offset))
}

/// The earlier of a moment kept and one seen after it (the kept one on a tie).
fn earlier(kept: Option<Moment>, seen: Option<Moment>) -> Option<Moment> {
    match (kept, seen) {
        (Some(k), Some(s)) => Some(if s.0 < k.0 { s } else { k }),
        _ => kept.or(seen),
    }
}

/// The later of a moment kept and one seen after it (the kept one on a tie).
fn later(kept: Option<Moment>, seen: Option<Moment>) -> Option<Moment> {
    match (kept, seen) {
        (Some(k), Some(s)) => Some(if s.0 > k.0 { s } else { k }),
        _ => kept.or(seen),
    }
}

/// An upstream's failures, and its first and last failure.
type PerUpstream = (u64, Option<Moment>, Option<Moment>);

/// Failures per upstream, named as the report writes them, and found by the upstream's number
/// (see [`super::upstreams::Upstreams`]): a name is checked for UTF-8 (and escaped when it is
/// not) once, not once per failure, and names that the report writes alike share a row.
#[derive(Debug, Default)]
struct Upstreams {
    rows: Vec<PerUpstream>,
    /// The report's name of each row.
    by_name: FxHashMap<String, usize>,
    /// The row of each upstream number, when it has one.
    by_number: Vec<Option<usize>>,
}

impl Upstreams {
    /// The row of the upstream numbered `number` and logged as `raw`.
    fn row(&mut self, number: u32, raw: &[u8]) -> &mut PerUpstream {
        let number = number as usize;
        let at = match self.by_number.get(number).copied().flatten() {
            Some(at) => at,
            None => {
                let at = self.named(lossless_cow(raw));
                if self.by_number.len() <= number {
                    self.by_number.resize(number + 1, None);
                }
                self.by_number[number] = Some(at);
                at
            }
        };
        &mut self.rows[at]
    }

    /// The place of the row named `name`, made on first sight.
    fn named(&mut self, name: Cow<'_, str>) -> usize {
        if let Some(&at) = self.by_name.get(&*name) {
            return at;
        }
        self.rows.push(PerUpstream::default());
        self.by_name.insert(name.into_owned(), self.rows.len() - 1);
        self.rows.len() - 1
    }

    /// Each row with its name, in no order.
    fn into_rows(self) -> impl Iterator<Item = (String, PerUpstream)> {
        let rows = self.rows;
        self.by_name.into_iter().map(move |(name, at)| (name, rows[at]))
    }
}

/// What the findings of one cause need, folded failure by failure: counters keyed by upstream
/// and endpoint, and moments, so the failures themselves can be dropped once counted.
#[derive(Debug, Default)]
pub struct Findings {
    /// Failures, first and last failure per upstream. Hashed, not ordered: every failure looks
    /// its upstream up, and the rows are sorted once at the end.
    per_upstream: Upstreams,
    /// Timeouts: failures per endpoint to profile, keyed as the top paths are (by template
    /// unless `--raw-paths`), so ids in paths add up instead of making an entry each.
    endpoints: FxHashMap<String, u64>,
    /// `no_live_upstreams`: the earliest failure, and the first upstream a failure names.
    earliest: Option<Moment>,
    block: Option<String>,
}

impl Findings {
    /// Counts one failure of `cause`; `path` is its request's key in the top paths, `upstream`
    /// the number of the upstream it is counted on.
    pub fn add(&mut self, cause: Cause, e: &Event, path: &PathKey<'_>, upstream: u32) {
        let entry = self.per_upstream.row(upstream, e.upstream().unwrap_or(UNKNOWN_UPSTREAM.as_bytes()));
        entry.0 += 1;
        entry.1 = earlier(entry.1, when(e));
        entry.2 = later(entry.2, when(e));
        if cause.timed_out() && e.request.request().is_some() {
            count(&mut self.endpoints, Cow::Borrowed(path.key()), 1);
        }
        if cause == Cause::NoLiveUpstreams {
            self.earliest = earlier(self.earliest, when(e));
            if self.block.is_none() {
                self.block = e.upstream().map(lossless);
            }
        }
    }

    /// Adds the failures folded into `later_part`, all of which come after this one's.
    pub fn merge(&mut self, later_part: Findings) {
        for (name, (n, first, last)) in later_part.per_upstream.into_rows() {
            let at = self.per_upstream.named(Cow::Owned(name));
            let entry = &mut self.per_upstream.rows[at];
            entry.0 += n;
            entry.1 = earlier(entry.1, first);
            entry.2 = later(entry.2, last);
        }
        for (path, n) in later_part.endpoints {
            count(&mut self.endpoints, Cow::Owned(path), n);
        }
        self.earliest = earlier(self.earliest, later_part.earliest);
        self.block = self.block.take().or(later_part.block);
    }

    /// The findings about the failures of `cause`; `times` are their `$request_time`s (kept for
    /// timeouts only).
    pub fn finish(self, cause: Cause, times: Samples) -> Vec<Finding> {
        let mut out = per_upstream(self.per_upstream.into_rows());
        if cause.timed_out() {
            out.extend(waited_before_giving_up(times, self.endpoints));
        }
        if cause == Cause::NoLiveUpstreams {
            out.extend(before_no_live(self.earliest, self.block));
        }
        out
    }
}

fn count(counts: &mut FxHashMap<String, u64>, key: Cow<'_, str>, n: u64) {
    match counts.get_mut(&*key) {
        Some(c) => *c += n,
        None => {
            counts.insert(key.into_owned(), n);
        }
    }
}

/// The upstreams with the most failures, each with its first and last failure.
fn per_upstream(by_upstream: impl Iterator<Item = (String, PerUpstream)>) -> Vec<Finding> {
    let mut rows: Vec<_> = by_upstream.collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .take(TOP)
        .map(|(upstream, (failures, first, last))| Finding::Upstream {
            upstream,
            failures,
            first: first.map(|f| rfc3339(f.0, f.1)),
            last: last.filter(|l| first.is_some_and(|f| f.0 != l.0)).map(|l| rfc3339(l.0, l.1)),
        })
        .collect()
}

/// For timeouts: the request time of the failed requests is the timeout nginx applied, and the
/// endpoints that hit it are the ones to profile.
fn waited_before_giving_up(times: Samples, endpoints: FxHashMap<String, u64>) -> Option<Finding> {
    let median_seconds = times.median()?;
    Some(Finding::GaveUpAfter { median_seconds, samples: times.len(), endpoints: top(endpoints) })
}

/// The `TOP` entries with the highest counts (by name on a tie), whatever order they come in.
pub fn top<S: Ord + Into<String>>(counts: impl IntoIterator<Item = (S, u64)>) -> Vec<(String, u64)> {
    let mut rows: Vec<(S, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(TOP);
    rows.into_iter().map(|(name, count)| (name.into(), count)).collect()
}

/// When the first `no_live_upstreams` happened: by then every server of the block had been
/// marked down, so the failures just before it on those servers are the real cause. The block's
/// members are not in the logs, so the finding names the time to look at rather than guessing.
fn before_no_live(earliest: Option<Moment>, block: Option<String>) -> Option<Finding> {
    let first = earliest?;
    Some(Finding::AllServersDown { block, at: rfc3339(first.0, first.1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_written_alike_share_a_row() {
        let mut upstreams = Upstreams::default();
        for (number, raw) in [(0, &b"a\xff"[..]), (1, b"a\\xFF"), (0, b"a\xff"), (2, b"b")] {
            upstreams.row(number, raw).0 += 1;
        }
        let mut rows: Vec<(String, u64)> = upstreams.into_rows().map(|(name, (n, _, _))| (name, n)).collect();
        rows.sort();
        assert_eq!(rows, [("a\\xFF".to_owned(), 3), ("b".to_owned(), 1)]);
    }
}
