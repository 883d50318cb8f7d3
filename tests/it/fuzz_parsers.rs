//! Property-based fuzzing of every parser, bounded so it runs in `cargo test`.
//!
//! Each parser gets arbitrary bytes and mutations of real lines (bytes inserted, deleted and
//! replaced, separators the parsers anchor on spliced in) and must return, never panic. Where a
//! parser has an inverse — what nginx writes — a random value is written the way nginx writes it
//! and must parse back unchanged. The worst cases at the end (a 1 MB line, a million quotes, a
//! million list separators) assert what they produce and print how long they took, for a human
//! to check: wall-clock bounds would make the test flaky on a loaded machine.
//! docs/hardening.md records the runs and what they found.

use std::io::Write;

use chrono::{FixedOffset, TimeZone};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use ngx502::access::attempts::entries;
use ngx502::access::format::{Escape, LogFormat};
use ngx502::access::json::{scan, unescape, JsonSplitter, KeyMap};
use ngx502::access::presets::PRESETS;
use ngx502::access::{AccessFormat, AccessParser, Field};
use ngx502::alert::Rule;
use ngx502::errorlog::{classify, parse_line, upstream_peer};
use ngx502::input::PageRelease;
use ngx502::lines::lines;
use ngx502::nginx_conf::NginxConf;
use ngx502::pipeline::{read_access, read_error_log};
use ngx502::report::schema::InputRow;
use ngx502::summary::nginx_escape;
use ngx502::time::{parse_error_log_time, parse_msec, parse_time_iso8601, parse_time_local, Stamp};
use ngx502::window::{parse_duration, parse_time, TimeWindow};

/// Cases per property (each runs every access format, or several parsers, per case): about
/// 10,800 cases in all, which keeps the file near 15 s in a debug build.
const CASES: u32 = 1_000;

/// The same cases on every run, so CI never fails by chance; set `PROPTEST_RNG_SEED` (or run
/// with more `PROPTEST_CASES`) to explore others.
fn config(cases: u32) -> Config {
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x6e67_7835_3032);
    }
    config
}

/// Real lines of every kind, the seeds of the mutations.
const SEEDS: &[&[u8]] = &[
    br#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET /v1/items?page=2 HTTP/1.1" 502 157 "-" "curl/8.0""#,
    br#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5"#,
    br#"2001:db8::1 - bob [14/May/2024:10:22:31 -0000] "GET /a\x22b\xFF HTTP/1.1" 504 0 "-" "a \x22q\x22" "10.1.1.1, 10.2.2.2""#,
    br#"10.0.0.5 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 0 "-" "ua" host="h" cid=7 rt=1.002 ua="10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80" us="504, 502 : 502" urt="1.000, 0.001 : 0.000" uct="-" uht="-""#,
    br#"{"time_iso8601":"2024-05-14T10:22:31+02:00","remote_addr":"::1","request":"GET /\"x HTTP/1.1","status":"502","connection":"12","upstream_addr":"unix:/s.sock : 10.0.0.9:80","nested":{"a":[1,{"b":"}"}]}}"#,
    br#"2024/05/14 10:22:31 [error] 2817#2817: *48213 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: api.example.com, request: "GET /v1/items?page=2 HTTP/1.1", upstream: "http://10.0.0.12:8080/v1/items?page=2", host: "api.example.com", referrer: "https://app.example.com/""#,
    br#"2024/05/14 10:22:31 [error] 1#0: *5 upstream sent too big header while reading response header from upstream, client: ::1, server: _, request: "GET /a", b?x="1" HTTP/1.1", subrequest: "/auth", upstream: "fastcgi://unix:/run/php.sock:", host: "h""#,
    br#"2024/05/14 10:22:31 [error] 12#12: *9 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: s, request: "POST /x HTTP/2.0", upstream: "http://[2001:db8::1]:80/x", host: "s""#,
    br#"2024/05/14 10:22:31 [warn] 12#12: *9 an upstream response is buffered to a temporary file /var/cache/nginx/1 while reading upstream"#,
    br#"2024/05/14 10:22:31 [error] 12#12: *9 no live upstreams while connecting to upstream, client: 10.0.0.1, server: s, request: "GET / HTTP/1.1", upstream: "http://backend/", host: "s""#,
];

