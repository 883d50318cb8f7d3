//! The numbers a live session serves and shows: counts since the start (the metrics' counters,
//! which only grow) and counts per second over the last 15 minutes (rates, trends, charts).
//!
//! Nothing here draws or serves: the dashboard and the metrics endpoint read a [`Tally`], and
//! its arithmetic is tested on its own with made-up instants.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::aggregate::sketch::Sketch;
use crate::correlate::Event;
use crate::escape::lossless;
use crate::input::Kind;
use crate::pipeline::Analysis;
use crate::report::prometheus::Metrics;
use crate::report::schema::UNKNOWN_UPSTREAM;
use crate::summary::is_failure_status;
use crate::time::rfc3339;

use super::ingest::Arrivals;

/// Seconds of history kept per series (15 minutes).
pub const HISTORY: u64 = 900;
/// The "now" window: rates are over the last minute.
pub const NOW: u64 = 60;
/// The "before" a trend compares with: the minute that ended 5 minutes ago.
pub const BEFORE: u64 = 300;
/// Distinct upstreams kept; later ones are counted under [`OTHER`], so memory stays bounded
/// whatever `$upstream_addr` holds.
const MAX_UPSTREAMS: usize = 200;
/// The key upstreams beyond `MAX_UPSTREAMS` are counted under.
pub const OTHER: &str = "(other)";
/// Failures kept for the dashboard's list.
pub const RECENT: usize = 500;

/// Counts per second over the last [`HISTORY`] seconds.
#[derive(Clone, Debug)]
pub struct Ring {
    counts: Box<[u32]>,
    /// The newest second written.
    last: u64,
}

impl Default for Ring {
    fn default() -> Ring {
        Ring { counts: vec![0; HISTORY as usize].into_boxed_slice(), last: 0 }
    }
}

