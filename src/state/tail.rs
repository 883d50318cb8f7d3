//! The end of the join, carried from one run to the next.
//!
//! nginx writes an upstream's error line when the attempt fails and the access line when the
//! request ends, so a run that stops between the two sees a 5xx without its cause, or an error
//! line without its 5xx. Such lines near the end of what was read are not reported yet: they
//! wait in the state and join the next run's lines, and are reported by the run that settles
//! them, which also counts them (by status and in the timeline), so every run's failures are
//! among its own requests.
//!
//! A line can only still get its partner while its logs may grow. Lines are settled as they
//! are, whatever the horizon says, once the wall clock is past their time plus the join's wait
//! (nginx writes both lines of a request within it), once the log they came from has been
//! rotated away and compressed, or once a run finds no new line in any input (the logs stopped:
//! yesterday's rotation, a decommissioned host, an archive). Otherwise a report over a finished
//! day would leave its last failures uncounted run after run.

use crate::correlate::{Event, JoinMethod, DEFAULT_LOOKBACK};
use crate::errorlog::Role;
use crate::pipeline::{Analysis, Carried};

/// nginx stamps lines from a clock cached to the second: an error line may carry the second
/// after its access line.
const CLOCK_SLACK: i64 = 1;
/// How far after an error line its access line may come: the join's look-back, plus slack.
const ERROR_WAIT: i64 = DEFAULT_LOOKBACK + 2;
/// Lines kept waiting at most, of each kind; the oldest beyond are settled as they are.
pub const MAX_WAITING: usize = 10_000;

/// Whether the logs may still grow, as a run sees them.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    /// The wall clock, UTC seconds.
    pub now: i64,
    /// Whether this run read new lines from any input.
    pub written: bool,
}

impl Growth {
    /// Whether a line at `time` may still get a partner written within `wait` seconds of it.
    fn may_wait(&self, time: i64, wait: i64) -> bool {
        self.written && time.saturating_add(wait) > self.now
    }
}

/// How far the logs have been read, in UTC seconds of the lines read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Horizon {
    pub access_until: Option<i64>,
    pub errors_until: Option<i64>,
}

impl Horizon {
    /// Moves the horizon to what `analysis` read (it never goes back).
    pub fn advance(self, analysis: &Analysis, first_carried_error: usize) -> Horizon {
        let offset = i64::from(analysis.error_utc_offset);
        let errors = analysis.errors[..first_carried_error.min(analysis.errors.len())]
            .iter()
            .map(|r| r.local_time - offset)
            .max();
        Horizon {
            access_until: self.access_until.max(analysis.access.last),
            errors_until: self.errors_until.max(errors),
        }
    }

    /// Whether a request at `time` without an error line could still get one: its error line
    /// would be written by the time the error logs pass it, or well before the access logs
    /// move on by the join's look-back.
    fn request_may_wait(&self, time: i64) -> bool {
        let errors_passed = self.errors_until.is_some_and(|e| e > time + CLOCK_SLACK);
        let access_passed = self.access_until.is_some_and(|a| a >= time + DEFAULT_LOOKBACK);
        !errors_passed && !access_passed
    }

    /// Whether an error line at `time` could still be claimed by an access line not read yet.
    fn error_may_wait(&self, time: i64) -> bool {
        self.access_until.is_some_and(|a| a <= time + ERROR_WAIT)
    }
}

/// Takes out of `analysis` the lines that wait for the next run (see the module docs), at
/// most [`MAX_WAITING`] of each kind, the latest; `log_of` tells which state log an input index
/// belongs to (lines of logs the state cannot name are settled now), `finished` whether that
/// log has been rotated away and compressed. Returns them with their `input` set to that log,
/// and how many failed requests the horizon would have kept waiting but `growth` settled
/// without an error line.
pub fn hold_back(
    analysis: &mut Analysis,
    horizon: Horizon,
    growth: Growth,
    log_of: impl Fn(usize) -> Option<usize>,
    finished: impl Fn(usize) -> bool,
) -> (Carried, usize) {
    take_tail(analysis, horizon, growth, log_of, finished, MAX_WAITING)
}

