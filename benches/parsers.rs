//! Throughput of each parser and of the whole report, on generated lines held in memory.
//!
//! `cargo bench --bench parsers` (divan prints time per iteration and bytes/s). The peer
//! comparison on a 1 GB file is `benches/peers.sh`.

use divan::counter::BytesCount;
use divan::Bencher;
use ngx502::access::{AccessFormat, AccessParser, LogFormat};
use ngx502::errorlog::parse_line;
use ngx502::input::{InputSpec, Origin};
use ngx502::lines::lines;
use ngx502::pipeline::{analyze, Options};

fn main() {
    divan::main();
}

const LINES: usize = 20_000;

fn access_log(format: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..LINES {
        let status = if i % 97 == 0 { 502 } else { 200 };
        let (client, sec, path) = (format!("203.0.{}.{}", i % 250, i % 7), i % 60, i % 1000);
        let line = match format {
            "combined" => format!(
                "{client} - - [14/May/2024:10:22:{sec:02} +0200] \"GET /v1/items/{path}?page=2 HTTP/1.1\" {status} 1534 \"https://app.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0\"\n"
            ),
            "upstream" => format!(
                "{client} - - [14/May/2024:10:22:{sec:02} +0200] \"GET /v1/items/{path}?page=2 HTTP/1.1\" {status} 1534 \"https://app.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0\" host=\"api.example.com\" cid={i} rt=0.012 ua=\"10.0.1.{}:8080\" us=\"{status}\" urt=\"0.011\" uct=\"0.001\" uht=\"0.010\"\n",
                11 + i % 4
            ),
            _ => format!(
                "{{\"time_iso8601\":\"2024-05-14T10:22:{sec:02}+02:00\",\"remote_addr\":\"{client}\",\"request\":\"GET /v1/items/{path}?page=2 HTTP/1.1\",\"status\":\"{status}\",\"connection\":\"{i}\",\"upstream_addr\":\"10.0.1.11:8080\",\"upstream_status\":\"{status}\",\"request_time\":\"0.012\"}}\n"
            ),
        };
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn error_log() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..LINES {
        out.extend_from_slice(format!(
            "2024/05/14 10:22:{:02} [error] 2817#2817: *{i} connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: api.example.com, request: \"GET /v1/items/{i} HTTP/1.1\", upstream: \"http://10.0.1.11:8080/v1/items/{i}\", host: \"api.example.com\"\n",
            i % 60
        ).as_bytes());
    }
    out
}

fn format_named(name: &str) -> AccessFormat {
    match LogFormat::preset(name) {
        Some(f) => AccessFormat::Template(f),
        None => AccessFormat::json_by_names(),
    }
}

#[divan::bench(args = ["combined", "upstream", "json"])]
fn access_parser(bencher: Bencher, name: &str) {
    let log = access_log(name);
    let format = format_named(name);
    bencher.counter(BytesCount::of_slice(&log)).bench_local(|| {
        let mut parser = AccessParser::new(&format);
        lines(&log).filter(|l| parser.parse(l).is_ok()).count()
    });
}

#[divan::bench]
fn error_log_parser(bencher: Bencher) {
    let log = error_log();
    bencher
        .counter(BytesCount::of_slice(&log))
        .bench_local(|| lines(&log).filter_map(parse_line).filter(|l| l.cause().is_some()).count());
}

#[divan::bench(sample_count = 20)]
fn whole_report(bencher: Bencher) {
    let dir = std::env::temp_dir().join(format!("ngx502-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (access, error) = (dir.join("access.log"), dir.join("error.log"));
    let log = access_log("upstream");
    std::fs::write(&access, &log).expect("write access log");
    std::fs::write(&error, error_log()).expect("write error log");
    let inputs: Vec<InputSpec> = [access, error]
        .into_iter()
        .map(|p| InputSpec {
            origin: Origin::File(p),
            forced: None,
            format: None,
            from_walk: false,
            resume: Default::default(),
            source: None,
        })
        .collect();
    let options =
        Options { formats: ngx502::input::sniff::builtin_candidates(), quiet: true, ..Options::default() };
    bencher.counter(BytesCount::of_slice(&log)).bench_local(|| analyze(&inputs, &options).inputs.len());
    let _ = std::fs::remove_dir_all(&dir);
}
