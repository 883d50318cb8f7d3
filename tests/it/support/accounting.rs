//! The accounting every report must balance, checked by every test that runs one: no line, no
//! failure and no error line may be lost or counted twice, whatever the reader, split or merge.

use std::collections::HashSet;

use serde_json::Value;

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is not a count in {v:#}"))
}

/// Checks a JSON report (`report --output json`, `merge`):
/// - per input and in total, lines read = parsed + malformed + filtered (+ other);
/// - the totals are the sums of the inputs (when the report lists them);
/// - every client-facing failure appears exactly once among the causes, and the statuses under
///   the causes are the failing statuses of `by_status`;
/// - every upstream error line read is claimed by a request or unmatched (or filtered out, or
///   waiting for the next `--state` run).
pub fn check_report(report: &Value) {
    check_error_lines(report);
    let totals = &report["totals"];
    let other = |v: &Value| v.get("other").and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(
        count(totals, "lines_read"),
        count(totals, "parsed")
            + count(totals, "malformed_lines")
            + count(totals, "filtered")
            + other(totals),
        "total lines read are not parsed + malformed + filtered: {totals:#}"
    );
    let inputs = report["inputs"].as_array().map(Vec::as_slice).unwrap_or_default();
    for input in inputs {
        assert_eq!(
            count(input, "lines"),
            count(input, "parsed") + count(input, "malformed") + count(input, "filtered") + other(input),
            "an input's lines are not parsed + malformed + filtered: {input:#}"
        );
    }
    if !inputs.is_empty() {
        let sum = |key: &str| inputs.iter().map(|i| count(i, key)).sum::<u64>();
        assert_eq!(count(totals, "lines_read"), sum("lines"), "lines of the inputs");
        assert_eq!(count(totals, "parsed"), sum("parsed"), "parsed lines of the inputs");
        assert_eq!(count(totals, "malformed_lines"), sum("malformed"), "malformed lines of the inputs");
        assert_eq!(count(totals, "filtered"), sum("filtered"), "filtered lines of the inputs");
        assert_eq!(other(totals), inputs.iter().map(other).sum::<u64>(), "other lines of the inputs");
    }
    let causes = report["causes"].as_array().unwrap_or_else(|| panic!("no causes in {report:#}"));
    let mut seen = HashSet::new();
    for cause in causes {
        assert!(seen.insert(cause["cause"].to_string()), "cause {} listed twice", cause["cause"]);
        let statuses: u64 =
            cause["statuses"].as_object().map_or(0, |s| s.values().filter_map(Value::as_u64).sum());
        assert_eq!(statuses, count(cause, "count"), "a cause's statuses do not add up: {cause:#}");
    }
    let explained: u64 = causes.iter().map(|c| count(c, "count")).sum();
    if totals["access_logs"] == Value::Bool(false) {
        let unmatched = count(&report["error_lines"], "unmatched");
        assert_eq!(explained, unmatched, "without access logs, the causes are not the error lines read");
    }
    if totals["access_logs"] == Value::Bool(true) {
        assert_eq!(explained, count(totals, "failures"), "failures are not each under one cause");
        let failing: u64 = totals["by_status"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(status, _)| status.starts_with('5') || status.as_str() == "009")
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        assert_eq!(failing, count(totals, "failures"), "failures are not the 5xx and 009 of by_status");
    }
}

/// Checks where a report's upstream error lines went: every terminal line read is claimed by a
/// request, listed as unmatched, filtered out, or waiting for the next `--state` run.
fn check_error_lines(report: &Value) {
    let lines = &report["error_lines"];
    assert_eq!(
        count(lines, "read"),
        count(lines, "claimed")
            + count(lines, "unmatched")
            + count(lines, "filtered")
            + count(lines, "waiting"),
        "error lines read are not claimed + unmatched + filtered + waiting: {lines:#}"
    );
    assert_eq!(count(lines, "unmatched"), count(report, "unmatched_error_lines"), "unmatched error lines");
    count(lines, "context_claimed");
}

/// Parses a JSON report and checks it with [`check_report`].
pub fn checked(json: &[u8]) -> Value {
    let report: Value = serde_json::from_slice(json).expect("a JSON report");
    check_report(&report);
    report
}