/// Byte sequences the parsers anchor on: splicing them in reaches the interesting branches.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b", ",
    b" : ",
    b"\0",
    b"{",
    b"}",
    b"[",
    b"]",
    b", client: ",
    b", request: \"",
    b"\", upstream: \"",
    b"\r",
    b"\n",
    b" ",
    b"-",
    b"*",
    b"#",
    b"\\u00",
    b"\\x",
    b":",
    b"\xff",
    b"\xe2\x80\xae",
];

/// One edit of a seed line.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, u8),
    Delete(usize, usize),
    Replace(usize, u8),
    Splice(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Edit::Splice(at, t)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut line = seed.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *e {
            Edit::Insert(i, b) => line.insert(at(i, line.len()), b),
            Edit::Delete(i, n) => {
                let start = at(i, line.len());
                line.drain(start..(start + n).min(line.len()));
            }
            Edit::Replace(i, b) if !line.is_empty() => {
                let i = i % line.len();
                line[i] = b;
            }
            Edit::Replace(..) => {}
            Edit::Splice(i, t) => {
                let start = at(i, line.len());
                line.splice(start..start, TOKENS[t].iter().copied());
            }
            Edit::Truncate(i) => line.truncate(at(i, line.len())),
        }
    }
    line
}

/// Arbitrary bytes, or a mutated real line.
fn hostile_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        (0..SEEDS.len(), proptest::collection::vec(edit(), 0..10)).prop_map(|(s, e)| apply(SEEDS[s], &e)),
    ]
}

/// Every format auto-detection knows, plus a JSON format read through its template.
fn access_formats() -> Vec<AccessFormat> {
    let mut formats: Vec<AccessFormat> = PRESETS
        .iter()
        .map(|p| AccessFormat::Template(LogFormat::preset(p.name).expect("preset compiles")))
        .collect();
    formats.push(AccessFormat::json_by_names());
    let json = LogFormat::compile(
        "j",
        r#"{"t":"$time_iso8601","s":$status,"a":"$upstream_addr","ms":$msec,"r":"$request"}"#,
        Escape::Json,
    )
    .expect("json template compiles");
    formats.push(AccessFormat::from_log_format(json));
    formats
}

/// Runs `check` on `CASES` hostile lines; a panic inside fails the test with the minimal input.
fn fuzz_lines(check: impl Fn(&[u8])) {
    TestRunner::new(config(CASES))
        .run(&hostile_line(), |line| {
            check(&line);
            Ok(())
        })
        .expect("no input panics");
}

#[test]
fn access_parsers_survive_hostile_lines() {
    let formats = access_formats();
    fuzz_lines(|line| {
        for format in &formats {
            let mut parser = AccessParser::new(format);
            if let Ok(record) = parser.parse(line) {
                // Every value is a slice of the line: reading them all must not go out of bounds.
                for field in Field::all() {
                    if let Some(v) = record.get(field) {
                        assert!(v.len() <= line.len());
                    }
                }
                let _ = (record.client(), record.host(), record.connection(), record.request_time());
            }
        }
    });
}

#[test]
fn access_summary_accounts_for_every_hostile_line() {
    let formats = access_formats();
    TestRunner::new(config(CASES / 4))
        .run(&proptest::collection::vec(hostile_line(), 0..12), |batch| {
            let buf = batch.join(&b'\n');
            let expected = lines(&buf).count() as u64;
            for format in &formats {
                let s = read_access(0, &buf, format, &TimeWindow::default(), PageRelease::default());
                prop_assert_eq!(s.lines, expected);
                prop_assert_eq!(s.lines, s.parsed + s.malformed + s.filtered);
            }
            Ok(())
        })
        .expect("access accounting holds");
}

