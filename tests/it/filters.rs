//! `--path`, `--host`, `--upstream`, `--status` on `report`, `export` and `live`, over the logs a
//! real nginx wrote in `sample-logs/` (264 requests, 156 client-facing failures, 439 lines): exact
//! counts of what passed, and every line read still parsed, malformed or filtered.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::accounting::checked;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-logs");

fn ngx502(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().expect("running ngx502")
}

fn report_json(extra: &[&str]) -> Value {
    let mut args = vec!["report", SAMPLE, "-q", "--output", "json"];
    args.extend_from_slice(extra);
    let out = ngx502(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    checked(&out.stdout)
}

/// `(cause, count)` of a report's causes, in its order.
fn causes(report: &Value) -> Vec<(String, u64)> {
    report["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| (c["cause"].as_str().unwrap().to_owned(), c["count"].as_u64().unwrap()))
        .collect()
}

/// Every line read is parsed, malformed or filtered, in the totals and in each input.
fn assert_accounted(report: &Value) {
    let t = &report["totals"];
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}"));
    assert_eq!(n(t, "lines_read"), 439);
    assert_eq!(n(t, "lines_read"), n(t, "parsed") + n(t, "malformed_lines") + n(t, "filtered"));
    for input in report["inputs"].as_array().unwrap() {
        assert_eq!(n(input, "lines"), n(input, "parsed") + n(input, "malformed") + n(input, "filtered"));
    }
}

#[test]
fn unfiltered_baseline() {
    let r = report_json(&[]);
    assert_eq!(r["totals"]["requests"], 264);
    assert_eq!(r["totals"]["failures"], 156);
    assert_eq!(r["totals"]["filtered"], 12);
    assert!(r.get("filters").is_none());
    assert_accounted(&r);
}

#[test]
fn path_keeps_the_failures_on_matching_paths_and_all_other_requests() {
    let r = report_json(&["--path", "^/refused/"]);
    // 138 failures on other paths left out; the 108 requests that did not fail all stay.
    assert_eq!(r["totals"]["requests"], 126);
    assert_eq!(r["totals"]["failures"], 18);
    assert_eq!(r["totals"]["by_status"], serde_json::json!({"200": 96, "404": 12, "502": 18}));
    // connect_refused has 19 without the filter: the 19th was on /nolive/1.
    assert_eq!(causes(&r), [("connect_refused".to_owned(), 18)]);
    assert_eq!(r["totals"]["parsed"], 144);
    assert_eq!(r["totals"]["filtered"], 295);
    assert_eq!(r["filters"], serde_json::json!(["path ~ ^/refused/"]));
    assert_accounted(&r);
}

#[test]
fn upstream_and_status_combine() {
    let r = report_json(&["--upstream", r"^127\.0\.0\.1:", "--status", "504"]);
    assert_eq!(r["totals"]["failures"], 18);
    assert_eq!(causes(&r), [("read_timeout".to_owned(), 18)]);
    assert_eq!(r["filters"], serde_json::json!([r"upstream ~ ^127\.0\.0\.1:", "status in 504"]));
    assert_accounted(&r);

    let r = report_json(&["--status", "009,504"]);
    assert_eq!(r["totals"]["failures"], 30);
    assert_eq!(causes(&r), [("read_timeout".to_owned(), 18), ("no_valid_http_header".to_owned(), 12)]);
    assert_accounted(&r);

    // An upstream block's name, as the error line writes it (the access line names no peer).
    let r = report_json(&["--upstream", "^pool_nolive$"]);
    assert_eq!(causes(&r), [("no_live_upstreams".to_owned(), 17)]);
    assert_accounted(&r);
}

#[test]
fn host_matches_the_host_or_server_name() {
    assert_eq!(report_json(&["--host", r"^shop\.example\.test$"])["totals"]["failures"], 156);
    let none = report_json(&["--host", "^web9$"]);
    assert_eq!(none["totals"]["failures"], 0);
    assert_eq!(none["totals"]["requests"], 108);
    assert_accounted(&none);
}

#[test]
fn error_log_alone_is_filtered_by_its_lines() {
    let error_log = format!("{SAMPLE}/error.log");
    let out = ngx502(&["report", &error_log, "-q", "--output", "json", "--upstream", r"^127\.0\.0\.2:"]);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(causes(&r), [("connect_refused".to_owned(), 43)]);
    assert_eq!(r["unmatched_error_lines"], 43);
    assert_eq!(r["totals"]["lines_read"], 175);
    assert_eq!(r["totals"]["parsed"], 44);
    assert_eq!(r["totals"]["filtered"], 131);
}

#[test]
fn text_header_says_which_filters_applied() {
    let out = ngx502(&["report", SAMPLE, "-q", "--path", "^/refused/", "--status", "502"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let head: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        head,
        [
            "126 requests from 2026-11-25T21:33:24+05:30 to 2026-11-25T21:33:26+05:30: 18 failed with 5xx (14.3%).",
            "  502: 18",
            "  Filters: only failures with path ~ ^/refused/, status in 502; the lines of other failures are counted as filtered.",
        ]
    );
}

#[test]
fn export_writes_only_the_failures_that_pass() {
    let out = ngx502(&["export", SAMPLE, "-q", "--path", "^/refused/"]);
    assert!(out.status.success());
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("row")).collect();
    assert_eq!(rows.len(), 18);
    assert!(rows.iter().all(|r| r["path"].as_str().unwrap().starts_with("/refused/") && r["status"] == 502));
}

#[test]
fn live_shows_only_the_failures_that_pass() {
    let (access, error) = (format!("{SAMPLE}/access.log"), format!("{SAMPLE}/error.log"));
    let out = ngx502(&[
        "live",
        &access,
        &error,
        "--from-start",
        "--duration",
        "1",
        "--join-wait",
        "0.2",
        "--output",
        "ndjson",
        "--path",
        "^/timeout/",
        "-q",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let (summary, events) = lines.split_last().expect("a summary");
    // access.log holds 12 of the 18 timeouts (the others are in the rotated .gz, not followed).
    assert_eq!(events.len(), 12);
    assert!(events
        .iter()
        .all(|e| e["cause"] == "read_timeout" && e["path"].as_str().unwrap().starts_with("/timeout/")));
    let summary = &summary["summary"];
    assert_eq!(summary["events"], 12);
    assert_eq!(summary["requests"], 84);
    for input in summary["inputs"].as_array().unwrap() {
        let n = |k: &str| input[k].as_u64().unwrap();
        assert_eq!(n("lines"), n("parsed") + n("malformed") + n("filtered"));
    }
    assert_eq!(summary["inputs"][0]["filtered"], 92);
}

#[test]
fn a_bad_regex_is_a_usage_error() {
    let out = ngx502(&["report", SAMPLE, "--path", "("]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("ngx502: --path \"(\" is not a regular expression")
    );
}
