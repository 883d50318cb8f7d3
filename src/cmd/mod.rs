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
use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::{BatchArgs, Cli, Command, InputArgs};
use crate::escape::sanitize_str;
use crate::exit::Exit;
use crate::input::resolve;
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
    let conf = batch.nginx_conf.as_deref().map(resolve::load_nginx_conf).transpose()?;
    let options = Options {
        formats: match &conf {
            Some(conf) => {
                resolve::conf_formats(conf, args.log_format.as_deref(), args.log_format_name.as_deref())?
            }
            None => resolve::access_formats(args.log_format.as_deref(), args.log_format_name.as_deref())?,
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
    let user_format = args.log_format.is_some() || args.log_format_name.is_some();
    let specs = resolve::logs(&args.paths, &args.access, &args.error, conf.as_ref(), user_format)?;
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
