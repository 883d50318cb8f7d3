//! `export` reads large runs in time segments and writes each segment's rows as it is joined;
//! the file must be the one the run read whole writes, byte for byte, with any thread count.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use ngx502::export::NdjsonWriter;
use ngx502::filter::{Filter, FilterArgs};
use ngx502::input::expand;
use ngx502::labels::{LabelArgs, Labels};
use ngx502::pipeline::{analyze, analyze_in_segments, SegmentSize};

use crate::generator_truth::generate;
use crate::segment_cases::{lines_of, shuffle_near, write_lines};
use crate::segments::{gzip, options, rotate_half};

/// Small enough that a 3 MB log is cut into many segments.
const SMALL: SegmentSize = SegmentSize { bytes: 256 << 10, held: 100 };

/// The generator's logs (upstream format, 30 % failures) of `size` in a new directory.
fn logs(size: &str, seed: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "upstream", size, seed, &["--failure-rate", "0.3"]);
    dir
}

fn labels() -> Labels {
    Labels::new(&LabelArgs { label: vec![("host".into(), "web1".into())] }).unwrap()
}

/// The ndjson export of the run read whole and of the run read in segments on `threads`
/// threads, `filter` applied as `export` does; and how many segments there were.
fn exports(paths: &[PathBuf], filter: &Filter, threads: usize) -> (Vec<u8>, Vec<u8>, usize) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let (specs, _) = expand(paths, None);
        let mut whole = analyze(&specs, &options());
        filter.apply(&mut whole);
        let mut rows = NdjsonWriter::new(Vec::new(), &labels());
        rows.add(&whole).unwrap();
        let whole = rows.finish().unwrap();
        let mut rows = NdjsonWriter::new(Vec::new(), &labels());
        let mut segments = 0;
        analyze_in_segments(&specs, &options(), SMALL, |mut analysis| {
            segments += 1;
            filter.apply(&mut analysis);
            rows.add(&analysis).unwrap();
            ControlFlow::Continue(())
        });
        (whole, rows.finish().unwrap(), segments)
    })
}

/// Fails naming the first rows where the two exports differ; returns how many rows there are.
fn assert_same_rows(whole: &[u8], cut: &[u8], what: &str) -> usize {
    let (w, c) = (rows_of(whole), rows_of(cut));
    let differ: Vec<_> = w
        .iter()
        .zip(&c)
        .enumerate()
        .filter(|(_, (w, c))| w != c)
        .take(3)
        .map(|(n, (w, c))| format!("row {n}:\n  whole {w}\n  cut   {c}"))
        .collect();
    assert!(differ.is_empty(), "{what}: rows differ:\n{}", differ.join("\n"));
    assert_eq!(c.len(), w.len(), "{what}: rows");
    assert!(whole == cut, "{what}");
    w.len() - 1
}

fn rows_of(bytes: &[u8]) -> Vec<std::borrow::Cow<'_, str>> {
    bytes.split(|&b| b == b'\n').map(String::from_utf8_lossy).collect()
}

fn paths(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| dir.join(n)).collect()
}

#[test]
fn ndjson_of_segments_is_the_whole_runs_with_one_and_two_threads() {
    let dir = logs("3M", "41");
    let inputs = paths(dir.path(), &["access.log", "error.log"]);
    for threads in [1, 2] {
        let (whole, cut, segments) = exports(&inputs, &Filter::default(), threads);
        assert!(segments >= 8, "-j{threads}: {segments} segments");
        let rows = assert_same_rows(&whole, &cut, &format!("-j{threads}"));
        assert!(rows > 2000, "-j{threads}: {rows} rows");
    }
}

#[test]
fn ndjson_of_segments_keeps_the_order_of_lines_a_few_seconds_apart() {
    // About 35 requests a second: 200 places is up to six seconds, across every cut.
    let dir = logs("3M", "43");
    let path = dir.path().join("access.log");
    let mut lines = lines_of(&path);
    shuffle_near(&mut lines, 200, 0x9e37_79b9_7f4a_7c15);
    write_lines(&path, &lines);
    let (whole, cut, segments) =
        exports(&paths(dir.path(), &["access.log", "error.log"]), &Filter::default(), 2);
    assert!(segments >= 8, "{segments} segments");
    assert_same_rows(&whole, &cut, "shuffled access");
}

