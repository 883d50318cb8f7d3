//! `--state`: a cron-style loop over rotating logs counts every request exactly once, and its
//! diagnoses add up to those of one run over everything.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::accounting::{check_report, checked};

/// When the logs start: now, so the wall clock does not settle their waiting lines (a line is
/// settled once the clock is past its time plus the join's wait; see `old_logs_…` for that).
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| chrono::Utc::now().timestamp())
}

/// What one request wrote: its access line, its error line if any, and the cause it must get.
struct Request {
    access: String,
    error: Option<String>,
    status: u16,
    cause: Option<&'static str>,
}

/// Request `i` at `t0() + 2i` seconds: every tenth a refused connect (502 + error line), every
/// tenth-plus-four a read timeout (504 + error line), some 502s the backend itself sent (no
/// error line), the rest 200s.
fn request(i: u64) -> Request {
    let time = chrono::DateTime::from_timestamp(t0() + 2 * i as i64, 0).unwrap();
    let client = format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256);
    let path = format!("/r/{i}");
    let (status, message, cause) = match i % 10 {
        3 => (
            502,
            Some("connect() failed (111: Connection refused) while connecting to upstream"),
            "connect_refused",
        ),
        7 => (
            504,
            Some(
                "upstream timed out (110: Connection timed out) while reading response header from upstream",
            ),
            "read_timeout",
        ),
        5 if i.is_multiple_of(3) => (502, None, "unattributed"),
        _ => (200, None, ""),
    };
    let access = format!(
        "{client} - - [{}] \"GET {path} HTTP/1.1\" {status} 12 \"-\" \"curl/8\"\n",
        time.format("%d/%b/%Y:%H:%M:%S +0000")
    );
    let error = message.map(|m| {
        format!(
            "{} [error] 11#11: *{i} {m}, client: {client}, server: x, request: \"GET {path} HTTP/1.1\", upstream: \"http://10.0.0.1:8080{path}\", host: \"x\"\n",
            time.format("%Y/%m/%d %H:%M:%S")
        )
    });
    Request { access, error, status, cause: (status != 200).then_some(cause) }
}

/// Requests `from..to` as (access text, error text).
fn batch(from: u64, to: u64) -> (String, String) {
    let requests: Vec<Request> = (from..to).map(request).collect();
    let access = requests.iter().map(|r| r.access.as_str()).collect();
    let error = requests.iter().filter_map(|r| r.error.as_deref()).collect();
    (access, error)
}

/// The counts a report gives, in a form that adds up across runs.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<String, u64>,
    causes: BTreeMap<String, u64>,
    upstream_causes: BTreeMap<(String, String), u64>,
    failures: u64,
    unmatched_error_lines: u64,
    /// Error lines claimed by a request, and read for good (not waiting for the next run): a
    /// line carried over is read again by the next run, claimed by one of them only.
    error_lines_claimed: u64,
    error_lines_settled: u64,
}

impl Tally {
    fn add(&mut self, report: &Value) {
        let n = |v: &Value| v.as_u64().unwrap();
        self.requests += n(&report["totals"]["requests"]);
        self.failures += n(&report["totals"]["failures"]);
        self.unmatched_error_lines += n(&report["unmatched_error_lines"]);
        self.error_lines_claimed += n(&report["error_lines"]["claimed"]);
        self.error_lines_settled += n(&report["error_lines"]["read"]) - n(&report["error_lines"]["waiting"]);
        for (status, count) in report["totals"]["by_status"].as_object().unwrap() {
            *self.by_status.entry(status.clone()).or_default() += n(count);
        }
        for row in report["causes"].as_array().unwrap() {
            *self.causes.entry(row["cause"].as_str().unwrap().into()).or_default() += n(&row["count"]);
        }
        for row in report["upstreams"].as_array().unwrap() {
            for (cause, count) in row["errors_by_cause"].as_object().unwrap() {
                let key = (row["upstream"].as_str().unwrap().to_owned(), cause.clone());
                *self.upstream_causes.entry(key).or_default() += n(count);
            }
        }
    }