impl Ring {
    /// Counts `n` events in `second` (seconds since the start; never older than the newest).
    pub fn add(&mut self, second: u64, n: u64) {
        if second > self.last {
            for s in self.last + 1..=second.min(self.last + HISTORY) {
                self.counts[(s % HISTORY) as usize] = 0;
            }
            self.last = second;
        }
        if second + HISTORY > self.last {
            let slot = &mut self.counts[(second % HISTORY) as usize];
            *slot = slot.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// Takes back `n` events counted in `second`, if it is still kept.
    pub fn remove(&mut self, second: u64, n: u64) {
        if second <= self.last && second + HISTORY > self.last {
            let slot = &mut self.counts[(second % HISTORY) as usize];
            *slot = slot.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// Events in the seconds `from..to`.
    pub fn sum(&self, from: u64, to: u64) -> u64 {
        let oldest = (self.last + 1).saturating_sub(HISTORY);
        (from.max(oldest)..to.min(self.last + 1))
            .map(|s| u64::from(self.counts[(s % HISTORY) as usize]))
            .sum()
    }

    /// Events in the `span` seconds up to and including `now`.
    pub fn last(&self, now: u64, span: u64) -> u64 {
        self.sum((now + 1).saturating_sub(span), now + 1)
    }
}

/// Response times in the current and the previous minute: the window the latency gauges cover.
#[derive(Clone, Debug, Default)]
struct MinuteSketches {
    minute: u64,
    current: Sketch,
    previous: Sketch,
}

impl MinuteSketches {
    fn roll(&mut self, minute: u64) {
        if minute > self.minute {
            self.previous =
                if minute == self.minute + 1 { std::mem::take(&mut self.current) } else { Sketch::default() };
            self.current = Sketch::default();
            self.minute = minute;
        }
    }

    /// Response times of the last one to two minutes.
    fn window(&self, minute: u64) -> Sketch {
        let mut both = Sketch::default();
        if minute == self.minute {
            both.merge(&self.current);
            both.merge(&self.previous);
        } else if minute == self.minute + 1 {
            both.merge(&self.current);
        }
        both
    }
}

/// One upstream's counts.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    /// Attempts sent to it, when `$upstream_addr` is logged.
    pub attempts: Option<u64>,
    /// Failed attempts a retry recovered.
    pub hidden: u64,
    attempts_per_second: Ring,
    failures_per_second: Ring,
    causes: BTreeMap<&'static str, Ring>,
    pub last_failure: Option<Instant>,
    latency: MinuteSketches,
}

/// A client-facing failure as the dashboard lists it; every text is escaped for a terminal.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Input and line of its access line: what a correction names.
    key: (usize, u64),
    pub at: Instant,
    /// The access log's time, RFC 3339.
    pub time: String,
    pub status: u16,
    pub cause: &'static str,
    pub upstream: String,
    pub request: String,
    /// The error line behind the cause, when one was found.
    pub evidence: Option<String>,
}

/// A failure shown without an error line: the dashboard shows it at once, the counters wait
/// until a late error line corrects it or it can no longer be corrected, so that no counter
/// has to shrink when one is moved to its cause.
#[derive(Clone, Debug)]
struct Provisional {
    key: (usize, u64),
    at: Instant,
    status: u16,
    cause: &'static str,
    upstream: String,
}

/// Most provisional failures kept; past it the oldest are counted as they are.
const MAX_PROVISIONAL: usize = 20_000;

/// A followed input.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: String,
    pub kind: Option<Kind>,
    pub parsed: u64,
    pub malformed: u64,
    pub filtered: u64,
    /// Other programs' lines in a stream.
    pub other: u64,
    pub rotations: u64,
}

/// Everything counted since the start of a session.
#[derive(Clone, Debug)]
pub struct Tally {
    start: Instant,
    /// `--label KEY=VALUE`, on every metric.
    pub labels: crate::labels::Labels,
    /// Changes on every update, so a reader knows when to look again.
    pub version: u64,
    pub requests: u64,
    /// Client-facing failures.
    pub failures: u64,
    pub statuses: BTreeMap<u16, u64>,
    /// Client-facing failures per (cause, upstream).
    by_cause: BTreeMap<(&'static str, String), u64>,
    /// Client-facing failures per (status, upstream): the metrics count failure statuses from
    /// these, once diagnosed, so no series shrinks when a 5xx seen in the access log is later
    /// attributed to its upstream.
    by_status: BTreeMap<(u16, String), u64>,
    pub upstreams: BTreeMap<String, Upstream>,
    pub requests_per_second: Ring,
    pub failures_per_second: Ring,
    /// Responses with these statuses per second: 502, 504, any 5xx.
    pub status_per_second: [Ring; 3],
    pub causes: BTreeMap<&'static str, Ring>,
    pub recent: VecDeque<Failure>,
    /// Failures without an error line yet, oldest first, and how long they may still be
    /// corrected.
    provisional: VecDeque<Provisional>,
    settle_after: Duration,
    pub inputs: Vec<Input>,
    /// 5xx responses waiting for their error line.
    pub waiting: usize,
    /// Warnings said while the dashboard holds the terminal, where stderr would garble it:
    /// the dashboard shows the latest, and they go to stderr once the terminal is given back.
    pub notices: Notices,
}

/// Warnings kept for after the dashboard: the first [`MAX_NOTICES`], and how many more.
#[derive(Clone, Debug, Default)]
pub struct Notices {
    pub kept: Vec<String>,
    pub more: u64,
    /// The latest, with when it was said.
    pub latest: Option<(Instant, String)>,
}

/// Warnings kept for stderr at most: a log that fails on every read must not fill the memory.
pub const MAX_NOTICES: usize = 100;

impl Tally {
    /// A tally of a session started at `start`, where a failure shown without an error line
    /// may be corrected for `settle_after`.
    pub fn new(start: Instant, settle_after: Duration) -> Tally {
        Tally {
            start,
            labels: crate::labels::Labels::default(),
            version: 0,
            requests: 0,
            failures: 0,
            statuses: BTreeMap::new(),
            by_cause: BTreeMap::new(),
            by_status: BTreeMap::new(),
            upstreams: BTreeMap::new(),
            requests_per_second: Ring::default(),
            failures_per_second: Ring::default(),
            status_per_second: Default::default(),
            causes: BTreeMap::new(),
            recent: VecDeque::new(),
            provisional: VecDeque::new(),
            settle_after,
            inputs: Vec::new(),
            waiting: 0,
            notices: Notices::default(),
        }
    }