#[test]
fn ndjson_of_segments_of_rotated_compressed_and_filtered_logs_is_the_whole_runs() {
    let dir = logs("3M", "47");
    rotate_half(dir.path());
    gzip(dir.path(), "access.log.1");
    let inputs = paths(dir.path(), &["access.log.1.gz", "access.log", "error.log"]);
    let (whole, cut, segments) = exports(&inputs, &Filter::default(), 2);
    assert!(segments >= 8, "{segments} segments");
    assert_same_rows(&whole, &cut, "rotated");
    let filter = Filter::new(&FilterArgs { status: vec![504], ..FilterArgs::default() }).unwrap();
    let (whole, cut, segments) = exports(&inputs, &filter, 1);
    assert!(segments >= 8, "{segments} segments");
    let rows = assert_same_rows(&whole, &cut, "504s");
    assert!(rows > 300, "{rows} rows");
}

/// `ngx502 export` on `dir`'s logs with `extra` arguments, written to a file.
fn cli_export(dir: &Path, threads: &str, extra: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("export-{threads}-{}.ndjson", extra.len()));
    let run = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["export", "--quiet", "--label", "host=web1", "-j", threads, "-o"])
        .arg(&out)
        .args(extra)
        .arg(dir.join("access.log"))
        .arg(dir.join("error.log"))
        .output()
        .expect("running ngx502");
    assert!(run.status.success(), "ngx502 export failed: {}", String::from_utf8_lossy(&run.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn export_of_a_large_run_writes_the_file_a_whole_run_writes() {
    // Over twice the smallest segment (8 MB), so the run is cut; a `--state` run reads it whole.
    let dir = logs("14M", "53");
    let total: u64 = ["access.log", "error.log"]
        .iter()
        .map(|n| std::fs::metadata(dir.path().join(n)).unwrap().len())
        .sum();
    assert!(total > 16 << 20, "{total} bytes are read whole");
    let state = dir.path().join("export.state");
    let whole = cli_export(dir.path(), "2", &["--state", state.to_str().unwrap()]);
    for threads in ["1", "2"] {
        let cut = cli_export(dir.path(), threads, &[]);
        let rows = assert_same_rows(&whole, &cut, &format!("-j{threads}"));
        assert!(rows > 10_000, "-j{threads}: {rows} rows");
    }
}

/// Every file under `dir`, by its path inside it, with its bytes.
#[cfg(feature = "parquet")]
fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(at) = dirs.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

#[cfg(feature = "parquet")]
#[test]
fn tables_of_segments_are_the_whole_runs_in_every_layout_with_one_and_two_threads() {
    use ngx502::export::{ExportFormat, Exporter, Partition};

    let dir = logs("3M", "59");
    // Two minutes east of UTC, the logs' four minutes from local midnight span two UTC days.
    let access = dir.path().join("access.log");
    let text = std::fs::read_to_string(&access).unwrap().replace(" +0200]", " +0002]");
    std::fs::write(&access, text).unwrap();
    let (specs, _) = expand(&paths(dir.path(), &["access.log", "error.log"]), None);
    let layouts = [vec![], vec![Partition::Day, Partition::Label("host".into())]];
    for (format, threads, partition) in [
        (ExportFormat::Csv, 1, &layouts[0]),
        (ExportFormat::Parquet, 2, &layouts[0]),
        (ExportFormat::Csv, 2, &layouts[1]),
        (ExportFormat::Parquet, 1, &layouts[1]),
    ] {
        let what = format!("{format:?} -j{threads} {partition:?}");
        let out = tempfile::tempdir().unwrap();
        let (whole, cut) = (out.path().join("whole"), out.path().join("cut"));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let segments = pool.install(|| {
            let mut export = Exporter::new(format, Some(&whole), partition, &labels()).unwrap();
            export.add(&analyze(&specs, &options())).unwrap();
            export.finish().unwrap();
            let mut export = Exporter::new(format, Some(&cut), partition, &labels()).unwrap();
            let mut segments = 0;
            analyze_in_segments(&specs, &options(), SMALL, |analysis| {
                segments += 1;
                export.add(&analysis).unwrap();
                ControlFlow::Continue(())
            });
            export.finish().unwrap();
            segments
        });
        assert!(segments >= 8, "{what}: {segments} segments");
        let (whole, cut) = (files(&whole), files(&cut));
        let names: Vec<_> = whole.keys().collect();
        assert_eq!(cut.keys().collect::<Vec<_>>(), names, "{what}: files");
        // Both tables, split into two days when partitioned.
        assert_eq!(names.len(), if partition.is_empty() { 2 } else { 4 }, "{what}: {names:?}");
        for (name, bytes) in &whole {
            if format == ExportFormat::Csv {
                assert_same_rows(bytes, &cut[name], &format!("{what}: {}", name.display()));
            }
            assert!(cut[name] == *bytes, "{what}: {} differs", name.display());
        }
    }
}
