//! genlogs (examples/genlogs.rs) writes nginx logs whose answers are known exactly (truth.json);
//! `ngx502 report --output json` must find exactly those answers, in both access-log formats.
//!
//! The example cannot be imported, so it is built with the same cargo and profile as this test and
//! run as a program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::accounting::check_report;

/// Small enough for a debug build to generate in about a second, large enough that every outage
/// burst holds a few dozen requests.
const SIZE: &str = "3M";
const SEED: &str = "7";

/// Builds examples/genlogs once (a no-op when `cargo test` already did) and returns its path.
fn genlogs() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // This test runs from <target-dir>/<profile>/deps/; the example lands in <profile>/examples/.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("test binary is in <profile>/deps").to_path_buf();
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--example", "genlogs", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.arg("--target-dir").arg(target_dir);
        }
        let status = cmd.status().expect("running cargo build --example genlogs");
        assert!(status.success(), "cargo build --example genlogs failed");
        let bin = profile_dir.join("examples").join(format!("genlogs{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "built genlogs but {} is missing", bin.display());
        bin
    })
}

pub(crate) fn generate(dir: &Path, format: &str, size: &str, seed: &str, extra: &[&str]) -> Value {
    let out = Command::new(genlogs())
        .args(["--size", size, "--seed", seed, "--format", format, "--quiet", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("running genlogs");
    assert!(out.status.success(), "genlogs failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("truth.json")).expect("truth.json"))
        .expect("truth.json is JSON")
}

fn report(dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "--output", "json"])
        .arg(dir.join("access.log"))
        .arg(dir.join("error.log"))
        .output()
        .expect("running ngx502");
    assert!(
        out.status.success(),
        "ngx502 report failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ngx502 printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(2000)])
        )
    });
    check_report(&report);
    report
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// `{"502": 3, ...}` → map, dropping zeros (a report may list empty rows).
fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), u(v))).filter(|&(_, n)| n > 0).collect())
        .unwrap_or_default()
}

/// `[{"cause": slug, "count": n, "statuses": {...}}]` → slug → (count, statuses), dropping zero rows.
fn cause_rows(v: &Value) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            (row["cause"].as_str().unwrap_or("?").to_string(), (u(&row["count"]), counts(&row["statuses"])))
        })
        .filter(|(_, (n, _))| *n > 0)
        .collect()
}

/// upstream → (failed_attempts, hidden_failures), keeping only rows with a failure.
fn upstream_rows(v: &Value) -> BTreeMap<String, (u64, u64)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let name = row["upstream"].as_str().unwrap_or("?").to_string();
            (name, (u(&row["failed_attempts"]), u(&row["hidden_failures"])))
        })
        .filter(|(_, (f, h))| *f > 0 || *h > 0)
        .collect()
}

/// Collects every difference so one run shows them all.
#[derive(Default)]
struct Diff(Vec<String>);

impl Diff {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, expected: T) {
        if got != expected {
            self.0.push(format!("{what}:\n    expected {expected:?}\n    got      {got:?}"));
        }
    }
}