    /// Records a warning (already made safe for a terminal) said at `now`.
    pub fn notice(&mut self, text: String, now: Instant) {
        let notices = &mut self.notices;
        if notices.kept.len() < MAX_NOTICES {
            notices.kept.push(text.clone());
        } else {
            notices.more += 1;
        }
        notices.latest = Some((now, text));
        self.version += 1;
    }

    /// Seconds since the start at `now`.
    pub fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    /// How long the session has run at `now`.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// The upstream entry for `name`, or [`OTHER`]'s once there are too many.
    fn upstream(&mut self, name: String) -> (&mut Upstream, String) {
        let key = if self.upstreams.contains_key(&name) || self.upstreams.len() < MAX_UPSTREAMS {
            name
        } else {
            OTHER.to_owned()
        };
        (self.upstreams.entry(key.clone()).or_default(), key)
    }

    /// Counts the access lines of one pass.
    pub fn arrivals(&mut self, arrivals: &Arrivals, now: Instant) {
        if arrivals.requests == 0 && arrivals.upstreams.is_empty() {
            return;
        }
        let second = self.second(now);
        self.version += 1;
        self.requests += arrivals.requests;
        self.requests_per_second.add(second, arrivals.requests);
        for (status, n) in arrivals.statuses.iter() {
            *self.statuses.entry(status).or_default() += n;
            let rings = &mut self.status_per_second;
            match status {
                502 => rings[0].add(second, n),
                504 => rings[1].add(second, n),
                _ => {}
            }
            if is_failure_status(status) {
                rings[2].add(second, n);
            }
        }
        for (addr, counts) in &arrivals.upstreams {
            let (upstream, _) = self.upstream(lossless(addr));
            *upstream.attempts.get_or_insert(0) += counts.attempts;
            upstream.attempts_per_second.add(second, counts.attempts);
            upstream.latency.roll(second / 60);
            upstream.latency.current.merge(&counts.latency);
        }
    }

    /// Counts the events of one pass (evidence indexes point into `analysis.errors`); called on
    /// every pass, also without events, so provisional failures settle in time.
    pub fn events(&mut self, events: &[Event], analysis: &Analysis, now: Instant) {
        while self.provisional.front().is_some_and(|p| p.at + self.settle_after <= now)
            || self.provisional.len() > MAX_PROVISIONAL
        {
            if let Some(p) = self.provisional.pop_front() {
                self.count(p.status, p.cause, p.upstream);
            }
        }
        if events.is_empty() {
            return;
        }
        let second = self.second(now);
        self.version += 1;
        for event in events {
            if !event.client_facing() {
                for attempt in event.attempts() {
                    let failed = attempt.cause.is_some() || attempt.status.is_some_and(|s| s >= 500);
                    if let Some(addr) = attempt.upstream.as_deref().filter(|_| failed) {
                        self.upstream(lossless(addr)).0.hidden += 1;
                    }
                }
                continue;
            }
            let cause = event.cause.slug();
            let name = self.failed(event, second, now);
            self.failures += 1;
            self.failures_per_second.add(second, 1);
            let status = event.request.status;
            if !event.has_evidence() {
                let key = (event.request.input, event.request.line);
                self.provisional.push_back(Provisional {
                    key,
                    at: now,
                    status,
                    cause,
                    upstream: name.clone(),
                });
            } else {
                self.count(status, cause, name.clone());
            }
            if self.recent.len() == RECENT {
                self.recent.pop_back();
            }
            self.recent.push_front(Failure::new(event, analysis, name, now));
        }
    }

