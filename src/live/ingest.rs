//! Turning the lines a follower reads into what the join needs, with the batch parsers: the
//! access log's 5xx candidates and the error log's upstream records, every line counted into its
//! input's report exactly as `report` counts it.

use rustc_hash::FxHashMap;

use crate::access::AccessFormat;

use crate::errorlog::{starts_record, ErrorRecord};
use crate::input::carry::{record_edge, Carry};
use crate::input::open::MAX_LINE;
use crate::input::{sniff, Kind, PageRelease, Sniffed};
use crate::pipeline::{read_access, read_error_log};
use crate::report::schema::InputRow;
use crate::stream::StreamReader;
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

impl Arrivals {
    /// Adds the requests of an access summary.
    fn add(&mut self, summary: crate::summary::AccessSummary) {
        self.requests += summary.parsed;
        self.statuses.merge(&summary.statuses);
        for (addr, counts) in summary.upstreams {
            let into = self.upstreams.entry(addr).or_default();
            into.attempts += counts.attempts;
            into.latency.merge(&counts.latency);
        }
        self.candidates.extend(summary.candidates);
    }
}

/// What a followed path turned out to be.
#[derive(Debug)]
enum Decision {
    /// No line read yet.
    Undecided,
    Access(AccessFormat),
    Error,
    /// Access, error and other lines in one input (see [`crate::stream`]).
    Stream(Box<StreamReader>),
    /// Not a log: lines are not read.
    Ignored,
}

/// One followed path's kind, format and place in the inputs.
#[derive(Debug)]
pub struct Source {
    /// Index of its [`InputRow`] (what candidates and error records point back to).
    pub index: usize,
    forced: Option<Kind>,
    /// Found in a directory rather than named: a file that is not a log is skipped quietly.
    from_walk: bool,
    decision: Decision,
    /// An error log's last record, held until the next chunk or the end of the pass: a chunk
    /// can end between a record and its continuation lines.
    carry: Carry,
}

impl Source {
    pub fn new(index: usize, forced: Option<Kind>, from_walk: bool) -> Source {
        Source { index, forced, from_walk, decision: Decision::Undecided, carry: Carry::default() }
    }

    /// Whether the source is read (it is a log, or not yet known).
    pub fn wanted(&self) -> bool {
        !matches!(self.decision, Decision::Ignored)
    }

    /// Decides kind and format from `head` (whole lines) when not decided yet. Returns whether
    /// it was decided now, so the caller can say so.
    pub fn decide(&mut self, head: &[u8], formats: &[AccessFormat], report: &mut InputRow) -> bool {
        if !matches!(self.decision, Decision::Undecided) || head.is_empty() {
            return false;
        }
        if self.forced.is_none() {
            if let Some(format) = crate::stream::detect(head, formats) {
                report.kind = Some(Kind::Stream);
                report.format = Some("stream".into());
                let reader = StreamReader::new(self.index, format, TimeWindow::default(), None);
                self.decision = Decision::Stream(Box::new(reader));
                return true;
            }
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

    /// Reads `chunk` (whole lines) into `out`, counting every line into `report`. An error log's
    /// last record waits for the next chunk or [`Source::flush`].
    pub fn feed(&mut self, chunk: &[u8], report: &mut InputRow, out: &mut Arrivals) {
        match &mut self.decision {
            Decision::Access(format) => {
                let mut summary =
                    read_access(self.index, chunk, format, &TimeWindow::default(), PageRelease::default());
                let first_line = report.lines;
                report.lines += summary.lines;
                report.parsed += summary.parsed;
                report.malformed += summary.malformed;
                report.filtered += summary.filtered;
                summary.candidates.iter_mut().for_each(|c| c.line += first_line);
                out.add(summary);
            }
            Decision::Error => {
                let buf = self.carry.join(chunk.to_vec());
                let edge = record_edge(&buf, starts_record);
                if let Some(whole) = self.carry.cut(buf, edge, MAX_LINE) {
                    let first_line = report.lines;
                    out.errors.extend(read_error_log(self.index, &whole, report, first_line));
                }
            }
            Decision::Stream(reader) => reader.read(chunk),
            Decision::Undecided | Decision::Ignored => {}
        }
    }

    /// Reads the record held back, once a pass has read to the end of the file: nginx writes a
    /// record with its continuation lines at once, so what the file holds then is whole.
    pub fn flush(&mut self, report: &mut InputRow, out: &mut Arrivals) {
        if let Decision::Stream(reader) = &mut self.decision {
            let read = reader.take();
            crate::stream::account(&read, reader.format(), report);
            out.add(read.summary);
            out.errors.extend(read.records);
            return;
        }
        let rest = self.carry.rest();
        if !rest.is_empty() {
            let first_line = report.lines;
            out.errors.extend(read_error_log(self.index, &rest, report, first_line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Origin;

    #[test]
    fn a_record_cut_between_chunks_is_read_whole() {
        let record = b"2026/11/25 21:33:24 [error] 3#3: *7 FastCGI sent in stderr: \"PHP message: boom\n#0 {main}\n  thrown\" while reading response header from upstream, client: 127.0.0.1, server: a, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php.sock:\", host: \"a\"\n";
        // Followers hand on whole lines: chunks end after a newline.
        for cut in (1..record.len()).filter(|&i| record[i - 1] == b'\n') {
            let mut report = InputRow::new(&Origin::Stdin);
            let mut source = Source::new(0, Some(Kind::Error), false);
            let mut out = Arrivals::default();
            assert!(source.decide(record, &[], &mut report));
            source.feed(&record[..cut], &mut report, &mut out);
            source.feed(&record[cut..], &mut report, &mut out);
            source.flush(&mut report, &mut out);
            assert_eq!((report.lines, report.parsed, report.malformed), (3, 3, 0), "cut at {cut}");
            assert_eq!(out.errors.len(), 1);
        }
    }
}
