//! The state file: what it holds, reading it strictly, and replacing it atomically.
//!
//! A state file that cannot be trusted is an error, never a guess: guessing either skips lines
//! that were never counted or counts lines twice. `--state-reset` is the way out.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::identity::{Head, Stamp, HEAD_BYTES};
use super::tail::MAX_WAITING;
use crate::input::Resume;
use crate::summary::Candidate;

/// What the `format` field of every ngx502 state file says.
pub const FORMAT: &str = "ngx502-state";
/// Bumped on any change older releases cannot read.
pub const VERSION: u32 = 1;

/// Everything one run leaves for the next.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: String,
    pub version: u32,
    /// Runs committed so far: entries of logs that disappeared are dropped after a while.
    pub runs: u64,
    pub logs: Vec<LogEntry>,
    /// The latest request time (UTC seconds) read from access logs so far.
    pub access_until: Option<i64>,
    /// The latest upstream error-line time (UTC seconds) read from error logs so far.
    pub errors_until: Option<i64>,
    /// The end of the join that waits for the next run.
    pub pending: Pending,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: FORMAT.into(),
            version: VERSION,
            runs: 0,
            logs: Vec::new(),
            access_until: None,
            errors_until: None,
            pending: Pending::default(),
        }
    }
}

/// One log (one generation of one log, across its renames and compression).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// Where it was last seen; for people reading the file, identity does not depend on it.
    pub path: String,
    /// `access` or `error`: a resumed tail may be too short to tell.
    pub kind: KindName,
    pub head: Head,
    /// How much of its content has been read.
    pub read: Resume,
    /// The file as it was when it was last read.
    pub file: Stamp,
    /// Whether that read reached the end of the file (a gzip still being written does not).
    pub whole: bool,
    /// The run that last saw it.
    pub last_run: u64,
}

/// The kind of a log, as written in the state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    Access,
    Error,
    Stream,
}

/// 5xx lines and error lines whose partner may still be written, by the log they came from.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// 5xx lines without their error line; `input` is the index of their log in `logs`.
    pub candidates: Vec<Candidate>,
    pub errors: Vec<PendingError>,
}

/// An error record, kept as the line itself: parsing it again gives the record back exactly.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingError {
    /// Index into `logs`.
    pub log: usize,
    pub line: u64,
    pub raw: Vec<u8>,
    /// The container or pod a stream named for the line: the join pairs lines of one source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Unreadable { path: String, source: io::Error },
    #[error(
        "{path} is not an ngx502 state file ({why}); pass --state-reset to start fresh \
         (every log is read again), or another path with --state"
    )]
    Foreign { path: String, why: String },
    #[error(
        "the state file {path} is corrupt ({why}); pass --state-reset to start fresh \
         (every log is read again)"
    )]
    Corrupt { path: String, why: String },
    #[error(
        "the state file {path} holds impossible counts ({why}): it was edited or damaged; \
         pass --state-reset to start fresh (every log is read again), or delete it"
    )]
    Impossible { path: String, why: String },
}

/// The latest time a state file may hold: the end of year 9999, far from where seconds
/// overflow when the join adds its windows to them.
const MAX_TIME: i64 = 253_402_300_799;
/// A UTC offset is less than a day.
const MAX_OFFSET: i32 = 86_399;

