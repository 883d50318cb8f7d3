//! Broken and hostile input through the binary: every line read is accounted for, every input
//! that cannot be (fully) read is named with the reason while the others are still read, and no
//! output lets attacker-written bytes through unescaped. The hostile logs are in `tests/hostile/`
//! (ANSI and OSC escapes, bidi overrides, markup, CSV formula prefixes, Markdown table syntax,
//! invalid UTF-8, NULs, CRLF and 10 KB header values, in an access log and its error log).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::accounting::checked;

const BIN: &str = env!("CARGO_BIN_EXE_ngx502");

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile").join(name)
}

fn run(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(BIN).args(args).arg("-q").args(paths).output().expect("ngx502 runs")
}

fn json_report(paths: &[&Path]) -> Value {
    let out = run(&["report", "--output", "json"], paths);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    checked(&out.stdout)
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is a count in {v}"))
}

/// `lines = parsed + malformed + filtered`, for the totals and for every input, and the totals
/// are the sums of the inputs.
fn assert_accounts(report: &Value) {
    let totals = &report["totals"];
    assert_eq!(
        n(totals, "lines_read"),
        n(totals, "parsed") + n(totals, "malformed_lines") + n(totals, "filtered"),
        "{totals}"
    );
    let inputs = report["inputs"].as_array().expect("inputs");
    for input in inputs {
        assert_eq!(
            n(input, "lines"),
            n(input, "parsed") + n(input, "malformed") + n(input, "filtered"),
            "{input}"
        );
    }
    let sum = |key: &str| inputs.iter().map(|i| n(i, key)).sum::<u64>();
    assert_eq!(n(totals, "lines_read"), sum("lines"));
    assert_eq!(n(totals, "malformed_lines"), sum("malformed"));
}

fn input<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .find(|i| i["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("no input {name} in {}", report["inputs"]))
}

/// A well-formed access log of `count` lines in the `upstream` format, all 200s.
fn clean_access_log(count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            format!(
                "203.0.113.1 - - [14/May/2024:10:{:02}:{:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 5 \"-\" \"curl/8.0\" host=\"api\" cid={i} rt=0.010 ua=\"10.0.0.12:8080\" us=\"200\" urt=\"0.010\" uct=\"-\" uht=\"-\"\n",
                i / 60 % 60,
                i % 60
            )
        })
        .collect::<String>()
        .into_bytes()
}

#[test]
fn hostile_corpus_is_read_and_accounted_for() {
    let report = json_report(&[&corpus("access.log"), &corpus("error.log")]);
    assert_accounts(&report);
    let access = input(&report, "access.log");
    assert_eq!((n(access, "lines"), n(access, "parsed"), n(access, "malformed")), (12, 10, 2));
    assert_eq!(access["format"], "upstream");
    // The NUL bytes in its host header do not make the error log "binary".
    let error = input(&report, "error.log");
    assert_eq!(error["kind"], "error");
    assert_eq!((n(error, "lines"), n(error, "parsed"), n(error, "malformed")), (10, 10, 0));
    assert_eq!(n(&report["totals"], "failures"), 9);
}

#[test]
fn truncated_gzip_counts_the_lines_before_the_cut_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&clean_access_log(3000)).expect("compress");
    let whole = gz.finish().expect("compress");
    let cut = &whole[..whole.len() / 2];
    let path = dir.path().join("access.log.2.gz");
    std::fs::write(&path, cut).expect("write");
    // What a reader gets out of the cut archive before the error: those lines must all count.
    let mut prefix = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(cut);
    let mut buf = [0u8; 4096];
    while let Ok(got @ 1..) = decoder.read(&mut buf) {
        prefix.extend_from_slice(&buf[..got]);
    }
    let complete = prefix.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(complete > 100, "the cut leaves lines to count");
    let partial = u64::from(!prefix.ends_with(b"\n"));

    let report = json_report(&[&path, &corpus("error.log")]);
    assert_accounts(&report);
    let gz = input(&report, "access.log.2.gz");
    assert_eq!(n(gz, "lines"), complete + partial);
    assert_eq!(n(gz, "parsed"), complete);
    assert_eq!(n(gz, "malformed"), partial);
    let problem = gz["problem"].as_str().expect("a problem is reported");
    assert!(problem.starts_with("read stopped early: "), "{problem}");
    assert_eq!(n(input(&report, "error.log"), "lines"), 10);
}

