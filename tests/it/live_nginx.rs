//! `ngx502 live` against a real nginx, through a logrotate-style rotation.
//!
//! The harness (tests/it/support/) starts faulty backends on loopback and a private nginx; the test
//! follows nginx's `upstream`-format access log and its error log with the built binary
//! (`--output ndjson --from-start`) while refused (502), timed-out (504, `proxy_read_timeout 1s`)
//! and healthy requests flow, in five phases:
//!
//! 1. before the rotation;
//! 2. after the logs were renamed: nginx still writes to the renamed files, which the follower
//!    must go on reading while the paths name nothing;
//! 3. after logrotate's `create` made new empty files under the old names, still before nginx
//!    reopened its logs: the follower reads the new files and goes on draining the renamed ones;
//! 4. across `nginx -s reopen`: timed-out requests are in flight (their backend holds them) while
//!    nginx reopens its logs, and other requests race with the reopen;
//! 5. after the reopen: nginx writes to the new files.
//!
//! Then ngx502 gets SIGTERM. Every failed request must be printed exactly once with its true
//! status, cause, upstream and error line, and nothing else; the summary must count exactly the
//! lines nginx wrote (the renamed files plus the new ones). The delay from a request's completion
//! to its event line is measured and printed.
//!
//! No sleep decides anything: each step waits, with a deadline, for the condition it needs.
//! Skipped with a `SKIPPED` message without nginx or tzdata, except with `CI=true`: then it fails.

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};
use support::lab::{self, Lab, Sent, ACCESS_LOGS};

/// The access log ngx502 follows: the `upstream` preset, so the join is on `$connection`.
const ACCESS: &str = "access.upstream.log";
const ERROR: &str = "error.log";
/// The suffix logrotate gives the first rotation.
const ROTATED: &str = ".1";
/// Longest wait for any one condition.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running `ngx502 live`: its stdout lines with the time each arrived, its stderr kept for
/// failure messages. Killed if the test fails before stopping it.
pub struct Live {
    child: Child,
    lines: Receiver<(SystemTime, String)>,
    received: Vec<(SystemTime, String)>,
    stderr: Arc<Mutex<String>>,
}

impl Live {
    fn start(paths: &[PathBuf]) -> Live {
        Live::start_with(paths, &[])
    }

    /// `ngx502 live --output ndjson --from-start --join-wait 5`, with `extra` arguments.
    pub fn start_with(paths: &[PathBuf], extra: &[&str]) -> Live {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ngx502"))
            .args(["live", "--output", "ndjson", "--from-start", "--join-wait", "5"])
            .args(extra)
            .args(paths)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ngx502 live");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send((SystemTime::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let kept = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                kept.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Live { child, lines, received: Vec::new(), stderr }
    }

    pub fn context(&self) -> String {
        let printed: Vec<&str> = self.received.iter().map(|(_, l)| l.as_str()).collect();
        format!("stdout so far:\n{}\nstderr:\n{}", printed.join("\n"), self.stderr.lock().unwrap())
    }

    /// Waits until ngx502 has each of `paths` (as they are now) open.
    pub fn wait_open(&self, paths: &[PathBuf]) {
        let deadline = Instant::now() + PATIENCE;
        let inodes: Vec<(u64, u64)> = paths
            .iter()
            .map(|p| fs::metadata(p).map(|m| (m.dev(), m.ino())).unwrap_or_else(|e| panic!("{p:?}: {e}")))
            .collect();
        loop {
            let open: Vec<(u64, u64)> = fs::read_dir(format!("/proc/{}/fd", self.child.id()))
                .map(|fds| {
                    fds.filter_map(Result::ok)
                        .filter_map(|fd| fs::metadata(fd.path()).ok())
                        .map(|m| (m.dev(), m.ino()))
                        .collect()
                })
                .unwrap_or_default();
            if inodes.iter().all(|i| open.contains(i)) {
                return;
            }
            assert!(Instant::now() < deadline, "ngx502 did not open {paths:?}\n{}", self.context());
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until ngx502 has printed `n` event lines in all.
    pub fn wait_events(&mut self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.received.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.received.push(line),
                Err(e) => panic!(
                    "ngx502 printed {} events, {n} expected, within {PATIENCE:?} ({e})\n{}",
                    self.received.len(),
                    self.context()
                ),
            }
        }
    }

    /// SIGTERM; ngx502 must exit 0 after its summary. Returns every line it printed.
    pub fn stop(mut self) -> Vec<(SystemTime, String)> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + PATIENCE;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "ngx502 did not exit on SIGTERM\n{}", self.context());
            thread::sleep(Duration::from_millis(10));
        };
        // The reader ends at EOF; the wait is bounded in case a grandchild held the pipe.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.received.push(line);
        }
        assert!(exit.success(), "ngx502 live exited with {exit} on SIGTERM\n{}", self.context());
        std::mem::take(&mut self.received)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines nginx has written to `path` so far.