/// Takes out of one time segment of a run what the next segment may still join: the segment
/// holds every access line before `until` (UTC) and every error line up to a few seconds
/// after it, so a request before `until` has all its error lines, and only error lines no
/// request claimed, within the look-back of `until`, may still be claimed by a later one (see
/// [`crate::pipeline::analyze_in_segments`]): terminal lines, and the context lines (a peer
/// disabled, FastCGI stderr) that go with them. Lines out of time order (a request at `until`
/// or later) wait too. Nothing is settled for want of room: the segment's end is not the end
/// of the logs.
pub fn carry_to_next_segment(analysis: &mut Analysis, until: i64) -> Carried {
    let horizon = Horizon { access_until: Some(until), errors_until: Some(until + CLOCK_SLACK) };
    let always = Growth { now: i64::MIN, written: true };
    let (mut carried, _) = take_tail(analysis, horizon, always, Some, |_| false, usize::MAX);
    let mut claimed = vec![false; analysis.errors.len()];
    for i in analysis.correlation.events.iter().flat_map(Event::evidence) {
        claimed[i] = true;
    }
    let offset = i64::from(analysis.error_utc_offset);
    carried.errors.extend(analysis.errors.iter().zip(claimed).filter_map(|(r, claimed)| {
        let context = r.cause.role() == Role::Evidence && !claimed;
        (context && horizon.error_may_wait(r.local_time - offset)).then(|| r.clone())
    }));
    carried
}

fn take_tail(
    analysis: &mut Analysis,
    horizon: Horizon,
    growth: Growth,
    log_of: impl Fn(usize) -> Option<usize>,
    finished: impl Fn(usize) -> bool,
    max_waiting: usize,
) -> (Carried, usize) {
    // Without access logs there is no join to wait for.
    if horizon.access_until.is_none() {
        return (Carried::default(), 0);
    }
    let growing = |input: usize, time: i64, wait: i64| {
        log_of(input).is_some_and(|log| !finished(log)) && growth.may_wait(time, wait)
    };
    analysis.access_logs_known = true;
    let offset = i64::from(analysis.error_utc_offset);
    let events = &analysis.correlation.events;
    let mut settled = 0;
    let requests = latest(
        max_waiting,
        (0..events.len()).filter(|&i| {
            let e = &events[i];
            let Some(time) = e.request.time.filter(|_| e.join == JoinMethod::None) else { return false };
            if !horizon.request_may_wait(time) || log_of(e.request.input).is_none() {
                return false;
            }
            let wait = growing(e.request.input, time, ERROR_WAIT);
            settled += usize::from(!wait && e.client_facing());
            wait
        }),
        |&i| events[i].request.time,
    );
    let errors = &analysis.errors;
    let lines = latest(
        max_waiting,
        analysis.correlation.unmatched.iter().copied().filter(|&i| {
            let time = errors[i].local_time - offset;
            horizon.error_may_wait(time) && growing(errors[i].input, time, ERROR_WAIT)
        }),
        |&i| Some(errors[i].local_time),
    );
    let mut waiting = Carried::default();
    for i in &lines {
        let mut record = errors[*i].clone();
        record.input = log_of(record.input).unwrap_or(record.input);
        waiting.errors.push(record);
    }
    analysis.correlation.unmatched.retain(|i| lines.binary_search(i).is_err());
    let mut index = 0;
    analysis.correlation.events.retain(|event| {
        let wait = requests.binary_search(&index).is_ok();
        index += 1;
        if wait {
            let input = log_of(event.request.input).unwrap_or(event.request.input);
            analysis.access.withdraw(&event.request);
            waiting.candidates.push(crate::summary::Candidate { input, ..event.request.clone() });
        }
        !wait
    });
    (waiting, settled)
}

/// The latest `max` of `items` by `time`, as a sorted set of them.
fn latest<T: Ord + Copy>(
    max: usize,
    items: impl Iterator<Item = T>,
    time: impl Fn(&T) -> Option<i64>,
) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    if items.len() > max {
        items.sort_by_key(|i| std::cmp::Reverse(time(i)));
        items.truncate(max);
    }
    items.sort_unstable();
    items
}