#[test]
fn unreadable_and_vanished_inputs_are_named_while_the_others_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gone = dir.path().join("vanished.log");
    std::os::unix::fs::symlink(dir.path().join("rotated-away"), &gone).expect("symlink");
    let locked = dir.path().join("locked.log");
    std::fs::write(&locked, clean_access_log(3)).expect("write");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).expect("chmod");
    // Root reads anything: the permission case can only be checked as another user.
    let root = std::fs::read(&locked).is_ok();

    let out = run(&["report", "--output", "json"], &[&gone, &locked, &corpus("access.log")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_accounts(&report);
    assert_eq!(n(input(&report, "hostile/access.log"), "lines"), 12);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vanished.log: no such file or directory"), "{stderr}");
    if root {
        eprintln!("running as root: the permission-denied case is not checked");
    } else {
        let locked = input(&report, "locked.log");
        assert_eq!(n(locked, "lines"), 0);
        assert!(locked["problem"].as_str().is_some_and(|p| p.starts_with("permission denied")), "{locked}");
    }
}

#[test]
fn directory_with_mixed_junk_names_each_file_and_reads_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("core.bin"), b"\x7fELF\x02\x01\x01\x00\x00\x00\x00binary\n\x00\xff")
        .expect("write");
    std::fs::write(dir.path().join("empty.log"), b"").expect("write");
    std::fs::write(dir.path().join("README"), b"These are the logs of the api.\nAsk ops before deleting.\n")
        .expect("write");
    std::fs::copy(corpus("access.log"), dir.path().join("access.log")).expect("copy");
    std::fs::copy(corpus("error.log"), dir.path().join("error.log")).expect("copy");

    let report = json_report(&[dir.path()]);
    assert_accounts(&report);
    assert_eq!(n(input(&report, "/access.log"), "lines"), 12);
    assert_eq!(n(input(&report, "/error.log"), "lines"), 10);
    let binary = input(&report, "core.bin");
    assert_eq!(binary["skipped"], true);
    assert_eq!(binary["problem"], "binary data (NUL bytes), not a text log");
    let readme = input(&report, "README");
    assert_eq!(readme["skipped"], true);
    assert!(
        readme["problem"].as_str().is_some_and(|p| p.starts_with("no known access-log format")),
        "{readme}"
    );
    assert_eq!(n(input(&report, "empty.log"), "lines"), 0);
}

