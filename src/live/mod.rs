//! `ngx502 live`: the batch pipeline fed by followers instead of files.
//!
//! [`follow`] reads new whole lines of each path through rotations; [`ingest`] parses them with
//! the batch parsers; [`window`] joins access and error records as they arrive; [`view`] prints;
//! [`tally`] counts what [`metrics`] serves and [`dashboard`] shows.
//! [`wake`] sleeps between file-system events, signals and the next deadline, so an idle session
//! costs no CPU, and every wake reads every path (an event only says "look now").

pub mod correct;
pub mod dashboard;
pub mod follow;
pub mod ingest;
pub mod metrics;
pub mod piped;
pub mod tally;
pub mod view;
pub mod wake;
pub mod window;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::access::AccessFormat;
use crate::aggregate::inputs::input_rows;
use crate::correlate::Event;
use crate::escape::sanitize_str;
use crate::input::{expand, Kind, Origin};
use crate::pipeline::Analysis;
use crate::report::schema::InputRow;

use correct::Corrector;
use follow::{Followed, Start};
use ingest::{Arrivals, Source};
use tally::Tally;
use view::View;
use wake::{Wake, Waker};
use window::Window;

/// How often paths are looked at when no event came: catches what events cannot see.
const POLL: Duration = Duration::from_secs(1);
/// The same without file-system events.
const POLL_WITHOUT_EVENTS: Duration = Duration::from_millis(250);
/// Bytes read per `read(2)`: the size of the chunks handed to the parsers.
const READ_SIZE: usize = 64 << 10;
/// Bytes before the reading position used to decide a file's kind when starting at its end.
const SAMPLE: usize = 64 << 10;

/// What to follow and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files and directories, each with the kind the user forced, if any.
    pub paths: Vec<(PathBuf, Option<Kind>)>,
    pub formats: Vec<AccessFormat>,
    /// The error logs' zone; by default the access logs' (or this machine's, before any).
    pub error_utc_offset: Option<i32>,
    /// Read what the files already hold instead of starting at their end.
    pub from_start: bool,
    /// How long a 5xx waits for its error line.
    pub join_wait: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    pub quiet: bool,
    /// The dashboard holds the terminal: warnings go to the tally (see [`tally::Notices`]), not
    /// to stderr.
    pub dashboard: bool,
    /// Which failures are shown; the others are counted as filtered lines.
    pub filter: crate::filter::Filter,
}

/// A followed path and what it turned out to be.
struct Tracked {
    follow: Followed,
    source: Source,
}

/// The state of a session.
struct Session<'c> {
    config: &'c Config,
    waker: Waker,
    tracked: Vec<Tracked>,
    /// Standard input, when `-` was named.
    piped: Option<piped::Piped>,
    /// Named directories, watched for new logs.
    dirs: Vec<(PathBuf, Option<Kind>)>,
    /// `inputs`: one report per followed path; `errors`: the error lines in the window.
    analysis: Analysis,
    window: Window,
    /// Failures shown without an error line, which a late one may still correct.
    corrector: Corrector,
    scratch: Vec<u8>,
    /// Device and inode of our own stdout: a file we write to is never followed (it would
    /// read its own output back).
    own_output: Option<(u64, u64)>,
    /// What the metrics endpoint serves.
    tally: &'c Mutex<Tally>,
}

