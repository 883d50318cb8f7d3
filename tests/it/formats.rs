//! The formats people run, recognised with no flag: each built-in format's log, with the error
//! line nginx writes for its failed request, reports that request's upstream and cause with no
//! line left unread.

use std::path::Path;
use std::process::{Command, Output};

use ngx502::access::presets::{Preset, PRESETS};
use ngx502::access::{AccessFormat, AccessParser, Field, LogFormat};

use crate::support::accounting::checked;

fn ngx502(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().unwrap()
}

fn text(v: Option<&[u8]>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// The error line nginx writes for the failed request of `p.example`, and the upstream peer it
/// names (the last `$upstream_addr` entry when the format logs one).
fn error_line_for(p: &Preset) -> (String, String) {
    let format = AccessFormat::Template(LogFormat::preset(p.name).unwrap());
    let mut parser = AccessParser::new(&format);
    let r = parser.parse(p.example.as_bytes()).unwrap();
    let peer = text(r.get(Field::UpstreamAddr))
        .map(|a| a.rsplit(", ").next().unwrap().to_owned())
        .unwrap_or_else(|| "10.9.8.7:8080".to_owned());
    let stamp = r.time.unwrap();
    let local = chrono::DateTime::from_timestamp(stamp.utc + i64::from(stamp.offset), 0).unwrap();
    let message = match r.status {
        504 => "upstream timed out (110: Connection timed out) while reading response header from upstream",
        _ => "connect() failed (111: Connection refused) while connecting to upstream",
    };
    let request = text(r.get(Field::Request)).unwrap_or_else(|| {
        let (method, uri) = (r.get(Field::RequestMethod).unwrap(), r.get(Field::RequestUri).unwrap());
        format!("{} {} HTTP/1.1", text(Some(method)).unwrap(), text(Some(uri)).unwrap())
    });
    let line = format!(
        "{} [error] 31#31: *7 {message}, client: {}, server: example.com, request: \"{request}\", upstream: \"http://{peer}/\", host: \"{}\"\n",
        local.format("%Y/%m/%d %H:%M:%S"),
        text(r.client()).unwrap(),
        text(r.host()).unwrap_or_else(|| "example.com".into()),
    );
    (line, peer)
}

fn json_report(dir: &Path) -> serde_json::Value {
    let out = ngx502(&["report", "--output", "json", "-q", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    checked(&out.stdout)
}

#[test]
fn every_preset_is_recognised_and_names_its_upstreams() {
    for p in PRESETS {
        // Every line shape of the distribution: recognised, and read with none malformed.
        let all = tempfile::tempdir().unwrap();
        let text: String = p.lines().map(|l| format!("{l}\n")).collect();
        std::fs::write(all.path().join("access.log"), text).unwrap();
        let report = json_report(all.path());
        assert_eq!(report["inputs"][0]["format"], p.name, "{}", p.name);
        assert_eq!(report["inputs"][0]["malformed"], 0, "{}", p.name);
        assert_eq!(report["inputs"][0]["parsed"], p.lines().count(), "{}", p.name);

        // The failed request with its error line: its upstream and cause.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("access.log"), format!("{}\n", p.example)).unwrap();
        let (error_line, peer) = error_line_for(p);
        std::fs::write(dir.path().join("error.log"), &error_line).unwrap();
        let report = json_report(dir.path());
        let access = report["inputs"].as_array().unwrap().iter().find(|i| i["kind"] == "access").unwrap();
        assert_eq!(access["format"], p.name, "{}", p.name);
        assert_eq!(access["malformed"], 0, "{}", p.name);
        if p.example.contains("\" 30") || p.example.contains("] 30") {
            continue;
        }
        let upstreams: Vec<&str> =
            report["upstreams"].as_array().unwrap().iter().map(|u| u["upstream"].as_str().unwrap()).collect();
        assert!(upstreams.contains(&peer.as_str()), "{}: {upstreams:?} lacks {peer}", p.name);
        let causes: Vec<&str> =
            report["causes"].as_array().unwrap().iter().map(|c| c["cause"].as_str().unwrap()).collect();
        assert!(!causes.contains(&"unattributed"), "{}: {causes:?}", p.name);
    }
}

#[test]
fn a_format_that_explains_only_the_start_warns_with_what_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    // Tails of different shapes: no one format, inferred or built in, explains the lines whole.
    let line = r#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0" tenant=acme shard=7"#;
    let other =
        r#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0" 0.004 [x]"#;
    let log = dir.path().join("access.log");
    std::fs::write(&log, format!("{line}\n{other}\n")).unwrap();
    let out = ngx502(&["report", "--output", "json", log.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    assert!(stderr.contains("only the start of its lines matches the `combined` format"), "{stderr}");
    assert!(stderr.contains("e.g. ` tenant=acme shard=7`"), "{stderr}");
    assert!(stderr.contains(r#""$http_user_agent" tenant=$tenant shard=$shard'"#), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inputs"][0]["format"], "combined (start of line)");
    assert_eq!(report["inputs"][0]["malformed"], 0);
    assert_eq!(report["totals"]["by_status"]["502"], 2);

    let out = ngx502(&["check-format", "--log-format-name", "combined", log.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 of 2 lines match whole (0.0%)\n2 of 2 lines match only their start (100.0%)"),
        "{stdout}"
    );
    assert!(stdout.contains("unexplained text at the end at byte 86: "), "{stdout}");
    assert!(stdout.contains("\"curl/8.5.0\"⟦ tenant=acme shard=7"), "{stdout}");
}

#[test]
fn lines_no_preset_explains_are_read_with_the_inferred_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lines = [
        r#"2024-05-14T10:22:31+02:00 client=203.0.113.7 "GET /a HTTP/1.1" status=502 up="10.0.0.1:80, 10.0.0.2:80" ups="502, 502" rt=0.004 [Pool api]"#,
        r#"2024-05-14T10:22:32+02:00 client=203.0.113.8 "GET /b HTTP/1.1" status=200 up="10.0.0.1:80" ups="200" rt=0.001 [Pool api]"#,
    ];
    std::fs::write(&log, lines.join("\n")).unwrap();
    let template = r#"$time_iso8601 client=$remote_addr "$request" status=$status up="$upstream_addr" ups="$upstream_status" rt=$request_time [Pool $unknown_1]"#;

    let out = ngx502(&["check-format", "--infer", "-n", "1", log.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "log_format inferred '{template}';\n\nexplains 2 of 2 lines whole (100.0%)\n\nline 1:\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("  $upstream_addr            10.0.0.1:80, 10.0.0.2:80\n"), "{stdout}");

    let out = ngx502(&["report", "--output", "json", log.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("read with the log_format inferred from them (explains 2 of 2 sample lines): --log-format '{template}'")), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inputs"][0]["format"], "inferred");
    assert_eq!(report["inputs"][0]["malformed"], 0);
    let upstream =
        |addr: &str| report["upstreams"].as_array().unwrap().iter().find(|u| u["upstream"] == addr).cloned();
    assert_eq!(upstream("10.0.0.1:80").unwrap()["requests"], 2);
    assert_eq!(upstream("10.0.0.2:80").unwrap()["requests"], 1);
    assert_eq!(report["causes"][0]["cause"], "upstream_returned_502");
}

#[test]
fn check_format_lists_every_preset() {
    let out = ngx502(&["check-format", "--list"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for p in PRESETS {
        assert!(stdout.contains(&format!("log_format {} '{}';", p.name, p.template)), "{}", p.name);
    }
    let out = ngx502(&["report", "--log-format-name", "nope", "/dev/null"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ingress-nginx-0.25, ingress-nginx-0.15"));
}