    /// Counts a client-facing failure at `second` on the dashboard: its upstream and cause.
    /// Returns the upstream's name.
    fn failed(&mut self, event: &Event, second: u64, now: Instant) -> String {
        let cause = event.cause.slug();
        let name = event.upstream().map_or_else(|| UNKNOWN_UPSTREAM.to_owned(), lossless);
        let (upstream, name) = self.upstream(name);
        upstream.failures_per_second.add(second, 1);
        upstream.causes.entry(cause).or_default().add(second, 1);
        upstream.last_failure = Some(upstream.last_failure.map_or(now, |l| l.max(now)));
        self.causes.entry(cause).or_default().add(second, 1);
        name
    }

    /// Counts a failure in the metrics' counters.
    fn count(&mut self, status: u16, cause: &'static str, upstream: String) {
        *self.by_status.entry((status, upstream.clone())).or_default() += 1;
        *self.by_cause.entry((cause, upstream)).or_default() += 1;
    }

    /// Moves a failure shown without an error line to what `event` (the same request, now with
    /// its error lines) says: cause and upstream on the dashboard where it was counted, the
    /// listed failure, and the counters. A failure no longer provisional is left as it is.
    pub fn correct(&mut self, event: &Event, analysis: &Analysis) {
        let key = (event.request.input, event.request.line);
        let Some(index) = self.provisional.iter().position(|p| p.key == key) else { return };
        let Some(was) = self.provisional.remove(index) else { return };
        self.version += 1;
        let second = self.second(was.at);
        if let Some(ring) = self.causes.get_mut(was.cause) {
            ring.remove(second, 1);
        }
        if let Some(upstream) = self.upstreams.get_mut(&was.upstream) {
            upstream.failures_per_second.remove(second, 1);
            if let Some(ring) = upstream.causes.get_mut(was.cause) {
                ring.remove(second, 1);
            }
        }
        let name = self.failed(event, second, was.at);
        self.count(was.status, event.cause.slug(), name.clone());
        if let Some(listed) = self.recent.iter_mut().find(|f| f.key == key) {
            *listed = Failure::new(event, analysis, name, listed.at);
        }
    }

    /// The counters since the start, and per upstream its failure rate and response times over
    /// the last minute.
    pub fn metrics(&self, now: Instant) -> Metrics<'_> {
        let second = self.second(now);
        let upstreams = || self.upstreams.iter().map(|(name, u)| (name.as_str(), u));
        // Failure statuses once diagnosed (see `by_status`), the others as they are read.
        let mut totals: BTreeMap<u16, u64> =
            self.statuses.iter().filter(|(s, _)| !is_failure_status(**s)).map(|(s, n)| (*s, *n)).collect();
        for ((status, _), n) in &self.by_status {
            *totals.entry(*status).or_default() += n;
        }
        let responses = totals
            .into_iter()
            .map(|(status, total)| {
                let by_upstream = self
                    .by_status
                    .iter()
                    .filter(|((s, _), _)| *s == status && matches!(status, 502 | 504))
                    .map(|((_, name), &n)| (name.as_str(), n))
                    .collect();
                (format!("{status:03}"), total, by_upstream)
            })
            .collect();
        Metrics {
            responses,
            failures: self.by_cause.iter().map(|((cause, name), &n)| (*cause, name.as_str(), n)).collect(),
            attempts: upstreams().filter_map(|(name, u)| u.attempts.map(|n| (name, n))).collect(),
            hidden: upstreams().map(|(name, u)| (name, u.hidden)).collect(),
            failure_rate: upstreams()
                .filter(|(_, u)| u.attempts.is_some())
                .map(|(name, u)| (name, u.failure_rate(second, 0)))
                .collect(),
            latency: upstreams()
                .filter_map(|(name, u)| {
                    let sketch = u.latency.window(second / 60);
                    let q = |q| sketch.quantile(q);
                    Some((name, [q(0.5)?, q(0.9)?, q(0.99)?]))
                })
                .collect(),
            lines: self
                .inputs
                .iter()
                .map(|i| (i.path.as_str(), [i.parsed, i.malformed, i.filtered, i.other]))
                .collect(),
            labels: self.labels.iter().collect(),
        }
    }
}

impl Upstream {
    /// Client-facing failures per attempt in the minute that ended `ago` seconds before
    /// `second` (0 when no attempt was sent).
    pub fn failure_rate(&self, second: u64, ago: u64) -> f64 {
        let Some(end) = second.checked_sub(ago) else { return 0.0 };
        let attempts = self.attempts_per_second.last(end, NOW);
        if attempts == 0 {
            return 0.0;
        }
        self.failures_per_second.last(end, NOW) as f64 / attempts as f64
    }

