//! Golden snapshots of the text, Markdown and HTML reports on `sample-logs/`, so that any change
//! in what a person reads shows in review as a diff of `tests/it/snapshots/*.snap`.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test it -- snapshots::`, then
//! read the new `.snap` files before committing them.

use std::process::Command;

/// `ngx502 report --output FORMAT sample-logs/`, run from the repository root so the input
/// paths in the report are the same on every machine.
fn report(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["report", "-q", "--color", "never", "--output", format, "sample-logs/"])
        .output()
        .expect("running ngx502");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("reports are UTF-8")
}

#[test]
fn text_report_of_the_sample_logs() {
    insta::assert_snapshot!(report("text"));
}

#[test]
fn markdown_report_of_the_sample_logs() {
    insta::assert_snapshot!(report("markdown"));
}

#[test]
fn html_report_of_the_sample_logs() {
    insta::assert_snapshot!(report("html"));
}
