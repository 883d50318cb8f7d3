//! The two exported tables as polars DataFrames. Their columns are a contract, like the JSON
//! report's: add columns, never rename or retype them.
//!
//! `failures`, one row per client-facing 5xx, in log order:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `time` | timestamp µs, UTC | when nginx logged the request (null if the format has no time) |
//! | `utc_offset_seconds` | int32 | the zone the access log wrote it in (`+0530` → 19800) |
//! | `client`, `method`, `path`, `host` | string | from the access line; `path` without the query |
//! | `status` | int32 | what the client got |
//! | `upstream` | string | the peer of the last attempt |
//! | `cause` | string | the cause slug (`ngx502 explain CAUSE`) |
//! | `attempts` | int32 | upstream attempts |
//! | `attempt_chain` | string | `connect_refused @10.0.1.11:80 → read_timeout @10.0.1.12:80` |
//! | `request_time` | float64 | `$request_time`, seconds |
//! | `upstream_response_time` | string | `$upstream_response_time` as logged, one entry per attempt |
//! | `evidence` | string | the error-log line that decided the cause |
//! | `join` | string | `connection`, `request` or `none`: how the error lines were found |
//! | `source`, `line` | string, int64 | the access log and line number |
//!
//! The query string is left out on purpose: it often carries tokens.
//!
//! `buckets`, one row per bucket × upstream × cause (see `buckets` for why long format):
//! `bucket_start` (timestamp µs, UTC), `bucket_seconds`, `upstream`, `cause`, `failures`,
//! `status_502`, `status_504` (int64) and `requests` (int64, the whole bucket's; take `max`, not
//! `sum`, when grouping rows of one bucket).
//!
//! Only signed integers: Spark has no unsigned types.

use polars::prelude::*;

use super::buckets::BucketRow;
use super::{AttemptRow, FailureRow};
use crate::correlate::Event;
use crate::errorlog::Role;
use crate::escape::lossless;
use crate::pipeline::Analysis;

/// A `time`-like column: UTC seconds as a UTC timestamp in microseconds (the unit Spark and
/// polars use by default).
fn utc_column(name: &str, seconds: impl Iterator<Item = Option<i64>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), seconds.map(|s| s.and_then(|s| s.checked_mul(1_000_000))))
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column()
}

/// `connect_refused @10.0.1.11:80 → read_timeout @10.0.1.12:80`: each attempt's cause (or its
/// status when it did not fail), and its peer.
pub fn attempt_chain(attempts: &[AttemptRow]) -> Option<String> {
    let step = |a: &AttemptRow| {
        let what = match (a.cause, a.status) {
            (Some(cause), _) => cause.to_owned(),
            (None, Some(status)) => status.to_string(),
            (None, None) => "-".to_owned(),
        };
        match &a.upstream {
            Some(peer) => format!("{what} @{peer}"),
            None => what,
        }
    };
    (!attempts.is_empty()).then(|| attempts.iter().map(step).collect::<Vec<_>>().join(" → "))
}

/// The error-log line that decided the event's cause: its last terminal line, else its first.
fn deciding_line(event: &Event, analysis: &Analysis) -> Option<String> {
    let record = |i: usize| analysis.errors.get(i);
    event
        .evidence()
        .rev()
        .filter_map(record)
        .find(|r| r.cause.role() == Role::Terminal)
        .or_else(|| event.evidence().next().and_then(record))
        .map(|r| lossless(r.raw()))
}

/// A failure as the failures table holds it: owned, so that it outlives its segment's join
/// while it waits to be written (see [`super::order`]).
pub struct TableRow {
    row: FailureRow,
    time: Option<i64>,
    offset: i32,
    evidence: Option<String>,
    join: &'static str,
}

impl TableRow {
    pub fn of(event: &Event, analysis: &Analysis) -> TableRow {
        let mut row = FailureRow::from_event(event, analysis);
        // The table keeps the deciding line alone.
        row.evidence = Vec::new();
        TableRow {
            row,
            time: event.request.time,
            offset: event.request.offset,
            evidence: deciding_line(event, analysis),
            join: event.join.name(),
        }
    }

