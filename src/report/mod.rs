//! Output formats. The report is built once as data ([`schema::Report`]) and each format renders
//! it; adding a format is adding a file.

pub mod cite_text;
pub mod findings;
pub mod fmt;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod prometheus;
pub mod schema;
pub mod sentences;
pub mod table;
pub mod text;

pub use model::Limits;
pub use schema::Report;

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
