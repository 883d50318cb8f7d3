//! One file per subcommand; shared plumbing (reading inputs, writing output) here.

mod check_format;
mod classify;
mod explain;
mod export;
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::access::format::Escape;
use crate::access::{AccessFormat, LogFormat};
use crate::cli::{Cli, Command, InputArgs};
use crate::escape::sanitize_str;
use crate::exit::Exit;
use crate::input::sniff::builtin_candidates;
use crate::input::{expand, Kind};
use crate::pipeline::{analyze, Analysis, Options};
use crate::window::TimeWindow;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Report(args) => report::run(args),
        Command::Export(args) => export::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Explain(args) => explain::run(args),
        Command::CheckFormat(args) => check_format::run(args),
    }
}

/// The access formats to try, from `--log-format` / `--log-format-name` or all built-ins.
pub fn access_formats(log_format: Option<&str>, name: Option<&str>) -> anyhow::Result<Vec<AccessFormat>> {
    if let Some(template) = log_format {
        let escape = if template.trim_start().starts_with('{') { Escape::Json } else { Escape::Default };
        let format = LogFormat::compile("custom", template, escape)
            .with_context(|| format!("--log-format {template:?} is not a usable nginx log_format"))?;
        return Ok(vec![AccessFormat::from_log_format(format)]);
    }
    match name {
        None => Ok(builtin_candidates()),
        Some("json") => Ok(vec![AccessFormat::json_by_names()]),
        Some(n) => match LogFormat::preset(n) {
            Some(f) => Ok(vec![AccessFormat::Template(f)]),
            None => bail!("unknown --log-format-name {n:?}: use combined, common, main, upstream or json, or pass the format itself with --log-format"),
        },
    }
}

/// `+0200`, `-05:30`, `Z` → seconds east of UTC.
fn parse_offset(text: &str) -> anyhow::Result<i32> {
    let stamp = format!("01/Jan/2000:00:00:00 {}", text.replace(':', ""));
    let parsed = if text == "Z" || text == "UTC" {
        Some(0)
    } else {
        crate::access::time::parse_time_local(stamp.as_bytes()).map(|s| s.offset)
    };
    parsed.with_context(|| format!("--error-log-offset {text:?} is not an offset like +0200 or -05:30"))
}

/// Reads and joins the inputs named by `args`; fails when none of them could be read.
pub fn read_inputs(args: &InputArgs) -> anyhow::Result<Analysis> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        // Fails only if the pool was already built, which cannot happen before this point.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    let options = Options {
        formats: access_formats(args.log_format.as_deref(), args.log_format_name.as_deref())?,
        error_utc_offset: args.error_log_offset.as_deref().map(parse_offset).transpose()?,
        quiet: args.quiet,
        window: TimeWindow::from_flags(
            args.since.as_deref(),
            args.until.as_deref(),
            args.last.as_deref(),
            chrono::Utc::now().timestamp(),
        )?,
    };
    let named_default = args.paths.len() == 1
        && args.paths[0] == Path::new("/var/log/nginx/")
        && args.access.is_empty()
        && args.error.is_empty();
    let mut paths: Vec<PathBuf> = args.paths.clone();
    if named_default && !args.access.is_empty() {
        paths.clear();
    }
    let (mut specs, walk_errors) =
        expand(if !args.access.is_empty() || !args.error.is_empty() { &[] } else { &paths[..] }, None);
    let (access, access_errors) = expand(&args.access, Some(Kind::Access));
    let (error, error_errors) = expand(&args.error, Some(Kind::Error));
    specs.extend(access);
    specs.extend(error);
    let problems: Vec<String> =
        walk_errors.iter().chain(&access_errors).chain(&error_errors).map(ToString::to_string).collect();
    if named_default && specs.is_empty() {
        bail!("/var/log/nginx/ cannot be read ({}); pass the logs to read: ngx502 report /path/to/logs/ (or - for stdin)", problems.join("; "));
    }
    if specs.is_empty() {
        bail!(
            "nothing to read: {}",
            if problems.is_empty() {
                "the directories hold no files".to_string()
            } else {
                problems.join("; ")
            }
        );
    }
    for p in &problems {
        eprintln!("ngx502: warning: {}", sanitize_str(p));
    }
    let analysis = analyze(&specs, &options);
    for input in analysis.inputs.iter().filter(|i| !i.skipped) {
        match (&input.problem, &input.kind) {
            (Some(problem), _) => eprintln!(
                "ngx502: warning: {}: {}",
                sanitize_str(&input.origin.to_string()),
                sanitize_str(problem)
            ),
            (None, Some(kind)) if !args.quiet => eprintln!(
                "ngx502: {}: {} log, format {}",
                sanitize_str(&input.origin.to_string()),
                if *kind == Kind::Access { "access" } else { "error" },
                input.format.as_deref().unwrap_or("-")
            ),
            _ => {}
        }
    }
    if analysis.inputs.iter().all(|i| i.kind.is_none()) {
        bail!("none of the inputs is an nginx access or error log; pass the right paths, or the format with --log-format");
    }
    Ok(analysis)
}

/// Writes `text` to `out` (a file) or stdout.
pub fn write_output(out: Option<&Path>, text: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text)?;
            stdout.flush()?;
            Ok(())
        }
    }
}
