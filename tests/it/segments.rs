//! Large logs are read in time segments; the join of the segments must be the join of the whole:
//! the same failures with the same causes and error lines, the same unclaimed error lines, every
//! line counted once.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ngx502::errorlog::Role;
use ngx502::input::sniff::builtin_candidates;
use ngx502::input::{expand, InputSpec, Kind, Origin};
use ngx502::pipeline::{analyze, analyze_in_segments, Analysis, Options, SegmentSize};

use crate::generator_truth::generate;

/// A line of an input: (input, line number).
type Line = (usize, u64);
/// Status, cause, join method and error lines of a failed request.
type Diagnosis = (u16, &'static str, &'static str, Vec<Line>);

/// What a join decided, in a form that does not depend on how the run was cut: per failed
/// request (input, line), its status, cause, join method and error lines (input, line); the
/// unclaimed error lines; and per input the lines read, parsed, malformed and filtered.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Joined {
    events: BTreeMap<Line, Diagnosis>,
    unmatched: Vec<Line>,
    counts: BTreeMap<usize, [u64; 4]>,
    requests: u64,
    /// Terminal error lines read, each counted in the segment that read it.
    terminal_read: usize,
    filtered_errors: u64,
    waiting_errors: u64,
}

impl Joined {
    fn add(&mut self, analysis: &Analysis) {
        let line_of = |i: usize| (analysis.errors[i].input, analysis.errors[i].line);
        for e in &analysis.correlation.events {
            let lines = e.evidence().map(line_of).collect();
            let key = (e.request.input, e.request.line);
            let value = (e.request.status, e.cause.slug(), e.join.name(), lines);
            assert!(self.events.insert(key, value).is_none(), "request {key:?} joined twice");
        }
        self.unmatched.extend(analysis.correlation.unmatched.iter().map(|&i| line_of(i)));
        for (i, row) in analysis.inputs.iter().enumerate() {
            let counts = self.counts.entry(i).or_default();
            for (sum, n) in counts.iter_mut().zip([row.lines, row.parsed, row.malformed, row.filtered]) {
                *sum += n;
            }
        }
        self.requests += analysis.access.statuses.total();
        let new = &analysis.errors[..analysis.errors.len() - analysis.errors_read_before];
        self.terminal_read += new.iter().filter(|r| r.cause.role() == Role::Terminal).count();
        self.filtered_errors += analysis.errors_filtered;
        self.waiting_errors += analysis.errors_waiting;
    }
}

/// Fails naming the first differences between the whole run's join and the segmented run's.
pub(crate) fn assert_same(whole: &Joined, cut: &Joined, what: &str) {
    assert_eq!(cut.counts, whole.counts, "{what}: lines");
    assert_eq!(cut.requests, whole.requests, "{what}: requests");
    assert_eq!(cut.unmatched, whole.unmatched, "{what}: unclaimed error lines");
    assert_eq!(cut.terminal_read, whole.terminal_read, "{what}: error lines read");
    let differ: Vec<_> = whole
        .events
        .iter()
        .filter(|(k, v)| cut.events.get(k) != Some(v))
        .take(3)
        .map(|(k, v)| (k, v, cut.events.get(k)))
        .collect();
    assert!(differ.is_empty(), "{what}: joined differently: {differ:?}");
    assert_eq!(cut.events.len(), whole.events.len(), "{what}: failures");
    assert_eq!(cut, whole, "{what}");
}

pub(crate) fn options() -> Options {
    Options { formats: builtin_candidates(), quiet: true, ..Options::default() }
}

/// How a run was cut: into how many segments, and the most lines one input gave one segment.
#[derive(Debug)]
pub(crate) struct Cuts {
    pub(crate) segments: usize,
    most_lines: u64,
}

/// The whole run's join and the segmented run's, and how it was cut.
fn both(dir: &Path, size: SegmentSize) -> (Joined, Joined, Cuts) {
    joins(&[dir.to_path_buf()], &options(), size)
}

/// The whole run's join of the inputs `paths` name and the segmented run's, read with
/// `options`, and how it was cut.
pub(crate) fn joins(paths: &[PathBuf], options: &Options, size: SegmentSize) -> (Joined, Joined, Cuts) {
    joins_of(&expand(paths, None).0, options, size)
}

/// [`joins`] of inputs given as specs.
fn joins_of(specs: &[InputSpec], options: &Options, size: SegmentSize) -> (Joined, Joined, Cuts) {
    let specs = specs.to_vec();
    let mut whole = Joined::default();
    whole.add(&analyze(&specs, options));
    let mut cut = Joined::default();
    let mut cuts = Cuts { segments: 0, most_lines: 0 };
    analyze_in_segments(&specs, options, size, |analysis| {
        cuts.segments += 1;
        cuts.most_lines = analysis.inputs.iter().map(|i| i.lines).fold(cuts.most_lines, u64::max);
        cut.add(&analysis);
        ControlFlow::Continue(())
    });
    cut.unmatched.sort_unstable();
    whole.unmatched.sort_unstable();
    (whole, cut, cuts)
}

