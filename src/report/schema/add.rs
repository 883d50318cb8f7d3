//! How two rows of the report combine like for like, for `merge` (hosts' reports) and for the
//! rows a report sums past its cap: a new column's rule is written here, beside its type.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{ratio, Bucket, CauseRow, ErrorLines, Latency, PathRow, Slug, Totals, UpstreamRow};

impl CauseRow {
    /// The row of `cause` with nothing counted yet, which [`add`](Self::add) adds rows into.
    pub fn new(cause: Slug) -> CauseRow {
        let info = crate::errorlog::Cause::from_slug(cause).map(|c| c.info());
        CauseRow {
            cause,
            count: 0,
            share: 0.0,
            statuses: BTreeMap::new(),
            summary: info.map_or("", |i| i.summary),
            fix: info.map_or(&[], |i| i.fix),
            evidence: Vec::new(),
            top_paths: Vec::new(),
            findings: Vec::new(),
            citations: Vec::new(),
        }
    }

    /// Adds `other`, another host's row of the same cause: counts add; evidence lines fill up to
    /// `evidence_kept`; path counts add (most first, untruncated); findings are gathered, for the
    /// reader to recompute over all hosts at once (a weighted median adds no other way). The
    /// share is the reader's to recompute over all causes, and citations name lines of one
    /// host's nginx.conf, so a sum has none.
    pub fn add(&mut self, other: &CauseRow, evidence_kept: usize) {
        self.count = self.count.saturating_add(other.count);
        add_counts(&mut self.statuses, &other.statuses);
        let room = evidence_kept.saturating_sub(self.evidence.len());
        self.evidence.extend(other.evidence.iter().take(room).cloned());
        let mut paths: BTreeMap<String, u64> = std::mem::take(&mut self.top_paths).into_iter().collect();
        add_counts(&mut paths, &other.top_paths.iter().cloned().collect());
        self.top_paths = paths.into_iter().collect();
        self.top_paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.findings.extend(other.findings.iter().cloned());
        self.citations.clear();
    }
}

impl UpstreamRow {
    /// A row of `upstream` with nothing counted yet, which [`add`](Self::add) adds rows into.
    pub fn new(upstream: String) -> UpstreamRow {
        UpstreamRow {
            upstream,
            block: None,
            requests: None,
            errors_by_cause: BTreeMap::new(),
            client_502: 0,
            client_504: 0,
            failed_attempts: 0,
            hidden_failures: 0,
            rate_502: None,
            rate_5xx: None,
            first_failure: None,
            last_failure: None,
            latency: None,
            latency_sketch: None,
            failures_over_time: Vec::new(),
            latency_lost: false,
        }
    }

    /// Client-facing failures whose last attempt was this upstream, all causes.
    pub fn failures(&self) -> u64 {
        self.errors_by_cause.values().fold(0, |a, &b| a.saturating_add(b))
    }

    /// Adds `other` like for like: another host's row of the same upstream (or a row a report
    /// sums into [`OTHER_UPSTREAMS`](super::OTHER_UPSTREAMS)) over the same timeline buckets.
    /// Counts add (saturating); the block is the first one known; first and last failures
    /// widen; sketches merge, and the rates and quantiles are recomputed from the sums. A rate
    /// counts the failures of the parts that counted attempts, so a part without `requests` does
    /// not inflate it. Times are compared as instants (readers refuse texts that are not
    /// RFC 3339, see [`Report::restore`](super::Report::restore)).
    pub fn add(&mut self, other: &UpstreamRow) {
        let part = |r: &UpstreamRow| {
            (counted(r.rate_502, r.requests, r.client_502), counted(r.rate_5xx, r.requests, r.failures()))
        };
        let ((mine_502, mine_5xx), (its_502, its_5xx)) = (part(self), part(other));
        let (counted_502, counted_5xx) = (mine_502.saturating_add(its_502), mine_5xx.saturating_add(its_5xx));
        if self.block.is_none() {
            self.block.clone_from(&other.block);
        }
        self.requests = match (self.requests, other.requests) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        add_counts(&mut self.errors_by_cause, &other.errors_by_cause);
        self.client_502 = self.client_502.saturating_add(other.client_502);
        self.client_504 = self.client_504.saturating_add(other.client_504);
        self.failed_attempts = self.failed_attempts.saturating_add(other.failed_attempts);
        self.hidden_failures = self.hidden_failures.saturating_add(other.hidden_failures);
        self.rate_502 = self.requests.map(|r| ratio(counted_502, r));
        self.rate_5xx = self.requests.map(|r| ratio(counted_5xx, r));
        widen(&mut self.first_failure, other.first_failure.as_deref(), Ordering::Less);
        widen(&mut self.last_failure, other.last_failure.as_deref(), Ordering::Greater);
        if self.failures_over_time.len() < other.failures_over_time.len() {
            self.failures_over_time.resize(other.failures_over_time.len(), 0);
        }
        for (sum, n) in self.failures_over_time.iter_mut().zip(&other.failures_over_time) {
            *sum = sum.saturating_add(*n);
        }
        let unmergeable =
            |r: &UpstreamRow| r.latency_lost || (r.latency.is_some() && r.latency_sketch.is_none());
        self.latency_lost = unmergeable(self) || unmergeable(other);
        match &other.latency_sketch {
            _ if self.latency_lost => self.latency_sketch = None,
            Some(sketch) => self.latency_sketch.get_or_insert_with(Default::default).merge(sketch),
            None => {}
        }
        self.latency_sketch = self.latency_sketch.take().filter(|s| s.count() > 0);
        self.latency = self.latency_sketch.as_ref().and_then(Latency::from_sketch);
    }
}

