//! The join's hard cases, each pinned by what it must decide.

use std::process::Command;

use serde_json::Value;

use crate::support::accounting::checked;

struct Run {
    report: Value,
    rows: Vec<Value>,
}

fn run(access: &str, error: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), access).unwrap();
    std::fs::write(dir.path().join("error.log"), error).unwrap();
    let args = |cmd: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
            .args(cmd)
            .arg(dir.path())
            .args(extra)
            .arg("--quiet")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let report = checked(args(&["report", "--output", "json"]).as_bytes());
    let rows = args(&["export"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Run { report, rows }
}

fn causes(run: &Run) -> Vec<(String, String)> {
    run.rows
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), r["cause"].as_str().unwrap().to_string()))
        .collect()
}

fn combined(client: &str, time: &str, request: &str, status: u16) -> String {
    format!("{client} - - [{time}] \"{request}\" {status} 0 \"-\" \"curl/8\"\n")
}

fn upstream_line(
    client: &str,
    time: &str,
    request: &str,
    status: u16,
    cid: u64,
    rt: &str,
    (ua, us): (&str, &str),
) -> String {
    format!(
        "{client} - - [{time}] \"{request}\" {status} 0 \"-\" \"curl/8\" host=\"api\" cid={cid} rt={rt} ua=\"{ua}\" us=\"{us}\" urt=\"-\" uct=\"-\" uht=\"-\"\n"
    )
}

fn error_line(time: &str, cid: u64, message: &str, client: &str, request: &str, peer: &str) -> String {
    format!(
        "{time} [error] 100#100: *{cid} {message}, client: {client}, server: api, request: \"{request}\", upstream: \"http://{peer}/\", host: \"api\"\n"
    )
}

const REFUSED: &str = "connect() failed (111: Connection refused) while connecting to upstream";
const READ_TIMEOUT: &str =
    "upstream timed out (110: Connection timed out) while reading response header from upstream";
const CONNECT_TIMEOUT: &str = "upstream timed out (110: Connection timed out) while connecting to upstream";

#[test]
fn identical_requests_in_one_second_each_take_one_error_line() {
    let t = "14/May/2024:10:00:00 +0000";
    let mut access = String::new();
    for status in [502, 200, 502, 200, 502] {
        access += &combined("10.0.0.1", t, "GET /health HTTP/1.1", status);
    }
    let error: String = (1..=3)
        .map(|cid| {
            error_line("2024/05/14 10:00:00", cid, REFUSED, "10.0.0.1", "GET /health HTTP/1.1", "10.0.1.1:80")
        })
        .collect();
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), vec![("/health".to_string(), "connect_refused".to_string()); 3]);
    assert_eq!(r.report["unmatched_error_lines"], 0);
}

