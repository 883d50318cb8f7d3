//! Large logs read in time segments, so that what the join holds is one segment's failures,
//! not the whole run's.
//!
//! Every input is cut at the same moments (found by bisecting each file on its lines' times,
//! see [`super::seek`]), each segment sized by the failures of the one before (see
//! [`SegmentSize`]). A segment holds
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
use crate::input::open::map_plain;
use crate::input::sniff::SNIFF_HEAD;
use crate::input::{InputSpec, Kind, PageRelease, Sniffed};
use crate::progress::Progress;
use crate::report::schema::InputRow;
use crate::state::carry_to_next_segment;

/// How large segments are.
#[derive(Clone, Copy, Debug)]
pub struct SegmentSize {
    /// The smallest segment, in bytes of logs of all inputs together; a run of less than two
    /// is read whole.
    pub bytes: u64,
    /// Failed requests and error records a segment's join should hold: after each segment the
    /// next one is sized to hold about this many, so a log with few failures is read in a few
    /// large segments, which keeps the threads busy, and one with many in small ones.
    pub held: u64,
}

impl Default for SegmentSize {
    /// 64 MB at least, and 100,000 requests and records (about 80 MB): at 30 % failures a
    /// 64 MB segment holds about 130,000.
    fn default() -> Self {
        SegmentSize { bytes: 64 << 20, held: 100_000 }
    }
}

/// The largest segment, in smallest segments: large enough that segments cost nothing at low
/// failure rates, small enough that a burst of failures after a quiet stretch does not make a
/// segment hold many times more than it should.
const MAX_GROWTH: u64 = 16;

/// How much later than an access log's cut its error logs are cut: an error line may carry
/// the second after its request's access line.
const ERROR_CUT_AFTER: i64 = 2;

/// One input, mapped, with what it was found to be and how far it has been read.
struct Mapped {
    map: Arc<Mmap>,
    sniffed: Sniffed,
    /// Where the next segment starts.
    start: usize,
}

impl Mapped {
    /// The clock of this input's lines, in UTC with error logs at `offset` seconds east.
    fn clock(&self, offset: i32) -> Option<Clock<'_>> {
        match &self.sniffed {
            Sniffed::Access(format) => Some(Clock::access(format)),
            Sniffed::Error => Some(Clock::Error { offset: i64::from(offset) }),
            Sniffed::Unknown(_) => None,
        }
    }

    /// Where the segment that ends at `until` (UTC) ends in this input: before its first line
    /// at or after `until` (a little after, for error logs), never before the segment's start;
    /// the whole rest when `until` is `None`.
    fn end(&self, until: Option<i64>, offset: i32) -> usize {
        let (Some(until), Some(mut clock)) = (until, self.clock(offset)) else { return self.map.len() };
        let after = if matches!(self.sniffed, Sniffed::Error) { ERROR_CUT_AFTER } else { 0 };
        self.start + cut_at(&self.map[self.start..], until + after, &mut clock)
    }
}

/// Where segments end: at the earliest of the times of the lines a step further into each
/// input, so that no input gives a segment more than a step of its bytes, whether the inputs
/// cover the same hours (an access log and its error log) or different days (rotations).
struct Cutter {
    /// Bytes of an input per smallest segment.
    smallest: usize,
    step: usize,
    held: u64,
    last: Option<i64>,
}

impl Cutter {
    /// The end of the next segment, UTC; `None` when it is the last and reads to the end.
    fn next(&mut self, mapped: &[Mapped], offset: i32) -> Option<i64> {
        let until = mapped.iter().filter_map(|m| self.probe(m, offset)).min();
        self.last = until.or(self.last);
        until
    }

    /// The time of the first line a step into `input`'s unread part that is later than the
    /// last cut: a second of lines longer than a step, or a stretch of lines without a time, is
    /// stepped over. `None` when the rest of the input is within the step.
    fn probe(&self, input: &Mapped, offset: i32) -> Option<i64> {
        let mut clock = input.clock(offset)?;
        let mut at = input.start.saturating_add(self.step);
        while at < input.map.len() {
            let probe = line_start(&input.map, at);
            match next_timed(&input.map, probe, &mut clock) {
                Some((_, time)) if self.last.is_none_or(|last| time > last) => return Some(time),
                _ => at = probe + self.smallest.div_ceil(8),
            }
        }
        None
    }

    /// Sizes the next segment from the one just joined: `held` requests and records for at
    /// most `read` bytes of any input.
    fn adapt(&mut self, read: usize, held: u64) {
        let wanted = read as u64 * self.held / held.max(1);
        let step = wanted.clamp(self.smallest as u64, self.smallest as u64 * MAX_GROWTH);
        self.step = usize::try_from(step).unwrap_or(usize::MAX);
    }
}