/// Follows the paths of `config` until SIGINT/SIGTERM or the duration is over, showing every
/// client-facing failure in `view` and counting everything into `tally`; then reads what is
/// left, joins it and fills the totals.
pub fn run<W: Write>(config: &Config, view: &mut View<W>, tally: &Mutex<Tally>) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut session = Session {
        config,
        waker: Waker::new()?,
        tracked: Vec::new(),
        piped: None,
        dirs: Vec::new(),
        analysis: Analysis::default(),
        window: Window::new(config.join_wait),
        corrector: Corrector::new(config.join_wait),
        scratch: vec![0; READ_SIZE],
        own_output: identity(Path::new("/dev/stdout")),
        tally,
    };
    let first = if config.from_start { Start::Beginning } else { Start::End };
    for (path, forced) in &config.paths {
        if path.as_os_str() == "-" {
            if session.piped.is_none() {
                let nudge = session.waker.nudge();
                session.piped = Some(piped::Piped::spawn(session.analysis.inputs.len(), *forced, nudge));
                session.analysis.inputs.push(InputRow::new(&Origin::Stdin));
            }
        } else if path.is_dir() {
            session.waker.watch(path, true);
            session.dirs.push((path.clone(), *forced));
        } else {
            session.waker.watch(parent(path), false);
            session.track(path.clone(), *forced, false, first, start);
        }
    }
    session.discover(first, start);
    let poll = if session.waker.events() { POLL } else { POLL_WITHOUT_EVENTS };
    let end = config.duration.map(|d| start + d);
    let mut last_scan = start;
    loop {
        let now = Instant::now();
        // A pipe that ended is a session that ended, unless files are followed too.
        let piped_out = session.piped.as_ref().is_some_and(|p| p.ended) && config.paths.len() == 1;
        let stopping = end.is_some_and(|e| e <= now) || piped_out;
        session.pass(view, now, stopping)?;
        if stopping {
            break;
        }
        let next = [Some(now + poll), session.window.deadline(), end];
        let wake_at = next.into_iter().flatten().min().unwrap_or(now + poll);
        match session.waker.wait(wake_at.saturating_duration_since(Instant::now())) {
            Wake::Stop => {
                session.pass(view, Instant::now(), true)?;
                break;
            }
            Wake::Names => {
                session.discover(Start::Beginning, Instant::now());
                last_scan = Instant::now();
            }
            Wake::Data | Wake::Timeout if last_scan.elapsed() >= poll => {
                session.discover(Start::Beginning, Instant::now());
                last_scan = Instant::now();
            }
            Wake::Data | Wake::Timeout => {}
        }
    }
    view.totals.seconds = start.elapsed().as_secs_f64();
    view.totals.unclaimed_error_lines = session.window.unclaimed;
    view.totals.inputs = input_rows(&session.analysis).into_iter().filter(|i| !i.skipped).collect();
    Ok(())
}