/// The failures behind a part's `rate` of `requests`: none when the part counted no attempts;
/// else the rate times the requests (a quotient of counts far below 2^52, so it rounds back to
/// the count exactly), never more than the part's `count`; `count` when no rate was written.
fn counted(rate: Option<f64>, requests: Option<u64>, count: u64) -> u64 {
    match (rate, requests) {
        (_, None) => 0,
        (Some(rate), Some(requests)) => ((rate * requests as f64).round() as u64).min(count),
        (None, Some(_)) => count,
    }
}

/// Adds `from`'s counts into `into`, key by key (saturating).
pub fn add_counts<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        let slot = into.entry(k.clone()).or_insert(0);
        *slot = slot.saturating_add(*n);
    }
}

/// Keeps in `kept` whichever of it and `other` comes first (`want` = `Less`) or last (`Greater`).
fn widen(kept: &mut Option<String>, other: Option<&str>, want: Ordering) {
    if let Some(other) = other {
        if kept.as_deref().is_none_or(|k| crate::time::order_rfc3339(other, k) == want) {
            *kept = Some(other.to_owned());
        }
    }
}

/// Example paths a template's row keeps.
const PATH_EXAMPLES: usize = 2;

impl PathRow {
    /// A row without examples (a plain path, or one merged from host reports).
    pub fn new(path: String, count: u64, by_cause: BTreeMap<&'static str, u64>) -> PathRow {
        PathRow { path, count, by_cause, examples: Vec::new() }
    }

    /// Adds `other`, another host's row of the same path: counts add, examples it lacks join.
    pub fn add(&mut self, other: &PathRow) {
        self.count = self.count.saturating_add(other.count);
        add_counts(&mut self.by_cause, &other.by_cause);
        add_examples(&mut self.examples, &other.examples);
    }
}

/// Adds to a template's `examples` those of `more` it lacks, up to `PATH_EXAMPLES`.
/// Takes borrowed text too, so a path counted per failure is copied only when it is kept.
pub fn add_examples<S: AsRef<str>>(examples: &mut Vec<String>, more: &[S]) {
    for example in more.iter().map(AsRef::as_ref) {
        if examples.len() < PATH_EXAMPLES && !examples.iter().any(|e| e == example) {
            examples.push(example.to_owned());
        }
    }
}

impl Bucket {
    /// The empty bucket starting at `start_utc`, written in `offset`.
    pub fn new(start_utc: i64, offset: i32) -> Bucket {
        Bucket {
            start: crate::time::rfc3339(start_utc, offset),
            start_utc,
            requests: 0,
            by_status: BTreeMap::new(),
            by_cause: BTreeMap::new(),
        }
    }

    /// Adds `other`, another host's bucket of the same start: counts add.
    pub fn add(&mut self, other: &Bucket) {
        self.requests = self.requests.saturating_add(other.requests);
        add_counts(&mut self.by_status, &other.by_status);
        add_counts(&mut self.by_cause, &other.by_cause);
    }
}

impl Totals {
    /// Adds `other`, another host's totals: counts add; access logs were read if either read them.
    pub fn add(&mut self, other: &Totals) {
        self.requests = self.requests.saturating_add(other.requests);
        add_counts(&mut self.by_status, &other.by_status);
        self.failures = self.failures.saturating_add(other.failures);
        self.lines_read = self.lines_read.saturating_add(other.lines_read);
        self.parsed = self.parsed.saturating_add(other.parsed);
        self.malformed_lines = self.malformed_lines.saturating_add(other.malformed_lines);
        self.filtered = self.filtered.saturating_add(other.filtered);
        self.other = self.other.saturating_add(other.other);
        self.access_logs |= other.access_logs;
    }
}

impl ErrorLines {
    /// Both counts together (two hosts' lines in a fleet report), saturating.
    pub fn saturating_add(self, o: ErrorLines) -> ErrorLines {
        ErrorLines {
            read: self.read.saturating_add(o.read),
            claimed: self.claimed.saturating_add(o.claimed),
            unmatched: self.unmatched.saturating_add(o.unmatched),
            filtered: self.filtered.saturating_add(o.filtered),
            waiting: self.waiting.saturating_add(o.waiting),
            context_claimed: self.context_claimed.saturating_add(o.context_claimed),
        }
    }
}
