//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::OutputFormat;

/// Why did my users get 502s? ngx502 joins nginx's access and error logs and names the upstream
/// failure behind every 502/504, with the fix.
#[derive(Debug, Parser)]
#[command(name = "ngx502", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Colour in text output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = crate::color::ColorChoice::Auto)]
    pub color: crate::color::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the 502/504s in nginx logs (files, directories, .gz rotations, - for stdin).
    Report(ReportArgs),
    /// Write every client-facing 5xx with its diagnosis as a table (ndjson; parquet, csv).
    Export(ExportArgs),
    /// Classify error-log lines, one cause per line (for pipelines).
    Classify(ClassifyArgs),
    /// Explain a cause, or a pasted error line: what it means, the status it gives, how to fix it.
    Explain(ExplainArgs),
    /// Show how an access log's first lines split into fields with a format.
    CheckFormat(CheckFormatArgs),
    /// Check an nginx.conf for settings that turn backend trouble into 502/504s (no logs needed).
    CheckConf(CheckConfArgs),
    /// Follow logs like `tail -F` and name each 502/504 as it happens (through log rotation).
    Live(LiveArgs),
    /// Combine per-host JSON reports (`report --output json`) into one fleet report.
    Merge(MergeArgs),
    /// Print the man page or a shell's completion script, generated from these very flags.
    Generate(GenerateArgs),
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
    /// A built-in format (`ngx502 check-format --list`: combined, main, ingress-nginx, kong, ...)
    /// or json. With --nginx-conf (report, export), also any `log_format` it defines.
    #[arg(long, value_name = "NAME")]
    pub log_format_name: Option<String>,
    /// The zone the error log was written in, e.g. +0200 (default: the access logs' offset).
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    pub error_log_offset: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar and no notes on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What only batch commands (report, export) take: a time window, nginx.conf, and the state of
/// incremental runs. `live` shows what is written from now on, so it has none of these.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// nginx.conf (includes followed): its `log_format`s are tried first, and with no paths given
    /// the `access_log`/`error_log` files it names are read, each access log in its own format.
    #[arg(long, value_name = "PATH")]
    pub nginx_conf: Option<PathBuf>,
    /// Count only requests at or after TIME (RFC 3339, or 2024-05-14T10:00 in UTC). Lines
    /// without a time (a log_format without $time_local) cannot be placed and are kept.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Count only requests before TIME.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Count only the last DURATION before now (or before --until): 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,
    /// Remember in FILE how far each log was read: the next run reads only what is new, across
    /// rotations (for cron; see docs/cron.md). Written only after the output was.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Ignore what --state FILE holds (corrupt, or from other logs) and read every log again.
    #[arg(long, requires = "state")]
    pub state_reset: bool,
    /// Wait while another run holds --state FILE, instead of failing.
    #[arg(long, requires = "state")]
    pub wait_lock: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    #[command(flatten)]
    pub labels: crate::labels::LabelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Timeline bucket: 1m, 5m, 1h... (default: chosen from the span).
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// Rows kept in top-N lists: failing paths, and per cause its paths and evidence lines.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// List paths as they are, without grouping ids into templates (/orders/{id}).
    #[arg(long)]
    pub raw_paths: bool,
    /// After writing the report, exit 3 if RULE holds, e.g. 'rate_502>1%' or
    /// 'count(read_timeout)>10' (repeatable; grammar in docs/alerts.md).
    #[arg(long = "fail-on", value_name = "RULE", value_parser = crate::alert::Rule::parse)]
    pub fail_on: Vec<crate::alert::Rule>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports written by `ngx502 report --output json`, one per host.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub output: OutputFormat,
    /// Write the fleet report to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 3 if RULE holds for the fleet (as `report --fail-on`).
    #[arg(long = "fail-on", value_name = "RULE", value_parser = crate::alert::Rule::parse)]
    pub fail_on: Vec<crate::alert::Rule>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    #[command(flatten)]
    pub labels: crate::labels::LabelArgs,
    /// Table format.
    #[arg(long, value_enum, value_parser = crate::export::FormatParser, default_value_t = crate::export::ExportFormat::Ndjson)]
    pub format: crate::export::ExportFormat,
    /// Write to FILE instead of stdout; for parquet and csv, a DIR that gets failures.EXT and
    /// buckets.EXT (stdout gets the failures table alone).
    #[arg(short = 'o', long = "out", value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    /// Split the tables in DIR into hive-style directories, nested in the order given: `day`
    /// (date=YYYY-MM-DD/, UTC days) and any --label KEY (label_KEY=VALUE/), e.g. day,host.
    #[arg(long, value_name = "BY[,BY]", value_delimiter = ',', value_parser = crate::export::Partition::parse, requires = "out")]
    pub partition: Vec<crate::export::Partition>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// An error log (default: stdin).
    #[arg(default_value = "-")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ClassifyOutput::Text)]
    pub output: ClassifyOutput,
    /// Also print lines that are not about upstreams.
    #[arg(long)]
    pub all: bool,
}

