//! Turning the lines a follower reads into what the join needs, with the batch parsers: the
//! access log's 5xx candidates and the error log's upstream records, every line counted into its
//! input's report exactly as `report` counts it.

use rustc_hash::FxHashMap;

use crate::access::AccessFormat;
use crate::errorlog::ErrorRecord;
use crate::input::{sniff, Kind, PageRelease, Sniffed};
use crate::pipeline::{read_access, read_error_log, InputReport};
use crate::summary::{Candidate, StatusCounts, UpstreamCounts};
use crate::window::TimeWindow;

/// What one pass over the followers produced.
#[derive(Debug, Default)]
pub struct Arrivals {
    pub candidates: Vec<Candidate>,
    pub errors: Vec<ErrorRecord>,
    /// Access lines parsed (requests).
    pub requests: u64,
    /// Their statuses.
    pub statuses: StatusCounts,
    /// Attempts per upstream, with their response times.
    pub upstreams: FxHashMap<Box<[u8]>, UpstreamCounts>,
}

/// What a followed path turned out to be.
#[derive(Debug)]
enum Decision {
    /// No line read yet.
    Undecided,
    Access(AccessFormat),
    Error,
    /// Not a log: lines are not read.
    Ignored,
}

/// One followed path's kind, format and place in the inputs.
#[derive(Debug)]
pub struct Source {
    /// Index of its [`InputReport`] (what candidates and error records point back to).
    pub index: usize,
    forced: Option<Kind>,
    /// Found in a directory rather than named: a file that is not a log is skipped quietly.
    from_walk: bool,
    decision: Decision,
}

impl Source {
    pub fn new(index: usize, forced: Option<Kind>, from_walk: bool) -> Source {
        Source { index, forced, from_walk, decision: Decision::Undecided }
    }

    /// Whether the source is read (it is a log, or not yet known).
    pub fn wanted(&self) -> bool {
        !matches!(self.decision, Decision::Ignored)
    }

    /// Decides kind and format from `head` (whole lines) when not decided yet. Returns whether
    /// it was decided now, so the caller can say so.
    pub fn decide(&mut self, head: &[u8], formats: &[AccessFormat], report: &mut InputReport) -> bool {
        if !matches!(self.decision, Decision::Undecided) || head.is_empty() {
            return false;
        }
        self.decision = match sniff(head, self.forced, formats) {
            Sniffed::Access(format) => {
                report.kind = Some(Kind::Access);
                report.format = Some(format.name().to_owned());
                Decision::Access(format)
            }
            Sniffed::Error => {
                report.kind = Some(Kind::Error);
                report.format = Some("nginx error log".into());
                Decision::Error
            }
            Sniffed::Unknown(reason) => {
                report.skipped = self.from_walk;
                report.problem = Some(reason);
                Decision::Ignored
            }
        };
        true
    }

    /// Reads `chunk` (whole lines) into `out`, counting every line into `report`.
    pub fn feed(&self, chunk: &[u8], report: &mut InputReport, out: &mut Arrivals) {
        match &self.decision {
            Decision::Access(format) => {
                let summary =
                    read_access(self.index, chunk, format, &TimeWindow::default(), PageRelease::default());
                let first_line = report.lines;
                report.lines += summary.lines;
                report.parsed += summary.parsed;
                report.malformed += summary.malformed;
                report.filtered += summary.filtered;
                out.requests += summary.parsed;
                out.statuses.merge(&summary.statuses);
                for (addr, counts) in summary.upstreams {
                    let into = out.upstreams.entry(addr).or_default();
                    into.attempts += counts.attempts;
                    into.latency.merge(&counts.latency);
                }
                out.candidates.extend(summary.candidates.into_iter().map(|mut c| {
                    c.line += first_line;
                    c
                }));
            }
            Decision::Error => {
                let first_line = report.lines;
                out.errors.extend(read_error_log(self.index, chunk, report, first_line));
            }
            Decision::Undecided | Decision::Ignored => {}
        }
    }
}