#[test]
fn statuses_pick_the_consistent_line_when_requests_look_alike() {
    let t = "14/May/2024:10:00:05 +0000";
    let access =
        combined("10.0.0.1", t, "GET /x HTTP/1.1", 504) + &combined("10.0.0.1", t, "GET /x HTTP/1.1", 502);
    let error = error_line("2024/05/14 10:00:05", 1, REFUSED, "10.0.0.1", "GET /x HTTP/1.1", "10.0.1.1:80")
        + &error_line("2024/05/14 10:00:05", 2, READ_TIMEOUT, "10.0.0.1", "GET /x HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    let mut got: Vec<(u64, String)> = r
        .rows
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["cause"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    assert_eq!(got, [(502, "connect_refused".to_string()), (504, "read_timeout".to_string())]);
}

#[test]
fn error_line_written_long_before_the_access_line() {
    // A 30 s read timeout: the error line is logged when the attempt fails, the access line when
    // the request ends, both within the request time.
    let access = upstream_line(
        "10.0.0.2",
        "14/May/2024:10:00:31 +0000",
        "GET /slow HTTP/1.1",
        504,
        7,
        "30.001",
        ("10.0.1.1:80", "504"),
    );
    let error =
        error_line("2024/05/14 10:00:30", 7, READ_TIMEOUT, "10.0.0.2", "GET /slow HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), [("/slow".to_string(), "read_timeout".to_string())]);
    assert_eq!(r.rows[0]["join"], "connection");
}

#[test]
fn error_log_in_local_time_joins_an_access_log_with_an_offset() {
    let access = combined("10.0.0.3", "14/May/2024:15:30:00 +0530", "GET /tz HTTP/1.1", 502);
    let error = error_line("2024/05/14 15:30:00", 9, REFUSED, "10.0.0.3", "GET /tz HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), [("/tz".to_string(), "connect_refused".to_string())]);
    // An access log in UTC beside an error log written in +0530 needs the offset said.
    let utc = combined("10.0.0.3", "14/May/2024:10:00:00 +0000", "GET /tz HTTP/1.1", 502);
    let wrong = run(&utc, &error, &[]);
    assert_eq!(causes(&wrong), [("/tz".to_string(), "unattributed".to_string())]);
    let said = run(&utc, &error, &["--error-log-offset", "+0530"]);
    assert_eq!(causes(&said), [("/tz".to_string(), "connect_refused".to_string())]);
}

#[test]
fn a_retry_chain_counts_once_with_the_last_attempt_as_cause() {
    let access = upstream_line(
        "10.0.0.4",
        "14/May/2024:10:00:02 +0000",
        "GET /chain HTTP/1.1",
        502,
        11,
        "1.002",
        ("10.0.1.1:80, 10.0.1.2:80", "504, 502"),
    );
    let error =
        error_line(
            "2024/05/14 10:00:01",
            11,
            CONNECT_TIMEOUT,
            "10.0.0.4",
            "GET /chain HTTP/1.1",
            "10.0.1.1:80",
        ) + &error_line("2024/05/14 10:00:02", 11, REFUSED, "10.0.0.4", "GET /chain HTTP/1.1", "10.0.1.2:80");
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), [("/chain".to_string(), "connect_refused".to_string())]);
    let attempts: Vec<(String, String)> = r.rows[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["upstream"].as_str().unwrap().to_string(), a["cause"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        attempts,
        [
            ("10.0.1.1:80".to_string(), "connect_timeout".to_string()),
            ("10.0.1.2:80".to_string(), "connect_refused".to_string())
        ]
    );
    assert_eq!(r.report["causes"][0]["count"], 1);
    assert_eq!(r.report["totals"]["failures"], 1);
}

#[test]
fn a_recovered_retry_is_a_hidden_failure_not_a_502() {
    let access = upstream_line(
        "10.0.0.5",
        "14/May/2024:10:00:00 +0000",
        "GET /ok HTTP/1.1",
        200,
        12,
        "0.010",
        ("10.0.1.1:80, 10.0.1.2:80", "502, 200"),
    );
    let error = error_line("2024/05/14 10:00:00", 12, REFUSED, "10.0.0.5", "GET /ok HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    assert!(r.rows.is_empty());
    assert_eq!(r.report["causes"].as_array().unwrap().len(), 0);
    assert_eq!(r.report["unmatched_error_lines"], 0);
    let dead =
        r.report["upstreams"].as_array().unwrap().iter().find(|u| u["upstream"] == "10.0.1.1:80").unwrap();
    assert_eq!(dead["hidden_failures"], 1);
    assert_eq!(dead["failed_attempts"], 1);
    assert_eq!(dead["requests"], 1);
}

#[test]
fn connection_ids_reused_after_a_restart_stay_apart() {
    let access = upstream_line(
        "10.0.0.6",
        "14/May/2024:10:00:00 +0000",
        "GET /a HTTP/1.1",
        502,
        1,
        "0.001",
        ("10.0.1.1:80", "502"),
    ) + &upstream_line(
        "10.0.0.6",
        "14/May/2024:11:00:00 +0000",
        "GET /a HTTP/1.1",
        504,
        1,
        "1.000",
        ("10.0.1.1:80", "504"),
    );
    let error = error_line("2024/05/14 10:00:00", 1, REFUSED, "10.0.0.6", "GET /a HTTP/1.1", "10.0.1.1:80")
        + &error_line("2024/05/14 11:00:00", 1, READ_TIMEOUT, "10.0.0.6", "GET /a HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    let got: Vec<&str> = r.rows.iter().map(|r| r["cause"].as_str().unwrap()).collect();
    assert_eq!(got, ["connect_refused", "read_timeout"]);
}

#[test]
fn backend_sent_502_is_told_apart_only_when_upstream_status_is_logged() {
    let access = upstream_line(
        "10.0.0.7",
        "14/May/2024:10:00:00 +0000",
        "GET /b HTTP/1.1",
        502,
        3,
        "0.004",
        ("10.0.1.1:80", "502"),
    );
    let r = run(&access, "", &[]);
    assert_eq!(causes(&r), [("/b".to_string(), "upstream_returned_502".to_string())]);
    let plain = combined("10.0.0.7", "14/May/2024:10:00:00 +0000", "GET /b HTTP/1.1", 502);
    let r = run(&plain, "", &[]);
    assert_eq!(causes(&r), [("/b".to_string(), "unattributed".to_string())]);
}

#[test]
fn client_closed_499_is_not_an_upstream_failure() {
    let access = combined("10.0.0.8", "14/May/2024:10:00:00 +0000", "GET /gone HTTP/1.1", 499);
    let error = "2024/05/14 10:00:00 [info] 100#100: *4 client prematurely closed connection, so upstream connection is closed too while reading response header from upstream, client: 10.0.0.8, server: api, request: \"GET /gone HTTP/1.1\", upstream: \"http://10.0.1.1:80/gone\", host: \"api\"\n";
    let r = run(&access, error, &[]);
    assert!(r.rows.is_empty());
    assert_eq!(r.report["totals"]["failures"], 0);
    assert_eq!(r.report["unmatched_error_lines"], 0);
}

#[test]
fn error_log_alone_reports_failed_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let error = error_line("2024/05/14 10:00:00", 1, REFUSED, "10.0.0.1", "GET / HTTP/1.1", "10.0.1.1:80")
        + &error_line("2024/05/14 10:00:01", 2, READ_TIMEOUT, "10.0.0.1", "GET / HTTP/1.1", "10.0.1.1:80")
        + &error_line("2024/05/14 10:00:02", 3, REFUSED, "10.0.0.1", "GET / HTTP/1.1", "10.0.1.2:80");
    std::fs::write(dir.path().join("error.log"), error).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "--output", "json", "--quiet"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let report = checked(&out.stdout);
    assert_eq!(report["totals"]["access_logs"], false);
    let causes: Vec<(String, u64)> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["cause"].as_str().unwrap().to_string(), c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(causes, [("connect_refused".to_string(), 2), ("read_timeout".to_string(), 1)]);
}

#[test]
fn findings_name_the_upstream_the_window_and_the_timeout_in_force() {
    let access = upstream_line(
        "10.0.0.2",
        "14/May/2024:10:00:31 +0000",
        "GET /slow HTTP/1.1",
        504,
        7,
        "30.001",
        ("10.0.1.1:80", "504"),
    ) + &upstream_line(
        "10.0.0.3",
        "14/May/2024:10:02:31 +0000",
        "GET /slow HTTP/1.1",
        504,
        8,
        "30.000",
        ("10.0.1.1:80", "504"),
    );
    let error =
        error_line("2024/05/14 10:00:30", 7, READ_TIMEOUT, "10.0.0.2", "GET /slow HTTP/1.1", "10.0.1.1:80")
            + &error_line(
                "2024/05/14 10:02:30",
                8,
                READ_TIMEOUT,
                "10.0.0.3",
                "GET /slow HTTP/1.1",
                "10.0.1.1:80",
            );
    let r = run(&access, &error, &[]);
    assert_eq!(
        r.report["causes"][0]["findings"],
        serde_json::json!([
            {"kind": "upstream", "upstream": "10.0.1.1:80", "failures": 2,
                "first": "2024-05-14T10:00:31+00:00", "last": "2024-05-14T10:02:31+00:00"},
            {"kind": "gave_up_after", "median_seconds": 30.001, "samples": 2, "endpoints": [["/slow", 2]]}
        ])
    );
}

#[test]
fn keep_alive_requests_on_one_connection_each_get_their_own_line() {
    let t = "14/May/2024:10:00:00 +0000";
    let request = "POST /graphql HTTP/1.1";
    let error: String = (0..3)
        .map(|_| error_line("2024/05/14 10:00:00", 5, REFUSED, "10.0.0.9", request, "10.0.1.1:80"))
        .collect();
    let exact: String = (0..3)
        .map(|_| upstream_line("10.0.0.9", t, request, 502, 5, "0.001", ("10.0.1.1:80", "502")))
        .collect();
    let plain: String = (0..3).map(|_| combined("10.0.0.9", t, request, 502)).collect();
    for access in [exact, plain] {
        let r = run(&access, &error, &[]);
        assert_eq!(causes(&r), vec![("/graphql".to_string(), "connect_refused".to_string()); 3]);
        assert_eq!(r.report["unmatched_error_lines"], 0);
    }
}

#[test]
fn two_failures_on_one_connection_keep_their_own_upstreams() {
    let t = "14/May/2024:10:00:00 +0000";
    let access = upstream_line("10.0.0.9", t, "GET /a HTTP/1.1", 502, 5, "0.001", ("10.0.1.2:80", "502"))
        + &upstream_line("10.0.0.9", t, "GET /a HTTP/1.1", 502, 5, "0.001", ("10.0.1.3:80", "502"));
    let error = error_line("2024/05/14 10:00:00", 5, REFUSED, "10.0.0.9", "GET /a HTTP/1.1", "10.0.1.2:80")
        + &error_line(
            "2024/05/14 10:00:00",
            5,
            "upstream prematurely closed connection while reading response header from upstream",
            "10.0.0.9",
            "GET /a HTTP/1.1",
            "10.0.1.3:80",
        );
    let r = run(&access, &error, &[]);
    let got: Vec<(&str, &str)> =
        r.rows.iter().map(|r| (r["upstream"].as_str().unwrap(), r["cause"].as_str().unwrap())).collect();
    assert_eq!(got, [("10.0.1.2:80", "connect_refused"), ("10.0.1.3:80", "premature_close")]);
}

#[test]
fn a_steady_stream_from_one_load_balancer_joins_every_line() {
    // 50 identical failing requests per second from one address for 200 s: each second's lines
    // belong to that second's requests, none is left over at the end.
    let (mut access, mut error) = (String::new(), String::new());
    for second in 0..200 {
        let (m, s) = (second / 60, second % 60);
        for _ in 0..50 {
            access += &combined(
                "10.9.9.9",
                &format!("14/May/2024:10:{m:02}:{s:02} +0000"),
                "POST /api HTTP/1.1",
                502,
            );
            error += &error_line(
                &format!("2024/05/14 10:{m:02}:{s:02}"),
                1,
                REFUSED,
                "10.9.9.9",
                "POST /api HTTP/1.1",
                "10.0.1.1:80",
            );
        }
    }
    let r = run(&access, &error, &[]);
    assert_eq!(r.report["causes"].as_array().unwrap().len(), 1);
    assert_eq!(r.report["causes"][0]["cause"], "connect_refused");
    assert_eq!(r.report["causes"][0]["count"], 10_000);
    assert_eq!(r.report["unmatched_error_lines"], 0);
}

#[test]
fn a_daylight_saving_change_does_not_break_the_join() {
    // Europe/Berlin, 2024-03-31: 01:59:59 +0100 is followed by 03:00:00 +0200.
    let access = combined("10.0.0.1", "31/Mar/2024:01:59:58 +0100", "GET /before HTTP/1.1", 200)
        + &combined("10.0.0.1", "31/Mar/2024:03:00:05 +0200", "GET /after HTTP/1.1", 502);
    let error =
        error_line("2024/03/31 03:00:05", 3, REFUSED, "10.0.0.1", "GET /after HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), [("/after".to_string(), "connect_refused".to_string())]);
    assert_eq!(r.report["unmatched_error_lines"], 0);
}

#[test]
fn an_absurd_request_time_is_bounded_not_overflowed() {
    let access = upstream_line(
        "10.0.0.2",
        "14/May/2024:10:00:31 +0000",
        "GET /x HTTP/1.1",
        504,
        7,
        "99999999999999999999.000",
        ("10.0.1.1:80", "504"),
    );
    let error =
        error_line("2024/05/14 10:00:30", 7, READ_TIMEOUT, "10.0.0.2", "GET /x HTTP/1.1", "10.0.1.1:80");
    let r = run(&access, &error, &[]);
    assert_eq!(causes(&r), [("/x".to_string(), "read_timeout".to_string())]);
}

#[test]
fn an_old_unclaimed_line_is_never_the_cause_of_a_later_failure() {
    // A recovered retry at 10:00:00 leaves a refused line behind; the 502 at 10:00:20 has its own.
    let access = combined("10.0.0.5", "10/Jan/2026:10:00:00 +0000", "GET /api/feed HTTP/1.1", 200)
        + &combined("10.0.0.5", "10/Jan/2026:10:00:20 +0000", "GET /api/feed HTTP/1.1", 502);
    let error =
        error_line("2026/01/10 10:00:00", 11, REFUSED, "10.0.0.5", "GET /api/feed HTTP/1.1", "10.1.0.1:80")
            + &error_line(
                "2026/01/10 10:00:20",
                12,
                "upstream prematurely closed connection while reading response header from upstream",
                "10.0.0.5",
                "GET /api/feed HTTP/1.1",
                "10.1.0.2:80",
            );
    let r = run(&access, &error, &[]);
    let got: Vec<(&str, &str)> =
        r.rows.iter().map(|r| (r["cause"].as_str().unwrap(), r["upstream"].as_str().unwrap())).collect();
    assert_eq!(got, [("premature_close", "10.1.0.2:80")]);
    assert_eq!(r.report["unmatched_error_lines"], 1);
}

#[test]
fn a_backend_sent_5xx_leaves_the_next_requests_line_alone() {
    let access = upstream_line(
        "10.0.0.5",
        "10/Jan/2026:10:00:00 +0000",
        "GET /f HTTP/1.1",
        500,
        7,
        "0.050",
        ("10.1.0.1:80", "500"),
    ) + &upstream_line(
        "10.0.0.5",
        "10/Jan/2026:10:00:01 +0000",
        "GET /f HTTP/1.1",
        502,
        7,
        "0.000",
        ("10.1.0.1:80", "502"),
    );
    let error = error_line("2026/01/10 10:00:01", 7, REFUSED, "10.0.0.5", "GET /f HTTP/1.1", "10.1.0.1:80");
    let r = run(&access, &error, &[]);
    let got: Vec<(u64, &str)> =
        r.rows.iter().map(|r| (r["status"].as_u64().unwrap(), r["cause"].as_str().unwrap())).collect();
    assert_eq!(got, [(500, "upstream_returned_5xx"), (502, "connect_refused")]);
}

#[test]
fn a_retry_chain_then_a_failing_request_on_the_same_connection() {
    let access = combined("10.0.0.5", "10/Jan/2026:10:00:00 +0000", "GET /x HTTP/1.1", 502)
        + &combined("10.0.0.5", "10/Jan/2026:10:00:01 +0000", "GET /x HTTP/1.1", 502);
    let error =
        error_line(
            "2026/01/10 10:00:00",
            7,
            "upstream prematurely closed connection while reading response header from upstream",
            "10.0.0.5",
            "GET /x HTTP/1.1",
            "10.1.0.1:80",
        ) + &error_line("2026/01/10 10:00:00", 7, REFUSED, "10.0.0.5", "GET /x HTTP/1.1", "10.1.0.2:80")
            + &error_line(
                "2026/01/10 10:00:01",
                7,
                "no live upstreams while connecting to upstream",
                "10.0.0.5",
                "GET /x HTTP/1.1",
                "backend",
            );
    let r = run(&access, &error, &[]);
    let got: Vec<(&str, &str, usize)> = r
        .rows
        .iter()
        .map(|r| {
            (
                r["cause"].as_str().unwrap(),
                r["upstream"].as_str().unwrap(),
                r["attempts"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(got, [("connect_refused", "10.1.0.2:80", 2), ("no_live_upstreams", "backend", 1)]);
    assert_eq!(r.report["unmatched_error_lines"], 0);
}
