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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinMethod {
    /// `$connection` = `*CID`, plus the request line.
    Connection,
    /// Client address + request line (+ host) within a time window.
    Request,
    /// No error line: decided from the access log alone.
    None,
}

impl JoinMethod {
    /// The name the JSON report and the tables write.
    pub fn name(self) -> &'static str {
        match self {
            JoinMethod::Connection => "connection",
            JoinMethod::Request => "request",
            JoinMethod::None => "none",
        }
    }
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
    /// Requests escaped like access logs, per record.
    requests: Vec<Option<Vec<u8>>>,
    /// Record indexes per key, sorted by (local time, input, line).
    by_cid: FxHashMap<u64, Vec<usize>>,
    by_request: FxHashMap<(&'e [u8], Vec<u8>), Vec<usize>>,
    used: Vec<bool>,
    /// The zone of the error logs when the user said it; otherwise each access record's own
    /// offset is used, which keeps the join right across a daylight-saving change.
    forced_offset: Option<i32>,
}

/// The part of a request line the join compares: method and URI. The protocol is left out, as
/// formats that log `$request_method` and `$request_uri` apart (Nginx Proxy Manager) lack it.
fn request_key(request: &[u8]) -> &[u8] {
    static PROTOCOL: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new(b" HTTP/"));
    PROTOCOL.rfind(request).map_or(request, |i| &request[..i])
}

/// How far back, in seconds, a request's error lines may be: its `$request_time` (bounded, as
/// logs are attacker-reachable) plus the clocks' slack.
fn lookback(c: &Candidate) -> i64 {
    c.request_time.map_or(DEFAULT_LOOKBACK, |rt| rt.min(86_400.0).ceil() as i64) + SLACK_BEFORE
}

impl<'e> ErrorIndex<'e> {
    fn new(records: &'e [ErrorRecord], forced_offset: Option<i32>) -> Self {
        let requests: Vec<Option<Vec<u8>>> =
            records.iter().map(|r| r.request().map(|q| nginx_escape(request_key(q)))).collect();
        let mut by_cid: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        let mut by_request: FxHashMap<(&[u8], Vec<u8>), Vec<usize>> = FxHashMap::default();
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| (records[i].local_time, records[i].input, records[i].line));
        for &i in &order {
            let r = &records[i];
            if let Some(cid) = r.cid {
                by_cid.entry(cid).or_default().push(i);
            }
            if let (Some(client), Some(request)) = (r.client(), &requests[i]) {
                by_request.entry((client, request.clone())).or_default().push(i);
            }
        }
        ErrorIndex { records, requests, by_cid, by_request, used: vec![false; records.len()], forced_offset }
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

