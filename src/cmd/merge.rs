//! `ngx502 merge`: one fleet report from per-host `report --output json` files.

use anyhow::Context;

use crate::cli::MergeArgs;
use crate::color::ColorChoice;
use crate::exit::Exit;
use crate::merge::{merge, parse};
use crate::report::render;

pub fn run(args: MergeArgs, color: ColorChoice) -> anyhow::Result<Exit> {
    let mut hosts = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        hosts.push(parse(&text).with_context(|| path.display().to_string())?);
    }
    let report = merge(&hosts)?;
    let text = crate::color::rendered(render(&report, args.output)?, args.output, color, args.out.is_none());
    super::write_output(args.out.as_deref(), text.as_bytes())?;
    Ok(super::alert_exit(&args.fail_on, &report))
}
