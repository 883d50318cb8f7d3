//! `ngx502 explain <cause>`: what a cause means and how to fix it.

use anyhow::bail;

use crate::cli::ExplainArgs;
use crate::errorlog::Cause;
use crate::exit::Exit;

pub fn run(args: ExplainArgs) -> anyhow::Result<Exit> {
    let text = match args.cause.as_deref() {
        None => Cause::ALL.iter().map(|c| format!("{:<32} {}\n", c.slug(), c.info().summary)).collect(),
        Some(slug) => match Cause::from_slug(slug) {
            Some(cause) => explain(cause),
            None => bail!("unknown cause {slug:?}; `ngx502 explain` lists them all"),
        },
    };
    super::write_output(None, text.as_bytes())?;
    Ok(Exit::Ok)
}

/// The explanation of one cause.
pub fn explain(cause: Cause) -> String {
    let info = cause.info();
    let status = info.status.map_or("varies".to_string(), |s| format!("{s:03}"));
    let mut out = format!(
        "{}\n  {}\n  client status: {status}   phase: {}\n  checklist:\n",
        info.slug, info.summary, info.phase
    );
    for (i, step) in info.fix.iter().enumerate() {
        out.push_str(&format!("    {}. {step}\n", i + 1));
    }
    out
}