/// What a state written by ngx502 always satisfies: every count that later runs add to,
/// subtract from or compare with is one a run could have written, so no count from the file
/// can wrap or make lines vanish. Returns what is impossible.
fn check_counts(state: &State) -> Result<(), String> {
    if state.runs == u64::MAX {
        return Err(format!("{} runs", state.runs));
    }
    let time = |what: &str, t: Option<i64>| match t {
        Some(t) if !(0..=MAX_TIME).contains(&t) => Err(format!("{what} at second {t}")),
        _ => Ok(()),
    };
    time("access logs read until", state.access_until)?;
    time("error logs read until", state.errors_until)?;
    for (k, log) in state.logs.iter().enumerate() {
        let Resume { bytes, lines } = log.read;
        if log.last_run > state.runs {
            return Err(format!("log {k} last seen in run {} of {}", log.last_run, state.runs));
        }
        if lines > bytes {
            return Err(format!("log {k}: {lines} lines read in {bytes} bytes"));
        }
        if log.head.len == 0 || log.head.len > HEAD_BYTES as u64 || log.head.len > bytes {
            return Err(format!("log {k}: a fingerprint of {} bytes, {bytes} bytes read", log.head.len));
        }
    }
    let waiting =
        [(state.pending.candidates.len(), "failed requests"), (state.pending.errors.len(), "error lines")];
    for (n, what) in waiting {
        if n > MAX_WAITING {
            return Err(format!("{n} {what} waiting, a run keeps at most {MAX_WAITING}"));
        }
    }
    let lines_of = |log: usize| state.logs.get(log).map_or(0, |l| l.read.lines);
    let read = |what: &str, line: u64, log: usize| {
        if line == 0 || line > lines_of(log) {
            return Err(format!("{what} on line {line} of log {log}, of {} lines read", lines_of(log)));
        }
        Ok(())
    };
    for c in &state.pending.candidates {
        time("a waiting request", c.time)?;
        if c.offset.abs() > MAX_OFFSET {
            return Err(format!("a waiting request in UTC offset {} s", c.offset));
        }
        read("a waiting request", c.line, c.input)?;
    }
    for e in &state.pending.errors {
        read("a waiting error line", e.line, e.log)?;
    }
    Ok(())
}

/// Reads the state at `path`; `None` when there is none yet (the first run).
pub fn load(path: &Path) -> Result<Option<State>, StateError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Unreadable { path: shown, source }),
    };
    let foreign = |why: &str| StateError::Foreign { path: shown.clone(), why: why.into() };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        if bytes.first() == Some(&b'{') {
            StateError::Corrupt { path: shown.clone(), why: e.to_string() }
        } else {
            foreign("not JSON")
        }
    })?;
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(FORMAT) => {}
        _ => return Err(foreign("no \"format\": \"ngx502-state\"")),
    }
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        other => {
            return Err(foreign(&format!(
                "version {}, this ngx502 reads version {VERSION}",
                other.map_or_else(|| "missing".to_string(), |v| v.to_string())
            )))
        }
    }
    let state: State = serde_json::from_value(value)
        .map_err(|e| StateError::Corrupt { path: shown.clone(), why: e.to_string() })?;
    let logs = state.logs.len();
    let dangling =
        state.pending.candidates.iter().map(|c| c.input).chain(state.pending.errors.iter().map(|p| p.log));
    if let Some(bad) = dangling.filter(|&l| l >= logs).max() {
        return Err(StateError::Corrupt {
            path: shown,
            why: format!("pending line of log {bad}, of {logs}"),
        });
    }
    check_counts(&state).map_err(|why| StateError::Impossible { path: shown, why })?;
    Ok(Some(state))
}

/// Replaces the state at `path` with `state` so that a crash at any point leaves either the
/// old file or the new one: a temporary file in the same directory, flushed to disk, renamed
/// over the old one, then the directory flushed so the rename itself survives a power cut.
pub fn save(path: &Path, state: &State) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::other("the state path names no file"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = dir.join(temp_name);
    let written = write_synced(&temp, state).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    File::open(dir)?.sync_all()
}

