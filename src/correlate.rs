//! The join: each client-facing 5xx in the access logs gets the error-log lines that explain it.
//!
//! Exact when the access log has `$connection`: nginx writes the same number as `*CID` in the
//! error log, so lines join on (connection, request line) inside the request's time window.
//! Otherwise they join on (client address, request line, host) inside a window, nearest first.
//! Either way each error line is used once, the *last* failing attempt decides the cause, and a
//! line whose cause gives a different status than the client saw is taken only if nothing
//! consistent is there. Times: nginx writes the error line when the attempt fails and the access
//! line when the request ends, both from a clock cached at 1 s, so the window is
//! `[access − ⌈$request_time⌉ − 2 s, access + 1 s]` (a wide look-back when `$request_time` is not
//! logged).

use rustc_hash::FxHashMap;

use crate::access::attempts::{attempt_status, entries};
use crate::errorlog::{Cause, ErrorRecord, Role};
use crate::summary::{nginx_escape, Candidate};

/// How far back an error line may be when the access log has no `$request_time`: longer than
/// nginx's default timeouts (60 s connect + 60 s read) with a retry.
pub const DEFAULT_LOOKBACK: i64 = 180;
const SLACK_AFTER: i64 = 1;
const SLACK_BEFORE: i64 = 2;

/// How an event's error lines were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinMethod {
    /// `$connection` = `*CID`, plus the request line.
    Connection,
    /// Client address + request line (+ host) within a time window.
    Request,
    /// No error line: decided from the access log alone.
    None,
}

/// One upstream attempt of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub upstream: Option<Box<[u8]>>,
    pub status: Option<u16>,
    /// The cause of this attempt's failure, when it failed.
    pub cause: Option<Cause>,
}

/// A request whose upstream attempts failed, with its diagnosis.
#[derive(Clone, Debug)]
pub struct Event {
    pub request: Candidate,
    pub cause: Cause,
    /// The upstream of the last attempt (the one the client's status came from).
    pub upstream: Option<Box<[u8]>>,
    pub attempts: Vec<Attempt>,
    /// Indexes into the error records, in log order.
    pub evidence: Vec<usize>,
    pub join: JoinMethod,
}

impl Event {
    /// Whether the client saw this failure (a 5xx, or `009`), rather than a retry recovering.
    pub fn client_facing(&self) -> bool {
        crate::summary::is_failure_status(self.request.status)
    }
}

/// The result of the join.
#[derive(Debug, Default)]
pub struct Correlation {
    /// Every candidate, diagnosed: client-facing failures and recovered retries.
    pub events: Vec<Event>,
    /// Terminal error lines that no access record claimed, by index.
    pub unmatched: Vec<usize>,
}

struct ErrorIndex<'e> {
    records: &'e [ErrorRecord],
    /// UTC seconds of each record.
    utc: Vec<i64>,
    /// Requests escaped like access logs, per record.
    requests: Vec<Option<Vec<u8>>>,
    by_cid: FxHashMap<u64, Vec<usize>>,
    by_request: FxHashMap<(&'e [u8], Vec<u8>), Vec<usize>>,
    used: Vec<bool>,
}

impl<'e> ErrorIndex<'e> {
    fn new(records: &'e [ErrorRecord], utc_offset: i32) -> Self {
        let utc: Vec<i64> = records.iter().map(|r| r.local_time - i64::from(utc_offset)).collect();
        let requests: Vec<Option<Vec<u8>>> =
            records.iter().map(|r| r.request.as_deref().map(nginx_escape)).collect();
        let mut by_cid: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        let mut by_request: FxHashMap<(&[u8], Vec<u8>), Vec<usize>> = FxHashMap::default();
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| (utc[i], records[i].input, records[i].line));
        for &i in &order {
            let r = &records[i];
            if let Some(cid) = r.cid {
                by_cid.entry(cid).or_default().push(i);
            }
            if let (Some(client), Some(request)) = (r.client.as_deref(), &requests[i]) {
                by_request.entry((client, request.clone())).or_default().push(i);
            }
        }
        ErrorIndex { records, utc, requests, by_cid, by_request, used: vec![false; records.len()] }
    }

    /// Unused lines that may belong to `c`, and how they were found.
    fn pool(&self, c: &Candidate) -> (Vec<usize>, JoinMethod) {
        let Some(time) = c.time else { return (Vec::new(), JoinMethod::None) };
        let back = c.request_time.map_or(DEFAULT_LOOKBACK, |rt| rt.ceil() as i64) + SLACK_BEFORE;
        let in_window = |i: &usize| self.utc[*i] >= time - back && self.utc[*i] <= time + SLACK_AFTER;
        let same_request = |i: &usize| match (&self.requests[*i], &c.request) {
            (Some(a), Some(b)) => a[..] == b[..],
            _ => true,
        };
        if let Some(cid) = c.connection {
            let found: Vec<usize> = self
                .by_cid
                .get(&cid)
                .into_iter()
                .flatten()
                .copied()
                .filter(|i| !self.used[*i] && in_window(i) && same_request(i))
                .collect();
            return (found, JoinMethod::Connection);
        }
        let (Some(client), Some(request)) = (c.client.as_deref(), c.request.as_deref()) else {
            return (Vec::new(), JoinMethod::Request);
        };
        let same_host = |i: &usize| match (self.records[*i].host.as_deref(), c.host.as_deref()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        let found = self
            .by_request
            .get(&(client, request.to_vec()))
            .into_iter()
            .flatten()
            .copied()
            .filter(|i| !self.used[*i] && in_window(i) && same_host(i))
            .collect();
        (found, JoinMethod::Request)
    }

    /// The error lines of `c`: the terminal line that best explains its status, and the lines
    /// of the same request (same worker and `*CID`) before and after it.
    fn claim(&mut self, c: &Candidate) -> (Vec<usize>, JoinMethod) {
        let (pool, method) = self.pool(c);
        let terminal = |i: &&usize| self.records[**i].cause.role() == Role::Terminal;
        let consistent = |i: &usize| {
            let status = self.records[*i].cause.info().status;
            status.is_none() || status == Some(c.status) || !crate::summary::is_failure_status(c.status)
        };
        let nearest = |i: &usize| (consistent(i), self.utc[*i], self.records[*i].line);
        let Some(&last) = pool.iter().filter(terminal).max_by_key(|i| nearest(i)) else {
            return (Vec::new(), JoinMethod::None);
        };
        let anchor = &self.records[last];
        let mut claimed: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&i| {
                i == last
                    || (anchor.cid.is_some()
                        && self.records[i].cid == anchor.cid
                        && self.records[i].pid == anchor.pid
                        && self.records[i].input == anchor.input
                        && (self.records[i].line < anchor.line
                            || self.records[i].cause.role() == Role::Evidence))
            })
            .collect();
        claimed.sort_by_key(|&i| (self.records[i].input, self.records[i].line));
        for &i in &claimed {
            self.used[i] = true;
        }
        (claimed, method)
    }
}

