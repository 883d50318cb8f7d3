//! `ngx502 report`: the diagnosis.

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::report::{render, Limits, Report};

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let analysis = super::read_inputs(&args.input)?;
    let report = Report::build(&analysis, Limits { top: args.top }, None);
    super::write_output(args.out.as_deref(), render(&report, args.output)?.as_bytes())?;
    Ok(Exit::Ok)
}
