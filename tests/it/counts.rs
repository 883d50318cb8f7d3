//! Counts that come from input (JSON reports to merge) never wrap: they saturate, and `merge`
//! caps the fleet's upstream rows as one report caps its own.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::accounting::check_report;

fn ngx502(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report);
    report
}

/// A report of `upstreams` upstreams named from `first` on, each failing twice with a 502.
fn report_of_upstreams(dir: &Path, name: &str, first: usize, upstreams: usize) -> String {
    let mut access = String::new();
    for u in first..first + upstreams {
        for n in 0..2 {
            access.push_str(&format!(
                "10.1.1.1 - - [25/Nov/2026:21:33:{n:02} +0000] \"GET /u/{u} HTTP/1.1\" 502 0 \"-\" \"t\" host=\"a\" cid={u}{n} rt=0.005 ua=\"10.0.{}.{}:80\" us=\"502\" urt=\"0.005\" uct=\"-\" uht=\"-\"\n",
                u / 250,
                u % 250
            ));
        }
    }
    let log = dir.join(format!("{name}.log"));
    std::fs::write(&log, access).unwrap();
    let report = ngx502(&["report", "--output", "json", "-q", "--access", log.to_str().unwrap()]);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn merge_caps_upstream_rows_like_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    // 80 + 80 upstreams, 30 of them shared: 130 in the fleet, over the cap of 100.
    let a = report_of_upstreams(tmp.path(), "a", 0, 80);
    let b = report_of_upstreams(tmp.path(), "b", 50, 80);
    let merged = ngx502(&["merge", "--output", "json", &a, &b]);
    let rows = merged["upstreams"].as_array().unwrap();
    assert_eq!(rows.len(), 101, "100 rows and the row of the others");
    let other = rows.last().unwrap();
    assert_eq!(other["upstream"], ngx502::report::schema::OTHER_UPSTREAMS);
    let failures = |r: &Value| r["client_502"].as_u64().unwrap();
    assert_eq!(rows.iter().map(failures).sum::<u64>(), 320, "no failure lost in the fold");
    assert_eq!(failures(other), 30 * 2);
    assert!(merged["advice"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "upstreams_folded" && a["upstreams"] == 130 && a["listed"] == 100));

    // A merged report merged again folds its row of others into the new one.
    let path = tmp.path().join("merged.json");
    std::fs::write(&path, serde_json::to_vec(&merged).unwrap()).unwrap();
    let c = report_of_upstreams(tmp.path(), "c", 500, 5);
    let again = ngx502(&["merge", "--output", "json", path.to_str().unwrap(), &c]);
    let rows = again["upstreams"].as_array().unwrap();
    assert_eq!(rows.len(), 101);
    assert_eq!(rows.iter().filter(|r| r["upstream"] == ngx502::report::schema::OTHER_UPSTREAMS).count(), 1);
    assert_eq!(rows.iter().map(failures).sum::<u64>(), 330);
}

#[test]
fn merged_latency_samples_saturate_instead_of_wrapping() {
    let tmp = tempfile::tempdir().unwrap();
    let a = report_of_upstreams(tmp.path(), "a", 0, 1);
    let mut report: Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    report["upstreams"][0]["latency_sketch"]["buckets"] =
        serde_json::json!([[3, u64::MAX - 5], [9, 1u64 << 62]]);
    std::fs::write(&a, serde_json::to_vec(&report).unwrap()).unwrap();
    let merged = ngx502(&["merge", "--output", "json", &a, &a]);
    let samples = &merged["upstreams"][0]["latency"]["samples"];
    assert_eq!(samples, &serde_json::json!(u64::MAX), "{:#}", merged["upstreams"][0]);
}

#[test]
fn top_sets_the_length_of_every_list() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let (access, error) = (samples.join("access.log"), samples.join("error.log"));
    let (access, error) = (access.to_str().unwrap(), error.to_str().unwrap());
    for top in [1usize, 7, 12] {
        let n = top.to_string();
        // Raw paths: templates would fold /refused/1 … /refused/12 into one row.
        let report = ngx502(&["report", "--output", "json", "-q", "--raw-paths", "--top", &n, access, error]);
        let refused =
            report["causes"].as_array().unwrap().iter().find(|c| c["cause"] == "connect_refused").unwrap();
        assert_eq!(refused["count"], 12);
        assert_eq!(refused["evidence"].as_array().unwrap().len(), top, "--top {top}: {refused:#}");
        // Paths are grouped into templates (/refused/{n}): at most --top of them.
        assert!(refused["top_paths"].as_array().unwrap().len() <= top, "--top {top}");
        assert!(report["top_paths"].as_array().unwrap().len() <= top);
    }
}
