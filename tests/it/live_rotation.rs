//! `ngx502 live` through log rotation: a writer appends access and error lines (some 502/504s
//! with their error line, some without) while the test rotates both logs 100 times, mixing
//! rename + create (the writer keeps writing to the old file for a few lines, then reopens, as
//! nginx does until `nginx -s reopen`), copytruncate, and delete + recreate. Every line written
//! must be read exactly once and every failure reported exactly once with its cause.
//!
//! No sleeps decide anything: after each rotation the test waits until ngx502 has the new file
//! open and has read up to its end, seen from `/proc/PID/fd` and `/proc/PID/fdinfo`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const ROTATIONS: usize = 100;
/// Lines the writer keeps writing to a renamed file before it reopens the path.
const WRITES_AFTER_RENAME: usize = 3;
const PATIENCE: Duration = Duration::from_secs(10);

/// The writer's open logs and what it wrote.
struct Logs {
    dir: PathBuf,
    access: File,
    error: File,
    /// Writes left before the writer reopens the paths (after a rename).
    reopen_in: Option<usize>,
    written: Written,
}

#[derive(Debug, Default, Clone)]
struct Written {
    access_lines: u64,
    error_lines: u64,
    /// Failures by cause slug, and their request paths.
    by_cause: BTreeMap<&'static str, u64>,
    failed_paths: Vec<String>,
}

fn append(path: &Path) -> File {
    OpenOptions::new().create(true).append(true).open(path).unwrap()
}

impl Logs {
    fn open(dir: &Path) -> Logs {
        Logs {
            dir: dir.to_path_buf(),
            access: append(&dir.join("access.log")),
            error: append(&dir.join("error.log")),
            reopen_in: None,
            written: Written::default(),
        }
    }

    /// Writes request `n`: one in 5 is a refused 502 with its error line, one in 7 (of the
    /// rest) a 504 whose error line says the read timed out, one in 11 a 502 with no error line.
    fn write(&mut self, n: u64) {
        let now = chrono::Utc::now();
        let access_time = now.format("%d/%b/%Y:%H:%M:%S +0000");
        let error_time = now.format("%Y/%m/%d %H:%M:%S");
        let path = format!("/r/{n}");
        let (status, error) = if n.is_multiple_of(5) {
            (
                502,
                Some((
                    "connect() failed (111: Connection refused) while connecting to upstream",
                    "connect_refused",
                )),
            )
        } else if n.is_multiple_of(7) {
            (504, Some(("upstream timed out (110: Connection timed out) while reading response header from upstream", "read_timeout")))
        } else if n.is_multiple_of(11) {
            (502, None)
        } else {
            (200, None)
        };
        if let Some((message, _)) = error {
            writeln!(
                self.error,
                "{error_time} [error] 7#7: *{n} {message}, client: 10.1.1.1, server: _, request: \"GET {path} HTTP/1.1\", upstream: \"http://10.0.0.9:8080{path}\", host: \"app\""
            )
            .unwrap();
            self.written.error_lines += 1;
        }
        writeln!(self.access, "10.1.1.1 - - [{access_time}] \"GET {path} HTTP/1.1\" {status} 12 \"-\" \"t\"")
            .unwrap();
        self.written.access_lines += 1;
        if status >= 500 {
            *self.written.by_cause.entry(error.map_or("unattributed", |(_, cause)| cause)).or_default() += 1;
            self.written.failed_paths.push(path);
        }
        if let Some(left) = self.reopen_in.as_mut() {
            *left -= 1;
            if *left == 0 {
                self.reopen_in = None;
                self.access = append(&self.dir.join("access.log"));
                self.error = append(&self.dir.join("error.log"));
            }
        }
    }
}

/// Rotates both logs the way rotation `k` says.
fn rotate(logs: &Mutex<Logs>, dir: &Path, k: usize) {
    let mut logs = logs.lock().unwrap();
    for name in ["access.log", "error.log"] {
        let live = dir.join(name);
        let old = dir.join(format!("{name}.{k}"));
        match k % 3 {
            0 => {
                fs::rename(&live, &old).unwrap();
                File::create(&live).unwrap();
            }
            1 => {
                fs::copy(&live, &old).unwrap();
                OpenOptions::new().write(true).open(&live).unwrap().set_len(0).unwrap();
            }
            _ => {
                fs::remove_file(&live).unwrap();
                File::create(&live).unwrap();
            }
        }
    }
    if k % 3 != 1 {
        logs.reopen_in = Some(WRITES_AFTER_RENAME);
    }
}

/// Waits until the writer has reopened the logs after a rename.
fn wait_reopened(logs: &Mutex<Logs>) {
    let start = Instant::now();
    while logs.lock().unwrap().reopen_in.is_some() {
        assert!(start.elapsed() < PATIENCE, "the writer did not reopen the logs");
        thread::yield_now();
    }
}

