//! `ngx502 export --format parquet|csv`: the tables are read back with polars and must agree with
//! `ngx502 report --output json` on the same logs, cell for cell where the fixture fixes the value.
//!
//! The fixture is written here: an `upstream`-format access log in +0200 and its error log, with a
//! retried request (connect refused, then a read timeout), plain refusals and timeouts, backend
//! 502s whose paths are spreadsheet formulas, a quiet stretch with no failure, and requests on
//! both sides of midnight UTC (one of them after local midnight but before UTC midnight).

#![cfg(feature = "parquet")]

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;
use serde_json::Value;

use crate::support::accounting::checked;

type TestResult = Result<(), Box<dyn Error>>;

const ACCESS: &str = r#"203.0.113.7 - - [14/May/2024:10:00:01 +0200] "GET /v1/items HTTP/1.1" 200 512 "-" "curl/8.0" host="api.example.com" cid=100 rt=0.010 ua="10.0.1.11:80" us="200" urt="0.009" uct="0.001" uht="0.009"
203.0.113.7 - - [14/May/2024:10:01:05 +0200] "GET /v1/items?page=2 HTTP/1.1" 504 160 "-" "curl/8.0" host="api.example.com" cid=101 rt=60.003 ua="10.0.1.11:80, 10.0.1.12:80" us="502, 504" urt="0.000, 60.001" uct="-, 0.001" uht="-, -"
198.51.100.9 - - [14/May/2024:10:02:00 +0200] "POST /v1/orders HTTP/1.1" 502 150 "-" "curl/8.0" host="api.example.com" cid=102 rt=0.001 ua="10.0.1.11:80" us="502" urt="0.000" uct="-" uht="-"
192.0.2.1 - - [14/May/2024:10:03:00 +0200] "GET =HYPERLINK(\x22http://evil.example/\x22) HTTP/1.1" 502 150 "-" "curl/8.0" host="api.example.com" cid=103 rt=0.005 ua="10.0.1.13:80" us="502" urt="0.004" uct="0.001" uht="0.004"
192.0.2.1 - - [14/May/2024:10:04:00 +0200] "GET @SUM(1) HTTP/1.1" 502 150 "-" "curl/8.0" host="api.example.com" cid=106 rt=0.005 ua="10.0.1.13:80" us="502" urt="0.004" uct="0.001" uht="0.004"
203.0.113.7 - - [14/May/2024:12:00:00 +0200] "GET /v1/items HTTP/1.1" 200 512 "-" "curl/8.0" host="api.example.com" cid=107 rt=0.010 ua="10.0.1.12:80" us="200" urt="0.009" uct="0.001" uht="0.009"
203.0.113.8 - - [15/May/2024:01:30:00 +0200] "GET /v1/slow HTTP/1.1" 504 160 "-" "curl/8.0" host="api.example.com" cid=104 rt=60.001 ua="10.0.1.12:80" us="504" urt="60.000" uct="0.001" uht="-"
203.0.113.9 - - [15/May/2024:03:00:00 +0200] "GET /v1/items HTTP/1.1" 502 150 "-" "curl/8.0" host="api.example.com" cid=105 rt=0.001 ua="10.0.1.11:80" us="502" urt="0.000" uct="-" uht="-"
"#;

/// The line that decides the retried request's cause (its last attempt).
const TIMEOUT_LINE: &str = r#"2024/05/14 10:01:05 [error] 2817#2817: *101 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 203.0.113.7, server: api.example.com, request: "GET /v1/items?page=2 HTTP/1.1", upstream: "http://10.0.1.12:80/v1/items?page=2", host: "api.example.com""#;

