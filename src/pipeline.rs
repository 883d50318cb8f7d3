//! Reading every input into summaries and error records, in parallel, then joining them.

use rayon::prelude::*;

use crate::access::{AccessFormat, AccessParser, LogFormat};
use crate::correlate::{correlate, Correlation};
use crate::errorlog::{starts_record, ErrorRecord};
use crate::input::carry::{record_edge, Carry};
use crate::input::open::MAX_LINE;
use crate::input::sniff::SNIFF_HEAD;
use crate::input::walk::describe_io;
use crate::input::{open_in_blocks, sniff, Blocks, InputSpec, Kind, PageRelease, Resume, Sniffed, Source};
use crate::lines::{chunks_at_lines, lines};
use crate::progress::Progress;
use crate::report::schema::{InputRow, MalformedRow};
use crate::stream::StreamReader;
use crate::summary::{AccessSummary, Candidate, MALFORMED_EXAMPLES};
use crate::window::TimeWindow;

mod cursor;
mod seek;
mod segments;

pub use segments::{analyze_in_segments, SegmentSize};

/// Chunks a mapped file is split into per thread (more than one per thread evens out the load).
const CHUNKS_PER_THREAD: usize = 4;
/// Smallest chunk worth a task.
const MIN_CHUNK: usize = 1 << 20;
/// Largest chunk: a mapped chunk's pages stay resident until it is parsed, so this bounds the
/// memory a large file needs (threads × this). At 16 MB a 1 GB log at 0.5 % failures peaks at
/// 58 MB instead of 148 MB with 64 MB chunks, for the same instructions: a chunk's set-up and
/// its summary's merge are small next to 16 MB of lines.
const MAX_CHUNK: usize = 16 << 20;

/// How to read the inputs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Access formats to try, most preferred first (one, when the user named it).
    pub formats: Vec<AccessFormat>,
    /// The error logs' zone in seconds east of UTC; guessed from the access logs when `None`.
    pub error_utc_offset: Option<i32>,
    pub quiet: bool,
    /// Requests outside it are counted as filtered.
    pub window: TimeWindow,
    /// Size of the blocks streamed inputs (gzip, zstd, stdin) are read in.
    pub block_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            formats: Vec::new(),
            error_utc_offset: None,
            quiet: false,
            window: TimeWindow::default(),
            block_size: crate::input::open::BLOCK_SIZE,
        }
    }
}

/// How much of one input a run read: the start an earlier run had read (`--state`), skipped,
/// and the bytes read after it (decompressed, for gzip).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    pub skipped: Resume,
    pub bytes: u64,
}

/// What an earlier run could not finish joining: 5xx lines still waiting for their error line
/// and error lines still waiting for their 5xx, near the end of what it read. `input` fields
/// index the inputs of the run they are fed into.
#[derive(Clone, Debug, Default)]
pub struct Carried {
    pub candidates: Vec<Candidate>,
    pub errors: Vec<ErrorRecord>,
}

/// Everything read, before it is shaped into a report.
#[derive(Debug, Default)]
pub struct Analysis {
    pub inputs: Vec<InputRow>,
    /// What was read of each input, in the order of `inputs`.
    pub extents: Vec<Extent>,
    pub access: AccessSummary,
    pub errors: Vec<ErrorRecord>,
    /// Error-log lines per cause, including ones no access line claimed.
    pub correlation: Correlation,
    pub error_utc_offset: i32,
    /// Whether any access input logs `$upstream_status` / `$connection`.
    pub has_upstream_status: bool,
    pub has_connection: bool,
    pub access_formats: Vec<AccessFormat>,
    /// Access logs are part of this diagnosis even if none had new lines (`--state` knows
    /// them): client-facing counts are then known, and zero.
    pub access_logs_known: bool,
    /// Failed requests `--state` settled without an error line because their logs stopped
    /// growing (see `state::tail`): the report says how many.
    pub settled_unexplained: u64,
    /// Terminal error lines set aside before the report: outside the time window or of a
    /// failure the filters left out, and held back for the next `--state` run.
    pub errors_filtered: u64,
    pub errors_waiting: u64,
    /// Error records at the end of `errors` that an earlier time segment of the same run read
    /// and counted: carried over to be joined, not read again.
    pub errors_read_before: usize,
    /// The `upstream {}` blocks of nginx.conf, when given: rows are labelled with their block.
    pub upstream_blocks: Vec<crate::nginx_conf::Upstream>,
    /// nginx.conf, when given: each cause cites the directives that applied to its failures.
    pub nginx_conf: Option<std::sync::Arc<crate::nginx_conf::NginxConf>>,
}