pub fn line_count(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn failures(sent: &[Sent]) -> usize {
    sent.iter().filter(|s| s.cause.is_some()).count()
}

#[test]
fn live_names_every_failure_of_a_real_nginx_through_reopen() {
    let test = "live_names_every_failure_of_a_real_nginx_through_reopen";
    let Some(bin) = lab::prerequisites(test) else {
        return;
    };
    let began = Instant::now();
    let tmp = tempfile::Builder::new().prefix("ngx502-live.").tempdir_in("/tmp").expect("temp dir");
    let dir = tmp.path();
    let lab = Arc::new(Lab::start(&bin, dir, "error"));
    let (old_access, new_access) = (dir.join(format!("{ACCESS}{ROTATED}")), dir.join(ACCESS));
    let (old_error, new_error) = (dir.join(format!("{ERROR}{ROTATED}")), dir.join(ERROR));
    let followed = [new_access.clone(), new_error.clone()];
    let mut live = Live::start(&followed);
    live.wait_open(&followed);

    // Every log nginx writes is rotated, as logrotate's `/var/log/nginx/*.log` does.
    let logs: Vec<&str> = ACCESS_LOGS.iter().map(|(_, f)| *f).chain([ERROR]).collect();
    let mut phases: Vec<(&str, Vec<Sent>)> = Vec::new();

    phases.push(("before the rotation", lab.fire_only(&["refused", "timeout", "ok"], 1)));
    live.wait_events(phases.iter().map(|(_, s)| failures(s)).sum());

    lab.rename_logs(&logs, ROTATED);
    phases.push(("renamed", lab.fire_only(&["refused", "timeout"], 1)));
    live.wait_events(phases.iter().map(|(_, s)| failures(s)).sum());

    lab.create_logs(&logs);
    live.wait_open(&[old_access.clone(), old_error.clone(), new_access.clone(), new_error.clone()]);
    phases.push(("created, not reopened", lab.fire_only(&["refused", "timeout", "ok"], 1)));
    live.wait_events(phases.iter().map(|(_, s)| failures(s)).sum());
    let written_to_new = line_count(&new_access) + line_count(&new_error);
    assert_eq!(written_to_new, 0, "nginx wrote to the created files before it reopened its logs");

    let hanging = &lab.backends["timeout"];
    let held = hanging.accepted() + lab.scenario("timeout").per_batch;
    let across = {
        let lab = Arc::clone(&lab);
        thread::spawn(move || lab.fire_only(&["refused", "timeout", "ok"], 1))
    };
    let deadline = Instant::now() + PATIENCE;
    while hanging.accepted() < held {
        assert!(Instant::now() < deadline, "the timed-out requests did not reach their backend");
        thread::sleep(Duration::from_millis(5));
    }
    lab.reopen_logs(&logs);
    phases.push(("across the reopen", across.join().expect("traffic across the reopen")));
    live.wait_events(phases.iter().map(|(_, s)| failures(s)).sum());

    phases.push(("after the reopen", lab.fire_only(&["refused", "timeout"], 1)));
    live.wait_events(phases.iter().map(|(_, s)| failures(s)).sum());

    // The nginx side, independent of ngx502: the renamed files hold phases 1 to 3, the new ones
    // phase 5, and phase 4 is split between them; one access line per request, one error line per
    // failure.
    let sent: Vec<&Sent> = phases.iter().flat_map(|(_, s)| s).collect();
    let failed: Vec<&Sent> = sent.iter().copied().filter(|s| s.cause.is_some()).collect();
    let deadline = Instant::now() + PATIENCE;
    while line_count(&old_access) + line_count(&new_access) < sent.len() as u64 {
        assert!(Instant::now() < deadline, "nginx did not log every request");
        thread::sleep(Duration::from_millis(5));
    }
    let output = live.stop();
    let access_lines = line_count(&old_access) + line_count(&new_access);
    let error_lines = line_count(&old_error) + line_count(&new_error);
    assert_eq!(access_lines, sent.len() as u64, "one access line per request");
    assert_eq!(error_lines, failed.len() as u64, "one error line per failure");
    let phase = |i: usize| &phases[i].1;
    let (early, late) = (phase(0).len() + phase(1).len() + phase(2).len(), phase(4).len());
    assert!(line_count(&old_access) >= early as u64, "{old_access:?} holds phases 1 to 3");
    assert!(line_count(&new_access) >= late as u64, "{new_access:?} holds phase 5");
    let (early, late) = (failures(phase(0)) + failures(phase(1)) + failures(phase(2)), failures(phase(4)));
    assert!(line_count(&old_error) >= early as u64, "{old_error:?} holds phases 1 to 3");
    assert!(line_count(&new_error) >= late as u64, "{new_error:?} holds phase 5");
    let mut lab = Arc::try_unwrap(lab).ok().expect("lab still shared");
    lab.stop();

    let context = output.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n");
    let mut values: Vec<(SystemTime, Value)> = output
        .iter()
        .map(|(t, l)| (*t, serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))))
        .collect();
    let summary = values.pop().map(|(_, v)| v["summary"].clone()).unwrap_or_default();
    assert!(summary.is_object(), "the last line is the summary:\n{context}");
    assert!(values.iter().all(|(_, v)| v.get("summary").is_none()), "one summary, last:\n{context}");

    // Each failure once, with its truth; nothing else.
    let mut rows: BTreeMap<String, Vec<(SystemTime, &Value)>> = BTreeMap::new();
    for (t, v) in &values {
        let request = v["request"].as_str().unwrap_or_else(|| panic!("a row without request: {v}"));
        rows.entry(request.to_owned()).or_default().push((*t, v));
    }
    assert_eq!(values.len(), failed.len(), "one event per failed request, nothing else:\n{context}");
    let mut latencies: Vec<(&str, Duration)> = Vec::new();
    for (phase, batch) in &phases {
        for s in batch.iter().filter(|s| s.cause.is_some()) {
            let found = rows.get(&s.request_line()).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(found.len(), 1, "{} ({phase}) printed {} times:\n{context}", s.target, found.len());
            let (printed, row) = found[0];
            assert_eq!(row["status"], s.status, "{} status: {row}", s.target);
            assert_eq!(row["cause"], s.cause.unwrap(), "{} cause: {row}", s.target);
            assert_eq!(row["upstream"].as_str(), s.upstream.as_deref(), "{} upstream: {row}", s.target);
            assert_eq!(row["join"], "connection", "{} joined on $connection: {row}", s.target);
            let evidence = row["evidence"].as_array().map(Vec::as_slice).unwrap_or_default();
            assert!(
                evidence.len() == 1
                    && evidence[0].as_str().is_some_and(|e| e.contains(&format!("\"{}\"", s.request_line()))),
                "{}: its one error line as evidence: {row}",
                s.target
            );
            // nginx logs a request as it answers it, so the event may come before the client
            // thread notes the time it finished: that counts as no delay.
            latencies.push((phase, printed.duration_since(s.finished).unwrap_or_default()));
        }
    }

    // The summary counts what nginx wrote, rotated and new files together.
    let count = |f: &dyn Fn(&Sent) -> bool| sent.iter().filter(|s| f(s)).count() as u64;
    assert_eq!(summary["requests"], access_lines, "{summary}");
    assert_eq!(summary["events"], failed.len() as u64, "{summary}");
    assert_eq!(summary["by_status"]["502"], count(&|s| s.status == 502), "{summary}");
    assert_eq!(summary["by_status"]["504"], count(&|s| s.status == 504), "{summary}");
    assert_eq!(summary["by_status"].as_object().map(|o| o.len()), Some(2), "{summary}");
    assert_eq!(summary["by_cause"]["connect_refused"], count(&|s| s.cause == Some("connect_refused")));
    assert_eq!(summary["by_cause"]["read_timeout"], count(&|s| s.cause == Some("read_timeout")));
    assert_eq!(summary["by_cause"].as_object().map(|o| o.len()), Some(2), "{summary}");
    assert_eq!(summary["recovered_retries"], 0, "{summary}");
    assert_eq!(summary["unclaimed_error_lines"], 0, "{summary}");
    let inputs = summary["inputs"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(inputs.len(), 2, "the two paths followed: {summary}");
    for (name, kind, lines) in [(ACCESS, "access", access_lines), (ERROR, "error", error_lines)] {
        let input = inputs
            .iter()
            .find(|i| i["path"].as_str().is_some_and(|p| p.ends_with(&format!("/{name}"))))
            .unwrap_or_else(|| panic!("{name} in {summary}"));
        assert_eq!(input["kind"], kind, "{input}");
        assert_eq!(input["lines"], lines, "{name}: every line nginx wrote, read once: {input}");
        assert_eq!(input["parsed"], lines, "{input}");
        assert_eq!(input["malformed"], 0, "{input}");
    }

    latencies.sort_by_key(|(_, d)| *d);
    let median = latencies[latencies.len() / 2].1;
    let max = latencies[latencies.len() - 1].1;
    let by_phase: Vec<String> = phases
        .iter()
        .map(|(phase, _)| {
            let worst = latencies.iter().filter(|(p, _)| p == phase).map(|(_, d)| *d).max();
            format!("{phase}: max {}", worst.map_or_else(|| "-".to_owned(), |d| format!("{d:.1?}")))
        })
        .collect();
    eprintln!(
        "live_nginx: {} requests, {} failures; request completed → event printed: median {median:.1?}, \
         max {max:.1?} ({}); whole test {:.1?}",
        sent.len(),
        failed.len(),
        by_phase.join(", "),
        began.elapsed()
    );
}