/// Reads and joins `inputs`, handing each time segment's analysis to `each` in time order
/// (see the module docs): one analysis, the whole run, when the inputs are small or not all
/// plain files. The first segment holds `size.bytes` of logs, all inputs together; later
/// ones are sized by the failures of the one before.
pub fn analyze_in_segments(
    inputs: &[InputSpec],
    options: &Options,
    size: SegmentSize,
    mut each: impl FnMut(Analysis),
) {
    let Some(mut mapped) = map_all(inputs, options) else { return each(analyze(inputs, options)) };
    let total: u64 = mapped.iter().map(|m| m.map.len() as u64).sum();
    let offset = options.error_utc_offset.or_else(|| first_offset(&mapped)).unwrap_or(0);
    let largest = mapped.iter().filter(|m| m.clock(offset).is_some()).map(|m| m.map.len()).max();
    let (Some(largest), true) = (largest, total >= size.bytes.saturating_mul(2)) else {
        return each(analyze(inputs, options));
    };
    // A step of each input whose bytes make `size.bytes` in all when the inputs run in parallel.
    let smallest = usize::try_from(largest as u64 * size.bytes / total).unwrap_or(usize::MAX).max(1);
    let mut cutter = Cutter { smallest, step: smallest, held: size.held, last: None };
    let has_access = mapped.iter().any(|m| matches!(m.sniffed, Sniffed::Access(_)));
    let progress = Progress::for_inputs(inputs, options.quiet);
    let mut lines_before = vec![0; inputs.len()];
    let mut carried = Carried::default();
    let mut guessed_offset = None;
    loop {
        let until = cutter.next(&mapped, offset);
        let ends: Vec<usize> = mapped.iter().map(|m| m.end(until, offset).max(m.start)).collect();
        // Bisecting touched a few pages per probe all over the rest of each file.
        for m in &mapped {
            PageRelease::of(&m.map).done(&m.map[m.start..]);
        }
        let results: Vec<(InputRow, Extent, Outcome)> = mapped
            .par_iter()
            .zip(&ends)
            .zip(inputs)
            .zip(&lines_before)
            .enumerate()
            .map(|(i, (((m, &end), spec), &before))| read_segment(i, spec, options, m, end, before))
            .collect();
        for ((row, extent, _), before) in results.iter().zip(&mut lines_before) {
            *before += row.lines;
            progress.advance(extent.bytes);
        }
        let read_before = carried.errors.len();
        let mut analysis = assemble(results, options, std::mem::take(&mut carried), guessed_offset);
        analysis.errors_read_before = read_before;
        guessed_offset = Some(analysis.error_utc_offset);
        if let (Some(until), true) = (until, has_access) {
            carried = carry_to_next_segment(&mut analysis, until);
        }
        let held = analysis.correlation.events.len() + analysis.errors.len();
        each(analysis);
        let read = mapped.iter().zip(&ends).map(|(m, &end)| end - m.start).max().unwrap_or(0);
        cutter.adapt(read, held as u64);
        for (m, end) in mapped.iter_mut().zip(ends) {
            // The join read fields of error records in place, after their chunk's pages were
            // given back.
            PageRelease::of(&m.map).done(&m.map[m.start..end]);
            m.start = end;
        }
        if until.is_none() {
            break;
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
            let map = map_plain(&spec.origin)?;
            let _ = map.advise(memmap2::Advice::Sequential);
            let head = &map[..map.len().min(SNIFF_HEAD)];
            let formats = spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref);
            if spec.forced.is_none() && crate::stream::detect(head, formats).is_some() {
                return None;
            }
            let sniffed = decide(spec, options, &map, None);
            Some(Mapped { map: Arc::new(map), sniffed, start: 0 })
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

/// Reads input `index` from where the segment starts to `end`, numbering its lines after the
/// `before` lines of the earlier segments.
fn read_segment(
    index: usize,
    spec: &InputSpec,
    options: &Options,
    input: &Mapped,
    end: usize,
    before: u64,
) -> (InputRow, Extent, Outcome) {
    let bytes = &input.map[input.start..end];
    let mut row = InputRow::new(&spec.origin);
    let release = PageRelease::of(&input.map);
    let mut outcome =
        read_block(index, options, bytes, input.sniffed.clone(), release, &mut row, spec.from_walk)
            .unwrap_or(Outcome::Nothing);
    number_from(before, &mut row, &mut outcome);
    (row, Extent { skipped: spec.resume, bytes: bytes.len() as u64 }, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_sized_by_the_failures_of_the_last_one() {
        let mut cutter = Cutter { smallest: 1000, step: 1000, held: 100, last: None };
        // Twice the failures wanted: half the bytes, but never below the smallest segment.
        cutter.adapt(4000, 200);
        assert_eq!(cutter.step, 2000);
        cutter.adapt(1000, 400);
        assert_eq!(cutter.step, 1000);
        // Few failures: larger segments, up to the largest.
        cutter.adapt(1000, 20);
        assert_eq!(cutter.step, 5000);
        cutter.adapt(1000, 0);
        assert_eq!(cutter.step, 1000 * MAX_GROWTH as usize);
    }
}
