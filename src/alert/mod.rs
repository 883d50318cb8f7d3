//! `--fail-on` rules: thresholds checked against a finished report, so a cron job can page
//! someone (exit code 3) while the report itself is still written.
//!
//! # Grammar
//!
//! ```text
//! rule       = metric [scope] comparator value
//! metric     = "rate_502" | "rate_504" | "rate_5xx"        shares of requests: value is a percentage
//!            | "requests" | "failures" | "hidden_failures" | "malformed_lines"
//!            | "count(" cause-slug ")" | "count(" status ")"   counts: value is a plain number
//! scope      = "{" "upstream" "=" '"' address '"' "}"
//! comparator = ">" | ">=" | "<" | "<=" | "=="
//! value      = digits ["." digits] ["%"]
//! ```
//!
//! Spaces may separate tokens. Examples: `rate_502>1%`, `count(read_timeout) >= 10`,
//! `rate_5xx{upstream="10.0.1.11:8080"}>5%`, `requests<1000`. A rule is checked when it is parsed,
//! before any log is read, so a typo fails fast instead of after an hour of reading.
//!
//! Comparisons are exact: a measured share is the fraction of two counts and a threshold is a
//! decimal, so both are compared as integers (`rate_502>1%` does not fire at exactly 1 in 100).
//!
//! A rule whose value the report cannot know (a rate when no access log was read, an upstream
//! the report does not name) counts as breached: a broken log pipeline must not look healthy.
//! docs/alerts.md gives what each metric measures.

use std::fmt;

use crate::errorlog::Cause;
use crate::escape::sanitize_str;
use crate::report::schema::{Report, UpstreamRow};

/// Digits a threshold may have: keeps every comparison inside `u128`.
const MAX_DIGITS: usize = 18;
const MAX_DECIMALS: usize = 9;

const USAGE: &str = "a rule is METRIC[{upstream=\"ADDR\"}] OP VALUE with OP one of > >= < <= ==, e.g. \
'rate_502>1%' or 'count(read_timeout)>10'; metrics: rate_502 rate_504 rate_5xx requests failures \
hidden_failures malformed_lines count(CAUSE) count(STATUS)";

/// What a rule measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Rate502,
    Rate504,
    Rate5xx,
    Requests,
    Failures,
    HiddenFailures,
    MalformedLines,
    /// Client-facing failures with this cause (failed attempts when no access log was read).
    Cause(Cause),
    /// Responses with this status.
    Status(u16),
}

impl Metric {
    fn named(name: &str) -> Option<Metric> {
        Some(match name {
            "rate_502" => Metric::Rate502,
            "rate_504" => Metric::Rate504,
            "rate_5xx" => Metric::Rate5xx,
            "requests" => Metric::Requests,
            "failures" => Metric::Failures,
            "hidden_failures" => Metric::HiddenFailures,
            "malformed_lines" => Metric::MalformedLines,
            _ => return None,
        })
    }

    fn is_rate(self) -> bool {
        matches!(self, Metric::Rate502 | Metric::Rate504 | Metric::Rate5xx)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Rate502 => f.write_str("rate_502"),
            Metric::Rate504 => f.write_str("rate_504"),
            Metric::Rate5xx => f.write_str("rate_5xx"),
            Metric::Requests => f.write_str("requests"),
            Metric::Failures => f.write_str("failures"),
            Metric::HiddenFailures => f.write_str("hidden_failures"),
            Metric::MalformedLines => f.write_str("malformed_lines"),
            Metric::Cause(c) => write!(f, "count({})", c.slug()),
            Metric::Status(s) => write!(f, "count({s:03})"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

impl Comparator {
    /// Longest first, so `>=` is not read as `>` followed by `=`.
    const ALL: [(&'static str, Comparator); 5] = [
        (">=", Comparator::GreaterOrEqual),
        ("<=", Comparator::LessOrEqual),
        ("==", Comparator::Equal),
        (">", Comparator::Greater),
        ("<", Comparator::Less),
    ];

    fn symbol(self) -> &'static str {
        Self::ALL.iter().find(|(_, c)| *c == self).map_or("", |(s, _)| s)
    }

    fn holds(self, order: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Comparator::Greater => order == Greater,
            Comparator::GreaterOrEqual => order != Less,
            Comparator::Less => order == Less,
            Comparator::LessOrEqual => order != Greater,
            Comparator::Equal => order == Equal,
        }
    }
}

/// A decimal threshold as `mantissa / 10^decimals`, a percentage when `percent`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Threshold {
    text: String,
    mantissa: u128,
    decimals: u32,
    percent: bool,
}

impl Threshold {
    /// The threshold as a fraction `(numerator, denominator)`.
    fn fraction(&self) -> (u128, u128) {
        let scale = 10u128.pow(self.decimals) * if self.percent { 100 } else { 1 };
        (self.mantissa, scale)
    }
}

/// One parsed `--fail-on` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// As the user wrote it, to name it in the alert.
    text: String,
    metric: Metric,
    upstream: Option<String>,
    comparator: Comparator,
    threshold: Threshold,
}

