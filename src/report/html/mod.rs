//! `--output html`: one self-contained page for a browser or a mail.
//!
//! Inline CSS and inline SVG only: no script, no font, no image fetched, so the file works
//! offline, from a web directory a cron job writes to, and as a mail attachment. Each cause keeps
//! one colour everywhere (chart, tables, chips), assigned in the order the report ranks causes.
//! Every string that came from a log is made terminal-safe and then HTML-escaped by `text`.

mod chart;

use std::fmt::Write;

use super::fmt::{
    failure_statuses, filters_note, ms, pct, pct_whole, skipped_note, thousands, unmatched_note,
    upstream_label, ERROR_LOG_ONLY, HIDDEN_MEANS,
};
use super::schema::{ratio, Report};
use super::sentences;
use crate::aggregate::incidents::{BASELINE_FACTOR, MIN_FAILURES, MIN_RATE};
use crate::correlate::JoinMethod;
use crate::escape::sanitize_str;
use chart::{chart, main_cause, sparkline, split_bar};

/// Escapes the five characters that are markup in HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Log text for the page: control, bidi and zero-width characters shown as escapes, markup escaped.
fn text(s: &str) -> String {
    escape_html(&sanitize_str(s))
}

/// Colour-blind-aware categorical colours (Tableau 10 order, then three more); causes past
/// these share [`OTHER`].
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#a0cbe8", "#8cd17d", "#d37295",
];
const OTHER: &str = "#bab0ac";

/// Cause slug → colour, fixed once per report.
struct Colors<'r> {
    ranked: Vec<&'r str>,
}

impl<'r> Colors<'r> {
    fn new(r: &'r Report) -> Self {
        Colors { ranked: r.causes.iter().map(|c| c.cause).collect() }
    }

    fn of(&self, slug: &str) -> &'static str {
        self.ranked.iter().position(|&s| s == slug).and_then(|i| PALETTE.get(i)).copied().unwrap_or(OTHER)
    }

    /// Slugs in a stable stacking order: the report's ranking, then anything else by name.
    fn order<'a>(&self, slugs: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        let mut v: Vec<&str> = slugs.collect();
        v.sort_by_key(|s| (self.ranked.iter().position(|r| r == s).unwrap_or(usize::MAX), *s));
        v
    }
}

const STYLE: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--fg:#1f2933;--muted:#637083;--line:#e3e6eb;--soft:#f0f2f5;--bad:#c2410c;--band:#fde8e4}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--fg:#e4e7eb;--muted:#9aa5b1;--line:#2e343d;--soft:#242932;--bad:#fb923c;--band:#3b2523}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 24px 48px}
header{margin-bottom:20px}
h1{font-size:22px;margin:0 0 4px;font-weight:650;letter-spacing:-.01em}
h2{font-size:16px;margin:0 0 12px;font-weight:650}
h3{font-size:14px;margin:0;font-weight:650}
.sub{color:var(--muted)}
.lead{font-size:15px;margin:10px 0 0}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:16px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:16px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .n{color:var(--muted);font-size:12px}
.card.bad .v{color:var(--bad)}
table{border-collapse:collapse;width:100%}
th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;text-align:left;border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}
td{padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
tr:last-child td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.mono{overflow-wrap:anywhere}
.nowrap{white-space:nowrap}
.name{white-space:nowrap;max-width:220px;overflow:hidden;text-overflow:ellipsis}
.main{color:var(--muted);font-size:12px;margin-top:3px}
code{background:var(--soft);border-radius:4px;padding:1px 4px}
pre{background:var(--soft);border-radius:6px;padding:8px 10px;margin:6px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.chip{display:inline-block;border-radius:10px;padding:0 8px 0 6px;margin:1px 4px 1px 0;background:var(--soft);font-size:12px;white-space:nowrap}
.bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--soft);min-width:4px}
td .bar{max-width:100%}
.paths td:last-child{width:45%}
.ups{font-size:13px}
.ups td,.ups th{padding-left:6px;padding-right:6px}
.ups td:last-child{width:150px;min-width:120px}
.scroll{overflow-x:auto}
.bar span{display:block;height:100%}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:8px;font-size:12px;color:var(--muted)}
.cause{border-top:1px solid var(--line);padding:14px 0 4px}
.cause:first-of-type{border-top:0}
.cause p{margin:4px 0}
.label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;margin-top:10px}
ol.fix{margin:4px 0;padding-left:0;list-style:none;counter-reset:f}
ol.fix li{position:relative;padding:2px 0 2px 26px}
ol.fix li::before{content:"";position:absolute;left:2px;top:6px;width:12px;height:12px;border:1.5px solid var(--muted);border-radius:3px}
ul.plain{margin:4px 0;padding-left:18px}
svg text{fill:var(--muted);font-size:11px}
.empty{color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:24px}
"#;

