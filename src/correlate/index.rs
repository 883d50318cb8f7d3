//! The error records indexed for the join, and how one request claims its lines.
//!
//! Built once per join without a heap allocation per record or per key: each index is one
//! array of record indexes sorted by (key, local time, input, line, index), and a map from the
//! key to its run in that array. Requests are kept escaped in one shared buffer. Claims mark
//! lines used through atomics, so requests whose keys cannot share a line (see
//! [`super::partition`]) are served on several threads at once with the same result.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{failed_attempts, lookback, request_key, with_last, JoinMethod, SLACK_AFTER, SLACK_BEFORE};
use crate::errorlog::{ErrorRecord, Role};
use crate::summary::{nginx_escape_into, Candidate};

/// Record indexes grouped by a `u64` key, each group sorted by (local time, input, line, index).
#[derive(Default)]
struct Groups {
    runs: FxHashMap<u64, Range<usize>>,
    order: Vec<usize>,
}

impl Groups {
    /// Groups the records `keyed` yields a key for.
    fn new(records: &[ErrorRecord], keyed: impl Fn(usize) -> Option<u64> + Sync) -> Groups {
        let mut entries: Vec<(u64, i64, usize, u64, usize)> = (0..records.len())
            .into_par_iter()
            .filter_map(|i| {
                keyed(i).map(|k| (k, records[i].local_time, records[i].input, records[i].line, i))
            })
            .collect();
        entries.par_sort_unstable();
        // Sized for a key per record (connections mostly fail once) so that it is never rehashed.
        let mut runs: FxHashMap<u64, Range<usize>> =
            FxHashMap::with_capacity_and_hasher(entries.len(), Default::default());
        for (at, e) in entries.iter().enumerate() {
            runs.entry(e.0).and_modify(|r| r.end = at + 1).or_insert(at..at + 1);
        }
        Groups { runs, order: entries.into_iter().map(|e| e.4).collect() }
    }

    fn get(&self, key: u64) -> &[usize] {
        self.runs.get(&key).map_or(&[][..], |r| &self.order[r.clone()])
    }
}

/// The key requests share lines by when they have no connection: client and request line
/// (without protocol), hashed; lines of keys that collide are told apart by comparing both.
pub(super) fn request_hash(client: &[u8], request: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((client, request))
}

pub(super) struct ErrorIndex<'e> {
    records: &'e [ErrorRecord],
    /// Each record's request line without protocol, escaped like access logs, in `escaped`.
    requests: Vec<Option<Range<usize>>>,
    escaped: Vec<u8>,
    by_cid: Groups,
    by_request: Groups,
    used: Vec<AtomicBool>,
    /// The zone of the error logs when the user said it; otherwise each access record's own
    /// offset is used, which keeps the join right across a daylight-saving change.
    forced_offset: Option<i32>,
}

impl<'e> ErrorIndex<'e> {
    pub(super) fn new(records: &'e [ErrorRecord], forced_offset: Option<i32>) -> Self {
        let mut escaped = Vec::new();
        let requests: Vec<Option<Range<usize>>> = records
            .iter()
            .map(|r| {
                let start = escaped.len();
                r.request().map(|q| {
                    nginx_escape_into(request_key(q), &mut escaped);
                    start..escaped.len()
                })
            })
            .collect();
        let by_cid = Groups::new(records, |i| records[i].cid());
        let by_request = Groups::new(records, |i| {
            let (client, request) = (records[i].client()?, requests[i].clone()?);
            Some(request_hash(client, &escaped[request]))
        });
        let used = records.iter().map(|_| AtomicBool::new(false)).collect();
        ErrorIndex { records, requests, escaped, by_cid, by_request, used, forced_offset }
    }

    /// Whether a request claimed record `i`.
    pub(super) fn used(&self, i: usize) -> bool {
        self.used[i].load(Ordering::Relaxed)
    }

    fn request(&self, i: usize) -> Option<&[u8]> {
        self.requests[i].clone().map(|r| &self.escaped[r])
    }

    /// The access time of `c` on the error log's clock (local wall-clock seconds).
    fn local_time(&self, c: &Candidate) -> Option<i64> {
        Some(c.time? + i64::from(self.forced_offset.unwrap_or(c.offset)))
    }

