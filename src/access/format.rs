//! nginx `log_format` strings compiled into matchers.
//!
//! A format is a sequence of literal text and variables. nginx writes the literal text verbatim,
//! so a line is split by finding each literal after the previous variable (on the line's
//! structural index in the parser, see `access::index`; with `memchr` elsewhere); no regex runs
//! per line. Formats written with `escape=json` are read as JSON objects instead,
//! with the keys mapped to variables by the template (see [`super::json`]).

use memchr::memmem;
use std::fmt;

use super::field::Field;

/// How nginx escaped variable values (`log_format NAME escape=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// `"`, `\`, control bytes and bytes ≥ 0x7F become `\xHH`.
    Default,
    /// JSON string escaping; the line is a JSON object.
    Json,
    /// Raw bytes.
    None,
}

/// A variable in a format: one ngx502 understands, or another kept by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    Known(Field),
    Other(String),
}

impl Var {
    fn from_name(name: &str) -> Var {
        Field::from_variable(name).map_or_else(|| Var::Other(name.to_owned()), Var::Known)
    }

    /// The nginx variable name, without `$`.
    pub fn name(&self) -> &str {
        match self {
            Var::Known(f) => f.variable(),
            Var::Other(name) => name,
        }
    }
}

/// One piece of a compiled format.
#[derive(Clone, Debug)]
pub enum Segment {
    Literal(Box<Literal>),
    Var(Var),
}

/// Literal text with its precompiled searcher.
#[derive(Clone, Debug)]
pub struct Literal {
    pub text: Vec<u8>,
    pub finder: memmem::Finder<'static>,
}

impl Literal {
    /// The index of the first occurrence of the literal in `haystack`. Format literals are
    /// mostly one to three bytes (`" "`, `"] \""`); for those a `memchr` of the first byte and a
    /// compare beats a general substring search, whose setup dominates on short lines.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        let (&first, rest) = self.text.split_first()?;
        if self.text.len() > 4 {
            return self.finder.find(haystack);
        }
        let mut from = 0;
        while let Some(i) = memchr::memchr(first, &haystack[from..]) {
            let at = from + i;
            if haystack[at + 1..].starts_with(rest) {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }
}

/// A compiled access-log format.
#[derive(Clone, Debug)]
pub struct LogFormat {
    /// `combined`, `upstream`, a `log_format` name from nginx.conf, or `custom`.
    pub name: String,
    /// The format string as nginx reads it (quoted pieces already joined).
    pub template: String,
    pub escape: Escape,
    pub segments: Vec<Segment>,
    /// Why this format was chosen with a reservation (it explains only the start of the lines),
    /// for a warning.
    pub note: Option<String>,
}

/// Why a format string could not be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("unterminated `${{` in log_format at byte {0}")]
    UnterminatedBrace(usize),
    #[error("`$` without a variable name in log_format at byte {0}")]
    EmptyVariable(usize),
    #[error("log_format has no variables: it cannot tell one request from another")]
    NoVariables,
    #[error("log_format does not log $status, which the diagnosis needs")]
    NoStatus,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// nginx's predefined `combined` format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The Common Log Format.
pub const COMMON: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;
/// The `main` format of the nginx.conf that nginx ships.
pub const MAIN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
/// The format ngx502 recommends: `combined` plus what an exact diagnosis needs — `$connection`
/// (the error log's `*CID`, for an exact join), the upstream attempts, their statuses and times.
pub const UPSTREAM: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" host="$host" cid=$connection rt=$request_time ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time" uct="$upstream_connect_time" uht="$upstream_header_time""#;

/// The `log_format` directive to paste into nginx.conf for the `upstream` preset.
pub fn upstream_directive() -> String {
    format!("log_format upstream '{UPSTREAM}';")
}

impl LogFormat {
    /// Compiles a format string.
    pub fn compile(name: &str, template: &str, escape: Escape) -> Result<LogFormat, FormatError> {
        let segments = fuse_request_line(tokenize(template)?);
        let fields: Vec<&Var> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Var(v) => Some(v),
                Segment::Literal(_) => None,
            })
            .collect();
        if fields.is_empty() {
            return Err(FormatError::NoVariables);
        }
        if !fields.contains(&&Var::Known(Field::Status)) {
            return Err(FormatError::NoStatus);
        }
        Ok(LogFormat { name: name.to_owned(), template: template.to_owned(), escape, segments, note: None })
    }

    /// Whether the format logs `field`.
    pub fn has(&self, field: Field) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Var(Var::Known(f)) if *f == field))
    }

    /// What the diagnosis loses with this format.
    pub fn missing_for_exact_join(&self) -> Vec<Missing> {
        let mut missing = Vec::new();
        if !self.has(Field::Connection) {
            missing.push(Missing::Connection);
        }
        if !self.has(Field::UpstreamStatus) || !self.has(Field::UpstreamAddr) {
            missing.push(Missing::UpstreamStatus);
        }
        if !self.has(Field::UpstreamResponseTime) && !self.has(Field::RequestTime) {
            missing.push(Missing::Latency);
        }
        missing
    }
}

