//! `ngx502 export`: one row per client-facing 5xx, for DuckDB, polars, Spark or jq.

use serde::Serialize;

use crate::correlate::{Event, JoinMethod};
use crate::escape::lossless;
use crate::pipeline::Analysis;
use crate::report::model::{request_path, rfc3339};

/// Table formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
}

/// One upstream attempt in a row.
#[derive(Debug, Serialize)]
pub struct AttemptRow {
    pub upstream: Option<String>,
    pub status: Option<u16>,
    pub cause: Option<&'static str>,
}

/// One client-facing failure.
#[derive(Debug, Serialize)]
pub struct FailureRow {
    pub time: Option<String>,
    pub client: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub request: Option<String>,
    pub host: Option<String>,
    pub status: u16,
    pub upstream: Option<String>,
    pub cause: &'static str,
    pub attempts: Vec<AttemptRow>,
    pub request_time: Option<f64>,
    pub upstream_response_time: Option<String>,
    pub evidence: Vec<String>,
    pub join: JoinMethod,
    pub source: String,
    pub line: u64,
}

impl FailureRow {
    pub fn from_event(e: &Event, analysis: &Analysis) -> FailureRow {
        let c = &e.request;
        let text = |v: &Option<Box<[u8]>>| v.as_deref().map(lossless);
        FailureRow {
            time: c.time.map(|t| rfc3339(t, c.offset)),
            client: text(&c.client),
            method: c.request.as_deref().and_then(|r| r.split(|&b| b == b' ').next()).map(lossless),
            path: c.request.as_deref().map(|r| lossless(request_path(r))),
            request: text(&c.request),
            host: text(&c.host),
            status: c.status,
            upstream: text(&e.upstream),
            cause: e.cause.slug(),
            attempts: e
                .attempts
                .iter()
                .map(|a| AttemptRow {
                    upstream: text(&a.upstream),
                    status: a.status,
                    cause: a.cause.map(|c| c.slug()),
                })
                .collect(),
            request_time: c.request_time,
            upstream_response_time: text(&c.upstream_response_time),
            evidence: e.evidence.iter().map(|&i| lossless(&analysis.errors[i].raw)).collect(),
            join: e.join,
            source: analysis.inputs.get(c.input).map_or_else(String::new, |i| i.origin.to_string()),
            line: c.line,
        }
    }
}

/// The client-facing failures of `analysis`, rendered in `format`.
pub fn render(analysis: &Analysis, format: ExportFormat) -> anyhow::Result<Vec<u8>> {
    let rows = analysis
        .correlation
        .events
        .iter()
        .filter(|e| e.client_facing())
        .map(|e| FailureRow::from_event(e, analysis));
    match format {
        ExportFormat::Ndjson => {
            let mut out = Vec::new();
            for row in rows {
                serde_json::to_writer(&mut out, &row)?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}