fn error_log() -> String {
    let refused = |time: &str, cid: u32, client: &str, request: &str, peer: &str| {
        let path = request.split(' ').nth(1).unwrap_or("/");
        format!(
            "{time} [error] 2817#2817: *{cid} connect() failed (111: Connection refused) while connecting to upstream, client: {client}, server: api.example.com, request: \"{request}\", upstream: \"http://{peer}{path}\", host: \"api.example.com\"\n"
        )
    };
    [
        refused("2024/05/14 10:00:05", 101, "203.0.113.7", "GET /v1/items?page=2 HTTP/1.1", "10.0.1.11:80"),
        format!("{TIMEOUT_LINE}\n"),
        refused("2024/05/14 10:02:00", 102, "198.51.100.9", "POST /v1/orders HTTP/1.1", "10.0.1.11:80"),
        "2024/05/15 01:30:00 [error] 2817#2817: *104 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 203.0.113.8, server: api.example.com, request: \"GET /v1/slow HTTP/1.1\", upstream: \"http://10.0.1.12:80/v1/slow\", host: \"api.example.com\"\n".to_owned(),
        refused("2024/05/15 03:00:00", 105, "203.0.113.9", "GET /v1/items HTTP/1.1", "10.0.1.11:80"),
    ]
    .concat()
}

/// A temp dir holding the fixture logs.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Result<Fixture, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("access.log"), ACCESS)?;
        std::fs::write(dir.path().join("error.log"), error_log())?;
        Ok(Fixture { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs ngx502 on the fixture logs with `args` after them; returns stdout, or stderr as the error.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
            .args(&args[..1])
            .arg("-q")
            .arg("--access")
            .arg(self.path("access.log"))
            .arg("--error")
            .arg(self.path("error.log"))
            .args(&args[1..])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn report(&self) -> Result<Value, Box<dyn Error>> {
        Ok(checked(&self.run(&["report", "--output", "json"])?))
    }
}

fn read_parquet(path: &Path) -> PolarsResult<DataFrame> {
    ParquetReader::new(std::fs::File::open(path)?).finish()
}

fn read_csv(path: &Path) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.into()))?
        .finish()
}

