//! Tests of the fold: a run folded in time segments, or with its timeline summed from fine
//! buckets, makes the report the run folded at once makes.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::pipeline::{analyze, Options};

/// Minutes the generated run lasts: four hours, so the report's buckets are 5 minutes and the
/// fine ones 1.
const MINUTES: u32 = 240;
/// The minute the run is split at.
const SPLIT: u32 = 120;

const CONF: &str = "http {
    server {
        server_name shop.test;
        location /api/ { proxy_pass http://10.0.0.1:8080; proxy_read_timeout 1s; }
        location /shop/ { proxy_pass http://pool; }
    }
    upstream pool { server 10.0.0.2:8080; server 10.0.0.3:8080; }
}
";

/// One request: an access line, and the error line behind it when nginx wrote one.
struct Request {
    minute: u32,
    second: u32,
    cid: u32,
    target: String,
    status: u16,
    request_time: f64,
    upstream: &'static str,
    error: Option<&'static str>,
}

fn stamp_access(minute: u32, second: u32) -> String {
    format!("14/May/2024:{:02}:{:02}:{:02} +0200", minute / 60, minute % 60, second)
}

fn stamp_error(minute: u32, second: u32) -> String {
    format!("2024/05/14 {:02}:{:02}:{:02}", minute / 60, minute % 60, second)
}

/// Every minute: successes on both locations, a timeout every 7 minutes, a refused connection
/// every 5 (to one of two servers), a 502 the backend sent itself every 11, and an outage of
/// refused connections from minute 100 to 109, plus error lines no request claims.
fn requests() -> Vec<Request> {
    let mut out = Vec::new();
    let mut cid = 0;
    let mut push = |out: &mut Vec<Request>, minute, second, target: String, status, rt, upstream, error| {
        cid += 1;
        out.push(Request { minute, second, cid, target, status, request_time: rt, upstream, error });
    };
    for m in 0..MINUTES {
        push(&mut out, m, 1, format!("/api/orders/{m}"), 200, 0.2, "10.0.0.1:8080", None);
        push(&mut out, m, 2, "/shop/cart".into(), 200, 0.1, "10.0.0.2:8080", None);
        if m % 7 == 0 {
            let rt = 1.0 + f64::from(m % 3) * 0.001;
            push(&mut out, m, 10, format!("/api/orders/{m}"), 504, rt, "10.0.0.1:8080", Some("timeout"));
        }
        if m % 5 == 0 {
            let upstream = if m % 10 == 0 { "10.0.0.2:8080" } else { "10.0.0.3:8080" };
            push(&mut out, m, 20, format!("/shop/item/{m}"), 502, 0.001, upstream, Some("refused"));
        }
        if m % 11 == 0 {
            push(&mut out, m, 30, "/shop/cart".into(), 502, 0.05, "10.0.0.3:8080", None);
        }
        if (100..110).contains(&m) {
            for s in 40..50 {
                push(&mut out, m, s, format!("/shop/item/{s}"), 502, 0.001, "10.0.0.2:8080", Some("refused"));
            }
        }
    }
    out
}

/// The access and error logs of the requests from minute `from` until minute `to`.
fn logs(requests: &[Request], from: u32, to: u32) -> (String, String) {
    let (mut access, mut error) = (String::new(), String::new());
    for r in requests.iter().filter(|r| (from..to).contains(&r.minute)) {
        let us = if r.error.is_some() { "-".to_owned() } else { r.status.to_string() };
        let _ = writeln!(
            access,
            "10.1.{}.{} - - [{}] \"GET {} HTTP/1.1\" {} 10 \"-\" \"curl/8\" host=\"shop.test\" cid={} rt={:.3} ua=\"{}\" us=\"{us}\" urt=\"{:.3}\" uct=\"0.000\" uht=\"-\"",
            r.cid / 250,
            r.cid % 250,
            stamp_access(r.minute, r.second),
            r.target,
            r.status,
            r.cid,
            r.request_time,
            r.upstream,
            r.request_time,
        );
        let message = match r.error {
            Some("timeout") => {
                "upstream timed out (110: Connection timed out) while reading response header from upstream"
            }
            Some(_) => "connect() failed (111: Connection refused) while connecting to upstream",
            None => continue,
        };
        let _ = writeln!(
            error,
            "{} [error] 42#42: *{} {message}, client: 10.1.{}.{}, server: shop.test, request: \"GET {} HTTP/1.1\", upstream: \"http://{}{}\", host: \"shop.test\"",
            stamp_error(r.minute, r.second),
            r.cid,
            r.cid / 250,
            r.cid % 250,
            r.target,
            r.upstream,
            r.target,
        );
    }
    for m in (from..to).filter(|m| m % 13 == 0) {
        let _ = writeln!(
            error,
            "{} [error] 42#42: *{} connect() failed (111: Connection refused) while connecting to upstream, client: 10.9.9.9, server: shop.test, request: \"GET /health HTTP/1.1\", upstream: \"http://10.0.0.3:8080/health\", host: \"shop.test\"",
            stamp_error(m, 55),
            900_000 + m,
        );
    }
    (access, error)
}

/// The analysis of the logs of minutes `from` until `to`, read from `dir`, with `conf`.
fn analysis(
    dir: &Path,
    conf: &Arc<NginxConf>,
    requests: &[Request],
    from: u32,
    to: u32,
) -> crate::pipeline::Analysis {
    let (access, error) = logs(requests, from, to);
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
    };
    write("access.log", &access);
    write("error.log", &error);
    let (specs, problems) =
        crate::input::walk::expand(&[dir.join("access.log"), dir.join("error.log")], None);
    assert!(problems.is_empty());
    let options =
        Options { formats: crate::input::sniff::builtin_candidates(), quiet: true, ..Options::default() };
    let mut analysis = analyze(&specs, &options);
    analysis.nginx_conf = Some(Arc::clone(conf));
    analysis
}

