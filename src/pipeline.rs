//! Reading every input into summaries and error records, in parallel, then joining them.

use rayon::prelude::*;

use crate::access::{AccessFormat, AccessParser};
use crate::correlate::{correlate, Correlation};
use crate::errorlog::{parse_line, starts_record, ErrorRecord, Role};
use crate::input::walk::describe_io;
use crate::input::{open, sniff, InputSpec, Kind, Origin, Sniffed, Source};
use crate::progress::Progress;
use crate::summary::{AccessSummary, MalformedLine, MALFORMED_EXAMPLES};
use crate::window::TimeWindow;

/// Chunks a mapped file is split into per thread (more than one per thread evens out the load).
const CHUNKS_PER_THREAD: usize = 4;
/// Smallest chunk worth a task.
const MIN_CHUNK: usize = 1 << 20;

/// How to read the inputs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Access formats to try, most preferred first (one, when the user named it).
    pub formats: Vec<AccessFormat>,
    /// The error logs' zone in seconds east of UTC; guessed from the access logs when `None`.
    pub error_utc_offset: Option<i32>,
    pub quiet: bool,
    /// Requests outside it are counted as filtered.
    pub window: TimeWindow,
}

/// What happened to one input.
#[derive(Clone, Debug)]
pub struct InputReport {
    pub origin: Origin,
    pub kind: Option<Kind>,
    pub format: Option<String>,
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    /// Read but not requests or records: blank lines, error-log lines about other things.
    pub filtered: u64,
    pub malformed_examples: Vec<MalformedLine>,
    /// Why the input was not (fully) read, if it was not.
    pub problem: Option<String>,
    /// Skipped as not a log (found while walking a directory).
    pub skipped: bool,
}

impl InputReport {
    fn new(origin: Origin) -> Self {
        InputReport {
            origin,
            kind: None,
            format: None,
            lines: 0,
            parsed: 0,
            malformed: 0,
            filtered: 0,
            malformed_examples: Vec::new(),
            problem: None,
            skipped: false,
        }
    }
}

/// Everything read, before it is shaped into a report.
#[derive(Debug, Default)]
pub struct Analysis {
    pub inputs: Vec<InputReport>,
    pub access: AccessSummary,
    pub errors: Vec<ErrorRecord>,
    /// Error-log lines per cause, including ones no access line claimed.
    pub correlation: Correlation,
    pub error_utc_offset: i32,
    /// Whether any access input logs `$upstream_status` / `$connection`.
    pub has_upstream_status: bool,
    pub has_connection: bool,
    pub access_formats: Vec<AccessFormat>,
}

enum Outcome {
    Access(Box<AccessSummary>, AccessFormat),
    Error(Vec<ErrorRecord>),
    Nothing,
}

/// Reads `inputs` and joins them.
pub fn analyze(inputs: &[InputSpec], options: &Options) -> Analysis {
    let progress = Progress::for_inputs(inputs, options.quiet);
    let results: Vec<(InputReport, Outcome)> =
        inputs.par_iter().enumerate().map(|(i, spec)| read_input(i, spec, options, &progress)).collect();
    progress.finish();

    let mut analysis = Analysis::default();
    for (report, outcome) in results {
        match outcome {
            Outcome::Access(summary, format) => {
                analysis.has_upstream_status |= format.logs(crate::access::Field::UpstreamStatus);
                analysis.has_connection |= format.logs(crate::access::Field::Connection);
                analysis.access_formats.push(format);
                analysis.access = std::mem::take(&mut analysis.access).merge_input(*summary);
            }
            Outcome::Error(records) => analysis.errors.extend(records),
            Outcome::Nothing => {}
        }
        analysis.inputs.push(report);
    }
    analysis.error_utc_offset = options.error_utc_offset.unwrap_or_else(|| {
        analysis.access.offsets.iter().max_by_key(|(o, n)| (**n, -**o)).map_or(0, |(o, _)| *o)
    });
    let candidates = std::mem::take(&mut analysis.access.candidates);
    analysis.correlation = correlate(candidates, &analysis.errors, analysis.error_utc_offset);
    let (errors, offset) = (&analysis.errors, i64::from(analysis.error_utc_offset));
    analysis.correlation.unmatched.retain(|&i| options.window.contains(Some(errors[i].local_time - offset)));
    analysis
}

