//! Runs read in time segments that are not the generator's tidy pair of logs: time windows,
//! filters, one kind of log alone, stray and broken inputs, lines out of order, bursts, zones,
//! broken archives, thread counts. Each must join, count and report as the run read whole.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ngx502::aggregate::{Fold, Limits};
use ngx502::filter::{Filter, FilterArgs};
use ngx502::input::expand;
use ngx502::pipeline::{analyze, analyze_in_segments, Options, SegmentSize};
use ngx502::report::{json, Report};
use ngx502::window::{parse_time, TimeWindow};

use crate::generator_truth::generate;
use crate::segments::{assert_same, gzip, joins, options, rotate_half};

/// Small enough that a 3 MB log is cut into many segments.
const SMALL: SegmentSize = SegmentSize { bytes: 256 << 10, held: 100 };

/// The generator's logs (upstream format, 30 % failures, 3 MB of access log) in a new directory.
fn logs(seed: &str, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--failure-rate", "0.3"];
    args.extend_from_slice(extra);
    generate(dir.path(), "upstream", "3M", seed, &args);
    dir
}

fn paths(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| dir.join(n)).collect()
}

/// The JSON report of the run read whole and of the run read in segments, `filter` applied
/// to each analysis as `report` does; and how many segments there were.
fn reports(paths: &[PathBuf], options: &Options, filter: &Filter) -> (String, String, usize) {
    let (specs, _) = expand(paths, None);
    let limits = Limits { top: 10, templates: true };
    let mut whole = analyze(&specs, options);
    filter.apply(&mut whole);
    let whole = json::render(&Report::build(&whole, limits, None)).unwrap();
    let mut fold = Fold::new(limits, None);
    let mut segments = 0;
    analyze_in_segments(&specs, options, SMALL, |mut analysis| {
        segments += 1;
        filter.apply(&mut analysis);
        fold.add(&analysis);
        ControlFlow::Continue(())
    });
    (whole, json::render(&fold.finish()).unwrap(), segments)
}

/// Fails naming the first lines where the two reports differ.
fn assert_same_report(whole: &str, cut: &str, what: &str) {
    let differ: Vec<_> = whole
        .lines()
        .zip(cut.lines())
        .enumerate()
        .filter(|(_, (w, c))| w != c)
        .take(5)
        .map(|(n, (w, c))| format!("line {n}: whole {w} | cut {c}"))
        .collect();
    assert!(differ.is_empty() && whole.len() == cut.len(), "{what}: reports differ:\n{}", differ.join("\n"));
}

/// The join and the report of `paths`, read whole and in segments, are the same; returns the
/// segments and the report read whole.
fn same_both_ways(paths: &[PathBuf], options: &Options, what: &str) -> (usize, String) {
    let (whole, cut, cuts) = joins(paths, options, SMALL);
    assert_same(&whole, &cut, what);
    let (whole, cut, segments) = reports(paths, options, &Filter::default());
    assert_same_report(&whole, &cut, what);
    assert_eq!(segments, cuts.segments, "{what}");
    (segments, whole)
}

/// Lines of a file, each with its newline.
pub(crate) fn lines_of(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path).unwrap().split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

pub(crate) fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.concat()).unwrap();
}

#[test]
fn a_time_window_filters_the_same_lines_in_segments() {
    let dir = logs("21", &[]);
    let inputs = paths(dir.path(), &["access.log", "error.log"]);
    // The logs run from 22:00:00 to 22:04:33 UTC.
    let at = |t: &str| Some(parse_time(t).unwrap());
    for (since, until) in [
        (at("2024-05-13T22:01:00Z"), at("2024-05-13T22:03:00Z")),
        (at("2024-05-13T22:02:30Z"), None),
        (None, at("2024-05-13T22:00:40Z")),
    ] {
        let options = Options { window: TimeWindow { since, until }, ..options() };
        let what = format!("{since:?}..{until:?}");
        let (segments, report) = same_both_ways(&inputs, &options, &what);
        assert!(segments >= 8, "{what}: {segments} segments");
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert!(report["totals"]["filtered"].as_u64().unwrap() > 1000, "{what}: nothing filtered");
        assert!(report["error_lines"]["filtered"].as_u64().unwrap() > 0, "{what}: no error line filtered");
    }
}

