//! Large logs read in time segments, so that what the join holds is one segment's failures,
//! not the whole run's.
//!
//! Every input is cut at the same moments, each segment sized by the failures of the one
//! before (see [`SegmentSize`]). A segment holds every access line logged before its end and
//! every error line up to a few seconds after it (nginx's clock is cached to the second, and
//! its workers' lines reach the error log a little out of order), so a request of the segment
//! finds all of its error lines there; the error lines no request
//! claimed within the join's look-back of the end are carried into the next segment, where
//! later requests may claim them (as `--state` carries them from one run to the next). Each
//! segment is handed over joined, to be folded into the report and dropped.
//!
//! Plain files are mapped and cut by bisecting them on their lines' times (see
//! [`super::seek`]), so a cut costs a few page reads; compressed files are decompressed as the
//! segments need them (see [`super::cursor`]). Stdin, streams of wrapped lines (container
//! logs), `--state` runs and small runs are read whole.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;

use super::cursor::Cursor;
use super::seek::{cut_at, line_start, next_timed, Clock};
use super::{
    analyze, assemble, decide, number_from, read_block, Analysis, Carried, Extent, Options, Outcome,
};
use crate::errorlog::ErrorRecord;
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
    /// 8 MB at least, and 25,000 requests and records (about 20 MB): at 30 % failures an 8 MB
    /// segment holds about 16,000. Small segments are faster as well as smaller: a segment's
    /// join sorts, indexes and walks data that stays in the processor's cache (at 30 %
    /// failures, 64 MB of logs are read in four fifths of the time they take as one join).
    fn default() -> Self {
        SegmentSize { bytes: 8 << 20, held: 25_000 }
    }
}

/// The largest segment, in smallest segments: large enough that segments cost nothing at low
/// failure rates, small enough that a burst of failures after a quiet stretch does not make a
/// segment hold many times more than it should.
const MAX_GROWTH: u64 = 64;

/// How much later than an access log's cut its error logs are cut: an error line may carry
/// the second after its request's access line, and be written after lines of a few seconds
/// later by other workers. Lines past the cut that no request of the segment claims are
/// carried into the next one.
const ERROR_CUT_AFTER: i64 = 5;

/// How many bytes of log a compressed byte is taken for when deciding whether a run is large
/// enough to cut: nginx logs compress about tenfold.
const COMPRESSION: u64 = 10;

/// A compressed input's first segment spans this many seconds; later ones are sized by the
/// failures of the one before.
const FIRST_SPAN: i64 = 8;

/// One input being read segment by segment, with what it was found to be.
struct Input {
    sniffed: Sniffed,
    body: Body,
}

enum Body {
    /// A plain file, mapped and cut by bisection: the next segment starts at `start`, and the
    /// segment being read ends at `end`.
    Mapped { map: Arc<Mmap>, start: usize, end: usize },
    /// A compressed file, decompressed as the segments need it.
    Stream(Box<Cursor>),
}

/// The clock of lines of an input found to be `sniffed`, in UTC with error logs at `offset`
/// seconds east.
fn clock_of(sniffed: &Sniffed, offset: i32) -> Option<Clock<'_>> {
    match sniffed {
        Sniffed::Access(format) => Some(Clock::access(format)),
        Sniffed::Error => Some(Clock::Error { offset: i64::from(offset) }),
        Sniffed::Unknown(_) => None,
    }
}

/// Where an input's part of the segment that ends at `until` (UTC) ends: before its first line
/// at or after `until`, a little after for error logs; with the clock to find it.
fn cut_of(sniffed: &Sniffed, until: Option<i64>, offset: i32) -> Option<(i64, Clock<'_>)> {
    let after = if matches!(sniffed, Sniffed::Error) { ERROR_CUT_AFTER } else { 0 };
    Some((until? + after, clock_of(sniffed, offset)?))
}

