//! What the dashboard shows, computed from a [`Tally`] at an instant: the header's rates, the
//! upstream rows, the causes over time and the failures the filter lets through. No drawing
//! here: these are plain values, tested on their own.

use std::time::{Duration, Instant};

use crate::live::tally::{Failure, Tally, Upstream, BEFORE, HISTORY, NOW};
use crate::summary::is_failure_status;

/// The header's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Requests and client-facing failures per second over the last minute.
    pub requests_per_second: f64,
    pub failures_per_second: f64,
    /// Share of requests answered 502, 504 and any 5xx: over the last minute, and since start.
    pub now: [f64; 3],
    pub since_start: [f64; 3],
}

/// Whether the failure rate rose or fell against 5 minutes ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    Up,
    Down,
    Flat,
}

impl Trend {
    pub fn arrow(self) -> &'static str {
        match self {
            Trend::Up => "↑",
            Trend::Down => "↓",
            Trend::Flat => "=",
        }
    }
}

/// One line of the upstream table.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamRow {
    pub name: String,
    pub attempts_per_second: f64,
    /// Client-facing failures in the last minute.
    pub failures_now: u64,
    /// Failures per attempt in the last minute, and in the minute that ended 5 minutes ago.
    pub rate_now: f64,
    pub rate_before: f64,
    pub trend: Trend,
    pub top_cause: Option<&'static str>,
    pub last_failure: Option<Duration>,
    /// p50 and p99 response time, seconds.
    pub latency: Option<(f64, f64)>,
}

/// One cause's failures over the last 15 minutes, oldest column first.
#[derive(Clone, Debug, PartialEq)]
pub struct CauseSeries {
    pub cause: &'static str,
    pub columns: Vec<u64>,
    pub total: u64,
}

/// What the `f` filter matches: a failure or upstream whose upstream, cause or request
/// contains the text (case-insensitively). Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter(pub String);

impl Filter {
    pub fn matches(&self, fields: &[&str]) -> bool {
        let needle = self.0.to_lowercase();
        needle.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&needle))
    }
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

pub fn header(t: &Tally, now: Instant) -> Header {
    let second = t.second(now);
    let requests_now = t.requests_per_second.last(second, NOW);
    let since =
        |f: &dyn Fn(u16) -> bool| t.statuses.iter().filter(|(s, _)| f(**s)).map(|(_, n)| n).sum::<u64>();
    Header {
        requests_per_second: requests_now as f64 / NOW as f64,
        failures_per_second: t.failures_per_second.last(second, NOW) as f64 / NOW as f64,
        now: [0, 1, 2].map(|i| share(t.status_per_second[i].last(second, NOW), requests_now)),
        since_start: [
            share(since(&|s| s == 502), t.requests),
            share(since(&|s| s == 504), t.requests),
            share(since(&is_failure_status), t.requests),
        ],
    }
}

fn upstream_row(name: &str, u: &Upstream, second: u64, now: Instant) -> UpstreamRow {
    let (rate_now, rate_before) = (u.failure_rate(second, 0), u.failure_rate(second, BEFORE));
    let trend = if rate_now > rate_before {
        Trend::Up
    } else if rate_now < rate_before {
        Trend::Down
    } else {
        Trend::Flat
    };
    UpstreamRow {
        name: crate::escape::sanitize_str(name),
        attempts_per_second: u.attempts_per_second(second),
        failures_now: u.failures(second, NOW),
        rate_now,
        rate_before,
        trend,
        top_cause: u.top_cause(second),
        last_failure: u.last_failure.map(|at| now.saturating_duration_since(at)),
        latency: u.latency(second),
    }
}

/// Upstreams with traffic or failures in the last 15 minutes that pass `filter` (by name, top
/// cause, or a listed failure's upstream), most failures
/// in the last minute first (then in the last 15 minutes, then by name).
pub fn upstreams(t: &Tally, now: Instant, filter: &Filter) -> Vec<UpstreamRow> {
    let second = t.second(now);
    let mut rows: Vec<(u64, UpstreamRow)> = t
        .upstreams
        .iter()
        .map(|(name, u)| (u.failures(second, HISTORY), upstream_row(name, u, second, now)))
        .filter(|(failed, row)| *failed > 0 || row.attempts_per_second > 0.0 || row.latency.is_some())
        .filter(|(_, row)| {
            filter.matches(&[&row.name, row.top_cause.unwrap_or_default()])
                || failures(t, filter).iter().any(|f| f.upstream == row.name)
        })
        .collect();
    rows.sort_by(|(fa, a), (fb, b)| {
        b.failures_now.cmp(&a.failures_now).then(fb.cmp(fa)).then(a.name.cmp(&b.name))
    });
    rows.into_iter().map(|(_, row)| row).collect()
}

/// Each cause with failures in the last 15 minutes, in `columns` equal slices of them (oldest
/// first), busiest cause first.
pub fn causes(t: &Tally, now: Instant, columns: usize) -> Vec<CauseSeries> {
    let columns = columns.clamp(1, HISTORY as usize) as u64;
    // Column `c` ends `HISTORY * (columns - c - 1) / columns` seconds before now: the last
    // column is always the current one, also in a session younger than 15 minutes.
    let end = t.second(now) + 1;
    let bound = |c: u64| (end + c * HISTORY / columns).saturating_sub(HISTORY);
    let mut series: Vec<CauseSeries> = t
        .causes
        .iter()
        .map(|(cause, ring)| {
            let columns: Vec<u64> = (0..columns).map(|c| ring.sum(bound(c), bound(c + 1))).collect();
            CauseSeries { cause, total: columns.iter().sum(), columns }
        })
        .filter(|s| s.total > 0)
        .collect();
    series.sort_by(|a, b| b.total.cmp(&a.total).then(a.cause.cmp(b.cause)));
    series
}

/// The failures `filter` lets through, newest first.
pub fn failures<'t>(t: &'t Tally, filter: &Filter) -> Vec<&'t Failure> {
    t.recent.iter().filter(|f| filter.matches(&[&f.upstream, f.cause, &f.request])).collect()
}

/// A duration as the table shows it: `12s`, `4m`, `2h`.
pub fn age(d: Duration) -> String {
    match d.as_secs() {
        s @ 0..60 => format!("{s}s"),
        s @ 60..3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// Seconds as the table shows them: `850µs`, `12ms`, `1.25s`.
pub fn seconds(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.0}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}

/// Events per second: two decimals below 10, none above.
pub fn per_second(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// A share as a percentage with one decimal.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
