//! `live` corrections: a 5xx shown as `unattributed` because its error line had not arrived
//! within the join wait is corrected when the line does arrive, so the session's totals end equal
//! to a batch report of the same lines.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::accounting::check_report;

const PATIENCE: Duration = Duration::from_secs(10);

/// The session's process, killed if the test fails before stopping it (it would otherwise keep
/// the test run's output pipe open).
struct Session(Child);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn append(path: &Path, line: &str) {
    let mut file = OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(file, "{line}").unwrap();
}

/// Starts `live` on `dir` (empty `access.log` and `error.log` written there, read from their
/// start so that no line is missed however late the session opens them) with `output`, a join
/// wait of `join_wait` seconds and `extra` arguments; returns it and the lines it prints.
fn start(dir: &Path, output: &str, join_wait: &str, extra: &[&str]) -> (Session, mpsc::Receiver<String>) {
    std::fs::write(dir.join("access.log"), "").unwrap();
    std::fs::write(dir.join("error.log"), "").unwrap();
    let mut child = Session(
        Command::new(env!("CARGO_BIN_EXE_ngx502"))
            .args([
                "live",
                "--output",
                output,
                "--error-log-offset",
                "+0000",
                "--quiet",
                "--from-start",
                "--join-wait",
                join_wait,
            ])
            .args(extra)
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    (child, lines)
}

/// Runs `live` on `dir` with `output`; writes a 502 whose error line comes only after the 502
/// was printed, then a 504 with its error line at once. Returns the lines printed.
///
/// The join wait is a second: the 504's error line is written first, and on a loaded machine
/// the session may read its access line a pass before its error line.
fn session(dir: &Path, output: &str) -> Vec<String> {
    let (access, error) = (dir.join("access.log"), dir.join("error.log"));
    let (mut child, lines) = start(dir, output, "1", &[]);
    let now = chrono::Utc::now();
    let (access_time, error_time) = (now.format("%d/%b/%Y:%H:%M:%S +0000"), now.format("%Y/%m/%d %H:%M:%S"));
    append(&access, &format!("10.1.1.1 - - [{access_time}] \"GET /late/1 HTTP/1.1\" 502 12 \"-\" \"t\""));
    let mut printed = vec![lines.recv_timeout(PATIENCE).expect("the 502 is printed")];
    assert!(printed[0].contains("unattributed"), "{printed:?}");
    append(&error, &format!("{error_time} [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.1.1.1, server: _, request: \"GET /late/1 HTTP/1.1\", upstream: \"http://10.0.0.9:8080/late/1\", host: \"app\""));
    printed.push(lines.recv_timeout(PATIENCE).expect("a correction is printed"));
    append(&error, &format!("{error_time} [error] 7#7: *2 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.1.1.1, server: _, request: \"GET /slow/1 HTTP/1.1\", upstream: \"http://10.0.0.9:8080/slow/1\", host: \"app\""));
    append(&access, &format!("10.1.1.1 - - [{access_time}] \"GET /slow/1 HTTP/1.1\" 504 12 \"-\" \"t\""));
    printed.push(lines.recv_timeout(PATIENCE).expect("the 504 is printed"));
    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.0.wait().unwrap().success(), "live exits 0 on SIGTERM");
    printed.extend(lines.try_iter());
    printed
}

/// The batch report of the lines `live` read in `dir`, with `extra` arguments.
fn batch(dir: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "--output", "json", "-q", "--error-log-offset", "+0000"])
        .args(extra)
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report);
    report
}

/// A report's failures by cause, as the live summary writes them.
fn by_cause(report: &Value) -> Value {
    let causes = report["causes"].as_array().unwrap().iter();
    Value::Object(causes.map(|c| (c["cause"].as_str().unwrap().to_owned(), c["count"].clone())).collect())
}

