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

/// Runs `live` on `dir` with `output`; writes a 502 whose error line comes only after the 502
/// was printed, then a 504 with its error line at once. Returns the lines printed.
fn session(dir: &Path, output: &str) -> Vec<String> {
    let (access, error) = (dir.join("access.log"), dir.join("error.log"));
    std::fs::write(&access, "").unwrap();
    std::fs::write(&error, "").unwrap();
    let mut child = Session(
        Command::new(env!("CARGO_BIN_EXE_ngx502"))
            .args([
                "live",
                "--output",
                output,
                "--error-log-offset",
                "+0000",
                "--quiet",
                "--join-wait",
                "0.2",
            ])
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
    // Following starts at the end of the files: wait until it has them open.
    std::thread::sleep(Duration::from_millis(500));
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

fn batch(dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "--output", "json", "-q", "--error-log-offset", "+0000"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report);
    report
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

    let report = batch(tmp.path());
    let batch_causes: serde_json::Map<String, Value> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["cause"].as_str().unwrap().to_owned(), c["count"].clone()))
        .collect();
    assert_eq!(summary["by_cause"], Value::Object(batch_causes), "live totals equal the batch report");
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
