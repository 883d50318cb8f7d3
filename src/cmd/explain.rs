//! `ngx502 explain <cause>`: what a cause means and how to fix it; `ngx502 explain 'LINE'`: the
//! same for the cause of a pasted error line, which is what people search for.

use anyhow::bail;

use crate::cli::ExplainArgs;
use crate::errorlog::{paste, Cause};
use crate::escape::for_terminal;
use crate::exit::Exit;

pub fn run(args: ExplainArgs, color: crate::color::ColorChoice) -> anyhow::Result<Exit> {
    let text = match args.cause.as_deref() {
        None => Cause::ALL.iter().map(|c| format!("{:<32} {}\n", c.slug(), c.info().summary)).collect(),
        Some(slug) => match Cause::from_slug(slug) {
            Some(cause) => explain(cause),
            None if slug.contains(' ') => explain_line(slug.as_bytes()),
            None => bail!("unknown cause {slug:?}; `ngx502 explain` lists them all"),
        },
    };
    let text = if color.paints(true) { crate::color::paint(&text) } else { text };
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

/// The cause of a pasted error line, the fields it names, and the cause's explanation.
fn explain_line(text: &[u8]) -> String {
    let pasted = paste::normalize(text);
    let Some(line) = pasted.parse() else {
        return "This is not an nginx error-log line.\n".into();
    };
    let Some(cause) = line.cause() else {
        return "This line names no upstream failure: the client's own TLS or protocol errors, Lua timers and cosockets, \
                temporary-file notes and module lines are not one. `ngx502 explain` lists the causes.\n"
            .into();
    };
    let mut out = format!("cause: {}\n", cause.slug());
    let fields = [
        ("upstream", paste::named_peer(&line)),
        ("client", line.client),
        ("request", line.request),
        ("host", line.host),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            out.push_str(&format!("  {name}: {}\n", for_terminal(value)));
        }
    }
    if pasted.cut {
        out.push_str("  (the line was cut short: the fields after the cut are unknown)\n");
    }
    out.push('\n');
    out + &explain(cause)
}