/// Waits until process `pid` has `path` (the file it names now) open and has read to its end,
/// and the file is not empty. (A file copytruncated before any of it was read cannot be told
/// from one written after an empty look: that race is logrotate's, not the follower's.)
fn wait_caught_up(pid: u32, path: &Path) {
    let start = Instant::now();
    loop {
        let (ino, len) = {
            let meta = fs::metadata(path).unwrap();
            (meta.ino(), meta.len())
        };
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
        let caught_up = fds.filter_map(Result::ok).any(|fd| {
            let same = fs::metadata(fd.path()).is_ok_and(|m| m.ino() == ino);
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()));
            let pos = info.ok().and_then(|i| {
                i.lines().find_map(|l| l.strip_prefix("pos:")).and_then(|p| p.trim().parse::<u64>().ok())
            });
            same && len > 0 && pos.is_some_and(|p| p >= len)
        });
        if caught_up {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "ngx502 did not catch up with {}", path.display());
        thread::yield_now();
    }
}

/// Starts `ngx502 live` on `dir`; its stdout lines arrive on the receiver.
fn live(dir: &Path, extra: &[&str]) -> (Child, Receiver<(Instant, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["live", "--output", "ndjson", "--error-log-offset", "+0000", "--quiet"])
        .args(extra)
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

fn stop(child: &mut Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "ngx502 live must exit 0 on SIGTERM");
}

fn rows_and_summary(output: Vec<String>) -> (Vec<Value>, Value) {
    let mut values: Vec<Value> = output.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = values.pop().expect("a summary line");
    assert!(values.iter().all(|v| v.get("summary").is_none()), "one summary, last");
    (values, summary["summary"].clone())
}

fn input<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} in {summary}"))
}

#[test]
fn every_line_is_read_once_through_100_rotations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let logs = Arc::new(Mutex::new(Logs::open(&dir)));
    // A few lines before ngx502 starts: --from-start must read them.
    for n in 1..=10 {
        logs.lock().unwrap().write(n);
    }
    let (mut child, output) = live(&dir, &["--from-start"]);
    let pid = child.id();
    wait_caught_up(pid, &dir.join("access.log"));
    wait_caught_up(pid, &dir.join("error.log"));

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (logs, done) = (Arc::clone(&logs), Arc::clone(&done));
        thread::spawn(move || {
            let mut n = 11;
            while !done.load(Ordering::Relaxed) {
                logs.lock().unwrap().write(n);
                n += 1;
                thread::sleep(Duration::from_micros(200));
            }
        })
    };
    for k in 1..=ROTATIONS {
        rotate(&logs, &dir, k);
        wait_reopened(&logs);
        wait_caught_up(pid, &dir.join("access.log"));
        wait_caught_up(pid, &dir.join("error.log"));
    }
    done.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    stop(&mut child);

    let written = logs.lock().unwrap().written.clone();
    let (rows, summary) = rows_and_summary(output.try_iter().map(|(_, l)| l).collect());
    assert!(written.access_lines > 200, "the writer wrote during the rotations: {written:?}");
    assert_eq!(input(&summary, "access.log")["lines"], written.access_lines);
    assert_eq!(input(&summary, "access.log")["parsed"], written.access_lines);
    assert_eq!(input(&summary, "error.log")["lines"], written.error_lines);
    assert_eq!(input(&summary, "error.log")["parsed"], written.error_lines);
    assert_eq!(summary["inputs"].as_array().unwrap().len(), 2, "rotated copies are not followed");
    assert_eq!(summary["requests"], written.access_lines);
    assert_eq!(summary["events"], written.failed_paths.len() as u64);
    assert_eq!(summary["unclaimed_error_lines"], 0);
    let by_cause: BTreeMap<String, u64> = serde_json::from_value(summary["by_cause"].clone()).unwrap();
    let expected: BTreeMap<String, u64> =
        written.by_cause.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect();
    assert_eq!(by_cause, expected);
    let mut printed: Vec<String> = rows.iter().map(|r| r["path"].as_str().unwrap().to_owned()).collect();
    let mut failed = written.failed_paths.clone();
    printed.sort();
    failed.sort();
    assert_eq!(printed, failed, "each failure printed exactly once");
}

#[test]
fn a_502_is_printed_within_a_second_of_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut logs = Logs::open(&dir);
    // Request 0 is a 502 with its error line: both files hold a line before ngx502 starts.
    logs.write(0);
    let (mut child, output) = live(&dir, &[]);
    wait_caught_up(child.id(), &dir.join("access.log"));
    wait_caught_up(child.id(), &dir.join("error.log"));
    let mut latencies = Vec::new();
    for n in 1..=20 {
        // Request 5n: a refused 502 with its error line.
        let written = Instant::now();
        logs.write(5 * n);
        let (printed, line) = output.recv_timeout(Duration::from_secs(5)).expect("the 502 is printed");
        let row: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(row["path"], format!("/r/{}", 5 * n));
        assert_eq!(row["cause"], "connect_refused");
        latencies.push(printed.duration_since(written));
    }
    stop(&mut child);
    latencies.sort();
    eprintln!(
        "write → printed: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(1), "{latencies:?}");
}
