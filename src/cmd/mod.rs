//! One file per subcommand; shared plumbing (reading inputs, writing output) here.

mod check_conf;
mod check_format;
mod classify;
pub mod explain;
mod export;
mod generate;
mod live;
mod merge;
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::access::format::Escape;
use crate::access::{AccessFormat, LogFormat};
use crate::cli::{BatchArgs, Cli, Command, InputArgs};
use crate::escape::sanitize_str;
use crate::exit::Exit;
use crate::input::sniff::builtin_candidates;
use crate::input::walk::{describe_io, WalkError};
use crate::input::{expand, InputSpec, Kind};
use crate::nginx_conf::NginxConf;
use crate::pipeline::{analyze_resumed, Analysis, Carried, Options};
use crate::state::{Incremental, Waiting};
use crate::window::TimeWindow;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Report(args) => report::run(args, cli.color),
        Command::Export(args) => export::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Explain(args) => explain::run(args, cli.color),
        Command::CheckFormat(args) => check_format::run(args),
        Command::CheckConf(args) => check_conf::run(args),
        Command::Live(args) => live::run(args),
        Command::Merge(args) => merge::run(args, cli.color),
        Command::Generate(args) => generate::run(args),
    }
}

/// Prints every `--fail-on` rule `report` breaches; [`Exit::Alert`] when one did.
fn alert_exit(rules: &[crate::alert::Rule], report: &crate::report::Report) -> Exit {
    let breaches = crate::alert::breaches(rules, report);
    for breach in &breaches {
        eprintln!("ngx502: alert: {breach}");
    }
    if breaches.is_empty() {
        Exit::Ok
    } else {
        Exit::Alert
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
            None => bail!(
                "unknown --log-format-name {n:?}: use one of {}, json (`ngx502 check-format --list` shows them), or pass the format itself with --log-format",
                crate::access::presets::names()
            ),
        },
    }
}

/// Reads `--nginx-conf`, warning about whatever in it could not be used.
fn load_nginx_conf(path: &Path) -> anyhow::Result<NginxConf> {
    let conf = NginxConf::load(path)
        .map_err(|e| anyhow::anyhow!("cannot read --nginx-conf {}: {}", path.display(), describe_io(&e)))?;
    for problem in &conf.problems {
        eprintln!("ngx502: warning: {}", sanitize_str(&problem.to_string()));
    }
    Ok(conf)
}

/// The access formats to try with an nginx.conf: `--log-format` as given; `--log-format-name` as
/// one of the conf's formats, else a built-in; without either, the conf's formats first (a log is
/// more likely written in one of them), then the built-ins the conf does not redefine.
fn conf_formats(
    conf: &NginxConf,
    log_format: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<Vec<AccessFormat>> {
    let from_conf = |f: &LogFormat| AccessFormat::from_log_format(f.clone());
    match (log_format, name) {
        (Some(_), _) => access_formats(log_format, None),
        (None, Some(n)) => match conf.format(n) {
            Some(f) => Ok(vec![from_conf(f)]),
            None => access_formats(None, Some(n)).map_err(|_| {
                let defined: Vec<&str> = conf.log_formats.iter().map(|f| f.name.as_str()).collect();
                let builtin: Vec<String> = builtin_candidates().iter().map(|f| f.name().to_owned()).collect();
                anyhow::anyhow!(
                    "unknown --log-format-name {n:?}: the formats in --nginx-conf are {}; built in: {}",
                    defined.join(", "),
                    builtin.join(", ")
                )
            }),
        },
        (None, None) => {
            let mut formats: Vec<AccessFormat> = conf.log_formats.iter().map(from_conf).collect();
            formats.extend(builtin_candidates().into_iter().filter(|f| conf.format(f.name()).is_none()));
            Ok(formats)
        }
    }
}

/// The logs an nginx.conf names: each access log read in its own `log_format` (unless the user
/// named the format, which then applies to all), each error log as an error log.
fn conf_inputs(conf: &NginxConf, user_format: bool) -> anyhow::Result<(Vec<InputSpec>, Vec<WalkError>)> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for log in &conf.access_logs {
        let (found, missing) = expand(std::slice::from_ref(&log.path), Some(Kind::Access));
        let format = conf.format(&log.format).filter(|_| !user_format);
        specs.extend(found.into_iter().map(|spec| InputSpec {
            format: format.map(|f| AccessFormat::from_log_format(f.clone())),
            ..spec
        }));
        errors.extend(missing);
    }
    let (found, missing) = expand(&conf.error_logs, Some(Kind::Error));
    specs.extend(found);
    errors.extend(missing);
    if specs.is_empty() {
        let why = if errors.is_empty() {
            "it names no access_log or error_log file".to_string()
        } else {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        };
        bail!("nothing to read from --nginx-conf: {why}; pass the logs to read");
    }
    Ok((specs, errors))
}

