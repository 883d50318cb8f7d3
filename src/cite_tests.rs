//! Tests of the citations: which directives applied to a cause's failures, and the change they support.

use super::*;
use crate::correlate::{Attempt, Attempts, JoinMethod};
use crate::summary::{Candidate, CandidateText, TextFields};

const CONF: &str = r#"http {
    proxy_read_timeout 1s;
    upstream pool {
        server 127.0.0.2:9001 max_fails=1 fail_timeout=600s;
        server 127.0.0.2:9002 down;
    }
    server {
        server_name shop.test;
        location /timeout/ { proxy_pass http://127.0.0.1:9100; }
        location /slow/ { proxy_pass http://127.0.0.1:9200; }
        location /bigheader/ {
            proxy_buffer_size 4k;
            proxy_pass http://127.0.0.1:9300;
        }
        location /nolive/ { proxy_pass http://pool; }
        location /php/ { fastcgi_pass unix:/nonexistent/ngx502/php.sock; }
        location /local/ { proxy_pass http://localhost:9400; }
        location /tls/ { proxy_pass https://127.0.0.1:9500; proxy_ssl_server_name on; }
        location /ka/ { proxy_pass http://ka; proxy_next_upstream error timeout non_idempotent; }
    }
    upstream ka { server 10.0.0.9:80; keepalive 8; }
}
"#;

fn event(target: &str, request_time: f64, upstream: &str) -> Event {
    event_with(target, request_time, upstream, &[])
}

/// An event whose one attempt, to `upstream`, timed out, explained by the error records
/// `evidence`.
fn event_with(target: &str, request_time: f64, upstream: &str, evidence: &[u32]) -> Event {
    Event::new(
        Candidate {
            input: 0,
            line: 1,
            time: Some(0),
            offset: 0,
            status: 504,
            connection: None,
            request_time: Some(request_time),
            text: CandidateText::new(&TextFields {
                request: Some(format!("GET {target} HTTP/1.1").as_bytes()),
                host: Some(b"shop.test"),
                ..TextFields::default()
            }),
            source: None,
        },
        Cause::ReadTimeout,
        Attempts::One(Attempt {
            upstream: Some(upstream.as_bytes().into()),
            status: None,
            cause: Some(Cause::ReadTimeout),
        }),
        evidence.into(),
        JoinMethod::None,
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    conf: NginxConf,
    errors: Vec<ErrorRecord>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("nginx.conf"), CONF).unwrap_or_else(|e| panic!("{e}"));
        let conf = NginxConf::load(&dir.path().join("nginx.conf")).unwrap_or_else(|e| panic!("{e}"));
        Fixture { dir, conf, errors: Vec::new() }
    }

    fn at(&self, line: usize) -> At {
        At { file: self.dir.path().join("nginx.conf").display().to_string(), line }
    }

    fn cite(&self, cause: Cause, events: &[Event], latency: &[(&str, &[f64])]) -> Vec<Citation> {
        let router = Router::new(&self.conf);
        let mut upstreams = rustc_hash::FxHashMap::default();
        for (addr, times) in latency {
            let mut counts = UpstreamCounts::default();
            times.iter().for_each(|&t| counts.latency.add(t));
            upstreams.insert(addr.as_bytes().into(), counts);
        }
        let mut places = Places::default();
        for e in events {
            assert!(places.add(&router, cause, e, &self.errors), "{} handled nowhere", e.request.line);
        }
        citations(&self.conf, &router, cause, places, &upstreams)
    }
}

#[test]
fn a_timeout_inherited_from_http_is_cited_with_the_measured_times() {
    let f = Fixture::new();
    let events = [event("/timeout/1", 1.002, "127.0.0.1:9100"), event("/timeout/2?x", 1.0, "127.0.0.1:9100")];
    let cited = f.cite(Cause::ReadTimeout, &events, &[("127.0.0.1:9100", &[1.0, 1.0])]);
    assert_eq!(cited.len(), 1);
    let c = &cited[0];
    assert_eq!(
        (c.context.as_str(), &c.at, c.failures),
        ("server shop.test, location /timeout/", &f.at(9), 2)
    );
    assert_eq!(
        c.applied,
        [Applied {
            directive: "proxy_read_timeout".into(),
            value: "1s".into(),
            at: Some(f.at(2)),
            level: Some(Level::Http)
        }]
    );
    let m = c.measured.clone().unwrap_or_else(|| panic!("no measurement"));
    assert_eq!((m.median, m.max, m.samples, m.successes, m.success_p99), (1.002, 1.002, 2, 0, None));
    assert_eq!(c.fix, None, "no successful response: no value the logs support");
    assert_eq!(
        c.pass.as_ref().map(|p| (p.value.as_str(), p.at.clone())),
        Some(("http://127.0.0.1:9100", Some(f.at(9))))
    );
}

#[test]
fn a_slow_but_answering_upstream_gets_a_timeout_for_its_location_only() {
    let f = Fixture::new();
    let mut latency: Vec<f64> = (0..98).map(|i| 0.5 + f64::from(i) * 0.005).collect();
    latency.extend([1.0, 1.0]);
    let events = [event("/slow/a", 1.0, "127.0.0.1:9200"), event("/slow/b", 1.0, "127.0.0.1:9200")];
    let cited = f.cite(Cause::ReadTimeout, &events, &[("127.0.0.1:9200", &latency)]);
    let m = cited[0].measured.clone().unwrap_or_else(|| panic!("no measurement"));
    assert_eq!(m.successes, 98);
    let p99 = m.success_p99.unwrap_or_default();
    assert!((0.97..=1.0).contains(&p99), "p99 of the successes {p99}");
    assert_eq!(
        cited[0].fix,
        Some(Fix {
            block: "location /slow/".into(),
            at: f.at(10),
            directive: "proxy_read_timeout".into(),
            current: None,
            value: "2s".into()
        })
    );
}

#[test]
fn a_buffer_overridden_in_the_location_is_changed_where_it_is_written() {
    let f = Fixture::new();
    let cited = f.cite(Cause::TooBigHeader, &[event("/bigheader/1", 0.01, "127.0.0.1:9300")], &[]);
    let c = &cited[0];
    assert_eq!(
        c.applied,
        [Applied {
            directive: "proxy_buffer_size".into(),
            value: "4k".into(),
            at: Some(f.at(12)),
            level: Some(Level::Location)
        }]
    );
    let fix = c.fix.clone().unwrap_or_else(|| panic!("no fix"));
    assert_eq!((fix.at, fix.current.as_deref(), fix.value.as_str()), (f.at(12), Some("4k"), "16k"));
    assert_eq!(c.measured, None);
}

#[test]
fn connection_failures_cite_the_upstream_block_the_socket_and_localhost() {
    let f = Fixture::new();
    let cited = f.cite(Cause::NoLiveUpstreams, &[event("/nolive/1", 0.0, "pool")], &[]);
    let block = cited[0].upstream.clone().unwrap_or_else(|| panic!("no block"));
    assert_eq!((block.name.as_str(), &block.at), ("pool", &f.at(3)));
    let servers: Vec<(&str, Vec<&str>, usize)> = block
        .servers
        .iter()
        .map(|s| (s.addr.as_str(), s.params.iter().map(String::as_str).collect(), s.at.line))
        .collect();
    assert_eq!(
        servers,
        [
            ("127.0.0.2:9001", vec!["max_fails=1", "fail_timeout=600s"], 4),
            ("127.0.0.2:9002", vec!["down"], 5)
        ]
    );
    let fix = cited[0].fix.clone().unwrap_or_else(|| panic!("no fix"));
    assert_eq!(
        (fix.block.as_str(), fix.at, fix.current.as_deref(), fix.value.as_str()),
        ("upstream pool", f.at(4), Some("max_fails=1 fail_timeout=600s"), "max_fails=1 fail_timeout=10s")
    );

    let socket = f.cite(Cause::UnixSocketMissing, &[event("/php/index.php", 0.0, "unix:/x")], &[]);
    assert_eq!(
        socket[0].socket,
        Some(Socket {
            path: "/nonexistent/ngx502/php.sock".into(),
            exists: false,
            owner: None,
            group: None,
            mode: None
        })
    );

    let v6 = f.cite(Cause::ConnectRefused, &[event("/local/1", 0.0, "[::1]:9400")], &[]);
    assert!(v6[0].localhost_ipv6);
    let both = f.cite(
        Cause::ConnectRefused,
        &[event("/local/1", 0.0, "[::1]:9400"), event("/local/2", 0.0, "127.0.0.1:9400")],
        &[],
    );
    assert!(!both[0].localhost_ipv6, "127.0.0.1 refused too: nothing listens at all");
}

#[test]
fn https_to_a_plain_http_port_is_flagged_with_the_target_to_write() {
    let mut f = Fixture::new();
    let raw = b"2024/05/14 10:22:31 [error] 4242#4242: *1 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 10.0.0.5, server: shop.test, request: \"GET /tls/1 HTTP/1.1\", upstream: \"https://127.0.0.1:9500/tls/1\", host: \"shop.test\"";
    let line = crate::errorlog::parse_line(raw).unwrap_or_else(|| panic!("not an error line"));
    f.errors.push(line.to_record(1, 1, Cause::SslHandshake));
    let e = event_with("/tls/1", 0.01, "127.0.0.1:9500", &[0]);
    let cited = f.cite(Cause::SslHandshake, &[e], &[]);
    let c = &cited[0];
    assert!(c.plain_http);
    let applied: Vec<(&str, &str, Option<usize>)> = c
        .applied
        .iter()
        .map(|a| (a.directive.as_str(), a.value.as_str(), a.at.as_ref().map(|at| at.line)))
        .collect();
    assert_eq!(
        applied,
        [("proxy_ssl_server_name", "on", Some(18)), ("proxy_ssl_protocols", "TLSv1.2 TLSv1.3", None)]
    );
    let fix = c.fix.clone().unwrap_or_else(|| panic!("no fix"));
    assert_eq!(
        (fix.at.line, fix.current.as_deref(), fix.value.as_str()),
        (18, Some("https://127.0.0.1:9500"), "http://127.0.0.1:9500")
    );
}

#[test]
fn retries_and_the_keepalive_race_are_cited_where_they_apply() {
    let f = Fixture::new();
    let race = f.cite(Cause::PrematureClose, &[event("/ka/1", 0.01, "10.0.0.9:80")], &[]);
    let applied: Vec<(&str, &str, Option<usize>)> = race[0]
        .applied
        .iter()
        .map(|a| (a.directive.as_str(), a.value.as_str(), a.at.as_ref().map(|at| at.line)))
        .collect();
    assert_eq!(
        applied,
        [
            ("proxy_next_upstream", "error timeout non_idempotent", Some(19)),
            ("keepalive", "8", Some(21)),
            ("keepalive_timeout", "60s", None),
        ]
    );
    let refused = f.cite(Cause::ConnectRefused, &[event("/nolive/1", 0.0, "127.0.0.2:9001")], &[]);
    assert_eq!(
        refused[0].applied,
        [Applied {
            directive: "proxy_next_upstream".into(),
            value: "error timeout".into(),
            at: None,
            level: None
        }]
    );
    let literal = f.cite(Cause::ConnectRefused, &[event("/timeout/1", 0.0, "127.0.0.1:9100")], &[]);
    assert_eq!(literal[0].applied, [], "a single literal target has nothing to retry");
}
