//! `--path`, `--host`, `--upstream`, `--status`: which failures a run is about ("only /api/ on
//! web1").
//!
//! Filters choose among failures, after the join: a failure is judged on its access line and on
//! the error lines that explain it (a `combined` log names no upstream, its error line does), so
//! the regexes run once per failure, never on the hot path of every request. A failure that does
//! not pass is taken out of every count and its lines are counted as filtered, so every line
//! read is still parsed, malformed or filtered. Requests that did not fail are all counted:
//! rates stay against the whole traffic.

use anyhow::Context;
use clap::Args;
use regex::bytes::Regex;

use crate::correlate::Event;
use crate::errorlog::{ErrorRecord, Role};
use crate::pipeline::Analysis;
use crate::report::schema::InputRow;
use crate::summary::is_failure_status;

/// The filter flags of `report`, `export` and `live`.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Filters (on failures)")]
pub struct FilterArgs {
    /// Only failures whose request path (and query) matches REGEX, e.g. '^/api/'.
    #[arg(long = "path", value_name = "REGEX")]
    pub path: Option<String>,
    /// Only failures whose Host (or nginx server name) matches REGEX.
    #[arg(long = "host", value_name = "REGEX")]
    pub host: Option<String>,
    /// Only failures with an upstream attempt whose address (or upstream name, as logged) matches REGEX.
    #[arg(long = "upstream", value_name = "REGEX")]
    pub upstream: Option<String>,
    /// Only failures with these client statuses, e.g. 502,504 (a recovered retry: its attempts').
    #[arg(long = "status", value_name = "CODES", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(0..1000))]
    pub status: Vec<u16>,
}

/// The compiled filters (regexes compiled once per run).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    path: Option<Regex>,
    host: Option<Regex>,
    upstream: Option<Regex>,
    statuses: Vec<u16>,
}

/// The fields of a failure a filter looks at, each possibly given by several lines.
#[derive(Default)]
struct Fields<'a> {
    paths: Vec<&'a [u8]>,
    hosts: Vec<&'a [u8]>,
    upstreams: Vec<&'a [u8]>,
    statuses: Vec<u16>,
}

