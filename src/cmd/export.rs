//! `ngx502 export`: every client-facing 5xx with its diagnosis, as a table.

use crate::cli::ExportArgs;
use crate::exit::Exit;

pub fn run(args: ExportArgs) -> anyhow::Result<Exit> {
    let analysis = super::read_inputs(&args.input)?;
    let bytes = crate::export::render(&analysis, args.format)?;
    super::write_output(args.out.as_deref(), &bytes)?;
    Ok(Exit::Ok)
}
