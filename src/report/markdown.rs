//! `--output markdown`: a summary to paste into chat or a ticket (CommonMark with GitHub tables).
//!
//! Log text is attacker-written, so each cell from a log is made terminal-safe and then every
//! character Markdown could read as syntax is backslash-escaped: a path cannot close a table
//! cell, open a code span, start a heading, become a link or inject HTML.

use std::fmt::Write;

use super::fmt::{
    cut, failure_statuses, filters_note, ms, pct, unmatched_note, upstream_label, ERROR_LOG_ONLY,
    HIDDEN_MEANS,
};
use super::schema::Report;
use crate::escape::sanitize_str;

/// How many characters of a path or upstream name a cell keeps.
const CELL: usize = 80;

/// Escapes log text for a Markdown table cell or paragraph.
pub fn escape(text: &str) -> String {
    escape_syntax(&cut(&sanitize_str(text), CELL))
}

/// Backslash-escapes every character Markdown could read as syntax in already terminal-safe text.
fn escape_syntax(clean: &str) -> String {
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Our own text (fix advice, which uses code spans on purpose) only needs `|` escaped in a cell.
fn own(text: &str) -> String {
    text.replace('|', "\\|")
}

fn code(slug: &str) -> String {
    format!("`{slug}`")
}

fn table(out: &mut String, header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = right.iter().map(|&r| if r { "--:" } else { "---" }).collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

/// Renders the report as Markdown.
pub fn render(r: &Report) -> String {
    let mut out = String::from("# ngx502 report\n\n");
    headline(&mut out, r);
    causes(&mut out, r);
    upstreams(&mut out, r);
    if !r.top_paths.is_empty() {
        let rows: Vec<Vec<String>> = r
            .top_paths
            .iter()
            .map(|p| {
                let causes: Vec<String> =
                    p.by_cause.iter().map(|(c, n)| format!("{} {n}", code(c))).collect();
                vec![escape(&p.path), p.count.to_string(), causes.join(", ")]
            })
            .collect();
        out.push_str("\n## Top failing paths\n\n");
        table(&mut out, &["path", "failures", "causes"], &[false, true, false], &rows);
    }
    if !r.incidents.is_empty() {
        let rows: Vec<Vec<String>> = r
            .incidents
            .iter()
            .map(|i| {
                vec![
                    i.start.clone(),
                    i.end.clone(),
                    i.failures.to_string(),
                    pct(i.peak_rate),
                    code(i.cause),
                    i.upstream.as_deref().map_or_else(String::new, escape),
                ]
            })
            .collect();
        out.push_str("\n## Incidents\n\n");
        table(
            &mut out,
            &["start", "end", "failures", "peak rate", "cause", "upstream"],
            &[false, false, true, true, false, false],
            &rows,
        );
    }
    out
}

fn headline(out: &mut String, r: &Report) {
    let t = &r.totals;
    let period = r.period.from_to();
    if t.access_logs {
        let rate = t.failure_rate();
        let statuses: Vec<String> =
            failure_statuses(t).into_iter().map(|(s, n)| format!("{s}: {n}")).collect();
        let _ = write!(
            out,
            "**{} requests**{period}: **{} failed with 5xx ({})**",
            t.requests,
            t.failures,
            pct(rate)
        );
        if statuses.is_empty() {
            out.push_str(".\n");
        } else {
            let _ = writeln!(out, " — {}.", statuses.join(", "));
        }
    } else {
        let _ = writeln!(out, "{}", ERROR_LOG_ONLY);
    }
    if let Some(note) = unmatched_note(r, |n| n.to_string()) {
        let _ = writeln!(out, "\n{note}");
    }
    if let Some(note) = filters_note(r, escape) {
        let _ = writeln!(out, "\n{note}");
    }
}

fn causes(out: &mut String, r: &Report) {
    if r.causes.is_empty() {
        out.push_str("\nNo upstream failures found.\n");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .causes
        .iter()
        .map(|c| {
            let statuses: Vec<&str> = c.statuses.keys().map(String::as_str).collect();
            vec![
                code(c.cause),
                c.count.to_string(),
                pct(c.share),
                statuses.join(", "),
                own(c.fix.first().copied().unwrap_or("")),
            ]
        })
        .collect();
    out.push_str("\n## Causes\n\n");
    table(
        out,
        &["cause", "count", "share", "status", "first thing to check"],
        &[false, true, true, false, false],
        &rows,
    );
    for c in r.causes.iter().filter(|c| !c.citations.is_empty()) {
        let _ = writeln!(out, "\n### {} in nginx.conf\n", code(c.cause));
        for citation in &c.citations {
            let (head, lines) = super::cite_text::sentences(citation);
            let _ = writeln!(out, "- {}", escape_syntax(&sanitize_str(&head)));
            for line in lines {
                let _ = writeln!(out, "  - {}", sanitize_str(&line));
            }
        }
    }
}

fn upstreams(out: &mut String, r: &Report) {
    if r.upstreams.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = r
        .upstreams
        .iter()
        .map(|u| {
            vec![
                escape(&upstream_label(u)),
                u.requests.map_or_else(|| "?".into(), |n| n.to_string()),
                u.client_502.to_string(),
                u.client_504.to_string(),
                u.rate_5xx.map_or_else(|| "?".into(), pct),
                u.hidden_failures.to_string(),
                u.latency
                    .as_ref()
                    .map_or_else(|| "-".into(), |l| format!("{} / {} / {}", ms(l.p50), ms(l.p90), ms(l.p99))),
            ]
        })
        .collect();
    out.push_str("\n## Upstreams\n\n");
    table(
        out,
        &["upstream", "attempts", "502", "504", "5xx rate", "hidden", "p50 / p90 / p99"],
        &[false, true, true, true, true, true, true],
        &rows,
    );
    let _ = writeln!(out, "\n{}.", HIDDEN_MEANS.replace('$', "\\$"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_table_and_inline_syntax() {
        assert_eq!(escape("/a|b`c`"), "/a\\|b\\`c\\`");
        assert_eq!(escape("# <b>[x](y)"), "\\# \\<b\\>\\[x\\](y)");
        assert_eq!(escape("a\nb\x1b[1m"), "a\\\\x0Ab\\\\x1B\\[1m");
    }
}
