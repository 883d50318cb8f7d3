//! What live mode prints: one line (or one NDJSON object) per client-facing failure, or nothing
//! while the dashboard shows them, and a summary at the end.
//!
//! Everything printed from a log goes through [`crate::escape`]: attacker-written bytes never
//! reach the terminal raw.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::correlate::Event;
use crate::escape::for_terminal;
use crate::export::FailureRow;
use crate::pipeline::Analysis;
use crate::report::table::{render, Align};
use crate::time::rfc3339;

use super::correct::Correction;

/// The formats `live --output` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveOutput {
    /// A line per failure (the dashboard on a terminal).
    Text,
    /// One `export`-style JSON object per failure, then a `{"summary": ...}` object.
    Ndjson,
}

/// The views `live --view` offers for text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveView {
    /// Full screen: upstreams, causes over time, latest failures (needs a terminal).
    Dashboard,
    /// A line per failure.
    Lines,
}

/// How events are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Lines,
    Ndjson,
    /// The dashboard shows the failures: only count them.
    Dashboard,
}

/// Widest cell of the summary.
const CELL: usize = 60;

/// Counts for the final summary.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub seconds: f64,
    /// Access lines parsed.
    pub requests: u64,
    /// Client-facing failures.
    pub events: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_cause: BTreeMap<&'static str, u64>,
    /// Requests whose failed attempt a retry recovered (not printed).
    pub recovered_retries: u64,
    /// Error lines about a failed attempt that no access line claimed.
    pub unclaimed_error_lines: u64,
    /// Failures shown without their error line and corrected when it arrived (`by_cause`
    /// counts them under their corrected cause).
    pub corrections: u64,
    /// The followed paths, as the batch report lists its inputs.
    pub inputs: Vec<crate::report::schema::InputRow>,
}

/// The printer.
pub struct View<W: Write> {
    out: W,
    mode: Mode,
    pub totals: Totals,
}

impl<W: Write> View<W> {
    pub fn new(out: W, mode: Mode) -> View<W> {
        View { out, mode, totals: Totals::default() }
    }

    /// Shows `events` (evidence indexes point into `analysis.errors`) and flushes, so each
    /// failure reaches a pipe as soon as it is known.
    pub fn events(&mut self, events: &[Event], analysis: &Analysis) -> std::io::Result<()> {
        for event in events {
            if !event.client_facing() {
                self.totals.recovered_retries += 1;
                continue;
            }
            let c = &event.request;
            self.totals.events += 1;
            *self.totals.by_status.entry(c.status).or_default() += 1;
            *self.totals.by_cause.entry(event.cause.slug()).or_default() += 1;
            match self.mode {
                Mode::Ndjson => {
                    serde_json::to_writer(&mut self.out, &FailureRow::from_event(event, analysis))?;
                    self.out.write_all(b"\n")?;
                }
                Mode::Lines => writeln!(self.out, "{}", line(event))?,
                Mode::Dashboard => {}
            }
        }
        if !events.is_empty() && self.mode != Mode::Dashboard {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Shows `corrections` (a `↻` line, or a `{"correction": …}` object) and moves each failure
    /// in the totals from the cause it was shown with to its corrected cause.
    pub fn corrections(&mut self, corrections: &[Correction], analysis: &Analysis) -> std::io::Result<()> {
        for correction in corrections {
            let event = &correction.event;
            let was = correction.was.slug();
            self.totals.corrections += 1;
            if let Some(n) = self.totals.by_cause.get_mut(was) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.totals.by_cause.remove(was);
                }
            }
            *self.totals.by_cause.entry(event.cause.slug()).or_default() += 1;
            let text = || format!("\u{21bb} {} (was {was})", line(event));
            match self.mode {
                Mode::Ndjson => {
                    let row = CorrectionRow { was, failure: FailureRow::from_event(event, analysis) };
                    serde_json::to_writer(&mut self.out, &serde_json::json!({ "correction": row }))?;
                    self.out.write_all(b"\n")?;
                }
                Mode::Lines => writeln!(self.out, "{}", text())?,
                Mode::Dashboard => {}
            }
        }
        if !corrections.is_empty() && self.mode != Mode::Dashboard {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Prints the summary (as JSON in NDJSON mode, else as text).
    pub fn finish(mut self) -> anyhow::Result<()> {
        if self.mode == Mode::Ndjson {
            serde_json::to_writer(&mut self.out, &serde_json::json!({ "summary": &self.totals }))?;
            self.out.write_all(b"\n")?;
        } else {
            self.out.write_all(summary_text(&self.totals).as_bytes())?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// A correction as NDJSON: the cause shown before, and the failure as it is now.
#[derive(Serialize)]
struct CorrectionRow {
    was: &'static str,
    #[serde(flatten)]
    failure: FailureRow,
}

/// `TIME STATUS CAUSE UPSTREAM "REQUEST"`, escaped for a terminal.
fn line(event: &Event) -> String {
    let c = &event.request;
    format!(
        "{} {:03} {} {} \"{}\"",
        c.time.map_or_else(|| "-".to_owned(), |t| rfc3339(t, c.offset)),
        c.status,
        event.cause.slug(),
        upstream(event),
        c.request().map_or_else(|| "-".to_owned(), for_terminal),
    )
}

fn upstream(event: &Event) -> String {
    event.upstream().map_or_else(|| "-".to_owned(), for_terminal)
}

fn summary_text(t: &Totals) -> String {
    let mut out = format!(
        "ngx502 live: {} client-facing failures in {} requests over {:.0} s\n",
        t.events, t.requests, t.seconds
    );
    if !t.by_cause.is_empty() {
        let rows: Vec<Vec<String>> =
            t.by_cause.iter().map(|(c, n)| vec![(*c).to_owned(), n.to_string()]).collect();
        out.push_str(&render(&[("cause", Align::Left), ("failures", Align::Right)], &rows, CELL));
    }
    out.push_str(&format!(
        "  {} recovered retries, {} error lines without an access line, {} failures corrected by a late error line\n",
        t.recovered_retries, t.unclaimed_error_lines, t.corrections
    ));
    let rows: Vec<Vec<String>> = t
        .inputs
        .iter()
        .map(|i| {
            let kind = i.kind.map_or("-", crate::input::Kind::name);
            vec![
                i.path.clone(),
                kind.to_owned(),
                i.format.clone().unwrap_or_else(|| "-".into()),
                i.lines.to_string(),
                i.malformed.to_string(),
            ]
        })
        .collect();
    out.push_str(&render(
        &[
            ("input", Align::Left),
            ("kind", Align::Left),
            ("format", Align::Left),
            ("lines", Align::Right),
            ("malformed", Align::Right),
        ],
        &rows,
        CELL,
    ));
    out
}