#[test]
fn filters_on_failures_report_the_same_in_segments() {
    // Error lines carried into a short last segment and claimed there by failures the filter
    // drops are counted filtered although that segment read fewer than that.
    let dir = logs("23", &["--error-heavy"]);
    let inputs = paths(dir.path(), &["access.log", "error.log"]);
    let filters = [
        FilterArgs::default(),
        FilterArgs { path: Some("^/v1/orders".into()), ..FilterArgs::default() },
        FilterArgs { status: vec![504], ..FilterArgs::default() },
        FilterArgs { upstream: Some(r"10\.0\.1\.12".into()), ..FilterArgs::default() },
        FilterArgs { host: Some("^api".into()), status: vec![502], ..FilterArgs::default() },
    ];
    for args in filters {
        let (whole, cut, segments) = reports(&inputs, &options(), &Filter::new(&args).unwrap());
        assert!(segments >= 8, "{args:?}: {segments} segments");
        assert_same_report(&whole, &cut, &format!("{args:?}"));
        let report: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert!(report["totals"]["failures"].as_u64().unwrap() > 100, "{args:?}: few failures");
    }
}

#[test]
fn one_kind_of_log_alone_is_cut_as_the_pair_is() {
    let dir = logs("25", &["--error-heavy"]);
    for name in ["error.log", "access.log"] {
        let (segments, _) = same_both_ways(&paths(dir.path(), &[name]), &options(), name);
        assert!(segments >= 4, "{name}: {segments} segments");
    }
}