fn write_synced(path: &Path, state: &State) -> io::Result<()> {
    let mut file = File::create(path)?;
    serde_json::to_writer(&mut file, state)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_saved_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().is_none());
        let state = State { runs: 7, access_until: Some(1_700_000_000), ..State::default() };
        save(&path, &state).unwrap();
        let back = load(&path).unwrap().unwrap();
        assert_eq!((back.runs, back.access_until, back.errors_until), (7, Some(1_700_000_000), None));
        let leftovers: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn foreign_and_corrupt_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let cases: [(&[u8], &str); 5] = [
            (b"", "not an ngx502 state file (not JSON)"),
            (b"access_log /var/log/nginx/access.log;", "not an ngx502 state file (not JSON)"),
            (br#"{"schema": "ngx502/1"}"#, "not an ngx502 state file (no \"format\""),
            (br#"{"format": "ngx502-state", "version": 99}"#, "version 99, this ngx502 reads version 1"),
            (br#"{"format": "ngx502-state", "version": 1, "runs": "#, "is corrupt ("),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, bytes).unwrap();
            let message = load(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("--state-reset"), "{message}");
        }
    }

    /// A state as a run writes it: one access log read to line 40, a 502 on line 40 waiting.
    fn written() -> serde_json::Value {
        serde_json::json!({
            "format": FORMAT, "version": VERSION, "runs": 3,
            "logs": [{
                "path": "/var/log/nginx/access.log", "kind": "access",
                "head": {"len": 4096, "xxh3": 7}, "read": {"bytes": 5000, "lines": 40},
                "file": {"dev": 1, "ino": 2, "len": 5000, "mtime_ns": 1_700_000_000_000_000_000i64},
                "whole": true, "last_run": 3
            }],
            "access_until": 1_700_000_000, "errors_until": 1_699_999_990,
            "pending": {"candidates": [{
                "input": 0, "line": 40, "time": 1_700_000_000, "offset": 7200, "status": 502,
                "client": null, "request": null, "host": null, "connection": null, "request_time": null,
                "upstream_addr": null, "upstream_status": null, "upstream_response_time": null
            }], "errors": []}
        })
    }

    #[test]
    fn impossible_counts_are_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, written().to_string()).unwrap();
        assert!(load(&path).unwrap().is_some(), "what a run writes loads");
        type Edit = fn(&mut serde_json::Value);
        let cases: [(Edit, &str); 12] = [
            (|s| s["logs"][0]["read"]["bytes"] = (-5).into(), "is corrupt (invalid value: integer `-5`"),
            (
                |s| s["logs"][0]["read"]["lines"] = 18_446_744_073_709_551_615u64.into(),
                "18446744073709551615 lines read in 5000 bytes",
            ),
            (|s| s["logs"][0]["read"]["lines"] = 5001.into(), "log 0: 5001 lines read in 5000 bytes"),
            (|s| s["logs"][0]["head"]["len"] = 5001.into(), "a fingerprint of 5001 bytes"),
            (|s| s["logs"][0]["read"]["bytes"] = 100.into(), "a fingerprint of 4096 bytes, 100 bytes read"),
            (|s| s["runs"] = u64::MAX.into(), "18446744073709551615 runs"),
            (|s| s["logs"][0]["last_run"] = 4.into(), "log 0 last seen in run 4 of 3"),
            (|s| s["access_until"] = i64::MAX.into(), "access logs read until at second 9223372036854775807"),
            (|s| s["pending"]["candidates"][0]["time"] = i64::MIN.into(), "a waiting request at second"),
            (|s| s["pending"]["candidates"][0]["offset"] = i32::MAX.into(), "UTC offset 2147483647 s"),
            (
                |s| s["pending"]["candidates"][0]["line"] = 41.into(),
                "a waiting request on line 41 of log 0, of 40",
            ),
            (
                |s| s["pending"]["errors"] = serde_json::json!([{"log": 0, "line": u64::MAX, "raw": []}]),
                "a waiting error line on line 18446744073709551615 of log 0, of 40 lines read",
            ),
        ];
        for (edit, expected) in cases {
            let mut state = written();
            edit(&mut state);
            std::fs::write(&path, state.to_string()).unwrap();
            let message = load(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("--state-reset"), "{message}");
        }
        let overflowing = written().to_string().replace("\"bytes\":5000", "\"bytes\":18446744073709551616");
        std::fs::write(&path, overflowing).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("is corrupt (") && message.contains("--state-reset"), "{message}");
    }

    #[test]
    fn more_waiting_lines_than_a_run_keeps_are_impossible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = written();
        let error = serde_json::json!({"log": 0, "line": 1, "raw": []});
        state["pending"]["errors"] = vec![error; MAX_WAITING + 1].into();
        std::fs::write(&path, state.to_string()).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("10001 error lines waiting, a run keeps at most 10000"), "{message}");
        assert!(message.contains("or delete it"), "{message}");
    }

    #[test]
    fn a_pending_line_of_a_missing_log_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::default();
        state.pending.errors.push(PendingError { log: 3, line: 1, raw: b"x".to_vec(), source: None });
        save(&path, &state).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("is corrupt (pending line of log 3, of 0)"), "{message}");
    }
}
