//! `ngx502 live --metrics-listen` against a real nginx: refused (502), timed-out (504), retried
//! (200 after a refused attempt) and healthy requests flow while a client holds a connection to
//! the endpoint open without finishing its request. The exposition is parsed by the reference
//! parser (`prometheus-parse`) and every counter must reach exactly what nginx did, and nothing
//! else; then it must stay there. The endpoint answers only where it was bound, only its two
//! routes.

use crate::live_nginx::{line_count, Live};
use crate::support::http::get_once;
use crate::support::lab::{self, Lab, Sent};
use crate::support::nginx::free_port;

use prometheus_parse::Scrape;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const ACCESS: &str = "access.upstream.log";
const ERROR: &str = "error.log";
const PATIENCE: Duration = Duration::from_secs(15);

/// A series: family name and sorted labels.
pub type Key = (String, Vec<(String, String)>);

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Scrapes `/metrics` and parses it with the reference parser: counters and gauges by series.
pub fn scrape(addr: SocketAddr) -> (BTreeMap<Key, f64>, String) {
    let response = get_once(addr, "/metrics", "prometheus", "prometheus").expect("scrape /metrics");
    assert_eq!(response.status, 200);
    let text = String::from_utf8(response.body).expect("UTF-8 exposition");
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("prometheus-parse");
    let mut samples = BTreeMap::new();
    for s in parsed.samples {
        let value = match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            other => panic!("{}: neither counter nor gauge: {other:?}", s.metric),
        };
        let mut labels: Vec<(String, String)> =
            s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        labels.sort();
        assert!(samples.insert((s.metric, labels), value).is_none(), "a series twice:\n{text}");
    }
    (samples, text)
}

/// The counters nginx's traffic must produce (gauges are checked apart).
fn expected(
    sent: &[Sent],
    access: &str,
    access_lines: u64,
    error: &str,
    error_lines: u64,
) -> BTreeMap<Key, f64> {
    let mut want: BTreeMap<Key, f64> = BTreeMap::new();
    let mut add = |k: Key, n: f64| *want.entry(k).or_default() += n;
    for s in sent {
        let status = format!("{:03}", s.status);
        match (s.cause, &s.upstream) {
            (Some(cause), Some(upstream)) => {
                add(key("ngx502_responses_total", &[("status", &status), ("upstream", upstream)]), 1.0);
                add(key("ngx502_failures_total", &[("cause", cause), ("upstream", upstream)]), 1.0);
            }
            _ => add(key("ngx502_responses_total", &[("status", &status)]), 1.0),
        }
        for attempt in &s.attempts {
            add(key("ngx502_upstream_attempts_total", &[("upstream", attempt)]), 1.0);
            add(key("ngx502_upstream_hidden_failures_total", &[("upstream", attempt)]), 0.0);
        }
        if let Some((upstream, _)) = &s.hidden {
            add(key("ngx502_upstream_hidden_failures_total", &[("upstream", upstream)]), 1.0);
        }
    }
    for (input, lines) in [(access, access_lines), (error, error_lines)] {
        for (result, n) in [("parsed", lines), ("malformed", 0), ("filtered", 0), ("other", 0)] {
            add(key("ngx502_lines_total", &[("input", input), ("result", result)]), n as f64);
        }
    }
    want
}