impl Session<'_> {
    /// Starts following `path` unless it is followed already.
    fn track(&mut self, path: PathBuf, forced: Option<Kind>, from_walk: bool, start: Start, now: Instant) {
        if self.tracked.iter().any(|t| t.follow.path() == path)
            || self.own_output.is_some_and(|own| identity(&path) == Some(own))
        {
            return;
        }
        let index = self.analysis.inputs.len();
        let mut report = InputRow::new(&Origin::File(path.clone()));
        let mut source = Source::new(index, forced, from_walk);
        let follow = Followed::new(path, start, now);
        if source.decide(&follow.sample(SAMPLE), &self.config.formats, &mut report) {
            note(self.config, self.tally, &report, now);
        }
        self.analysis.inputs.push(report);
        self.tracked.push(Tracked { follow, source });
    }

    /// Follows the logs in the named directories that are not followed yet (rotated and
    /// compressed copies excepted).
    fn discover(&mut self, start: Start, now: Instant) {
        for (dir, forced) in self.dirs.clone() {
            let (specs, _) = expand(&[dir], forced);
            for spec in specs {
                if let Origin::File(path) = spec.origin {
                    if !is_rotated(&path) {
                        self.track(path, forced, true, start, now);
                    }
                }
            }
        }
    }

    /// Reads every path, joins, shows what is ready. `last` reads everything left and releases
    /// every waiting record.
    fn pass<W: Write>(&mut self, view: &mut View<W>, now: Instant, last: bool) -> anyhow::Result<()> {
        let mut arrivals = Arrivals::default();
        for t in &mut self.tracked {
            if !t.source.wanted() {
                continue;
            }
            let Some(report) = self.analysis.inputs.get_mut(t.source.index) else { continue };
            let formats = &self.config.formats;
            let source = &mut t.source;
            let mut decided = false;
            let mut sink = |chunk: &[u8]| {
                decided |= source.decide(chunk, formats, report);
                source.feed(chunk, report, &mut arrivals);
            };
            if last {
                t.follow.finish(&mut self.scratch, now, &mut sink);
            } else if let Some(problem) = t.follow.poll(&mut self.scratch, now, &mut sink) {
                if !self.config.quiet || self.config.dashboard {
                    warn(self.config, self.tally, sanitize_str(&problem), now);
                }
            }
            t.source.flush(report, &mut arrivals);
            if decided {
                note(self.config, self.tally, report, now);
            }
        }
        if let Some(piped) = self.piped.as_mut() {
            if let Some(report) = self.analysis.inputs.get_mut(piped.source.index) {
                if piped.pass(&self.config.formats, report, &mut arrivals) {
                    note(self.config, self.tally, report, now);
                }
            }
        }
        view.totals.requests += arrivals.requests;
        let errors_arrived = !arrivals.errors.is_empty();
        self.window.add_candidates(std::mem::take(&mut arrivals.candidates), now);
        self.window.add_errors(&mut self.analysis.errors, std::mem::take(&mut arrivals.errors), now);
        self.count(&arrivals, now);
        let joined = self.window.join(&self.analysis.errors, self.config.error_utc_offset, now, last);
        let (analysis, filter) = (&mut self.analysis, &self.config.filter);
        let mut events = Vec::with_capacity(joined.len());
        let mut left_out = Vec::new();
        for event in &joined {
            if filter.admit_live(event, &analysis.errors, &mut analysis.inputs) {
                events.push(event.clone());
            } else if event.client_facing() {
                view.totals.requests = view.totals.requests.saturating_sub(1);
                left_out.push(event.clone());
            }
        }
        {
            let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
            tally.events(&events, &self.analysis, now);
            tally.waiting = self.window.waiting();
        }
        view.events(&events, &self.analysis)?;
        let analysis = &mut self.analysis;
        let admit = |record: &_| filter.admit_unclaimed(record, &mut analysis.inputs);
        self.window.settle(&joined, &mut analysis.errors, now, false, admit);
        // Failures decided earlier without an error line, joined with the lines no one claimed:
        // one shown is corrected; one the filters left out is judged again with its lines, as
        // a batch report judges it, and shown now if it passes.
        let corrections =
            self.corrector.correct(&self.analysis.errors, self.config.error_utc_offset, now, errors_arrived);
        let (corrections, late): (Vec<_>, Vec<_>) = corrections.into_iter().partition(|c| c.shown);
        let analysis = &mut self.analysis;
        let late: Vec<Event> = late.into_iter().map(|c| c.event).collect();
        let (late, still_out): (Vec<Event>, Vec<Event>) =
            late.into_iter().partition(|e| filter.admit_late(e, &analysis.errors, &mut analysis.inputs));
        view.totals.requests += late.len() as u64;
        {
            let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
            for correction in &corrections {
                tally.correct(&correction.event, &self.analysis);
            }
            tally.events(&late, &self.analysis, now);
        }
        view.corrections(&corrections, &self.analysis)?;
        view.events(&late, &self.analysis)?;
        let corrected: Vec<_> =
            corrections.into_iter().map(|c| c.event).chain(late).chain(still_out).collect();
        let analysis = &mut self.analysis;
        let admit = |record: &_| filter.admit_unclaimed(record, &mut analysis.inputs);
        self.window.settle(&corrected, &mut analysis.errors, now, last, admit);
        self.corrector.keep(&events, now, true);
        self.corrector.keep(&left_out, now, false);
        Ok(())
    }
}