/// What `classify` writes per error line (and `check-conf` per risk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassifyOutput {
    /// Tab-separated: line number, cause, upstream, message.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to print: the roff man page, or the completion script of a shell.
    #[arg(value_enum)]
    pub kind: GenerateKind,
}

/// What `generate` prints (the names ripgrep's `--generate` uses, so packagers know them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateKind {
    /// The man page (roff), for /usr/share/man/man1/ngx502.1.
    Man,
    /// bash completion, for /usr/share/bash-completion/completions/ngx502.
    CompleteBash,
    /// zsh completion, for a directory on $fpath as _ngx502.
    CompleteZsh,
    /// fish completion, for /usr/share/fish/vendor_completions.d/ngx502.fish.
    CompleteFish,
    /// PowerShell completion, to dot-source from $PROFILE.
    CompletePowershell,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A cause slug, e.g. connect_refused, or an error line as pasted (quoted); omit to list
    /// the causes.
    pub cause: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckFormatArgs {
    /// The access log to check.
    #[arg(required_unless_present = "list")]
    pub path: Option<PathBuf>,
    /// List the built-in formats (the names --log-format-name takes) with their log_format.
    #[arg(long, conflicts_with_all = ["log_format", "log_format_name"])]
    pub list: bool,
    /// Propose a log_format for the file from the shapes in its lines (addresses, times, the
    /// request, statuses, durations, upstream lists, key=value pairs), with a per-field preview.
    #[arg(long, conflicts_with_all = ["log_format", "log_format_name", "list"])]
    pub infer: bool,
    /// The nginx `log_format` string to check against (default: auto-detect).
    #[arg(long, value_name = "FORMAT", conflicts_with = "log_format_name")]
    pub log_format: Option<String>,
    /// A built-in format (see --list) or json.
    #[arg(long, value_name = "NAME")]
    pub log_format_name: Option<String>,
    /// How many lines to show split into fields.
    #[arg(short = 'n', long, default_value_t = 3)]
    pub lines: usize,
}

#[derive(Debug, Args)]
pub struct CheckConfArgs {
    /// The main nginx.conf (its includes are followed).
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ClassifyOutput::Text)]
    pub output: ClassifyOutput,
    /// Exit 3 when a risk at this level is found: `any` (notes too) or `warning`, for CI jobs
    /// that lint nginx configs.
    #[arg(long = "fail-on", value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOnRisk>,
}

/// The risks `check-conf --fail-on` fails on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOnRisk {
    /// Any risk, notes included.
    Any,
    /// Warnings only.
    Warning,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    #[command(flatten)]
    pub labels: crate::labels::LabelArgs,
    /// Read what the files already hold first (default: start at their end, like `tail -F`).
    #[arg(long)]
    pub from_start: bool,
    /// Seconds a 5xx waits for its error line (and an error line for its 5xx) before it is shown.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub join_wait: f64,
    /// Stop after SECS seconds, with the summary (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// text: a line per failure (the dashboard on a terminal); ndjson: one object per failure.
    #[arg(long, value_enum, default_value_t = crate::live::view::LiveOutput::Text)]
    pub output: crate::live::view::LiveOutput,
    /// dashboard: the full-screen view (the default on a terminal); lines: a line per failure
    /// (the default for pipes and files).
    #[arg(long, value_enum, value_name = "VIEW")]
    pub view: Option<crate::live::view::LiveView>,
    /// Serve /metrics (Prometheus text format, the names of `report --output prometheus`) and
    /// /healthz on this address, e.g. 127.0.0.1:9502.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}