fn read_input(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    progress: &Progress,
) -> (InputReport, Outcome) {
    let mut report = InputReport::new(spec.origin.clone());
    let source = match open(&spec.origin) {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(describe_io(&e));
            return (report, Outcome::Nothing);
        }
    };
    match source {
        Source::Mapped(map) => {
            let outcome = read_block(index, spec, options, &map, &mut report, None);
            progress.advance(map.len() as u64);
            (report, outcome.unwrap_or(Outcome::Nothing))
        }
        Source::Buffer(buf) => {
            let outcome = read_block(index, spec, options, &buf, &mut report, None);
            (report, outcome.unwrap_or(Outcome::Nothing))
        }
        Source::Stream(blocks) => {
            let mut outcome: Option<Outcome> = None;
            for block in blocks {
                match block {
                    Ok(block) => {
                        progress.advance(block.len() as u64);
                        let next = read_block(index, spec, options, &block, &mut report, outcome.as_ref());
                        outcome = combine(outcome, next);
                        if report.skipped || report.kind.is_none() {
                            break;
                        }
                    }
                    Err(e) => {
                        report.problem = Some(format!(
                            "read stopped early: {} (the lines before it were counted)",
                            describe_io(&e)
                        ));
                        break;
                    }
                }
            }
            (report, outcome.unwrap_or(Outcome::Nothing))
        }
    }
}

fn combine(before: Option<Outcome>, next: Option<Outcome>) -> Option<Outcome> {
    match (before, next) {
        (Some(Outcome::Access(a, f)), Some(Outcome::Access(b, _))) => {
            Some(Outcome::Access(Box::new(a.merge(*b)), f))
        }
        (Some(Outcome::Error(mut a)), Some(Outcome::Error(b))) => {
            a.extend(b);
            Some(Outcome::Error(a))
        }
        (before, None) => before,
        (_, next) => next,
    }
}

/// Reads one block of an input (the whole input when mapped). The first block decides the
/// input's kind and format; `previous` carries that decision to later blocks of a stream.
fn read_block(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    block: &[u8],
    report: &mut InputReport,
    previous: Option<&Outcome>,
) -> Option<Outcome> {
    let sniffed = match previous {
        Some(Outcome::Access(_, f)) => Sniffed::Access(f.clone()),
        Some(Outcome::Error(_)) => Sniffed::Error,
        _ => sniff(block, spec.forced, &options.formats),
    };
    match sniffed {
        Sniffed::Access(format) => {
            report.kind = Some(Kind::Access);
            report.format = Some(format.name().to_owned());
            let summary = read_access(index, block, &format, &options.window);
            let first_line = report.lines;
            report.lines += summary.lines;
            report.parsed += summary.parsed;
            report.malformed += summary.malformed;
            report.filtered += summary.filtered;
            for m in summary
                .malformed_examples
                .iter()
                .take(MALFORMED_EXAMPLES - report.malformed_examples.len().min(MALFORMED_EXAMPLES))
            {
                report.malformed_examples.push(MalformedLine { line: m.line + first_line, ..m.clone() });
            }
            Some(Outcome::Access(Box::new(summary), format))
        }
        Sniffed::Error => {
            report.kind = Some(Kind::Error);
            report.format = Some("nginx error log".into());
            let first_line = report.lines;
            Some(Outcome::Error(read_error_log(index, block, report, first_line)))
        }
        Sniffed::Unknown(reason) => {
            if spec.from_walk {
                report.skipped = true;
            }
            report.problem = Some(reason);
            None
        }
    }
}

/// Parses an access-log buffer in parallel chunks cut at line boundaries.
pub fn read_access(index: usize, buf: &[u8], format: &AccessFormat, window: &TimeWindow) -> AccessSummary {
    let chunk_count = (rayon::current_num_threads() * CHUNKS_PER_THREAD).min(buf.len() / MIN_CHUNK).max(1);
    chunks_at_lines(buf, chunk_count)
        .into_par_iter()
        .map(|chunk| {
            let mut parser = AccessParser::new(format);
            let mut summary = AccessSummary::default();
            for line in lines(chunk) {
                summary.add(index, line, parser.parse(line), window);
            }
            summary
        })
        .reduce(AccessSummary::default, AccessSummary::merge)
}

