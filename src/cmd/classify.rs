//! `ngx502 classify`: one cause per error-log line, for pipelines; pasted lines (no date, a
//! container prefix, cut short) are read too.

use std::io::Write;

use anyhow::Context;

use crate::cli::{ClassifyArgs, ClassifyOutput};
use crate::errorlog::{parse_line, paste, starts_record, Cause};
use crate::escape::{for_terminal, lossless};
use crate::exit::Exit;
use crate::input::{open, Origin, Source};
use crate::lines::lines;

pub fn run(args: ClassifyArgs) -> anyhow::Result<Exit> {
    let origin = if args.path.as_os_str() == "-" { Origin::Stdin } else { Origin::File(args.path.clone()) };
    let source = open(&origin).with_context(|| format!("cannot read {origin}"))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line_no = 0u64;
    // Until a line with nginx's date is seen, the input is taken as pasted lines (a ticket, a
    // chat message): each is read in whatever shape it has. After one, an undated line is the
    // continuation of a record (FastCGI stderr) unless it carries a `[level]` or `*CID` itself.
    let mut in_log = false;
    let mut emit = |block: &[u8], out: &mut dyn Write| -> anyhow::Result<()> {
        for line in lines(block) {
            line_no += 1;
            let pasted;
            let (parsed, level_known) = if starts_record(line) {
                in_log = true;
                (parse_line(line), true)
            } else if line.trim_ascii().is_empty() {
                continue;
            } else {
                pasted = paste::normalize(line);
                if in_log && !pasted.has_header() {
                    continue;
                }
                // A bare message must name a signature: "something upstream" alone is too
                // little to tell a pasted failure from a stray continuation line.
                let named = |c: Cause| pasted.has_header() || c != Cause::OtherUpstreamError;
                (pasted.parse().filter(|p| p.cause().is_some_and(named)), pasted.had_level)
            };
            let Some(parsed) = parsed else { continue };
            let cause = parsed.cause();
            if cause.is_none() && !args.all {
                continue;
            }
            let slug = cause.map_or("-", |c| c.slug());
            let upstream = paste::named_peer(&parsed);
            match args.output {
                ClassifyOutput::Json => {
                    let row = serde_json::json!({
                        "line": line_no,
                        "cause": cause.map(|c| c.slug()),
                        "status": cause.and_then(|c| c.info().status),
                        "level": level_known.then(|| parsed.level.name()),
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
