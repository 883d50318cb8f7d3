//! Inputs as users hand them over: rotations compressed with gzip or zstd, many threads or one,
//! paths that do not exist.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::accounting::checked;

fn ngx502(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).args(paths).output().unwrap()
}

fn json_report(args: &[&str], paths: &[&Path]) -> serde_json::Value {
    let out = ngx502(&[&["report", "--output", "json", "-q"], args].concat(), paths);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    checked(&out.stdout)
}

fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs").join(name)
}

#[test]
fn gzip_and_zstd_rotations_read_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(sample("access.log")).unwrap();
    let gz = dir.path().join("access.log.2.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let zst = dir.path().join("access.log.3.zst");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
    let error = sample("error.log");

    let want = json_report(&[], &[&sample("access.log"), &error]);
    for compressed in [&gz, &zst] {
        let got = json_report(&[], &[compressed, &error]);
        assert_eq!(got["totals"], want["totals"], "{}", compressed.display());
        assert_eq!(got["causes"], want["causes"], "{}", compressed.display());
        assert_eq!(got["inputs"][0]["format"], "upstream");
    }
}

#[test]
fn thread_count_and_chunking_do_not_change_the_report() {
    // ~9 MB: several chunks per thread, so -j1 and -j4 cut the file differently.
    let dir = tempfile::tempdir().unwrap();
    let lines = std::fs::read(sample("access.log")).unwrap();
    let access = dir.path().join("access.log");
    let mut file = std::fs::File::create(&access).unwrap();
    for _ in 0..200 {
        file.write_all(&lines).unwrap();
    }
    file.write_all(b"a malformed line at the very end\n").unwrap();
    drop(file);
    let error = sample("error.log");
    let one = ngx502(&["report", "--output", "json", "-q", "-j", "1"], &[&access, &error]);
    let four = ngx502(&["report", "--output", "json", "-q", "-j", "4"], &[&access, &error]);
    assert!(one.status.success() && four.status.success());
    assert_eq!(String::from_utf8_lossy(&one.stdout), String::from_utf8_lossy(&four.stdout));
    let report: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(report["totals"]["requests"], 176 * 200);
    assert_eq!(report["inputs"][0]["malformed_examples"][0]["line"], 176 * 200 + 1);
}

#[test]
fn paths_that_cannot_be_read_are_named_with_the_fix() {
    let out = ngx502(&["report"], &[Path::new("/nonexistent/ngx502-logs")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ngx502: nothing to read: /nonexistent/ngx502-logs: no such file or directory\n"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = ngx502(&["report"], &[empty.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ngx502: nothing to read: the directories hold no files\n"
    );

    // One bad path among good ones: a warning, and the rest is read.
    let out = ngx502(
        &["report", "--output", "json", "-q"],
        &[Path::new("/nonexistent/x.log"), &sample("error.log")],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ngx502: warning: /nonexistent/x.log: no such file or directory\n"
    );
}

#[test]
fn a_binary_file_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("core");
    std::fs::write(&binary, b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00").unwrap();
    let out = ngx502(&["report"], &[&binary]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("binary data (NUL bytes), not a text log"), "{stderr}");
    assert!(stderr.ends_with("ngx502: none of the inputs is an nginx access or error log; pass the right paths, or the format with --log-format\n"), "{stderr}");
}
