//! `--output json`: the report model as one JSON object.

use super::Report;

/// Pretty-printed JSON; every string in the model is already valid UTF-8 (invalid log bytes are
/// `\xHH`), and serde_json escapes control characters.
pub fn render(report: &Report) -> anyhow::Result<String> {
    let mut out = serde_json::to_string_pretty(report)?;
    out.push('\n');
    Ok(out)
}
