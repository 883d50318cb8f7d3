//! `ngx502 export`: every client-facing 5xx with its diagnosis, as a table.

use crate::cli::ExportArgs;
use crate::exit::Exit;

pub fn run(args: ExportArgs) -> anyhow::Result<Exit> {
    let labels = crate::labels::Labels::new(&args.labels)?;
    crate::export::check_destination(args.format, args.out.as_deref(), &args.partition, &labels)?;
    let filter = crate::filter::Filter::new(&args.filter)?;
    let (mut analysis, incremental) = super::read_inputs(&args.input, &args.batch)?;
    filter.apply(&mut analysis);
    match args.out.as_deref() {
        Some(dir) if args.format.is_table() => {
            crate::export::write_tables(&analysis, args.format, dir, &args.partition, &labels)?;
        }
        out => super::write_output(out, &crate::export::render(&analysis, args.format, &labels)?)?,
    }
    if let Some(run) = incremental {
        run.commit()?;
    }
    Ok(Exit::Ok)
}