/// Joins `candidates` (from every access input) with `errors` (from every error input).
/// `utc_offset` is the zone the error logs were written in, in seconds east of UTC.
pub fn correlate(mut candidates: Vec<Candidate>, errors: &[ErrorRecord], utc_offset: i32) -> Correlation {
    candidates.sort_by_key(|c| (c.time, c.input, c.line));
    let mut index = ErrorIndex::new(errors, utc_offset);
    let mut events = Vec::with_capacity(candidates.len());
    for c in candidates {
        let (evidence, method) = index.claim(&c);
        events.push(diagnose(c, evidence, method, errors));
    }
    let unmatched =
        (0..errors.len()).filter(|&i| !index.used[i] && errors[i].cause.role() == Role::Terminal).collect();
    Correlation { events, unmatched }
}

fn diagnose(c: Candidate, evidence: Vec<usize>, join: JoinMethod, errors: &[ErrorRecord]) -> Event {
    let terminals: Vec<&ErrorRecord> =
        evidence.iter().map(|&i| &errors[i]).filter(|r| r.cause.role() == Role::Terminal).collect();
    let attempts = attempts_of(&c, &terminals);
    let last_attempt = attempts.last();
    let cause = match terminals.last() {
        Some(line) => line.cause,
        None => match last_attempt.and_then(|a| a.status) {
            Some(s) if s == c.status => Cause::upstream_returned(s),
            _ => Cause::Unattributed,
        },
    };
    let upstream = last_attempt
        .and_then(|a| a.upstream.clone())
        .or_else(|| terminals.last().and_then(|r| r.peer.clone()));
    let join = if evidence.is_empty() { JoinMethod::None } else { join };
    Event { request: c, cause, upstream, attempts, evidence, join }
}

/// The attempts of a request: from `$upstream_addr`/`$upstream_status` when logged (error lines
/// assigned to failed attempts in order, by peer), else one attempt per terminal error line.
fn attempts_of(c: &Candidate, terminals: &[&ErrorRecord]) -> Vec<Attempt> {
    let Some(addrs) = c.upstream_addr.as_deref() else {
        return terminals
            .iter()
            .map(|r| Attempt {
                upstream: r.peer.clone(),
                status: r.cause.info().status,
                cause: Some(r.cause),
            })
            .collect();
    };
    let mut statuses = c.upstream_status.as_deref().map(entries);
    let mut lines = terminals.iter().peekable();
    let count = entries(addrs).count();
    entries(addrs)
        .enumerate()
        .map(|(i, addr)| {
            let status = statuses.as_mut().and_then(Iterator::next).and_then(attempt_status);
            // The last attempt decides the client's status even when nginx logged the
            // upstream's as 200 (a `009`: the backend did not speak HTTP).
            let failed = status.is_none_or(|s| s >= 500) || i + 1 == count;
            let cause = if failed {
                match lines.peek() {
                    Some(r) if r.peer.as_deref().is_none_or(|p| p == addr) => lines.next().map(|r| r.cause),
                    _ => status.filter(|s| *s >= 500).map(Cause::upstream_returned),
                }
            } else {
                None
            };
            Attempt { upstream: Some(addr.into()), status, cause }
        })
        .collect()
}