#[test]
fn a_late_error_line_corrects_an_unattributed_502_in_ndjson() {
    let tmp = tempfile::tempdir().unwrap();
    let printed = session(tmp.path(), "ndjson");
    let rows: Vec<Value> = printed.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["cause"], "unattributed");
    assert_eq!(rows[0]["path"], "/late/1");
    let correction = &rows[1]["correction"];
    assert_eq!(correction["was"], "unattributed", "{}", rows[1]);
    assert_eq!(correction["cause"], "connect_refused");
    assert_eq!(correction["path"], "/late/1");
    assert_eq!(correction["status"], 502);
    assert_eq!(correction["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(rows[2]["cause"], "read_timeout");
    let summary = &rows.last().unwrap()["summary"];
    assert_eq!(summary["events"], 2);
    assert_eq!(summary["corrections"], 1);
    assert_eq!(summary["unclaimed_error_lines"], 0);

    let report = batch(tmp.path(), &[]);
    assert_eq!(summary["by_cause"], by_cause(&report), "live totals equal the batch report");
    assert_eq!(report["unmatched_error_lines"], 0);
}

#[test]
fn a_late_error_line_corrects_an_unattributed_502_in_text() {
    let tmp = tempfile::tempdir().unwrap();
    let printed = session(tmp.path(), "text");
    assert!(printed[0].contains(" 502 unattributed "), "{printed:?}");
    assert!(printed[1].starts_with("\u{21bb} "), "{printed:?}");
    assert!(
        printed[1].contains(" 502 connect_refused 10.0.0.9:8080 \"GET /late/1 HTTP/1.1\""),
        "{printed:?}"
    );
    assert!(printed[1].ends_with("(was unattributed)"), "{printed:?}");
    let summary = printed.join("\n");
    assert!(summary.contains("1 failures corrected by a late error line"), "{summary}");
}

/// With `--upstream`, a 502 whose error line comes late is left out at first (no upstream is
/// known from the access log alone), then shown once its error line names the upstream; a 502
/// of another upstream stays out with its error line, and so does an error line of that
/// upstream no request claims. The session's totals and line counts equal a batch report with
/// the same filter, and no line counter of the metrics ever goes down.
#[test]
fn a_late_error_line_brings_a_failure_into_the_filters_as_batch_does() {
    use crate::live_metrics::{scrape, Key};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (access, error) = (dir.join("access.log"), dir.join("error.log"));
    let port = crate::support::nginx::free_port();
    let listen = format!("127.0.0.1:{port}");
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let filter = ["--upstream", "^10\\.0\\.0\\.9:"];
    let (mut child, lines) =
        start(dir, "ndjson", "0.2", &[&["--metrics-listen", &listen][..], &filter].concat());
    std::thread::sleep(Duration::from_millis(500));
    // Every `ngx502_lines_total` series, checked never to go down between scrapes.
    let mut counters: std::collections::BTreeMap<Key, f64> = Default::default();
    let mut scraped = || {
        let (samples, text) = scrape(addr);
        for (key, value) in samples.into_iter().filter(|((name, _), _)| name == "ngx502_lines_total") {
            let before = counters.insert(key.clone(), value).unwrap_or(0.0);
            assert!(value >= before, "{key:?} went from {before} down to {value}:\n{text}");
        }
    };
    let now = chrono::Utc::now();
    let (access_time, error_time) = (now.format("%d/%b/%Y:%H:%M:%S +0000"), now.format("%Y/%m/%d %H:%M:%S"));
    let access_line = |client: u8, path: &str, status: u16| {
        format!("10.1.1.{client} - - [{access_time}] \"GET {path} HTTP/1.1\" {status} 12 \"-\" \"t\"")
    };
    let error_line = |client: u8, cid: u8, message: &str, path: &str, upstream: &str| {
        format!("{error_time} [error] 7#7: *{cid} {message}, client: 10.1.1.{client}, server: _, request: \"GET {path} HTTP/1.1\", upstream: \"http://{upstream}{path}\", host: \"app\"")
    };
    let refused = "connect() failed (111: Connection refused) while connecting to upstream";
    let timed_out =
        "upstream timed out (110: Connection timed out) while reading response header from upstream";

    append(&access, &access_line(1, "/late/1", 502));
    // Well past the join wait: decided without its error line, and left out.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(250));
        scraped();
    }
    assert!(lines.try_recv().is_err(), "a 502 of no known upstream is left out");
    append(&error, &error_line(2, 2, refused, "/other/1", "10.0.0.7:8080"));
    append(&access, &access_line(2, "/other/1", 502));
    scraped();
    append(&error, &error_line(1, 1, refused, "/late/1", "10.0.0.9:8080"));
    let late: Value = serde_json::from_str(&lines.recv_timeout(PATIENCE).expect("the 502 is shown")).unwrap();
    assert_eq!(
        (late["path"].as_str(), late["cause"].as_str()),
        (Some("/late/1"), Some("connect_refused")),
        "{late}"
    );
    scraped();
    append(&error, &error_line(3, 3, timed_out, "/slow/1", "10.0.0.9:8080"));
    append(&access, &access_line(3, "/slow/1", 504));
    let slow: Value = serde_json::from_str(&lines.recv_timeout(PATIENCE).expect("the 504 is shown")).unwrap();
    assert_eq!(slow["path"], "/slow/1", "{slow}");
    // Error lines no request claims: one passes the filter (unmatched), one does not (filtered).
    append(&error, &error_line(4, 4, refused, "/orphan/9", "10.0.0.9:8080"));
    append(&error, &error_line(5, 5, refused, "/orphan/7", "10.0.0.7:8080"));
    scraped();
    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.0.wait().unwrap().success(), "live exits 0 on SIGTERM");
    let rows: Vec<Value> = lines.try_iter().map(|l| serde_json::from_str(&l).unwrap()).collect();
    let summary = &rows.last().expect("a summary")["summary"];

    let report = batch(dir, &filter);
    assert_eq!(by_cause(&report), serde_json::json!({"connect_refused": 1, "read_timeout": 1}));
    assert_eq!(summary["by_cause"], by_cause(&report), "live totals equal the batch report: {summary}");
    assert_eq!(summary["events"], 2, "{summary}");
    assert_eq!(report["unmatched_error_lines"], 1);
    assert_eq!(summary["unclaimed_error_lines"], 1, "{summary}");
    assert_eq!(summary["requests"], report["totals"]["requests"], "{summary}");
    assert_eq!(summary["by_status"], serde_json::json!({"502": 1, "504": 1}), "{summary}");
    let counts = |inputs: &Value| -> Vec<(String, [u64; 4])> {
        let mut rows: Vec<(String, [u64; 4])> = inputs
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let n = |k: &str| i[k].as_u64().unwrap();
                (
                    i["path"].as_str().unwrap().to_owned(),
                    [n("lines"), n("parsed"), n("malformed"), n("filtered")],
                )
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        counts(&summary["inputs"]),
        counts(&report["inputs"]),
        "every line counted as batch counts it"
    );
}