fn json(report: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| panic!("{e}"))
}

fn folded(analyses: &[&crate::pipeline::Analysis], bucket: Option<i64>) -> Report {
    let mut fold = Fold::new(Limits { top: 3, templates: true }, bucket);
    analyses.iter().for_each(|a| fold.add(a));
    fold.finish()
}

/// The logs of the whole run, and of its two halves (each read from its own directory, named
/// as the whole run's inputs are, its lines numbered on from the first half's).
struct Run {
    _dirs: [tempfile::TempDir; 3],
    whole: crate::pipeline::Analysis,
    halves: [crate::pipeline::Analysis; 2],
}

fn run() -> Run {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")));
    let requests = requests();
    let path = dirs[0].path().join("nginx.conf");
    std::fs::write(&path, CONF).unwrap_or_else(|e| panic!("{e}"));
    let conf = Arc::new(NginxConf::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let whole = analysis(dirs[0].path(), &conf, &requests, 0, MINUTES);
    let mut first = analysis(dirs[1].path(), &conf, &requests, 0, SPLIT);
    let mut second = analysis(dirs[2].path(), &conf, &requests, SPLIT, MINUTES);
    let access_lines =
        first.inputs.iter().find(|i| i.kind == Some(crate::input::Kind::Access)).map(|i| i.lines);
    for e in &mut second.correlation.events {
        e.request.line += access_lines.unwrap_or(0);
    }
    for half in [&mut first, &mut second] {
        for (row, named) in half.inputs.iter_mut().zip(&whole.inputs) {
            row.path.clone_from(&named.path);
        }
    }
    Run { _dirs: dirs, whole, halves: [first, second] }
}

#[test]
fn a_run_folded_in_two_time_segments_makes_the_report_of_the_whole_run() {
    let run = run();
    let whole = Report::build(&run.whole, Limits { top: 3, templates: true }, None);
    // The generated run has every part of the report the segments must add up.
    assert_eq!(whole.period.bucket_seconds, 300);
    assert!(whole.unmatched_error_lines > 0);
    assert_eq!(whole.incidents.len(), 1);
    let causes: Vec<&str> = whole.causes.iter().map(|c| c.cause).collect();
    assert_eq!(causes, ["connect_refused", "read_timeout", "upstream_returned_502"]);
    assert!(whole.causes.iter().all(|c| !c.citations.is_empty() && !c.findings.is_empty()));
    assert!(whole.causes.iter().all(|c| c.evidence.len() == 3));
    assert_eq!(whole.inputs.iter().filter(|i| i.join.is_some()).count(), 1);

    let [first, second] = &run.halves;
    assert!(!first.correlation.events.is_empty() && !second.correlation.events.is_empty());
    assert_eq!(json(&folded(&[first, second], None)), json(&whole));
}

#[test]
fn a_timeline_summed_from_fine_buckets_is_the_timeline_bucketed_at_once() {
    let run = run();
    let chosen = folded(&[&run.whole], None);
    let given = folded(&[&run.whole], Some(300));
    assert_eq!(chosen.period.bucket_seconds, 300);
    assert!(chosen.upstreams.iter().any(|u| u.failures_over_time.iter().filter(|&&n| n > 0).count() > 1));
    assert_eq!(json(&chosen), json(&given));
    let fine = folded(&[&run.whole], Some(60));
    assert_eq!(fine.timeline.len(), MINUTES as usize);
    assert_eq!(fine.timeline.iter().map(|b| b.requests).sum::<u64>(), chosen.totals.requests);
}

#[test]
fn timeouts_name_their_endpoints_by_the_top_paths_key_and_keep_exact_times() {
    use crate::report::schema::Finding;
    let run = run();
    let timeouts = |templates| {
        let report = Report::build(&run.whole, Limits { top: 3, templates }, None);
        let cause = report.causes.into_iter().find(|c| c.cause == "read_timeout");
        let cause = cause.unwrap_or_else(|| panic!("no read_timeout row"));
        let gave_up = cause.findings.into_iter().find(|f| matches!(f, Finding::GaveUpAfter { .. }));
        let measured = cause.citations.first().and_then(|c| c.measured.clone());
        let measured = measured.map(|m| (m.median, m.max, m.samples));
        (gave_up, measured, cause.top_paths)
    };
    // A timeout every 7 minutes of 240 on /api/orders/{m}, 1.000 s, 1.001 s or 1.002 s (12, 12
    // and 11 of them): the 18th of the 35 sorted times is the median.
    let (gave_up, measured, top_paths) = timeouts(true);
    let expected = Finding::GaveUpAfter {
        median_seconds: 1.001,
        samples: 35,
        endpoints: vec![("/api/orders/{id}".into(), 35)],
    };
    assert_eq!(gave_up, Some(expected));
    assert_eq!(measured, Some((1.001, 1.002, 35)));
    assert_eq!(top_paths, [("/api/orders/{id}".to_owned(), 35)]);

    let (gave_up, measured, _) = timeouts(false);
    let raw = ["/api/orders/0", "/api/orders/105", "/api/orders/112"].map(|p| (p.to_owned(), 1));
    let expected = Finding::GaveUpAfter { median_seconds: 1.001, samples: 35, endpoints: raw.to_vec() };
    assert_eq!(gave_up, Some(expected));
    assert_eq!(measured, Some((1.001, 1.002, 35)));
}
