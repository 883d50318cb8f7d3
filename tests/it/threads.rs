//! The report does not depend on the number of threads: `-j1` and `-j4` (and, for an error log
//! alone, `-j2`) print the same bytes on every data shape of the benchmark matrix, with access
//! and error logs large enough to be read in several chunks each (chunks are at least 1 MiB).

use std::path::Path;
use std::process::Command;

use crate::generator_truth::generate;

fn report(dir: &Path, threads: &str, output: &str, error_only: bool) -> Vec<u8> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ngx502"));
    cmd.args(["report", "-j", threads, "--output", output]);
    if !error_only {
        cmd.arg(dir.join("access.log"));
    }
    let out = cmd.arg(dir.join("error.log")).output().expect("running ngx502");
    assert!(out.status.success(), "ngx502 -j{threads} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn same_with_any_thread_count(format: &str, rate: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), format, "7M", "11", &["--failure-rate", rate, "--error-heavy"]);
    let error_log = std::fs::metadata(dir.path().join("error.log")).expect("error.log").len();
    assert!(error_log > 2 << 20, "{format} at {rate}: error.log of {error_log} bytes is read in one chunk");
    for output in ["json", "text"] {
        for error_only in [false, true] {
            let one = report(dir.path(), "1", output, error_only);
            let four = report(dir.path(), "4", output, error_only);
            if output == "json" {
                crate::support::accounting::checked(&one);
            }
            assert!(
                one == four,
                "{format} at {rate}, --output {output}{}: -j1 and -j4 differ",
                if error_only { ", error log alone" } else { "" }
            );
            // Two threads, the machine the error-log speed is measured on: chunks of an error
            // log alone are read on both and their records joined in input order.
            if error_only {
                let two = report(dir.path(), "2", output, error_only);
                assert!(
                    one == two,
                    "{format} at {rate}, --output {output}, error log alone: -j1 and -j2 differ"
                );
            }
        }
    }
}

#[test]
fn combined_format() {
    same_with_any_thread_count("combined", "0.3");
}

#[test]
fn upstream_format() {
    same_with_any_thread_count("upstream", "0.3");
}

#[test]
fn json_format() {
    same_with_any_thread_count("json", "0.3");
}