#[test]
fn json_scanner_and_unescape_survive_hostile_lines() {
    let map = KeyMap::from_template(r#"{"a":"$status","b":$upstream_addr}"#);
    // One splitter for all the lines: what it remembers of one line must not mislead the next.
    let splitter = std::cell::RefCell::new(JsonSplitter::new(&map));
    fuzz_lines(|line| {
        let mut pairs = 0;
        if scan(line, |k, v| {
            assert!(k.len() + v.len() <= line.len());
            pairs += 1;
        })
        .is_ok()
        {
            assert!(line.contains(&b'{'));
        }
        let _ = splitter.borrow_mut().split(line, |_, _| {});
        let decoded = unescape(line);
        // Decoding never grows the text: every escape is at least as long as the byte it stands for.
        assert!(decoded.len() <= line.len());
    });
}

#[test]
fn error_log_parser_and_classifier_survive_hostile_lines() {
    fuzz_lines(|line| {
        if let Some(record) = parse_line(line) {
            for value in [
                record.client,
                record.server,
                record.request,
                record.subrequest,
                record.upstream,
                record.host,
            ]
            .into_iter()
            .flatten()
            {
                assert!(value.len() <= line.len());
            }
            let _ = record.cause();
            let _ = record.upstream.map(upstream_peer);
        }
        let _ = classify(line, Some(line));
        let _ = classify(line, None);
        let _ = upstream_peer(line);
    });
}

#[test]
fn error_log_reader_accounts_for_every_hostile_line() {
    TestRunner::new(config(CASES / 4))
        .run(&proptest::collection::vec(hostile_line(), 0..12), |batch| {
            let buf = batch.join(&b'\n');
            let mut report = InputRow::new(&ngx502::input::Origin::Stdin);
            let _ = read_error_log(0, &buf, &mut report, 0);
            prop_assert_eq!(report.lines, lines(&buf).count() as u64);
            prop_assert_eq!(report.lines, report.parsed + report.malformed + report.filtered);
            Ok(())
        })
        .expect("error-log accounting holds");
}

#[test]
fn attempt_lists_and_timestamps_survive_hostile_bytes() {
    fuzz_lines(|line| {
        let n = entries(line).count();
        assert!(n <= line.len() + 1);
        let _ =
            (parse_time_local(line), parse_time_iso8601(line), parse_msec(line), parse_error_log_time(line));
    });
}

/// Format strings made of variables, braces, dollars and literal text.
fn format_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("$status".to_owned()),
        Just("${status}".to_owned()),
        Just("$upstream_addr".to_owned()),
        Just("$remote_addr".to_owned()),
        Just("$time_local".to_owned()),
        Just("$request".to_owned()),
        Just("$".to_owned()),
        Just("${".to_owned()),
        Just("}".to_owned()),
        Just("\"".to_owned()),
        Just(" ".to_owned()),
        Just(", ".to_owned()),
        "[a-z_]{1,8}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

#[test]
fn log_format_compiler_survives_any_format_string() {
    TestRunner::new(config(CASES))
        .run(&(format_string(), hostile_line()), |(template, line)| {
            for escape in [Escape::Default, Escape::Json, Escape::None] {
                if let Ok(format) = LogFormat::compile("fuzz", &template, escape) {
                    prop_assert!(format.has(Field::Status));
                    let format = AccessFormat::from_log_format(format);
                    let _ = AccessParser::new(&format).parse(&line);
                }
            }
            Ok(())
        })
        .expect("no format string panics");
}

#[test]
fn window_and_fail_on_grammars_survive_any_text() {
    let text = prop_oneof![
        any::<String>(),
        "[-+0-9:TZ .smhd]{0,30}",
        "(rate_502|rate_5xx|count\\((read_timeout|502)\\)|requests)(\\{upstream=\"[^\"]{0,8}\"\\})? ?(>|>=|<|<=|==) ?[0-9.%]{0,25}",
    ];
    TestRunner::new(config(CASES))
        .run(&(text.clone(), text), |(a, b)| {
            let _ = parse_time(&a);
            let _ = parse_duration(&a);
            let _ = TimeWindow::from_flags(Some(&a), Some(&b), None, 0);
            let _ = TimeWindow::from_flags(None, Some(&a), Some(&b), 1_700_000_000);
            if let Err(e) = Rule::parse(&a) {
                // The message quotes the rule with control characters escaped.
                prop_assert!(!e.to_string().contains('\x1b'));
            }
            Ok(())
        })
        .expect("no time, duration or rule panics");
}

#[test]
fn window_at_the_edge_of_time_is_refused_not_overflowed() {
    for (until, last) in [("-9223372036854775807", "1d"), ("-9223372036854775808", "1s")] {
        let err = TimeWindow::from_flags(None, Some(until), Some(last), 0).expect_err("no such window");
        assert!(err.to_string().contains("--last"), "{err}");
    }
}

#[test]
fn nginx_conf_loader_survives_hostile_configs() {
    let words = prop_oneof![
        Just("http".to_owned()),
        Just("server".to_owned()),
        Just("upstream".to_owned()),
        Just("log_format".to_owned()),
        Just("access_log".to_owned()),
        Just("error_log".to_owned()),
        Just("include".to_owned()),
        Just("nginx.conf".to_owned()),
        Just("*.conf".to_owned()),
        Just("escape=json".to_owned()),
        Just("'$status $upstream_addr'".to_owned()),
        Just("\"${".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(";".to_owned()),
        Just("#".to_owned()),
        Just("\\".to_owned()),
        Just("'".to_owned()),
        Just("\n".to_owned()),
        "[a-z0-9_./]{1,10}",
        any::<String>(),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nginx.conf");
    let other = dir.path().join("other.conf");
    TestRunner::new(config(300))
        .run(
            &(proptest::collection::vec(words, 0..40), proptest::collection::vec(any::<u8>(), 0..64)),
            |(w, tail)| {
                let mut text = w.join(" ").into_bytes();
                text.extend_from_slice(&tail);
                std::fs::write(&path, &text).expect("write config");
                // A second file that includes the first: include loops must be caught.
                std::fs::write(&other, b"include nginx.conf; include other.conf;").expect("write include");
                let conf = NginxConf::load(&path).expect("the main config is readable");
                for problem in &conf.problems {
                    prop_assert!(problem.line >= 1);
                }
                Ok(())
            },
        )
        .expect("no config panics");
}

// ---- Round trips: what nginx writes parses back unchanged. ----

/// Raw bytes a client can send, as nginx's `escape=default` writes them.
fn escaped_value() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 1..40)
        .prop_map(|raw| String::from_utf8(nginx_escape(&raw)).expect("escaped text is ASCII"))
}

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 3]>().prop_map(|h| format!("2001:db8:{:x}::{:x}:{:x}", h[0], h[1], h[2])),
    ]
}