impl Input {
    /// Bytes of log this input is taken to hold.
    fn size(&self, spec: &InputSpec) -> u64 {
        match &self.body {
            Body::Mapped { map, .. } => map.len() as u64,
            Body::Stream(_) => match &spec.origin {
                crate::input::Origin::File(path) => {
                    std::fs::metadata(path).map_or(0, |m| m.len()).saturating_mul(COMPRESSION)
                }
                crate::input::Origin::Stdin => 0,
            },
        }
    }

    /// The input's first bytes, where the zone of its first access line is read.
    fn head(&self) -> &[u8] {
        match &self.body {
            Body::Mapped { map, .. } => &map[..map.len().min(SNIFF_HEAD)],
            Body::Stream(cursor) => cursor.pending(),
        }
    }

    /// Reads this input's part of the segment that ends at `until` (to the end when `None`),
    /// as input `index`, numbering its lines after the `before` lines of the earlier segments.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        index: usize,
        spec: &InputSpec,
        options: &Options,
        until: Option<i64>,
        offset: i32,
        progress: &Progress,
        before: u64,
    ) -> (InputRow, Extent, Outcome) {
        let mut row = InputRow::new(&spec.origin);
        let Input { sniffed, body } = self;
        let cut = cut_of(sniffed, until, offset);
        let (outcome, read) = match body {
            Body::Mapped { map, start, end } => {
                *end = match cut {
                    Some((time, mut clock)) => *start + cut_at(&map[*start..], time, &mut clock),
                    None => map.len(),
                };
                let bytes = &map[*start..*end];
                let release = PageRelease::of(map);
                let outcome =
                    read_block(index, options, bytes, sniffed.clone(), release, &mut row, spec.from_walk);
                progress.advance(bytes.len() as u64);
                (outcome, bytes.len() as u64)
            }
            Body::Stream(cursor) => (cursor.read(index, spec, options, sniffed, cut, progress, &mut row), 0),
        };
        let mut outcome = outcome.unwrap_or(Outcome::Nothing);
        number_from(before, &mut row, &mut outcome);
        (row, Extent { skipped: spec.resume, bytes: read }, outcome)
    }

    /// Moves past the segment just read: the mapped part it read, whose pages go back once
    /// its join is done.
    fn advance(&mut self) -> Option<(Arc<Mmap>, Range<usize>)> {
        let Body::Mapped { map, start, end } = &mut self.body else { return None };
        let read = *start..*end;
        *start = *end;
        Some((Arc::clone(map), read))
    }

    /// How many bytes of the segment just read this input gave, for a mapped one.
    fn segment_bytes(&self) -> usize {
        match &self.body {
            Body::Mapped { start, end, .. } => end - start,
            Body::Stream(_) => 0,
        }
    }
}

/// Where segments end: at the earliest of the times of the lines a step further into each
/// mapped input, so that no input gives a segment more than a step of its bytes, whether the
/// inputs cover the same hours (an access log and its error log) or different days
/// (rotations); compressed inputs, which cannot be looked into ahead, end it a span of time
/// after their next line.
struct Cutter {
    /// Bytes of an input per smallest segment.
    smallest: usize,
    step: usize,
    /// Seconds of a compressed input per segment.
    span: i64,
    held: u64,
    /// The end of the last segment, and the start of the one being read.
    last: Option<i64>,
    from: Option<i64>,
}

impl Cutter {
    /// The end of the next segment, UTC; `None` when it is the last and reads to the end.
    fn next(&mut self, inputs: &mut [Input], offset: i32, progress: &Progress) -> Option<i64> {
        let probed = inputs.iter().filter_map(|input| self.probe(input, offset)).min();
        let streams = inputs
            .iter_mut()
            .filter_map(|Input { sniffed, body }| match body {
                Body::Stream(cursor) => cursor.next_time(sniffed, &mut clock_of(sniffed, offset)?, progress),
                Body::Mapped { .. } => None,
            })
            .min();
        let from = match (self.last, streams) {
            (Some(last), Some(next)) => Some(last.max(next)),
            (last, next) => last.or(next),
        };
        let by_time = streams.and(from).map(|from| from.saturating_add(self.span));
        let until = probed.into_iter().chain(by_time).min();
        self.from = self.last.or(from);
        self.last = until.or(self.last);
        until
    }

