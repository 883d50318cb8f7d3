//! `ngx502 live`: follow the logs and name each 502/504 as it happens.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::LiveArgs;
use crate::exit::Exit;
use crate::input::Kind;
use crate::live::tally::Tally;
use crate::live::view::{LiveOutput, LiveView, Mode, View};
use crate::live::{metrics, run as follow, Config};

pub fn run(args: LiveArgs) -> anyhow::Result<Exit> {
    let input = &args.input;
    // The parsers run on rayon; live mode reads small chunks, so one worker is enough.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(input.threads.unwrap_or(1).max(1)).build_global();
    let named = !input.access.is_empty() || !input.error.is_empty();
    let mut paths: Vec<_> =
        if named { Vec::new() } else { input.paths.iter().map(|p| (p.clone(), None)).collect() };
    paths.extend(input.access.iter().map(|p| (p.clone(), Some(Kind::Access))));
    paths.extend(input.error.iter().map(|p| (p.clone(), Some(Kind::Error))));
    let config = Config {
        paths,
        formats: crate::input::resolve::access_formats(
            input.log_format.as_deref(),
            input.log_format_name.as_deref(),
        )?,
        error_utc_offset: input.error_log_offset.as_deref().map(super::parse_offset).transpose()?,
        from_start: args.from_start,
        join_wait: seconds("--join-wait", args.join_wait)?,
        duration: args.duration.map(|d| seconds("--duration", d)).transpose()?,
        quiet: input.quiet,
        dashboard: false,
        filter: crate::filter::Filter::new(&args.filter)?,
    };
    let stdout = std::io::stdout();
    let dashboard = match (args.view, args.output) {
        (Some(LiveView::Dashboard), LiveOutput::Ndjson) => {
            bail!("--view dashboard shows text, not --output ndjson")
        }
        (Some(LiveView::Dashboard), LiveOutput::Text) if !stdout.is_terminal() => {
            bail!("--view dashboard needs a terminal on stdout")
        }
        (Some(view), _) => view == LiveView::Dashboard,
        (None, output) => output == LiveOutput::Text && stdout.is_terminal(),
    };
    let start = std::time::Instant::now();
    let mut tally = Tally::new(start, crate::live::correct::keep_for(config.join_wait));
    tally.labels = crate::labels::Labels::new(&args.labels)?;
    let tally = Arc::new(Mutex::new(tally));
    if let Some(addr) = args.metrics_listen {
        let bound =
            metrics::serve(addr, Arc::clone(&tally)).with_context(|| format!("--metrics-listen {addr}"))?;
        if !input.quiet {
            eprintln!("ngx502: metrics on http://{bound}/metrics");
        }
    }
    if dashboard {
        // Stderr would land on the screen: warnings go to the dashboard until it is stopped.
        let config = Config { dashboard: true, ..config };
        let board = crate::live::dashboard::start(Arc::clone(&tally)).context("starting the dashboard")?;
        let mut view = View::new(stdout, Mode::Dashboard);
        let followed = follow(&config, &mut view, &tally);
        board.stop()?;
        print_notices(&tally.lock().unwrap_or_else(PoisonError::into_inner).notices);
        followed?;
        view.finish()?;
    } else {
        let mode = if args.output == LiveOutput::Ndjson { Mode::Ndjson } else { Mode::Lines };
        let mut view = View::new(stdout.lock(), mode);
        follow(&config, &mut view, &tally)?;
        view.finish()?;
    }
    Ok(Exit::Ok)
}

/// The warnings the dashboard showed, on stderr now that the terminal is back.
fn print_notices(notices: &crate::live::tally::Notices) {
    for text in &notices.kept {
        eprintln!("ngx502: warning: {text}");
    }
    if notices.more > 0 {
        eprintln!("ngx502: warning: {} more warnings like these", notices.more);
    }
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .with_context(|| format!("{flag} {value} is not a number of seconds"))
}
