//! The HTML report's SVG drawings: the failures-over-time chart with its axis, and each
//! upstream's sparkline, coloured by cause.

use std::fmt::Write;

use super::{escape_html, parts, swatch, Colors};
use crate::report::fmt::{pct, thousands};
use crate::report::schema::{ratio, Bucket, Report, UpstreamRow};

/// A round axis maximum (1, 2 or 5 × 10ⁿ steps) at or above `max`, and its step.
pub(super) fn axis(max: u64) -> (u64, u64) {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s).max(1).saturating_mul(s), s);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// `2024-05-14T10:05:00+02:00` → `10:05`, or `05-14 10:05` when the report spans days.
pub(super) fn tick_label(start: &str, days: bool) -> String {
    match parts(start) {
        Some((date, time, _)) if days => {
            format!("{} {}", date.get(5..).unwrap_or(date), time.get(..5).unwrap_or(time))
        }
        Some((_, time, _)) => time.get(..5).unwrap_or(time).to_owned(),
        None => start.to_owned(),
    }
}

fn failures_in(b: &Bucket) -> u64 {
    b.by_cause.values().sum()
}

pub(super) fn chart(out: &mut String, r: &Report, colors: &Colors) {
    out.push_str("<section><h2>502/504 over time, by cause</h2>");
    let buckets = &r.timeline;
    let peak = buckets.iter().map(failures_in).max().unwrap_or(0);
    if peak == 0 {
        out.push_str("<p class=\"empty\">No client-facing failures in this period.</p></section>");
        return;
    }
    const W: f64 = 1120.0;
    const H: f64 = 230.0;
    const LEFT: f64 = 44.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let plot_w = W - LEFT - 4.0;
    let plot_h = H - BOTTOM - TOP;
    let (y_max, step) = axis(peak);
    let slot = plot_w / buckets.len() as f64;
    let bar = (slot * 0.8).clamp(1.0, 36.0);
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / y_max as f64;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"Failures per bucket, stacked by cause\">"
    );
    for inc in &r.incidents {
        let first = buckets.iter().position(|b| b.start >= inc.start).unwrap_or(buckets.len());
        let end = buckets.iter().position(|b| b.start >= inc.end).unwrap_or(buckets.len());
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\" style=\"fill:var(--band)\"><title>incident {} – {}</title></rect>",
            LEFT + slot * first as f64,
            slot * end.saturating_sub(first) as f64,
            escape_html(&inc.start),
            escape_html(&inc.end)
        );
    }
    let mut tick = 0;
    while tick <= y_max {
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\" style=\"stroke:var(--line)\"/><text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(tick),
            LEFT - 6.0,
            y(tick) + 4.0,
            thousands(tick)
        );
        tick += step;
    }
    for (i, b) in buckets.iter().enumerate() {
        let failures = failures_in(b);
        if failures == 0 {
            continue;
        }
        let _ = write!(
            out,
            "<g><title>{} · {} failures of {} requests ({})",
            escape_html(&b.start),
            thousands(failures),
            thousands(b.requests),
            pct(ratio(failures, b.requests))
        );
        let order = colors.order(b.by_cause.keys().copied());
        for slug in &order {
            let _ = write!(out, "\n{} {}", escape_html(slug), b.by_cause.get(slug).copied().unwrap_or(0));
        }
        out.push_str("</title>");
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut below = 0u64;
        for slug in order {
            let n = b.by_cause.get(slug).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                y(below + n),
                y(below) - y(below + n),
                colors.of(slug)
            );
            below += n;
        }
        out.push_str("</g>");
    }
    let days = match (buckets.first(), buckets.last()) {
        (Some(a), Some(b)) => a.start.get(..10) != b.start.get(..10),
        _ => false,
    };
    let every = buckets.len().div_ceil(8).max(1);
    for (i, b) in buckets.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            LEFT + slot * (i as f64 + 0.5),
            H - 6.0,
            escape_html(&tick_label(&b.start, days))
        );
    }
    out.push_str("</svg><div class=\"legend\">");
    for c in &r.causes {
        let _ = write!(out, "<span>{}{}</span>", swatch(colors.of(c.cause)), escape_html(c.cause));
    }
    if !r.incidents.is_empty() {
        out.push_str("<span><span class=\"sw\" style=\"background:var(--band)\"></span>incident</span>");
    }
    out.push_str("</div></section>");
}

/// A horizontal bar split by cause, segment widths proportional to counts; the whole bar is
/// `scale` (0 to 1) of the cell, so bars in one table can also compare totals.
pub(super) fn split_bar<'a>(
    colors: &Colors,
    counts: impl Iterator<Item = (&'a str, u64)>,
    scale: f64,
) -> String {
    let counts: Vec<(&str, u64)> = counts.collect();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let order = colors.order(counts.iter().map(|(s, _)| *s));
    let mut out = format!("<div class=\"bar\" style=\"width:{:.1}%\">", 100.0 * scale);
    for slug in order {
        let n = counts.iter().find(|(s, _)| *s == slug).map_or(0, |(_, n)| *n);
        let _ = write!(
            out,
            "<span style=\"width:{:.2}%;background:{}\" title=\"{} {n}\"></span>",
            100.0 * ratio(n, total),
            colors.of(slug),
            escape_html(slug)
        );
    }
    out.push_str("</div>");
    out
}

/// The cause behind most of an upstream's client-facing failures (the higher-ranked on a tie).
pub(super) fn main_cause<'u>(u: &'u UpstreamRow, colors: &Colors) -> Option<(&'u str, u64)> {
    let ranked = colors.order(u.errors_by_cause.keys().copied());
    let counted = ranked.into_iter().map(|c| (c, u.errors_by_cause.get(c).copied().unwrap_or(0)));
    counted.rev().max_by_key(|&(_, n)| n)
}

/// A small line of an upstream's failures per bucket, in its main cause's colour.
pub(super) fn sparkline(u: &UpstreamRow, colors: &Colors) -> String {
    const W: f64 = 100.0;
    const H: f64 = 24.0;
    let series = &u.failures_over_time;
    let peak = series.iter().copied().max().unwrap_or(0);
    let total: u64 = series.iter().sum();
    if series.is_empty() || peak == 0 {
        return format!("<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><line x1=\"0\" x2=\"{W}\" y1=\"{0}\" y2=\"{0}\" style=\"stroke:var(--line)\" stroke-width=\"1.5\"/></svg>", H - 1.5);
    }
    let color = colors.of(main_cause(u, colors).map_or("", |(c, _)| c));
    // One bucket draws as a level line across the box.
    let series: &[u64] = if series.len() == 1 { &[peak, peak] } else { series };
    let dx = W / (series.len() - 1) as f64;
    let points: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, &n)| format!("{:.1},{:.1}", i as f64 * dx, H - 1.5 - (H - 3.0) * n as f64 / peak as f64))
        .collect();
    let line = points.join(" ");
    format!(
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><title>{} failures, peak {} per bucket</title><polygon points=\"0,{H} {line} {W},{H}\" fill=\"{color}\" fill-opacity=\".18\"/><polyline points=\"{line}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/></svg>",
        thousands(total),
        thousands(peak)
    )
}
