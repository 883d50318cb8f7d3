//! `--state FILE`: incremental runs for cron. The state records, per log, how far it was read
//! (known by its first bytes, so rotation does not fool it) and the end of the join that waits
//! for more lines; the next run reads only what is new and counts every line exactly once.
//!
//! A run: [`Incremental::begin`] locks and reads the state, [`plan`] (through
//! [`Incremental::plan`]) says where to read each input from, [`Incremental::settle`] holds
//! back the join's unsettled end after reading, and [`Incremental::commit`] writes the state,
//! only once the output is written, so a run that fails or is killed before that leaves the
//! state as it was and nothing is skipped.

mod file;
mod identity;
mod lock;
mod logs;
mod tail;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::errorlog::parse_line;
use crate::input::InputSpec;
use crate::pipeline::{Analysis, Carried};

pub use file::{load, State, StateError, FORMAT, VERSION};
pub use lock::lock_path;
pub use tail::{carry_to_next_segment, MAX_WAITING};

/// One incremental run, holding the state file's lock until it ends.
pub struct Incremental {
    path: PathBuf,
    _lock: lock::Lock,
    /// The state as this run found it.
    found: State,
    tracked: Vec<logs::Tracked>,
    /// How many inputs are read; carried lines of logs not read get indexes past them.
    inputs: usize,
    /// How many error records were carried in (they come last in the analysis).
    carried_errors: usize,
    next: Option<State>,
}

/// What `settle` held back for the next run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waiting {
    pub requests: usize,
    pub error_lines: usize,
    /// Failed requests that waited (or would wait) for an error line their logs can no longer
    /// bring, settled without one.
    pub settled_unexplained: usize,
}

/// A batch run's inputs as `--state` leaves them to read.
pub struct Plan {
    /// Each input resumed where earlier runs stopped; logs unchanged since are left out.
    pub specs: Vec<InputSpec>,
    /// The lines earlier runs held back for this one.
    pub carried: Carried,
    /// What the user should know (a log rotated, one gone).
    pub notes: Vec<String>,
    /// How many inputs were left out as unchanged.
    pub unchanged: usize,
}

/// Plans what `run` (the `--state` of this run, if any) leaves of `specs` to read; without a
/// state, everything from the start.
pub fn plan(run: Option<&mut Incremental>, specs: Vec<InputSpec>) -> anyhow::Result<Plan> {
    let found = specs.len();
    let (specs, carried, notes) = match run {
        Some(run) => run.plan(specs)?,
        None => (specs, Carried::default(), Vec::new()),
    };
    Ok(Plan { unchanged: found.saturating_sub(specs.len()), specs, carried, notes })
}

impl Waiting {
    /// The note telling the user what waits for the next run, when anything was held back or
    /// settled.
    pub fn note(&self) -> Option<String> {
        (*self != Waiting::default()).then(|| {
            format!(
                "{} failed request(s) and {} error line(s) at the end of the logs wait for the next run, where their partner lines may be",
                self.requests, self.error_lines
            )
        })
    }
}

impl Incremental {
    /// Locks the state at `path` and reads it: a fresh one when `reset` or when there is none
    /// yet. Fails when another run holds it (unless `wait`) or when it cannot be trusted.
    pub fn begin(path: &Path, reset: bool, wait: bool) -> anyhow::Result<Incremental> {
        let lock = lock::acquire(path, wait)?;
        let found = if reset { State::default() } else { load(path)?.unwrap_or_default() };
        Ok(Incremental {
            path: path.to_path_buf(),
            _lock: lock,
            found,
            tracked: Vec::new(),
            inputs: 0,
            carried_errors: 0,
            next: None,
        })
    }