#[test]
fn a_line_longer_than_the_stream_limit_is_cut_and_counted() {
    // 80 MiB without a newline (the cap is checked a block at a time, so this crosses it), between
    // two good lines, on stdin.
    let good = clean_access_log(1);
    let mut input = good.clone();
    input.extend(std::iter::repeat_n(b'x', 80 << 20));
    input.push(b'\n');
    input.extend_from_slice(&good);
    let mut child = Command::new(BIN)
        .args(["report", "-q", "--output", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("runs");
    writer.join().expect("writer").expect("write stdin");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_accounts(&report);
    let stdin = input_named(&report, "-");
    // The long line is read as two pieces, both malformed; the good lines around it are parsed.
    assert_eq!((n(stdin, "lines"), n(stdin, "parsed"), n(stdin, "malformed")), (4, 2, 2));
}

fn input_named<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["inputs"].as_array().expect("inputs").iter().find(|i| i["path"] == path).expect("input")
}

// ---- Injection: one test per output rule. ----

fn output(format: &str) -> Vec<u8> {
    let out = run(&["report", "--output", format], &[&corpus("access.log"), &corpus("error.log")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn text_output_has_no_raw_control_bytes() {
    let text = output("text");
    let text = String::from_utf8(text).expect("text output is UTF-8");
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "raw control or bidi characters {bad:?}");
    // What they were is still shown, escaped.
    assert!(text.contains(r"/\x1B[2J\x1B[31mred\x1B[0m"), "{text}");
    assert!(text.contains(r"\xFF\xFE\xC3(invalid"), "{text}");
}

#[test]
fn json_output_is_valid_utf8_with_invalid_bytes_as_hex() {
    let raw = output("json");
    let report: Value = serde_json::from_slice(&raw).expect("valid UTF-8 JSON");
    let paths: Vec<&str> =
        report["top_paths"].as_array().expect("paths").iter().filter_map(|p| p["path"].as_str()).collect();
    // The access log wrote these escaped; the report keeps nginx's notation.
    assert!(paths.contains(&r"/\xFF\xFE\xC3(invalid"), "{paths:?}");
    // Raw invalid bytes from the error log (its host header) are rendered the same way.
    let evidence = report["causes"].to_string();
    assert!(evidence.contains(r"\\xFF\\xFE\\xC3(invalid"), "{evidence}");
    let malformed = &input(&report, "access.log")["malformed_examples"][0]["text"];
    assert_eq!(malformed, "garbage \u{1b}[2J\u{1b}]0;title\u{7} <script>x</script> \\xFF\\xFE =1+1 | |");
}

#[test]
fn html_output_escapes_markup() {
    let html = String::from_utf8(output("html")).expect("UTF-8");
    for raw in ["<script>alert(1)</script>", "<img src=x", "<script>x</script>"] {
        assert!(!html.contains(raw), "raw {raw:?} in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains('\u{1b}'), "raw ESC in the page");
}

#[test]
fn markdown_output_escapes_table_syntax() {
    let md = String::from_utf8(output("markdown")).expect("UTF-8");
    assert!(!md.contains('\u{1b}') && !md.contains("<script>"), "{md}");
    // Every row of a table has as many unescaped cell separators as its header.
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    let mut header = None;
    for line in md.lines() {
        match (line.starts_with('|'), header) {
            (true, None) => header = Some(cells(line)),
            (true, Some(h)) => assert_eq!(cells(line), h, "{line}"),
            (false, _) => header = None,
        }
    }
}

#[test]
fn prometheus_label_values_are_escaped() {
    let text = String::from_utf8(output("prometheus")).expect("UTF-8");
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        // name{label="value",...} number: quotes inside values are escaped, so they pair up.
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
        let value = line.rsplit(' ').next().expect("a value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn export_ndjson_rows_are_valid_json() {
    let out = run(&["export"], &[&corpus("access.log"), &corpus("error.log")]);
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each row is JSON"))
        .collect();
    assert_eq!(rows.len(), 9);
    let paths: Vec<&str> = rows.iter().filter_map(|r| r["path"].as_str()).collect();
    assert!(paths.contains(&r"/\xFF\xFE\xC3(invalid"), "{paths:?}");
    assert!(paths.contains(&r#"/=HYPERLINK(\x22http://evil\x22)"#), "{paths:?}");
}

/// A full disk under the export is one message naming the file, and exit code 2, whether the
/// run is read segment by segment or whole (`--state`).
#[test]
fn an_export_onto_a_full_disk_names_the_file() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    let logs = [corpus("access.log"), corpus("error.log")];
    let logs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    for extra in [&[][..], &["--state", state.to_str().unwrap()][..]] {
        let out = run(&[&["export", "-o", "/dev/full"][..], extra].concat(), &logs);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains("cannot write /dev/full"), "{extra:?}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{extra:?}: {stderr}");
    }
}

/// `export | head -1` on logs read in segments: the closed pipe ends the run, with exit code 0
/// and nothing on stderr, as `report | head` does.
#[test]
fn an_export_into_a_pipe_closed_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    crate::generator_truth::generate(dir.path(), "upstream", "20M", "27", &["--failure-rate", "0.3"]);
    let mut child = Command::new(BIN)
        .args(["export", "-q"])
        .args([dir.path().join("access.log"), dir.path().join("error.log")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(first, *b"{");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

// ---- Resource limits. ----

#[test]
fn distinct_upstream_explosion_is_summed_past_the_cap() {
    const DISTINCT: u32 = 200_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    // One attempt per address; every 1000th address (200 of them) also failed, twice.
    let mut log = String::new();
    for i in 0..DISTINCT {
        let addr = format!("10.{}.{}.{}:80", i >> 16, (i >> 8) & 255, i & 255);
        log.push_str(&format!("200 \"{addr}\" \"200\"\n"));
        if i % 1000 == 0 {
            log.push_str(&format!("502 \"{addr}\" \"502\"\n502 \"{addr}\" \"502\"\n"));
        }
    }
    std::fs::write(&path, log).expect("write");
    let out = run(
        &["report", "--output", "json", "--log-format", r#"$status "$upstream_addr" "$upstream_status""#],
        &[&path],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() < 1 << 20, "the report stays small: {} bytes", out.stdout.len());
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_accounts(&report);
    let rows = report["upstreams"].as_array().expect("upstreams");
    assert_eq!(rows.len(), 101);
    let other = &rows[100];
    assert_eq!(other["upstream"], "(other upstreams)");
    // 100 failing upstreams are listed; the other 100 failing ones and every healthy one are summed.
    assert!(rows[..100].iter().all(|r| n(r, "client_502") == 2));
    assert_eq!(n(other, "client_502"), 200);
    assert_eq!(n(other, "requests"), u64::from(DISTINCT) + 400 - 100 * 3);
    let advice = report["advice"].as_array().expect("advice");
    assert!(
        advice.iter().any(|a| *a
            == serde_json::json!({"kind": "upstreams_folded", "upstreams": 200000, "listed": 100, "folded": 199900})),
        "{advice:?}"
    );
}