/// A rule that does not follow the grammar, with what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{problem} in '{}'; {}", sanitize_str(.rule), USAGE)]
pub struct RuleError {
    rule: String,
    problem: String,
}

/// Walks a rule's characters; positions are byte offsets on char boundaries.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes `token` (after spaces) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        let found = self.rest().starts_with(token);
        if found {
            self.pos += token.len();
        }
        found
    }

    /// What comes next, for error messages.
    fn found(&self) -> String {
        let rest = self.rest().trim_start();
        if rest.is_empty() {
            "the end".into()
        } else {
            let shown: String = rest.chars().take(12).collect();
            format!("'{}'", sanitize_str(&shown))
        }
    }
}

impl Rule {
    /// Parses one rule; see the module documentation for the grammar.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let fail = |problem: String| RuleError { rule: text.to_string(), problem };
        let mut c = Cursor { text, pos: 0 };
        c.skip_spaces();
        let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        let metric = match name {
            "" => return Err(fail(format!("expected a metric, found {}", c.found()))),
            "count" => count_target(&mut c).map_err(fail)?,
            _ => Metric::named(name).ok_or_else(|| fail(format!("unknown metric '{name}'")))?,
        };
        let upstream = if c.eat("{") { Some(scope(&mut c).map_err(fail)?) } else { None };
        c.skip_spaces();
        let comparator = Comparator::ALL.iter().find(|(symbol, _)| c.eat(symbol)).map(|&(_, op)| op);
        let comparator = comparator.ok_or_else(|| {
            fail(format!("expected a comparator (> >= < <= ==) after {metric}, found {}", c.found()))
        })?;
        let threshold = number(&mut c).map_err(fail)?;
        if !c.rest().trim().is_empty() {
            return Err(fail(format!("unexpected {} after the value", c.found())));
        }
        check_units(metric, upstream.is_some(), &threshold).map_err(fail)?;
        Ok(Rule { text: text.to_string(), metric, upstream, comparator, threshold })
    }

    /// The rule's value in `report`: `(numerator, denominator)`, or why it is unknown.
    fn measure(&self, report: &Report) -> Result<(u128, u128), &'static str> {
        let (n, d) = match &self.upstream {
            None => measure_total(self.metric, report)?,
            Some(name) => {
                let row = report.upstreams.iter().find(|u| &u.upstream == name);
                measure_upstream(self.metric, row.ok_or("the report names no such upstream")?)?
            }
        };
        Ok(if d == 0 { (0, 1) } else { (u128::from(n), u128::from(d)) })
    }

    /// The breach this rule finds in `report`, if any.
    pub fn check(&self, report: &Report) -> Option<Breach<'_>> {
        let reading = match self.measure(report) {
            Err(why) => return Some(Breach { rule: self, reading: Err(why) }),
            Ok(value) => value,
        };
        let (tn, td) = self.threshold.fraction();
        // n/d against tn/td, cross-multiplied: n·td ≤ 1.8e19·1e11 and tn·d ≤ 1e18·1.8e19 fit u128.
        let order = (reading.0 * td).cmp(&(tn * reading.1));
        self.comparator.holds(order).then_some(Breach { rule: self, reading: Ok(reading) })
    }
}

