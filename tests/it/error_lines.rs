//! Where every upstream error line goes: claimed by a request, unmatched, filtered out (time
//! window, filters) or waiting for the next `--state` run. Exact counts on a small log pair, in
//! the JSON, the text, Markdown and HTML notes, and through `merge`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::accounting::checked;

/// A combined access log (joined on client and request) and its error log: a 502 on `/a` with
/// a context line and its refused connect, a 200 on `/b` whose refused connect no 5xx claims
/// (a retry that recovered), a 504 on `/api/c` with its timeout, and a late 502 on `/late`
/// with its refused connect.
fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let access_line = |ip: u8, ss: u8, path: &str, status: u16| {
        format!("203.0.113.{ip} - - [14/May/2024:10:00:{ss:02} +0000] \"GET {path} HTTP/1.1\" {status} 157 \"-\" \"curl/8.0\"\n")
    };
    let error_line = |ip: u8, ss: u8, level: &str, message: &str, path: &str| {
        format!("2024/05/14 10:00:{ss:02} [{level}] 7#7: *{ip} {message} while connecting to upstream, client: 203.0.113.{ip}, server: api, request: \"GET {path} HTTP/1.1\", upstream: \"http://10.0.0.12:8080{path}\", host: \"api\"\n")
    };
    let refused = "connect() failed (111: Connection refused)";
    let access = [
        access_line(1, 1, "/a", 502),
        access_line(2, 2, "/b", 200),
        access_line(3, 3, "/api/c", 504),
        access_line(4, 30, "/late", 502),
    ]
    .concat();
    let error = [
        error_line(1, 1, "error", refused, "/a"),
        error_line(1, 1, "warn", "upstream server temporarily disabled", "/a"),
        error_line(2, 2, "error", refused, "/b"),
        error_line(3, 3, "error", "upstream timed out (110: Connection timed out)", "/api/c"),
        error_line(4, 30, "error", refused, "/late"),
    ]
    .concat();
    let (access_path, error_path) = (dir.join("access.log"), dir.join("error.log"));
    std::fs::write(&access_path, access).unwrap();
    std::fs::write(&error_path, error).unwrap();
    (access_path, error_path)
}

fn run(args: &[&str], logs: &[&Path]) -> String {
    let quiet = if logs.is_empty() { None } else { Some("-q") };
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).args(quiet).args(logs).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn lines(read: u64, claimed: u64, unmatched: u64, filtered: u64, context: u64) -> Value {
    json!({"read": read, "claimed": claimed, "unmatched": unmatched, "filtered": filtered, "waiting": 0,
        "context_claimed": context})
}

#[test]
fn every_error_line_is_claimed_unmatched_or_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let (access, error) = fixture(dir.path());
    let report = |extra: &[&str]| {
        checked(run(&[&["report", "--output", "json"], extra].concat(), &[&access, &error]).as_bytes())
    };
    let all = report(&[]);
    assert_eq!(all["error_lines"], lines(4, 3, 1, 0, 1));
    assert_eq!(all["unmatched_error_lines"], 1);
    // `/a` and `/late` are left out with their lines; `/b`'s unclaimed line passes the filter.
    let api = report(&["--path", "^/(api|b)"]);
    assert_eq!(api["error_lines"], lines(4, 1, 1, 2, 0));
    // `/late` is outside the window: its error line, no longer claimed, is not counted unmatched.
    let early = report(&["--until", "2024-05-14T10:00:10Z"]);
    assert_eq!(early["error_lines"], lines(4, 2, 1, 1, 1));
    // An error log alone: nothing claims a line, and each is one failed attempt.
    let alone = checked(run(&["report", "--output", "json"], &[&error]).as_bytes());
    assert_eq!(alone["error_lines"], lines(4, 0, 4, 0, 0));
}

#[test]
fn every_format_says_where_the_error_lines_went() {
    let dir = tempfile::tempdir().unwrap();
    let (access, error) = fixture(dir.path());
    let note = "Upstream error lines: 3 claimed by a request, 1 matched no 5xx in the access log \
                (retries that recovered, or requests outside it).";
    for format in ["text", "markdown", "html"] {
        let out = run(&["report", "--output", format], &[&access, &error]);
        assert_eq!(out.matches(note).count(), 1, "{format}:\n{out}");
    }
    let filtered = run(&["report", "--path", "^/(api|b)"], &[&access, &error]);
    assert!(
        filtered.contains("Upstream error lines: 1 claimed by a request, 1 matched no 5xx in the access log (retries that recovered, or requests outside it), 2 filtered out."),
        "{filtered}"
    );
}

#[test]
fn merge_adds_the_error_lines_of_each_host() {
    let dir = tempfile::tempdir().unwrap();
    let (access, error) = fixture(dir.path());
    let (web1, web2) = (dir.path().join("web1.json"), dir.path().join("web2.json"));
    let (w1, w2) = (web1.to_str().unwrap(), web2.to_str().unwrap());
    run(&["report", "--output", "json", "-o", w1], &[&access, &error]);
    run(&["report", "--output", "json", "-o", w2, "--path", "^/(api|b)"], &[&access, &error]);
    let merged = checked(run(&["merge", w1, w2], &[]).as_bytes());
    assert_eq!(merged["error_lines"], lines(8, 4, 2, 2, 1));
    assert_eq!(merged["unmatched_error_lines"], 2);
}
