//! The error records indexed for the join, and how one request claims its lines.
//!
//! Built once per join without a heap allocation per record or per key: each index is one
//! array of record indexes sorted by (key, local time, input, line, index), and a map from the
//! key to its run in that array. Indexes are 32-bit, as the index is held for every error
//! record a run keeps (several hundred thousand in an incident's log): 4 bytes a record in each
//! array, not 8. Claims mark lines used through atomics, so requests whose keys cannot share a
//! line (see [`super::partition`]) are served on several threads at once with the same result.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::group::Grouped;
use super::{failed_attempts, lookback, request_key, with_last, JoinMethod, SLACK_AFTER, SLACK_BEFORE};
use crate::errorlog::{ErrorRecord, Role};
use crate::summary::{all_plain, nginx_escape_into, Candidate};

/// How many records the index holds: the first `u32::MAX`. Reading more would take hundreds
/// of gigabytes (each record is over 100 bytes before its text), so only hostile sizes get
/// here; the records past it are then never claimed, and count as lines no request claimed.
fn indexed(records: &[ErrorRecord]) -> u32 {
    u32::try_from(records.len()).unwrap_or(u32::MAX)
}

/// The first `count` record indexes in (local time, input, line, index) order: the order each
/// key's lines are listed in. Error logs are written nearly in time order, one after another
/// (and the lines carried from before after them), so a stable sort finds long sorted runs.
fn in_time_order(records: &[ErrorRecord], count: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_by_key(|&i| {
        let r = &records[i as usize];
        (r.local_time, r.input, r.line)
    });
    order
}

/// Record indexes grouped by a `u64` key, each group sorted by (local time, input, line, index).
#[derive(Default)]
struct Groups {
    /// Each key's run in `order`: where it starts and ends.
    runs: FxHashMap<u64, (u32, u32)>,
    order: Vec<u32>,
}

impl Groups {
    /// Groups the records of `time_order` (see [`in_time_order`]) that `keyed` yields a key
    /// for: numbered by key in a first pass, then put in place by number, so each key's run
    /// keeps the time order.
    fn new(time_order: &[u32], keyed: impl Fn(usize) -> Option<u64> + Sync) -> Groups {
        let keys: Vec<Option<u64>> = time_order.par_iter().map(|&i| keyed(i as usize)).collect();
        let keyed = keys.iter().flatten().count();
        // Sized for a key per record, so that it is never rehashed while it fills (keys that
        // repeat leave some of it empty). Each key's number is kept in its run's start until
        // the runs are known.
        let mut runs: FxHashMap<u64, (u32, u32)> =
            FxHashMap::with_capacity_and_hasher(keyed, Default::default());
        let mut numbered: Vec<(usize, u32)> = Vec::with_capacity(keyed);
        for (&i, key) in time_order.iter().zip(keys) {
            let Some(key) = key else { continue };
            let next = runs.len() as u32;
            numbered.push((runs.entry(key).or_insert((next, 0)).0 as usize, i));
        }
        let grouped = Grouped::new(&numbered, runs.len());
        // `time_order` holds at most `u32::MAX` records, so every bound fits.
        for (start, end) in runs.values_mut() {
            let number = *start as usize;
            (*start, *end) = (grouped.bounds[number] as u32, grouped.bounds[number + 1] as u32);
        }
        Groups { runs, order: grouped.values }
    }

    fn get(&self, key: u64) -> &[u32] {
        self.runs.get(&key).map_or(&[][..], |&(start, end)| &self.order[start as usize..end as usize])
    }
}

/// The key requests share lines by when they have no connection: client and request line
/// (without protocol), hashed; lines of keys that collide are told apart by comparing both.
pub(super) fn request_hash(client: &[u8], request: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((client, request))
}

/// The [`request_hash`] a request looks its lines up by when it has no connection (and both
/// a client and a request line); `None` otherwise.
pub(super) fn request_hash_of(c: &Candidate) -> Option<u64> {
    match (c.connection, c.client(), c.request()) {
        (None, Some(client), Some(request)) => Some(request_hash(client, request_key(request))),
        _ => None,
    }
}

/// The request lines of the error records as access logs write them (without protocol). nginx
/// escapes a quote, a backslash and bytes outside printable ASCII in access logs but not in
/// error logs; nearly no request line has one, so only those that do are kept escaped, and
/// every other one is read from its record, cut where its protocol begins (found once here,
/// as each line is read several times while the index is built and used).
#[derive(Default)]
struct Requests {
    /// Each indexed record's request line when it is read from the record: its length there.
    /// `None` for a record without one, or whose line is kept escaped.
    plain: Vec<Option<u32>>,
    /// Record index to its escaped request line in `text`.
    escaped: FxHashMap<u32, (usize, usize)>,
    text: Vec<u8>,
}

