//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::OutputFormat;

/// Why did my users get 502s? ngx502 joins nginx's access and error logs and names the upstream
/// failure behind every 502/504, with the fix.
#[derive(Debug, Parser)]
#[command(name = "ngx502", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the 502/504s in nginx logs (files, directories, .gz rotations, - for stdin).
    Report(ReportArgs),
    /// Write every client-facing 5xx with its diagnosis as a table (ndjson).
    Export(ExportArgs),
    /// Classify error-log lines, one cause per line (for pipelines).
    Classify(ClassifyArgs),
    /// Explain a cause: what it means, the status it gives, and how to fix it.
    Explain(ExplainArgs),
    /// Show how an access log's first lines split into fields with a format.
    CheckFormat(CheckFormatArgs),
}

/// Where the logs are and how they are written.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Log files or directories; `-` reads stdin. Kind and format are detected from content.
    #[arg(default_value = "/var/log/nginx/")]
    pub paths: Vec<PathBuf>,
    /// Treat these files as access logs, whatever they look like.
    #[arg(long = "access", value_name = "FILE")]
    pub access: Vec<PathBuf>,
    /// Treat these files as error logs.
    #[arg(long = "error", value_name = "FILE")]
    pub error: Vec<PathBuf>,
    /// The access log's nginx `log_format` string, e.g. '$remote_addr [$time_local] "$request" $status'.
    #[arg(long, value_name = "FORMAT", conflicts_with = "log_format_name")]
    pub log_format: Option<String>,
    /// A built-in format: combined, common, main, upstream or json.
    #[arg(long, value_name = "NAME")]
    pub log_format_name: Option<String>,
    /// The zone the error log was written in, e.g. +0200 (default: the access logs' offset).
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    pub error_log_offset: Option<String>,
    /// Count only requests at or after TIME (RFC 3339, or 2024-05-14T10:00 in UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Count only requests before TIME.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Count only the last DURATION before now (or before --until): 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar and no notes on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Timeline bucket: 1m, 5m, 1h... (default: chosen from the span).
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// Rows kept in top-N lists (paths, evidence).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Table format.
    #[arg(long, value_enum, default_value_t = crate::export::ExportFormat::Ndjson)]
    pub format: crate::export::ExportFormat,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// An error log (default: stdin).
    #[arg(default_value = "-")]
    pub path: PathBuf,
    /// text or json (one JSON object per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also print lines that are not about upstreams.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A cause slug, e.g. connect_refused; omit to list them all.
    pub cause: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckFormatArgs {
    /// The access log to check.
    pub path: PathBuf,
    /// The nginx `log_format` string to check against (default: auto-detect).
    #[arg(long, value_name = "FORMAT", conflicts_with = "log_format_name")]
    pub log_format: Option<String>,
    /// A built-in format: combined, common, main, upstream or json.
    #[arg(long, value_name = "NAME")]
    pub log_format_name: Option<String>,
    /// How many lines to show split into fields.
    #[arg(short = 'n', long, default_value_t = 3)]
    pub lines: usize,
}
