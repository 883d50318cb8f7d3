//! `ngx502 check-format`: how a log's first lines split into fields, how many the format explains
//! whole, and what it leaves unexplained; `--list` shows the built-in formats, `--infer` proposes one.

use std::fmt::Write;

use anyhow::Context;

use crate::access::parse::split_template;
use crate::access::presets::PRESETS;
use crate::access::{AccessFormat, AccessParser};
use crate::cli::CheckFormatArgs;
use crate::escape::for_terminal;
use crate::exit::Exit;
use crate::input::detect::{best, fit};
use crate::input::{open, sniff, Origin, Sniffed, Source};
use crate::lines::lines;

/// Lines examined for the match rate.
const SAMPLE: usize = 10_000;
/// Lines the format is chosen on, as for `report`.
const CHOICE: usize = 64;
/// Lines a format is inferred from.
const INFER_SAMPLE: usize = 1000;
/// Lines that do not match whole shown with the reason.
const SHOWN_MISSES: usize = 5;

pub fn run(args: CheckFormatArgs) -> anyhow::Result<Exit> {
    let Some(path) = args.path.clone().filter(|_| !args.list) else {
        super::write_output(None, list().as_bytes())?;
        return Ok(Exit::Ok);
    };
    let origin = Origin::File(path);
    let head: Vec<u8> = match open(&origin).with_context(|| format!("cannot read {origin}"))? {
        Source::Mapped(map) => map[..map.len().min(16 << 20)].to_vec(),
        Source::Buffer(buf) => buf,
        Source::Stream(mut blocks) => blocks.next().transpose()?.unwrap_or_default(),
    };
    if args.infer {
        super::write_output(None, infer(&head, args.lines)?.as_bytes())?;
        return Ok(Exit::Ok);
    }
    let candidates =
        crate::input::resolve::access_formats(args.log_format.as_deref(), args.log_format_name.as_deref())?;
    match sniff(&head, Some(crate::input::Kind::Access), &candidates) {
        Sniffed::Access(_) => {}
        Sniffed::Error => anyhow::bail!("{origin} is an error log, not an access log"),
        Sniffed::Unknown(reason) => anyhow::bail!("{origin}: {reason}"),
    }
    let sample: Vec<&[u8]> = lines(&head).filter(|l| !l.is_empty()).take(CHOICE).collect();
    let format = best(&sample, &candidates).map_or_else(|| candidates[0].clone(), |(f, _)| f.clone());
    super::write_output(None, check(&format, &head, args.lines).as_bytes())?;
    Ok(Exit::Ok)
}

/// The `log_format` the lines' shapes suggest, with how much it explains and a preview.
fn infer(head: &[u8], show: usize) -> anyhow::Result<String> {
    let sample: Vec<&[u8]> = lines(head).filter(|l| !l.is_empty()).take(INFER_SAMPLE).collect();
    let Some(proposal) = crate::input::infer::infer(&sample) else {
        anyhow::bail!("the file holds no lines to infer a format from");
    };
    let mut out = format!(
        "log_format inferred '{}';\n\nexplains {} of {} lines whole ({:.1}%)\n",
        proposal.template,
        proposal.whole,
        proposal.sample,
        proposal.share() * 100.0
    );
    match proposal.format("inferred") {
        Some(format) => {
            let format = AccessFormat::Template(format);
            for (i, line) in sample.iter().enumerate().filter(|(_, l)| fit(&format, l).whole).take(show) {
                let _ = writeln!(out, "\nline {}:", i + 1);
                describe_fields(&format, line, &mut out);
            }
            out.push_str("\nUse it with --log-format '…' (rename the $unknown_N fields to the variables your nginx.conf logs).\n");
        }
        None => {
            out.push_str("\nNo value looks like a three-digit $status: the lines may not be an access log.\n")
        }
    }
    Ok(out)
}

/// The built-in formats: name, who writes it, and the `log_format`.
fn list() -> String {
    let mut out = String::new();
    for p in PRESETS {
        let _ = writeln!(out, "{}\n  {}\n  log_format {} '{}';\n", p.name, p.origin, p.name, p.template);
    }
    out.push_str("json\n  JSON lines keyed by nginx variable names (escape=json)\n");
    out
}

/// The report on `format` against the first lines of `head`.
fn check(format: &AccessFormat, head: &[u8], show: usize) -> String {
    let mut out = format!("format: {}\n", format.name());
    if let AccessFormat::Template(f) = format {
        let _ = writeln!(out, "log_format: {}", f.template);
    }
    let mut parser = AccessParser::new(format);
    let (mut total, mut whole, mut prefix, mut shown, mut misses) = (0usize, 0usize, 0usize, 0, Vec::new());
    for (i, line) in lines(head).take(SAMPLE).enumerate() {
        total += 1;
        let f = fit(format, line);
        if f.whole {
            whole += 1;
            if shown < show {
                shown += 1;
                let _ = writeln!(out, "\nline {}:", i + 1);
                describe_fields(format, line, &mut out);
            }
            continue;
        }
        prefix += usize::from(f.explained > 0);
        if misses.len() < SHOWN_MISSES {
            let (offset, reason) = match parser.parse(line) {
                _ if f.explained > 0 => (f.explained, "unexplained text at the end"),
                Err(m) => (m.offset, m.reason),
                Ok(_) => {
                    (0, "a field holds what it cannot (a number that is not one, a time that is not one)")
                }
            };
            misses.push((i + 1, offset, reason, line));
        }
    }
    let share = |n: usize| if total == 0 { 0.0 } else { n as f64 * 100.0 / total as f64 };
    let _ = writeln!(out, "\n{whole} of {total} lines match whole ({:.1}%)", share(whole));
    if prefix > 0 {
        let _ = writeln!(
            out,
            "{prefix} of {total} lines match only their start ({:.1}%): the format lacks what the rest holds",
            share(prefix)
        );
    }
    for (no, offset, reason, line) in misses {
        let (good, bad) = line.split_at(offset.min(line.len()));
        let _ = writeln!(
            out,
            "  line {no}: {reason} at byte {offset}: {}⟦{}",
            for_terminal(good),
            for_terminal(&bad[..bad.len().min(80)])
        );
    }
    out
}

fn describe_fields(format: &AccessFormat, line: &[u8], out: &mut String) {
    match format {
        AccessFormat::Template(f) => {
            let _ = split_template(f, line, |var, start, end| {
                let _ = writeln!(out, "  ${:<24} {}", var.name(), for_terminal(&line[start..end]));
            });
        }
        AccessFormat::Json { keys, .. } => {
            let _ = crate::access::json::JsonSplitter::new(keys).split(line, |field, value| {
                let _ = writeln!(out, "  ${:<24} {}", field.variable(), for_terminal(value));
            });
        }
    }
}