/// A time nginx could write: 1970..9999, offsets to the minute within ±23:59.
fn stamp() -> impl Strategy<Value = (i64, i32)> {
    (0i64..253_402_214_400, -1439i32..=1439).prop_map(|(utc, minutes)| (utc, minutes * 60))
}

fn time_local((utc, offset): (i64, i32)) -> String {
    let zone = FixedOffset::east_opt(offset).expect("offset within a day");
    zone.timestamp_opt(utc, 0).single().expect("valid time").format("%d/%b/%Y:%H:%M:%S %z").to_string()
}

#[test]
fn timestamps_round_trip() {
    TestRunner::new(config(CASES))
        .run(&stamp(), |(utc, offset)| {
            let zone = FixedOffset::east_opt(offset).expect("offset within a day");
            let t = zone.timestamp_opt(utc, 0).single().expect("valid time");
            let want = Some(Stamp { utc, offset });
            prop_assert_eq!(parse_time_local(time_local((utc, offset)).as_bytes()), want);
            prop_assert_eq!(
                parse_time_iso8601(t.format("%Y-%m-%dT%H:%M:%S%:z").to_string().as_bytes()),
                want
            );
            prop_assert_eq!(parse_msec(format!("{utc}.123").as_bytes()), Some(Stamp { utc, offset: 0 }));
            let local = t.naive_local().and_utc().timestamp();
            prop_assert_eq!(
                parse_error_log_time(t.format("%Y/%m/%d %H:%M:%S").to_string().as_bytes()),
                Some(local)
            );
            Ok(())
        })
        .expect("timestamps round-trip");
}

