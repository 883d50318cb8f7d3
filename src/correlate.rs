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

use crate::access::attempts::{attempt_status, entries, entries_with_last};
use crate::errorlog::{Cause, ErrorRecord, Role};
use crate::summary::Candidate;

pub use evidence::Evidence;
use index::ErrorIndex;
use names::Names;

mod evidence;
mod group;
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
///
/// Every failed request of a log becomes one, so its size is the join's memory per failure:
/// the attempts and the evidence are held in their smallest forms, behind accessors.
#[derive(Clone, Debug)]
pub struct Event {
    pub request: Candidate,
    pub cause: Cause,
    attempts: Attempts,
    /// Indexes into the error records, in log order: `u32`, as no error log that fits in
    /// memory has 4 G lines (their records alone would take 400 GB).
    evidence: Evidence,
    pub join: JoinMethod,
}

impl Event {
    /// An event of `request` whose attempts and error lines (`evidence`, indexes into the error
    /// records in log order) are known.
    pub fn new(
        request: Candidate,
        cause: Cause,
        attempts: Attempts,
        evidence: Evidence,
        join: JoinMethod,
    ) -> Event {
        Event { request, cause, attempts, evidence, join }
    }

    /// Whether the client saw this failure (a 5xx, or `009`), rather than a retry recovering.
    pub fn client_facing(&self) -> bool {
        crate::summary::is_failure_status(self.request.status)
    }

    /// The upstream attempts, in order.
    pub fn attempts(&self) -> &[Attempt] {
        self.attempts.as_slice()
    }

    /// The upstream of the last attempt (the one the client's status came from): read from the
    /// attempts, which always end with it, rather than held a second time.
    pub fn upstream(&self) -> Option<&[u8]> {
        self.attempts().last().and_then(|a| a.upstream.as_deref())
    }

    /// Whether any error line explains the request.
    pub fn has_evidence(&self) -> bool {
        !self.evidence.as_slice().is_empty()
    }

    /// The error lines that explain the request, as indexes into the error records, in log
    /// order.
    pub fn evidence(&self) -> impl DoubleEndedIterator<Item = usize> + ExactSizeIterator + Clone + '_ {
        self.evidence.as_slice().iter().map(|&i| i as usize)
    }
}

/// A request's attempts, in order: the one attempt most requests make is held inline, more (or
/// none) in a boxed slice, so a typical event needs no allocation for them.
#[derive(Clone, Debug)]
pub enum Attempts {
    One(Attempt),
    Many(Box<[Attempt]>),
}

impl Attempts {
    pub fn as_slice(&self) -> &[Attempt] {
        match self {
            Attempts::One(only) => std::slice::from_ref(only),
            Attempts::Many(all) => all,
        }
    }

    /// The attempts gathered in `all`, which is left empty: boxed at their exact number (a box
    /// grown while they are read would be shrunk again, a second allocation per request).
    pub fn take_from(all: &mut Vec<Attempt>) -> Attempts {
        match all.len() {
            1 => Attempts::One(all.remove(0)),
            _ => Attempts::Many(all.drain(..).collect()),
        }
    }
}