impl Session<'_> {
    /// Counts a pass's access lines and the inputs' line counts into the tally.
    fn count(&self, arrivals: &Arrivals, now: Instant) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        tally.arrivals(arrivals, now);
        let (parsed, filtered) = self.undecided();
        let less =
            |counts: &[u64], index: usize, n: u64| n.saturating_sub(counts.get(index).copied().unwrap_or(0));
        let followed = self.tracked.iter().map(|t| (t.source.index, t.follow.rotations()));
        let piped = self.piped.iter().map(|p| (p.source.index, 0));
        tally.inputs = followed
            .chain(piped)
            .filter_map(|(index, rotations)| Some((index, self.analysis.inputs.get(index)?, rotations)))
            .filter(|(_, report, _)| !report.skipped)
            .map(|(index, report, rotations)| tally::Input {
                path: report.path.clone(),
                kind: report.kind,
                parsed: less(&parsed, index, report.parsed),
                malformed: report.malformed,
                filtered: less(&filtered, index, report.filtered),
                other: report.other,
                rotations,
            })
            .collect();
    }
}

impl Session<'_> {
    /// With filters, lines whose count may still move, per input: parsed lines of failures not
    /// judged yet (access lines waiting for their error lines, error lines waiting for their
    /// request), and filtered access lines of failures left out that their error lines may
    /// still bring in. The counters leave them out until they settle, so none ever shrinks.
    fn undecided(&self) -> (Vec<u64>, Vec<u64>) {
        let inputs = self.analysis.inputs.len();
        let (mut parsed, mut filtered) = (vec![0; inputs], vec![0; inputs]);
        if self.config.filter.is_empty() {
            return (parsed, filtered);
        }
        let waiting = self.window.inputs().chain(self.analysis.errors.iter().map(|r| r.input));
        for input in waiting {
            if let Some(n) = parsed.get_mut(input) {
                *n += 1;
            }
        }
        for input in self.corrector.left_out() {
            if let Some(n) = filtered.get_mut(input) {
                *n += 1;
            }
        }
        (parsed, filtered)
    }
}

/// Says on stderr what a path turned out to be, as `report` does; its problems are warnings
/// (see [`warn`]), what it is only a note, which the dashboard and `--quiet` leave out.
fn note(config: &Config, tally: &Mutex<Tally>, report: &InputRow, now: Instant) {
    let origin = sanitize_str(&report.path);
    match (&report.problem, report.kind) {
        (Some(problem), _) if !report.skipped => {
            warn(config, tally, format!("{origin}: {}; not followed", sanitize_str(problem)), now)
        }
        (None, Some(kind)) if !config.quiet && !config.dashboard => eprintln!(
            "ngx502: {origin}: {} log, format {}",
            kind.name(),
            report.format.as_deref().unwrap_or("-")
        ),
        _ => {}
    }
}

/// A warning (`text` safe for a terminal): on stderr, or to the dashboard while it holds the
/// terminal.
fn warn(config: &Config, tally: &Mutex<Tally>, text: String, now: Instant) {
    if config.dashboard {
        tally.lock().unwrap_or_else(PoisonError::into_inner).notice(text, now);
    } else {
        eprintln!("ngx502: warning: {text}");
    }
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| (m.dev(), m.ino()))
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whether a file name is a rotated or compressed copy (`access.log.1`, `error.log.2.gz`,
/// `access.log-20240514`): old content, not a log being written.
pub fn is_rotated(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ext = name.rsplit_once('.').map(|(_, e)| e);
    let compressed =
        ext.is_some_and(|e| matches!(e, "gz" | "zst" | "bz2" | "xz" | "lz4" | "zip" | "old" | "bak"));
    let dated = name.rsplit_once('-').is_some_and(|(_, tail)| tail.len() >= 8 && digits(tail));
    compressed || ext.is_some_and(digits) || dated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names() {
        for name in ["access.log.1", "error.log.2.gz", "access.log-20240514", "a.log.zst", "x.log.old"] {
            assert!(is_rotated(Path::new(name)), "{name}");
        }
        for name in ["access.log", "error.log", "api-v2.log", "site.access", "access.log-1"] {
            assert!(!is_rotated(Path::new(name)), "{name}");
        }
    }
}
