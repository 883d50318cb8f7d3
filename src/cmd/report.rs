//! `ngx502 report`: the diagnosis.

use anyhow::Context;

use crate::aggregate::{Fold, Limits};
use crate::cli::ReportArgs;
use crate::color::ColorChoice;
use crate::exit::Exit;
use crate::filter::Filter;
use crate::report::{render, Report};
use crate::window::parse_duration;

pub fn run(args: ReportArgs, color: ColorChoice) -> anyhow::Result<Exit> {
    let bucket = args.bucket.as_deref().map(parse_duration).transpose().context("--bucket")?;
    let filter = Filter::new(&args.filter)?;
    let labels = crate::labels::Labels::new(&args.labels)?;
    let limits = Limits { top: args.top, templates: !args.raw_paths };
    let (mut report, incremental) = if args.batch.state.is_some() {
        let (mut analysis, incremental) = super::read_inputs(&args.input, &args.batch)?;
        filter.apply(&mut analysis);
        let report = Report::build(&analysis, limits, bucket);
        // Every failed request and error record, in many small allocations: the process's exit
        // gives them back at once, where freeing them one by one took a tenth of a large run.
        std::mem::forget(analysis);
        (report, incremental)
    } else {
        // Folded segment by segment (one, when the logs are small), each dropped once folded:
        // memory follows one segment's failures, not the run's.
        let mut fold = Fold::new(limits, bucket);
        super::read_inputs_in_segments(&args.input, &args.batch, |mut analysis| {
            filter.apply(&mut analysis);
            fold.add(&analysis);
            Ok(())
        })?;
        (fold.finish(), None)
    };
    report.filters = filter.describe();
    report.labels = labels.to_map();
    let text = crate::color::rendered(render(&report, args.output)?, args.output, color, args.out.is_none());
    super::write_output(args.out.as_deref(), text.as_bytes())?;
    if let Some(run) = incremental {
        run.commit()?;
    }
    Ok(super::alert_exit(&args.fail_on, &report))
}