    /// Unused lines that may belong to `c`, in time order, and how they were found.
    fn pool(&self, c: &Candidate) -> (Vec<usize>, JoinMethod) {
        let Some(time) = self.local_time(c) else { return (Vec::new(), JoinMethod::None) };
        let (lo, hi) = (time.saturating_sub(lookback(c)), time.saturating_add(SLACK_AFTER));
        let same_request = |i: &usize| {
            let same = match (&self.requests[*i], &c.request) {
                (Some(a), Some(b)) => a[..] == *request_key(b),
                _ => true,
            };
            same && same_source(&self.records[*i].source, &c.source)
        };
        if let Some(cid) = c.connection {
            let list = self.by_cid.get(&cid).map_or(&[][..], Vec::as_slice);
            let found = self
                .window(list, lo, hi)
                .iter()
                .copied()
                .filter(|i| !self.used[*i] && same_request(i))
                .collect();
            return (found, JoinMethod::Connection);
        }
        let (Some(client), Some(request)) = (c.client.as_deref(), c.request.as_deref()) else {
            return (Vec::new(), JoinMethod::Request);
        };
        let same_host = |i: &usize| {
            let same = match (self.records[*i].host(), c.host.as_deref()) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => true,
            };
            same && same_source(&self.records[*i].source, &c.source)
        };
        let list =
            self.by_request.get(&(client, request_key(request).to_vec())).map_or(&[][..], Vec::as_slice);
        let found =
            self.window(list, lo, hi).iter().copied().filter(|i| !self.used[*i] && same_host(i)).collect();
        (found, JoinMethod::Request)
    }

    /// The error lines of `c`.
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
    fn claim(&mut self, c: &Candidate, waiting: usize) -> (Vec<usize>, JoinMethod) {
        let (pool, method) = self.pool(c);
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
                let count = attempts.len();
                for (k, (peer, status)) in attempts.into_iter().enumerate() {
                    let found = pool
                        .iter()
                        .copied()
                        .filter(|&i| is_terminal(i) && !claimed.contains(&i) && !(k + 1 == count && stale(i)))
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
                            && a.cid.is_some()
                            && (r.cid, r.pid, r.input, &r.source) == (a.cid, a.pid, a.input, &a.source)
                    };
                    claimed.push(anchor);
                    claimed.extend(
                        pool.iter().copied().filter(|&i| same_request(i) && self.records[i].line < a.line),
                    );
                    let retries: Vec<usize> = pool
                        .iter()
                        .copied()
                        .filter(|&i| {
                            same_request(i)
                                && is_terminal(i)
                                && self.records[i].line > a.line
                                && self.records[i].local_time <= time
                        })
                        .collect();
                    claimed.extend(retries.iter().take(retries.len().saturating_sub(waiting)));
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
                && anchor.cid.is_some()
                && (r.cid, r.pid, r.input, &r.source)
                    == (anchor.cid, anchor.pid, anchor.input, &anchor.source)
                && r.local_time <= anchor.local_time + SLACK_AFTER
        }));
        claimed.sort_by_key(|&i| (self.records[i].input, self.records[i].line));
        claimed.dedup();
        for &i in &claimed {
            self.used[i] = true;
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

/// The failed attempts, in order, when the access log lists the attempts and their statuses:
/// each attempt's peer and the status its error line must give (`None`: any). An attempt failed
/// when its status is a 5xx or missing, and the last attempt also when the client got a failure
/// status (a `009` logs the upstream's 200; its line gives the client's status).
fn failed_attempts(c: &Candidate) -> Option<Vec<(&[u8], Option<u16>)>> {
    let (addrs, statuses) = (c.upstream_addr.as_deref()?, c.upstream_status.as_deref()?);
    let count = entries(addrs).count();
    Some(
        entries(addrs)
            .zip(entries(statuses).map(attempt_status).chain(std::iter::repeat(None)))
            .enumerate()
            .filter_map(|(i, (addr, status))| match status {
                None => Some((addr, None)),
                Some(s) if s >= 500 => Some((addr, Some(s))),
                Some(_) if i + 1 == count && crate::summary::is_failure_status(c.status) => {
                    Some((addr, Some(c.status)))
                }
                Some(_) => None,
            })
            .collect(),
    )
}

/// What requests share error lines by: the connection when logged, else client and request.
#[derive(Clone, PartialEq, Eq, Hash)]
enum JoinKey {
    /// A connection carries many requests (keep-alive, HTTP/2): only the same request line
    /// competes for the same lines.
    Connection(u64, Option<Box<[u8]>>, Option<Box<str>>),
    Request(Option<Box<[u8]>>, Option<Box<[u8]>>, Option<Box<str>>),
}

impl JoinKey {
    fn of(c: &Candidate) -> JoinKey {
        match c.connection {
            Some(cid) => JoinKey::Connection(cid, c.request.clone(), c.source.clone()),
            None => JoinKey::Request(c.client.clone(), c.request.clone(), c.source.clone()),
        }
    }
}

/// Joins `candidates` (from every access input) with `errors` (from every error input).
/// `forced_offset` is the error logs' zone when the user gave it (`--error-log-offset`);
/// otherwise each access record is compared in its own offset.
pub fn correlate(
    mut candidates: Vec<Candidate>,
    errors: &[ErrorRecord],
    forced_offset: Option<i32>,
) -> Correlation {
    let terminal = |i: &usize| errors[*i].cause.role() == Role::Terminal;
    if candidates.is_empty() {
        // An error log alone: no request claims a line, so no index is built.
        return Correlation { events: Vec::new(), unmatched: (0..errors.len()).filter(terminal).collect() };
    }
    candidates.sort_by_key(|c| (c.time, c.input, c.line));
    let mut index = ErrorIndex::new(errors, forced_offset);
    // The access times of the requests still to be served, per join key.
    let mut queued: FxHashMap<JoinKey, std::collections::VecDeque<Option<i64>>> = FxHashMap::default();
    for c in &candidates {
        queued.entry(JoinKey::of(c)).or_default().push_back(c.time);
    }
    let mut events = Vec::with_capacity(candidates.len());
    for c in candidates {
        let waiting = queued.get_mut(&JoinKey::of(&c)).map_or(0, |times| {
            times.pop_front();
            times.iter().take_while(|t| t.zip(c.time).is_some_and(|(t, now)| t <= now + SLACK_AFTER)).count()
        });
        let (evidence, method) = index.claim(&c, waiting);
        events.push(diagnose(c, evidence, method, errors));
    }
    let unmatched = (0..errors.len()).filter(|i| !index.used[*i] && terminal(i)).collect();
    Correlation { events, unmatched }
}

fn diagnose(c: Candidate, evidence: Vec<usize>, join: JoinMethod, errors: &[ErrorRecord]) -> Event {
    let terminals: Vec<&ErrorRecord> =
        evidence.iter().map(|&i| &errors[i]).filter(|r| r.cause.role() == Role::Terminal).collect();
    let attempts = attempts_of(&c, &terminals);
    let last_attempt = attempts.last();
    // The last attempt decides the client's status, so its failure is the cause.
    let cause = match (last_attempt.and_then(|a| a.cause), terminals.last()) {
        (Some(cause), _) if c.upstream_status.is_some() => cause,
        (_, Some(line)) => line.cause,
        _ => match last_attempt.and_then(|a| a.status) {
            Some(s) if s == c.status => Cause::upstream_returned(s),
            _ => Cause::Unattributed,
        },
    };
    let upstream = last_attempt
        .and_then(|a| a.upstream.clone())
        .or_else(|| terminals.last().and_then(|r| r.peer().map(Box::from)));
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
                upstream: r.peer().map(Box::from),
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
                    Some(r) if r.peer().is_none_or(|p| p == addr) => lines.next().map(|r| r.cause),
                    _ => status.filter(|s| *s >= 500).map(Cause::upstream_returned),
                }
            } else {
                None
            };
            Attempt { upstream: Some(addr.into()), status, cause }
        })
        .collect()
}