enum Outcome {
    Access(Box<AccessSummary>, AccessFormat),
    Error(Vec<ErrorRecord>),
    /// A stream still being read.
    Stream(Box<StreamReader>),
    /// A stream read: its access lines (when it has any) and its error records.
    Mixed(Box<AccessSummary>, Option<AccessFormat>, Vec<ErrorRecord>),
    Nothing,
}

/// Reads `inputs` and joins them.
pub fn analyze(inputs: &[InputSpec], options: &Options) -> Analysis {
    analyze_resumed(inputs, options, Carried::default())
}

/// Reads `inputs` and joins them together with what an earlier run `carried` over, so a 5xx
/// and its error line are joined even when a run ended between them.
pub fn analyze_resumed(inputs: &[InputSpec], options: &Options, carried: Carried) -> Analysis {
    let progress = Progress::for_inputs(inputs, options.quiet);
    let results: Vec<(InputRow, Extent, Outcome)> =
        inputs.par_iter().enumerate().map(|(i, spec)| read_input(i, spec, options, &progress)).collect();
    progress.finish();
    assemble(results, options, carried, None)
}

/// Joins what each input gave (in the order of the inputs) with what was `carried` over.
/// The error logs' offset, when neither `--error-log-offset` nor `offset` gives it, is the
/// access logs' most common one.
fn assemble(
    results: Vec<(InputRow, Extent, Outcome)>,
    options: &Options,
    carried: Carried,
    offset: Option<i32>,
) -> Analysis {
    let mut analysis = Analysis::default();
    for (report, extent, outcome) in results {
        match outcome {
            Outcome::Access(summary, format) => {
                analysis.has_upstream_status |= format.logs(crate::access::Field::UpstreamStatus);
                analysis.has_connection |= format.logs(crate::access::Field::Connection);
                analysis.access_formats.push(format);
                analysis.access = std::mem::take(&mut analysis.access).merge_input(*summary);
            }
            Outcome::Error(records) => append(&mut analysis.errors, records),
            Outcome::Mixed(summary, format, records) => {
                if let Some(format) = format {
                    analysis.has_upstream_status |= format.logs(crate::access::Field::UpstreamStatus);
                    analysis.has_connection |= format.logs(crate::access::Field::Connection);
                    analysis.access_formats.push(format);
                    analysis.access_logs_known = true;
                }
                analysis.access = std::mem::take(&mut analysis.access).merge_input(*summary);
                append(&mut analysis.errors, records);
            }
            Outcome::Stream(_) | Outcome::Nothing => {}
        }
        analysis.inputs.push(report);
        analysis.extents.push(extent);
    }
    analysis.errors.extend(carried.errors);
    analysis.error_utc_offset = options.error_utc_offset.or(offset).unwrap_or_else(|| {
        analysis.access.offsets.iter().max_by_key(|(o, n)| (**n, -**o)).map_or(0, |(o, _)| *o)
    });
    let mut candidates = std::mem::take(&mut analysis.access.candidates);
    for c in &carried.candidates {
        analysis.access.admit(c);
    }
    candidates.extend(carried.candidates);
    analysis.correlation = correlate(candidates, &analysis.errors, options.error_utc_offset);
    let (errors, offset) = (&analysis.errors, i64::from(analysis.error_utc_offset));
    let before = analysis.correlation.unmatched.len();
    analysis.correlation.unmatched.retain(|&i| options.window.contains(Some(errors[i].local_time - offset)));
    analysis.errors_filtered = (before - analysis.correlation.unmatched.len()) as u64;
    analysis
}