fn strings(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame.column(name)?.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

fn ints(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(frame.column(name)?.cast(&DataType::Int64)?.i64()?.iter().collect())
}

/// The report's count per cause.
fn report_causes(report: &Value) -> BTreeMap<String, i64> {
    report["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["cause"].as_str().unwrap_or("?").to_owned(), c["count"].as_i64().unwrap_or(-1)))
        .collect()
}

/// Rows per value of the failures table's `cause` column.
fn table_causes(frame: &DataFrame) -> PolarsResult<BTreeMap<String, i64>> {
    let mut counts = BTreeMap::new();
    for cause in strings(frame, "cause")? {
        *counts.entry(cause.unwrap_or_default()).or_insert(0) += 1;
    }
    Ok(counts)
}

fn utc_micros(rfc3339: &str) -> Result<i64, Box<dyn Error>> {
    Ok(chrono::DateTime::parse_from_rfc3339(rfc3339)?.timestamp() * 1_000_000)
}

#[test]
fn parquet_failures_match_the_json_report() -> TestResult {
    let fixture = Fixture::new()?;
    let report = fixture.report()?;
    let out = fixture.path("tables");
    fixture.run(&["export", "--format", "parquet", "-o", out.to_str().ok_or("path")?])?;
    let failures = read_parquet(&out.join("failures.parquet"))?;

    assert_eq!(Some(failures.height() as u64), report["totals"]["failures"].as_u64());
    assert_eq!(failures.height(), 6);
    assert_eq!(table_causes(&failures)?, report_causes(&report));
    assert_eq!(
        table_causes(&failures)?,
        BTreeMap::from([
            ("connect_refused".to_owned(), 2),
            ("read_timeout".to_owned(), 2),
            ("upstream_returned_502".to_owned(), 2)
        ])
    );
    let names: Vec<&str> = failures.get_column_names().into_iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "time",
            "utc_offset_seconds",
            "client",
            "method",
            "path",
            "host",
            "status",
            "upstream",
            "cause",
            "attempts",
            "attempt_chain",
            "request_time",
            "upstream_response_time",
            "evidence",
            "join",
            "source",
            "line"
        ]
    );
    assert_eq!(
        failures.column("time")?.dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );

    // The retried request, cell by cell.
    let first = |name: &str| -> PolarsResult<Option<String>> { Ok(strings(&failures, name)?.remove(0)) };
    assert_eq!(
        failures.column("time")?.datetime()?.physical().get(0),
        Some(utc_micros("2024-05-14T08:01:05Z")?)
    );
    assert_eq!(ints(&failures, "utc_offset_seconds")?[0], Some(7200));
    assert_eq!(first("client")?.as_deref(), Some("203.0.113.7"));
    assert_eq!(first("method")?.as_deref(), Some("GET"));
    assert_eq!(first("path")?.as_deref(), Some("/v1/items"));
    assert_eq!(first("host")?.as_deref(), Some("api.example.com"));
    assert_eq!(ints(&failures, "status")?[0], Some(504));
    assert_eq!(first("upstream")?.as_deref(), Some("10.0.1.12:80"));
    assert_eq!(first("cause")?.as_deref(), Some("read_timeout"));
    assert_eq!(ints(&failures, "attempts")?[0], Some(2));
    assert_eq!(
        first("attempt_chain")?.as_deref(),
        Some("connect_refused @10.0.1.11:80 → read_timeout @10.0.1.12:80")
    );
    assert_eq!(failures.column("request_time")?.f64()?.get(0), Some(60.003));
    assert_eq!(first("upstream_response_time")?.as_deref(), Some("0.000, 60.001"));
    assert_eq!(first("evidence")?.as_deref(), Some(TIMEOUT_LINE));
    assert_eq!(first("join")?.as_deref(), Some("connection"));
    assert_eq!(first("source")?, Some(fixture.path("access.log").display().to_string()));
    assert_eq!(ints(&failures, "line")?[0], Some(2));

    // The same evidence line is the report's for that cause; the statuses agree per upstream.
    let timeout = report["causes"].as_array().into_iter().flatten().find(|c| c["cause"] == "read_timeout");
    assert_eq!(timeout.map(|c| c["evidence"][0].clone()), Some(Value::from(TIMEOUT_LINE)));
    let upstreams = strings(&failures, "upstream")?;
    let statuses = ints(&failures, "status")?;
    for row in report["upstreams"].as_array().into_iter().flatten() {
        for (status, field) in [(502, "client_502"), (504, "client_504")] {
            let n = upstreams
                .iter()
                .zip(&statuses)
                .filter(|(u, s)| u.as_deref() == row["upstream"].as_str() && **s == Some(status))
                .count();
            assert_eq!(Some(n as u64), row[field].as_u64(), "{} {field}", row["upstream"]);
        }
    }
    Ok(())
}

