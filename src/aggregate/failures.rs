//! The failures of a run folded into counters: per cause (statuses, evidence, findings,
//! nginx.conf places), per upstream, per path and cause, per fine time bucket. Memory follows the distinct
//! keys, not the failures; a part folded from a later stretch of failures merges into one from an
//! earlier stretch exactly, so a run can be folded in parallel chunks and in time segments.

use std::collections::BTreeMap;

use crate::access::request_path;
use crate::cite::Places;
use crate::correlate::Event;
use crate::errorlog::{Cause, ErrorRecord, Role};
use crate::escape::{lossless, lossless_cow};
use crate::nginx_conf::route::Router;
use crate::path_template::{PathKey, PathTally};

use super::buckets::FineBuckets;
use super::build::Limits;
use super::findings::Findings;
use super::inputs::Joins;
use super::samples::Samples;
use super::upstreams::Upstreams;

/// What folding a stretch of failures reads besides the failures.
pub struct Context<'a> {
    pub errors: &'a [ErrorRecord],
    /// The nginx.conf's router, when a conf was given: failures are counted by place.
    pub router: Option<&'a Router<'a>>,
    pub limits: Limits,
}

/// One cause's client-facing failures.
#[derive(Debug, Default)]
pub struct CauseTally {
    pub count: u64,
    pub statuses: BTreeMap<u16, u64>,
    /// The first `limits.top` evidence lines.
    pub evidence: Vec<String>,
    pub findings: Findings,
    pub places: Places,
    /// Timeouts: the `$request_time` of failures no place took (the places keep their own).
    pub times: Samples,
}

impl CauseTally {
    /// Counts `e`, a client-facing failure on the upstream numbered `upstream`.
    fn add(&mut self, e: &Event, path: &PathKey<'_>, upstream: u32, cx: &Context<'_>) {
        self.count += 1;
        *self.statuses.entry(e.request.status).or_insert(0) += 1;
        if self.evidence.len() < cx.limits.top {
            self.evidence.extend(evidence_line(cx.errors, e));
        }
        self.findings.add(e.cause, e, path, upstream);
        let placed = cx.router.is_some_and(|router| self.places.add(router, e.cause, e, cx.errors));
        if let Some(t) = e.request.request_time.filter(|_| !placed && e.cause.timed_out()) {
            self.times.add(t);
        }
    }

    fn merge(&mut self, later: CauseTally, top: usize) {
        self.count += later.count;
        for (status, n) in later.statuses {
            *self.statuses.entry(status).or_insert(0) += n;
        }
        let room = top.saturating_sub(self.evidence.len());
        self.evidence.extend(later.evidence.into_iter().take(room));
        self.findings.merge(later.findings);
        self.places.merge(later.places);
        self.times.merge(&later.times);
    }

    /// Every `$request_time` kept: those no place took, and each place's.
    pub fn all_times(&self) -> Samples {
        let mut all = self.times.clone();
        self.places.times().for_each(|times| all.merge(times));
        all
    }
}

/// The line a failure is shown by: its last terminal error line, or its access line when none.
fn evidence_line(errors: &[ErrorRecord], event: &Event) -> Option<String> {
    match event.evidence().rev().find(|&i| errors[i].cause.role() == Role::Terminal) {
        // Nearly every line is valid UTF-8: checked at once, and copied whole.
        Some(i) => Some(lossless_cow(errors[i].raw()).into_owned()),
        None => event.request.request().map(|r| {
            format!(
                "{} {} (access log line {}, no error line)",
                event.request.status,
                lossless(r),
                event.request.line
            )
        }),
    }
}

/// Terminal error lines of one cause that no request claimed.
#[derive(Debug, Default)]
pub struct Unclaimed {
    pub count: u64,
    /// The first `limits.top` of them.
    pub evidence: Vec<String>,
}

/// Everything the report keeps of the failures.
#[derive(Debug)]
pub struct Failures {
    pub causes: BTreeMap<Cause, CauseTally>,
    /// Every client-facing failure by path, and so each cause's by path too.
    pub paths: PathTally,
    pub upstreams: Upstreams,
    pub buckets: FineBuckets,
    pub joins: Joins,
    /// Client-facing failures.
    pub client: u64,
    /// Error lines the events claimed: terminal ones, and context lines.
    pub claimed: u64,
    pub context_claimed: u64,
    pub unclaimed: BTreeMap<Cause, Unclaimed>,
    /// Room for each failure's path template (see [`PathKey::new`]).
    template: String,
}

impl Failures {
    /// No failures yet; time buckets of `fine` seconds on the clock of `offset`.
    pub fn new(fine: i64, offset: i32) -> Failures {
        Failures {
            causes: BTreeMap::new(),
            paths: PathTally::default(),
            upstreams: Upstreams::default(),
            buckets: FineBuckets::new(fine, offset),
            joins: Joins::default(),
            client: 0,
            claimed: 0,
            context_claimed: 0,
            unclaimed: BTreeMap::new(),
            template: String::new(),
        }
    }

    /// Folds one event: a client-facing failure, or a retry that recovered.
    pub fn add_event(&mut self, e: &Event, cx: &Context<'_>) {
        self.joins.add(e);
        let claimed = e.evidence().filter(|&i| cx.errors[i].cause.role() == Role::Terminal).count() as u64;
        self.claimed += claimed;
        self.context_claimed += e.evidence().len() as u64 - claimed;
        let Some(upstream) = self.upstreams.add_event(e) else {
            return;
        };
        self.client += 1;
        // Templating a path costs more than counting it: made once for the paths and the findings.
        let mut template = std::mem::take(&mut self.template);
        let path = PathKey::new(
            e.request.request().map_or(&b"-"[..], request_path),
            cx.limits.templates,
            &mut template,
        );
        self.paths.add_key(&path, e.cause);
        if let Some(t) = e.request.time {
            self.buckets.add(t, e.cause, e.upstream().map(|_| upstream));
        }
        self.causes.entry(e.cause).or_default().add(e, &path, upstream, cx);
        drop(path);
        self.template = template;
    }

    /// Folds a terminal error line no request claimed; `offset` is the error log's zone.
    pub fn add_unclaimed(&mut self, r: &ErrorRecord, offset: i32, top: usize) {
        self.upstreams.add_unmatched(r, offset);
        let unclaimed = self.unclaimed.entry(r.cause).or_default();
        unclaimed.count += 1;
        if unclaimed.evidence.len() < top {
            unclaimed.evidence.push(lossless(r.raw()));
        }
    }

    /// Adds the failures folded into `later`, all of which come after these.
    pub fn merge(&mut self, later: Failures, top: usize) {
        for (cause, tally) in later.causes {
            match self.causes.get_mut(&cause) {
                Some(mine) => mine.merge(tally, top),
                None => {
                    self.causes.insert(cause, tally);
                }
            }
        }
        self.paths.merge(later.paths);
        let theirs = self.upstreams.merge(later.upstreams);
        self.buckets.merge(later.buckets, &theirs);
        self.joins.merge(later.joins);
        self.client += later.client;
        self.claimed += later.claimed;
        self.context_claimed += later.context_claimed;
        for (cause, theirs) in later.unclaimed {
            let mine = self.unclaimed.entry(cause).or_default();
            mine.count += theirs.count;
            let room = top.saturating_sub(mine.evidence.len());
            mine.evidence.extend(theirs.evidence.into_iter().take(room));
        }
    }
}
