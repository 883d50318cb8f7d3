//! Error lines as people paste them (into tickets, chats, search boxes): `classify` and
//! `explain 'LINE'` name the cause a senior engineer would give, and lines that only look like
//! upstream failures stay out of the counts.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ngx502(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Each pasted shape with the cause it must get.
const PASTES: &[(&str, &str)] = &[
    // No date: the most common way a line reaches a ticket.
    ("[error] 7#7: *1 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: api, request: \"GET /slow HTTP/1.1\", upstream: \"http://10.0.0.12:8080/slow\", host: \"api\"", "read_timeout"),
    // No date, no pid#tid.
    ("*55 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: shop, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.12:8080/\", host: \"shop\"", "connect_refused"),
    // No *CID either: a bare message.
    ("connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory)", "unix_socket_missing"),
    ("upstream sent too big header while reading response header from upstream", "too_big_header"),
    // docker compose logs.
    ("web-1  | 2024/05/14 10:22:31 [error] 29#29: *3 upstream prematurely closed connection while reading response header from upstream, client: 172.18.0.1, server: _, request: \"POST /api HTTP/1.1\", upstream: \"http://172.18.0.4:8000/api\", host: \"localhost\"", "premature_close"),
    // journalctl -u nginx.
    ("May 14 10:22:31 web01 nginx[812]: 2024/05/14 10:22:31 [crit] 812#812: *9 connect() to unix:/run/php-fpm/www.sock failed (13: Permission denied) while connecting to upstream, client: 10.1.1.1", "unix_socket_permission"),
    // docker logs --timestamps.
    ("2024-05-14T10:22:31.123456789Z 2024/05/14 10:22:31 [error] 1#1: *2 no live upstreams while connecting to upstream, client: 10.0.0.1, server: _, request: \"GET / HTTP/1.1\", upstream: \"http://backend/\", host: \"h\"", "no_live_upstreams"),
    // Cut by a pager or a chat client, in the middle of the action.
    ("*7 upstream timed out (110: Connection timed out) while connec…", "connect_timeout"),
    // From a web page: HTML entities.
    ("upstream sent invalid header: &quot;Set-Cookie\\x0D&quot; while reading response header from upstream, client: 10.0.0.1, server: a, request: &quot;GET /a&#37;2F HTTP/1.1&quot;", "invalid_header"),
    // Quoted in backticks, TLS to the upstream (not the client's).
    ("`SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream`", "ssl_handshake"),
    // A dated line: from here on, undated lines without `[level]` or `*CID` are continuations.
    ("2024/05/14 10:22:31 [error] 7#7: *8 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 10.0.0.1, server: api, request: \"GET /x HTTP/1.1\", upstream: \"http://10.0.0.12:8080/x\", ho$", "reset_by_peer"),
    ("[error] 7#7: *1 upstream timed out (110: Connection timed out) while reading response header from upstream", "read_timeout"),
];

/// Lines that look like upstream failures and are not.
const NEGATIVES: &[&str] = &[
    "2024/05/14 10:22:31 [crit] 7#7: *4170 SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: 198.51.100.9, server: 0.0.0.0:443",
    "2024/05/14 10:22:31 [error] 7#7: *13 recv() failed (104: Connection reset by peer) while reading client request line, client: 198.51.100.9, server: _",
    "2024/05/14 10:22:32 [error] 7#7: *1 connect() failed (111: Connection refused), context: ngx.timer",
    "2024/05/14 10:22:32 [error] 7#7: *3 connect() failed (111: Connection refused), client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"localhost\"",
    "2024/05/14 10:22:33 [warn] 7#7: *9 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client: 1.2.3.4, server: _, request: \"GET /big HTTP/1.1\", upstream: \"http://10.0.0.1:80/big\", host: \"h\"",
    "2024/05/14 10:22:33 [error] 7#7: *8 [lua] balancer.lua:91: error while setting current upstream peer while connecting to upstream, client: 1.2.3.4, server: _, request: \"GET / HTTP/1.1\", host: \"h\"",
    "2024/05/14 10:22:34 [debug] 7#7: *9 http upstream request: \"/x?\" while reading response header from upstream, client: 1.2.3.4, server: _, request: \"GET /x HTTP/1.1\", upstream: \"http://10.0.0.1:80/x\", host: \"h\"",
];

#[test]
fn every_pasted_shape_gets_its_cause() {
    let input: String = PASTES.iter().map(|(line, _)| format!("{line}\n")).collect();
    let out = ngx502(&["classify"], &input);
    assert!(out.status.success());
    let got: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_owned(), cols[1].to_owned())
        })
        .collect();
    let want: Vec<(String, String)> =
        PASTES.iter().enumerate().map(|(i, (_, slug))| ((i + 1).to_string(), slug.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn classify_json_gives_the_fields_present_and_no_invented_level() {
    let out = ngx502(&["classify", "--output", "json"], &format!("{}\n{}\n", PASTES[1].0, PASTES[2].0));
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["cid"], 55);
    assert_eq!(rows[0]["client"], "203.0.113.7");
    assert_eq!(rows[0]["upstream"], "10.0.0.12:8080");
    assert_eq!(rows[0]["level"], serde_json::Value::Null);
    assert_eq!(rows[1]["cid"], serde_json::Value::Null);
    assert_eq!(rows[1]["cause"], "unix_socket_missing");
    assert_eq!(rows[1]["upstream"], "unix:/run/php/php8.2-fpm.sock");
}

#[test]
fn explain_a_pasted_line_prints_cause_fields_and_checklist() {
    let out = ngx502(&["explain", PASTES[1].0], "");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("cause: connect_refused\n  upstream: 10.0.0.12:8080\n  client: 203.0.113.7\n  request: GET / HTTP/1.1\n  host: shop\n\nconnect_refused\n"),
        "{stdout}"
    );
    assert!(stdout.contains("checklist:\n    1. Is the backend running?"), "{stdout}");

    let out = ngx502(&["explain", PASTES[7].0], "");
    assert_eq!(PASTES[7].1, "connect_timeout");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("cause: connect_timeout\n  (the line was cut short"), "{stdout}");

    let out = ngx502(&["explain", NEGATIVES[0]], "");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("This line names no upstream failure"));
}

#[test]
fn continuation_lines_of_a_record_are_not_pastes() {
    let log = "2024/05/14 10:22:31 [error] 9#9: *1 FastCGI sent in stderr: \"PHP message: PHP Warning:  connect() failed in /var/www/db.php\nPHP message: #0 {main}\" while reading response header from upstream, client: 10.0.0.1, server: _, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php.sock:\", host: \"h\"\n";
    let out = ngx502(&["classify"], log);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap())
            .collect::<Vec<_>>(),
        ["fastcgi_stderr"]
    );
}

#[test]
fn negatives_stay_negative_in_classify_and_report() {
    let input: String = NEGATIVES.iter().map(|l| format!("{l}\n")).collect();
    let out = ngx502(&["classify"], &input);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let out = ngx502(&["classify", "--all"], &input);
    let slugs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(slugs, vec!["-"; NEGATIVES.len()]);

    let dir = tempfile::tempdir().unwrap();
    let error = dir.path().join("error.log");
    std::fs::write(&error, &input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "--output", "json", "-q"])
        .arg(&error)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = crate::support::accounting::checked(&out.stdout);
    assert_eq!(report["inputs"][0]["parsed"], 0);
    assert_eq!(report["inputs"][0]["filtered"], NEGATIVES.len());
    assert_eq!(report["inputs"][0]["malformed"], 0);
    assert_eq!(report["causes"], serde_json::json!([]));
}
