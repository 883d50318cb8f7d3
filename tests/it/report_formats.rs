//! `report --output markdown|prometheus|html` on a small log pair full of hostile strings: each
//! output is read back (Markdown table rows, a Prometheus exposition parser, the DOM a real
//! headless Chromium builds) and compared with what the logs hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SCRIPT_PATH: &str = "/<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";

/// An access log (the `upstream` preset, +0200) and its error log. Three client-facing
/// failures: a 502 `connect_refused` on .12 (path with a `<script>`, user agent and Host with an
/// `<img onerror>`, an ANSI clear-screen in the error line's Host), a 504 `read_timeout` and a
/// backend-sent 502 on .13 (path with `|` and backticks); one retry recovered from .12 to .13
/// (a hidden failure); one malformed line with markup and an ANSI colour. The access log's
/// file name holds a quote and a backslash, which the Prometheus `input` label must escape.
fn fixture() -> (TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let access_line = |ip: u8, ss: u8, path: &str, status: u16, cid: u32, addr: &str, us: &str, urt: &str| {
        format!(
            "203.0.113.{ip} - - [14/May/2024:10:00:{ss:02} +0200] \"GET {path} HTTP/1.1\" {status} 157 \"-\" \"{ua}\" host=\"{host}\" cid={cid} rt=0.010 ua=\"{addr}\" us=\"{us}\" urt=\"{urt}\" uct=\"-\" uht=\"-\"\n",
            ua = if cid == 101 { "\\x22><img src=x onerror=alert(1)>" } else { "curl/8.0" },
            host = if cid == 101 { "\\x22><img src=x onerror=alert(1)>" } else { "api" },
        )
    };
    let access = [
        access_line(1, 1, "/ok", 200, 100, "10.0.0.12:8080", "200", "0.010"),
        access_line(2, 2, SCRIPT_PATH, 502, 101, "10.0.0.12:8080", "502", "0.001"),
        access_line(3, 3, "/pipe|`tick`", 504, 102, "10.0.0.13:8080", "504", "60.000"),
        "garbage <script>alert(2)</script> \x1b[31mred\n".to_owned(),
        access_line(4, 4, "/retry", 200, 103, "10.0.0.12:8080, 10.0.0.13:8080", "502, 200", "0.000, 0.020"),
        access_line(5, 5, "/pipe|`tick`", 502, 104, "10.0.0.13:8080", "502", "0.030"),
        access_line(6, 6, "/ok", 200, 105, "10.0.0.13:8080", "200", "0.040"),
    ]
    .concat();
    let error_line = |ss: u8, cid: u32, msg: &str, path: &str, addr: &str, host: &str| {
        format!(
            "2024/05/14 10:00:{ss:02} [error] 2817#2817: *{cid} {msg}, client: 203.0.113.9, server: api, request: \"GET {path} HTTP/1.1\", upstream: \"http://{addr}{path}\", host: \"{host}\"\n"
        )
    };
    let refused = "connect() failed (111: Connection refused) while connecting to upstream";
    let error = [
        error_line(2, 101, refused, SCRIPT_PATH, "10.0.0.12:8080", &format!("{IMG}\x1b[2J")),
        error_line(
            3,
            102,
            "upstream timed out (110: Connection timed out) while reading response header from upstream",
            "/pipe|`tick`",
            "10.0.0.13:8080",
            "api",
        ),
        error_line(4, 103, refused, "/retry", "10.0.0.12:8080", "api"),
    ]
    .concat();
    let access_path = dir.path().join("acc\"e\\ss.log");
    let error_path = dir.path().join("error.log");
    std::fs::write(&access_path, access).expect("write access log");
    std::fs::write(&error_path, error).expect("write error log");
    (dir, access_path, error_path)
}