#[test]
fn segments_join_as_the_whole_does_at_every_failure_rate_and_format() {
    for (format, rate, heavy) in
        [("upstream", "0.3", false), ("combined", "0.05", true), ("json", "0.3", true)]
    {
        let dir = tempfile::tempdir().unwrap();
        let mut extra = vec!["--failure-rate", rate];
        if heavy {
            extra.push("--error-heavy");
        }
        generate(dir.path(), format, "3M", "11", &extra);
        let (whole, cut, cuts) = both(dir.path(), SegmentSize { bytes: 256 << 10, held: 100 });
        assert!(cuts.segments >= 8, "{format} {rate}: {cuts:?}");
        assert!(whole.events.len() > 500, "{format} {rate}: {} failures", whole.events.len());
        assert_same(&whole, &cut, &format!("{format} {rate}"));
        assert_eq!(cut.waiting_errors, 0, "{format} {rate}: no line waits for a later run");
    }
}

#[test]
fn small_runs_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "upstream", "1M", "3", &["--failure-rate", "0.3"]);
    let (whole, cut, cuts) = both(dir.path(), SegmentSize::default());
    assert_eq!(cuts.segments, 1);
    assert_eq!(cut, whole);
}

/// Moves the first half of access.log's lines into access.log.1, as yesterday's log beside
/// today's; returns how many lines there were.
pub(crate) fn rotate_half(dir: &Path) -> usize {
    let access = std::fs::read(dir.join("access.log")).unwrap();
    let lines = access.iter().filter(|&&b| b == b'\n').count();
    let half = access.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(lines / 2).unwrap().0 + 1;
    std::fs::write(dir.join("access.log.1"), &access[..half]).unwrap();
    std::fs::write(dir.join("access.log"), &access[half..]).unwrap();
    lines
}

#[test]
fn logs_of_different_days_are_cut_each_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "upstream", "3M", "5", &["--failure-rate", "0.3"]);
    rotate_half(dir.path());
    let (whole, cut, cuts) = both(dir.path(), SegmentSize { bytes: 256 << 10, held: 100 });
    assert_eq!(cut, whole);
    // 256 KB of the three logs (4.3 MB) a step: about 90 KB of each, some 270 access lines,
    // never a whole half (4,800 lines).
    assert!(cuts.segments >= 16 && cuts.most_lines < 600, "{cuts:?}");
}

/// Replaces `name` in `dir` by its gzip.
pub(crate) fn gzip(dir: &Path, name: &str) {
    use std::io::Write;
    let plain = std::fs::read(dir.join(name)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    std::fs::write(dir.join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(dir.join(name)).unwrap();
}

#[test]
fn compressed_logs_are_cut_as_they_are_decompressed() {
    for (format, heavy) in [("upstream", false), ("combined", true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut extra = vec!["--failure-rate", "0.3"];
        if heavy {
            extra.push("--error-heavy");
        }
        generate(dir.path(), format, "3M", "13", &extra);
        gzip(dir.path(), "access.log");
        gzip(dir.path(), "error.log");
        let (whole, cut, cuts) = both(dir.path(), SegmentSize { bytes: 256 << 10, held: 300 });
        assert_eq!(cut, whole, "{format}");
        assert!(cuts.segments >= 8, "{format}: {cuts:?}");
        assert!(whole.events.len() > 1000, "{format}: {} failures", whole.events.len());
    }
}

#[test]
fn a_compressed_rotation_beside_todays_plain_log_is_cut_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "upstream", "3M", "17", &["--failure-rate", "0.3"]);
    let lines = rotate_half(dir.path());
    gzip(dir.path(), "access.log.1");
    let (whole, cut, cuts) = both(dir.path(), SegmentSize { bytes: 256 << 10, held: 300 });
    assert_eq!(cut, whole);
    assert!(cuts.segments >= 8 && cuts.most_lines < lines as u64 / 4, "{cuts:?}");
}

#[test]
fn a_compressed_error_log_that_starts_inside_a_trace_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "upstream", "1M", "19", &["--failure-rate", "0.3"]);
    // A rotation cut inside a FastCGI stack trace: 200 continuation lines before the first
    // record, more than a probe for a timed line looks at.
    let error = std::fs::read(dir.path().join("error.log")).unwrap();
    let mut spliced = Vec::new();
    for i in 0..200 {
        spliced.extend_from_slice(format!("#{i} /var/www/app/vendor/lib.php(12): call()\n").as_bytes());
    }
    spliced.extend_from_slice(&error);
    std::fs::write(dir.path().join("error.log"), spliced).unwrap();
    gzip(dir.path(), "error.log");
    // Named with --error, as a log that starts mid-record is not recognised by its first lines.
    let (mut specs, _) = expand(&[dir.path().to_path_buf()], None);
    for spec in &mut specs {
        if matches!(&spec.origin, Origin::File(p) if p.ends_with("error.log.gz")) {
            spec.forced = Some(Kind::Error);
        }
    }
    let (whole, cut, cuts) = joins_of(&specs, &options(), SegmentSize { bytes: 64 << 10, held: 200 });
    assert!(cuts.segments >= 4, "{cuts:?}");
    assert_same(&whole, &cut, "trace at the head");
    assert!(whole.counts[&1][0] > 200, "{:?}", whole.counts);
}