/// Renders the report as one HTML document.
pub fn render(r: &Report) -> String {
    let colors = Colors::new(r);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    let title = period(r).map_or_else(String::new, |p| format!(" · {p}"));
    let _ = write!(out, "<title>nginx 502/504 report{}</title>", escape_html(&title));
    let _ = write!(out, "<style>{STYLE}</style></head><body><main>");
    header(&mut out, r);
    cards(&mut out, r);
    chart(&mut out, r, &colors);
    causes(&mut out, r, &colors);
    upstreams(&mut out, r, &colors);
    incidents(&mut out, r, &colors);
    paths(&mut out, r, &colors);
    evidence(&mut out, r, &colors);
    inputs(&mut out, r);
    advice(&mut out, r);
    let _ = write!(out, "<footer>ngx502 {} · report schema {}</footer>", env!("CARGO_PKG_VERSION"), r.schema);
    out.push_str("</main></body></html>\n");
    out
}

/// The report's time range for people, when the access logs had timed lines.
fn period(r: &Report) -> Option<String> {
    Some(span(r.period.first.as_deref()?, r.period.last.as_deref()?))
}

/// Opens a table (scrolling sideways rather than breaking the page); `true` marks a numeric column.
fn table_start(out: &mut String, class: &str, columns: &[(&str, bool)]) {
    let _ = write!(out, "<div class=\"scroll\"><table class=\"{class}\"><thead><tr>");
    for (name, numeric) in columns {
        let class = if *numeric { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{name}</th>");
    }
    out.push_str("</tr></thead><tbody>");
}

fn table_end(out: &mut String) {
    out.push_str("</tbody></table></div>");
}

fn swatch(color: &str) -> String {
    format!("<span class=\"sw\" style=\"background:{color}\"></span>")
}

fn chip(colors: &Colors, slug: &str) -> String {
    format!("<span class=\"chip\">{}{}</span>", swatch(colors.of(slug)), escape_html(slug))
}

/// `2024-05-14T10:05:00+02:00` → (`2024-05-14`, `10:05:00`, `+02:00`).
fn parts(ts: &str) -> Option<(&str, &str, &str)> {
    Some((ts.get(..10)?, ts.get(11..19)?, ts.get(19..)?))
}

/// A time range for people: the date once when both ends share it, the zone once.
fn span(a: &str, b: &str) -> String {
    match (parts(a), parts(b)) {
        (Some((da, ta, zone)), Some((db, tb, _))) if da == db => format!("{da} {ta} – {tb} (UTC{zone})"),
        (Some((da, ta, zone)), Some((db, tb, _))) => format!("{da} {ta} – {db} {tb} (UTC{zone})"),
        _ => format!("{a} – {b}"),
    }
}

/// Our own advice text, escaped, with its `backtick` spans shown as code.
fn with_code(advice: &str) -> String {
    escape_html(advice)
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { format!("<code>{part}</code>") } else { part.to_owned() })
        .collect()
}