impl Requests {
    fn new(records: &[ErrorRecord], count: u32) -> Requests {
        let mut requests = Requests { plain: Vec::with_capacity(count as usize), ..Requests::default() };
        for (i, r) in (0..count).zip(records) {
            let Some(key) = r.request().map(request_key) else {
                requests.plain.push(None);
                continue;
            };
            // A line too long for a `u32` (no error log has one) is kept escaped, as one that
            // escaping changes is.
            let plain = u32::try_from(key.len()).ok().filter(|_| all_plain(key));
            if plain.is_none() {
                let start = requests.text.len();
                nginx_escape_into(key, &mut requests.text);
                requests.escaped.insert(i, (start, requests.text.len()));
            }
            requests.plain.push(plain);
        }
        requests
    }

    fn get<'r>(&'r self, records: &'r [ErrorRecord], i: usize) -> Option<&'r [u8]> {
        // Most logs have no line to escape: their lines are read without a lookup. `i` is an
        // indexed record's, so below `u32::MAX`.
        match self.plain.get(i).copied().flatten() {
            Some(len) => records.get(i)?.request()?.get(..len as usize),
            None if self.escaped.is_empty() => None,
            None => self.escaped.get(&(i as u32)).map(|&(start, end)| &self.text[start..end]),
        }
    }
}

pub(super) struct ErrorIndex<'e> {
    records: &'e [ErrorRecord],
    requests: Requests,
    by_cid: Groups,
    by_request: Groups,
    used: Vec<AtomicBool>,
    /// The zone of the error logs when the user said it; otherwise each access record's own
    /// offset is used, which keeps the join right across a daylight-saving change.
    forced_offset: Option<i32>,
}

impl<'e> ErrorIndex<'e> {
    /// The index of `records` for `candidates`: a request that logs its connection looks its
    /// lines up by `*CID`, any other by client and request line, so only the groups some
    /// candidate looks in are built (an access log logs `$connection` on every line or on none).
    pub(super) fn new(
        records: &'e [ErrorRecord],
        forced_offset: Option<i32>,
        candidates: &[Candidate],
    ) -> Self {
        let count = indexed(records);
        let requests = Requests::new(records, count);
        let time_order = in_time_order(records, count);
        let by_cid = if candidates.iter().any(|c| c.connection.is_some()) {
            Groups::new(&time_order, |i| records[i].cid())
        } else {
            Groups::default()
        };
        let by_request = if candidates.iter().any(|c| c.connection.is_none()) {
            Groups::new(&time_order, |i| Some(request_hash(records[i].client()?, requests.get(records, i)?)))
        } else {
            Groups::default()
        };
        let used = (0..count).map(|_| AtomicBool::new(false)).collect();
        ErrorIndex { records, requests, by_cid, by_request, used, forced_offset }
    }

    /// Whether a request claimed record `i`.
    pub(super) fn used(&self, i: usize) -> bool {
        self.used.get(i).is_some_and(|u| u.load(Ordering::Relaxed))
    }

