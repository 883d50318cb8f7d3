//! The truth the harness knows (from the requests it sent and what its clients saw) turned into what
//! ngx502 must say, and the comparison with what ngx502 did say. Every mismatch is collected, so one
//! run shows all of them.

use super::lab::{Sent, HOST};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which access log ngx502 was given (all three hold the same traffic).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Combined,
    Upstream,
    Json,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Combined => "combined",
            Format::Upstream => "upstream",
            Format::Json => "json",
        }
    }
    /// Does this format carry `$upstream_addr` / `$upstream_status` / `$connection`?
    pub fn has_upstream_fields(self) -> bool {
        self != Format::Combined
    }
}

/// Collected mismatches, each one line of "where: expected X, got Y".
#[derive(Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn push(&mut self, p: String) {
        self.0.push(p);
    }
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, expected: T, got: T) {
        if expected != got {
            self.0.push(format!("{what}: expected {expected:?}, got {got:?}"));
        }
    }
}

/// `502`, `009`: how nginx writes a status, and the key of `by_status` / `statuses`.
pub fn status_key(status: u16) -> String {
    format!("{status:03}")
}

/// A failure the client saw: any 5xx, and nginx's `009` (the HTTP/0.9 relay of a non-HTTP answer,
/// which is what the client got instead of a response).
fn is_client_failure(s: &Sent) -> bool {
    s.status >= 500 || s.status == 9
}

fn cause_in(s: &Sent, f: Format) -> Option<&'static str> {
    if f.has_upstream_fields() {
        s.cause
    } else {
        s.cause_combined
    }
}

fn upstream_in(s: &Sent, f: Format) -> Option<String> {
    if f.has_upstream_fields() {
        s.upstream.clone()
    } else {
        s.upstream_combined.clone()
    }
}

/// The row name ngx502 uses for client-facing failures whose upstream is unknown (a `combined` log
/// and no error line).
pub const NO_UPSTREAM: &str = ngx502::report::schema::UNKNOWN_UPSTREAM;

#[derive(Debug, Default, PartialEq)]
pub struct ExpectedUpstream {
    /// Attempts nginx made on it (`None` when the access format cannot tell: combined).
    pub requests: Option<u64>,
    /// Client-facing failures whose last attempt was this upstream, by cause (like `causes`, one per
    /// client response).
    pub errors_by_cause: BTreeMap<String, u64>,
    /// Attempts on it that failed, client-facing or not.
    pub failed_attempts: u64,
    /// Failed attempts the client never saw as an error (a retry recovered).
    pub hidden_failures: u64,
}

/// What `report --output json` must say, derived from the truth only.
pub struct ExpectedReport {
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    /// cause → (count, statuses)
    pub causes: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
    pub upstreams: BTreeMap<String, ExpectedUpstream>,
}

pub fn expected_report(sent: &[Sent], f: Format) -> ExpectedReport {
    let mut by_status = BTreeMap::new();
    let mut causes: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut ups: BTreeMap<String, ExpectedUpstream> = BTreeMap::new();
    for s in sent {
        *by_status.entry(status_key(s.status)).or_insert(0) += 1;
        if let Some(cause) = cause_in(s, f) {
            let e = causes.entry(cause.to_string()).or_default();
            e.0 += 1;
            *e.1.entry(status_key(s.status)).or_insert(0) += 1;
            let upstream = upstream_in(s, f);
            let up = ups.entry(upstream.clone().unwrap_or_else(|| NO_UPSTREAM.to_string())).or_default();
            *up.errors_by_cause.entry(cause.to_string()).or_insert(0) += 1;
            // A failed attempt, unless nothing shows one (a backend 502 in a combined log).
            if upstream.is_some() {
                up.failed_attempts += 1;
            }
        }
        if let Some((u, _cause)) = &s.hidden {
            let up = ups.entry(u.clone()).or_default();
            up.failed_attempts += 1;
            up.hidden_failures += 1;
        }
        if f.has_upstream_fields() {
            for a in &s.attempts {
                *ups.entry(a.clone()).or_default().requests.get_or_insert(0) += 1;
            }
        }
    }
    ExpectedReport { requests: sent.len() as u64, by_status, causes, upstreams: ups }
}

fn u64_map(v: Option<&Value>) -> BTreeMap<String, u64> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX))).collect())
        .unwrap_or_default()
}

