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

use std::sync::Arc;

use rayon::prelude::*;

use crate::access::attempts::{attempt_status, entries};
use crate::errorlog::{Cause, ErrorRecord, Role};
use crate::summary::Candidate;

use index::ErrorIndex;
use names::Names;

mod index;
mod names;
mod partition;

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
    /// The peer, as `$upstream_addr` or the error line names it. Shared: an incident has a few
    /// upstreams and many thousands of attempts, so each name is held once per join, not once
    /// per attempt.
    pub upstream: Option<Arc<[u8]>>,
    pub status: Option<u16>,
    /// The cause of this attempt's failure, when it failed.
    pub cause: Option<Cause>,
}

/// A request whose upstream attempts failed, with its diagnosis.
#[derive(Clone, Debug)]
pub struct Event {
    pub request: Candidate,
    pub cause: Cause,
    /// The upstream of the last attempt (the one the client's status came from), shared with it.
    pub upstream: Option<Arc<[u8]>>,
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

/// The part of a request line the join compares: method and URI. The protocol is left out, as
/// formats that log `$request_method` and `$request_uri` apart (Nginx Proxy Manager) lack it.
fn request_key(request: &[u8]) -> &[u8] {
    // Nearly every request line ends ` HTTP/1.1`, `HTTP/2.0` and the like; no later ` HTTP/` can
    // overlap that tail, so it is the one a search from the end would find.
    if let [line @ .., b' ', b'H', b'T', b'T', b'P', b'/', _, _, _] = request {
        return line;
    }
    static PROTOCOL: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new(b" HTTP/"));
    PROTOCOL.rfind(request).map_or(request, |i| &request[..i])
}

/// How far back, in seconds, a request's error lines may be: its `$request_time` (bounded, as
/// logs are attacker-reachable) plus the clocks' slack.
fn lookback(c: &Candidate) -> i64 {
    c.request_time.map_or(DEFAULT_LOOKBACK, |rt| rt.min(86_400.0).ceil() as i64) + SLACK_BEFORE
}

/// The failed attempts, in order, when the access log lists the attempts and their statuses:
/// each attempt's peer and the status its error line must give (`None`: any). An attempt failed
/// when its status is a 5xx or missing, and the last attempt also when the client got a failure
/// status (a `009` logs the upstream's 200; its line gives the client's status).
fn failed_attempts(c: &Candidate) -> Option<impl Iterator<Item = (&[u8], Option<u16>)>> {
    let (addrs, statuses) = (c.upstream_addr()?, c.upstream_status()?);
    let client_failed = crate::summary::is_failure_status(c.status);
    let mut statuses = entries(statuses).map(attempt_status);
    Some(with_last(entries(addrs)).filter_map(move |(last, addr)| match statuses.next().flatten() {
        None => Some((addr, None)),
        Some(s) if s >= 500 => Some((addr, Some(s))),
        Some(_) if last && client_failed => Some((addr, Some(c.status))),
        Some(_) => None,
    }))
}

/// Each item of `items` with whether it is the last, in one pass (the attempt lists are read
/// once, not counted first).
fn with_last<T>(items: impl Iterator<Item = T>) -> impl Iterator<Item = (bool, T)> {
    let mut items = items.peekable();
    std::iter::from_fn(move || {
        let item = items.next()?;
        Some((items.peek().is_none(), item))
    })
}

/// The error lines a request claimed, and how they were found.
type Claim = (Vec<usize>, JoinMethod);

/// Joins `candidates` (from every access input) with `errors` (from every error input).
/// `forced_offset` is the error logs' zone when the user gave it (`--error-log-offset`);
/// otherwise each access record is compared in its own offset.
///
/// Requests are served in time order within each `partition` of requests that can compete
/// for a line, partitions in parallel; the events come out in time order whatever the number
/// of threads.
pub fn correlate(
    candidates: Vec<Candidate>,
    errors: &[ErrorRecord],
    forced_offset: Option<i32>,
) -> Correlation {
    let terminal = |i: &usize| errors[*i].cause.role() == Role::Terminal;
    if candidates.is_empty() {
        // An error log alone: no request claims a line, so no index is built.
        return Correlation { events: Vec::new(), unmatched: (0..errors.len()).filter(terminal).collect() };
    }
    let candidates = in_time_order(candidates);
    let index = ErrorIndex::new(errors, forced_offset);
    let waiting = partition::waiting(&candidates);
    let mut claims: Vec<Claim> = Vec::new();
    claims.resize_with(candidates.len(), || (Vec::new(), JoinMethod::None));
    let served: Vec<Vec<(usize, Claim)>> = partition::partitions(&candidates)
        .into_par_iter()
        .map(|part| {
            let mut pool = Vec::new();
            part.into_iter().map(|at| (at, index.claim(&candidates[at], waiting[at], &mut pool))).collect()
        })
        .collect();
    for (at, claim) in served.into_iter().flatten() {
        claims[at] = claim;
    }
    // Memory peaks while the events are made: the index is let go first, so only the
    // candidates, their claims and the events are held then.
    let unmatched = (0..errors.len()).filter(|i| !index.used(*i) && terminal(i)).collect();
    drop((index, waiting));
    let events = candidates
        .into_par_iter()
        .zip(claims)
        .map_init(Names::default, |names, (c, (evidence, method))| {
            diagnose(c, evidence, method, errors, names)
        })
        .collect();
    Correlation { events, unmatched }
}