    /// What requests `0..to` must add up to.
    fn truth(to: u64) -> Tally {
        let mut t = Tally::default();
        for r in (0..to).map(request) {
            t.requests += 1;
            t.error_lines_claimed += u64::from(r.error.is_some());
            t.error_lines_settled += u64::from(r.error.is_some());
            *t.by_status.entry(r.status.to_string()).or_default() += 1;
            if let Some(cause) = r.cause {
                t.failures += 1;
                *t.causes.entry(cause.into()).or_default() += 1;
                let upstream = if r.error.is_some() {
                    "10.0.0.1:8080"
                } else {
                    ngx502::report::schema::UNKNOWN_UPSTREAM
                };
                *t.upstream_causes.entry((upstream.into(), cause.into())).or_default() += 1;
            }
        }
        t
    }
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let site = Site { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(site.logs()).unwrap();
        site
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs().join(name)
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("ngx502.state")
    }

    /// Appends requests `from..to` to `access.log` and `error.log`.
    fn append(&self, from: u64, to: u64) {
        let (access, error) = batch(from, to);
        append(&self.log("access.log"), &access);
        append(&self.log("error.log"), &error);
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ngx502"));
        cmd.arg("report").arg(self.logs()).arg("--state").arg(self.state());
        cmd.args(["--output", "json", "--quiet"]).args(extra);
        cmd
    }

    fn try_run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().unwrap()
    }

    /// One cron run: its report.
    fn run(&self) -> Value {
        let out = self.try_run(&[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        checked(&out.stdout)
    }
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn gzip(from: &Path, to: &Path) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&std::fs::read(from).unwrap()).unwrap();
    std::fs::write(to, encoder.finish().unwrap()).unwrap();
    std::fs::remove_file(from).unwrap();
}

/// Requests that move the logs' clock five minutes on, so the last run settles every join.
const QUIET: u64 = 150;

/// batch 1, run; batch 2, `rotate`, batch 3 into fresh files, run; `rotate` again (logrotate's
/// next day), the quiet end, run; then a run with nothing new. Returns the summed counts.
fn cron_over_rotations(rotate: impl Fn(&Site)) -> (Tally, u64) {
    let site = Site::new();
    let mut tally = Tally::default();
    site.append(0, 100);
    tally.add(&site.run());
    site.append(100, 160);
    rotate(&site);
    site.append(160, 230);
    tally.add(&site.run());
    rotate(&site);
    site.append(230, 230 + QUIET);
    tally.add(&site.run());
    let idle = site.run();
    assert_eq!(idle["totals"]["requests"], 0, "a run with nothing new counts nothing");
    assert_eq!(idle["totals"]["failures"], 0);
    (tally, 230 + QUIET)
}

fn rename(site: &Site, from: &str, to: &str) {
    std::fs::rename(site.log(from), site.log(to)).unwrap();
}

#[test]
fn rename_and_new_file_counts_every_request_once() {
    let (tally, written) = cron_over_rotations(|site| {
        for log in ["access.log", "error.log"] {
            if site.log(&format!("{log}.1")).exists() {
                rename(site, &format!("{log}.1"), &format!("{log}.2"));
            }
            rename(site, log, &format!("{log}.1"));
        }
    });
    assert_eq!(tally, Tally::truth(written));
}

#[test]
fn rename_then_gzip_of_the_rotated_file_counts_every_request_once() {
    // logrotate with compress + delaycompress: .1 becomes .2.gz at the next rotation.
    let (tally, written) = cron_over_rotations(|site| {
        for log in ["access.log", "error.log"] {
            if site.log(&format!("{log}.1")).exists() {
                gzip(&site.log(&format!("{log}.1")), &site.log(&format!("{log}.2.gz")));
            }
            rename(site, log, &format!("{log}.1"));
        }
    });
    assert_eq!(tally, Tally::truth(written));
}

