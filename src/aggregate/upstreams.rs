//! Failures per upstream, folded failure by failure into the report's upstream rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::correlate::Event;
use crate::errorlog::{Cause, ErrorRecord};
use crate::escape::lossless;
use crate::report::schema::{ratio, Latency, UpstreamRow, UNKNOWN_UPSTREAM};
use crate::summary::AccessSummary;
use crate::time::rfc3339;

#[derive(Debug, Default)]
struct Tally {
    /// Keyed by cause, which compares as one byte, and named by slug in the row.
    errors_by_cause: BTreeMap<Cause, u64>,
    client_502: u64,
    client_504: u64,
    client_5xx: u64,
    failed: u64,
    hidden: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl Tally {
    fn saw_failure(&mut self, time: Option<i64>) {
        if let Some(t) = time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }

    /// Counts `e`, a failure the client saw, on the upstream its last attempt went to.
    fn client_failure(&mut self, e: &Event) {
        self.saw_failure(e.request.time);
        *self.errors_by_cause.entry(e.cause).or_insert(0) += 1;
        match e.request.status {
            502 => self.client_502 += 1,
            504 => self.client_504 += 1,
            _ => {}
        }
        self.client_5xx += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (cause, n) in other.errors_by_cause {
            *self.errors_by_cause.entry(cause).or_insert(0) += n;
        }
        self.client_502 += other.client_502;
        self.client_504 += other.client_504;
        self.client_5xx += other.client_5xx;
        self.failed += other.failed;
        self.hidden += other.hidden;
        self.saw_failure(other.first);
        self.saw_failure(other.last);
    }
}

/// Failed attempts and client-facing failures per upstream name. Each name is numbered when
/// first counted, and the fold's other counters by upstream (fine buckets, findings) are keyed by
/// that number: a name is hashed once per attempt, not once per counter.
#[derive(Debug, Default)]
pub struct Upstreams {
    numbers: FxHashMap<Arc<[u8]>, u32>,
    /// The names by number.
    names: Vec<Arc<[u8]>>,
    /// The tallies by number.
    tallies: Vec<Tally>,
    /// Names numbered from events, each the copy the events of a join share, in the slot its
    /// address picks: events rotate among a few upstreams, and an address compares in fewer
    /// steps than a name hashes. Each copy is held, so its address cannot become another name's.
    recent: [Option<(Arc<[u8]>, u32)>; RECENT],
}

/// Slots of names remembered by address.
const RECENT: usize = 8;

impl Upstreams {
    /// The number of `name`, given (with an empty tally) on first sight.
    pub(super) fn number(&mut self, name: &[u8]) -> u32 {
        if let Some(&n) = self.numbers.get(name) {
            return n;
        }
        let n = self.names.len() as u32;
        let name: Arc<[u8]> = name.into();
        self.numbers.insert(Arc::clone(&name), n);
        self.names.push(name);
        self.tallies.push(Tally::default());
        n
    }

    /// The number of `name`, found by its address when it is a recent one.
    fn number_shared(&mut self, name: &Arc<[u8]>) -> u32 {
        // Allocations are 16-byte aligned: the bits above the alignment tell names apart.
        let slot = (Arc::as_ptr(name).cast::<u8>() as usize / 16) % RECENT;
        if let Some((seen, n)) = &self.recent[slot] {
            if Arc::ptr_eq(seen, name) {
                return *n;
            }
        }
        let n = self.number(name);
        self.recent[slot] = Some((Arc::clone(name), n));
        n
    }

    /// Each numbered name, at its number.
    pub fn names(&self) -> &[Arc<[u8]>] {
        &self.names
    }

    /// Counts the failed attempts of `e`, and `e` itself when the client saw it: on the last
    /// attempt's upstream, whose tally is looked up once for both. Returns the number of the
    /// upstream a client-facing failure was counted on, and `None` for a retry that recovered.
    pub fn add_event(&mut self, e: &Event) -> Option<u32> {
        let client_facing = e.client_facing();
        let attempts = e.attempts();
        let mut client = None;
        for (k, attempt) in attempts.iter().enumerate() {
            let failed = attempt.cause.is_some() || attempt.status.is_some_and(|s| s >= 500);
            let client_here = client_facing && k + 1 == attempts.len();
            let Some(upstream) = attempt.upstream.as_ref().filter(|_| failed || client_here) else {
                continue;
            };
            let n = self.number_shared(upstream);
            let tally = &mut self.tallies[n as usize];
            if failed {
                tally.failed += 1;
                tally.saw_failure(e.request.time);
                if !client_facing {
                    tally.hidden += 1;
                }
            }
            if client_here {
                tally.client_failure(e);
                client = Some(n);
            }
        }
        if client_facing && e.upstream().is_none() {
            let n = self.number(UNKNOWN_UPSTREAM.as_bytes());
            self.tallies[n as usize].client_failure(e);
            client = Some(n);
        }
        client
    }

