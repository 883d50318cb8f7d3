//! `ngx502 export`: one row per client-facing 5xx, for DuckDB, polars, Spark or jq.
//!
//! ndjson is always built and writes one [`FailureRow`] per line. With the `parquet` cargo
//! feature, `parquet` and `csv` write two tables through polars: `failures` (the same rows,
//! flattened into typed columns) and `buckets` (failures per time bucket, upstream and cause);
//! the schemas are documented in `polars_tables`. To stdout they write the failures table alone;
//! `-o DIR` writes both, optionally split into hive-style `date=YYYY-MM-DD/` directories.
//!
//! Every format is written as the run is read ([`Exporter`]): each time segment's failures as it
//! is joined, in the order of the run read whole, so the files do not depend on how it was cut.

#[cfg(feature = "parquet")]
mod buckets;
mod format;
mod ndjson;
mod order;
#[cfg(feature = "parquet")]
mod polars_tables;
#[cfg(feature = "parquet")]
mod table_files;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use serde::Serialize;

use crate::access::request_path;
use crate::correlate::{Event, JoinMethod};
use crate::escape::lossless;
use crate::labels::Labels;
use crate::pipeline::Analysis;
use crate::time::rfc3339;

pub use format::{ExportFormat, FormatParser, NO_PARQUET};
pub use ndjson::NdjsonWriter;

/// One level of the directories `-o DIR` splits the tables into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partition {
    /// `failures/date=YYYY-MM-DD/part-0.<ext>` per UTC day, so DuckDB, Spark or Trino read the
    /// exports of many days and hosts as one table with a `date` column.
    Day,
    /// `failures/label_KEY=VALUE/…` by a `--label`, so a fleet's exports land in one tree and
    /// read as one table with a `label_KEY` column.
    Label(String),
}

impl Partition {
    /// `day`, or a label key.
    pub fn parse(text: &str) -> Result<Partition, String> {
        match text {
            "day" => Ok(Partition::Day),
            key if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Ok(Partition::Label(key.to_owned()))
            }
            _ => Err(format!("{text:?}: partition by day or by a --label KEY")),
        }
    }
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
    /// The input's path, with the stream's container, pod or host in parentheses when it named one.
    pub source: String,
    pub line: u64,
    /// `--label KEY=VALUE` as `label_KEY` fields.
    #[serde(flatten)]
    pub labels: BTreeMap<String, String>,
}

impl FailureRow {
    /// The row of one event; log bytes go through [`lossless`], so any input gives valid UTF-8.
    pub fn from_event(e: &Event, analysis: &Analysis) -> FailureRow {
        let c = &e.request;
        let text = |v: Option<&[u8]>| v.map(lossless);
        FailureRow {
            time: c.time.map(|t| rfc3339(t, c.offset)),
            client: text(c.client()),
            method: c.request().and_then(|r| r.split(|&b| b == b' ').next()).map(lossless),
            path: c.request().map(|r| lossless(request_path(r))),
            request: text(c.request()),
            host: text(c.host()),
            status: c.status,
            upstream: text(e.upstream()),
            cause: e.cause.slug(),
            attempts: e
                .attempts()
                .iter()
                .map(|a| AttemptRow {
                    upstream: text(a.upstream.as_deref()),
                    status: a.status,
                    cause: a.cause.map(|c| c.slug()),
                })
                .collect(),
            request_time: c.request_time,
            upstream_response_time: text(c.upstream_response_time()),
            evidence: e.evidence().map(|i| lossless(analysis.errors[i].raw())).collect(),
            join: e.join,
            source: {
                let path = analysis.inputs.get(c.input).map_or_else(String::new, |i| i.path.clone());
                // A stream's container, pod or host, so failures can be broken down by it.
                match c.source.as_deref() {
                    Some(name) => format!("{path} ({name})"),
                    None => path,
                }
            },
            line: c.line,
            labels: BTreeMap::new(),
        }
    }
}

/// The client-facing failures of `analysis`, in log order.
pub fn failure_events(analysis: &Analysis) -> impl Iterator<Item = &Event> {
    analysis.correlation.events.iter().filter(|e| e.client_facing())
}

/// Writes the export as the run is read: [`Exporter::add`] for each time segment (or once, for
/// the whole run), then [`Exporter::finish`]. What is held between segments is the rows of the
/// last seconds (see `export/order.rs`), a Parquet row group, and the buckets' counts.
pub enum Exporter {
    Ndjson(NdjsonWriter<Box<dyn Write + Send>>),
    #[cfg(feature = "parquet")]
    Tables(Box<table_files::TableWriter>),
}

impl Exporter {
    /// An export in `format` to `out` (ndjson: a file; the tables: a directory) or stdout.
    #[cfg_attr(not(feature = "parquet"), allow(unused_variables))]
    pub fn new(
        format: ExportFormat,
        out: Option<&Path>,
        partition: &[Partition],
        labels: &Labels,
    ) -> anyhow::Result<Exporter> {
        Ok(match format {
            ExportFormat::Ndjson => Exporter::Ndjson(NdjsonWriter::new(stream(out)?, labels)),
            #[cfg(feature = "parquet")]
            ExportFormat::Parquet | ExportFormat::Csv => {
                let encoding = match format {
                    ExportFormat::Parquet => table_files::Encoding::Parquet,
                    _ => table_files::Encoding::Csv,
                };
                Exporter::Tables(Box::new(table_files::TableWriter::new(encoding, out, partition, labels)?))
            }
        })
    }

    /// Writes what is due of one segment's failures (or the whole run's).
    pub fn add(&mut self, analysis: &Analysis) -> anyhow::Result<()> {
        match self {
            Exporter::Ndjson(rows) => rows.add(analysis),
            #[cfg(feature = "parquet")]
            Exporter::Tables(tables) => tables.add(analysis),
        }
    }

    /// Writes the rest and ends the output: the run has ended.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Exporter::Ndjson(rows) => rows.finish().map(drop),
            #[cfg(feature = "parquet")]
            Exporter::Tables(tables) => tables.finish(),
        }
    }
}

/// `out` (a file, created or truncated) or stdout, buffered.
fn stream(out: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Refuses flag combinations that cannot be honoured, before any log is read.
pub fn check_destination(
    format: ExportFormat,
    out: Option<&Path>,
    partition: &[Partition],
    labels: &Labels,
) -> anyhow::Result<()> {
    for (i, p) in partition.iter().enumerate() {
        if partition[..i].contains(p) {
            anyhow::bail!("--partition names {p:?} twice");
        }
        if let Partition::Label(key) = p {
            if labels.get(key).is_none() {
                anyhow::bail!("--partition {key}: no --label {key}=VALUE was given");
            }
        }
    }
    if !partition.is_empty() && (!format.is_table() || out.is_none()) {
        anyhow::bail!(
            "--partition writes directories of tables: use it with --format parquet or csv and -o DIR"
        );
    }
    Ok(())
}
