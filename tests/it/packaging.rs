//! The commands the Debian package schedules (the commented-out `/etc/cron.d/ngx502` line and the
//! systemd service's `ExecStart`) run as written, unescaped as cron and systemd unescape them, on
//! `sample-logs/` instead of /var/log/nginx/: each writes the hour's JSON report and a state, and
//! a second run reads nothing new. (`.ci/run` builds and installs the package itself.)

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `command` with `sh -c`, logs and state moved to `sample` and `state_dir`, the packaged
/// binary replaced by the one under test; returns the JSON reports written.
fn run_scheduled(command: &str, state_dir: &Path) -> Vec<serde_json::Value> {
    let bin = env!("CARGO_BIN_EXE_ngx502");
    let packaged = if command.contains("/usr/bin/ngx502") { "/usr/bin/ngx502" } else { "ngx502" };
    let command = command
        .replacen(packaged, bin, 1)
        .replace("/var/log/nginx/", &format!("{ROOT}/sample-logs/"))
        .replace("/var/lib/ngx502", state_dir.to_str().unwrap());
    assert!(command.contains(bin), "{command}");
    let out = Command::new("sh").args(["-c", &command]).output().expect("sh");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    let mut reports = Vec::new();
    for entry in std::fs::read_dir(state_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            reports.push(serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("JSON report"));
            std::fs::remove_file(&path).unwrap();
        }
    }
    reports
}

fn check_twice(command: &str) {
    let dir = tempfile::tempdir().unwrap();
    let first = run_scheduled(command, dir.path());
    assert_eq!(first.len(), 1, "one report per run");
    // The sample logs are old: nothing waits for lines they can no longer bring.
    assert_eq!(first[0]["totals"]["requests"], 264);
    assert_eq!(first[0]["totals"]["failures"], 156);
    assert!(dir.path().join("state").is_file(), "--state written");
    let second = run_scheduled(command, dir.path());
    // Nothing new; sample-logs/README.md, not a log, does not fail the run.
    assert_eq!(second[0]["totals"]["lines_read"], 0, "the next run reads only what is new");
    assert_eq!(second[0]["totals"]["requests"], 0);
    assert_eq!(second[0]["totals"]["access_logs"], true);
}

#[test]
fn the_cron_example_runs_once_uncommented() {
    let cron = std::fs::read_to_string(format!("{ROOT}/packaging/debian/cron.d-ngx502")).unwrap();
    let jobs: Vec<&str> = cron.lines().filter(|l| l.starts_with("#5 ")).collect();
    assert_eq!(jobs.len(), 1, "one commented-out job");
    assert!(cron.lines().all(|l| l.is_empty() || l.starts_with('#')), "nothing runs until uncommented");
    // minute hour day month weekday user command; cron turns `\%` into `%`.
    let mut rest = &jobs[0][1..];
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (field, after) = rest.split_once(char::is_whitespace).expect("six fields before the command");
        fields.push(field);
        rest = after.trim_start();
    }
    assert_eq!(fields, ["5", "*", "*", "*", "*", "root"]);
    check_twice(&rest.replace("\\%", "%"));
}

#[test]
fn the_systemd_service_runs() {
    let unit = std::fs::read_to_string(format!("{ROOT}/packaging/systemd/ngx502.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    // systemd turns `%%` into `%`; the command line is `/bin/sh -c '…'`.
    let inner = exec.strip_prefix("/bin/sh -c '").and_then(|s| s.strip_suffix('\'')).expect("sh -c '…'");
    check_twice(&inner.replace("%%", "%"));
    let timer = std::fs::read_to_string(format!("{ROOT}/packaging/systemd/ngx502.timer")).unwrap();
    assert!(timer.contains("\nOnCalendar=*-*-* *:05:00\n") && timer.contains("\nWantedBy=timers.target"));
}