    /// The part of a key's time-sorted list inside `[lo, hi]`, found by binary search so a key
    /// shared by many requests (one client behind a load balancer) costs a window, not a scan.
    fn window<'l>(&self, list: &'l [usize], lo: i64, hi: i64) -> &'l [usize] {
        let start = list.partition_point(|&i| self.records[i].local_time < lo);
        let end = list.partition_point(|&i| self.records[i].local_time <= hi);
        &list[start..end.max(start)]
    }

    /// Unused lines that may belong to `c`, in time order, into `pool`; how they were found.
    fn pool(&self, c: &Candidate, pool: &mut Vec<usize>) -> JoinMethod {
        pool.clear();
        let Some(time) = self.local_time(c) else { return JoinMethod::None };
        let (lo, hi) = (time.saturating_sub(lookback(c)), time.saturating_add(SLACK_AFTER));
        let key = c.request().map(request_key);
        let same_source = |i: usize| same_source(&self.records[i].source, &c.source);
        if let Some(cid) = c.connection {
            let same_request = |i: usize| match (self.request(i), key) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            pool.extend(
                self.window(self.by_cid.get(cid), lo, hi)
                    .iter()
                    .copied()
                    .filter(|&i| !self.used(i) && same_request(i) && same_source(i)),
            );
            return JoinMethod::Connection;
        }
        let (Some(client), Some(key)) = (c.client(), key) else { return JoinMethod::Request };
        let same_key = |i: usize| self.records[i].client() == Some(client) && self.request(i) == Some(key);
        let same_host = |i: usize| match (self.records[i].host(), c.host()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        pool.extend(
            self.window(self.by_request.get(request_hash(client, key)), lo, hi)
                .iter()
                .copied()
                .filter(|&i| !self.used(i) && same_key(i) && same_host(i) && same_source(i)),
        );
        JoinMethod::Request
    }

    /// The error lines of `c`; `pool` is scratch space kept between calls.
    ///
    /// Candidates come in time order and a key's requests are served one after another, so each
    /// takes the *oldest* fitting lines: lines at or before its access time before those in the
    /// one-second slack after it (which belong to the next request more often than not), and
    /// lines whose cause gives the status the client saw before others. When `$upstream_addr`
    /// and `$upstream_status` are logged, exactly one line is taken per failed attempt, matched
    /// by peer; otherwise one terminal line, with the earlier lines of the same request (same
    /// worker and `*CID`) as its attempt chain. Later lines of that connection up to the access
    /// time are retries of the same request too (`connect_refused` then `no_live_upstreams`),
    /// unless `waiting` more requests with this key, served by then, still need a line each.
    pub(super) fn claim(
        &self,
        c: &Candidate,
        waiting: usize,
        pool: &mut Vec<usize>,
    ) -> (Vec<usize>, JoinMethod) {
        let method = self.pool(c, pool);
        let pool = &pool[..];
        let Some(time) = self.local_time(c) else { return (Vec::new(), JoinMethod::None) };
        let is_terminal = |i: usize| self.records[i].cause.role() == Role::Terminal;
        let fits = |i: usize| {
            let status = self.records[i].cause.info().status;
            let consistent =
                status.is_none() || status == Some(c.status) || !crate::summary::is_failure_status(c.status);
            (self.records[i].local_time > time, !consistent, self.records[i].local_time, self.records[i].line)
        };
        // The last attempt fails moments before the access line is written: an older line can only
        // be an earlier attempt, never the one that decided the client's status.
        let stale = |i: usize| self.records[i].local_time < time.saturating_sub(SLACK_BEFORE);
        let mut claimed: Vec<usize> = Vec::new();
        match failed_attempts(c) {
            Some(attempts) => {
                for (last, (peer, status)) in with_last(attempts) {
                    let found = pool
                        .iter()
                        .copied()
                        .filter(|&i| is_terminal(i) && !claimed.contains(&i) && !(last && stale(i)))
                        // A line after the access time is the next request's when one is queued.
                        .filter(|&i| waiting == 0 || self.records[i].local_time <= time)
                        .filter(|&i| self.records[i].peer().is_none_or(|p| p == peer))
                        .filter(|&i| {
                            let gives = self.records[i].cause.info().status;
                            status.is_none() || gives.is_none() || gives == status
                        })
                        .min_by_key(|&i| fits(i));
                    claimed.extend(found);
                }
            }
            None => {
                // Lines after the access time that are not this request's belong to the
                // requests queued behind it.
                let later =
                    pool.iter().filter(|&&i| is_terminal(i) && self.records[i].local_time > time).count();
                let waiting = waiting.saturating_sub(later);
                if let Some(anchor) =
                    pool.iter().copied().filter(|&i| is_terminal(i) && !stale(i)).min_by_key(|&i| fits(i))
                {
                    let a = &self.records[anchor];
                    let same_request = |i: usize| {
                        let r = &self.records[i];
                        i != anchor
                            && a.cid().is_some()
                            && (r.cid(), r.pid, r.input, &r.source) == (a.cid(), a.pid, a.input, &a.source)
                    };
                    claimed.push(anchor);
                    claimed.extend(
                        pool.iter().copied().filter(|&i| same_request(i) && self.records[i].line < a.line),
                    );
                    let retry = |i: &usize| {
                        same_request(*i)
                            && is_terminal(*i)
                            && self.records[*i].line > a.line
                            && self.records[*i].local_time <= time
                    };
                    let retries = pool.iter().filter(|i| retry(i)).count();
                    claimed.extend(pool.iter().copied().filter(retry).take(retries.saturating_sub(waiting)));
                }
            }
        }
        let Some(&last) = claimed.iter().max_by_key(|&&i| (self.records[i].input, self.records[i].line))
        else {
            return (Vec::new(), JoinMethod::None);
        };
        // Context lines of the same request: FastCGI stderr before it, a peer being disabled
        // right after it.
        let anchor = &self.records[last];
        claimed.extend(pool.iter().copied().filter(|&i| {
            let r = &self.records[i];
            r.cause.role() == Role::Evidence
                && anchor.cid().is_some()
                && (r.cid(), r.pid, r.input, &r.source)
                    == (anchor.cid(), anchor.pid, anchor.input, &anchor.source)
                && r.local_time <= anchor.local_time + SLACK_AFTER
        }));
        claimed.sort_by_key(|&i| (self.records[i].input, self.records[i].line));
        claimed.dedup();
        for &i in &claimed {
            self.used[i].store(true, Ordering::Relaxed);
        }
        (claimed, method)
    }
}

/// Whether two lines may come from the same nginx: only lines that both name their source
/// (a container, pod or host in a stream) can be told apart, so an unnamed side joins any.
fn same_source(a: &Option<Box<str>>, b: &Option<Box<str>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}
