//! `ngx502 check-format`: how a log's first lines split into fields, and how many match.

use std::fmt::Write;

use anyhow::Context;

use crate::access::parse::split_template;
use crate::access::{AccessFormat, AccessParser};
use crate::cli::CheckFormatArgs;
use crate::escape::for_terminal;
use crate::exit::Exit;
use crate::input::{open, sniff, Origin, Sniffed, Source};
use crate::pipeline::lines;

/// Lines examined for the match rate.
const SAMPLE: usize = 10_000;

pub fn run(args: CheckFormatArgs) -> anyhow::Result<Exit> {
    let origin = Origin::File(args.path.clone());
    let head: Vec<u8> = match open(&origin).with_context(|| format!("cannot read {origin}"))? {
        Source::Mapped(map) => map[..map.len().min(16 << 20)].to_vec(),
        Source::Buffer(buf) => buf,
        Source::Stream(mut blocks) => blocks.next().transpose()?.unwrap_or_default(),
    };
    let candidates = super::access_formats(args.log_format.as_deref(), args.log_format_name.as_deref())?;
    let format = match sniff(&head, Some(crate::input::Kind::Access), &candidates) {
        Sniffed::Access(f) => f,
        Sniffed::Error => anyhow::bail!("{origin} is an error log, not an access log"),
        Sniffed::Unknown(reason) => anyhow::bail!("{origin}: {reason}"),
    };
    let mut out = format!("format: {}\n", format.name());
    if let AccessFormat::Template(f) = &format {
        let _ = writeln!(out, "log_format: {}", f.template);
    }
    let mut parser = AccessParser::new(&format);
    let (mut total, mut matched, mut shown, mut failures) = (0usize, 0usize, 0usize, Vec::new());
    for (i, line) in lines(&head).take(SAMPLE).enumerate() {
        total += 1;
        match parser.parse(line) {
            Ok(_) => {
                matched += 1;
                if shown < args.lines {
                    shown += 1;
                    let _ = writeln!(out, "\nline {}:", i + 1);
                    describe_fields(&format, line, &mut out);
                }
            }
            Err(m) if failures.len() < 5 => failures.push((i + 1, m, line)),
            Err(_) => {}
        }
    }
    let _ = writeln!(
        out,
        "\n{matched} of {total} lines match ({:.1}%)",
        if total == 0 { 0.0 } else { matched as f64 * 100.0 / total as f64 }
    );
    for (no, m, line) in failures {
        let (good, bad) = line.split_at(m.offset.min(line.len()));
        let _ = writeln!(
            out,
            "  line {no}: {} at byte {}: {}⟦{}",
            m.reason,
            m.offset,
            for_terminal(good),
            for_terminal(&bad[..bad.len().min(80)])
        );
    }
    super::write_output(None, out.as_bytes())?;
    Ok(Exit::Ok)
}

fn describe_fields(format: &AccessFormat, line: &[u8], out: &mut String) {
    match format {
        AccessFormat::Template(f) => {
            let _ = split_template(f, line, |var, start, end| {
                let _ = writeln!(out, "  ${:<24} {}", var.name(), for_terminal(&line[start..end]));
            });
        }
        AccessFormat::Json { keys, .. } => {
            let _ = keys.split(line, |field, value| {
                let _ = writeln!(out, "  ${:<24} {}", field.variable(), for_terminal(value));
            });
        }
    }
}