#[test]
fn parquet_buckets_match_the_report_timeline() -> TestResult {
    let fixture = Fixture::new()?;
    let report = fixture.report()?;
    let out = fixture.path("tables");
    fixture.run(&["export", "--format", "parquet", "-o", out.to_str().ok_or("path")?])?;
    let buckets = read_parquet(&out.join("buckets.parquet"))?;

    let bucket_seconds = ints(&buckets, "bucket_seconds")?;
    assert!(bucket_seconds.iter().all(|s| *s == Some(900)), "{bucket_seconds:?}");
    assert_eq!(report["period"]["bucket_seconds"].as_i64(), Some(900));

    // Per bucket: requests (repeated on each row) and failures per cause, as the report's timeline has them.
    type Bucket = (i64, BTreeMap<String, i64>);
    let mut table: BTreeMap<i64, Bucket> = BTreeMap::new();
    let starts: Vec<Option<i64>> = buckets.column("bucket_start")?.datetime()?.physical().iter().collect();
    let (causes, failures, requests) =
        (strings(&buckets, "cause")?, ints(&buckets, "failures")?, ints(&buckets, "requests")?);
    for i in 0..buckets.height() {
        let entry = table.entry(starts[i].ok_or("null bucket_start")?).or_default();
        entry.0 = requests[i].ok_or("null requests")?;
        if let Some(cause) = &causes[i] {
            *entry.1.entry(cause.clone()).or_insert(0) += failures[i].ok_or("null failures")?;
        }
    }
    let mut timeline: BTreeMap<i64, Bucket> = BTreeMap::new();
    for b in report["timeline"].as_array().into_iter().flatten() {
        let by_cause = b["by_cause"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(-1)))
            .collect();
        timeline.insert(
            utc_micros(b["start"].as_str().ok_or("start")?)?,
            (b["requests"].as_i64().unwrap_or(-1), by_cause),
        );
    }
    assert_eq!(table, timeline);

    // The quiet bucket at 12:00 +0200 is one row without upstream or cause.
    let upstreams = strings(&buckets, "upstream")?;
    let (status_502, status_504) = (ints(&buckets, "status_502")?, ints(&buckets, "status_504")?);
    let (quiet_start, busy_start) =
        (utc_micros("2024-05-14T10:00:00Z")?, utc_micros("2024-05-14T08:00:00Z")?);
    let quiet = starts.iter().position(|s| *s == Some(quiet_start)).ok_or("no 12:00 bucket")?;
    assert_eq!(
        (upstreams[quiet].as_deref(), causes[quiet].as_deref(), failures[quiet], requests[quiet]),
        (None, None, Some(0), Some(1))
    );

    // The 10:00 bucket: the retried 504 on .12, one refusal on .11, two backend 502s on .13.
    type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = (0..buckets.height())
        .filter(|&i| starts[i] == Some(busy_start))
        .map(|i| (upstreams[i].as_deref(), causes[i].as_deref(), failures[i], status_502[i], status_504[i]))
        .collect();
    assert_eq!(
        rows,
        [
            (Some("10.0.1.11:80"), Some("connect_refused"), Some(1), Some(1), Some(0)),
            (Some("10.0.1.12:80"), Some("read_timeout"), Some(1), Some(0), Some(1)),
            (Some("10.0.1.13:80"), Some("upstream_returned_502"), Some(2), Some(2), Some(0)),
        ]
    );
    Ok(())
}

#[test]
fn csv_defuses_formulas_and_reads_back_like_parquet() -> TestResult {
    let fixture = Fixture::new()?;
    let out = fixture.path("tables");
    let dir = out.to_str().ok_or("path")?;
    fixture.run(&["export", "--format", "csv", "-o", dir])?;
    fixture.run(&["export", "--format", "parquet", "-o", dir])?;

    let text = std::fs::read_to_string(out.join("failures.csv"))?;
    let header = text.lines().next().unwrap_or_default();
    assert_eq!(
        header,
        "time,utc_offset_seconds,client,method,path,host,status,upstream,cause,attempts,attempt_chain,request_time,upstream_response_time,evidence,join,source,line"
    );
    assert!(!text.lines().any(|l| l.contains(",=") || l.contains(",@")), "{text}");

    let csv = read_csv(&out.join("failures.csv"))?;
    let parquet = read_parquet(&out.join("failures.parquet"))?;
    assert_eq!(csv.height(), parquet.height());
    assert_eq!(table_causes(&csv)?, table_causes(&parquet)?);
    let paths = strings(&csv, "path")?;
    assert_eq!(paths[2].as_deref(), Some("'=HYPERLINK(\\x22http://evil.example/\\x22)"));
    assert_eq!(paths[3].as_deref(), Some("'@SUM(1)"));
    assert_eq!(strings(&parquet, "path")?[3].as_deref(), Some("@SUM(1)"));
    assert_eq!(strings(&csv, "time")?[0].as_deref(), Some("2024-05-14T08:01:05Z"));
    assert_eq!(strings(&csv, "evidence")?[0].as_deref(), Some(TIMEOUT_LINE));

    let buckets = read_csv(&out.join("buckets.csv"))?;
    assert_eq!(buckets.height(), read_parquet(&out.join("buckets.parquet"))?.height());
    Ok(())
}