#[test]
fn copytruncate_counts_every_request_once() {
    let (tally, written) = cron_over_rotations(|site| {
        for log in ["access.log", "error.log"] {
            if site.log(&format!("{log}.1")).exists() {
                rename(site, &format!("{log}.1"), &format!("{log}.2"));
            }
            std::fs::copy(site.log(log), site.log(&format!("{log}.1"))).unwrap();
            OpenOptions::new().write(true).open(site.log(log)).unwrap().set_len(0).unwrap();
        }
    });
    assert_eq!(tally, Tally::truth(written));
}

#[test]
fn a_log_replaced_under_the_same_name_is_read_from_its_start() {
    let site = Site::new();
    let mut tally = Tally::default();
    site.append(0, 100);
    tally.add(&site.run());
    // The old logs go (after being read); new ones, longer than the old, take their names.
    for log in ["access.log", "error.log"] {
        std::fs::remove_file(site.log(log)).unwrap();
    }
    site.append(100, 300);
    let report = site.run();
    assert_eq!(report["totals"]["requests"], 200, "the new access.log is read whole");
    tally.add(&report);
    site.append(300, 300 + QUIET);
    tally.add(&site.run());
    assert_eq!(tally, Tally::truth(300 + QUIET));
}

/// A small deterministic generator (SplitMix64), so a failure can be replayed.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Where `pieces - 1` cron runs cut requests `0..total`: random instants, the error log cut up
/// to three requests (six seconds) before or after the access log, as a run reads both logs
/// at nearly, not exactly, the same moment. Returns (access cuts, error cuts), each from 0 to
/// `total`, ascending.
fn cuts(total: u64, pieces: usize, rng: &mut Seeded) -> (Vec<u64>, Vec<u64>) {
    let mut access: Vec<u64> = (1..pieces).map(|_| rng.below(total as usize + 1) as u64).collect();
    access.sort_unstable();
    let mut error: Vec<u64> =
        access.iter().map(|&c| (c + rng.below(7) as u64).saturating_sub(3).min(total)).collect();
    error.sort_unstable();
    let whole = |mut v: Vec<u64>| {
        v.insert(0, 0);
        v.push(total);
        v
    };
    (whole(access), whole(error))
}

