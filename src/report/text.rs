//! The default output: a diagnosis a person reads in a terminal.

use std::fmt::Write;

use super::fmt::{
    cut, failure_statuses, filters_note, ms, pct, pct_whole, skipped_note, unmatched_note, upstream_label,
    ERROR_LOG_ONLY, HIDDEN_MEANS,
};
use super::schema::{Report, UpstreamRow};
use super::sentences;
use super::table::{render as table, Align};
use crate::aggregate::incidents::{BASELINE_FACTOR, MIN_RATE};
use crate::correlate::JoinMethod;
use crate::escape::sanitize_str;

const WIDE: usize = 70;

/// Renders the report as text.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    headline(&mut out, r);
    by_label(&mut out, r);
    causes(&mut out, r);
    upstreams(&mut out, r);
    if !r.top_paths.is_empty() {
        let rows: Vec<Vec<String>> = r
            .top_paths
            .iter()
            .map(|p| {
                let causes: Vec<String> = p.by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
                vec![p.path.clone(), p.count.to_string(), causes.join(", "), p.examples.join(", ")]
            })
            .collect();
        let _ = writeln!(out, "\nTop failing paths");
        out.push_str(&table(
            &[
                ("path", Align::Left),
                ("failures", Align::Right),
                ("causes", Align::Left),
                ("e.g.", Align::Left),
            ],
            &rows,
            WIDE,
        ));
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
                    i.cause.to_string(),
                    i.upstream.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let _ = writeln!(
            out,
            "\nIncidents (failure rate ≥ {BASELINE_FACTOR}× baseline and ≥ {})",
            pct_whole(MIN_RATE)
        );
        out.push_str(&table(
            &[
                ("start", Align::Left),
                ("end", Align::Left),
                ("failures", Align::Right),
                ("peak", Align::Right),
                ("cause", Align::Left),
                ("upstream", Align::Left),
            ],
            &rows,
            WIDE,
        ));
    }
    inputs(&mut out, r);
    if !r.advice.is_empty() {
        let _ = writeln!(out, "\nTo diagnose more exactly");
        for a in &r.advice {
            let _ = writeln!(out, "  - {}", sanitize_str(&sentences::advice(a)));
        }
    }
    out
}

fn headline(out: &mut String, r: &Report) {
    let t = &r.totals;
    let period = r.period.from_to();
    if t.access_logs {
        let rate = t.failure_rate();
        let _ =
            writeln!(out, "{} requests{period}: {} failed with 5xx ({}).", t.requests, t.failures, pct(rate));
        let statuses: Vec<String> =
            failure_statuses(t).into_iter().map(|(s, n)| format!("{s}: {n}")).collect();
        if !statuses.is_empty() {
            let _ = writeln!(out, "  {}", statuses.join("  "));
        }
    } else {
        let _ = writeln!(out, "{}", ERROR_LOG_ONLY);
    }
    if let Some(note) = unmatched_note(r, |n| n.to_string()) {
        let _ = writeln!(out, "  {note}");
    }
    if let Some(note) = filters_note(r, sanitize_str) {
        let _ = writeln!(out, "  {note}");
    }
    if !r.labels.is_empty() {
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={}", sanitize_str(v))).collect();
        let _ = writeln!(out, "  Labels: {}", labels.join(", "));
    }
}

/// A fleet report's failures by each label whose value differs between hosts.
fn by_label(out: &mut String, r: &Report) {
    for (key, rows) in &r.by_label {
        let _ = writeln!(out, "\nFailures by {}", sanitize_str(key));
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                let causes: Vec<String> = row.by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
                vec![
                    row.value.clone(),
                    row.hosts.to_string(),
                    row.requests.to_string(),
                    row.failures.to_string(),
                    pct(row.failure_rate),
                    causes.join(", "),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                (key.as_str(), Align::Left),
                ("hosts", Align::Right),
                ("requests", Align::Right),
                ("failures", Align::Right),
                ("rate", Align::Right),
                ("causes", Align::Left),
            ],
            &rows,
            WIDE,
        ));
    }
}

