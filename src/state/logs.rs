//! Tying the logs found now to the logs the state knows, and writing down how far each was read.
//!
//! A log is known by the fingerprint of its first bytes, so `access.log` renamed to
//! `access.log.1`, then compressed to `access.log.2.gz`, is the same log under three names,
//! while `access.log` after copytruncate, or deleted and created again, is a new one. The file's
//! device, inode, size and mtime only serve to skip, without reading a byte, a file that has not
//! changed since it was read whole.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::file::{KindName, LogEntry, StateError};
use super::identity::{observe, Head, Observed};
use crate::input::{InputSpec, Kind, Origin, Resume};
use crate::pipeline::Analysis;

/// Runs a log can go unseen before the state forgets it (it was deleted by logrotate, or left
/// out of the command line for a while).
const KEEP_UNSEEN_RUNS: u64 = 100;

/// A log file of this run, and what the state knew of it.
#[derive(Debug)]
pub struct Tracked {
    /// Its index among the inputs read; `None` when skipped as unchanged.
    pub input: Option<usize>,
    pub path: PathBuf,
    pub observed: Observed,
    /// Its entry in the state read at the start, if it was seen before.
    pub known: Option<usize>,
}

/// The inputs to read, resumed where earlier runs stopped.
#[derive(Debug, Default)]
pub struct Matched {
    pub specs: Vec<InputSpec>,
    pub tracked: Vec<Tracked>,
    /// What a person running this by hand would want to know (files skipped, restarts).
    pub notes: Vec<String>,
}

enum Verdict {
    Unchanged(usize),
    Resume(usize, Resume),
    Duplicate(usize),
    New,
    /// The very file the state names, untouched since, is shorter than what the state says was
    /// read of it: the state was edited or damaged, and reading it again would count twice.
    Impossible(usize),
}

/// Matches `specs` with the `known` logs (of the state file `state`) and sets where each is
/// read from.
pub fn match_logs(specs: Vec<InputSpec>, known: &[LogEntry], state: &Path) -> anyhow::Result<Matched> {
    let mut observed = Vec::with_capacity(specs.len());
    for spec in &specs {
        match &spec.origin {
            Origin::Stdin => {
                bail!("--state cannot follow stdin (it has no identity to resume from); name the log files")
            }
            Origin::File(path) => observed.push(observe(path).ok()),
        }
    }
    // Plain files first, larger first: when a rotation leaves two copies of one log (gzip
    // still compressing, copytruncate not yet truncated), the complete one is read.
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| observed[i].as_ref().map(|o| (o.gzip, std::cmp::Reverse(o.stamp.len))));
    let mut claimed = vec![false; known.len()];
    let mut verdicts: Vec<Option<Verdict>> = (0..specs.len()).map(|_| None).collect();
    for i in order {
        if let Some(o) = &observed[i] {
            let verdict = judge(o, known, &claimed);
            if let Verdict::Unchanged(k) | Verdict::Resume(k, _) = verdict {
                claimed[k] = true;
            }
            verdicts[i] = Some(verdict);
        }
    }
    let mut matched = Matched::default();
    for ((mut spec, o), verdict) in specs.into_iter().zip(observed).zip(verdicts) {
        let (Some(o), Some(verdict), Origin::File(path)) = (o, verdict, spec.origin.clone()) else {
            matched.specs.push(spec);
            continue;
        };
        let shown = path.display().to_string();
        let (input, known_as) = match verdict {
            Verdict::Unchanged(k) => (None, Some(k)),
            Verdict::Duplicate(k) => {
                matched.notes.push(format!("{shown}: the same log as {}, read there", known[k].path));
                continue;
            }
            Verdict::Resume(k, resume) => {
                matched.notes.push(if resume.bytes == 0 {
                    format!("{shown}: shorter than what was read of it (truncated): read from the start")
                } else {
                    format!(
                        "{shown}: resumed after {} lines ({} bytes) read by earlier runs",
                        resume.lines, resume.bytes
                    )
                });
                spec.resume = resume;
                spec.forced = spec.forced.or(Some(known[k].kind.into()));
                (Some(matched.specs.len()), Some(k))
            }
            Verdict::New => (Some(matched.specs.len()), None),
            Verdict::Impossible(k) => {
                let why = format!(
                    "{} bytes read of {shown}, which has {} bytes and is unchanged since",
                    known[k].read.bytes, o.stamp.len
                );
                return Err(StateError::Impossible { path: state.display().to_string(), why }.into());
            }
        };
        if input.is_some() {
            matched.specs.push(spec);
        }
        matched.tracked.push(Tracked { input, path, observed: o, known: known_as });
    }
    let unchanged = matched.tracked.iter().filter(|t| t.input.is_none()).count();
    if unchanged > 0 {
        matched.notes.push(format!("{unchanged} file(s) unchanged since the last run, not read"));
    }
    Ok(matched)
}

