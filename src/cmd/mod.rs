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
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::cli::{BatchArgs, Cli, Command, InputArgs};
use crate::escape::sanitize_str;
use crate::exit::Exit;
use crate::input::resolve;
use crate::pipeline::{analyze_in_segments, analyze_resumed, Analysis, Options, SegmentSize};
use crate::state::Incremental;
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
    let (inputs, options) = prepare(args, batch)?;
    let mut incremental = batch
        .state
        .as_deref()
        .map(|path| Incremental::begin(path, batch.state_reset, batch.wait_lock))
        .transpose()?;
    let plan = crate::state::plan(incremental.as_mut(), inputs.specs)?;
    note(args.quiet, plan.notes.iter().map(String::as_str));
    let mut analysis = analyze_resumed(&plan.specs, &options, plan.carried);
    with_conf(&mut analysis, inputs.conf.map(Arc::new));
    tell_inputs(&analysis.inputs, args.quiet);
    // With --state, logs left unread as unchanged are logs all the same: a stray non-log file
    // beside them is no reason to fail the run.
    if plan.unchanged == 0 && none_is_a_log(&analysis.inputs) {
        bail!(NOT_A_LOG);
    }
    if let Some(run) = incremental.as_mut() {
        note(args.quiet, run.settle(&mut analysis).note().as_deref());
    }
    Ok((analysis, incremental))
}

/// [`read_inputs`] without `--state`, handing the run to `each` in time segments when it is
/// large (see [`analyze_in_segments`]), so that what the join holds is one segment's. The first
/// error `each` returns (its output went away, a disk filled) ends the reading and is returned.
pub fn read_inputs_in_segments(
    args: &InputArgs,
    batch: &BatchArgs,
    mut each: impl FnMut(Analysis) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    let (inputs, options) = prepare(args, batch)?;
    let conf = inputs.conf.map(Arc::new);
    let mut first = true;
    let mut outcome = Ok(());
    analyze_in_segments(&inputs.specs, &options, SegmentSize::default(), |mut analysis| {
        // Every segment has every input's row, and the first already says what each input is.
        if std::mem::take(&mut first) {
            tell_inputs(&analysis.inputs, args.quiet);
            if none_is_a_log(&analysis.inputs) {
                outcome = Err(anyhow::anyhow!(NOT_A_LOG));
                return ControlFlow::Break(());
            }
        }
        with_conf(&mut analysis, conf.clone());
        outcome = each(analysis);
        if outcome.is_ok() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    outcome
}

const NOT_A_LOG: &str =
    "none of the inputs is an nginx access or error log; pass the right paths, or the format with --log-format";

fn none_is_a_log(inputs: &[crate::report::schema::InputRow]) -> bool {
    !inputs.is_empty() && inputs.iter().all(|i| i.kind.is_none())
}

/// The inputs `args` name and how to read them.
fn prepare(args: &InputArgs, batch: &BatchArgs) -> anyhow::Result<(resolve::Resolved, Options)> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        // Fails only if the pool was already built, which cannot happen before this point.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    let mut inputs = resolve::resolve(
        &args.paths,
        &args.access,
        &args.error,
        batch.nginx_conf.as_deref(),
        args.log_format.as_deref(),
        args.log_format_name.as_deref(),
    )?;
    let options = Options {
        formats: std::mem::take(&mut inputs.formats),
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
    Ok((inputs, options))
}

/// Gives the analysis nginx.conf's upstream blocks and the conf itself, when given.
fn with_conf(analysis: &mut Analysis, conf: Option<Arc<crate::nginx_conf::NginxConf>>) {
    if let Some(conf) = conf {
        analysis.upstream_blocks = conf.upstreams.clone();
        analysis.nginx_conf = Some(conf);
    }
}

/// Says on stderr what each input turned out to be (unless `quiet`) and why one was not read.
fn tell_inputs(inputs: &[crate::report::schema::InputRow], quiet: bool) {
    for input in inputs.iter().filter(|i| !i.skipped) {
        match (&input.problem, &input.kind) {
            (Some(problem), _) => {
                eprintln!("ngx502: warning: {}: {}", sanitize_str(&input.path), sanitize_str(problem))
            }
            (None, Some(kind)) if !quiet => eprintln!(
                "ngx502: {}: {} log, format {}",
                sanitize_str(&input.path),
                kind.name(),
                input.format.as_deref().unwrap_or("-")
            ),
            _ => {}
        }
    }
}

/// Prints `notes` to stderr, unless `--quiet`.
fn note<'a>(quiet: bool, notes: impl IntoIterator<Item = &'a str>) {
    for note in notes.into_iter().filter(|_| !quiet) {
        eprintln!("ngx502: {}", sanitize_str(note));
    }
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