/// The canonical spelling, which parses back to the same rule (unescaped: printers escape).
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.metric)?;
        if let Some(u) = &self.upstream {
            write!(f, "{{upstream=\"{u}\"}}")?;
        }
        let percent = if self.threshold.percent { "%" } else { "" };
        write!(f, "{}{}{}", self.comparator.symbol(), self.threshold.text, percent)
    }
}

/// `read_timeout)` or `502)` after `count(`.
fn count_target(c: &mut Cursor<'_>) -> Result<Metric, String> {
    if !c.eat("(") {
        return Err(format!("expected '(' after count, found {}", c.found()));
    }
    let arg = c.take_while(|ch| ch != ')').trim();
    if !c.eat(")") {
        return Err(format!("expected ')' to close count({arg}"));
    }
    if arg.len() == 3 && arg.bytes().all(|b| b.is_ascii_digit()) {
        return arg.parse().map(Metric::Status).map_err(|_| format!("'{arg}' is not a status"));
    }
    Cause::from_slug(arg).map(Metric::Cause).ok_or_else(|| {
        format!(
            "count({}) names neither a cause slug (`ngx502 explain` lists them) nor a status like 502",
            sanitize_str(arg)
        )
    })
}

/// `upstream="ADDR"}` after `{`.
fn scope(c: &mut Cursor<'_>) -> Result<String, String> {
    if !(c.eat("upstream") && c.eat("=") && c.eat("\"")) {
        return Err(format!("expected upstream=\"ADDR\" after '{{', found {}", c.found()));
    }
    let name = c.take_while(|ch| ch != '"');
    if !c.eat("\"") || name.is_empty() {
        return Err("expected a non-empty upstream address in double quotes".into());
    }
    if !c.eat("}") {
        return Err(format!("expected '}}' after the upstream, found {}", c.found()));
    }
    Ok(name.to_string())
}

/// `12`, `0.5`, `1%`.
fn number(c: &mut Cursor<'_>) -> Result<Threshold, String> {
    c.skip_spaces();
    let start = c.pos;
    let whole = c.take_while(|ch| ch.is_ascii_digit());
    let decimals = if c.rest().starts_with('.') {
        c.pos += 1;
        c.take_while(|ch| ch.is_ascii_digit())
    } else {
        ""
    };
    let text = &c.text[start..c.pos];
    if whole.is_empty() || (text.ends_with('.')) {
        c.pos = start;
        return Err(format!("expected a number like 10 or 1.5%, found {}", c.found()));
    }
    if whole.len() + decimals.len() > MAX_DIGITS || decimals.len() > MAX_DECIMALS {
        return Err(format!(
            "'{text}' has too many digits (at most {MAX_DIGITS}, {MAX_DECIMALS} after the point)"
        ));
    }
    let digits = format!("{whole}{decimals}");
    let mantissa = digits.parse().map_err(|_| format!("'{text}' is not a number"))?;
    let percent = c.eat("%");
    Ok(Threshold { text: text.to_string(), mantissa, decimals: decimals.len() as u32, percent })
}

/// Shares take percentages, counts plain numbers; some metrics have no per-upstream value.
fn check_units(metric: Metric, scoped: bool, threshold: &Threshold) -> Result<(), String> {
    if metric.is_rate() && !threshold.percent {
        return Err(format!("{metric} is a share: write the threshold as a percentage, e.g. {metric}>1%"));
    }
    if metric.is_rate() && threshold.fraction().0 > threshold.fraction().1 {
        return Err(format!("{metric} is a share and cannot exceed 100%"));
    }
    if !metric.is_rate() && threshold.percent {
        return Err(format!("{metric} is a count: write the threshold without '%', e.g. {metric}>10"));
    }
    let per_upstream = !matches!(metric, Metric::MalformedLines | Metric::Status(_))
        || matches!(metric, Metric::Status(502 | 504));
    if scoped && !per_upstream {
        return Err(format!("{metric} has no per-upstream value (only count(502) and count(504) do)"));
    }
    Ok(())
}