fn report(access: &Path, error: &Path, format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "-q", "--output", format])
        .arg(access)
        .arg(error)
        .output()
        .expect("run ngx502");
    assert!(out.status.success(), "ngx502 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The report every format renders balances: each line, failure and error line counted once.
#[test]
fn the_report_behind_the_formats_balances() {
    let (_dir, access, error) = fixture();
    let report = crate::support::accounting::checked(report(&access, &error, "json").as_bytes());
    let totals = &report["totals"];
    assert_eq!((totals["requests"].as_u64(), totals["failures"].as_u64()), (Some(6), Some(3)));
    assert_eq!((totals["lines_read"].as_u64(), totals["malformed_lines"].as_u64()), (Some(10), Some(1)));
    assert_eq!(report["unmatched_error_lines"], 0);
}

#[test]
fn markdown_tables_escape_log_text() {
    let (_dir, access, error) = fixture();
    let md = report(&access, &error, "markdown");
    let lines: Vec<&str> = md.lines().collect();
    let after = |heading: &str, n: usize| -> Vec<&str> {
        let at =
            lines.iter().position(|l| *l == heading).unwrap_or_else(|| panic!("no {heading:?} in\n{md}"));
        lines[at + 2..at + 2 + n].to_vec()
    };
    assert_eq!(lines[0], "# ngx502 report");
    assert_eq!(
        lines[2],
        "**6 requests** from 2024-05-14T10:00:01+02:00 to 2024-05-14T10:00:06+02:00: **3 failed with 5xx (50.0%)** — 502: 2, 504: 1."
    );
    let causes = after("## Causes", 5);
    assert_eq!(causes[0], "| cause | count | share | status | first thing to check |");
    assert_eq!(causes[1], "|---|--:|--:|---|---|");
    assert!(causes[2].starts_with("| `connect_refused` | 1 | 33.3% | 502 | "), "{}", causes[2]);
    assert!(causes[3].starts_with("| `read_timeout` | 1 | 33.3% | 504 | "), "{}", causes[3]);
    assert!(causes[4].starts_with("| `upstream_returned_502` | 1 | 33.3% | 502 | "), "{}", causes[4]);
    assert_eq!(
        after("## Upstreams", 4),
        [
            "| upstream | attempts | 502 | 504 | 5xx rate | hidden | p50 / p90 / p99 |",
            "|---|--:|--:|--:|--:|--:|--:|",
            "| 10.0.0.13:8080 | 4 | 1 | 1 | 50.0% | 0 | 40ms / 59.89s / 59.89s |",
            "| 10.0.0.12:8080 | 3 | 1 | 0 | 33.3% | 1 | 1ms / 10ms / 10ms |",
        ]
    );
    assert_eq!(
        after("## Top failing paths", 4),
        [
            "| path | failures | causes |",
            "|---|--:|---|",
            "| /pipe\\|\\`tick\\` | 2 | `read_timeout` 1, `upstream_returned_502` 1 |",
            "| /\\<script\\>alert(1)\\</script\\> | 1 | `connect_refused` 1 |",
        ]
    );
    assert!(!md.contains("## Incidents"), "one minute of six requests is no incident:\n{md}");
    // Every table row has exactly its columns: no `|` from a log opened a new cell.
    for row in lines.iter().filter(|l| l.starts_with("| /")) {
        assert_eq!(row.replace("\\|", "").matches('|').count(), 4, "{row}");
    }
}

/// One parsed sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `name{a="x",b="y"} value` strictly: label names valid, values quoted with only the
/// `\\`, `\"` and `\n` escapes, no trailing comma, nothing after the value.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let (series, value) = line.rsplit_once(' ').ok_or("no value")?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    let (name, mut rest) = match series.find('{') {
        Some(i) => (&series[..i], &series[i + 1..]),
        None => (series, ""),
    };
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    if series.contains('{') {
        rest = rest.strip_suffix('}').ok_or("no closing brace")?;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
            if !is_name(key) || key.starts_with("__") {
                return Err(format!("bad label name {key:?}"));
            }
            let mut val = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (_, '\\') => match chars.next().ok_or("dangling backslash")?.1 {
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        'n' => val.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (i, '"') => break i,
                    (_, '\n') => return Err("raw newline in label value".into()),
                    (_, c) => val.push(c),
                }
            };
            if labels.insert(key.to_owned(), val).is_some() {
                return Err(format!("label {key} twice"));
            }
            rest = &after[end + 1..];
            if let Some(more) = rest.strip_prefix(',') {
                if more.is_empty() {
                    return Err("trailing comma".into());
                }
                rest = more;
            } else if !rest.is_empty() {
                return Err(format!("junk after label value: {rest:?}"));
            }
        }
    }
    Ok((name.to_owned(), labels, value))
}