/// Appends `more` to `all`, taking it whole when `all` is empty: error records are many
/// (one per failed attempt), and a copy of them all costs more than reading them did.
fn append<T>(all: &mut Vec<T>, mut more: Vec<T>) {
    if all.is_empty() {
        std::mem::swap(all, &mut more);
    } else {
        all.append(&mut more);
    }
}

fn read_input(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    progress: &Progress,
) -> (InputRow, Extent, Outcome) {
    let mut report = InputRow::new(&spec.origin);
    let mut extent = Extent { skipped: spec.resume, bytes: 0 };
    let mut outcome = match read_source(index, spec, options, progress, &mut report, &mut extent.bytes) {
        Outcome::Stream(reader) => {
            let (summary, format, records) = crate::stream::finish(*reader, &mut report);
            Outcome::Mixed(Box::new(summary), format, records)
        }
        outcome => outcome,
    };
    if extent.bytes == 0 && spec.resume.bytes > 0 {
        // Nothing new since the earlier run: the kind it decided stands, no format is guessed.
        report.kind = spec.forced;
        return (report, extent, Outcome::Nothing);
    }
    number_from(spec.resume.lines, &mut report, &mut outcome);
    (report, extent, outcome)
}

/// Makes line numbers those of the whole log when reading resumed after `lines` lines.
fn number_from(lines: u64, report: &mut InputRow, outcome: &mut Outcome) {
    for m in &mut report.malformed_examples {
        m.line = m.line.saturating_add(lines);
    }
    match outcome {
        Outcome::Access(summary, _) => {
            summary.candidates.iter_mut().for_each(|c| c.line = c.line.saturating_add(lines));
            summary.malformed_examples.iter_mut().for_each(|m| m.line = m.line.saturating_add(lines));
        }
        Outcome::Error(records) => records.iter_mut().for_each(|r| r.line = r.line.saturating_add(lines)),
        Outcome::Mixed(summary, _, records) => {
            summary.candidates.iter_mut().for_each(|c| c.line = c.line.saturating_add(lines));
            records.iter_mut().for_each(|r| r.line = r.line.saturating_add(lines));
        }
        Outcome::Stream(_) | Outcome::Nothing => {}
    }
}

/// The unread part of a whole input: what follows the first `skip` bytes.
fn unread(buf: &[u8], skip: u64) -> &[u8] {
    &buf[usize::try_from(skip).map_or(buf.len(), |s| s.min(buf.len()))..]
}

fn read_source(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    progress: &Progress,
    report: &mut InputRow,
    read_bytes: &mut u64,
) -> Outcome {
    let source = match open_in_blocks(&spec.origin, options.block_size) {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(describe_io(&e));
            return Outcome::Nothing;
        }
    };
    match source {
        Source::Mapped(map) => {
            let _ = map.advise(memmap2::Advice::Sequential);
            // Shared: error records point into the mapping rather than copy it.
            let map = std::sync::Arc::new(map);
            let outcome = read_whole(index, spec, options, &map, PageRelease::of(&map), report, read_bytes);
            progress.advance(map.len() as u64);
            outcome
        }
        Source::Buffer(buf) => {
            read_whole(index, spec, options, &buf, PageRelease::default(), report, read_bytes)
        }
        Source::Stream(blocks) => read_stream(index, spec, options, progress, blocks, report, read_bytes),
    }
}

