//! Output formats. The report is built once as data ([`model::Report`]) and each format renders
//! it; adding a format is adding a file.

pub mod json;
pub mod model;
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
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: OutputFormat) -> anyhow::Result<String> {
    match format {
        OutputFormat::Text => Ok(text::render(report)),
        OutputFormat::Json => json::render(report),
    }
}