#[test]
fn metrics_endpoint_counts_exactly_what_a_failing_nginx_did() {
    let test = "metrics_endpoint_counts_exactly_what_a_failing_nginx_did";
    let Some(bin) = lab::prerequisites(test) else {
        return;
    };
    let tmp = tempfile::Builder::new().prefix("ngx502-metrics.").tempdir_in("/tmp").expect("temp dir");
    let dir = tmp.path();
    let lab = Arc::new(Lab::start(&bin, dir, "error"));
    let (access, error) = (dir.join(ACCESS), dir.join(ERROR));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let addr: SocketAddr = listen.parse().unwrap();
    let mut live = Live::start_with(&[access.clone(), error.clone()], &["--metrics-listen", &listen]);
    live.wait_open(&[access.clone(), error.clone()]);

    // A client that never finishes its request head must not hold anything up.
    let mut stalled = TcpStream::connect(addr).expect("connect to the endpoint");
    stalled.write_all(b"GET /metrics HTTP/1.1\r\nHost: slow").expect("half a request");

    let sent = lab.fire_only(&["refused", "timeout", "retry", "ok"], 1);
    let failures = sent.iter().filter(|s| s.cause.is_some()).count();
    assert!(failures > 0 && sent.iter().any(|s| s.hidden.is_some()), "the traffic has failures and retries");
    live.wait_events(failures);
    let deadline = Instant::now() + PATIENCE;
    while line_count(&access) < sent.len() as u64 {
        assert!(Instant::now() < deadline, "nginx did not log every request");
        thread::sleep(Duration::from_millis(5));
    }

    let (access_name, error_name) = (access.to_str().unwrap(), error.to_str().unwrap());
    let want = expected(&sent, access_name, line_count(&access), error_name, line_count(&error));
    let counters = |samples: &BTreeMap<Key, f64>| -> BTreeMap<Key, f64> {
        samples
            .iter()
            .filter(|((name, _), _)| name.ends_with("_total"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    // The recovered retries are counted when their error line joins them: wait for it, with a
    // deadline, then require the exact set.
    let deadline = Instant::now() + PATIENCE;
    let (samples, text) = loop {
        let (samples, text) = scrape(addr);
        if counters(&samples) == want || Instant::now() > deadline {
            break (samples, text);
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(counters(&samples), want, "counters after the traffic:\n{text}\n{}", live.context());

    // Gauges: every attempt to the refusing and the hanging upstream failed in the last minute,
    // none to the healthy ones; response times are those nginx logged.
    let upstream_of = |name: &str| lab.scenario(name).upstream.clone().unwrap();
    let retry_dead = sent.iter().find_map(|s| s.hidden.clone()).unwrap().0;
    for (upstream, rate) in [
        (upstream_of("refused"), 1.0),
        (upstream_of("timeout"), 1.0),
        (upstream_of("ok"), 0.0),
        (upstream_of("retry"), 0.0),
        (retry_dead, 0.0),
    ] {
        assert_eq!(
            samples.get(&key("ngx502_failure_rate", &[("upstream", &upstream)])),
            Some(&rate),
            "{upstream}:\n{text}"
        );
    }
    let timeout_p50 =
        key("ngx502_upstream_latency_seconds", &[("quantile", "0.5"), ("upstream", &upstream_of("timeout"))]);
    let p50 = samples.get(&timeout_p50).copied().unwrap_or_else(|| panic!("{timeout_p50:?} in\n{text}"));
    assert!((0.95..1.2).contains(&p50), "proxy_read_timeout is 1 s: p50 {p50}");
    let gauges = samples.len() - counters(&samples).len();
    let upstreams = want.keys().filter(|(n, _)| n == "ngx502_upstream_attempts_total").count();
    assert!(gauges > upstreams, "a failure rate per upstream, and response times:\n{text}");

    // Counters hold still when nothing happens, and the stalled client is still connected.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(counters(&scrape(addr).0), want, "counters moved without traffic");
    assert!(stalled.write_all(b"\r\n").is_ok());

    let health = get_once(addr, "/healthz", "h", "h").expect("healthz");
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    for path in ["/", "/metrics/extra", "/debug/pprof"] {
        assert_eq!(get_once(addr, path, "h", "h").expect(path).status, 404, "{path}");
    }
    let elsewhere: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    assert!(TcpStream::connect(elsewhere).is_err(), "bound to 127.0.0.1 only, yet {elsewhere} answered");

    live.stop();
    let mut lab = Arc::try_unwrap(lab).ok().expect("lab still shared");
    lab.stop();
}

/// A 502 shown as `unattributed` before its error line came: the counters take it only once the
/// late line corrected it, under its true cause and upstream, so no series ever shrinks.
#[test]
fn counters_take_a_late_corrected_failure_under_its_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let (access, error) = (tmp.path().join("access.log"), tmp.path().join("error.log"));
    fs::write(&access, "").unwrap();
    fs::write(&error, "").unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let addr: SocketAddr = listen.parse().unwrap();
    let args = ["--error-log-offset", "+0000", "--metrics-listen", &listen];
    let mut live = Live::start_with(&[access.clone(), error.clone()], &args);
    live.wait_open(&[access.clone(), error.clone()]);
    let now = chrono::Utc::now();
    let append = |path: &std::path::Path, line: String| {
        let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(file, "{line}").unwrap();
    };
    let access_time = now.format("%d/%b/%Y:%H:%M:%S +0000");
    append(&access, format!("10.1.1.1 - - [{access_time}] \"GET /late/1 HTTP/1.1\" 502 12 \"-\" \"t\""));
    live.wait_events(1);
    let (samples, text) = scrape(addr);
    let failures = |s: &BTreeMap<Key, f64>| -> Vec<Key> {
        s.keys().filter(|(name, _)| name == "ngx502_failures_total").cloned().collect()
    };
    assert_eq!(failures(&samples), Vec::<Key>::new(), "not counted while it may be corrected:\n{text}");

    append(
        &error,
        format!(
            "{} [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.1.1.1, server: _, request: \"GET /late/1 HTTP/1.1\", upstream: \"http://10.0.0.9:8080/late/1\", host: \"app\"",
            now.format("%Y/%m/%d %H:%M:%S")
        ),
    );
    live.wait_events(2);
    let (samples, text) = scrape(addr);
    let upstream = "10.0.0.9:8080";
    assert_eq!(
        failures(&samples),
        [key("ngx502_failures_total", &[("cause", "connect_refused"), ("upstream", upstream)])],
        "{text}"
    );
    assert_eq!(
        samples[&key("ngx502_failures_total", &[("cause", "connect_refused"), ("upstream", upstream)])],
        1.0
    );
    assert_eq!(
        samples[&key("ngx502_responses_total", &[("status", "502"), ("upstream", upstream)])],
        1.0,
        "{text}"
    );
    let output = live.stop();
    let correction: Value = serde_json::from_str(&output[1].1).expect("NDJSON");
    assert_eq!(correction["correction"]["was"], "unattributed", "{correction}");
}