    /// The time of the first line a step into a mapped input's unread part that is later than
    /// the last cut: a second of lines longer than a step, or a stretch of lines without a
    /// time, is stepped over. `None` when the rest of the input is within the step.
    fn probe(&self, input: &Input, offset: i32) -> Option<i64> {
        let Body::Mapped { map, start, .. } = &input.body else { return None };
        let mut clock = clock_of(&input.sniffed, offset)?;
        let mut at = start.saturating_add(self.step);
        while at < map.len() {
            let probe = line_start(map, at);
            match next_timed(map, probe, &mut clock) {
                Some((_, time)) if self.last.is_none_or(|last| time > last) => return Some(time),
                _ => at = probe + self.smallest.div_ceil(8),
            }
        }
        None
    }

    /// Sizes the next segment from the one just read: `held` requests and records it read for
    /// at most `read` bytes of any mapped input and the seconds it spanned, and `carried` error
    /// lines the latest join left unclaimed (the join of the segment before it). A segment re-indexes what it is carried, so when many
    /// error lines go unclaimed (an error log of sites whose access logs were not given) the
    /// next segment is made to read at least as many new ones, and carries are not re-read
    /// many times over.
    fn adapt(&mut self, read: usize, held: u64, carried: u64) {
        let wanted = self.held.max(carried);
        let scale = |used: u64, least: u64| {
            (used.saturating_mul(wanted) / held.max(1))
                .clamp(least, used.max(least).saturating_mul(MAX_GROWTH))
        };
        self.step =
            usize::try_from(scale(read as u64, self.smallest as u64).min(self.smallest as u64 * MAX_GROWTH))
                .unwrap_or(usize::MAX);
        if let (Some(from), Some(until)) = (self.from, self.last) {
            let spanned = u64::try_from(until - from).unwrap_or(0);
            self.span = i64::try_from(scale(spanned, 1)).unwrap_or(i64::MAX);
        }
    }
}

/// Reads and joins `inputs`, handing each time segment's analysis to `each` in time order
/// (see the module docs): one analysis, the whole run, when the inputs are small or one of
/// them cannot be cut. The first segment holds about `size.bytes` of logs, all inputs
/// together; later ones are sized by the failures of the one before. Reading stops at the
/// first segment `each` breaks on: what it writes to went away (`export | head`).
///
/// A segment is read while the one before it is joined and handed over: the join and the
/// fold have parts that run on one thread, and the next segment's parsing fills the other
/// threads meanwhile. So two segments are held at once, and a segment is sized by the
/// segment before it but by the unclaimed error lines of the one before that.
pub fn analyze_in_segments(
    inputs: &[InputSpec],
    options: &Options,
    size: SegmentSize,
    mut each: impl FnMut(Analysis) -> ControlFlow<()> + Send,
) {
    let Some(opened) = open_all(inputs, options) else {
        let _ = each(analyze(inputs, options));
        return;
    };
    let sizes: Vec<u64> = opened.iter().zip(inputs).map(|(input, spec)| input.size(spec)).collect();
    let total: u64 = sizes.iter().sum();
    let offset = options.error_utc_offset.or_else(|| first_offset(&opened, &sizes)).unwrap_or(0);
    let largest = opened
        .iter()
        .zip(&sizes)
        .filter(|(input, _)| clock_of(&input.sniffed, offset).is_some())
        .map(|(_, &s)| s)
        .max();
    let (Some(largest), true) = (largest, total >= size.bytes.saturating_mul(2)) else {
        let _ = each(analyze(inputs, options));
        return;
    };
    // A step of each input whose bytes make `size.bytes` in all when the inputs run in parallel.
    let smallest = usize::try_from(largest.saturating_mul(size.bytes) / total).unwrap_or(usize::MAX).max(1);
    let cutter =
        Cutter { smallest, step: smallest, span: FIRST_SPAN, held: size.held, last: None, from: None };
    let has_access = opened.iter().any(|input| matches!(input.sniffed, Sniffed::Access(_)));
    let progress = Progress::for_inputs(inputs, options.quiet);
    let mut reader = Reader {
        inputs,
        options,
        offset,
        progress: &progress,
        opened,
        cutter,
        lines_before: vec![0; inputs.len()],
    };
    let mut joiner =
        Joiner { options, offset, has_access, carried: Carried::default(), guessed_offset: None };
    let mut segment = reader.next();
    loop {
        reader.cutter.adapt(segment.bytes, segment.held, joiner.carried.errors.len() as u64);
        let last = segment.until.is_none();
        let (next, handed) =
            rayon::join(|| (!last).then(|| reader.next()), || joiner.join(segment, &mut each));
        match (next, handed) {
            (Some(next), ControlFlow::Continue(())) => segment = next,
            _ => break,
        }
    }
    progress.finish();
}