#[test]
fn runs_over_random_pieces_add_up_to_one_run_over_the_whole_log() {
    let total = 600 + QUIET;
    let (access, error) = batch(0, total);
    let whole = Site::new();
    append(&whole.log("access.log"), &access);
    append(&whole.log("error.log"), &error);
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .arg("report")
        .arg(whole.logs())
        .args(["--output", "json", "--quiet"])
        .output()
        .unwrap();
    let mut once = Tally::default();
    once.add(&serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(once, Tally::truth(total));

    for seed in [7, 1234, 99_999] {
        let mut rng = Seeded(seed);
        let (access_cuts, error_cuts) = cuts(total, 9, &mut rng);
        let site = Site::new();
        let mut summed = Tally::default();
        for run in 1..access_cuts.len() {
            let (access, _) = batch(access_cuts[run - 1], access_cuts[run]);
            let (_, error) = batch(error_cuts[run - 1], error_cuts[run]);
            append(&site.log("access.log"), &access);
            append(&site.log("error.log"), &error);
            summed.add(&site.run());
        }
        assert_eq!(summed, once, "seed {seed}");
    }
}

#[test]
fn a_502_whose_error_line_comes_in_the_next_run_is_diagnosed() {
    let site = Site::new();
    // Request 3 is a refused connect; its error line is not written yet at the first run.
    let (access, error) = batch(0, 4);
    append(&site.log("access.log"), &access);
    append(&site.log("error.log"), "");
    let first = site.run();
    assert_eq!(first["totals"]["requests"], 3, "the waiting 502 is counted by the run that diagnoses it");
    assert_eq!(first["totals"]["by_status"]["502"], serde_json::Value::Null);
    assert_eq!(first["causes"], serde_json::json!([]), "not diagnosed before its error line can be seen");
    append(&site.log("error.log"), &error);
    let second = site.run();
    assert_eq!(second["totals"]["requests"], 1);
    assert_eq!(second["totals"]["by_status"]["502"], 1);
    assert_eq!(second["totals"]["failures"], 1);
    assert_eq!(second["causes"][0]["cause"], "connect_refused");
    assert_eq!(second["causes"][0]["count"], 1);
    assert_eq!(second["unmatched_error_lines"], 0);
}

#[test]
fn an_error_line_read_before_its_502_joins_it_in_the_next_run() {
    let site = Site::new();
    let (access, error) = batch(0, 4);
    append(&site.log("access.log"), &access.lines().take(3).map(|l| format!("{l}\n")).collect::<String>());
    append(&site.log("error.log"), &error);
    let first = site.run();
    assert_eq!(first["unmatched_error_lines"], 0, "the error line waits instead of being called unmatched");
    let lines = |read, claimed, waiting| serde_json::json!({"read": read, "claimed": claimed, "unmatched": 0, "filtered": 0, "waiting": waiting, "context_claimed": 0});
    assert_eq!(first["error_lines"], lines(1, 0, 1));
    append(&site.log("access.log"), &access.lines().nth(3).map(|l| format!("{l}\n")).unwrap());
    let second = site.run();
    assert_eq!(second["totals"]["requests"], 1);
    assert_eq!(second["causes"][0]["cause"], "connect_refused");
    assert_eq!(second["causes"][0]["evidence"][0].as_str().unwrap(), error.trim_end());
    assert_eq!(second["error_lines"], lines(1, 1, 0), "the carried line is read again and claimed");
}

#[test]
fn line_numbers_stay_those_of_the_whole_log() {
    let site = Site::new();
    site.append(0, 10);
    site.run();
    // Request 15, the 16th line, is a 502 the backend sent itself: its evidence is its line.
    site.append(10, 16 + QUIET);
    let report = site.run();
    let unattributed =
        report["causes"].as_array().unwrap().iter().find(|c| c["cause"] == "unattributed").unwrap();
    assert_eq!(unattributed["evidence"][0], "502 GET /r/15 HTTP/1.1 (access log line 16, no error line)");
}

#[test]
fn two_logs_with_the_same_first_line_stay_apart() {
    let site = Site::new();
    let (first, _) = batch(0, 1);
    for vhost in ["a.access.log", "b.access.log"] {
        append(&site.log(vhost), &first);
    }
    assert_eq!(site.run()["totals"]["requests"], 2);
    let (more, _) = batch(1, 40);
    append(&site.log("a.access.log"), &more);
    let (other, _) = batch(40, 50);
    append(&site.log("b.access.log"), &other);
    let report = site.run();
    let lines: Vec<u64> =
        report["inputs"].as_array().unwrap().iter().map(|i| i["lines"].as_u64().unwrap()).collect();
    assert_eq!(lines, [39, 10], "neither is taken for a copy of the other");
}

/// Starts a run whose report goes to a FIFO nobody reads: it stops after reading, holding the
/// lock, before writing the report or the state.
fn stopped_before_output(site: &Site, fifo: &Path, extra: &[&str]) -> Child {
    let made = Command::new("mkfifo").arg(fifo).status().unwrap();
    assert!(made.success());
    let child = site
        .command(&[&["-o", fifo.to_str().unwrap()], extra].concat())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wchan = format!("/proc/{}/wchan", child.id());
    let start = Instant::now();
    while std::fs::read_to_string(&wchan).unwrap_or_default() != "wait_for_partner" {
        assert!(start.elapsed() < Duration::from_secs(30), "the run never reached its output");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_run_killed_before_writing_its_state_skips_nothing() {
    let site = Site::new();
    site.append(0, 50);
    site.run();
    let saved = std::fs::read(site.state()).unwrap();
    site.append(50, 120);
    let mut child = stopped_before_output(&site, &site.dir.path().join("report.fifo"), &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(site.state()).unwrap(), saved, "the state is as the last good run left it");
    let next = site.run();
    assert_eq!(next["totals"]["requests"], 70, "the killed run's lines are read again");
}

#[test]
fn a_second_run_on_the_same_state_fails_clearly_or_waits() {
    let site = Site::new();
    site.append(0, 50);
    let fifo = site.dir.path().join("report.fifo");
    let first = stopped_before_output(&site, &fifo, &[]);

    let second = site.try_run(&[]);
    assert_eq!(second.status.code(), Some(2));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(message.contains("another ngx502 run is using the state file"), "{message}");
    assert!(message.contains(&format!("(pid {})", first.id())), "{message}");
    assert!(message.contains("--wait-lock"), "{message}");
    assert!(second.stdout.is_empty());

    let waiting =
        site.command(&["--wait-lock"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let report: Value = serde_json::from_slice(&std::fs::read(&fifo).unwrap()).unwrap();
    assert_eq!(report["totals"]["requests"], 50);
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let waited = waiting.wait_with_output().unwrap();
    assert!(waited.status.success(), "{}", String::from_utf8_lossy(&waited.stderr));
    let report: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(report["totals"]["requests"], 0, "it ran after the first and found nothing new");
}

#[test]
fn a_corrupt_or_foreign_state_is_an_error_until_reset() {
    let site = Site::new();
    site.append(0, 30);
    site.run();
    let state = std::fs::read(site.state()).unwrap();
    for (bytes, says) in [
        (&state[..state.len() / 2], "is corrupt"),
        (&b"server { listen 80; }"[..], "is not an ngx502 state file"),
    ] {
        std::fs::write(site.state(), bytes).unwrap();
        let out = site.try_run(&[]);
        assert_eq!(out.status.code(), Some(2));
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains(says) && message.contains("--state-reset"), "{message}");
        assert!(out.stdout.is_empty(), "no report from an untrusted state");
        assert_eq!(std::fs::read(site.state()).unwrap(), bytes, "left for the user to look at");
    }
    // Counts a run never writes: each refused, naming the file and the way out, not a panic
    // or a wrapped count.
    let written: Value = serde_json::from_slice(&state).unwrap();
    type Edit = fn(&mut Value);
    let edits: [(Edit, &str); 6] = [
        (|s| s["logs"][0]["read"]["bytes"] = (-1).into(), "is corrupt"),
        (
            |s| s["logs"][0]["read"]["lines"] = u64::MAX.into(),
            "holds impossible counts (log 0: 18446744073709551615 lines read in",
        ),
        (|s| s["runs"] = u64::MAX.into(), "holds impossible counts (18446744073709551615 runs)"),
        (|s| s["access_until"] = i64::MAX.into(), "holds impossible counts (access logs read until"),
        (
            |s| s["logs"][0]["last_run"] = 99.into(),
            "holds impossible counts (log 0 last seen in run 99 of 1)",
        ),
        // More read of a file than it holds, though it is the same file, unchanged: reading it
        // again from its start would count its lines twice.
        (
            |s| {
                let len = s["logs"][0]["file"]["len"].as_u64().unwrap();
                s["logs"][0]["read"]["bytes"] = (len + 10).into();
            },
            "bytes and is unchanged since",
        ),
    ];
    for (edit, says) in edits {
        let mut bad = written.clone();
        edit(&mut bad);
        std::fs::write(site.state(), bad.to_string()).unwrap();
        let out = site.try_run(&[]);
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(message.contains(&site.state().display().to_string()) && message.contains("--state-reset"));
        assert!(out.stdout.is_empty() && !message.contains("panicked"), "{message}");
    }
    let out = site.try_run(&["--state-reset"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["requests"], 30, "a reset reads everything again");
    assert_eq!(site.run()["totals"]["requests"], 0, "and records it");
}

#[test]
fn stdin_cannot_be_resumed() {
    let site = Site::new();
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "-", "--state"])
        .arg(site.state())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state cannot follow stdin"));
    assert!(!site.state().exists());
}

#[test]
fn runs_over_unchanged_logs_report_nothing_new_and_raise_no_alert() {
    let site = Site::new();
    site.append(0, 8);
    let first = site.run();
    for _ in 0..2 {
        let out = site.try_run(&["--fail-on", "rate_502>1%", "--fail-on", "failures>0"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let again: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(again["totals"]["requests"], 0);
        assert_eq!(again["totals"]["failures"], 0);
        assert_eq!(again["totals"]["access_logs"], true, "the access log is known, it just has no new line");
        assert_eq!(again["causes"], serde_json::json!([]));
    }
    let failures = first["totals"]["failures"].as_u64().unwrap();
    let five_xx: u64 = first["totals"]["by_status"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(s, _)| s.starts_with('5'))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(failures <= five_xx, "a run's failures are among its requests: {failures} > {five_xx}");
}

/// The real-nginx sample logs of a finished day (yesterday's rotation): with `--state`, the
/// first run counts every failure the plain report does, and later runs find nothing waiting.
#[test]
fn old_logs_are_settled_by_their_first_run() {
    let site = Site::new();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    for name in ["access.log", "error.log"] {
        std::fs::copy(samples.join(name), site.log(name)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .arg("report")
        .arg(site.logs())
        .args(["--output", "json", "--quiet"])
        .output()
        .unwrap();
    let plain: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = site.run();
    check_report(&first);
    assert_eq!(first["totals"], plain["totals"], "nothing waits for lines old logs cannot bring");
    assert_eq!(first["causes"], plain["causes"]);
    assert_eq!(first["unmatched_error_lines"], plain["unmatched_error_lines"]);
    for _ in 0..2 {
        let again = site.run();
        assert_eq!(again["totals"]["requests"], 0);
        assert_eq!(again["totals"]["failures"], 0);
    }
}

/// A 502 at the very end of the logs waits for its error line; when the next run finds the
/// logs unchanged (nothing written since), it is settled and counted, and the report says so.
#[test]
fn a_run_that_finds_nothing_new_settles_what_waited() {
    let site = Site::new();
    // Request 15, the last, is a 502 the backend sent (no error line will come).
    site.append(0, 16);
    let first = site.run();
    check_report(&first);
    let failures = first["totals"]["failures"].as_u64().unwrap();
    assert_eq!(failures, 3, "the 502 at the end waits: {:#}", first["totals"]);
    let second = site.run();
    check_report(&second);
    assert_eq!(failures + second["totals"]["failures"].as_u64().unwrap(), 4, "{:#}", second["totals"]);
    assert_eq!(second["totals"]["failures"], 1);
    assert_eq!(second["causes"][0]["cause"], "unattributed");
    let advice = second["advice"].as_array().unwrap();
    assert!(
        advice.iter().any(|a| *a == serde_json::json!({"kind": "settled_without_error_line", "requests": 1})),
        "{advice:?}"
    );
    let third = site.run();
    assert_eq!(third["totals"]["failures"], 0, "settled once");
}

/// A 502 waiting at the end of a log that is then rotated away and compressed is settled by
/// the next run, although the new files grow.
#[test]
fn a_log_rotated_and_compressed_settles_what_waited_from_it() {
    let site = Site::new();
    site.append(0, 16);
    assert_eq!(site.run()["totals"]["failures"], 3, "the last 502 waits");
    for log in ["access.log", "error.log"] {
        rename(&site, log, &format!("{log}.1"));
        gzip(&site.log(&format!("{log}.1")), &site.log(&format!("{log}.1.gz")));
    }
    // The new files start with requests well inside the wait of the old 502.
    site.append(16, 17);
    let next = site.run();
    check_report(&next);
    assert_eq!(next["totals"]["failures"], 1, "{:#}", next["totals"]);
    assert_eq!(next["causes"][0]["cause"], "unattributed");
}

/// Runs at random cut points, each followed by a random rotation of both logs (none, rename +
/// create, copytruncate, or rename + gzip), add up to one run over the whole log once the logs
/// stop growing. nginx reopens both logs at one instant, so a rotation cuts them at the same
/// request (an error line is written before its access line, never after).
#[test]
fn runs_across_random_rotations_add_up_to_one_run_over_the_whole_log() {
    let total = 300 + QUIET;
    let whole = Site::new();
    let (access, error) = batch(0, total);
    append(&whole.log("access.log"), &access);
    append(&whole.log("error.log"), &error);
    let once = whole.run();
    let mut expected = Tally::default();
    expected.add(&once);
    assert_eq!(expected, Tally::truth(total));

    for seed in [3, 2024, 77_777] {
        let mut rng = Seeded(seed);
        let mut cuts: Vec<u64> = (0..5).map(|_| 1 + rng.below(total as usize - 1) as u64).collect();
        cuts.extend([0, total]);
        cuts.sort_unstable();
        cuts.dedup();
        let site = Site::new();
        let mut summed = Tally::default();
        let mut kinds = Vec::new();
        for run in 1..cuts.len() {
            site.append(cuts[run - 1], cuts[run]);
            summed.add(&site.run());
            let kind = rng.below(4);
            kinds.push(kind);
            for log in ["access.log", "error.log"] {
                let old = format!("{log}.{run}");
                match kind {
                    1 => rename(&site, log, &old),
                    2 => {
                        std::fs::copy(site.log(log), site.log(&old)).unwrap();
                        OpenOptions::new().write(true).open(site.log(log)).unwrap().set_len(0).unwrap();
                    }
                    3 => {
                        rename(&site, log, &old);
                        gzip(&site.log(&old), &site.log(&format!("{old}.gz")));
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(summed, expected, "seed {seed}, cuts {cuts:?}, rotations {kinds:?}");
    }
}

/// `kubectl logs --prefix` of two pods, one file: an error line carried to the next run keeps its
/// pod, so another pod's 502 for the same client and request cannot claim it.
#[test]
fn a_carried_error_line_joins_only_its_own_pods_502() {
    let site = Site::new();
    let time = |s: i64| chrono::DateTime::from_timestamp(t0() + s, 0).unwrap();
    let access = |pod: &str, s: i64, status: u16| {
        format!(
            "[pod/{pod}/nginx] 10.9.9.9 - - [{}] \"GET /cart HTTP/1.1\" {status} 12 \"-\" \"curl/8\"\n",
            time(s).format("%d/%b/%Y:%H:%M:%S +0000")
        )
    };
    let refused = format!(
        "[pod/web-a/nginx] {} [error] 11#11: *3 connect() failed (111: Connection refused) while connecting to upstream, client: 10.9.9.9, server: x, request: \"GET /cart HTTP/1.1\", upstream: \"http://10.0.0.1:8080/cart\", host: \"x\"\n",
        time(1).format("%Y/%m/%d %H:%M:%S")
    );
    let pods = site.log("pods.log");
    append(&pods, &(access("web-a", 0, 200) + &access("web-b", 0, 200) + &refused));
    let first = site.run();
    assert_eq!(first["error_lines"]["waiting"], 1, "{first:#}");

    append(&pods, &access("web-b", 1, 502));
    let second = site.run();
    assert_eq!(second["totals"]["failures"], 0, "web-b's 502 is not web-a's refused connect: {second:#}");
    assert_eq!(second["error_lines"]["claimed"], 0);

    append(&pods, &access("web-a", 1, 502));
    let third = site.run();
    assert_eq!(third["causes"][0]["cause"], "connect_refused", "{third:#}");
    assert_eq!(third["causes"][0]["count"], 1);
    assert_eq!(third["error_lines"]["claimed"], 1);
}