fn judge(o: &Observed, known: &[LogEntry], claimed: &[bool]) -> Verdict {
    if o.stamp.is_reliable() {
        let unchanged_and_shorter =
            |k: &usize| known[*k].file == o.stamp && known[*k].read.bytes > o.stamp.len;
        if let Some(k) = (0..known.len()).find(unchanged_and_shorter).filter(|_| !o.gzip) {
            return Verdict::Impossible(k);
        }
        if let Some(k) = (0..known.len()).find(|&k| !claimed[k] && known[k].whole && known[k].file == o.stamp)
        {
            return Verdict::Unchanged(k);
        }
    }
    // Two logs can share a short start (the same first line in two vhosts' logs): the file
    // they were read from tells them apart.
    let same_file = |k: usize| (known[k].file.dev, known[k].file.ino) == (o.stamp.dev, o.stamp.ino);
    let best = (0..known.len())
        .filter(|&k| known[k].head.len > 0 && known[k].head.matches(&o.head))
        .max_by_key(|&k| (known[k].head.len, same_file(k), !claimed[k], known[k].read.bytes));
    match best {
        None => Verdict::New,
        Some(k) if claimed[k] => Verdict::Duplicate(k),
        // Same start but fewer bytes than were read: cut and written again, so all of it is new.
        Some(k) if !o.gzip && o.stamp.len < known[k].read.bytes => Verdict::Resume(k, Resume::default()),
        Some(k) => Verdict::Resume(k, known[k].read),
    }
}

/// The logs the next run will know: every log of this run with how far it is now read, and the
/// known logs not seen this run, until they have been missing for [`KEEP_UNSEEN_RUNS`].
pub fn next_logs(tracked: &[Tracked], known: &[LogEntry], analysis: &Analysis, run: u64) -> NextLogs {
    let mut next = NextLogs {
        logs: Vec::with_capacity(tracked.len()),
        of_known: vec![None; known.len()],
        of_input: vec![None; analysis.inputs.len()],
    };
    let mut seen = vec![false; known.len()];
    let keep = |next: &mut NextLogs, entry: LogEntry, was: Option<usize>, input: Option<usize>| {
        if let Some(k) = was {
            next.of_known[k] = Some(next.logs.len());
        }
        if let Some(slot) = input.and_then(|i| next.of_input.get_mut(i)) {
            *slot = Some(next.logs.len());
        }
        next.logs.push(entry);
    };
    for t in tracked {
        if let Some(k) = t.known {
            seen[k] = true;
        }
        let path = t.path.display().to_string();
        let read_now = t.input.and_then(|i| Some((analysis.inputs.get(i)?, analysis.extents.get(i)?)));
        match (read_now, t.known) {
            (None, Some(k)) => {
                keep(&mut next, LogEntry { path, last_run: run, ..known[k].clone() }, Some(k), None)
            }
            (Some((report, extent)), was) => {
                let read = Resume {
                    bytes: extent.skipped.bytes.saturating_add(extent.bytes),
                    lines: extent.skipped.lines.saturating_add(report.lines),
                };
                let head_len = usize::try_from(read.bytes)
                    .map_or(t.observed.head.len(), |b| b.min(t.observed.head.len()));
                match report.kind {
                    Some(kind) if head_len > 0 => keep(
                        &mut next,
                        LogEntry {
                            path,
                            kind: kind.into(),
                            head: Head::of(&t.observed.head[..head_len]),
                            read,
                            file: t.observed.stamp,
                            whole: report.problem.is_none(),
                            last_run: run,
                        },
                        was,
                        t.input,
                    ),
                    // Not a log, unreadable, or empty: nothing read to remember; what was known stays.
                    _ => {
                        if let Some(k) = was {
                            keep(&mut next, known[k].clone(), Some(k), t.input);
                        }
                    }
                }
            }
            (None, None) => {}
        }
    }
    for (k, entry) in known.iter().enumerate() {
        if !seen[k] && run.saturating_sub(entry.last_run) <= KEEP_UNSEEN_RUNS {
            keep(&mut next, entry.clone(), Some(k), None);
        }
    }
    next
}

/// The logs the next run will know, and where this run's logs went in that table.
#[derive(Debug)]
pub struct NextLogs {
    pub logs: Vec<LogEntry>,
    /// For each entry of the state read at the start, its index in `logs`, if kept.
    pub of_known: Vec<Option<usize>>,
    /// For each input read, the index of its log in `logs`, if it has one.
    pub of_input: Vec<Option<usize>>,
}

impl From<Kind> for KindName {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Access => KindName::Access,
            Kind::Error => KindName::Error,
            Kind::Stream => KindName::Stream,
        }
    }
}

impl From<KindName> for Kind {
    fn from(kind: KindName) -> Self {
        match kind {
            KindName::Access => Kind::Access,
            KindName::Error => Kind::Error,
            KindName::Stream => Kind::Stream,
        }
    }
}