impl Filter {
    /// Compiles the flags; a bad regex is a usage error naming its flag.
    pub fn new(args: &FilterArgs) -> anyhow::Result<Filter> {
        let compile = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| Regex::new(t).with_context(|| format!("--{flag} {t:?} is not a regular expression")))
                .transpose()
        };
        Ok(Filter {
            path: compile("path", &args.path)?,
            host: compile("host", &args.host)?,
            upstream: compile("upstream", &args.upstream)?,
            statuses: args.status.clone(),
        })
    }

    /// Whether no filter was given (every failure passes).
    pub fn is_empty(&self) -> bool {
        self.path.is_none() && self.host.is_none() && self.upstream.is_none() && self.statuses.is_empty()
    }

    /// The filters in force, for the report's header: `path ~ ^/api/`, `status in 502,504`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, re) in [("path", &self.path), ("host", &self.host), ("upstream", &self.upstream)] {
            if let Some(re) = re {
                out.push(format!("{name} ~ {}", re.as_str()));
            }
        }
        if !self.statuses.is_empty() {
            let codes: Vec<String> = self.statuses.iter().map(|s| format!("{s:03}")).collect();
            out.push(format!("status in {}", codes.join(",")));
        }
        out
    }

    /// Whether a joined failure passes: its access line's fields, then its error lines'.
    pub fn admits(&self, event: &Event, errors: &[ErrorRecord]) -> bool {
        if self.is_empty() {
            return true;
        }
        let request = &event.request;
        let mut fields = Fields::default();
        fields.paths.extend(request.request().map(request_target));
        fields.hosts.extend(request.host());
        fields.upstreams.extend(event.upstream());
        fields.upstreams.extend(event.attempts().iter().filter_map(|a| a.upstream.as_deref()));
        if is_failure_status(request.status) {
            fields.statuses.push(request.status);
        } else {
            fields.statuses.extend(event.attempts().iter().filter_map(|a| a.status));
        }
        for record in event.evidence().filter_map(|i| errors.get(i)) {
            add_record(&mut fields, record);
        }
        self.passes(&fields)
    }

    /// Whether an error line no request claimed passes (error-log-only runs).
    pub fn admits_error(&self, record: &ErrorRecord) -> bool {
        if self.is_empty() {
            return true;
        }
        let mut fields = Fields::default();
        add_record(&mut fields, record);
        fields.statuses.extend(record.cause.info().status);
        self.passes(&fields)
    }

    /// Whether an error line no request claimed passes; one that does not is counted filtered.
    pub fn admit_unclaimed(&self, record: &ErrorRecord, inputs: &mut [InputRow]) -> bool {
        let keep = self.admits_error(record);
        if !keep {
            refile(inputs, record.input);
        }
        keep
    }

    /// For `live`: whether a failure left out without its error lines passes now that they
    /// came. Its access line, counted filtered then, is counted parsed if it does; its error
    /// lines are counted filtered if it does not. The filters only match more with error lines
    /// (any of the values must match), so a failure shown never needs to be left out later.
    pub fn admit_late(&self, event: &Event, errors: &[ErrorRecord], inputs: &mut [InputRow]) -> bool {
        if self.admits(event, errors) {
            if let Some(report) = inputs.get_mut(event.request.input) {
                if report.filtered > 0 {
                    report.filtered -= 1;
                    report.parsed += 1;
                }
            }
            return true;
        }
        for record in event.evidence().filter_map(|i| errors.get(i)) {
            refile(inputs, record.input);
        }
        false
    }

    fn passes(&self, f: &Fields<'_>) -> bool {
        let any = |re: &Option<Regex>, values: &[&[u8]]| {
            re.as_ref().is_none_or(|re| values.iter().any(|v| re.is_match(v)))
        };
        any(&self.path, &f.paths)
            && any(&self.host, &f.hosts)
            && any(&self.upstream, &f.upstreams)
            && (self.statuses.is_empty() || f.statuses.iter().any(|s| self.statuses.contains(s)))
    }

    /// Takes the failures that do not pass out of `analysis`: out of the events and unmatched
    /// error lines, out of the request counts, and their lines from parsed to filtered.
    pub fn apply(&self, analysis: &mut Analysis) {
        if self.is_empty() {
            return;
        }
        let events = std::mem::take(&mut analysis.correlation.events);
        for event in events {
            if self.admits(&event, &analysis.errors) {
                analysis.correlation.events.push(event);
                continue;
            }
            if event.client_facing() {
                analysis.access.withdraw(&event.request);
                refile(&mut analysis.inputs, event.request.input);
            }
            for i in event.evidence() {
                refile(&mut analysis.inputs, analysis.errors[i].input);
                analysis.errors_filtered += u64::from(analysis.errors[i].cause.role() == Role::Terminal);
            }
        }
        let errors = &analysis.errors;
        let inputs = &mut analysis.inputs;
        let before = analysis.correlation.unmatched.len();
        analysis.correlation.unmatched.retain(|&i| self.admit_unclaimed(&errors[i], inputs));
        analysis.errors_filtered += (before - analysis.correlation.unmatched.len()) as u64;
    }

    /// For `live`: whether a failure is shown; one that is not has its lines counted as filtered.
    pub fn admit_live(&self, event: &Event, errors: &[ErrorRecord], inputs: &mut [InputRow]) -> bool {
        if self.admits(event, errors) {
            return true;
        }
        if event.client_facing() {
            refile(inputs, event.request.input);
        }
        for record in event.evidence().filter_map(|i| errors.get(i)) {
            refile(inputs, record.input);
        }
        false
    }
}

fn add_record<'a>(fields: &mut Fields<'a>, record: &'a ErrorRecord) {
    fields.paths.extend(record.request().map(request_target));
    fields.hosts.extend(record.host());
    fields.hosts.extend(record.server());
    fields.upstreams.extend(record.peer());
}

/// A line read as parsed that a filter rejected: counted as filtered instead.
fn refile(inputs: &mut [InputRow], input: usize) {
    if let Some(report) = inputs.get_mut(input) {
        if report.parsed > 0 {
            report.parsed -= 1;
            report.filtered += 1;
        }
    }
}

/// The target of a request line (`GET /a?b=1 HTTP/1.1` → `/a?b=1`); the whole line when it has
/// no spaces (a garbage request nginx logged as is).
fn request_target(request: &[u8]) -> &[u8] {
    let mut parts = request.splitn(3, |&b| b == b' ');
    match (parts.next(), parts.next()) {
        (Some(_), Some(target)) => target,
        _ => request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets() {
        assert_eq!(request_target(b"GET /api/x?y=1 HTTP/1.1"), b"/api/x?y=1");
        assert_eq!(request_target(b"GET /api/x"), b"/api/x");
        assert_eq!(request_target(b"\x16\x03\x01"), b"\x16\x03\x01");
    }

    #[test]
    fn describes_what_is_in_force() {
        let args = FilterArgs {
            path: Some("^/api/".into()),
            upstream: Some(r"10\.0\.0\.12".into()),
            status: vec![502, 9],
            ..FilterArgs::default()
        };
        let filter = Filter::new(&args).unwrap();
        assert_eq!(filter.describe(), ["path ~ ^/api/", r"upstream ~ 10\.0\.0\.12", "status in 502,009"]);
        assert!(Filter::new(&FilterArgs::default()).unwrap().is_empty());
        let bad = Filter::new(&FilterArgs { host: Some("(".into()), ..FilterArgs::default() });
        assert!(bad.unwrap_err().to_string().starts_with("--host \"(\""));
    }
}