fn check_format(format: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = generate(dir.path(), format, SIZE, SEED, extra);
    let report = report(dir.path());
    let mut d = Diff::default();

    d.eq("schema", report["schema"].as_str(), Some("ngx502/1"));
    let t = &report["totals"];
    d.eq("totals.requests", u(&t["requests"]), u(&truth["totals"]["requests"]));
    d.eq("totals.by_status", counts(&t["by_status"]), counts(&truth["totals"]["by_status"]));
    d.eq("totals.malformed_lines", u(&t["malformed_lines"]), 0);

    // Per client response: count and statuses per cause slug.
    d.eq("causes", cause_rows(&report["causes"]), cause_rows(&truth["causes"]));

    // Per upstream: failed attempts and hidden failures (retries that recovered).
    d.eq(
        "upstreams (failed_attempts, hidden_failures)",
        upstream_rows(&report["upstreams"]),
        upstream_rows(&truth["upstreams"]),
    );

    // Every line is accounted for, and nothing genlogs writes is malformed.
    let inputs = report["inputs"].as_array().cloned().unwrap_or_default();
    let input = |kind: &str| {
        inputs.iter().find(|i| i["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(kind))).cloned()
    };
    match input("access") {
        Some(i) => {
            d.eq("inputs[access].lines", u(&i["lines"]), u(&truth["access_log"]["lines"]));
            d.eq("inputs[access].malformed", u(&i["malformed"]), 0);
        }
        None => d.0.push(format!("inputs: no access input in {inputs:?}")),
    }
    match input("error") {
        Some(i) => {
            d.eq("inputs[error].lines", u(&i["lines"]), u(&truth["error_log"]["physical_lines"]));
            d.eq("inputs[error].malformed", u(&i["malformed"]), 0);
        }
        None => d.0.push(format!("inputs: no error input in {inputs:?}")),
    }

    if !d.0.is_empty() {
        // Keep the logs for a look: copy them next to the target dir.
        let keep = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("generator_truth-{format}{}", extra.concat().replace(['-', '.'], "")));
        let _ = std::fs::create_dir_all(&keep);
        for f in ["access.log", "error.log", "truth.json"] {
            let _ = std::fs::copy(dir.path().join(f), keep.join(f));
        }
        let _ = std::fs::write(
            keep.join("report.json"),
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        );
        panic!(
            "ngx502 disagrees with genlogs' truth ({format} format, --size {SIZE} --seed {SEED} {}); logs, truth and \
             report kept in {}:\n  {}",
            extra.join(" "),
            keep.display(),
            d.0.join("\n  ")
        );
    }
}

#[test]
fn report_matches_truth_combined_format() {
    check_format("combined", &[]);
}

#[test]
fn report_matches_truth_upstream_format() {
    check_format("upstream", &[]);
}

#[test]
fn report_matches_truth_json_format() {
    check_format("json", &[]);
}

/// An incident day: a third of the requests fail and the error log is as busy as the access log.
#[test]
fn report_matches_truth_at_a_high_failure_rate() {
    check_format("upstream", &["--failure-rate", "0.3", "--error-heavy"]);
    check_format("json", &["--failure-rate", "30%", "--error-heavy"]);
}

/// The generator itself: deterministic, internally consistent, and covering the causes it promises.
#[test]
fn genlogs_is_deterministic_and_covers_every_cause() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let ta = generate(a.path(), "upstream", "1M", "3", &[]);
    let tb = generate(b.path(), "upstream", "1M", "3", &[]);
    for f in ["access.log", "error.log"] {
        let (x, y) = (std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap());
        assert!(x == y, "{f} differs between two runs with the same seed");
    }
    assert_eq!(ta["totals"], tb["totals"]);

    for format in ["upstream", "combined"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let truth = generate(dir.path(), format, SIZE, SEED, &[]);
        let access = std::fs::read(dir.path().join("access.log")).unwrap();
        let error = std::fs::read(dir.path().join("error.log")).unwrap();
        let requests = u(&truth["totals"]["requests"]);
        assert_eq!(access.iter().filter(|&&c| c == b'\n').count() as u64, requests, "{format}: access lines");
        assert_eq!(
            error.iter().filter(|&&c| c == b'\n').count() as u64,
            u(&truth["error_log"]["physical_lines"]),
            "{format}: error lines"
        );
        assert_eq!(counts(&truth["totals"]["by_status"]).values().sum::<u64>(), requests);
        let causes = cause_rows(&truth["causes"]);
        let failures: u64 = causes.values().map(|(n, _)| n).sum();
        let s = counts(&truth["totals"]["by_status"]);
        assert_eq!(failures, s.get("502").copied().unwrap_or(0) + s.get("504").copied().unwrap_or(0));
        let share = failures as f64 / requests as f64;
        assert!((0.003..0.03).contains(&share), "{format}: 502/504 share {share}");
        let mut expected = vec![
            "connect_refused",
            "read_timeout",
            "no_live_upstreams",
            "unix_socket_missing",
            "too_big_header",
            "premature_close",
            "reset_by_peer",
        ];
        expected.push(if format == "upstream" { "upstream_returned_502" } else { "unattributed" });
        for slug in expected {
            assert!(causes.contains_key(slug), "{format}: no {slug} in {causes:?}");
        }
        let hidden: u64 = upstream_rows(&truth["upstreams"]).values().map(|(_, h)| h).sum();
        assert!(hidden > 0, "{format}: no hidden failures");
        // Error lines: same local time as the access log, no zone; FastCGI continuation lines present.
        let text = String::from_utf8_lossy(&error);
        assert!(text.starts_with("2024/05/14 "), "{format}: error log starts {:?}", &text[..40]);
        assert!(text.lines().any(|l| l.starts_with("PHP message: ")), "{format}: no continuation lines");
        assert!(
            text.contains("[crit]")
                && text.contains("failed (2: No such file or directory) while connecting")
        );
    }
}
