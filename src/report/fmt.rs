//! Formatting every renderer shares: numbers, durations, cut text, and the sentences each format
//! words the same way. Renderers import this, never each other.

use super::schema::{Report, Totals, UpstreamRow};

/// A share as a percentage with one decimal (`0.0123` → `1.2%`).
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Seconds as people read a latency: `40ms` below a second, `1.25s` above.
pub fn ms(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0}ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2}s")
    }
}

/// `text` cut to `max` characters, with `…` when something was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max).collect::<String>() + "…"
    }
}

/// A threshold as a whole percentage (`0.01` → `1%`).
pub fn pct_whole(x: f64) -> String {
    format!("{}%", x * 100.0)
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The sentence every format shows when only error logs were read.
pub const ERROR_LOG_ONLY: &str = "No access log read: counts are failed attempts from the error log, not client responses (client-facing counts unknown).";

/// The note on error lines no 5xx claimed, when there are any and access logs were read: where
/// every upstream error line went, each number written by `num`.
pub fn unmatched_note(r: &Report, num: fn(u64) -> String) -> Option<String> {
    (r.unmatched_error_lines > 0 && r.totals.access_logs).then(|| {
        let lines = &r.error_lines;
        let mut note = format!(
            "Upstream error lines: {} claimed by a request, {} matched no 5xx in the access log (retries that recovered, or requests outside it)",
            num(lines.claimed),
            num(r.unmatched_error_lines)
        );
        for (n, what) in [(lines.filtered, "filtered out"), (lines.waiting, "waiting for the next run")] {
            if n > 0 {
                note.push_str(&format!(", {} {what}", num(n)));
            }
        }
        note.push('.');
        note
    })
}

/// The note on inputs that were not nginx logs, when any were skipped.
pub fn skipped_note(r: &Report) -> Option<String> {
    match r.inputs.iter().filter(|i| i.skipped).count() {
        0 => None,
        1 => Some("1 file skipped: not an nginx log".to_owned()),
        n => Some(format!("{n} files skipped: not nginx logs")),
    }
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
pub fn upstream_label(u: &UpstreamRow) -> String {
    match &u.block {
        Some(block) if *block != u.upstream => format!("{} ({block})", u.upstream),
        _ => u.upstream.clone(),
    }
}

/// The client-facing failure statuses (5xx, and nginx's `009` for HTTP/0.9) with their counts,
/// for the headline of every format that has one.
pub fn failure_statuses(totals: &Totals) -> Vec<(&str, u64)> {
    totals
        .by_status
        .iter()
        .filter(|(s, _)| s.starts_with('5') || s.as_str() == "009")
        .map(|(s, &n)| (s.as_str(), n))
        .collect()
}