/// An attempt list: entries joined by `", "` (retries) and `" : "` (internal redirects).
fn attempt_list(entry: BoxedStrategy<String>) -> impl Strategy<Value = (Vec<String>, String)> {
    proptest::collection::vec((entry, any::<bool>()), 1..6).prop_map(|items| {
        let mut text = String::new();
        for (i, (e, redirect)) in items.iter().enumerate() {
            if i > 0 {
                text.push_str(if *redirect { " : " } else { ", " });
            }
            text.push_str(e);
        }
        (items.into_iter().map(|(e, _)| e).collect(), text)
    })
}

fn peer() -> BoxedStrategy<String> {
    prop_oneof![
        (ip(), 1u16..).prop_map(|(ip, port)| if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }),
        "unix:/[a-z/]{1,12}\\.sock",
        "[a-z_]{1,12}",
    ]
    .boxed()
}

#[test]
fn attempt_lists_round_trip() {
    TestRunner::new(config(CASES))
        .run(&attempt_list(peer()), |(want, text)| {
            let got: Vec<&[u8]> = entries(text.as_bytes()).collect();
            let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
            prop_assert_eq!(got, want);
            Ok(())
        })
        .expect("attempt lists round-trip");
}

/// `-` or a value: the parser reads `-` (nginx's "no value") as absent.
fn expect(value: &str) -> Option<&[u8]> {
    (value != "-").then_some(value.as_bytes())
}

fn or_dash(value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![1 => Just("-".to_owned()), 4 => value]
}

