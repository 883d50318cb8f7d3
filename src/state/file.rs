//! The state file: what it holds, reading it strictly, and replacing it atomically.
//!
//! A state file that cannot be trusted is an error, never a guess: guessing either skips lines
//! that were never counted or counts lines twice. `--state-reset` is the way out.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::identity::{Head, Stamp};
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

    #[test]
    fn a_pending_line_of_a_missing_log_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::default();
        state.pending.errors.push(PendingError { log: 3, line: 1, raw: b"x".to_vec() });
        save(&path, &state).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("is corrupt (pending line of log 3, of 0)"), "{message}");
    }
}