    /// Counts a terminal error line no request claimed: a failure the client did not see (or
    /// whose access line is missing). `offset` is the error log's zone.
    pub fn add_unmatched(&mut self, r: &ErrorRecord, offset: i32) {
        let n = self.number(r.peer().unwrap_or(UNKNOWN_UPSTREAM.as_bytes()));
        let tally = &mut self.tallies[n as usize];
        tally.failed += 1;
        tally.hidden += 1;
        tally.saw_failure(Some(r.local_time - i64::from(offset)));
    }

    /// Adds the counts of `other`; returns the number here of each of its numbers.
    pub fn merge(&mut self, other: Upstreams) -> Vec<u32> {
        other
            .names
            .into_iter()
            .zip(other.tallies)
            .map(|(name, tally)| {
                let n = self.number(&name);
                self.tallies[n as usize].merge(tally);
                n
            })
            .collect()
    }

    /// One row per upstream that failed or that `access` saw, in the report's order
    /// ([`super::build::sort_upstreams`]).
    pub fn rows(
        mut self,
        access: &AccessSummary,
        blocks: &[crate::nginx_conf::Upstream],
        offset: i32,
    ) -> Vec<UpstreamRow> {
        for addr in access.upstreams.keys() {
            self.number(addr);
        }
        let mut rows: Vec<UpstreamRow> = self
            .names
            .into_iter()
            .zip(self.tallies)
            .map(|(name, tally)| {
                let counts = access.upstreams.get(&name[..]);
                let requests = counts.map(|c| c.attempts);
                let latency = counts.and_then(|c| Latency::from_sketch(&c.latency));
                UpstreamRow {
                    upstream: lossless(&name),
                    block: crate::nginx_conf::block_of(blocks, &name).map(str::to_owned),
                    requests,
                    errors_by_cause: tally.errors_by_cause.into_iter().map(|(c, n)| (c.slug(), n)).collect(),
                    client_502: tally.client_502,
                    client_504: tally.client_504,
                    failed_attempts: tally.failed,
                    hidden_failures: tally.hidden,
                    rate_502: requests.map(|r| ratio(tally.client_502, r)),
                    rate_5xx: requests.map(|r| ratio(tally.client_5xx, r)),
                    first_failure: tally.first.map(|t| rfc3339(t, offset)),
                    last_failure: tally.last.map(|t| rfc3339(t, offset)),
                    latency,
                    latency_sketch: counts.map(|c| c.latency.clone()).filter(|s| s.count() > 0),
                    failures_over_time: Vec::new(),
                    latency_lost: false,
                }
            })
            .collect();
        super::build::sort_upstreams(&mut rows);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::{Attempt, Evidence, JoinMethod};
    use crate::summary::{Candidate, CandidateText};

    fn event(status: u16, attempts: &[(&str, Option<u16>, Option<Cause>)]) -> Event {
        let request = Candidate {
            input: 0,
            line: 0,
            time: Some(60),
            offset: 0,
            status,
            connection: None,
            request_time: None,
            text: CandidateText::default(),
            source: None,
        };
        let attempts = attempts
            .iter()
            .map(|&(name, status, cause)| Attempt { upstream: Some(name.as_bytes().into()), status, cause })
            .collect();
        Event::new(request, Cause::ConnectRefused, attempts, Evidence::default(), JoinMethod::None)
    }

    #[test]
    fn failures_go_to_the_attempts_and_the_client_failure_to_the_last() {
        let mut upstreams = Upstreams::default();
        let refused = Some(Cause::ConnectRefused);
        // A retry that failed too, though nginx logged the last peer's 200 (a `009`).
        let counted_on = [
            upstreams.add_event(&event(502, &[("a:80", Some(502), refused), ("b:80", Some(200), None)])),
            // A retry that recovered: a failure the client did not see.
            upstreams.add_event(&event(200, &[("a:80", None, refused), ("b:80", Some(200), None)])),
            // No attempt: the failure is the unknown upstream's.
            upstreams.add_event(&event(504, &[])),
        ];
        // Numbered in the order first counted: `a:80`, `b:80`, then the unknown upstream.
        assert_eq!(counted_on, [Some(1), None, Some(2)]);
        let names: Vec<&[u8]> = upstreams.names().iter().map(|n| &n[..]).collect();
        assert_eq!(names, [&b"a:80"[..], b"b:80", UNKNOWN_UPSTREAM.as_bytes()]);
        let of = |name: &str| &upstreams.tallies[upstreams.numbers[name.as_bytes()] as usize];
        let tally = |name: &str| {
            let t = of(name);
            (t.failed, t.hidden, t.client_502, t.client_504, t.client_5xx, t.errors_by_cause.len())
        };
        assert_eq!(tally("a:80"), (2, 1, 0, 0, 0, 0));
        assert_eq!(tally("b:80"), (0, 0, 1, 0, 1, 1));
        assert_eq!(tally(UNKNOWN_UPSTREAM), (0, 0, 0, 1, 1, 1));
        assert_eq!((of("b:80").first, of("a:80").last), (Some(60), Some(60)));
    }
}