/// Reads a stream block by block. The first [`SNIFF_HEAD`] bytes (or a block, when smaller) are
/// gathered before the kind is decided, and an error log's last record is held back for the next block (its continuation
/// lines may be there), so the stream reads as the same bytes read whole would.
fn read_stream(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    progress: &Progress,
    blocks: Blocks,
    report: &mut InputRow,
    read_bytes: &mut u64,
) -> Outcome {
    let mut outcome: Option<Outcome> = None;
    let mut skip = spec.resume.bytes;
    let mut carry = Carry::default();
    let read = |buf: &[u8], sniffed: Sniffed, outcome: &mut Option<Outcome>, report: &mut InputRow| {
        let next = read_block(index, options, buf, sniffed, PageRelease::default(), report, spec.from_walk);
        *outcome = combine(outcome.take(), next);
    };
    for block in blocks {
        let block = match block {
            Ok(block) => block,
            Err(e) => {
                report.problem = Some(format!(
                    "read stopped early: {} (the lines before it were counted)",
                    describe_io(&e)
                ));
                break;
            }
        };
        progress.advance(block.len() as u64);
        let tail = unread_owned(block, skip);
        skip = skip.saturating_sub(tail.len() as u64);
        if tail.is_empty() {
            continue;
        }
        *read_bytes += tail.len() as u64;
        let mut buf = carry.join(tail);
        if outcome.is_none() {
            let Some(head) = carry.cut(buf, None, SNIFF_HEAD.min(options.block_size)) else { continue };
            buf = head;
            outcome = start_stream(index, spec, options, &buf, PageRelease::default(), report);
        }
        if let Some(Outcome::Stream(reader)) = outcome.as_mut() {
            reader.read(&buf);
            continue;
        }
        let sniffed = decide(spec, options, &buf, outcome.as_ref());
        if matches!(sniffed, Sniffed::Error) {
            let edge = record_edge(&buf, starts_record);
            let Some(whole) = carry.cut(buf, edge, MAX_LINE) else { continue };
            buf = whole;
        }
        read(&buf, sniffed, &mut outcome, report);
        if report.skipped || report.kind.is_none() {
            return outcome.unwrap_or(Outcome::Nothing);
        }
    }
    let rest = carry.rest();
    match outcome.as_mut() {
        Some(Outcome::Stream(reader)) => {
            reader.read(&rest);
            return outcome.unwrap_or(Outcome::Nothing);
        }
        // A stream shorter than the sniffing head.
        None => {
            if let Some(stream) = start_stream(index, spec, options, &rest, PageRelease::default(), report) {
                return stream;
            }
        }
        Some(_) => {}
    }
    // An empty stream is decided as an empty file is (a forced kind stands).
    if !rest.is_empty() || (outcome.is_none() && report.problem.is_none()) {
        let sniffed = decide(spec, options, &rest, outcome.as_ref());
        read(&rest, sniffed, &mut outcome, report);
    }
    outcome.unwrap_or(Outcome::Nothing)
}

/// [`unread`] of a block a stream handed over, without a copy when nothing is skipped.
fn unread_owned(block: Vec<u8>, skip: u64) -> Vec<u8> {
    if skip == 0 {
        block
    } else {
        unread(&block, skip).to_vec()
    }
}

/// Reads an input held whole in memory, from where an earlier run stopped.
fn read_whole(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    buf: &[u8],
    release: PageRelease<'_>,
    report: &mut InputRow,
    read_bytes: &mut u64,
) -> Outcome {
    let tail = unread(buf, spec.resume.bytes);
    *read_bytes = tail.len() as u64;
    if tail.is_empty() && spec.resume.bytes > 0 {
        return Outcome::Nothing;
    }
    if let Some(stream) = start_stream(index, spec, options, tail, release, report) {
        return stream;
    }
    let sniffed = decide(spec, options, tail, None);
    read_block(index, options, tail, sniffed, release, report, spec.from_walk).unwrap_or(Outcome::Nothing)
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

/// A reader for the input when its start `head` shows a stream (see [`crate::stream`]); it has
/// read `head`.
fn start_stream(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    head: &[u8],
    release: PageRelease<'_>,
    report: &mut InputRow,
) -> Option<Outcome> {
    let candidates = spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref);
    let reader = crate::stream::start(index, spec, candidates, options.window, head, release)?;
    report.kind = Some(Kind::Stream);
    Some(Outcome::Stream(Box::new(reader)))
}