    /// The inputs to read, each resumed where earlier runs stopped (unchanged files left out),
    /// the lines earlier runs carried over, and notes for the user.
    pub fn plan(&mut self, specs: Vec<InputSpec>) -> anyhow::Result<(Vec<InputSpec>, Carried, Vec<String>)> {
        let matched = logs::match_logs(specs, &self.found.logs, &self.path)?;
        self.inputs = matched.specs.len();
        let mut input_of = vec![None; self.found.logs.len()];
        for t in &matched.tracked {
            if let (Some(input), Some(k)) = (t.input, t.known) {
                input_of[k] = Some(input);
            }
        }
        let input_of = |log: usize| input_of.get(log).copied().flatten().unwrap_or(self.inputs + log);
        let mut carried = Carried::default();
        for c in &self.found.pending.candidates {
            carried.candidates.push(crate::summary::Candidate { input: input_of(c.input), ..c.clone() });
        }
        for e in &self.found.pending.errors {
            let mut record = parse_line(&e.raw)
                .and_then(|line| Some(line.to_record(input_of(e.log), e.line, line.cause()?)))
                .ok_or_else(|| StateError::Corrupt {
                    path: self.path.display().to_string(),
                    why: format!("a pending error line (line {}) is not an upstream error line", e.line),
                })?;
            record.source = e.source.as_deref().map(Into::into);
            carried.errors.push(record);
        }
        self.carried_errors = carried.errors.len();
        self.tracked = matched.tracked;
        Ok((matched.specs, carried, matched.notes))
    }

    /// After reading: takes out of `analysis` the lines whose join partner may come in the next
    /// run, and prepares the state that [`commit`](Self::commit) writes.
    pub fn settle(&mut self, analysis: &mut Analysis) -> Waiting {
        let run = self.found.runs + 1;
        let previous =
            tail::Horizon { access_until: self.found.access_until, errors_until: self.found.errors_until };
        let horizon = previous.advance(analysis, analysis.errors.len().saturating_sub(self.carried_errors));
        let next = logs::next_logs(&self.tracked, &self.found.logs, analysis, run);
        let inputs = self.inputs;
        let log_of = |input: usize| match input.checked_sub(inputs) {
            None => next.of_input.get(input).copied().flatten(),
            Some(k) => next.of_known.get(k).copied().flatten(),
        };
        let mut finished = vec![false; next.logs.len()];
        for t in self.tracked.iter().filter(|t| t.observed.gzip) {
            let log = t.input.and_then(|i| next.of_input.get(i).copied().flatten());
            let log = log.or_else(|| t.known.and_then(|k| next.of_known.get(k).copied().flatten()));
            if let Some(slot) = log.and_then(|l| finished.get_mut(l)) {
                *slot = true;
            }
        }
        let growth = tail::Growth {
            now: chrono::Utc::now().timestamp(),
            written: analysis.extents.iter().any(|e| e.bytes > 0),
        };
        let (waiting, settled_unexplained) = tail::hold_back(analysis, horizon, growth, log_of, |log| {
            finished.get(log).copied().unwrap_or(false)
        });
        analysis.settled_unexplained = settled_unexplained as u64;
        analysis.errors_waiting += waiting.errors.len() as u64;
        let counts = Waiting {
            requests: waiting.candidates.len(),
            error_lines: waiting.errors.len(),
            settled_unexplained,
        };
        let errors = waiting
            .errors
            .into_iter()
            .map(|r| file::PendingError {
                log: r.input,
                line: r.line,
                raw: r.raw().to_vec(),
                source: r.source.as_deref().map(str::to_owned),
            })
            .collect();
        self.next = Some(State {
            runs: run,
            logs: next.logs,
            access_until: horizon.access_until,
            errors_until: horizon.errors_until,
            pending: file::Pending { candidates: waiting.candidates, errors },
            ..State::default()
        });
        counts
    }

    /// Writes the state settled by [`settle`](Self::settle), atomically. Call it only once the
    /// run's output is safely written.
    pub fn commit(self) -> anyhow::Result<()> {
        let Some(next) = &self.next else { return Ok(()) };
        file::save(&self.path, next).with_context(|| {
            format!("cannot write the state file {} (it was left as it was)", self.path.display())
        })
    }
}
