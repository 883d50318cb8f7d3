//! `--output prometheus`: the report as Prometheus text exposition (format 0.0.4), for
//! node_exporter's textfile collector, so a cron job feeds the monitoring stack.
//!
//! Every family is written once, HELP and TYPE lines first, its samples together.
//! `ngx502_responses_total` splits a status by upstream where the report attributes it
//! (client-facing 502 and 504) and keeps the rest without an `upstream` label, so
//! `sum by (status)` is always the access log's own count. Label values are first made
//! terminal-safe like every other output (a control character becomes `\xHH`), then escaped
//! for the format.

use std::fmt::Write;

use super::model::Report;
use crate::escape::sanitize_str;

/// One metric family being written.
struct Family<'o> {
    out: &'o mut String,
    name: &'static str,
}

impl<'o> Family<'o> {
    fn new(out: &'o mut String, name: &'static str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
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

/// Renders the report as metrics.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    responses(&mut out, r);

    let mut f = Family::new(
        &mut out,
        "ngx502_failures_total",
        "counter",
        "Client-facing failures by cause and by the upstream of their last attempt.",
    );
    for u in &r.upstreams {
        for (cause, &n) in &u.errors_by_cause {
            f.count(&[("cause", cause), ("upstream", &u.upstream)], n);
        }
    }

    let mut f = Family::new(
        &mut out,
        "ngx502_upstream_attempts_total",
        "counter",
        "Attempts nginx sent to each upstream (from $upstream_addr).",
    );
    for u in &r.upstreams {
        if let Some(n) = u.requests {
            f.count(&[("upstream", &u.upstream)], n);
        }
    }

    let mut f = Family::new(
        &mut out,
        "ngx502_upstream_hidden_failures_total",
        "counter",
        "Failed attempts on each upstream that a retry recovered, so the client never saw them.",
    );
    for u in &r.upstreams {
        f.count(&[("upstream", &u.upstream)], u.hidden_failures);
    }

    let mut f = Family::new(
        &mut out,
        "ngx502_failure_rate",
        "gauge",
        "Client-facing 5xx per attempt sent to each upstream (0 to 1).",
    );
    for u in &r.upstreams {
        if let Some(rate) = u.rate_5xx {
            f.gauge(&[("upstream", &u.upstream)], rate);
        }
    }

    let mut f = Family::new(
        &mut out,
        "ngx502_upstream_latency_seconds",
        "gauge",
        "Upstream response time quantiles per upstream, within the report's stated relative error.",
    );
    for u in &r.upstreams {
        if let Some(l) = &u.latency {
            for (quantile, value) in [("0.5", l.p50), ("0.9", l.p90), ("0.99", l.p99)] {
                f.gauge(&[("upstream", &u.upstream), ("quantile", quantile)], value);
            }
        }
    }

    let mut f = Family::new(
        &mut out,
        "ngx502_lines_total",
        "counter",
        "Log lines read per input, by result: parsed, malformed or filtered.",
    );
    for i in r.inputs.iter().filter(|i| !i.skipped) {
        for (result, n) in [("parsed", i.parsed), ("malformed", i.malformed), ("filtered", i.filtered)] {
            f.count(&[("input", &i.path), ("result", result)], n);
        }
    }
    out
}

fn responses(out: &mut String, r: &Report) {
    let mut f = Family::new(
        out,
        "ngx502_responses_total",
        "counter",
        "Responses in the access logs by status; client-facing 502/504 also by upstream.",
    );
    for (status, &total) in &r.totals.by_status {
        let mut attributed = 0u64;
        for u in &r.upstreams {
            let n = match status.as_str() {
                "502" => u.client_502,
                "504" => u.client_504,
                _ => 0,
            };
            if n > 0 {
                f.count(&[("status", status), ("upstream", &u.upstream)], n);
                attributed += n;
            }
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