/// Checks the exposition's structure and returns its samples by `name{labels}` key.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut help: BTreeMap<String, usize> = BTreeMap::new();
    let mut kind: BTreeMap<String, String> = BTreeMap::new();
    let mut closed: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut samples = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap_or_else(|| panic!("line {n}: HELP without text"));
            assert!(!doc.trim().is_empty(), "line {n}: empty HELP");
            assert!(help.insert(name.to_owned(), n).is_none(), "line {n}: second HELP for {name}");
            if let Some(prev) = current.replace(name.to_owned()) {
                closed.push(prev);
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or_else(|| panic!("line {n}: TYPE without type"));
            assert_eq!(current.as_deref(), Some(name), "line {n}: TYPE not right after its HELP");
            assert!(matches!(t, "counter" | "gauge"), "line {n}: type {t}");
            assert!(kind.insert(name.to_owned(), t.to_owned()).is_none(), "line {n}: second TYPE");
        } else {
            let (name, labels, value) =
                parse_sample(line).unwrap_or_else(|e| panic!("line {n} {line:?}: {e}"));
            assert_eq!(current.as_deref(), Some(name.as_str()), "line {n}: sample outside its family");
            assert!(kind.contains_key(&name), "line {n}: sample before TYPE");
            assert!(!closed.contains(&name), "line {n}: family {name} reopened");
            if kind[&name] == "counter" {
                assert!(name.ends_with("_total") && value >= 0.0, "line {n}: bad counter");
            }
            let key = format!("{name}{labels:?}");
            assert!(samples.insert(key, value).is_none(), "line {n}: duplicate series");
        }
    }
    samples
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    format!("{name}{labels:?}")
}

#[test]
fn prometheus_parses_back_with_exact_values() {
    let (_dir, access, error) = fixture();
    let text = report(&access, &error, "prometheus");
    let samples = parse_exposition(&text);
    let access_name = access.to_str().expect("UTF-8 temp path");
    let error_name = error.to_str().expect("UTF-8 temp path");
    let (a, b) = ("10.0.0.12:8080", "10.0.0.13:8080");
    let expected: Vec<(String, f64)> = vec![
        (key("ngx502_responses_total", &[("status", "200")]), 3.0),
        (key("ngx502_responses_total", &[("status", "502"), ("upstream", a)]), 1.0),
        (key("ngx502_responses_total", &[("status", "502"), ("upstream", b)]), 1.0),
        (key("ngx502_responses_total", &[("status", "504"), ("upstream", b)]), 1.0),
        (key("ngx502_failures_total", &[("cause", "connect_refused"), ("upstream", a)]), 1.0),
        (key("ngx502_failures_total", &[("cause", "read_timeout"), ("upstream", b)]), 1.0),
        (key("ngx502_failures_total", &[("cause", "upstream_returned_502"), ("upstream", b)]), 1.0),
        (key("ngx502_upstream_attempts_total", &[("upstream", a)]), 3.0),
        (key("ngx502_upstream_attempts_total", &[("upstream", b)]), 4.0),
        (key("ngx502_upstream_hidden_failures_total", &[("upstream", a)]), 1.0),
        (key("ngx502_upstream_hidden_failures_total", &[("upstream", b)]), 0.0),
        (key("ngx502_failure_rate", &[("upstream", a)]), 1.0 / 3.0),
        (key("ngx502_failure_rate", &[("upstream", b)]), 0.5),
        (key("ngx502_lines_total", &[("input", access_name), ("result", "parsed")]), 6.0),
        (key("ngx502_lines_total", &[("input", access_name), ("result", "malformed")]), 1.0),
        (key("ngx502_lines_total", &[("input", access_name), ("result", "filtered")]), 0.0),
        (key("ngx502_lines_total", &[("input", access_name), ("result", "other")]), 0.0),
        (key("ngx502_lines_total", &[("input", error_name), ("result", "parsed")]), 3.0),
        (key("ngx502_lines_total", &[("input", error_name), ("result", "malformed")]), 0.0),
        (key("ngx502_lines_total", &[("input", error_name), ("result", "filtered")]), 0.0),
        (key("ngx502_lines_total", &[("input", error_name), ("result", "other")]), 0.0),
    ];
    for (k, v) in &expected {
        assert_eq!(samples.get(k), Some(v), "{k} in\n{text}");
    }
    let latency: Vec<(&String, &f64)> =
        samples.iter().filter(|(k, _)| k.starts_with("ngx502_upstream_latency_seconds{")).collect();
    assert_eq!(latency.len(), 6, "three quantiles for each of two upstreams");
    assert_eq!(
        samples.get(&key("ngx502_upstream_latency_seconds", &[("quantile", "0.5"), ("upstream", a)])),
        Some(&0.001)
    );
    assert_eq!(samples.len(), expected.len() + latency.len(), "no other series:\n{text}");
    assert!(
        text.contains(r#"input=""#) && text.contains(r#"acc\"e\\ss.log""#),
        "quote and backslash escaped:\n{text}"
    );
}

/// Runs `cmd` for at most a minute, so a wedged browser fails the test instead of hanging it.
fn output_within_a_minute(mut cmd: Command) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start chromium");
    let start = Instant::now();
    while child.try_wait().expect("wait for chromium").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("chromium output")
}