/// Compares one `report --output json` against the truth.
pub fn check_report(report: &Value, sent: &[Sent], f: Format, error_log_lines: u64, p: &mut Problems) {
    let ctx = format!("[{} report]", f.name());
    let exp = expected_report(sent, f);
    p.eq(&format!("{ctx} schema"), Some("ngx502/1"), report["schema"].as_str());

    let totals = &report["totals"];
    p.eq(&format!("{ctx} totals.requests"), Some(exp.requests), totals["requests"].as_u64());
    p.eq(&format!("{ctx} totals.by_status"), exp.by_status.clone(), u64_map(totals.get("by_status")));
    p.eq(&format!("{ctx} totals.malformed_lines"), Some(0), totals["malformed_lines"].as_u64());
    p.eq(
        &format!("{ctx} totals.lines_read"),
        Some(exp.requests + error_log_lines),
        totals["lines_read"].as_u64(),
    );

    // inputs: one access log, one error log, every line parsed.
    let inputs = report["inputs"].as_array().cloned().unwrap_or_default();
    let mut kinds: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for i in &inputs {
        let e = kinds.entry(i["kind"].as_str().unwrap_or("?").to_string()).or_insert((Some(0), Some(0)));
        e.0 = e.0.zip(i["lines"].as_u64()).map(|(a, b)| a + b);
        e.1 = e.1.zip(i["malformed"].as_u64()).map(|(a, b)| a + b);
    }
    p.eq(
        &format!("{ctx} inputs, summed per kind (kind → (lines, malformed))"),
        BTreeMap::from([
            ("access".to_string(), (Some(exp.requests), Some(0))),
            ("error".to_string(), (Some(error_log_lines), Some(0))),
        ]),
        kinds,
    );

    // causes: per client response, exact.
    let got_causes: BTreeMap<String, (u64, BTreeMap<String, u64>)> = report["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["cause"].as_str().unwrap_or("?").to_string(),
                (c["count"].as_u64().unwrap_or(u64::MAX), u64_map(c.get("statuses"))),
            )
        })
        .collect();
    for (cause, e) in &exp.causes {
        p.eq(&format!("{ctx} causes[{cause}] (count, statuses)"), Some(e), got_causes.get(cause));
    }
    for (cause, g) in &got_causes {
        if !exp.causes.contains_key(cause) {
            p.push(format!("{ctx} causes[{cause}]: not expected at all, got {g:?}"));
        }
    }

    // upstreams: exact per upstream.
    let got_ups: BTreeMap<String, &Value> = report["upstreams"]
        .as_array()
        .map(|a| a.iter().map(|u| (u["upstream"].as_str().unwrap_or("?").to_string(), u)).collect())
        .unwrap_or_default();
    for (name, e) in &exp.upstreams {
        let Some(g) = got_ups.get(name) else {
            p.push(format!("{ctx} upstreams[{name}]: missing (expected {e:?})"));
            continue;
        };
        let got = ExpectedUpstream {
            requests: g["requests"].as_u64(),
            errors_by_cause: u64_map(g.get("errors_by_cause")),
            failed_attempts: g["failed_attempts"].as_u64().unwrap_or(u64::MAX),
            hidden_failures: g["hidden_failures"].as_u64().unwrap_or(u64::MAX),
        };
        if !f.has_upstream_fields() && !g["requests"].is_null() {
            p.push(format!(
                "{ctx} upstreams[{name}].requests: expected null (combined has no $upstream_addr), got {}",
                g["requests"]
            ));
        }
        p.eq(&format!("{ctx} upstreams[{name}]"), e, &got);
    }
    for name in got_ups.keys() {
        if !exp.upstreams.contains_key(name) {
            p.push(format!("{ctx} upstreams[{name}]: not expected at all, got {}", got_ups[name]));
        }
    }

    // Every upstream error line here belongs to a request in the access log (the static open()
    // failures are not upstream errors at all). But without `$upstream_status` a 200 line cannot claim
    // its retry's error line: those stay unmatched (and count as hidden failures on the peer named).
    let unmatched = match f.has_upstream_fields() {
        true => 0,
        false => sent.iter().filter(|s| s.hidden.is_some()).count() as u64,
    };
    p.eq(&format!("{ctx} unmatched_error_lines"), Some(unmatched), report["unmatched_error_lines"].as_u64());

    // timeline: every request lands in exactly one bucket.
    if let Some(tl) = report["timeline"].as_array() {
        let sum: u64 = tl.iter().filter_map(|b| b["requests"].as_u64()).sum();
        p.eq(&format!("{ctx} sum of timeline[].requests"), exp.requests, sum);
    } else {
        p.push(format!("{ctx} timeline: missing"));
    }
}

/// Parses RFC 3339 (with `Z` or `±hh:mm`), or nginx's `$time_local` (`25/Nov/2026:21:15:08 +0530`).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let dt = chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z"))
        .ok()?;
    let secs = dt.timestamp();
    let nanos = dt.timestamp_subsec_nanos();
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_nanos(nanos as u64))
}