    /// UTC seconds of the request.
    pub fn time(&self) -> Option<i64> {
        self.time
    }
}

/// The failures table of `rows`.
pub fn failures_frame(rows: &[TableRow]) -> PolarsResult<DataFrame> {
    let text = |name: &str, field: fn(&FailureRow) -> Option<&str>| {
        Column::new(name.into(), rows.iter().map(|r| field(&r.row)).collect::<Vec<_>>())
    };
    let columns = vec![
        utc_column("time", rows.iter().map(|r| r.time)),
        Column::new(
            "utc_offset_seconds".into(),
            rows.iter().map(|r| r.time.map(|_| r.offset)).collect::<Vec<_>>(),
        ),
        text("client", |r| r.client.as_deref()),
        text("method", |r| r.method.as_deref()),
        text("path", |r| r.path.as_deref()),
        text("host", |r| r.host.as_deref()),
        Column::new("status".into(), rows.iter().map(|r| i32::from(r.row.status)).collect::<Vec<_>>()),
        text("upstream", |r| r.upstream.as_deref()),
        text("cause", |r| Some(r.cause)),
        Column::new(
            "attempts".into(),
            rows.iter().map(|r| count_i32(r.row.attempts.len())).collect::<Vec<_>>(),
        ),
        Column::new(
            "attempt_chain".into(),
            rows.iter().map(|r| attempt_chain(&r.row.attempts)).collect::<Vec<_>>(),
        ),
        Column::new("request_time".into(), rows.iter().map(|r| r.row.request_time).collect::<Vec<_>>()),
        text("upstream_response_time", |r| r.upstream_response_time.as_deref()),
        Column::new("evidence".into(), rows.iter().map(|r| r.evidence.as_deref()).collect::<Vec<_>>()),
        Column::new("join".into(), rows.iter().map(|r| r.join).collect::<Vec<_>>()),
        text("source", |r| Some(r.source.as_str())),
        Column::new("line".into(), rows.iter().map(|r| count_i64(r.row.line)).collect::<Vec<_>>()),
    ];
    DataFrame::new(rows.len(), columns)
}

/// The buckets table for `rows`, buckets of `seconds` each.
pub fn buckets_frame(seconds: i64, rows: &[&BucketRow]) -> PolarsResult<DataFrame> {
    let count = |name: &str, field: fn(&BucketRow) -> u64| {
        Column::new(name.into(), rows.iter().map(|r| count_i64(field(r))).collect::<Vec<_>>())
    };
    let columns = vec![
        utc_column("bucket_start", rows.iter().map(|r| Some(r.start))),
        Column::new("bucket_seconds".into(), vec![seconds; rows.len()]),
        Column::new("upstream".into(), rows.iter().map(|r| r.upstream.as_deref()).collect::<Vec<_>>()),
        Column::new("cause".into(), rows.iter().map(|r| r.cause).collect::<Vec<_>>()),
        count("failures", |r| r.failures),
        count("status_502", |r| r.status_502),
        count("status_504", |r| r.status_504),
        count("requests", |r| r.requests),
    ];
    DataFrame::new(rows.len(), columns)
}

/// Counts fit in an int64 column; saturating keeps a corrupt line number from panicking.
fn count_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(upstream: Option<&str>, status: Option<u16>, cause: Option<&'static str>) -> AttemptRow {
        AttemptRow { upstream: upstream.map(str::to_owned), status, cause }
    }

    #[test]
    fn chain_names_each_attempt_by_cause_or_status() {
        let attempts = [
            attempt(Some("10.0.1.11:80"), Some(502), Some("connect_refused")),
            attempt(Some("10.0.1.12:80"), None, Some("read_timeout")),
            attempt(Some("10.0.1.13:80"), Some(200), None),
            attempt(None, None, None),
        ];
        assert_eq!(
            attempt_chain(&attempts).as_deref(),
            Some("connect_refused @10.0.1.11:80 → read_timeout @10.0.1.12:80 → 200 @10.0.1.13:80 → -")
        );
        assert_eq!(attempt_chain(&[]), None);
    }
}
