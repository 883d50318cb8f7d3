//! Corrections: a failure shown before its error line arrived, diagnosed again once it does.
//!
//! A 5xx waits the join wait for its error line, then is shown from the access log alone (often
//! as `unattributed`). Its error line can still come later: the error log is read on another
//! wake, or nginx flushed it late. Such failures are kept for [`KEEP`] after they were shown,
//! and every pass that brought error lines joins them again; one that now finds its error lines
//! yields a [`Correction`], so live totals end equal to a batch report of the same lines. The
//! printers show it (`↻` in text, `{"correction": …}` in NDJSON) and any other view of a session
//! (a dashboard, counters) applies it the same way: the failure moves from `was` to the new cause.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::correlate::{correlate, Event};
use crate::errorlog::{Cause, ErrorRecord};
use crate::summary::Candidate;

/// How long a failure shown without an error line may still be corrected: as long as an error
/// line is kept waiting for its access line (see [`super::window::ERROR_KEEP`]).
pub const KEEP: Duration = super::window::ERROR_KEEP;
/// How long a failure shown without an error line can be corrected, given the join wait.
pub fn keep_for(wait: Duration) -> Duration {
    KEEP.max(wait)
}

/// Most failures kept for correction; past it the oldest can no longer be corrected.
pub const MAX_KEPT: usize = 20_000;

/// A failure shown with cause `was` and no error line (or left out by the filters), now
/// diagnosed with its error lines.
#[derive(Clone, Debug)]
pub struct Correction {
    /// The cause it was shown with.
    pub was: Cause,
    /// Whether it was shown: one the filters left out may pass them with its error lines (they
    /// name its upstream, its server), and is then shown for the first time.
    pub shown: bool,
    /// The failure as diagnosed now (its evidence indexes point into the session's error lines).
    pub event: Event,
}

struct Shown {
    candidate: Candidate,
    was: Cause,
    at: Instant,
    shown: bool,
}

/// Failures shown without an error line, in the order they were shown.
pub struct Corrector {
    keep: Duration,
    shown: VecDeque<Shown>,
}

impl Corrector {
    /// Keeps failures for `KEEP`, or for the join wait when that is longer.
    pub fn new(wait: Duration) -> Corrector {
        Corrector { keep: keep_for(wait), shown: VecDeque::new() }
    }

    /// Failures kept for correction.
    pub fn len(&self) -> usize {
        self.shown.len()
    }

    /// Whether no failure is kept.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// Keeps the client-facing failures among `events` (just decided at `now`: `shown`, or left
    /// out by the filters) that had no error line.
    pub fn keep(&mut self, events: &[Event], now: Instant, shown: bool) {
        for event in events.iter().filter(|e| e.client_facing() && !e.has_evidence()) {
            if self.shown.len() == MAX_KEPT {
                self.shown.pop_front();
            }
            self.shown.push_back(Shown {
                candidate: event.request.clone(),
                was: event.cause,
                at: now,
                shown,
            });
        }
    }

    /// The access lines of the kept failures the filters left out, by input: they are counted
    /// filtered, but may still be shown.
    pub fn left_out(&self) -> impl Iterator<Item = usize> + '_ {
        self.shown.iter().filter(|s| !s.shown).map(|s| s.candidate.input)
    }

    /// Joins the kept failures with `errors` (the error lines no shown failure claimed) when new
    /// error lines `arrived`; returns those that found their error lines, which are no longer
    /// kept. Failures kept past their time are forgotten.
    pub fn correct(
        &mut self,
        errors: &[ErrorRecord],
        forced_offset: Option<i32>,
        now: Instant,
        arrived: bool,
    ) -> Vec<Correction> {
        while self.shown.front().is_some_and(|s| s.at + self.keep <= now) {
            self.shown.pop_front();
        }
        if !arrived || errors.is_empty() || self.shown.is_empty() {
            return Vec::new();
        }
        let key = |c: &Candidate| (c.input, c.line);
        let mut was: FxHashMap<(usize, u64), (Cause, bool)> =
            self.shown.iter().map(|s| (key(&s.candidate), (s.was, s.shown))).collect();
        let correlation =
            correlate(self.shown.iter().map(|s| s.candidate.clone()).collect(), errors, forced_offset);
        let corrections: Vec<Correction> = correlation
            .events
            .into_iter()
            .filter(|e| e.has_evidence())
            .filter_map(|event| {
                let (was, shown) = was.remove(&key(&event.request))?;
                Some(Correction { was, shown, event })
            })
            .collect();
        // What is left in `was` is still uncorrected.
        self.shown.retain(|s| was.contains_key(&key(&s.candidate)));
        corrections
    }
}