    /// Attempts per second over the last minute.
    pub fn attempts_per_second(&self, second: u64) -> f64 {
        self.attempts_per_second.last(second, NOW) as f64 / NOW as f64
    }

    /// Client-facing failures in the last `span` seconds.
    pub fn failures(&self, second: u64, span: u64) -> u64 {
        self.failures_per_second.last(second, span)
    }

    /// The cause of most of its failures in the last 15 minutes.
    pub fn top_cause(&self, second: u64) -> Option<&'static str> {
        self.causes
            .iter()
            .map(|(cause, ring)| (ring.last(second, HISTORY), *cause))
            .filter(|(n, _)| *n > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
            .map(|(_, cause)| cause)
    }

    /// p50 and p99 of its response times over the last one to two minutes.
    pub fn latency(&self, second: u64) -> Option<(f64, f64)> {
        let sketch = self.latency.window(second / 60);
        Some((sketch.quantile(0.5)?, sketch.quantile(0.99)?))
    }
}

impl Failure {
    fn new(event: &Event, analysis: &Analysis, upstream: String, at: Instant) -> Failure {
        let c = &event.request;
        let text = |bytes: &[u8]| crate::escape::for_terminal(bytes);
        Failure {
            key: (c.input, c.line),
            at,
            time: c.time.map_or_else(|| "-".to_owned(), |t| rfc3339(t, c.offset)),
            status: c.status,
            cause: event.cause.slug(),
            upstream: crate::escape::sanitize_str(&upstream),
            request: c.request().map_or_else(|| "-".to_owned(), text),
            evidence: event
                .evidence()
                .next_back()
                .and_then(|i| analysis.errors.get(i))
                .map(|r| text(r.raw())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sums_the_seconds_asked_for_and_forgets_old_ones() {
        let mut ring = Ring::default();
        ring.add(0, 1);
        ring.add(59, 2);
        ring.add(60, 4);
        assert_eq!(ring.last(60, 60), 6);
        assert_eq!(ring.last(60, 61), 7);
        assert_eq!(ring.sum(0, 60), 3);
        ring.add(HISTORY + 59, 8);
        assert_eq!(ring.last(HISTORY + 59, HISTORY), 12, "second 59 is now the oldest kept");
        assert_eq!(ring.sum(0, 59), 0);
        ring.add(10 * HISTORY, 1);
        assert_eq!(ring.last(10 * HISTORY, HISTORY), 1);
    }

    #[test]
    fn latency_window_covers_this_minute_and_the_last() {
        let mut m = MinuteSketches::default();
        m.current.add(1.0);
        m.roll(1);
        m.current.add(2.0);
        assert_eq!(m.window(1).count(), 2);
        assert_eq!(m.window(2).count(), 1, "only minute 1 is within the window of minute 2");
        assert_eq!(m.window(3).count(), 0);
        m.roll(5);
        assert_eq!(m.window(5).count(), 0);
    }
}