fn by_status(report: &Report, keep: impl Fn(&str) -> bool) -> u64 {
    report.totals.by_status.iter().filter(|(s, _)| keep(s)).map(|(_, n)| n).sum()
}

/// `(numerator, denominator)` of a fleet-wide metric; counts have denominator 1.
fn measure_total(metric: Metric, report: &Report) -> Result<(u64, u64), &'static str> {
    let totals = &report.totals;
    let needs_access = !matches!(metric, Metric::Cause(_) | Metric::HiddenFailures | Metric::MalformedLines);
    if needs_access && !totals.access_logs {
        return Err("no access log was read");
    }
    Ok(match metric {
        Metric::Rate502 => (by_status(report, |s| s == "502"), totals.requests),
        Metric::Rate504 => (by_status(report, |s| s == "504"), totals.requests),
        Metric::Rate5xx => (by_status(report, |s| s.starts_with('5')), totals.requests),
        Metric::Requests => (totals.requests, 1),
        Metric::Failures => (totals.failures, 1),
        Metric::HiddenFailures => (report.upstreams.iter().map(|u| u.hidden_failures).sum(), 1),
        Metric::MalformedLines => (totals.malformed_lines, 1),
        Metric::Cause(cause) => {
            (report.causes.iter().filter(|r| r.cause == cause.slug()).map(|r| r.count).sum(), 1)
        }
        Metric::Status(status) => (by_status(report, |s| s == format!("{status:03}")), 1),
    })
}

/// `(numerator, denominator)` of a metric of one upstream.
fn measure_upstream(metric: Metric, row: &UpstreamRow) -> Result<(u64, u64), &'static str> {
    let requests = row.requests.ok_or("the access log has no $upstream_addr");
    let failures = row.errors_by_cause.values().sum();
    Ok(match metric {
        Metric::Rate502 => (row.client_502, requests?),
        Metric::Rate504 => (row.client_504, requests?),
        Metric::Rate5xx => (failures, requests?),
        Metric::Requests => (requests?, 1),
        Metric::Failures => (failures, 1),
        Metric::HiddenFailures => (row.hidden_failures, 1),
        Metric::Cause(cause) => (row.errors_by_cause.get(cause.slug()).copied().unwrap_or(0), 1),
        Metric::Status(502) => (row.client_502, 1),
        Metric::Status(504) => (row.client_504, 1),
        Metric::MalformedLines | Metric::Status(_) => return Err("it has no per-upstream value"),
    })
}

/// A rule that fired, with the value that made it fire (or why the value is unknown).
#[derive(Debug)]
pub struct Breach<'r> {
    rule: &'r Rule,
    reading: Result<(u128, u128), &'static str>,
}

/// `rate_502 = 2.3% > 1% (--fail-on 'rate_502>1%')`, the line printed after `ngx502: alert: `.
impl fmt::Display for Breach<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self.rule;
        let mut subject = rule.metric.to_string();
        if let Some(u) = &rule.upstream {
            subject = format!("{subject}{{upstream=\"{}\"}}", sanitize_str(u));
        }
        let named = sanitize_str(&rule.text);
        match self.reading {
            Err(why) => write!(f, "{subject} cannot be evaluated: {why} (--fail-on '{named}')"),
            Ok((n, d)) => {
                let value = n as f64 / d as f64;
                let shown = if rule.threshold.percent { percent(value) } else { trim(value) };
                let unit = if rule.threshold.percent { "%" } else { "" };
                let (op, limit) = (rule.comparator.symbol(), &rule.threshold.text);
                write!(f, "{subject} = {shown} {op} {limit}{unit} (--fail-on '{named}')")
            }
        }
    }
}

fn percent(fraction: f64) -> String {
    format!("{}%", trim(fraction * 100.0))
}

/// At most three decimals, without trailing zeros: `2.3`, `10`, `0.125`.
fn trim(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Every breach of `rules` in `report`, in the order the rules were given.
pub fn breaches<'r>(rules: &'r [Rule], report: &Report) -> Vec<Breach<'r>> {
    rules.iter().filter_map(|r| r.check(report)).collect()
}

#[cfg(test)]
mod tests;