/// Compares `export --format ndjson` against the truth: one event per client-facing 5xx (and 009), each with
/// its true cause, upstream, attempts and time.
pub fn check_export(ndjson: &str, sent: &[Sent], f: Format, p: &mut Problems) {
    let ctx = format!("[{} export]", f.name());
    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    for (i, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => {
                let key = v["request"].as_str().unwrap_or("?").to_string();
                if got.insert(key.clone(), v).is_some() {
                    p.push(format!("{ctx} two events for {key:?}"));
                }
            }
            Err(e) => p.push(format!("{ctx} line {} is not JSON ({e}): {line}", i + 1)),
        }
    }
    let expected: Vec<&Sent> = sent.iter().filter(|s| is_client_failure(s)).collect();
    let expected_keys: BTreeSet<String> = expected.iter().map(|s| s.request_line()).collect();
    for key in got.keys() {
        if !expected_keys.contains(key) {
            let why = sent
                .iter()
                .find(|s| &s.request_line() == key)
                .map(|s| format!("the client got {}", status_key(s.status)))
                .unwrap_or_else(|| "no such request was sent".into());
            p.push(format!("{ctx} unexpected event for {key:?} ({why}): {}", got[key]));
        }
    }
    for s in expected {
        let key = s.request_line();
        let Some(ev) = got.get(&key) else {
            p.push(format!(
                "{ctx} no event for {key:?} (client got {}, cause {:?})",
                s.status,
                cause_in(s, f)
            ));
            continue;
        };
        let at = format!("{ctx} {key:?}");
        p.eq(&format!("{at} status"), Some(s.status as u64), ev["status"].as_u64());
        p.eq(&format!("{at} cause"), cause_in(s, f), ev["cause"].as_str());
        p.eq(&format!("{at} upstream"), upstream_in(s, f).as_deref(), ev["upstream"].as_str());
        p.eq(&format!("{at} method"), Some("GET"), ev["method"].as_str());
        p.eq(&format!("{at} client"), Some("127.0.0.1"), ev["client"].as_str());
        p.eq(
            &format!("{at} path"),
            Some(s.target.split('?').next().unwrap()),
            ev["path"].as_str().map(|x| x.split('?').next().unwrap()),
        );
        if f.has_upstream_fields() {
            p.eq(&format!("{at} host"), Some(HOST), ev["host"].as_str());
            let attempts: Vec<&str> = ev["attempts"]
                .as_array()
                .map(|a| a.iter().map(|x| x["upstream"].as_str().unwrap_or("?")).collect())
                .unwrap_or_default();
            p.eq(
                &format!("{at} attempts[].upstream"),
                s.attempts.iter().map(String::as_str).collect::<Vec<_>>(),
                attempts,
            );
            // The attempt that the error line names carries its cause (a 009's attempt too, although
            // `$upstream_status` says 200).
            if let (Some(cause), Some(last)) = (s.cause, ev["attempts"].as_array().and_then(|a| a.last())) {
                if !cause.starts_with("upstream_returned_") {
                    p.eq(&format!("{at} attempts[last].cause"), Some(cause), last["cause"].as_str());
                }
            }
        }
        // How the access record was tied to its error line: by `$connection` where the format has
        // it, else by request line + time; a backend-sent 502 has no error line at all.
        let has_error_line =
            !matches!(s.cause, Some("upstream_returned_502") | Some("upstream_returned_504"));
        let join = match (has_error_line, f.has_upstream_fields()) {
            (false, _) => "none",
            (true, true) => "connection",
            (true, false) => "request",
        };
        p.eq(&format!("{at} join"), Some(join), ev["join"].as_str());
        if has_error_line && ev["evidence"].as_array().is_none_or(|e| e.is_empty()) {
            p.push(format!("{at} evidence: expected the error line, got {}", ev["evidence"]));
        }
        // The time must be the same instant the client saw (nginx logs in +0530; a wrong offset is
        // off by hours). nginx's clock is cached and truncated to the second: allow 2 s of slack.
        match ev["time"].as_str().and_then(parse_time) {
            Some(t) => {
                let lo = s.started - Duration::from_secs(2);
                let hi = s.finished + Duration::from_secs(2);
                if t < lo || t > hi {
                    p.push(format!(
                        "{at} time {} is outside the exchange ({:?} .. {:?})",
                        ev["time"], lo, hi
                    ));
                }
            }
            None => p.push(format!("{at} time: not an RFC 3339 / $time_local timestamp: {}", ev["time"])),
        }
    }
}