/// Splits `buf` into about `n` pieces, each ending just after a newline (or at the end).
pub fn chunks_at_lines(buf: &[u8], n: usize) -> Vec<&[u8]> {
    let target = buf.len().div_ceil(n.max(1)).max(1);
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    while start < buf.len() {
        let guess = (start + target).min(buf.len());
        let end = match memchr::memchr(b'\n', &buf[guess..]) {
            Some(i) if guess < buf.len() => guess + i + 1,
            _ => buf.len(),
        };
        chunks.push(&buf[start..end]);
        start = end;
    }
    chunks
}

/// The lines of a buffer, without their newlines; a last line without newline is included.
pub fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    let empty = buf.is_empty();
    buf.split(|&b| b == b'\n').filter(move |_| !empty)
}

/// The upstream-related records of an error-log buffer of whole lines, counted into `report`
/// (also used by `live` on each chunk a follower reads).
pub fn read_error_log(
    index: usize,
    buf: &[u8],
    report: &mut InputReport,
    first_line: u64,
) -> Vec<ErrorRecord> {
    let mut records = Vec::new();
    // The record being read: byte range and the number of its first line.
    let mut open: Option<(usize, usize, u64)> = None;
    let mut offset = 0;
    let mut line_no = first_line;
    for line in lines(buf) {
        line_no += 1;
        report.lines += 1;
        let (start, end) = (offset, offset + line.len());
        offset = end + 1;
        if starts_record(line) {
            if let Some(record) = open.take() {
                finish_error_record(index, buf, record, report, &mut records);
            }
            open = Some((start, end, line_no));
        } else if let Some(record) = open.as_mut().filter(|_| !line.is_empty()) {
            // A continuation of the record above (FastCGI stderr relays newlines).
            record.1 = end;
            report.parsed += 1;
        } else if line.iter().all(u8::is_ascii_whitespace) {
            report.filtered += 1;
        } else {
            report.malformed += 1;
            note_malformed(report, line_no, "not an nginx error-log line", line);
        }
    }
    if let Some(record) = open {
        finish_error_record(index, buf, record, report, &mut records);
    }
    records
}

fn finish_error_record(
    index: usize,
    buf: &[u8],
    (start, end, line_no): (usize, usize, u64),
    report: &mut InputReport,
    records: &mut Vec<ErrorRecord>,
) {
    let raw = &buf[start..end];
    match parse_line(raw) {
        Some(line) => match line.cause() {
            Some(cause) if cause.role() != Role::AccessOnly => {
                report.parsed += 1;
                records.push(line.to_record(index, line_no, cause));
            }
            // Lines about other things (static files, startup): read, not about upstreams.
            _ => report.filtered += 1,
        },
        None => {
            report.malformed += 1;
            note_malformed(report, line_no, "not an nginx error-log line", raw);
        }
    }
}

fn note_malformed(report: &mut InputReport, line: u64, reason: &'static str, text: &[u8]) {
    if report.malformed_examples.len() < MALFORMED_EXAMPLES {
        report.malformed_examples.push(MalformedLine {
            line,
            offset: 0,
            reason,
            text: text[..text.len().min(300)].to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_buffer_at_line_ends() {
        let buf = b"a\nbb\nccc\ndddd\ne";
        for n in 1..8 {
            let chunks = chunks_at_lines(buf, n);
            assert_eq!(chunks.concat(), buf);
            for c in &chunks[..chunks.len() - 1] {
                assert!(c.ends_with(b"\n"));
            }
        }
        assert!(chunks_at_lines(b"", 4).is_empty());
    }

    #[test]
    fn lines_handle_missing_final_newline() {
        assert_eq!(lines(b"a\nb").collect::<Vec<_>>(), [&b"a"[..], b"b"]);
        assert_eq!(lines(b"a\n\nb\n").collect::<Vec<_>>(), [&b"a"[..], b"", b"b"]);
        assert_eq!(lines(b"").count(), 0);
    }
}