#[test]
fn reading_stops_at_the_segment_the_caller_breaks_on() {
    let dir = logs("26", &[]);
    let (specs, _) = expand(&paths(dir.path(), &["access.log", "error.log"]), None);
    let mut handed = 0;
    analyze_in_segments(&specs, &options(), SMALL, |_| {
        handed += 1;
        if handed == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(handed, 2);
}

/// A README beside the logs, and an empty log, in `dir`.
fn stray_files(dir: &Path) {
    std::fs::write(dir.join("empty.log"), b"").unwrap();
    let prose: String =
        (0..20_000).map(|i| format!("line {i} of a README that is not a log at all\n")).collect();
    std::fs::write(dir.join("notes.txt"), prose).unwrap();
}

#[test]
fn an_empty_file_and_a_non_log_among_the_inputs_change_nothing() {
    let dir = logs("27", &[]);
    stray_files(dir.path());
    let inputs = paths(dir.path(), &["access.log", "notes.txt", "error.log"]);
    let (segments, report) = same_both_ways(&inputs, &options(), "a README");
    assert!(segments >= 8, "{segments} segments");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let problem = report["inputs"][1]["problem"].as_str().unwrap_or_default();
    assert!(problem.starts_with("no known access-log format"), "{}", report["inputs"][1]);
    let inputs = paths(dir.path(), &["empty.log", "access.log", "notes.txt", "error.log"]);
    same_both_ways(&inputs, &options(), "an empty log and a README");
}

#[test]
fn an_empty_log_does_not_stop_a_run_being_cut() {
    let dir = logs("27", &[]);
    stray_files(dir.path());
    let inputs = paths(dir.path(), &["empty.log", "access.log", "error.log"]);
    let (segments, _) = same_both_ways(&inputs, &options(), "an empty log");
    assert!(segments >= 8, "{segments} segments");
}

#[test]
fn an_error_log_of_continuation_lines_only_is_read_as_when_whole() {
    let dir = logs("29", &[]);
    let tail: String = (0..20_000).map(|i| format!("    at frame {i} (upstream stack trace)\n")).collect();
    std::fs::write(dir.path().join("trace.error.log"), tail).unwrap();
    let inputs = paths(dir.path(), &["access.log", "error.log", "trace.error.log"]);
    same_both_ways(&inputs, &options(), "continuation lines");
}

#[test]
fn a_stretch_of_malformed_lines_at_a_cut_is_counted_once() {
    let dir = logs("31", &[]);
    for name in ["access.log", "error.log"] {
        let path = dir.path().join(name);
        let mut lines = lines_of(&path);
        let middle = lines.len() / 2;
        let junk = (0..3000).map(|i| format!("\u{1}garbage {i} \u{fffd} no time here\n").into_bytes());
        lines.splice(middle..middle, junk);
        write_lines(&path, &lines);
    }
    let inputs = paths(dir.path(), &["access.log", "error.log"]);
    let (segments, report) = same_both_ways(&inputs, &options(), "malformed stretch");
    assert!(segments >= 8, "{segments} segments");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(report["totals"]["malformed_lines"].as_u64().unwrap() >= 3000, "{}", report["totals"]);
}

/// A small deterministic shuffle: no line moves `reach` places or more.
pub(crate) fn shuffle_near(lines: &mut Vec<Vec<u8>>, reach: usize, mut seed: u64) {
    let mut keyed: Vec<(usize, Vec<u8>)> = std::mem::take(lines)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (i + (seed % reach as u64) as usize, line)
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    lines.extend(keyed.into_iter().map(|(_, line)| line));
}

#[test]
fn access_lines_a_few_seconds_out_of_order_join_as_when_whole() {
    // About 35 requests a second: 60 places is under two seconds.
    let dir = logs("33", &[]);
    let path = dir.path().join("access.log");
    let mut lines = lines_of(&path);
    shuffle_near(&mut lines, 60, 0x9e37_79b9_7f4a_7c15);
    write_lines(&path, &lines);
    same_both_ways(&paths(dir.path(), &["access.log", "error.log"]), &options(), "shuffled access");
}

#[test]
fn error_lines_a_few_seconds_out_of_order_join_as_when_whole() {
    // About 15 error lines a second: 30 places is two seconds, as busy workers write them.
    let dir = logs("35", &[]);
    let path = dir.path().join("error.log");
    let mut lines = lines_of(&path);
    shuffle_near(&mut lines, 30, 0x2545_f491_4f6c_dd1d);
    write_lines(&path, &lines);
    same_both_ways(&paths(dir.path(), &["access.log", "error.log"]), &options(), "shuffled errors");
}

/// Rewrites every line's time between `from` and `to` (minutes:seconds after midnight, local)
/// to `from`: a burst of many steps' bytes in one second.
fn burst(dir: &Path, from: &str, to: &str) {
    for (name, at) in [("access.log", b"[14/May/2024:00:".as_slice()), ("error.log", b"2024/05/14 00:")] {
        let path = dir.join(name);
        let mut lines = lines_of(&path);
        for line in &mut lines {
            let Some(i) = memchr::memmem::find(line, at) else { continue };
            let time = i + at.len()..i + at.len() + 5;
            if line.get(time.clone()).is_some_and(|t| t >= from.as_bytes() && t <= to.as_bytes()) {
                line[time].copy_from_slice(from.as_bytes());
            }
        }
        write_lines(&path, &lines);
    }
}

#[test]
fn a_burst_in_one_second_longer_than_a_step_joins_as_when_whole() {
    let dir = logs("37", &[]);
    burst(dir.path(), "01:30", "02:30");
    let (segments, _) =
        same_both_ways(&paths(dir.path(), &["access.log", "error.log"]), &options(), "one-second burst");
    assert!(segments >= 4, "{segments} segments");
}

/// Rewrites an access log's `+0200` times of 14 May after midnight to the same moments in
/// `-0500`.
fn to_minus_five(lines: &mut [Vec<u8>]) {
    for line in lines {
        let Some(i) = memchr::memmem::find(line, b"[14/May/2024:00:") else { continue };
        line[i..i + 16].copy_from_slice(b"[13/May/2024:17:");
        if let Some(z) = memchr::memmem::find(&line[i..], b" +0200]") {
            line[i + z..i + z + 7].copy_from_slice(b" -0500]");
        }
    }
}

#[test]
fn access_logs_in_two_zones_are_cut_at_the_same_moments() {
    let dir = logs("39", &[]);
    let lines = lines_of(&dir.path().join("access.log"));
    // A third of the requests logged by a host in New York, the rest in Berlin.
    let (mut west, east): (Vec<_>, Vec<_>) = lines.into_iter().enumerate().partition(|(i, _)| i % 3 == 0);
    let mut west: Vec<_> = west.drain(..).map(|(_, l)| l).collect();
    to_minus_five(&mut west);
    write_lines(&dir.path().join("west.access.log"), &west);
    write_lines(&dir.path().join("access.log"), &east.into_iter().map(|(_, l)| l).collect::<Vec<_>>());
    for order in
        [["access.log", "west.access.log", "error.log"], ["west.access.log", "access.log", "error.log"]]
    {
        let inputs = paths(dir.path(), &order);
        let what = format!("{order:?}");
        let (segments, _) = same_both_ways(&inputs, &options(), &what);
        assert!(segments >= 8, "{what}: {segments} segments");
        // The error log's zone given: the same.
        same_both_ways(&inputs, &Options { error_utc_offset: Some(7200), ..options() }, &what);
    }
}

/// Replaces `name` in `dir` by its zstd.
fn zstd(dir: &Path, name: &str) {
    let plain = std::fs::read(dir.join(name)).unwrap();
    std::fs::write(dir.join(format!("{name}.zst")), zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
    std::fs::remove_file(dir.join(name)).unwrap();
}

#[test]
fn zstd_logs_are_cut_as_they_are_decompressed() {
    let dir = logs("41", &["--error-heavy"]);
    zstd(dir.path(), "access.log");
    zstd(dir.path(), "error.log");
    let (segments, _) =
        same_both_ways(&paths(dir.path(), &["access.log.zst", "error.log.zst"]), &options(), "zstd");
    assert!(segments >= 8, "{segments} segments");
}

#[test]
fn a_truncated_or_corrupt_archive_is_reported_as_when_read_whole() {
    for (what, damage) in [
        ("truncated", (|gz: &mut Vec<u8>| gz.truncate(gz.len() * 3 / 5)) as fn(&mut Vec<u8>)),
        ("corrupt", |gz: &mut Vec<u8>| {
            let middle = gz.len() / 2;
            gz[middle..middle + 64].iter_mut().for_each(|b| *b ^= 0x5a);
        }),
    ] {
        let dir = logs("43", &[]);
        rotate_half(dir.path());
        gzip(dir.path(), "access.log.1");
        let archive = dir.path().join("access.log.1.gz");
        let mut gz = std::fs::read(&archive).unwrap();
        damage(&mut gz);
        std::fs::write(&archive, gz).unwrap();
        let inputs = paths(dir.path(), &["access.log.1.gz", "access.log", "error.log"]);
        let (_, report) = same_both_ways(&inputs, &options(), what);
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let problem = report["inputs"][0]["problem"].as_str().unwrap_or_default();
        assert!(problem.starts_with("read stopped early"), "{what}: {}", report["inputs"][0]);
    }
}

#[test]
fn an_archive_that_is_not_a_log_changes_nothing() {
    let dir = logs("45", &[]);
    let prose: String = (0..60_000).map(|i| format!("paragraph {i} of a manual, not a log\n")).collect();
    std::fs::write(dir.path().join("manual.txt"), prose).unwrap();
    gzip(dir.path(), "manual.txt");
    let inputs = paths(dir.path(), &["access.log", "manual.txt.gz", "error.log"]);
    let (segments, report) = same_both_ways(&inputs, &options(), "archived prose");
    assert!(segments >= 8, "{segments} segments");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["inputs"][1]["kind"], serde_json::Value::Null, "{}", report["inputs"][1]);
}

#[test]
fn segments_report_byte_identically_on_one_thread_and_two() {
    let dir = logs("47", &["--error-heavy"]);
    rotate_half(dir.path());
    gzip(dir.path(), "access.log.1");
    let inputs = paths(dir.path(), &["access.log.1.gz", "access.log", "error.log"]);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| reports(&inputs, &options(), &Filter::default()))
    };
    let (whole, one, segments) = on(1);
    let (_, two, _) = on(2);
    assert!(segments >= 8, "{segments} segments");
    assert_eq!(one, two, "-j1 and -j2 differ");
    assert_same_report(&whole, &one, "-j1");
}
