//! Large logs read in time segments, so that what the join holds is one segment's failures,
//! not the whole run's.
//!
//! Every input is cut at the same moments (found by bisecting each file on its lines' times,
//! see [`super::seek`]) into segments of about [`SEGMENT_BYTES`] in all. A segment holds
//! every access line logged before its end and every error line up to a second after it
//! (nginx's clock is cached to the second), so a request of the segment finds all of its error
//! lines there; the error lines no request claimed within the join's look-back of the end are
//! carried into the next segment, where later requests may claim them (as `--state` carries
//! them from one run to the next). Each segment is handed over joined, to be folded into the
//! report and dropped.
//!
//! Only plain files are cut: they are mapped, so a cut costs a few page reads. Streams
//! (compressed logs, stdin, container logs) and small runs are read whole.

use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;

use super::seek::{cut_at, line_start, next_timed, Clock};
use super::{
    analyze, assemble, decide, number_from, read_block, Analysis, Carried, Extent, Options, Outcome,
};
use crate::input::sniff::SNIFF_HEAD;
use crate::input::{open_in_blocks, InputSpec, Kind, PageRelease, Sniffed, Source};
use crate::progress::Progress;
use crate::report::schema::InputRow;
use crate::state::carry_to_next_segment;

/// Bytes of logs per segment, all inputs together. At 30 % failures a segment's join holds
/// about 60 MB; more per segment saves little time (a segment's set-up is small next to
/// parsing it), less leaves threads idle at each segment's end.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// How much later than an access log's cut its error logs are cut: an error line may carry
/// the second after its request's access line.
const ERROR_CUT_AFTER: i64 = 2;

/// One input, mapped, with what it was found to be and where its segments start.
struct Mapped {
    map: Arc<Mmap>,
    sniffed: Sniffed,
    /// The start of each segment after the first.
    cuts: Vec<usize>,
}

impl Mapped {
    /// The bytes of segment `k`.
    fn segment(&self, k: usize) -> &[u8] {
        self.segments(k..=k)
    }

    /// The bytes of segments `ks`.
    fn segments(&self, ks: std::ops::RangeInclusive<usize>) -> &[u8] {
        let start = if *ks.start() == 0 { 0 } else { self.cuts[ks.start() - 1] };
        let end = self.cuts.get(*ks.end()).copied().unwrap_or(self.map.len());
        &self.map[start..end]
    }

    /// The clock of this input's lines, in UTC with error logs at `offset` seconds east.
    fn clock(&self, offset: i32) -> Option<Clock<'_>> {
        match &self.sniffed {
            Sniffed::Access(format) => Some(Clock::access(format)),
            Sniffed::Error => Some(Clock::Error { offset: i64::from(offset) }),
            Sniffed::Unknown(_) => None,
        }
    }
}

/// Reads and joins `inputs`, handing each time segment's analysis to `each` in time order
/// (see the module docs): one analysis, the whole run, when the inputs are small or not all
/// plain files. Segments are cut every `segment_bytes` of input, all inputs together.
pub fn analyze_in_segments(
    inputs: &[InputSpec],
    options: &Options,
    segment_bytes: u64,
    mut each: impl FnMut(Analysis),
) {
    let Some(mut mapped) = map_all(inputs, options) else { return each(analyze(inputs, options)) };
    let total: u64 = mapped.iter().map(|m| m.map.len() as u64).sum();
    let offset = options.error_utc_offset.or_else(|| first_offset(&mapped)).unwrap_or(0);
    let times = cut_times(&mapped, total.div_ceil(segment_bytes.max(1)), offset);
    if times.is_empty() {
        return each(analyze(inputs, options));
    }
    for m in &mut mapped {
        m.cuts = cuts(m, &times, offset);
        // Bisecting touched a few pages per probe all over the file: about 1 MB per cut.
        PageRelease::of(&m.map).done(&m.map);
    }
    let has_access = mapped.iter().any(|m| matches!(m.sniffed, Sniffed::Access(_)));
    let progress = Progress::for_inputs(inputs, options.quiet);
    let mut lines_before = vec![0; inputs.len()];
    let mut carried = Carried::default();
    let mut guessed_offset = None;
    for k in 0..=times.len() {
        let results: Vec<(InputRow, Extent, Outcome)> = mapped
            .par_iter()
            .zip(inputs)
            .zip(&lines_before)
            .enumerate()
            .map(|(i, ((m, spec), &before))| read_segment(i, spec, options, m, k, before))
            .collect();
        for ((row, extent, _), before) in results.iter().zip(&mut lines_before) {
            *before += row.lines;
            progress.advance(extent.bytes);
        }
        let read_before = carried.errors.len();
        let mut analysis = assemble(results, options, std::mem::take(&mut carried), guessed_offset);
        analysis.errors_read_before = read_before;
        guessed_offset = Some(analysis.error_utc_offset);
        if let (Some(&until), true) = (times.get(k), has_access) {
            carried = carry_to_next_segment(&mut analysis, until);
        }
        each(analysis);
        // The join read fields of error records in place, after their chunk's pages were
        // given back, and the records carried over point into the segment before.
        for m in &mapped {
            PageRelease::of(&m.map).done(m.segments(k.saturating_sub(1)..=k));
        }
    }
    progress.finish();
}

