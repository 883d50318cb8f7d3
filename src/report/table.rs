//! Plain-text tables with aligned columns, cells sanitized for terminals.

use crate::escape::sanitize_str;

/// Column alignment.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

/// Renders rows under a header, each column as wide as its widest cell, indented by two spaces.
/// Cells longer than `max_width` characters are cut with `…`.
pub fn render(header: &[(&str, Align)], rows: &[Vec<String>], max_width: usize) -> String {
    let clean: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| truncate(&sanitize_str(c), max_width)).collect()).collect();
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            clean
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
                .max(h.chars().count())
        })
        .collect();
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|(h, _)| (*h).to_string()).collect();
    for row in std::iter::once(&head).chain(clean.iter()) {
        let mut line = String::from("  ");
        for (i, (_, align)) in header.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == header.len();
            match align {
                Align::Left if last => line.push_str(cell),
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_sanitizes() {
        let out = render(
            &[("name", Align::Left), ("n", Align::Right)],
            &[vec!["a\x1b[31m".into(), "5".into()], vec!["bbbbbbbbbbbbbbbbbbbb".into(), "12".into()]],
            10,
        );
        assert_eq!(out, "  name         n\n  a\\x1B[31m    5\n  bbbbbbbbb…  12\n");
    }
}
