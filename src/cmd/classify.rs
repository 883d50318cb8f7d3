//! `ngx502 classify`: one cause per error-log line, for pipelines.

use std::io::Write;

use anyhow::Context;

use crate::cli::{ClassifyArgs, ClassifyOutput};
use crate::errorlog::{parse_line, starts_record, upstream_peer};
use crate::escape::{for_terminal, lossless};
use crate::exit::Exit;
use crate::input::{open, Origin, Source};
use crate::pipeline::lines;

pub fn run(args: ClassifyArgs) -> anyhow::Result<Exit> {
    let origin = if args.path.as_os_str() == "-" { Origin::Stdin } else { Origin::File(args.path.clone()) };
    let source = open(&origin).with_context(|| format!("cannot read {origin}"))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line_no = 0u64;
    let mut emit = |block: &[u8], out: &mut dyn Write| -> anyhow::Result<()> {
        for line in lines(block) {
            line_no += 1;
            if !starts_record(line) {
                continue;
            }
            let Some(parsed) = parse_line(line) else { continue };
            let cause = parsed.cause();
            if cause.is_none() && !args.all {
                continue;
            }
            let slug = cause.map_or("-", |c| c.slug());
            let upstream = parsed.upstream.map(upstream_peer);
            match args.output {
                ClassifyOutput::Json => {
                    let row = serde_json::json!({
                        "line": line_no,
                        "cause": cause.map(|c| c.slug()),
                        "status": cause.and_then(|c| c.info().status),
                        "level": parsed.level.name(),
                        "cid": parsed.cid,
                        "client": parsed.client.map(lossless),
                        "request": parsed.request.map(lossless),
                        "upstream": upstream.map(lossless),
                        "message": lossless(parsed.message),
                    });
                    writeln!(out, "{row}")?;
                }
                ClassifyOutput::Text => writeln!(
                    out,
                    "{line_no}\t{slug}\t{}\t{}",
                    upstream.map_or("-".into(), for_terminal),
                    for_terminal(parsed.message)
                )?,
            }
        }
        Ok(())
    };
    match source {
        Source::Mapped(map) => emit(&map, &mut out)?,
        Source::Buffer(buf) => emit(&buf, &mut out)?,
        Source::Stream(blocks) => {
            for block in blocks {
                emit(&block.with_context(|| format!("reading {origin}"))?, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}