/// `candidates` sorted by (time, input, line), ties in their given order: the keys are sorted
/// and each candidate moved once, rather than moving whole candidates at every merge.
fn in_time_order(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut order: Vec<(Option<i64>, usize, u64, usize)> =
        candidates.iter().enumerate().map(|(at, c)| (c.time, c.input, c.line, at)).collect();
    order.par_sort_unstable();
    let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    order.into_iter().filter_map(|(.., at)| slots[at].take()).collect()
}

fn diagnose(
    c: Candidate,
    evidence: Vec<usize>,
    join: JoinMethod,
    errors: &[ErrorRecord],
    names: &mut Names,
) -> Event {
    let mut terminals = evidence.iter().map(|&i| &errors[i]).filter(|r| r.cause.role() == Role::Terminal);
    let attempts = attempts_of(&c, terminals.clone(), names);
    let last_attempt = attempts.last();
    let last_line = terminals.next_back();
    // The last attempt decides the client's status, so its failure is the cause.
    let cause = match (last_attempt.and_then(|a| a.cause), last_line) {
        (Some(cause), _) if c.upstream_status().is_some() => cause,
        (_, Some(line)) => line.cause,
        _ => match last_attempt.and_then(|a| a.status) {
            Some(s) if s == c.status => Cause::upstream_returned(s),
            _ => Cause::Unattributed,
        },
    };
    let upstream = last_attempt
        .and_then(|a| a.upstream.clone())
        .or_else(|| last_line.and_then(|r| r.peer()).map(|p| names.get(p)));
    let join = if evidence.is_empty() { JoinMethod::None } else { join };
    Event { request: c, cause, upstream, attempts, evidence, join }
}

/// The attempts of a request: from `$upstream_addr`/`$upstream_status` when logged (error lines
/// assigned to failed attempts in order, by peer), else one attempt per terminal error line.
fn attempts_of<'e>(
    c: &Candidate,
    terminals: impl Iterator<Item = &'e ErrorRecord>,
    names: &mut Names,
) -> Vec<Attempt> {
    let Some(addrs) = c.upstream_addr() else {
        return terminals
            .map(|r| Attempt {
                upstream: r.peer().map(|p| names.get(p)),
                status: r.cause.info().status,
                cause: Some(r.cause),
            })
            .collect();
    };
    let mut statuses = c.upstream_status().map(entries);
    let mut lines = terminals.peekable();
    with_last(entries(addrs))
        .map(|(last, addr)| {
            let status = statuses.as_mut().and_then(Iterator::next).and_then(attempt_status);
            // The last attempt decides the client's status even when nginx logged the
            // upstream's as 200 (a `009`: the backend did not speak HTTP).
            let failed = status.is_none_or(|s| s >= 500) || last;
            let cause = if failed {
                match lines.peek() {
                    Some(r) if r.peer().is_none_or(|p| p == addr) => lines.next().map(|r| r.cause),
                    _ => status.filter(|s| *s >= 500).map(Cause::upstream_returned),
                }
            } else {
                None
            };
            Attempt { upstream: Some(names.get(addr)), status, cause }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_key_cuts_the_last_protocol() {
        assert_eq!(request_key(b"GET /a HTTP/1.1"), b"GET /a");
        assert_eq!(request_key(b"GET /a?b=HTTP/1.1 HTTP/2.0"), b"GET /a?b=HTTP/1.1");
        assert_eq!(request_key(b"GET /a HTTP/1.1 HTTP/3"), b"GET /a HTTP/1.1");
        assert_eq!(request_key(b"GET /a HTTP/1.1 x"), b"GET /a");
        assert_eq!(request_key(b"GET /a"), b"GET /a");
        assert_eq!(request_key(b" HTTP/1.1"), b"");
    }

    #[test]
    fn with_last_marks_only_the_last() {
        assert_eq!(with_last(1..4).collect::<Vec<_>>(), [(false, 1), (false, 2), (true, 3)]);
        assert_eq!(with_last(std::iter::empty::<u8>()).count(), 0);
    }
}
