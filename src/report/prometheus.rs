//! `--output prometheus`: the report as Prometheus text exposition (format 0.0.4), for
//! node_exporter's textfile collector, so a cron job feeds the monitoring stack. `live
//! --metrics-listen` serves the same families from its running counts ([`Metrics`]).
//!
//! Every family is written once, HELP and TYPE lines first, its samples together.
//! `ngx502_responses_total` splits a status by upstream where the report attributes it
//! (client-facing 502 and 504) and keeps the rest without an `upstream` label, so
//! `sum by (status)` is always the access log's own count. Label values are first made
//! terminal-safe like every other output (a control character becomes `\xHH`), then escaped
//! for the format.

use std::fmt::Write;

use super::schema::Report;
use crate::escape::sanitize_str;

/// One metric family being written.
struct Family<'o> {
    out: &'o mut String,
    name: &'static str,
    /// `--label`s, on every sample after its own labels.
    common: &'o [(&'o str, &'o str)],
}

impl<'o> Family<'o> {
    fn new(
        out: &'o mut String,
        common: &'o [(&'o str, &'o str)],
        name: &'static str,
        kind: &str,
        help: &str,
    ) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name, common }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(self.name);
        if !labels.is_empty() || !self.common.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().chain(self.common).enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", label_value(&sanitize_str(val)));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn count(&mut self, labels: &[(&str, &str)], value: u64) {
        self.sample(labels, &value.to_string());
    }

    fn gauge(&mut self, labels: &[(&str, &str)], value: f64) {
        self.sample(labels, &float(value));
    }
}

/// Escapes a label value as the exposition format requires: backslash, double quote, newline.
pub fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus spells it (`NaN`, `+Inf`, `-Inf` for the non-finite ones).
fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        x.to_string()
    }
}

/// One status (as the report spells it): every response, and the client-facing ones per upstream.
pub type Responses<'a> = (String, u64, Vec<(&'a str, u64)>);

/// The numbers behind the metrics, whoever counted them: `report` fills them from a [`Report`],
/// `live` from its running counts, and [`write()`] names and labels them for both.
#[derive(Debug, Default)]
pub struct Metrics<'a> {
    pub responses: Vec<Responses<'a>>,
    /// Client-facing failures per (cause, upstream of their last attempt).
    pub failures: Vec<(&'a str, &'a str, u64)>,
    /// Attempts sent to each upstream.
    pub attempts: Vec<(&'a str, u64)>,
    /// Failed attempts a retry recovered, per upstream.
    pub hidden: Vec<(&'a str, u64)>,
    /// Client-facing 5xx per attempt, per upstream.
    pub failure_rate: Vec<(&'a str, f64)>,
    /// p50, p90 and p99 of each upstream's response time.
    pub latency: Vec<(&'a str, [f64; 3])>,
    /// Lines per input: parsed, malformed, filtered, other.
    pub lines: Vec<(&'a str, [u64; 4])>,
    /// `--label KEY=VALUE`, on every series.
    pub labels: Vec<(&'a str, &'a str)>,
}

impl<'a> Metrics<'a> {
    /// The report's numbers.
    pub fn of_report(r: &'a Report) -> Metrics<'a> {
        let upstreams = || r.upstreams.iter().map(|u| (u, u.upstream.as_str()));
        let responses = r
            .totals
            .by_status
            .iter()
            .map(|(status, &total)| {
                let by_upstream = upstreams()
                    .map(|(u, name)| {
                        let n = match status.as_str() {
                            "502" => u.client_502,
                            "504" => u.client_504,
                            _ => 0,
                        };
                        (name, n)
                    })
                    .filter(|(_, n)| *n > 0)
                    .collect();
                (status.clone(), total, by_upstream)
            })
            .collect();
        Metrics {
            responses,
            failures: upstreams()
                .flat_map(|(u, name)| u.errors_by_cause.iter().map(move |(cause, &n)| (*cause, name, n)))
                .collect(),
            attempts: upstreams().filter_map(|(u, name)| u.requests.map(|n| (name, n))).collect(),
            hidden: upstreams().map(|(u, name)| (name, u.hidden_failures)).collect(),
            failure_rate: upstreams().filter_map(|(u, name)| u.rate_5xx.map(|r| (name, r))).collect(),
            latency: upstreams()
                .filter_map(|(u, name)| u.latency.as_ref().map(|l| (name, [l.p50, l.p90, l.p99])))
                .collect(),
            lines: r
                .inputs
                .iter()
                .filter(|i| !i.skipped)
                .map(|i| (i.path.as_str(), [i.parsed, i.malformed, i.filtered, i.other]))
                .collect(),
            labels: r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        }
    }
}

/// Renders the report as metrics.
pub fn render(r: &Report) -> String {
    write(&Metrics::of_report(r))
}

/// Writes `m` in the exposition format: every family once, its samples together.
pub fn write(m: &Metrics<'_>) -> String {
    let mut out = String::new();
    let common = &m.labels[..];
    responses(&mut out, common, &m.responses);

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_failures_total",
        "counter",
        "Client-facing failures by cause and by the upstream of their last attempt.",
    );
    for &(cause, upstream, n) in &m.failures {
        f.count(&[("cause", cause), ("upstream", upstream)], n);
    }

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_upstream_attempts_total",
        "counter",
        "Attempts nginx sent to each upstream (from $upstream_addr).",
    );
    for &(upstream, n) in &m.attempts {
        f.count(&[("upstream", upstream)], n);
    }

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_upstream_hidden_failures_total",
        "counter",
        "Failed attempts on each upstream that a retry recovered, so the client never saw them.",
    );
    for &(upstream, n) in &m.hidden {
        f.count(&[("upstream", upstream)], n);
    }

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_failure_rate",
        "gauge",
        "Client-facing 5xx per attempt sent to each upstream (0 to 1).",
    );
    for &(upstream, rate) in &m.failure_rate {
        f.gauge(&[("upstream", upstream)], rate);
    }

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_upstream_latency_seconds",
        "gauge",
        "Upstream response time quantiles per upstream, within the report's stated relative error.",
    );
    for &(upstream, values) in &m.latency {
        for (quantile, value) in ["0.5", "0.9", "0.99"].into_iter().zip(values) {
            f.gauge(&[("upstream", upstream), ("quantile", quantile)], value);
        }
    }

    let mut f = Family::new(
        &mut out,
        common,
        "ngx502_lines_total",
        "counter",
        "Log lines read per input, by result: parsed, malformed, filtered or other (other programs' lines in a stream).",
    );
    for &(input, counts) in &m.lines {
        for (result, n) in ["parsed", "malformed", "filtered", "other"].into_iter().zip(counts) {
            f.count(&[("input", input), ("result", result)], n);
        }
    }
    out
}

/// `ngx502_responses_total`: a status split by upstream where it is attributed, and the rest
/// without an `upstream` label, so `sum by (status)` is always the access log's own count.
fn responses(out: &mut String, common: &[(&str, &str)], responses: &[Responses<'_>]) {
    let mut f = Family::new(
        out,
        common,
        "ngx502_responses_total",
        "counter",
        "Responses in the access logs by status; client-facing 502/504 also by upstream.",
    );
    for (status, total, by_upstream) in responses {
        let mut attributed = 0u64;
        for &(upstream, n) in by_upstream {
            f.count(&[("status", status), ("upstream", upstream)], n);
            attributed += n;
        }
        let rest = total.saturating_sub(attributed);
        if rest > 0 || attributed == 0 {
            f.count(&[("status", status)], rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn non_finite_floats_use_prometheus_spelling() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(0.25), "0.25");
    }
}
