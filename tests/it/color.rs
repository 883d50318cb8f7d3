//! `--color auto|always|never` and `NO_COLOR`: colour on a terminal (a real pseudo-terminal from
//! `script`), never in pipes or files, and the same text once the escapes are taken out.

use std::process::{Command, Output};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-logs");
const ESC: char = '\x1b';

fn ngx502(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("running ngx502")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

/// `text` without the SGR escapes colour adds.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(ESC) {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('m').expect("an SGR sequence ends with m");
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// stdout of `ngx502 ARGS` run on a pseudo-terminal, with `NO_COLOR` set to `no_color` if given.
fn on_terminal(args: &str, no_color: Option<&str>) -> String {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_ngx502"));
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR");
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let out = script.output().expect("running script (bsdutils)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn always_paints_causes_statuses_and_headings() {
    let painted = stdout(&ngx502(&["report", SAMPLE, "-q", "--color", "always"]));
    assert!(painted.contains("  \x1b[31m009: 12\x1b[0m  \x1b[31m502: 126\x1b[0m  \x1b[31m504: 18\x1b[0m\n"));
    assert!(painted.contains("\n\x1b[1mCauses\x1b[0m\n"));
    assert!(painted.contains("\n  \x1b[1;36mconnect_refused\x1b[22;39m (19)\n"));
    // The global flag goes before the subcommand too.
    assert_eq!(stdout(&ngx502(&["--color", "always", "report", SAMPLE, "-q"])), painted);
    // Colour changes no character of the text: alignment is the same.
    let plain = stdout(&ngx502(&["report", SAMPLE, "-q"]));
    assert!(!plain.contains(ESC), "a pipe gets no colour by default");
    assert_eq!(strip(&painted), plain);
}

#[test]
fn files_and_other_formats_get_no_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.txt");
    let file_arg = file.to_str().unwrap();
    stdout(&ngx502(&["report", SAMPLE, "-q", "--color", "always", "-o", file_arg]));
    let written = std::fs::read_to_string(&file).expect("report file");
    assert!(written.starts_with("264 requests") && !written.contains(ESC));
    let json = stdout(&ngx502(&["report", SAMPLE, "-q", "--color", "always", "--output", "json"]));
    assert!(!json.contains(ESC));
    crate::support::accounting::checked(json.as_bytes());
}

#[test]
fn terminal_gets_colour_unless_no_color_or_never() {
    let report = format!("report {SAMPLE} -q");
    let auto = on_terminal(&report, None);
    assert!(auto.contains("\x1b[1;36mread_timeout\x1b[22;39m"), "auto on a terminal paints");
    assert!(!on_terminal(&report, Some("1")).contains(ESC), "NO_COLOR=1");
    assert!(on_terminal(&report, Some("")).contains(ESC), "an empty NO_COLOR does not count");
    assert!(!on_terminal(&format!("{report} --color never"), None).contains(ESC));
    assert!(
        on_terminal(&format!("{report} --color always"), Some("1")).contains(ESC),
        "an explicit flag wins"
    );
    let explain = on_terminal("explain read_timeout", None);
    assert!(explain.starts_with("\x1b[1m\x1b[1mread_timeout\x1b[22m\x1b[0m\n"), "{explain:?}");
}