fn header(out: &mut String, r: &Report) {
    let t = &r.totals;
    out.push_str("<header><h1>nginx 502/504 report</h1><div class=\"sub\">");
    out.push_str(&period(r).map_or_else(|| "No timed access lines".into(), |p| escape_html(&p)));
    let _ = write!(out, " · buckets of {}</div><p class=\"lead\">", duration(r.period.bucket_seconds));
    if !t.access_logs {
        out.push_str(&escape_html(ERROR_LOG_ONLY));
    } else if t.failures == 0 {
        let _ = write!(out, "None of {} requests failed with a 5xx.", thousands(t.requests));
    } else {
        let _ = write!(
            out,
            "<strong>{} of {} requests failed</strong> ({}).",
            thousands(t.failures),
            thousands(t.requests),
            pct(ratio(t.failures, t.requests))
        );
        if let Some(top) = r.causes.first() {
            let _ = write!(
                out,
                " The main cause is <strong>{}</strong> ({} of failures): {}",
                escape_html(top.cause),
                pct(top.share),
                escape_html(top.summary)
            );
        }
    }
    if let Some(note) = filters_note(r, escape_html) {
        let _ = write!(out, "</p><p class=\"sub\">{note}");
    }
    out.push_str("</p></header>");
}

fn duration(seconds: i64) -> String {
    match seconds {
        s if s % 86400 == 0 => format!("{} d", s / 86400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn card(out: &mut String, key: &str, value: &str, note: &str, bad: bool) {
    let class = if bad { "card bad" } else { "card" };
    let _ = write!(
        out,
        "<div class=\"{class}\"><div class=\"k\">{key}</div><div class=\"v\">{value}</div><div class=\"n\">{note}</div></div>"
    );
}

fn cards(out: &mut String, r: &Report) {
    let t = &r.totals;
    out.push_str("<div class=\"cards\">");
    if t.access_logs {
        card(out, "Requests", &thousands(t.requests), "in the access logs", false);
        let note = format!("{} of requests", pct(ratio(t.failures, t.requests)));
        card(out, "Failed (5xx)", &thousands(t.failures), &note, t.failures > 0);
        for (status, n) in failure_statuses(t).into_iter().filter(|(s, _)| matches!(*s, "502" | "504")) {
            card(out, status, &thousands(n), "client responses", n > 0);
        }
    } else {
        let lines: u64 = r.causes.iter().map(|c| c.count).sum();
        card(out, "Failed attempts", &thousands(lines), "error-log lines", lines > 0);
    }
    let hidden: u64 = r.upstreams.iter().map(|u| u.hidden_failures).sum();
    card(out, "Hidden failures", &thousands(hidden), "recovered by a retry", false);
    card(
        out,
        "Incidents",
        &thousands(r.incidents.len() as u64),
        "failure-rate spikes",
        !r.incidents.is_empty(),
    );
    let note = format!("of {} lines read", thousands(t.lines_read));
    card(out, "Malformed lines", &thousands(t.malformed_lines), &note, false);
    out.push_str("</div>");
}

fn causes(out: &mut String, r: &Report, colors: &Colors) {
    out.push_str("<section><h2>Causes</h2>");
    if r.causes.is_empty() {
        out.push_str("<p class=\"empty\">No upstream failures found.</p></section>");
        return;
    }
    table_start(
        out,
        "",
        &[("cause", false), ("count", true), ("share", true), ("status", false), ("what happened", false)],
    );
    for c in &r.causes {
        let statuses: Vec<&str> = c.statuses.keys().map(String::as_str).collect();
        let _ = write!(
            out,
            "<tr><td class=\"mono nowrap\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            swatch(colors.of(c.cause)),
            escape_html(c.cause),
            thousands(c.count),
            pct(c.share),
            escape_html(&statuses.join(", ")),
            escape_html(c.summary)
        );
    }
    table_end(out);
    out.push_str("</section>");
}

fn evidence(out: &mut String, r: &Report, colors: &Colors) {
    if r.causes.is_empty() {
        return;
    }
    out.push_str("<section><h2>Evidence and fixes</h2>");
    for c in &r.causes {
        let _ = write!(
            out,
            "<div class=\"cause\"><h3>{}<span class=\"mono\">{}</span> <span class=\"sub\">· {} ({})</span></h3><p>{}</p>",
            swatch(colors.of(c.cause)),
            escape_html(c.cause),
            thousands(c.count),
            pct(c.share),
            escape_html(c.summary)
        );
        if !c.findings.is_empty() {
            out.push_str("<div class=\"label\">Seen</div><ul class=\"findings\">");
            for finding in &c.findings {
                let _ = write!(out, "<li>{}</li>", text(&sentences::finding(c.cause, finding)));
            }
            out.push_str("</ul>");
        }
        if !c.citations.is_empty() {
            out.push_str("<div class=\"label\">nginx.conf</div><ul class=\"findings\">");
            for citation in &c.citations {
                let (head, lines) = super::cite_text::sentences(citation);
                let _ = write!(out, "<li>{}<ul>", text(&head));
                for line in lines {
                    let _ = write!(out, "<li>{}</li>", with_code(&sanitize_str(&line)));
                }
                out.push_str("</ul></li>");
            }
            out.push_str("</ul>");
        }
        if !c.evidence.is_empty() {
            out.push_str("<div class=\"label\">Evidence</div>");
            for line in &c.evidence {
                let _ = write!(out, "<pre>{}</pre>", text(line));
            }
        }
        if !c.top_paths.is_empty() {
            out.push_str("<div class=\"label\">Paths</div><p>");
            for (path, n) in &c.top_paths {
                let _ = write!(out, "<code>{}</code> {} &nbsp; ", text(path), thousands(*n));
            }
            out.push_str("</p>");
        }
        if !c.fix.is_empty() {
            out.push_str("<div class=\"label\">Fix</div><ol class=\"fix\">");
            for step in c.fix {
                let _ = write!(out, "<li>{}</li>", with_code(step));
            }
            out.push_str("</ol>");
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), pct)
}

fn upstreams(out: &mut String, r: &Report, colors: &Colors) {
    if r.upstreams.is_empty() {
        return;
    }
    out.push_str("<section><h2>Upstreams</h2>");
    let numeric = ["attempts", "502", "504", "502 rate", "5xx rate", "hidden", "p50 · p90 · p99"];
    let mut columns = vec![("upstream", false)];
    columns.extend(numeric.iter().map(|&c| (c, true)));
    columns.extend([("failures over time", false), ("causes", false)]);
    table_start(out, "ups", &columns);
    for u in &r.upstreams {
        let cells = [
            u.requests.map_or_else(|| "?".into(), thousands),
            thousands(u.client_502),
            thousands(u.client_504),
            opt_pct(u.rate_502),
            opt_pct(u.rate_5xx),
            thousands(u.hidden_failures),
            u.latency
                .as_ref()
                .map_or_else(|| "–".into(), |l| format!("{} · {} · {}", ms(l.p50), ms(l.p90), ms(l.p99))),
        ];
        let causes = match main_cause(u, colors) {
            Some((main, n)) => {
                let others = u.errors_by_cause.len().saturating_sub(1);
                let more = if others > 0 { format!(" · +{others} more") } else { String::new() };
                format!(
                    "{}<div class=\"main\">{} {}{more}</div>",
                    split_bar(colors, u.errors_by_cause.iter().map(|(c, n)| (*c, *n)), 1.0),
                    escape_html(main),
                    thousands(n)
                )
            }
            None => "<span class=\"main\">none client-facing</span>".into(),
        };
        let name = text(&upstream_label(u));
        let _ = write!(out, "<tr><td class=\"mono name\" title=\"{name}\">{name}</td>");
        for cell in cells {
            let _ = write!(out, "<td class=\"num\">{cell}</td>");
        }
        let _ = write!(out, "<td>{}</td><td>{causes}</td></tr>", sparkline(u, colors));
    }
    table_end(out);
    let _ = write!(out, "<p class=\"sub\">{}.", escape_html(HIDDEN_MEANS));
    if let Some(l) = r.upstreams.iter().find_map(|u| u.latency.as_ref()) {
        let _ = write!(out, " Latency quantiles are within {} relative error.", pct(l.error_bound));
    }
    out.push_str("</p></section>");
}

fn incidents(out: &mut String, r: &Report, colors: &Colors) {
    if r.incidents.is_empty() {
        return;
    }
    out.push_str("<section><h2>Incidents</h2>");
    table_start(
        out,
        "",
        &[
            ("when", false),
            ("failures", true),
            ("peak rate", true),
            ("main cause", false),
            ("upstream", false),
        ],
    );
    for i in &r.incidents {
        let _ = write!(
            out,
            "<tr><td class=\"nowrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            escape_html(&span(&i.start, &i.end)),
            thousands(i.failures),
            pct(i.peak_rate),
            chip(colors, i.cause),
            i.upstream.as_deref().map_or_else(String::new, text)
        );
    }
    table_end(out);
    let _ = write!(
        out,
        "<p class=\"sub\">An incident is a run of buckets whose failure rate is at least {} and {BASELINE_FACTOR} times the median bucket, with at least {MIN_FAILURES} failures.</p></section>",
        pct_whole(MIN_RATE)
    );
}

fn paths(out: &mut String, r: &Report, colors: &Colors) {
    if r.top_paths.is_empty() {
        return;
    }
    out.push_str("<section><h2>Top failing paths</h2>");
    table_start(out, "paths", &[("path", false), ("failures", true), ("by cause", false)]);
    let most = r.top_paths.iter().map(|p| p.count).max().unwrap_or(0);
    for p in &r.top_paths {
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            text(&p.path),
            thousands(p.count),
            split_bar(colors, p.by_cause.iter().map(|(c, n)| (*c, *n)), ratio(p.count, most))
        );
    }
    table_end(out);
    out.push_str("</section>");
}

fn inputs(out: &mut String, r: &Report) {
    out.push_str("<section><h2>Inputs</h2>");
    table_start(
        out,
        "",
        &[
            ("path", false),
            ("kind", false),
            ("format", false),
            ("lines", true),
            ("parsed", true),
            ("malformed", true),
            ("filtered", true),
            ("other", true),
            ("join", false),
            ("problem", false),
        ],
    );
    for i in r.inputs.iter().filter(|i| !i.skipped) {
        let kind = i.kind.map_or_else(|| "–".into(), |k| format!("{k:?}").to_lowercase());
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            text(&i.path),
            escape_html(&kind),
            i.format.as_deref().map_or_else(|| "–".into(), text),
            thousands(i.lines),
            thousands(i.parsed),
            thousands(i.malformed),
            thousands(i.filtered),
            thousands(i.other),
            i.join.map_or("–", JoinMethod::name),
            i.problem.as_deref().map_or_else(String::new, text)
        );
    }
    table_end(out);
    if let Some(note) = skipped_note(r) {
        let _ = write!(out, "<p class=\"sub\">{note}.</p>");
    }
    if r.inputs.iter().any(|i| !i.malformed_examples.is_empty()) {
        out.push_str("<div class=\"label\">Malformed lines</div>");
        for i in &r.inputs {
            for m in &i.malformed_examples {
                let _ = write!(
                    out,
                    "<p class=\"sub\"><span class=\"mono\">{}:{}</span> · {}</p><pre>{}</pre>",
                    text(&i.path),
                    m.line,
                    escape_html(&m.reason),
                    text(&m.text)
                );
            }
        }
    }
    out.push_str("</section>");
}

fn advice(out: &mut String, r: &Report) {
    if r.advice.is_empty() && r.unmatched_error_lines == 0 {
        return;
    }
    out.push_str("<section><h2>To diagnose more exactly</h2><ul class=\"plain\">");
    if let Some(note) = unmatched_note(r, thousands) {
        let _ = write!(out, "<li>{note}</li>");
    }
    for a in &r.advice {
        let _ = write!(out, "<li>{}</li>", text(&sentences::advice(a)));
    }
    out.push_str("</ul></section>");
}

#[cfg(test)]
mod tests {
    use super::chart::{axis, tick_label};
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(text("\x1b[31m<b>"), "\\x1B[31m&lt;b&gt;");
    }

    #[test]
    fn numbers_and_axes_are_round() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(23), (25, 5));
        assert_eq!(axis(340), (400, 100));
        assert_eq!(tick_label("2024-05-14T10:05:00+02:00", false), "10:05");
        assert_eq!(tick_label("2024-05-14T10:05:00+02:00", true), "05-14 10:05");
        assert_eq!(
            span("2024-05-14T10:00:00+02:00", "2024-05-15T01:00:00+02:00"),
            "2024-05-14 10:00:00 – 2024-05-15 01:00:00 (UTC+02:00)"
        );
    }

    #[test]
    fn advice_backticks_become_code() {
        assert_eq!(with_code("run `a<b` now"), "run <code>a&lt;b</code> now");
    }
}