#[test]
fn partition_day_writes_hive_directories_by_utc_date() -> TestResult {
    let fixture = Fixture::new()?;
    let out = fixture.path("exports");
    fixture.run(&[
        "export",
        "--format",
        "parquet",
        "--partition",
        "day",
        "-o",
        out.to_str().ok_or("path")?,
    ])?;

    let mut files = Vec::new();
    let mut pending = vec![out.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(&out)?.display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "buckets/date=2024-05-14/part-0.parquet",
            "buckets/date=2024-05-15/part-0.parquet",
            "failures/date=2024-05-14/part-0.parquet",
            "failures/date=2024-05-15/part-0.parquet",
        ]
    );
    // 01:30 on the 15th in +0200 is still the 14th in UTC.
    let heights: Vec<usize> = ["2024-05-14", "2024-05-15"]
        .iter()
        .map(|d| read_parquet(&out.join(format!("failures/date={d}/part-0.parquet"))).map(|f| f.height()))
        .collect::<PolarsResult<_>>()?;
    assert_eq!(heights, [5, 1]);
    let last_day = read_parquet(&out.join("failures/date=2024-05-15/part-0.parquet"))?;
    assert_eq!(strings(&last_day, "path")?, [Some("/v1/items".to_owned())]);
    assert!(!last_day.get_column_names().iter().any(|n| n.as_str() == "date"));
    Ok(())
}

#[test]
fn partition_by_day_and_label_puts_a_fleet_in_one_tree() -> TestResult {
    let fixture = Fixture::new()?;
    let out = fixture.path("fleet");
    for host in ["web1", "web2"] {
        let label = format!("host={host}");
        let args = [
            "--label",
            &label,
            "--label",
            "dc=fra",
            "--partition",
            "day,host",
            "-o",
            out.to_str().ok_or("path")?,
        ];
        fixture.run(&[&["export", "--format", "parquet"][..], &args[..]].concat())?;
    }
    let failures =
        |day: &str, host: &str| out.join(format!("failures/date={day}/label_host={host}/part-0.parquet"));
    for host in ["web1", "web2"] {
        let first = read_parquet(&failures("2024-05-14", host))?;
        assert_eq!(first.height(), 5);
        assert_eq!(read_parquet(&failures("2024-05-15", host))?.height(), 1);
        assert_eq!(strings(&first, "label_dc")?, vec![Some("fra".to_owned()); 5]);
        let names: Vec<String> = first.get_column_names().iter().map(|n| n.to_string()).collect();
        assert!(!names.contains(&"label_host".to_owned()), "the partition's label lives in the path");
        assert!(out.join(format!("buckets/date=2024-05-14/label_host={host}/part-0.parquet")).is_file());
    }
    // Without --partition, the label is a column of every row.
    let csv = String::from_utf8(fixture.run(&["export", "--format", "csv", "--label", "host=web1"])?)?;
    assert!(csv.lines().next().is_some_and(|h| h.ends_with(",label_host")), "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",web1")));
    Ok(())
}

#[test]
fn stdout_gets_the_failures_table_alone() -> TestResult {
    let fixture = Fixture::new()?;
    let csv = String::from_utf8(fixture.run(&["export", "--format", "csv"])?)?;
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("time,utc_offset_seconds,client,"), "{csv}");
    let parquet = fixture.run(&["export", "--format", "parquet"])?;
    let frame = ParquetReader::new(std::io::Cursor::new(parquet)).finish()?;
    assert_eq!(frame.height(), 6);
    Ok(())
}

#[test]
fn partition_needs_a_table_format_and_a_directory() -> TestResult {
    let fixture = Fixture::new()?;
    let out = fixture.path("x");
    let err = fixture.run(&["export", "--partition", "day", "-o", out.to_str().ok_or("path")?]).err();
    assert_eq!(
        err.as_deref().and_then(|e| e.lines().next()),
        Some("ngx502: --partition writes directories of tables: use it with --format parquet or csv and -o DIR")
    );
    let err = fixture.run(&["export", "--format", "parquet", "--partition", "day"]).err().unwrap_or_default();
    assert!(err.contains("--out <FILE|DIR>"), "{err}");
    Ok(())
}
