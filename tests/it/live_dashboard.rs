//! The `live` dashboard in a real terminal (tmux) in front of a real nginx whose backend refuses
//! connections: the failing upstream and its cause must be on screen within one second of the
//! requests' completion; the screen follows a resize; the process sleeps when nothing arrives
//! (CPU ticks from /proc over 3 s); `q`, SIGTERM and SIGINT give the terminal back and print
//! the summary.
//!
//! tmux runs on a private socket in the test's directory, so it never touches a user's session.
//! Skipped with a `SKIPPED` message without nginx, tzdata or tmux, except with `CI=true`.

use crate::support::lab::{self, Lab};
use crate::support::nginx::in_ci;

use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const PATIENCE: Duration = Duration::from_secs(10);

/// A tmux server of the test's own.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self, session: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", session])
    }

    /// Starts `command` in a new `session` of 100×30 and waits for the dashboard to show.
    fn start(&self, session: &str, command: &str) {
        self.run(&["-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command]);
        self.wait_for(session, "the dashboard", |s| {
            s.contains("following 2: access.upstream.log, error.log")
        });
    }

    /// Waits until the screen of `session` satisfies `done`; returns it and when it first did.
    fn wait_for(&self, session: &str, what: &str, done: impl Fn(&str) -> bool) -> (String, SystemTime) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen(session);
            if done(&screen) {
                return (screen, SystemTime::now());
            }
            assert!(Instant::now() < deadline, "{what} not on screen within {PATIENCE:?}:\n{screen}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}

/// CPU ticks (user + system) of `pid` so far.
fn ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Waits for ngx502 in `session` to exit 0 with its summary on the restored terminal.
fn stopped(tmux: &Tmux, session: &str, failures: usize) {
    let (screen, _) = tmux.wait_for(session, "the summary", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{session}:\n{screen}");
    assert!(
        screen.contains(&format!("ngx502 live: {failures} client-facing failures in {failures} requests")),
        "{session}: the summary on the restored terminal:\n{screen}"
    );
    assert!(!screen.contains("q quit  p pause"), "{session}: the alternate screen is gone:\n{screen}");
}

/// The pid of the pane's ngx502: the only child of the pane's shell.
fn ngx502_pid(tmux: &Tmux, session: &str) -> u32 {
    let shell: u32 =
        tmux.run(&["display-message", "-p", "-t", session, "#{pane_pid}"]).trim().parse().unwrap();
    let children = fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("ngx502 runs in the pane")
}

#[test]
fn dashboard_shows_the_failing_upstream_and_cause_within_a_second() {
    let test = "dashboard_shows_the_failing_upstream_and_cause_within_a_second";
    let Some(bin) = lab::prerequisites(test) else {
        return;
    };
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(!in_ci(), "{test}: tmux is not installed; CI=true, so this is a failure");
        eprintln!("SKIPPED {test}: tmux is not installed");
        return;
    }
    let tmp = tempfile::Builder::new().prefix("ngx502-dash.").tempdir_in("/tmp").expect("temp dir");
    let dir = tmp.path();
    let lab = Arc::new(Lab::start(&bin, dir, "error"));
    let (access, error) = (dir.join("access.upstream.log"), dir.join("error.log"));
    let tmux = Tmux { socket: dir.join("tmux.sock").display().to_string() };
    let command = format!(
        "{} live --join-wait 5 --access {} --error {}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_ngx502"),
        access.display(),
        error.display()
    );
    tmux.start("live", &command);
    let pid = ngx502_pid(&tmux, "live");

    let sent = lab.fire_only(&["refused"], 1);
    let finished = sent.iter().map(|s| s.finished).max().expect("requests sent");
    let refused = lab.scenario("refused").upstream.clone().unwrap();
    let row = |s: &str| s.lines().any(|l| l.starts_with(&refused) && l.contains("connect_refused"));
    let listed = |s: &str| s.lines().any(|l| l.contains("502 connect_refused") && l.contains(&refused));
    let (screen, seen) =
        tmux.wait_for("live", "the refused upstream with its cause", |s| row(s) && listed(s));
    let delay = seen.duration_since(finished).unwrap_or_default();
    eprintln!("live_dashboard: last request completed → upstream and cause on screen: {delay:.0?}");
    assert!(delay < Duration::from_secs(1), "{delay:?} from the requests to the screen:\n{screen}");
    let failures = sent.len();
    assert!(
        screen.contains(&format!("latest failures ({failures} shown of {failures} since start)")),
        "every refused request listed:\n{screen}"
    );
    assert!(
        screen.contains("↳") && screen.contains("connect() failed (111: Connection refused)"),
        "{screen}"
    );

    // Nothing arrives: the process sleeps (a redraw a second, a key poll every 250 ms).
    let before = ticks(pid);
    thread::sleep(Duration::from_secs(3));
    let idle = ticks(pid) - before;
    eprintln!("live_dashboard: idle CPU {idle} ticks in 3 s");
    assert!(idle <= 15, "{idle} ticks of CPU in 3 s without input");

    tmux.run(&["resize-window", "-t", "live", "-x", "80", "-y", "24"]);
    let (screen, _) = tmux.wait_for("live", "the screen at 80 columns", |s| {
        s.lines().any(|l| l.starts_with("upstream") && l.trim_end().ends_with("last"))
    });
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");

    tmux.run(&["send-keys", "-t", "live", "q"]);
    stopped(&tmux, "live", failures);

    // SIGTERM and SIGINT from outside restore the terminal the same way.
    for signal in ["TERM", "INT"] {
        tmux.start(signal, &command);
        let pid = ngx502_pid(&tmux, signal).to_string();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid]).status().expect("kill");
        assert!(status.success());
        stopped(&tmux, signal, 0);
    }
    let mut lab = Arc::try_unwrap(lab).ok().expect("lab still shared");
    lab.stop();
}