/// The inputs being read, segment by segment.
struct Reader<'a> {
    inputs: &'a [InputSpec],
    options: &'a Options,
    /// The error logs' zone, in seconds east of UTC, which they are cut in.
    offset: i32,
    progress: &'a Progress,
    opened: Vec<Input>,
    cutter: Cutter,
    /// Lines of each input read by the earlier segments.
    lines_before: Vec<u64>,
}

/// One segment as read, before its join.
struct Segment {
    /// Its end, UTC; `None` for the last, which reads to the end.
    until: Option<i64>,
    results: Vec<(InputRow, Extent, Outcome)>,
    /// The mapped parts it read, whose pages go back once it is joined and handed over.
    mapped: Vec<(Arc<Mmap>, Range<usize>)>,
    /// The most bytes of one mapped input it read.
    bytes: usize,
    /// The failed requests and error records it read.
    held: u64,
}

impl Reader<'_> {
    /// Reads the next segment, every input in parallel, and moves past it.
    fn next(&mut self) -> Segment {
        let Reader { inputs, options, offset, progress, .. } = *self;
        let until = self.cutter.next(&mut self.opened, offset, progress);
        let results: Vec<(InputRow, Extent, Outcome)> = self
            .opened
            .par_iter_mut()
            .zip(inputs)
            .zip(&self.lines_before)
            .enumerate()
            .map(|(i, ((input, spec), &before))| {
                input.read(i, spec, options, until, offset, progress, before)
            })
            .collect();
        for ((row, _, _), before) in results.iter().zip(&mut self.lines_before) {
            *before += row.lines;
        }
        // Bisecting touched a few pages per probe all over the rest of each file.
        for input in &self.opened {
            if let Body::Mapped { map, end, .. } = &input.body {
                PageRelease::of(map).done(&map[*end..]);
            }
        }
        let bytes = self.opened.iter().map(Input::segment_bytes).max().unwrap_or(0);
        let mapped = self.opened.iter_mut().filter_map(Input::advance).collect();
        let held = results.iter().map(|(_, _, outcome)| held_by(outcome)).sum();
        Segment { until, results, mapped, bytes, held }
    }
}

/// The segments' joins: what each leaves to the next.
struct Joiner<'a> {
    options: &'a Options,
    offset: i32,
    has_access: bool,
    carried: Carried,
    /// The error logs' zone, once access lines with a zone were read.
    guessed_offset: Option<i32>,
}