impl FromIterator<Attempt> for Attempts {
    fn from_iter<I: IntoIterator<Item = Attempt>>(attempts: I) -> Attempts {
        Attempts::take_from(&mut attempts.into_iter().collect())
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
    Some(entries_with_last(addrs).filter_map(move |(last, addr)| match statuses.next().flatten() {
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

/// The error lines a request claimed (as [`Event`] holds them), and how they were found.
type Claim = (Evidence, JoinMethod);

/// Joins `candidates` (from every access input) with `errors` (from every error input).
/// `forced_offset` is the error logs' zone when the user gave it (`--error-log-offset`);
/// otherwise each access record is compared in its own offset.
///
/// Requests are served in time order within each `partition` of requests that can compete
/// for a line, partitions in parallel; the events come out in time order whatever the number
/// of threads.
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
    in_time_order(&mut candidates);
    // Counted before the index is built, so that the count's working memory and the index are
    // never held together.
    // Hashed once: the queues, the partitions and the claims all look requests up by it.
    let hashes: Vec<Option<u64>> = candidates.iter().map(index::request_hash_of).collect();
    let waiting = partition::waiting(&candidates, &hashes);
    let index = ErrorIndex::new(errors, forced_offset, &candidates);
    let partitions = partition::partitions(&candidates, &hashes, rayon::current_num_threads());
    let parts: Vec<&[usize]> = partitions.runs().filter(|part| !part.is_empty()).collect();
    let served: Vec<Vec<(usize, Claim)>> = parts
        .into_par_iter()
        .map(|part| {
            // Scratch space for the whole partition: a claim allocates only the lines it keeps.
            let (mut pool, mut lines) = (Vec::new(), Vec::new());
            part.iter()
                .map(|&at| {
                    let c = &candidates[at];
                    let method = index.claim(c, hashes[at], waiting[at], &mut pool, &mut lines);
                    (at, (Evidence::from(&lines[..]), method))
                })
                .collect()
        })
        .collect();
    // The index is let go before the claims are put in order, and the candidates slice by slice
    // as their events are made, so that the events never sit beside the index or beside a
    // whole second copy of the candidates.
    let unmatched = (0..errors.len()).filter(|i| !index.used(*i) && terminal(i)).collect();
    drop((index, waiting, hashes, partitions));
    let mut claims: Vec<Claim> = Vec::new();
    claims.resize_with(candidates.len(), || (Evidence::default(), JoinMethod::None));
    for (at, claim) in served.into_iter().flatten() {
        claims[at] = claim;
    }
    Correlation { events: diagnose_all(candidates, claims, errors), unmatched }
}

/// How many slices the events are made in. Each slice's candidates and claims are let go as its
/// events are made, so the candidates are never held whole twice (as candidates and inside
/// events): the peak is the events plus one slice, not the events plus every candidate.
const EVENT_SLICES: usize = 16;

/// The events of `candidates` (in time order) with their `claims`, in the same order.
fn diagnose_all(
    mut candidates: Vec<Candidate>,
    mut claims: Vec<Claim>,
    errors: &[ErrorRecord],
) -> Vec<Event> {
    // Slices are taken from the back, where the buffers can shrink in place, so the order is
    // reversed first and each slice read backwards.
    candidates.reverse();
    claims.reverse();
    let slice = candidates.len().div_ceil(EVENT_SLICES).max(1);
    // Reserved whole at once: grown slice by slice, the events made so far would be copied at
    // every slice, and held twice while they are. Pages are only touched as events fill them.
    let mut events = Vec::with_capacity(candidates.len());
    while !candidates.is_empty() {
        let from = candidates.len().saturating_sub(slice);
        events.par_extend(
            candidates
                .par_drain(from..)
                .rev()
                .zip(claims.par_drain(from..).rev())
                .map_init(Scratch::default, |scratch, (c, claim)| diagnose(c, claim, errors, scratch)),
        );
        candidates.shrink_to_fit();
        claims.shrink_to_fit();
    }
    events
}

/// Sorts `candidates` by (time, input, line), ties in their given order: the positions are
/// sorted and each candidate then moved into place by following the cycles of that permutation,
/// so no second buffer of candidates is made. Access logs are written nearly in time order, so
/// the candidates often are already, and otherwise come in a few long sorted runs (one per
/// input, and the requests carried from before), which a stable sort merges in linear time.
fn in_time_order(candidates: &mut [Candidate]) {
    let key = |c: &Candidate| (c.time, c.input, c.line);
    if candidates.is_sorted_by_key(key) {
        return;
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&at| key(&candidates[at]));
    // The candidate for place `k` is at `order[k]`; a place whose entry points to itself is
    // settled.
    for start in 0..order.len() {
        let mut k = start;
        loop {
            let from = std::mem::replace(&mut order[k], k);
            if from == start || from == k {
                break;
            }
            candidates.swap(k, from);
            k = from;
        }
    }
}

/// What making events reuses from one to the next: the upstream names handed out, and room to
/// gather a request's attempts in.
#[derive(Default)]
struct Scratch {
    names: Names,
    attempts: Vec<Attempt>,
}

fn diagnose(c: Candidate, (evidence, join): Claim, errors: &[ErrorRecord], scratch: &mut Scratch) -> Event {
    let mut terminals =
        evidence.as_slice().iter().map(|&i| &errors[i as usize]).filter(|r| r.cause.role() == Role::Terminal);
    attempts_of(&c, terminals.clone(), &mut scratch.names, &mut scratch.attempts);
    let attempts = Attempts::take_from(&mut scratch.attempts);
    let last_attempt = attempts.as_slice().last();
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
    let join = if evidence.as_slice().is_empty() { JoinMethod::None } else { join };
    Event::new(c, cause, attempts, evidence, join)
}

/// The attempts of a request, in order, into `attempts`: from `$upstream_addr`/`$upstream_status`
/// when logged (error lines assigned to failed attempts in order, by peer), else one attempt per
/// terminal error line.
fn attempts_of<'e>(
    c: &Candidate,
    terminals: impl Iterator<Item = &'e ErrorRecord>,
    names: &mut Names,
    attempts: &mut Vec<Attempt>,
) {
    let Some(addrs) = c.upstream_addr() else {
        attempts.extend(terminals.map(|r| Attempt {
            upstream: r.peer().map(|p| names.get(p)),
            status: r.cause.info().status,
            cause: Some(r.cause),
        }));
        return;
    };
    let mut statuses = c.upstream_status().map(entries);
    let mut lines = terminals.peekable();
    attempts.extend(entries_with_last(addrs).map(|(last, addr)| {
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
    }));
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

    fn at(time: Option<i64>, input: usize, line: u64, status: u16) -> Candidate {
        Candidate {
            input,
            line,
            time,
            offset: 0,
            status,
            connection: None,
            request_time: None,
            text: crate::summary::CandidateText::default(),
            source: None,
        }
    }

    #[test]
    fn in_time_order_sorts_in_place_and_keeps_ties_in_their_order() {
        let mut candidates = vec![
            at(Some(20), 0, 1, 500),
            at(Some(10), 1, 5, 501),
            at(None, 0, 9, 502),
            at(Some(10), 0, 7, 503),
            at(Some(20), 0, 1, 504),
            at(Some(10), 0, 2, 505),
            at(Some(30), 0, 3, 506),
        ];
        in_time_order(&mut candidates);
        let statuses: Vec<u16> = candidates.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [502, 505, 503, 501, 500, 504, 506]);
        let mut none: Vec<Candidate> = Vec::new();
        in_time_order(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn events_come_out_in_time_order_across_slices() {
        // More candidates than slices, so the events are made over several.
        let candidates: Vec<Candidate> =
            (0..EVENT_SLICES as u64 * 3 + 1).rev().map(|line| at(Some(line as i64), 0, line, 502)).collect();
        let events = correlate(candidates, &[], None).events;
        let lines: Vec<u64> = events.iter().map(|e| e.request.line).collect();
        assert_eq!(lines, (0..EVENT_SLICES as u64 * 3 + 1).collect::<Vec<_>>());
        assert!(events.iter().all(|e| e.join == JoinMethod::None && !e.has_evidence()));
    }

    #[test]
    fn one_attempt_is_held_inline_and_the_last_names_the_upstream() {
        let attempt =
            |name: &str| Attempt { upstream: Some(name.as_bytes().into()), status: Some(502), cause: None };
        let event = |attempts: Vec<Attempt>| {
            let attempts = attempts.into_iter().collect();
            Event::new(
                at(Some(0), 0, 0, 502),
                Cause::Unattributed,
                attempts,
                Evidence::default(),
                JoinMethod::None,
            )
        };
        let one = event(vec![attempt("a:80")]);
        assert!(matches!(one.attempts, Attempts::One(_)));
        assert_eq!(one.attempts(), [attempt("a:80")]);
        assert_eq!(one.upstream(), Some(&b"a:80"[..]));
        let two = event(vec![attempt("a:80"), attempt("b:80")]);
        assert_eq!(two.attempts(), [attempt("a:80"), attempt("b:80")]);
        assert_eq!(two.upstream(), Some(&b"b:80"[..]));
        let none = event(Vec::new());
        assert!(none.attempts().is_empty());
        assert_eq!(none.upstream(), None);
    }

    #[test]
    fn attempts_are_taken_from_the_scratch_list_which_is_left_empty() {
        let attempt =
            |name: &str| Attempt { upstream: Some(name.as_bytes().into()), status: None, cause: None };
        let mut all = vec![attempt("a:80"), attempt("b:80"), attempt("c:80")];
        let many = Attempts::take_from(&mut all);
        assert!(matches!(&many, Attempts::Many(all) if all.len() == 3));
        assert_eq!(many.as_slice(), [attempt("a:80"), attempt("b:80"), attempt("c:80")]);
        assert!(all.is_empty() && all.capacity() >= 3, "the room is kept for the next request");
        all.push(attempt("d:80"));
        assert!(matches!(Attempts::take_from(&mut all), Attempts::One(only) if only == attempt("d:80")));
        assert!(Attempts::take_from(&mut all).as_slice().is_empty());
    }

    /// The per-failure cost of the join: an event holds its request and its diagnosis, the
    /// attempts and evidence in their small forms (a `Vec` of each would add 16 bytes and an
    /// allocation per event).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_event_stays_small() {
        assert_eq!(std::mem::size_of::<Attempts>(), std::mem::size_of::<Attempt>());
        assert!(std::mem::size_of::<Event>() <= std::mem::size_of::<Candidate>() + 48);
    }

    #[test]
    fn with_last_marks_only_the_last() {
        assert_eq!(with_last(1..4).collect::<Vec<_>>(), [(false, 1), (false, 2), (true, 3)]);
        assert_eq!(with_last(std::iter::empty::<u8>()).count(), 0);
    }
}