#[test]
fn combined_and_upstream_lines_round_trip() {
    let combined = AccessFormat::Template(LogFormat::preset("combined").expect("preset"));
    let upstream = AccessFormat::Template(LogFormat::preset("upstream").expect("preset"));
    let times = || {
        prop_oneof![
            Just("-".to_owned()),
            (0u32..100_000).prop_map(|ms| format!("{}.{:03}", ms / 1000, ms % 1000))
        ]
        .boxed()
    };
    let record = (
        (ip(), or_dash("[a-zA-Z0-9._@-]{1,12}"), stamp(), escaped_value(), 100u16..600, "[0-9]{1,9}"),
        (or_dash(escaped_value()), or_dash(escaped_value()), or_dash(escaped_value()), any::<u64>()),
        (attempt_list(peer()), attempt_list(or_dash("[1-5][0-9][0-9]").boxed()), attempt_list(times())),
    );
    TestRunner::new(config(CASES))
        .run(
            &record,
            |((addr, user, when, request, status, bytes), (referer, agent, host, cid), (ua, us, urt))| {
                let head = format!(
                    "{addr} - {user} [{}] \"{request}\" {status} {bytes} \"{referer}\" \"{agent}\"",
                    time_local(when)
                );
                let tail = format!(
                    " host=\"{host}\" cid={cid} rt=0.001 ua=\"{}\" us=\"{}\" urt=\"{}\" uct=\"-\" uht=\"-\"",
                    ua.1, us.1, urt.1
                );
                let full = format!("{head}{tail}");
                for (format, line) in [(&combined, &head), (&upstream, &full)] {
                    let mut parser = AccessParser::new(format);
                    let r = parser
                        .parse(line.as_bytes())
                        .map_err(|m| TestCaseError::fail(format!("{m:?} in {line}")))?;
                    prop_assert_eq!(r.client(), Some(addr.as_bytes()));
                    prop_assert_eq!(r.get(Field::RemoteUser), expect(&user));
                    prop_assert_eq!(r.time, Some(Stamp { utc: when.0, offset: when.1 }));
                    prop_assert_eq!(r.get(Field::Request), expect(&request));
                    prop_assert_eq!(r.status, status);
                    prop_assert_eq!(r.get(Field::BodyBytesSent), Some(bytes.as_bytes()));
                    prop_assert_eq!(r.get(Field::HttpReferer), expect(&referer));
                    prop_assert_eq!(r.get(Field::HttpUserAgent), expect(&agent));
                }
                let r = AccessParser::new(&upstream).parse(full.as_bytes()).expect("parsed above");
                prop_assert_eq!(r.host(), expect(&host));
                prop_assert_eq!(r.connection(), Some(cid));
                for (field, (items, text)) in [
                    (Field::UpstreamAddr, &ua),
                    (Field::UpstreamStatus, &us),
                    (Field::UpstreamResponseTime, &urt),
                ] {
                    prop_assert_eq!(r.get(field), expect(text));
                    if let Some(list) = r.get(field) {
                        let got: Vec<&[u8]> = entries(list).collect();
                        let want: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                Ok(())
            },
        )
        .expect("records round-trip");
}

#[test]
fn error_lines_round_trip() {
    let line = (
        stamp(),
        (any::<u32>(), 0u32..64, any::<u64>()),
        (ip(), "[a-z0-9._-]{1,16}", "[ -~]{1,40}", peer(), "[a-z0-9.-]{1,16}"),
    );
    TestRunner::new(config(CASES))
        .run(&line, |(when, (pid, tid, cid), (client, server, request, upstream, host))| {
            // A request line holding the separator that ends it cannot be told apart; nginx's own
            // request lines (method, target, protocol) contain no `", `.
            prop_assume!(!request.contains("\", "));
            let zone = FixedOffset::east_opt(when.1).expect("offset within a day");
            let t = zone.timestamp_opt(when.0, 0).single().expect("valid time");
            // nginx ends a unix socket path with `:` before the URI.
            let sep = if upstream.starts_with("unix:") { ":" } else { "" };
            let text = format!(
                "{} [error] {pid}#{tid}: *{cid} connect() failed (111: Connection refused) while connecting to upstream, client: {client}, server: {server}, request: \"{request}\", upstream: \"http://{upstream}{sep}/x\", host: \"{host}\"",
                t.format("%Y/%m/%d %H:%M:%S")
            );
            let r = parse_line(text.as_bytes()).ok_or_else(|| TestCaseError::fail(text.clone()))?;
            prop_assert_eq!(r.pid, pid);
            prop_assert_eq!(r.cid, Some(cid));
            prop_assert_eq!(r.client, Some(client.as_bytes()));
            prop_assert_eq!(r.server, Some(server.as_bytes()));
            prop_assert_eq!(r.request, Some(request.as_bytes()));
            prop_assert_eq!(r.upstream.map(upstream_peer), Some(upstream.as_bytes()));
            prop_assert_eq!(r.host, Some(host.as_bytes()));
            prop_assert_eq!(r.cause(), Some(ngx502::errorlog::Cause::ConnectRefused));
            Ok(())
        })
        .expect("error lines round-trip");
}

// ---- Worst cases: linear work on adversarial lines. ----

/// Runs `work` and prints how long it took, for a human to check; the assertions inside are on
/// what it produced, not on wall-clock time.
fn timed<T>(name: &str, work: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let out = work();
    eprintln!("worst case {name}: {:?}", start.elapsed());
    out
}

fn upstream_line(addr: &[u8]) -> Vec<u8> {
    let mut line = br#"10.0.0.5 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 0 "-" "ua" host="h" cid=7 rt=1.002 ua=""#.to_vec();
    line.extend_from_slice(addr);
    line.extend_from_slice(br#"" us="502" urt="0.001" uct="-" uht="-""#);
    line
}

#[test]
fn worst_case_lines_are_read_in_linear_time() {
    const MB: usize = 1 << 20;
    let formats = access_formats();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1 MB of 'a'", vec![b'a'; MB]),
        ("a million quotes", vec![b'"'; 1_000_000]),
        ("1 MB of NULs", vec![0; MB]),
        ("a million spaces", vec![b' '; 1_000_000]),
        ("a million backslashes", vec![b'\\'; 1_000_000]),
        ("a million '{'", vec![b'{'; 1_000_000]),
        ("1 MB user agent", {
            let mut l = SEEDS[0][..SEEDS[0].len() - 9].to_vec();
            l.extend(std::iter::repeat_n(b'x', MB));
            l.push(b'"');
            l
        }),
    ];
    for (name, line) in &cases {
        timed(name, || {
            for format in &formats {
                let _ = AccessParser::new(format).parse(line);
            }
            let _ = parse_line(line);
            let _ = scan(line, |_, _| {});
            let _ = entries(line).count();
        });
    }
}

#[test]
fn a_million_attempt_separators_are_read_in_linear_time() {
    let list: Vec<u8> = b"10.0.0.1:80, ".repeat(1_000_000);
    let list = &list[..list.len() - 2];
    assert_eq!(timed("entries of a million-entry list", || entries(list).count()), 1_000_000);
    let bare = b", ".repeat(1_000_000);
    assert_eq!(timed("entries of a million bare separators", || entries(&bare).count()), 1_000_001);
    let line = upstream_line(list);
    let format = AccessFormat::Template(LogFormat::preset("upstream").expect("preset"));
    let summary = timed("summary of a million-attempt line", || {
        read_access(0, &line, &format, &TimeWindow::default(), PageRelease::default())
    });
    assert_eq!((summary.lines, summary.parsed), (1, 1));
    assert_eq!(summary.upstreams.len(), 1);
    assert_eq!(summary.upstreams.values().next().map(|c| c.attempts), Some(1_000_000));
    // Unquoted, the list's spaces are skipped one by one while looking for the end of the value.
    let bare_format = AccessFormat::Template(
        LogFormat::compile("t", "$status $upstream_addr $request_time", Escape::Default).expect("compiles"),
    );
    let mut line = b"502 ".to_vec();
    line.extend_from_slice(list);
    line.extend_from_slice(b" 0.5");
    let r = timed("unquoted million-attempt list", || {
        AccessParser::new(&bare_format).parse(&line).map(|r| r.request_time())
    });
    assert_eq!(r, Ok(Some(0.5)));
}

#[test]
fn error_line_with_100k_context_keys_is_read_in_linear_time() {
    let mut line = b"2024/05/14 10:22:31 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream".to_vec();
    line.extend_from_slice(&b", client: ".repeat(100_000));
    let r = timed("100k ', client: '", || parse_line(&line)).expect("still a record");
    assert_eq!(r.message, b"connect() failed (111: Connection refused) while connecting to upstream");
    let mut quoted = b"2024/05/14 10:22:31 [error] 1#1: *1 upstream timed out (110: x) while reading response header from upstream, client: 1.2.3.4, server: s, request: \"".to_vec();
    quoted.extend_from_slice(&b", upstream: \"".repeat(100_000));
    let r = timed("100k ', upstream: \"'", || parse_line(&quoted)).expect("still a record");
    assert_eq!(r.client, Some(&b"1.2.3.4"[..]));
    // A record continued by 100k lines (FastCGI stderr) is read once, not once per line.
    let mut log = line.clone();
    log.extend_from_slice(&b"\nPHP message: x".repeat(100_000));
    let mut report = InputRow::new(&ngx502::input::Origin::Stdin);
    let records = timed("record continued by 100k lines", || read_error_log(0, &log, &mut report, 0));
    assert_eq!((records.len(), report.lines, report.parsed), (1, 100_001, 100_001));
}

#[test]
fn gzip_stream_with_a_huge_line_and_no_newline_is_read() {
    // The stream reader carries a partial line until its newline comes; a long line must not make
    // it rescan what it already searched.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("long.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(SEEDS[0]).expect("write");
    gz.write_all(b"\n").expect("write");
    gz.write_all(&vec![b'x'; 12 << 20]).expect("write");
    gz.finish().expect("finish");
    let blocks = match ngx502::input::open(&ngx502::input::Origin::File(path)).expect("opens") {
        ngx502::input::Source::Stream(blocks) => blocks,
        _ => panic!("gzip is streamed"),
    };
    let sizes: Vec<usize> =
        timed("12 MB line in a gzip stream", || blocks.map(|b| b.expect("reads").len()).collect());
    assert_eq!(sizes.iter().sum::<usize>(), SEEDS[0].len() + 1 + (12 << 20));
}
