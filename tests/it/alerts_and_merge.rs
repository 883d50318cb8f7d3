//! `report --fail-on` and `merge`, run as the binary on small logs whose answers are known.
//!
//! The logs: 200 requests over 3m20s to two upstreams in the `upstream` format; every 17th is a
//! 502 (connection refused, 12 in all), every 23rd of the rest a 504 (read timeout, 8), and every
//! 29th from the 5th on fails on one upstream and recovers on the other (a hidden failure).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::accounting::checked;

const UPSTREAMS: [&str; 2] = ["10.0.1.11:8080", "10.0.1.12:8080"];

/// Access and error lines of request `i`.
fn request(i: usize) -> (String, Vec<String>) {
    let (m, s) = (i / 60, i % 60);
    let cid = 1000 + i;
    let upstream = UPSTREAMS[i % 2];
    let error = |message: &str, peer: &str| {
        format!(
            "2024/10/10 13:{m:02}:{s:02} [error] 12#12: *{cid} {message} upstream, client: 1.2.3.4, \
             server: x, request: \"GET /api/{i} HTTP/1.1\", upstream: \"http://{peer}/api/{i}\", host: \"x\""
        )
    };
    let refused = "connect() failed (111: Connection refused) while connecting to";
    let timeout = "upstream timed out (110: Connection timed out) while reading response header from";
    let (status, addr, statuses, time, errors) = if i.is_multiple_of(17) {
        (502, upstream.to_string(), "502".to_string(), "0.001", vec![error(refused, upstream)])
    } else if i.is_multiple_of(23) {
        (504, upstream.to_string(), "504".to_string(), "60.001", vec![error(timeout, upstream)])
    } else if i % 29 == 5 {
        let addr = format!("{}, {}", UPSTREAMS[0], UPSTREAMS[1]);
        (200, addr, "502, 200".to_string(), "0.120", vec![error(refused, UPSTREAMS[0])])
    } else {
        (200, upstream.to_string(), "200".to_string(), ["0.010", "0.045", "0.300"][i % 3], Vec::new())
    };
    let access = format!(
        "1.2.3.4 - - [10/Oct/2024:13:{m:02}:{s:02} +0000] \"GET /api/{i} HTTP/1.1\" {status} 12 \"-\" \"curl\" \
         host=\"x\" cid={cid} rt={time} ua=\"{addr}\" us=\"{statuses}\" urt=\"{time}\" uct=\"0.000\" uht=\"{time}\""
    );
    (access, errors)
}

/// Writes requests `range` as `dir/access.log` and `dir/error.log`, plus one malformed line.
fn write_logs(dir: &Path, range: std::ops::Range<usize>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let (mut access, mut errors) = (String::new(), String::new());
    for i in range {
        let (a, e) = request(i);
        access.push_str(&a);
        access.push('\n');
        for line in e {
            errors.push_str(&line);
            errors.push('\n');
        }
    }
    access.push_str("this line is not an access log line\n");
    std::fs::write(dir.join("access.log"), access).unwrap();
    std::fs::write(dir.join("error.log"), errors).unwrap();
    dir.to_path_buf()
}