/// Every input mapped and sniffed, when all of them are plain files read from their start
/// that are not streams.
fn map_all(inputs: &[InputSpec], options: &Options) -> Option<Vec<Mapped>> {
    inputs
        .iter()
        .map(|spec| {
            if spec.resume.bytes > 0 || spec.forced == Some(Kind::Stream) {
                return None;
            }
            let Ok(Source::Mapped(map)) = open_in_blocks(&spec.origin, options.block_size) else {
                return None;
            };
            let _ = map.advise(memmap2::Advice::Sequential);
            let head = &map[..map.len().min(SNIFF_HEAD)];
            let formats = spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref);
            if spec.forced.is_none() && crate::stream::detect(head, formats).is_some() {
                return None;
            }
            let sniffed = decide(spec, options, &map, None);
            Some(Mapped { map: Arc::new(map), sniffed, cuts: Vec::new() })
        })
        .collect()
}

/// The zone of the first access line with a time: the error logs' zone, until the first
/// segment's access lines tell the most common one.
fn first_offset(mapped: &[Mapped]) -> Option<i32> {
    mapped.iter().find_map(|m| match &m.sniffed {
        Sniffed::Access(format) => {
            let mut parser = crate::access::AccessParser::new(format);
            crate::lines::lines(&m.map[..m.map.len().min(SNIFF_HEAD)])
                .find_map(|line| parser.parse(line).ok()?.time.map(|t| t.offset))
        }
        _ => None,
    })
}

/// The moments (UTC) at which segments end: `count` evenly spaced cuts of the largest input,
/// each at the time of the line there.
fn cut_times(mapped: &[Mapped], count: u64, offset: i32) -> Vec<i64> {
    let Some(largest) = mapped.iter().filter(|m| m.clock(offset).is_some()).max_by_key(|m| m.map.len())
    else {
        return Vec::new();
    };
    let Some(mut clock) = largest.clock(offset) else { return Vec::new() };
    let buf = &largest.map[..];
    let mut times: Vec<i64> = Vec::new();
    for k in 1..count {
        let at = line_start(buf, usize::try_from(buf.len() as u64 * k / count).unwrap_or(buf.len()));
        if let Some((_, time)) = next_timed(buf, at, &mut clock) {
            if times.last().is_none_or(|&last| time > last) {
                times.push(time);
            }
        }
    }
    times
}

/// Where each segment after the first starts in `input`: at the first line at or after each
/// of `times` (a little after, for error logs), never before the previous cut.
fn cuts(input: &Mapped, times: &[i64], offset: i32) -> Vec<usize> {
    let Some(mut clock) = input.clock(offset) else { return vec![input.map.len(); times.len()] };
    let after = if matches!(input.sniffed, Sniffed::Error) { ERROR_CUT_AFTER } else { 0 };
    let mut previous = 0;
    times
        .iter()
        .map(|&t| {
            previous = cut_at(&input.map, t + after, &mut clock).max(previous);
            previous
        })
        .collect()
}

/// Reads segment `k` of input `index`, numbering its lines after the `before` lines of the
/// earlier segments.
fn read_segment(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    input: &Mapped,
    k: usize,
    before: u64,
) -> (InputRow, Extent, Outcome) {
    let bytes = input.segment(k);
    let mut row = InputRow::new(&spec.origin);
    let release = PageRelease::of(&input.map);
    let mut outcome =
        read_block(index, options, bytes, input.sniffed.clone(), release, &mut row, spec.from_walk)
            .unwrap_or(Outcome::Nothing);
    number_from(before, &mut row, &mut outcome);
    (row, Extent { skipped: spec.resume, bytes: bytes.len() as u64 }, outcome)
}
