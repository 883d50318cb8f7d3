//! `ngx502 report`: the diagnosis.

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::report::{render, Limits, Report};
use crate::window::parse_duration;

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let bucket = args.bucket.as_deref().map(parse_duration).transpose().context("--bucket")?;
    let (analysis, incremental) = super::read_inputs(&args.input, &args.batch)?;
    let report = Report::build(&analysis, Limits { top: args.top }, bucket);
    super::write_output(args.out.as_deref(), render(&report, args.output)?.as_bytes())?;
    if let Some(run) = incremental {
        run.commit()?;
    }
    Ok(super::alert_exit(&args.fail_on, &report))
}