fn ngx502(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().expect("running ngx502")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn whole_log() -> (TempDir, String) {
    let tmp = TempDir::new().unwrap();
    let dir = write_logs(&tmp.path().join("all"), 0..200);
    let dir = dir.to_str().unwrap().to_string();
    (tmp, dir)
}

/// The report of `dir` as JSON, written with `-o` to `out`.
fn report_json(dir: &str, out: &Path) -> Value {
    let run = ngx502(&["report", "-q", "--output", "json", "-o", out.to_str().unwrap(), dir]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    checked(&std::fs::read(out).unwrap())
}

#[test]
fn fail_on_exits_3_and_names_each_breached_rule_after_writing_the_report() {
    let (_tmp, dir) = whole_log();
    let out = ngx502(&[
        "report",
        "-q",
        "--output",
        "json",
        "--fail-on",
        "rate_502>5%",
        "--fail-on",
        "count(read_timeout) > 7",
        "--fail-on",
        "rate_504>4%",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "ngx502: alert: rate_502 = 6% > 5% (--fail-on 'rate_502>5%')\n\
         ngx502: alert: count(read_timeout) = 8 > 7 (--fail-on 'count(read_timeout) > 7')\n"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is still written");
    assert_eq!(report["totals"]["by_status"]["502"], 12);
}

#[test]
fn fail_on_exits_0_when_no_rule_is_breached() {
    let (_tmp, dir) = whole_log();
    let out = ngx502(&[
        "report",
        "-q",
        "--fail-on",
        "rate_502>6%",
        "--fail-on",
        "count(read_timeout)>=9",
        "--fail-on",
        r#"hidden_failures{upstream="10.0.1.11:8080"}>7"#,
        "--fail-on",
        "malformed_lines>1",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("connect_refused"));
}

#[test]
fn per_upstream_rules_read_that_upstream() {
    let (_tmp, dir) = whole_log();
    // 10.0.1.11 gets 104 attempts (99 even requests that are not retries, and the 5 retries'
    // first attempts); 6 of its requests end in 502 and 4 in 504: 10 / 104.
    let out = ngx502(&["report", "-q", "--fail-on", r#"rate_5xx{upstream="10.0.1.11:8080"}>9%"#, &dir]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "ngx502: alert: rate_5xx{upstream=\"10.0.1.11:8080\"} = 9.615% > 9% \
         (--fail-on 'rate_5xx{upstream=\"10.0.1.11:8080\"}>9%')\n"
    );
}

#[test]
fn a_bad_rule_is_a_usage_error_before_any_log_is_read() {
    let out = ngx502(&["report", "--fail-on", "rate_502>1", "/nonexistent/logs"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "rate_502 is a share: write the threshold as a percentage, e.g. rate_502>1% in 'rate_502>1'"
        ),
        "{err}"
    );
    assert!(!err.contains("nonexistent"), "no log should be read: {err}");
    assert!(out.stdout.is_empty());

    let out = ngx502(&["report", "--fail-on", "count(read_timeot)>1", "/nonexistent/logs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("count(read_timeot) names neither a cause slug"), "{}", stderr(&out));
}

/// The fields that must add up exactly, from a report or a merged report.
fn counts(report: &Value) -> Value {
    let t = &report["totals"];
    let causes: Vec<Value> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["cause"], c["count"], c["statuses"], c["share"]]))
        .collect();
    let upstreams: Vec<Value> = report["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            json!([
                u["upstream"],
                u["requests"],
                u["errors_by_cause"],
                u["client_502"],
                u["client_504"],
                u["failed_attempts"],
                u["hidden_failures"],
                u["rate_502"],
                u["rate_5xx"],
                u["latency"],
                u["first_failure"],
                u["last_failure"],
                u["failures_over_time"]
            ])
        })
        .collect();
    json!({
        "totals": [t["requests"], t["by_status"], t["failures"], t["lines_read"], t["parsed"], t["malformed_lines"]],
        "causes": causes,
        "upstreams": upstreams,
        "timeline": report["timeline"],
        "period": report["period"],
    })
}

#[test]
fn merging_the_reports_of_two_halves_gives_the_report_of_the_whole() {
    let tmp = TempDir::new().unwrap();
    let all = write_logs(&tmp.path().join("all"), 0..200);
    let first = write_logs(&tmp.path().join("first"), 0..100);
    let second = write_logs(&tmp.path().join("second"), 100..200);
    let whole = report_json(all.to_str().unwrap(), &tmp.path().join("all.json"));
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("b.json");
    report_json(first.to_str().unwrap(), &a);
    report_json(second.to_str().unwrap(), &b);

    let out = ngx502(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["schema"], "ngx502/1");
    // Each half has its own malformed line: the whole log has one, the halves two.
    assert_eq!(merged["totals"]["malformed_lines"], 2);
    let mut expected = counts(&whole);
    expected["totals"][3] = json!(whole["totals"]["lines_read"].as_u64().unwrap() + 1);
    expected["totals"][5] = json!(2);
    assert_eq!(counts(&merged), expected);
    assert_eq!(merged["inputs"].as_array().unwrap().len(), 4);
    assert!(merged["upstreams"][0]["latency"]["p99"].as_f64().unwrap() > 59.0);

    // The merged report merges again, and renders as text.
    let again = tmp.path().join("merged.json");
    std::fs::write(&again, &out.stdout).unwrap();
    let out = ngx502(&["merge", "--output", "text", again.to_str().unwrap(), "--fail-on", "rate_502>5.9%"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out), "ngx502: alert: rate_502 = 6% > 5.9% (--fail-on 'rate_502>5.9%')\n");
    assert!(String::from_utf8_lossy(&out.stdout).contains("connect_refused"));
}

#[test]
fn merged_findings_and_advice_are_those_of_the_whole() {
    let tmp = TempDir::new().unwrap();
    let whole = report_json(
        write_logs(&tmp.path().join("all"), 0..200).to_str().unwrap(),
        &tmp.path().join("all.json"),
    );
    let (a, b) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    report_json(write_logs(&tmp.path().join("first"), 0..100).to_str().unwrap(), &a);
    report_json(write_logs(&tmp.path().join("second"), 100..200).to_str().unwrap(), &b);
    let out = ngx502(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = |r: &Value| -> Vec<Value> {
        r["causes"].as_array().unwrap().iter().map(|c| json!([c["cause"], c["findings"]])).collect()
    };
    assert_eq!(findings(&merged), findings(&whole));
    assert_eq!(
        whole["causes"][1]["findings"][2],
        json!({"kind": "gave_up_after", "median_seconds": 60.001, "samples": 8,
            "endpoints": [["/api/{id}", 8]]})
    );
    assert_eq!(merged["advice"], whole["advice"]);
}

#[test]
fn a_json_report_reads_back_as_itself() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("all.json");
    let written = report_json(write_logs(&tmp.path().join("all"), 0..200).to_str().unwrap(), &path);
    let read = ngx502::merge::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let again = ngx502::report::render(&read, ngx502::report::OutputFormat::Json).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), written);
}

