//! Real nginx, its own nginx.conf: `report --nginx-conf` cites for each cause the directive that
//! applied to the failing requests, at the line the harness wrote it — `proxy_read_timeout 1s`
//! inherited from `http`, `proxy_buffer_size 4k` overridden in one `location`, the `upstream`
//! block whose `max_fails=1 fail_timeout=120s` emptied it, the literal target that refused, the
//! socket that does not exist — in JSON, text, Markdown and HTML.

use crate::support;

use serde_json::{json, Value};
use std::process::Command;
use std::sync::Arc;
use support::lab::{self, Lab, HOST, NOLIVE_BLOCK};

fn ngx502(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().expect("run ngx502");
    assert!(out.status.success(), "ngx502 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cause<'v>(report: &'v Value, slug: &str) -> &'v Value {
    report["causes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["cause"] == slug))
        .unwrap_or_else(|| panic!("no cause {slug} in {report:#}"))
}

/// The citation of `slug` for `location`.
fn citation<'v>(report: &'v Value, slug: &str, location: &str) -> &'v Value {
    let context = format!("server {HOST}, location {location}");
    cause(report, slug)["citations"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["context"] == context.as_str()))
        .unwrap_or_else(|| panic!("{slug}: no citation for {context} in {:#}", cause(report, slug)))
}

#[test]
fn every_cause_cites_the_directive_that_applied_at_its_line() {
    let Some(bin) = lab::prerequisites("every_cause_cites_the_directive_that_applied_at_its_line") else {
        return;
    };
    let tmp = tempfile::Builder::new().prefix("ngx502-cite.").tempdir_in("/tmp").expect("temp dir");
    let lab = Arc::new(Lab::start(&bin, tmp.path(), "error"));
    lab.fire_only(&["timeout", "bigheader", "nolive", "refused", "unixmissing"], 1);
    let mut lab = Arc::try_unwrap(lab).ok().expect("lab still shared");
    lab.stop();

    let conf = lab.conf_path().display().to_string();
    let access = tmp.path().join("access.upstream.log").display().to_string();
    let error = tmp.path().join("error.log").display().to_string();
    let run =
        |output: &str| ngx502(&["report", "--nginx-conf", &conf, "--output", output, "-q", &access, &error]);
    let report = crate::support::accounting::checked(run("json").as_bytes());
    let at = |text: &str| json!({"file": conf, "line": lab.conf_line(text)});

    // Inherited from http: the timeout and the failures that ended on it.
    let timeout = citation(&report, "read_timeout", "/timeout/");
    assert_eq!(timeout["at"], at("location /timeout/"));
    assert_eq!(timeout["failures"], 3);
    assert_eq!(
        timeout["applied"],
        json!([{"directive": "proxy_read_timeout", "value": "1s", "at": at("proxy_read_timeout 1s"), "level": "http"}])
    );
    let median = timeout["measured"]["median"].as_f64().unwrap_or_default();
    assert!((1.0..1.5).contains(&median), "failures end at the 1s timeout, not {median}");
    assert_eq!(timeout["measured"]["successes"], 0, "the backend never answers");
    assert_eq!(timeout["fix"], Value::Null, "no successful response: no value the logs support");

    // Overridden in the location: changed where it is written, not at http level.
    let big = citation(&report, "too_big_header", "/bigheader/");
    let buffer = at("proxy_buffer_size 4k");
    assert_eq!(
        big["applied"],
        json!([{"directive": "proxy_buffer_size", "value": "4k", "at": buffer, "level": "location"}])
    );
    assert_eq!(
        big["fix"],
        json!({"block": "location /bigheader/", "at": buffer, "directive": "proxy_buffer_size", "current": "4k", "value": "16k"})
    );

    // The upstream block and the server line whose max_fails/fail_timeout emptied it.
    let nolive = citation(&report, "no_live_upstreams", "/nolive/");
    let dead = at("max_fails=1 fail_timeout=120s");
    assert_eq!(nolive["upstream"]["name"], NOLIVE_BLOCK);
    assert_eq!(nolive["upstream"]["at"], at(&format!("upstream {NOLIVE_BLOCK}")));
    assert_eq!(nolive["upstream"]["servers"][0]["params"], json!(["max_fails=1", "fail_timeout=120s"]));
    assert_eq!(nolive["upstream"]["servers"][0]["at"], dead);
    assert_eq!(nolive["upstream"]["servers"][1]["params"], json!(["down"]));
    assert_eq!(nolive["fix"]["at"], dead);
    assert_eq!(nolive["fix"]["value"], "max_fails=1 fail_timeout=10s");

    // A literal target, and a socket as it is on this host now.
    let refused = citation(&report, "connect_refused", "/refused/");
    let refused_target = lab.scenario("refused").upstream.clone().unwrap_or_default();
    assert_eq!(refused["pass"]["value"], format!("http://{refused_target}"));
    assert_eq!(refused["pass"]["at"], at("location /refused/"));
    let socket = citation(&report, "unix_socket_missing", "/unixmissing/");
    let missing = tmp.path().join("sock/missing.sock").display().to_string();
    assert_eq!(socket["socket"], json!({"path": missing, "exists": false}));

    // The same citations in every human format, with the exact lines.
    let timeout_line =
        format!("= `proxy_read_timeout 1s` at {conf}:{} (from http)", lab.conf_line("proxy_read_timeout 1s"));
    let buffer_fix = format!(
        "at {conf}:{} in `location /bigheader/`, change `proxy_buffer_size 4k` to `proxy_buffer_size 16k`",
        lab.conf_line("proxy_buffer_size 4k")
    );
    let text = run("text");
    assert!(text.contains(&timeout_line), "text lacks {timeout_line:?}:\n{text}");
    assert!(text.contains(&buffer_fix), "text lacks {buffer_fix:?}:\n{text}");
    let markdown = run("markdown");
    assert!(markdown.contains(&timeout_line), "markdown lacks {timeout_line:?}:\n{markdown}");
    let html = run("html");
    let html_line =
        format!("<code>proxy_read_timeout 1s</code> at {conf}:{}", lab.conf_line("proxy_read_timeout 1s"));
    assert!(html.contains(&html_line), "html lacks {html_line:?}");
}