/// What an access format can lack for an exact diagnosis (reports word it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// `$connection`: lines are joined by client, request and time instead.
    Connection,
    /// `$upstream_addr`/`$upstream_status`: backend-sent 502s, attempts and retries unknown.
    UpstreamStatus,
    /// `$upstream_response_time`/`$request_time`: no latency percentiles.
    Latency,
}

fn tokenize(template: &str) -> Result<Vec<Segment>, FormatError> {
    let bytes = template.as_bytes();
    let mut segments = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            literal.push(bytes[i]);
            i += 1;
            continue;
        }
        let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
            let close = template[i + 2..].find('}').ok_or(FormatError::UnterminatedBrace(i))?;
            (&template[i + 2..i + 2 + close], i + 3 + close)
        } else {
            let len = bytes[i + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            (&template[i + 1..i + 1 + len], i + 1 + len)
        };
        if name.is_empty() {
            return Err(FormatError::EmptyVariable(i));
        }
        if !literal.is_empty() {
            segments.push(literal_segment(std::mem::take(&mut literal)));
        }
        segments.push(Segment::Var(Var::from_name(name)));
        i = next;
    }
    if !literal.is_empty() {
        segments.push(literal_segment(literal));
    }
    Ok(segments)
}

/// `$request_method $request_uri $server_protocol` (GitLab writes it so, with the secrets of the
/// URI masked) is the request line `$request` holds: read as one `$request`, so the join with
/// the error log's `request: "..."` and the per-path counts work as for `combined`.
fn fuse_request_line(mut segments: Vec<Segment>) -> Vec<Segment> {
    let is_var = |s: &Segment, want: &dyn Fn(&Var) -> bool| matches!(s, Segment::Var(v) if want(v));
    let is_space = |s: &Segment| matches!(s, Segment::Literal(l) if l.text == b" ");
    if segments.iter().any(|s| is_var(s, &|v| *v == Var::Known(Field::Request))) {
        return segments;
    }
    let start = segments.windows(5).position(|w| {
        is_var(&w[0], &|v| *v == Var::Known(Field::RequestMethod))
            && is_space(&w[1])
            && is_var(&w[2], &|v| matches!(v, Var::Known(Field::RequestUri | Field::Uri)))
            && is_space(&w[3])
            && is_var(&w[4], &|v| v.name() == "server_protocol")
    });
    if let Some(start) = start {
        segments.splice(start..start + 5, [Segment::Var(Var::Known(Field::Request))]);
    }
    segments
}

fn literal_segment(text: Vec<u8>) -> Segment {
    let finder = memmem::Finder::new(&text).into_owned();
    Segment::Literal(Box::new(Literal { text, finder }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_compiles_and_logs_status() {
        for p in super::super::presets::PRESETS {
            let f = LogFormat::preset(p.name).unwrap();
            assert!(f.has(Field::Status), "{}", p.name);
        }
        let gitlab = LogFormat::preset("gitlab_access").unwrap();
        assert!(gitlab.has(Field::Request) && !gitlab.has(Field::RequestMethod));
        assert!(LogFormat::preset("upstream").unwrap().missing_for_exact_join().is_empty());
        assert_eq!(LogFormat::preset("combined").unwrap().missing_for_exact_join().len(), 3);
    }

    #[test]
    fn braces_and_unknown_variables() {
        let f = LogFormat::compile("t", "${status}x$scheme://$host", Escape::Default).unwrap();
        let names: Vec<String> = f
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("'{}'", String::from_utf8_lossy(&l.text)),
                Segment::Var(v) => format!("${}", v.name()),
            })
            .collect();
        assert_eq!(names, ["$status", "'x'", "$scheme", "'://'", "$host"]);
    }

    #[test]
    fn bad_formats_are_refused_with_a_reason() {
        assert_eq!(
            LogFormat::compile("t", "$status ${oops", Escape::Default).unwrap_err(),
            FormatError::UnterminatedBrace(8)
        );
        assert_eq!(
            LogFormat::compile("t", "$status $ x", Escape::Default).unwrap_err(),
            FormatError::EmptyVariable(8)
        );
        assert_eq!(LogFormat::compile("t", "plain", Escape::Default).unwrap_err(), FormatError::NoVariables);
        assert_eq!(
            LogFormat::compile("t", "$remote_addr", Escape::Default).unwrap_err(),
            FormatError::NoStatus
        );
    }
}