#[test]
fn merge_refuses_other_schemas_and_non_reports() {
    let tmp = TempDir::new().unwrap();
    let other = tmp.path().join("other.json");
    std::fs::write(&other, r#"{"schema": "ngx502/2", "totals": {}}"#).unwrap();
    let out = ngx502(&["merge", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "ngx502: {}: schema \"ngx502/2\" is not \"ngx502/1\": merge reports written by the same version of ngx502\n",
            other.display()
        )
    );

    std::fs::write(&other, "[1, 2]").unwrap();
    let out = ngx502(&["merge", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not an ngx502 JSON report (no \"schema\")"), "{}", stderr(&out));
}

#[test]
fn merge_of_hostile_counts_saturates_instead_of_overflowing() {
    let (tmp, dir) = whole_log();
    let path = tmp.path().join("huge.json");
    let mut report = report_json(&dir, &path);
    report["totals"]["requests"] = serde_json::json!(u64::MAX);
    report["causes"][0]["count"] = serde_json::json!(u64::MAX);
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let out = ngx502(&["merge", "--output", "json", path.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["totals"]["requests"], serde_json::json!(u64::MAX));
    assert_eq!(merged["causes"][0]["count"], serde_json::json!(u64::MAX));
}

#[test]
fn merge_keeps_the_nginx_conf_block_of_each_upstream() {
    let (tmp, dir) = whole_log();
    let path = tmp.path().join("with-block.json");
    let mut report = report_json(&dir, &path);
    let upstream = report["upstreams"][0]["upstream"].clone();
    report["upstreams"][0]["block"] = serde_json::json!("backend");
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let plain = tmp.path().join("plain.json");
    report_json(&dir, &plain);
    let out = ngx502(&["merge", "--output", "json", plain.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = merged["upstreams"].as_array().unwrap().iter().find(|u| u["upstream"] == upstream).unwrap();
    assert_eq!(row["block"], "backend");
}