/// `+0200`, `-05:30`, `Z`, `UTC` → seconds east of UTC.
fn parse_offset(text: &str) -> anyhow::Result<i32> {
    let parsed = if text == "UTC" { Some(0) } else { crate::time::parse_offset(text.as_bytes()) };
    parsed.with_context(|| format!("--error-log-offset {text:?} is not an offset like +0200 or -05:30"))
}

/// Reads and joins the inputs named by `args`; fails when none of them could be read. With
/// `--state`, reads only what earlier runs did not, and returns the run, to be committed once
/// the output is written.
pub fn read_inputs(args: &InputArgs, batch: &BatchArgs) -> anyhow::Result<(Analysis, Option<Incremental>)> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        // Fails only if the pool was already built, which cannot happen before this point.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    let conf = batch.nginx_conf.as_deref().map(load_nginx_conf).transpose()?;
    let options = Options {
        formats: match &conf {
            Some(conf) => conf_formats(conf, args.log_format.as_deref(), args.log_format_name.as_deref())?,
            None => access_formats(args.log_format.as_deref(), args.log_format_name.as_deref())?,
        },
        error_utc_offset: args.error_log_offset.as_deref().map(parse_offset).transpose()?,
        quiet: args.quiet,
        window: TimeWindow::from_flags(
            batch.since.as_deref(),
            batch.until.as_deref(),
            batch.last.as_deref(),
            chrono::Utc::now().timestamp(),
        )?,
        block_size: crate::input::open::block_size_from_env(),
    };
    // The default directory stands in only when no log was named at all, neither as a path
    // nor with --access/--error.
    let default_paths = args.paths.len() == 1 && args.paths[0] == Path::new("/var/log/nginx/");
    let forced_only = default_paths && !(args.access.is_empty() && args.error.is_empty());
    let named_default = default_paths && !forced_only;
    let paths: &[PathBuf] = if forced_only { &[] } else { &args.paths };
    let (mut specs, walk_errors) = match &conf {
        Some(conf) if named_default => {
            conf_inputs(conf, args.log_format.is_some() || args.log_format_name.is_some())?
        }
        _ => expand(paths, None),
    };
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
    let mut incremental = batch
        .state
        .as_deref()
        .map(|path| Incremental::begin(path, batch.state_reset, batch.wait_lock))
        .transpose()?;
    let found = specs.len();
    let (specs, carried) = match incremental.as_mut() {
        Some(run) => {
            let (specs, carried, notes) = run.plan(specs)?;
            for note in notes.iter().filter(|_| !args.quiet) {
                eprintln!("ngx502: {}", sanitize_str(note));
            }
            (specs, carried)
        }
        None => (specs, Carried::default()),
    };
    let mut analysis = analyze_resumed(&specs, &options, carried);
    if let Some(conf) = conf {
        analysis.upstream_blocks = conf.upstreams.clone();
        analysis.nginx_conf = Some(std::sync::Arc::new(conf));
    }
    for input in analysis.inputs.iter().filter(|i| !i.skipped) {
        match (&input.problem, &input.kind) {
            (Some(problem), _) => {
                eprintln!("ngx502: warning: {}: {}", sanitize_str(&input.path), sanitize_str(problem))
            }
            (None, Some(kind)) if !args.quiet => eprintln!(
                "ngx502: {}: {} log, format {}",
                sanitize_str(&input.path),
                kind.name(),
                input.format.as_deref().unwrap_or("-")
            ),
            _ => {}
        }
    }
    // With --state, logs left unread as unchanged are logs all the same: a stray non-log file
    // beside them is no reason to fail the run.
    let unchanged_logs = specs.len() < found;
    if !unchanged_logs && !analysis.inputs.is_empty() && analysis.inputs.iter().all(|i| i.kind.is_none()) {
        bail!("none of the inputs is an nginx access or error log; pass the right paths, or the format with --log-format");
    }
    if let Some(run) = incremental.as_mut() {
        let waiting = run.settle(&mut analysis);
        if waiting != Waiting::default() && !args.quiet {
            eprintln!(
                "ngx502: {} failed request(s) and {} error line(s) at the end of the logs wait for the next run, where their partner lines may be",
                waiting.requests, waiting.error_lines
            );
        }
    }
    Ok((analysis, incremental))
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