impl Joiner<'_> {
    /// Joins `segment` with what the one before left unclaimed, keeps what it leaves
    /// unclaimed for the next, and hands its analysis to `each`.
    fn join(
        &mut self,
        segment: Segment,
        each: &mut impl FnMut(Analysis) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Segment { until, mut results, mapped, .. } = segment;
        for input in carried_inputs(&self.carried) {
            if let Some((row, _, _)) = results.get_mut(input) {
                row.parsed += 1;
            }
        }
        let read_before = self.carried.errors.len();
        // A segment without a zoned access line (all before `--since`, say) has nothing to guess
        // the error logs' zone from: it reads them in the zone they are cut in.
        let zoned = results.iter().any(|(_, _, outcome)| has_zone(outcome));
        let zone = self.guessed_offset.or((!zoned).then_some(self.offset));
        let mut analysis = assemble(results, self.options, std::mem::take(&mut self.carried), zone);
        analysis.errors_read_before = read_before;
        if zoned {
            self.guessed_offset = self.guessed_offset.or(Some(analysis.error_utc_offset));
        }
        if let (Some(until), true) = (until, self.has_access) {
            self.carried = carry_to_next_segment(&mut analysis, until);
            for input in carried_inputs(&self.carried) {
                if let Some(row) = analysis.inputs.get_mut(input) {
                    row.parsed = row.parsed.saturating_sub(1);
                }
            }
        }
        let carried_in = &analysis.errors[analysis.errors.len() - read_before..];
        let released: Vec<_> = mapped
            .into_iter()
            .map(|(map, range)| {
                let range = released_after_join(&map, range, carried_in);
                (map, range)
            })
            .collect();
        let handed = each(analysis);
        for (map, range) in released {
            PageRelease::of(&map).done(&map[range]);
        }
        handed
    }
}

/// The part of a mapped input given back once a segment is joined and folded: the `range` it
/// read, and before it the pages of the error lines `carried_in` from earlier segments. The
/// fold reads some of those as written (the evidence it shows), which faults their pages back
/// in after their own segment gave them back; left mapped, such pages added up to a hundred
/// megabytes and more over a 15 GB run.
fn released_after_join(map: &Arc<Mmap>, range: Range<usize>, carried_in: &[ErrorRecord]) -> Range<usize> {
    let release = PageRelease::of(map);
    let lowest = carried_in.iter().filter_map(|r| release.offset_of(r.raw())).min();
    lowest.map_or(range.start, |low| low.min(range.start))..range.end
}

/// The failed requests and error records an input's part of a segment holds.
fn held_by(outcome: &Outcome) -> u64 {
    let held = match outcome {
        Outcome::Access(summary, _) => summary.candidates.len(),
        Outcome::Error(records) => records.len(),
        Outcome::Mixed(summary, _, records) => summary.candidates.len() + records.len(),
        Outcome::Stream(_) | Outcome::Nothing => 0,
    };
    held as u64
}

/// Every input opened and sniffed, when each is a plain file (mapped) or a compressed one,
/// read from its start, and none is a stream of wrapped lines.
fn open_all(inputs: &[InputSpec], options: &Options) -> Option<Vec<Input>> {
    inputs
        .iter()
        .map(|spec| {
            if spec.resume.bytes > 0 || spec.forced == Some(Kind::Stream) {
                return None;
            }
            let Some(map) = map_plain(&spec.origin) else {
                let (cursor, sniffed) = Cursor::open(spec, options)?;
                return Some(Input { sniffed, body: Body::Stream(Box::new(cursor)) });
            };
            let _ = map.advise(memmap2::Advice::Sequential);
            let head = &map[..map.len().min(SNIFF_HEAD)];
            let formats = spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref);
            if spec.forced.is_none() && crate::stream::detect(head, formats).is_some() {
                return None;
            }
            let sniffed = decide(spec, options, &map, None);
            Some(Input { sniffed, body: Body::Mapped { map: Arc::new(map), start: 0, end: 0 } })
        })
        .collect()
}

/// The zone of most of the access logs' bytes, each taken to be in the zone of its first line
/// with a time: the error logs' zone, until the first segment's access lines tell the most
/// common one. The first input's zone alone could be a host's in another zone, and cut the
/// error logs hours away from their requests.
fn first_offset(inputs: &[Input], sizes: &[u64]) -> Option<i32> {
    let mut bytes: Vec<(i32, u64)> = Vec::new();
    for (input, &size) in inputs.iter().zip(sizes) {
        let Sniffed::Access(format) = &input.sniffed else { continue };
        let mut parser = crate::access::AccessParser::new(format);
        let zone = crate::lines::lines(input.head())
            .find_map(|line| parser.parse(line).ok()?.time.map(|t| t.offset));
        match (zone, bytes.iter_mut().find(|(z, _)| Some(*z) == zone)) {
            (Some(_), Some((_, n))) => *n += size,
            (Some(zone), None) => bytes.push((zone, size)),
            (None, _) => {}
        }
    }
    bytes.into_iter().max_by_key(|&(zone, n)| (n, -zone)).map(|(zone, _)| zone)
}

