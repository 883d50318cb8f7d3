//! `ngx502 export`: every client-facing 5xx with its diagnosis, as a table.

use anyhow::Context;

use crate::cli::ExportArgs;
use crate::exit::Exit;
use crate::export::Exporter;
use crate::filter::Filter;
use crate::labels::Labels;

pub fn run(args: ExportArgs) -> anyhow::Result<Exit> {
    let labels = Labels::new(&args.labels)?;
    crate::export::check_destination(args.format, args.out.as_deref(), &args.partition, &labels)?;
    let filter = Filter::new(&args.filter)?;
    let open = || Exporter::new(args.format, args.out.as_deref(), &args.partition, &labels);
    // A write that fails once the output is open (a full disk) names what was being written.
    let destination = args.out.as_deref().map_or("standard output".into(), |p| p.display().to_string());
    let writing =
        |written: anyhow::Result<()>| written.with_context(|| format!("cannot write {destination}"));
    if args.batch.state.is_some() {
        let (mut analysis, incremental) = super::read_inputs(&args.input, &args.batch)?;
        filter.apply(&mut analysis);
        let mut export = open()?;
        writing(export.add(&analysis))?;
        writing(export.finish())?;
        if let Some(run) = incremental {
            run.commit()?;
        }
        return Ok(Exit::Ok);
    }
    // Written segment by segment as the run is read (see `read_inputs_in_segments`), each
    // segment dropped once written: memory follows one segment's failures, as `report`'s does.
    // The output is opened with the first segment, so a run that reads no log writes nothing,
    // and a failed write (a closed pipe, a full disk) ends the reading.
    let mut export: Option<Exporter> = None;
    super::read_inputs_in_segments(&args.input, &args.batch, |mut analysis| {
        filter.apply(&mut analysis);
        if export.is_none() {
            export = Some(open()?);
        }
        export.as_mut().map_or(Ok(()), |export| writing(export.add(&analysis)))
    })?;
    if let Some(export) = export {
        writing(export.finish())?;
    }
    Ok(Exit::Ok)
}
