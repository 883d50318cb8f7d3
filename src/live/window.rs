//! The batch join run over a sliding window, as records arrive.
//!
//! A 5xx access record waits up to the join wait for its error line; an error line waits for the
//! access line of its request. Each pass runs [`correlate`] over the waiting candidates and the
//! error lines at hand, and releases an event as soon as it found its error lines, or when its
//! wait is over (then it is diagnosed from the access log alone, as the batch join does). Error
//! lines an event claimed leave the window with it; unclaimed ones leave when their own wait is
//! over. Both sides are capped, so memory stays bounded however long it runs.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::correlate::{correlate, Event};
use crate::errorlog::{ErrorRecord, Role};
use crate::summary::Candidate;

/// How long an unclaimed error line is kept: nginx writes the access line when the request
/// ends, which after a timed-out attempt and a retry is up to its default 60 s timeout later.
pub const ERROR_KEEP: Duration = Duration::from_secs(65);
/// Most access records waiting at once; past it the oldest are released without waiting.
pub const MAX_PENDING: usize = 20_000;
/// Most error lines kept at once; past it the oldest unclaimed ones are dropped.
pub const MAX_ERRORS: usize = 20_000;

struct Pending {
    candidate: Candidate,
    arrived: Instant,
}

/// Waiting access records, and when each error line arrived (parallel to the caller's
/// error-record list, which the events' evidence indexes point into).
pub struct Window {
    wait: Duration,
    pending: Vec<Pending>,
    arrived: Vec<Instant>,
    /// Records arrived since the last join.
    changed: bool,
    /// Terminal error lines that left the window without an access line.
    pub unclaimed: u64,
}

impl Window {
    pub fn new(wait: Duration) -> Window {
        Window { wait, pending: Vec::new(), arrived: Vec::new(), changed: false, unclaimed: 0 }
    }

    /// Adds access records that arrived at `now`.
    pub fn add_candidates(&mut self, candidates: Vec<Candidate>, now: Instant) {
        self.changed |= !candidates.is_empty();
        self.pending.extend(candidates.into_iter().map(|candidate| Pending { candidate, arrived: now }));
    }

    /// Adds error records that arrived at `now` to `errors` (the list the join reads).
    pub fn add_errors(&mut self, errors: &mut Vec<ErrorRecord>, new: Vec<ErrorRecord>, now: Instant) {
        self.changed |= !new.is_empty();
        self.arrived.extend(std::iter::repeat_n(now, new.len()));
        errors.extend(new);
    }

    /// Access records waiting for their error lines.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The input of each waiting access record.
    pub fn inputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.pending.iter().map(|p| p.candidate.input)
    }

    /// When the oldest waiting access record's wait ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.arrived + self.wait).min()
    }

    /// Joins what is at hand; returns the events that are ready (all of them when `flush`), in
    /// log order. Their evidence indexes point into `errors`; call [`Window::settle`] after use.
    pub fn join(
        &mut self,
        errors: &[ErrorRecord],
        forced_offset: Option<i32>,
        now: Instant,
        flush: bool,
    ) -> Vec<Event> {
        let due = self.deadline().is_some_and(|d| d <= now);
        if self.pending.is_empty() || !(self.changed || due || flush) {
            return Vec::new();
        }
        self.changed = false;
        let pending = std::mem::take(&mut self.pending);
        let arrivals: FxHashMap<(usize, u64), Instant> =
            pending.iter().map(|p| ((p.candidate.input, p.candidate.line), p.arrived)).collect();
        let mut excess = pending.len().saturating_sub(MAX_PENDING);
        let correlation =
            correlate(pending.into_iter().map(|p| p.candidate).collect(), errors, forced_offset);
        let mut ready = Vec::new();
        for event in correlation.events {
            let arrived = arrivals.get(&(event.request.input, event.request.line)).copied().unwrap_or(now);
            if flush || event.has_evidence() || arrived + self.wait <= now || excess > 0 {
                excess = excess.saturating_sub(1);
                ready.push(event);
            } else {
                self.pending.push(Pending { candidate: event.request, arrived });
            }
        }
        ready
    }

    /// Removes from `errors` the lines `events` claimed, and the unclaimed lines whose wait is
    /// over (all of them when `flush`), counting the terminal ones as unclaimed when `admit`
    /// (the filters) passes them.
    pub fn settle(
        &mut self,
        events: &[Event],
        errors: &mut Vec<ErrorRecord>,
        now: Instant,
        flush: bool,
        mut admit: impl FnMut(&ErrorRecord) -> bool,
    ) {
        let keep_for = ERROR_KEEP.max(self.wait);
        let expiring = self.arrived.first().is_some_and(|a| *a + keep_for <= now);
        if events.is_empty() && !flush && !expiring && errors.len() <= MAX_ERRORS {
            return;
        }
        let mut claimed = vec![false; errors.len()];
        for i in events.iter().flat_map(Event::evidence) {
            if let Some(c) = claimed.get_mut(i) {
                *c = true;
            }
        }
        let mut excess = errors.len().saturating_sub(MAX_ERRORS);
        let keep: Vec<bool> = errors
            .iter()
            .zip(&self.arrived)
            .zip(&claimed)
            .map(|((record, arrived), claimed)| {
                if *claimed {
                    return false;
                }
                let over = flush || *arrived + keep_for <= now || excess > 0;
                if over {
                    excess = excess.saturating_sub(1);
                    self.unclaimed += u64::from(record.cause.role() == Role::Terminal && admit(record));
                }
                !over
            })
            .collect();
        let mut flags = keep.iter();
        errors.retain(|_| flags.next() == Some(&true));
        let mut flags = keep.iter();
        self.arrived.retain(|_| flags.next() == Some(&true));
    }
}