/// The input of each line `carried` into the next segment. A carried line is counted parsed
/// in the segment that joins it, not the one that read it: a filter that drops its failure
/// there counts it filtered instead, which a segment's row can only do for lines it counts.
fn carried_inputs(carried: &Carried) -> impl Iterator<Item = usize> + '_ {
    let requests = carried.candidates.iter().map(|c| c.input);
    requests.chain(carried.errors.iter().map(|r| r.input))
}

/// Whether an input's part of a segment holds an access line with a zone.
fn has_zone(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Access(summary, _) if !summary.offsets.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_of_error_lines_carried_in_go_back_with_the_segment() {
        let lines = "2024/05/14 10:00:00 [error] 1#1: *1 upstream timed out (110: Connection timed out) \
                     while reading response header from upstream, client: 10.0.0.1, server: a, \
                     request: \"GET /a HTTP/1.1\", upstream: \"http://10.0.1.1:80/a\"\n"
            .repeat(3);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, lines.as_bytes()).unwrap();
        // SAFETY: a file of the test's own, not changed while mapped.
        let map = Arc::new(unsafe { Mmap::map(file.as_file()) }.unwrap());
        let records = crate::errorlog::read::read_chunks(0, &map[..], 1, PageRelease::of(&map)).records;
        assert_eq!(records.len(), 3);
        let line = lines.len() / 3;
        let segment = 2 * line..3 * line;
        // The second line carried in: its pages and the segment's go back; the first's stay.
        assert_eq!(released_after_join(&map, segment.clone(), &records[1..2]), line..3 * line);
        assert_eq!(released_after_join(&map, segment.clone(), &[]), segment);
        // A line carried from later in the file (never so in a run) does not shorten the range.
        assert_eq!(released_after_join(&map, 0..line, &records[2..]), 0..line);
        // Records kept in their own arena (not in the mapping) add nothing.
        let copied = crate::errorlog::read::read_chunks(0, lines.as_bytes(), 1, PageRelease::default());
        assert_eq!(released_after_join(&map, segment.clone(), &copied.records), segment);
    }

    #[test]
    fn segments_are_sized_by_the_failures_of_the_last_one() {
        let mut cutter = Cutter { smallest: 1000, step: 1000, span: 8, held: 100, last: None, from: None };
        // Twice the failures wanted: half the bytes, but never below the smallest segment.
        cutter.adapt(4000, 200, 0);
        assert_eq!(cutter.step, 2000);
        cutter.adapt(1000, 400, 0);
        assert_eq!(cutter.step, 1000);
        // Few failures: larger segments, up to the largest.
        cutter.adapt(1000, 20, 0);
        assert_eq!(cutter.step, 5000);
        cutter.adapt(1000, 0, 0);
        assert_eq!(cutter.step, 1000 * MAX_GROWTH as usize);
        // Four times as many unclaimed error lines carried as the failures wanted: the next
        // segment reads four times as many new lines.
        cutter.adapt(1000, 100, 400);
        assert_eq!(cutter.step, 4000);
    }

    #[test]
    fn a_compressed_input_is_cut_by_spans_sized_like_the_steps() {
        let mut cutter = Cutter { smallest: 1000, step: 1000, span: 8, held: 100, last: None, from: None };
        cutter.from = Some(1_000);
        cutter.last = Some(1_008);
        cutter.adapt(0, 400, 0);
        assert_eq!(cutter.span, 2);
        cutter.last = Some(1_010);
        cutter.adapt(0, 0, 0);
        assert_eq!(cutter.span, 10 * MAX_GROWTH as i64);
        // Never less than a second.
        cutter.adapt(0, 1_000_000, 0);
        assert_eq!(cutter.span, 1);
    }
}