    /// Record `i` of the index (every index it hands out is below `records.len()`).
    fn record(&self, i: u32) -> &'e ErrorRecord {
        &self.records[i as usize]
    }

    fn request(&self, i: u32) -> Option<&[u8]> {
        self.requests.get(self.records, i as usize)
    }

    /// The access time of `c` on the error log's clock (local wall-clock seconds).
    fn local_time(&self, c: &Candidate) -> Option<i64> {
        Some(c.time? + i64::from(self.forced_offset.unwrap_or(c.offset)))
    }

    /// The part of a key's time-sorted list inside `[lo, hi]`, found by binary search so a key
    /// shared by many requests (one client behind a load balancer) costs a window, not a scan.
    fn window<'l>(&self, list: &'l [u32], lo: i64, hi: i64) -> &'l [u32] {
        let start = list.partition_point(|&i| self.record(i).local_time < lo);
        let end = list.partition_point(|&i| self.record(i).local_time <= hi);
        &list[start..end.max(start)]
    }

    /// Unused lines that may belong to `c`, in time order, into `pool`; how they were found.
    /// `hash` is `c`'s [`request_hash_of`].
    fn pool(&self, c: &Candidate, hash: Option<u64>, pool: &mut Vec<u32>) -> JoinMethod {
        pool.clear();
        let Some(time) = self.local_time(c) else { return JoinMethod::None };
        let (lo, hi) = (time.saturating_sub(lookback(c)), time.saturating_add(SLACK_AFTER));
        let key = c.request().map(request_key);
        let unused = |i: u32| !self.used[i as usize].load(Ordering::Relaxed);
        let same_source = |i: u32| same_source(&self.record(i).source, &c.source);
        if let Some(cid) = c.connection {
            let same_request = |i: u32| match (self.request(i), key) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            pool.extend(
                self.window(self.by_cid.get(cid), lo, hi)
                    .iter()
                    .copied()
                    .filter(|&i| unused(i) && same_request(i) && same_source(i)),
            );
            return JoinMethod::Connection;
        }
        let (Some(client), Some(key), Some(hash)) = (c.client(), key, hash) else {
            return JoinMethod::Request;
        };
        let same_key = |i: u32| self.record(i).client() == Some(client) && self.request(i) == Some(key);
        let same_host = |i: u32| match (self.record(i).host(), c.host()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        pool.extend(
            self.window(self.by_request.get(hash), lo, hi)
                .iter()
                .copied()
                .filter(|&i| unused(i) && same_key(i) && same_host(i) && same_source(i)),
        );
        JoinMethod::Request
    }

    /// The error lines of `c` into `claimed`, in log order, and how they were found; `hash` is
    /// `c`'s [`request_hash_of`], and `pool` scratch space kept between calls, as `claimed` is.
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
        hash: Option<u64>,
        waiting: usize,
        pool: &mut Vec<u32>,
        claimed: &mut Vec<u32>,
    ) -> JoinMethod {
        claimed.clear();
        let method = self.pool(c, hash, pool);
        let pool = &pool[..];
        // Nothing to claim (a request no error line explains, or one without a time): its
        // attempt lists are not read.
        let (false, Some(time)) = (pool.is_empty(), self.local_time(c)) else { return JoinMethod::None };
        let is_terminal = |i: u32| self.record(i).cause.role() == Role::Terminal;
        let fits = |i: u32| {
            let r = self.record(i);
            let status = r.cause.info().status;
            let consistent =
                status.is_none() || status == Some(c.status) || !crate::summary::is_failure_status(c.status);
            (r.local_time > time, !consistent, r.local_time, r.line)
        };
        // The last attempt fails moments before the access line is written: an older line can only
        // be an earlier attempt, never the one that decided the client's status.
        let stale = |i: u32| self.record(i).local_time < time.saturating_sub(SLACK_BEFORE);
        match failed_attempts(c) {
            Some(attempts) => {
                for (last, (peer, status)) in with_last(attempts) {
                    let found = pool
                        .iter()
                        .copied()
                        .filter(|&i| is_terminal(i) && !claimed.contains(&i) && !(last && stale(i)))
                        // A line after the access time is the next request's when one is queued.
                        .filter(|&i| waiting == 0 || self.record(i).local_time <= time)
                        .filter(|&i| self.record(i).peer().is_none_or(|p| p == peer))
                        .filter(|&i| {
                            let gives = self.record(i).cause.info().status;
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
                    pool.iter().filter(|&&i| is_terminal(i) && self.record(i).local_time > time).count();
                let waiting = waiting.saturating_sub(later);
                if let Some(anchor) =
                    pool.iter().copied().filter(|&i| is_terminal(i) && !stale(i)).min_by_key(|&i| fits(i))
                {
                    let a = self.record(anchor);
                    let same_request = |i: u32| {
                        let r = self.record(i);
                        i != anchor
                            && a.cid().is_some()
                            && (r.cid(), r.pid, r.input, &r.source) == (a.cid(), a.pid, a.input, &a.source)
                    };
                    claimed.push(anchor);
                    claimed.extend(
                        pool.iter().copied().filter(|&i| same_request(i) && self.record(i).line < a.line),
                    );
                    let retry = |i: &u32| {
                        same_request(*i)
                            && is_terminal(*i)
                            && self.record(*i).line > a.line
                            && self.record(*i).local_time <= time
                    };
                    let retries = pool.iter().filter(|i| retry(i)).count();
                    claimed.extend(pool.iter().copied().filter(retry).take(retries.saturating_sub(waiting)));
                }
            }
        }
        let Some(&last) = claimed.iter().max_by_key(|&&i| (self.record(i).input, self.record(i).line)) else {
            return JoinMethod::None;
        };
        // Context lines of the same request: FastCGI stderr before it, a peer being disabled
        // right after it.
        let anchor = self.record(last);
        claimed.extend(pool.iter().copied().filter(|&i| {
            let r = self.record(i);
            r.cause.role() == Role::Evidence
                && anchor.cid().is_some()
                && (r.cid(), r.pid, r.input, &r.source)
                    == (anchor.cid(), anchor.pid, anchor.input, &anchor.source)
                && r.local_time <= anchor.local_time + SLACK_AFTER
        }));
        claimed.sort_by_key(|&i| (self.record(i).input, self.record(i).line));
        claimed.dedup();
        for &i in claimed.iter() {
            self.used[i as usize].store(true, Ordering::Relaxed);
        }
        method
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errorlog::{parse_line, Cause};

    fn record(input: usize, line: u64, time: &str, cid: u64, request: &str) -> ErrorRecord {
        let text = format!(
            "2024/05/14 10:22:{time} [error] 1#1: *{cid} upstream timed out (110: Connection timed out) \
             while reading response header from upstream, client: 10.0.0.1, server: a, request: \"{request}\""
        );
        parse_line(text.as_bytes()).unwrap().to_record(input, line, Cause::ReadTimeout)
    }

    #[test]
    fn a_key_lists_its_records_by_time_input_and_line() {
        let records = [
            record(0, 5, "31", 7, "GET /a HTTP/1.1"),
            record(0, 6, "30", 8, "GET /a HTTP/1.1"),
            record(1, 2, "31", 7, "GET /a HTTP/1.1"),
            record(0, 3, "31", 7, "GET /a HTTP/1.1"),
            record(0, 1, "32", 7, "GET /a HTTP/1.1"),
        ];
        let by_cid = Groups::new(&in_time_order(&records, indexed(&records)), |i| records[i].cid());
        assert_eq!(by_cid.get(7), [3, 0, 2, 4]);
        assert_eq!(by_cid.get(8), [1]);
        assert!(by_cid.get(9).is_empty());
        assert_eq!(by_cid.runs.len(), 2);
    }

    #[test]
    fn only_the_groups_requests_look_in_are_built() {
        let records = [record(0, 1, "30", 7, "GET /a HTTP/1.1")];
        let candidate = |connection| Candidate {
            input: 0,
            line: 0,
            time: Some(0),
            offset: 0,
            status: 502,
            connection,
            request_time: None,
            text: crate::summary::CandidateText::default(),
            source: None,
        };
        let built = |index: ErrorIndex<'_>| (index.by_cid.runs.len(), index.by_request.runs.len());
        assert_eq!(built(ErrorIndex::new(&records, None, &[candidate(Some(7))])), (1, 0));
        assert_eq!(built(ErrorIndex::new(&records, None, &[candidate(None)])), (0, 1));
        assert_eq!(built(ErrorIndex::new(&records, None, &[candidate(Some(7)), candidate(None)])), (1, 1));
    }

    #[test]
    fn a_request_with_no_line_in_its_window_claims_nothing() {
        let records = [record(0, 1, "30", 7, "GET /a HTTP/1.1")];
        let at = |time: i64| Candidate {
            input: 0,
            line: 0,
            time: Some(time),
            offset: 0,
            status: 504,
            connection: Some(7),
            request_time: Some(1.0),
            text: crate::summary::CandidateText::new(&crate::summary::TextFields {
                request: Some(b"GET /a HTTP/1.1"),
                upstream_addr: Some(b"10.0.0.2:80"),
                upstream_status: Some(b"504"),
                ..Default::default()
            }),
            source: None,
        };
        let line_time = records[0].local_time;
        let (too_late, in_time) = (at(line_time + 60), at(line_time));
        let index = ErrorIndex::new(&records, None, &[too_late.clone(), in_time.clone()]);
        let (mut pool, mut claimed) = (Vec::new(), vec![9]);
        assert_eq!(index.claim(&too_late, None, 0, &mut pool, &mut claimed), JoinMethod::None);
        assert!(claimed.is_empty() && !index.used(0));
        assert_eq!(index.claim(&in_time, None, 0, &mut pool, &mut claimed), JoinMethod::Connection);
        assert_eq!(claimed, [0]);
        assert!(index.used(0));
        let mut untimed = in_time;
        untimed.time = None;
        assert_eq!(index.claim(&untimed, None, 0, &mut pool, &mut claimed), JoinMethod::None);
        assert!(claimed.is_empty());
    }

    #[test]
    fn request_lines_read_as_access_logs_write_them() {
        let records = [
            record(0, 1, "30", 1, "GET /plain HTTP/1.1"),
            record(0, 2, "30", 2, "GET /q\"uote\\d HTTP/1.1"),
            record(0, 3, "30", 3, "GET /caf\u{e9} HTTP/1.1"),
            parse_line(b"2024/05/14 10:22:30 [error] 1#1: *4 upstream timed out (110: Connection timed out)")
                .unwrap()
                .to_record(0, 4, Cause::ReadTimeout),
        ];
        let requests = Requests::new(&records, indexed(&records));
        let got: Vec<_> = (0..4).map(|i| requests.get(&records, i)).collect();
        assert_eq!(
            got,
            [
                Some(&b"GET /plain"[..]),
                Some(&br#"GET /q\x22uote\x5Cd"#[..]),
                Some(&br"GET /caf\xC3\xA9"[..]),
                None
            ]
        );
        assert_eq!(requests.plain, [Some(10), None, None, None]);
        assert_eq!(requests.escaped.len(), 2, "a plain line is read from its record");
    }
}
