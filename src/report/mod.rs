//! Output formats: the report as data ([`schema::Report`], the JSON contract) and one renderer
//! per format behind [`Render`]; adding a format is adding a file and a line in
//! [`OutputFormat::renderer`] (hyperfine's exporters work the same way).

pub mod cite_text;
pub mod fmt;
pub mod html;
pub mod json;
pub mod markdown;
pub mod prometheus;
pub mod schema;
pub mod sentences;
pub mod table;
pub mod text;

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

/// One output format: the whole report in, the document out.
pub trait Render {
    fn render(&self, report: &Report) -> anyhow::Result<String>;
}

/// Renders with a function that cannot fail (every format but JSON).
struct Infallible(fn(&Report) -> String);

impl Render for Infallible {
    fn render(&self, report: &Report) -> anyhow::Result<String> {
        Ok((self.0)(report))
    }
}

/// JSON: the only format whose writer can fail.
struct Json;

impl Render for Json {
    fn render(&self, report: &Report) -> anyhow::Result<String> {
        json::render(report)
    }
}

impl OutputFormat {
    /// The renderer of this format.
    pub fn renderer(self) -> &'static dyn Render {
        match self {
            OutputFormat::Text => &Infallible(text::render),
            OutputFormat::Json => &Json,
            OutputFormat::Html => &Infallible(html::render),
            OutputFormat::Markdown => &Infallible(markdown::render),
            OutputFormat::Prometheus => &Infallible(prometheus::render),
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: OutputFormat) -> anyhow::Result<String> {
    format.renderer().render(report)
}