fn causes(out: &mut String, r: &Report) {
    if r.causes.is_empty() {
        let _ = writeln!(out, "\nNo upstream failures found.");
        return;
    }
    let _ = writeln!(out, "\nCauses");
    let rows: Vec<Vec<String>> = r
        .causes
        .iter()
        .map(|c| {
            let statuses: Vec<&str> = c.statuses.keys().map(String::as_str).collect();
            vec![
                c.cause.to_string(),
                c.count.to_string(),
                pct(c.share),
                statuses.join(","),
                c.summary.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("cause", Align::Left),
            ("count", Align::Right),
            ("share", Align::Right),
            ("status", Align::Left),
            ("what happened", Align::Left),
        ],
        &rows,
        90,
    ));
    for c in &r.causes {
        let _ = writeln!(out, "\n  {} ({})", c.cause, c.count);
        for finding in &c.findings {
            let _ = writeln!(out, "    seen:  {}", sanitize_str(&sentences::finding(c.cause, finding)));
        }
        for citation in &c.citations {
            let (head, lines) = super::cite_text::sentences(citation);
            let _ = writeln!(out, "    conf:  {}", sanitize_str(&head));
            for line in lines {
                let _ = writeln!(out, "             {}", sanitize_str(&line));
            }
        }
        if let Some(e) = c.evidence.first() {
            let _ = writeln!(out, "    e.g.   {}", sanitize_str(&cut(e, 220)));
        }
        if !c.top_paths.is_empty() {
            let paths: Vec<String> =
                c.top_paths.iter().map(|(p, n)| format!("{} ({n})", sanitize_str(&cut(p, 60)))).collect();
            let _ = writeln!(out, "    paths: {}", paths.join(", "));
        }
        for (i, step) in c.fix.iter().enumerate() {
            let label = if i == 0 { "fix:" } else { "" };
            let _ = writeln!(out, "    {label:<6} {}. {step}", i + 1);
        }
    }
}

fn upstream_row(u: &UpstreamRow) -> Vec<String> {
    let causes: Vec<String> = u.errors_by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
    vec![
        upstream_label(u),
        u.requests.map_or("?".into(), |n| n.to_string()),
        u.client_502.to_string(),
        u.client_504.to_string(),
        u.rate_5xx.map_or("?".into(), pct),
        u.hidden_failures.to_string(),
        u.latency.as_ref().map_or("-".into(), |l| format!("{}/{}/{}", ms(l.p50), ms(l.p90), ms(l.p99))),
        u.first_failure.clone().unwrap_or_default(),
        causes.join(", "),
    ]
}

fn upstreams(out: &mut String, r: &Report) {
    if r.upstreams.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nUpstreams");
    let rows: Vec<Vec<String>> = r.upstreams.iter().map(upstream_row).collect();
    out.push_str(&table(
        &[
            ("upstream", Align::Left),
            ("attempts", Align::Right),
            ("502", Align::Right),
            ("504", Align::Right),
            ("5xx rate", Align::Right),
            ("hidden", Align::Right),
            ("p50/p90/p99", Align::Right),
            ("first failure", Align::Left),
            ("causes", Align::Left),
        ],
        &rows,
        WIDE,
    ));
    let _ = writeln!(out, "  {}", HIDDEN_MEANS);
}

fn inputs(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\nInputs");
    let rows: Vec<Vec<String>> = r
        .inputs
        .iter()
        .filter(|i| !i.skipped)
        .map(|i| {
            vec![
                i.path.clone(),
                i.kind.map_or("-".into(), |k| format!("{k:?}").to_lowercase()),
                i.format.clone().unwrap_or_else(|| "-".into()),
                i.lines.to_string(),
                i.malformed.to_string(),
                i.other.to_string(),
                i.join.map_or("", JoinMethod::name).to_string(),
                i.problem.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("path", Align::Left),
            ("kind", Align::Left),
            ("format", Align::Left),
            ("lines", Align::Right),
            ("malformed", Align::Right),
            ("other", Align::Right),
            ("join", Align::Left),
            ("problem", Align::Left),
        ],
        &rows,
        WIDE * 2,
    ));
    if let Some(note) = skipped_note(r) {
        let _ = writeln!(out, "  ({note})");
    }
    for i in &r.inputs {
        for m in &i.malformed_examples {
            let _ = writeln!(
                out,
                "  malformed {}:{}: {}: {}",
                sanitize_str(&i.path),
                m.line,
                m.reason,
                sanitize_str(&cut(&m.text, 120))
            );
        }
    }
}
