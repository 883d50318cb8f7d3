//! The restart that asks glibc for huge pages (`heap::restart_with_huge_pages`): it happens where
//! the kernel gives huge pages on request, not when `GLIBC_TUNABLES` decided already (the user's,
//! or the restart's own, which keeps it from happening twice), it keeps the user's other
//! tunables, and a run reads the same arguments, standard input and files either way.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TUNABLES: &str = "GLIBC_TUNABLES";

fn ngx502() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ngx502"))
}

/// Whether this kernel gives transparent huge pages to memory that asks for them (Ubuntu's
/// default): the case the restart is made for.
fn huge_pages_on_request() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|m| m.contains("[madvise]"))
}

/// The environment of process `pid` once it stops changing for a moment (the restart replaces it
/// within milliseconds of the start).
fn settled_environment(pid: u32) -> Vec<u8> {
    let read = || std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        if now == last && (!now.is_empty() || Instant::now() > deadline) {
            return now;
        }
        last = now;
    }
}

/// The environment a following run ends up with, when started with `tunables`, as the kernel
/// shows it: glibc splits `GLIBC_TUNABLES` in place as it reads it, so its settings appear as
/// separate strings.
fn environment_of_a_running_process(tunables: Option<&str>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"10.0.0.1 - - [14/May/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"\n")
        .unwrap();
    let mut cmd = ngx502();
    cmd.arg("live").arg(&log).stdout(Stdio::null()).stderr(Stdio::null());
    match tunables {
        Some(t) => cmd.env(TUNABLES, t),
        None => cmd.env_remove(TUNABLES),
    };
    let mut child = cmd.spawn().unwrap();
    let environment = settled_environment(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    environment
}

fn holds(environment: &[u8], text: &str) -> bool {
    environment.windows(text.len()).any(|w| w == text.as_bytes())
}

#[test]
fn a_run_restarts_once_with_huge_pages_where_the_kernel_gives_them_on_request() {
    let restarted = environment_of_a_running_process(None);
    assert_eq!(holds(&restarted, "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"), huge_pages_on_request());
    assert_eq!(holds(&restarted, "glibc.malloc.top_pad=16777216"), huge_pages_on_request());
    let users = environment_of_a_running_process(Some("glibc.malloc.arena_max=4"));
    assert!(holds(&users, "GLIBC_TUNABLES=glibc.malloc.arena_max=4"));
    assert_eq!(holds(&users, "glibc.malloc.hugetlb=1"), huge_pages_on_request());
    let declined = environment_of_a_running_process(Some("glibc.malloc.hugetlb=0"));
    assert!(holds(&declined, "GLIBC_TUNABLES=glibc.malloc.hugetlb=0"));
    assert!(!holds(&declined, "glibc.malloc.hugetlb=1") && !holds(&declined, "top_pad"));
}

#[test]
fn a_restarted_run_reads_the_same_arguments_input_and_files() {
    let dir = tempfile::tempdir().unwrap();
    // A name with a space and a byte that is not UTF-8, passed through the restart as given.
    let name = std::ffi::OsStr::from_bytes(b"access log \xff.log");
    let lines = "10.0.0.1 - - [14/May/2024:10:00:00 +0000] \"GET /a HTTP/1.1\" 502 5 \"-\" \"-\"\n\
                 10.0.0.2 - - [14/May/2024:10:00:01 +0000] \"GET /b HTTP/1.1\" 200 5 \"-\" \"-\"\n";
    std::fs::write(dir.path().join(name), lines).unwrap();
    let run = |tunables: Option<&str>, args: &[&std::ffi::OsStr], stdin: &[u8]| {
        let mut cmd = ngx502();
        cmd.args(["report", "-q", "--output", "json"]).args(args).current_dir(dir.path());
        match tunables {
            Some(t) => cmd.env(TUNABLES, t),
            None => cmd.env_remove(TUNABLES),
        };
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let file = run(None, &[name], b"");
    assert_eq!(file, run(Some("glibc.malloc.hugetlb=0"), &[name], b""));
    let report: serde_json::Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(report["totals"]["requests"], 2, "{report}");
    let piped = run(None, &[std::ffi::OsStr::new("-")], lines.as_bytes());
    assert_eq!(piped, run(Some("glibc.malloc.hugetlb=0"), &[std::ffi::OsStr::new("-")], lines.as_bytes()));
    let piped: serde_json::Value = serde_json::from_slice(&piped).unwrap();
    assert_eq!(piped["totals"]["requests"], 2, "{piped}");
}