#[test]
fn html_renders_in_chromium_and_log_markup_stays_text() {
    let (dir, access, error) = fixture();
    let html = report(&access, &error, "html");
    // Nothing may load or run: no such element, and no quoted attribute or CSS fetch (a `"` from
    // a log is always `&quot;`, so `src="` can only be markup).
    for tag in ["<script", "<img", "<link", "<iframe", "src=\"", "href=\"", "url(", "@import"] {
        assert!(!html.to_lowercase().contains(tag), "{tag} in the page source");
    }
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required under CI (Debian package `chromium`)"
        );
        eprintln!("SKIPPED html_renders_in_chromium: /usr/bin/chromium not installed");
        return;
    }
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write page");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
    .arg("--dump-dom")
    .arg(format!("file://{}", page.display()));
    let out = output_within_a_minute(cmd);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).expect("UTF-8 DOM");

    // The browser built no element from log text: markup survives only as escaped text.
    let lower = dom.to_lowercase();
    assert!(!lower.contains("<script"), "a <script> element exists:\n{dom}");
    assert!(!lower.contains("<img"), "an <img> element exists:\n{dom}");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the hostile path is shown as text");
    assert!(
        dom.contains("\"&gt;&lt;img src=x onerror=alert(1)&gt;\\x1B[2J"),
        "the hostile Host is shown as text"
    );
    assert!(
        dom.contains("garbage &lt;script&gt;alert(2)&lt;/script&gt; \\x1B[31mred"),
        "malformed line as text"
    );
    assert!(!dom.contains('\x1b'), "no raw escape character reaches the page");

    // The page is whole (nothing from a log closed it early) and says what the logs hold.
    assert!(dom.contains("<strong>3 of 6 requests failed</strong> (50.0%)."), "headline:\n{dom}");
    for heading in ["Causes", "Upstreams", "Top failing paths", "Evidence and fixes", "Inputs"] {
        assert_eq!(dom.matches(&format!("<h2>{heading}</h2>")).count(), 1, "section {heading}");
    }
    assert!(dom.contains("/pipe|`tick`"), "path with pipe and backticks");
    assert_eq!(dom.matches("class=\"mono name\"").count(), 2, "one row per upstream");
    assert_eq!(dom.matches("<svg").count(), 3, "one chart and two sparklines");
    assert_eq!(dom.matches("<ol class=\"fix\">").count(), 3, "a fix checklist per cause");
    assert!(dom.contains("report schema ngx502/1</footer>"), "the footer is inside the page");
}
