//! Output formats. The report is built once as data ([`model::Report`]) and each format renders
//! it; adding a format is adding a file.

pub mod findings;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod prometheus;
pub mod table;
pub mod text;

pub use model::{Limits, Report};

/// The formats `report --output` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables for a terminal.
    Text,
    /// One JSON object (the stable contract, `schema` = `ngx502/1`).
    Json,
    /// One self-contained HTML page (inline CSS and SVG) for a browser or a mail.
    Html,
    /// Markdown tables for chat and tickets.
    Markdown,
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: OutputFormat) -> anyhow::Result<String> {
    match format {
        OutputFormat::Text => Ok(text::render(report)),
        OutputFormat::Json => json::render(report),
        OutputFormat::Html => Ok(html::render(report)),
        OutputFormat::Markdown => Ok(markdown::render(report)),
        OutputFormat::Prometheus => Ok(prometheus::render(report)),
    }
}

/// The sentence every format shows when only error logs were read.
pub const ERROR_LOG_ONLY: &str =
    "No access log read: upstream failures from the error log only (client-facing counts unknown).";

/// The note on error lines no 5xx claimed, when there are any and access logs were read.
pub fn unmatched_note(r: &Report) -> Option<String> {
    (r.unmatched_error_lines > 0 && r.totals.access_logs).then(|| {
        format!(
            "{} upstream error lines matched no 5xx in the access log (retries that recovered, or requests outside it).",
            r.unmatched_error_lines
        )
    })
}

/// The line saying which filters chose the failures, when any did; `escape` makes each filter
/// (user text) safe for the format.
pub fn filters_note(r: &Report, escape: impl Fn(&str) -> String) -> Option<String> {
    (!r.filters.is_empty()).then(|| {
        let filters: Vec<String> = r.filters.iter().map(|f| escape(f)).collect();
        format!(
            "Filters: only failures with {}; the lines of other failures are counted as filtered.",
            filters.join(", ")
        )
    })
}

/// What "hidden failures" means, for the note under every upstream table.
pub const HIDDEN_MEANS: &str = "hidden: failed attempts the client never saw fail, because a retry recovered (without $upstream_status in the log: upstream error lines that no 5xx claimed)";

/// An upstream's name as tables show it: with its nginx.conf block when that is known.
pub fn upstream_label(u: &model::UpstreamRow) -> String {
    match &u.block {
        Some(block) if *block != u.upstream => format!("{} ({block})", u.upstream),
        _ => u.upstream.clone(),
    }
}

/// The client-facing failure statuses (5xx, and nginx's `009` for HTTP/0.9) with their counts,
/// for the headline of every format that has one.
pub fn failure_statuses(totals: &model::Totals) -> Vec<(&str, u64)> {
    totals
        .by_status
        .iter()
        .filter(|(s, _)| s.starts_with('5') || s.as_str() == "009")
        .map(|(s, &n)| (s.as_str(), n))
        .collect()
}