/// The kind and format of an input: decided from its first block; `previous` carries that
/// decision to later blocks of a stream.
fn decide(spec: &InputSpec, options: &Options, block: &[u8], previous: Option<&Outcome>) -> Sniffed {
    match previous {
        Some(Outcome::Access(_, f)) => Sniffed::Access(f.clone()),
        Some(Outcome::Error(_)) => Sniffed::Error,
        _ => {
            sniff(block, spec.forced, spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref))
        }
    }
}

/// Reads one block of an input (the whole input when mapped) as what `sniffed` says it is.
fn read_block(
    index: usize,
    options: &Options,
    block: &[u8],
    sniffed: Sniffed,
    release: PageRelease<'_>,
    report: &mut InputRow,
    from_walk: bool,
) -> Option<Outcome> {
    match sniffed {
        Sniffed::Access(format) => {
            report.kind = Some(Kind::Access);
            report.format = Some(format.name().to_owned());
            if let AccessFormat::Template(LogFormat { note: Some(note), .. }) = &format {
                report.problem.get_or_insert_with(|| note.clone());
            }
            let summary = read_access(index, block, &format, &options.window, release);
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
                report.malformed_examples.push(MalformedRow { line: m.line + first_line, ..m.into() });
            }
            Some(Outcome::Access(Box::new(summary), format))
        }
        Sniffed::Error => {
            report.kind = Some(Kind::Error);
            report.format = Some("nginx error log".into());
            let first_line = report.lines;
            Some(Outcome::Error(read_error_chunks(index, block, release, report, first_line)))
        }
        Sniffed::Unknown(reason) => {
            if from_walk {
                report.skipped = true;
            }
            report.problem = Some(reason);
            None
        }
    }
}

/// Parses an access-log buffer in parallel chunks cut at line boundaries; `release` gives each
/// chunk's pages back once it is parsed.
pub fn read_access(
    index: usize,
    buf: &[u8],
    format: &AccessFormat,
    window: &TimeWindow,
    release: PageRelease<'_>,
) -> AccessSummary {
    let parts = chunks_at_lines(buf, chunk_count(buf.len()))
        .into_par_iter()
        .map(|chunk| {
            let mut parser = AccessParser::new(format);
            let mut summary = AccessSummary::for_chunk(chunk.len());
            for line in lines(chunk) {
                let mut record = parser.record(line);
                let parsed = parser.fill(&mut record);
                summary.add(index, line, parsed.as_ref().map(|()| &record), window);
            }
            release.done(chunk);
            summary
        })
        .collect();
    AccessSummary::concat(parts)
}

/// How many chunks a buffer of `len` bytes is read in.
fn chunk_count(len: usize) -> usize {
    let per_thread = rayon::current_num_threads() * CHUNKS_PER_THREAD;
    per_thread.max(len / MAX_CHUNK).min(len / MIN_CHUNK).max(1)
}

/// The upstream-related records of an error-log buffer of whole lines, counted into `report`
/// (also used by `live` on each chunk a follower reads).
pub fn read_error_log(index: usize, buf: &[u8], report: &mut InputRow, first_line: u64) -> Vec<ErrorRecord> {
    read_error_chunks(index, buf, PageRelease::default(), report, first_line)
}

/// [`read_error_log`] on a buffer read in parallel chunks, each chunk's pages released after it.
fn read_error_chunks(
    index: usize,
    buf: &[u8],
    release: PageRelease<'_>,
    report: &mut InputRow,
    first_line: u64,
) -> Vec<ErrorRecord> {
    let mut read = crate::errorlog::read::read_chunks(index, buf, chunk_count(buf.len()), release);
    read.records.iter_mut().for_each(|r| r.line += first_line);
    report.lines += read.lines;
    report.parsed += read.parsed;
    report.malformed += read.malformed;
    report.filtered += read.filtered;
    let room = MALFORMED_EXAMPLES.saturating_sub(report.malformed_examples.len());
    report.malformed_examples.extend(
        read.malformed_examples
            .into_iter()
            .take(room)
            .map(|m| MalformedRow { line: m.line + first_line, ..(&m).into() }),
    );
    read.records
}
