//! Concrete findings per cause, from the failures themselves: which upstream failed and since
//! when, how long nginx waited before a timeout, which endpoints were slow, what came before a
//! `no_live_upstreams`. They turn a generic checklist into "127.0.0.1:8080 refused connections
//! from 10:02:11 to 10:07:40" (renderers word them; see [`crate::report::schema::Finding`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::access::request_path;
use crate::correlate::Event;
use crate::errorlog::Cause;
use crate::escape::{lossless, lossless_cow};
use crate::report::schema::{Finding, UNKNOWN_UPSTREAM};
use crate::time::rfc3339;

/// Upstreams and endpoints named per finding.
pub const TOP: usize = 3;

/// Findings about the failures of one cause.
pub fn findings(cause: Cause, events: &[&Event]) -> Vec<Finding> {
    let mut out = per_upstream(events);
    if let Some(waited) = waited_before_giving_up(cause, events) {
        out.push(waited);
    }
    if cause == Cause::NoLiveUpstreams {
        out.extend(before_no_live(events));
    }
    out
}

/// A moment as logged: UTC seconds and the log's offset (findings show the log's own clock).
type Moment = (i64, i32);

fn when(e: &Event) -> Option<Moment> {
    e.request.time.map(|t| (t, e.request.offset))
}

/// The upstreams with the most failures, each with its first and last failure. Names are
/// borrowed from the events while counting; only the `TOP` named ones are copied.
fn per_upstream(events: &[&Event]) -> Vec<Finding> {
    let mut by_upstream: BTreeMap<Cow<'_, str>, (u64, Option<Moment>, Option<Moment>)> = BTreeMap::new();
    for e in events {
        let name = e.upstream().map_or(Cow::Borrowed(UNKNOWN_UPSTREAM), lossless_cow);
        let entry = by_upstream.entry(name).or_default();
        entry.0 += 1;
        if let Some(t) = when(e) {
            entry.1 = Some(entry.1.map_or(t, |f| if t.0 < f.0 { t } else { f }));
            entry.2 = Some(entry.2.map_or(t, |l| if t.0 > l.0 { t } else { l }));
        }
    }
    let mut rows: Vec<_> = by_upstream.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .take(TOP)
        .map(|(upstream, (failures, first, last))| Finding::Upstream {
            upstream: upstream.into_owned(),
            failures,
            first: first.map(|f| rfc3339(f.0, f.1)),
            last: last.filter(|l| first.is_some_and(|f| f.0 != l.0)).map(|l| rfc3339(l.0, l.1)),
        })
        .collect()
}

/// For timeouts: the request time of the failed requests is the timeout nginx applied, and the
/// endpoints that hit it are the ones to profile.
fn waited_before_giving_up(cause: Cause, events: &[&Event]) -> Option<Finding> {
    if !matches!(
        cause,
        Cause::ReadTimeout | Cause::ConnectTimeout | Cause::SslHandshakeTimeout | Cause::SendTimeout
    ) {
        return None;
    }
    let mut times: Vec<f64> = events.iter().filter_map(|e| e.request.request_time).collect();
    if times.is_empty() {
        return None;
    }
    times.sort_by(f64::total_cmp);
    let median_seconds = times[times.len() / 2];
    let mut paths: BTreeMap<Cow<'_, str>, u64> = BTreeMap::new();
    for e in events {
        if let Some(r) = e.request.request() {
            *paths.entry(lossless_cow(request_path(r))).or_default() += 1;
        }
    }
    Some(Finding::GaveUpAfter { median_seconds, samples: times.len() as u64, endpoints: top(paths) })
}

/// The `TOP` entries with the highest counts (by name on a tie).
pub fn top<S: Ord + Into<String>>(counts: BTreeMap<S, u64>) -> Vec<(String, u64)> {
    let mut rows: Vec<(S, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(TOP);
    rows.into_iter().map(|(name, count)| (name.into(), count)).collect()
}

/// When the first `no_live_upstreams` happened: by then every server of the block had been
/// marked down, so the failures just before it on those servers are the real cause. The block's
/// members are not in the logs, so the finding names the time to look at rather than guessing.
fn before_no_live(events: &[&Event]) -> Option<Finding> {
    let first = events.iter().filter_map(|e| when(e)).min_by_key(|t| t.0)?;
    let block = events.iter().find_map(|e| e.upstream()).map(lossless);
    Some(Finding::AllServersDown { block, at: rfc3339(first.0, first.1) })
}
