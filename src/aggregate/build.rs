//! The rules a report is built by ([`super::fold::Fold`]) that merged reports share: the limits
//! of its lists, the order and cap of upstream rows, the advice.

use crate::access::AccessFormat;
use crate::report::schema::{Advice, UpstreamRow, OTHER_UPSTREAMS};

/// Most upstream rows a report lists. A log can name hundreds of thousands of distinct
/// `$upstream_addr` values (short-lived pods, a resolver gone wild, a forged log); past this,
/// the rows with the fewest failures are summed into one [`OTHER_UPSTREAMS`] row, so every
/// output stays readable and bounded in size.
pub const MAX_UPSTREAM_ROWS: usize = 100;

/// How many paths, examples and evidence lines lists keep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub top: usize,
    /// Group ids in paths into templates (`/orders/{id}`); `--raw-paths` turns it off.
    pub templates: bool,
}

/// A status as the report's maps key it: three digits (`009`).
pub(super) fn status_key(status: u16) -> String {
    format!("{status:03}")
}

/// What the report advises beyond the causes: the access formats' missing fields, the upstream
/// rows `folded` into one, requests settled without an error line, and passing the access log
/// when only error logs were read (`error_lines_alone`).
pub(super) fn advice(
    formats: &[AccessFormat],
    folded: usize,
    settled_unexplained: u64,
    error_lines_alone: bool,
) -> Vec<Advice> {
    let mut advice = Vec::new();
    for format in formats {
        if let AccessFormat::Template(f) = format {
            let missing = f.missing_for_exact_join();
            if !missing.is_empty() {
                for lacks in missing {
                    advice.push(Advice::FormatLacks { format: f.name.clone(), lacks });
                }
                advice.push(Advice::UseUpstreamFormat);
            }
        }
    }
    advice.dedup();
    advice.extend(folded_advice(folded));
    if settled_unexplained > 0 {
        advice.push(Advice::SettledWithoutErrorLine { requests: settled_unexplained });
    }
    if error_lines_alone {
        advice.push(Advice::PassAccessLog);
    }
    advice
}

/// The report's order of upstreams: most client-facing failures, then most failed attempts, then
/// name.
pub fn sort_upstreams(rows: &mut [UpstreamRow]) {
    rows.sort_by(|a, b| {
        (b.failures().cmp(&a.failures()))
            .then(b.failed_attempts.cmp(&a.failed_attempts))
            .then(a.upstream.cmp(&b.upstream))
    });
}

/// What the report says when [`cap_upstreams`] summed `folded` rows.
fn folded_advice(folded: usize) -> Option<Advice> {
    (folded > 0).then(|| Advice::UpstreamsFolded {
        upstreams: (MAX_UPSTREAM_ROWS + folded) as u64,
        listed: MAX_UPSTREAM_ROWS as u64,
        folded: folded as u64,
    })
}

/// Keeps the first `max` rows (sorted most failures first) and sums the others into one
/// [`OTHER_UPSTREAMS`] row; returns how many were summed. Its rates are over the summed rows that
/// have attempt counts, and its latency merges their sketches, so it reads like any other row.
pub fn cap_upstreams(rows: &mut Vec<UpstreamRow>, max: usize) -> usize {
    // A row of upstreams an earlier report folded (merge reads reports) is folded again.
    let earlier = rows.iter().position(|r| r.upstream == OTHER_UPSTREAMS).map(|i| rows.remove(i));
    if rows.len() <= max && earlier.is_none() {
        return 0;
    }
    let mut folded = rows.split_off(max.min(rows.len()));
    let count = folded.len();
    folded.extend(earlier);
    let mut other = UpstreamRow::new(OTHER_UPSTREAMS.to_owned());
    for row in &folded {
        other.add(row);
    }
    // The sum of several upstreams belongs to no one block.
    other.block = None;
    rows.push(other);
    count
}
