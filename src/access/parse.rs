//! The hot path: one access-log line to an [`AccessRecord`], on bytes, without allocating.

use super::field::Field;
use super::format::{Escape, Literal, LogFormat, Segment, Var};
use super::index::{starts_with, Index, Needles, Rest};
use super::json::{JsonSplitter, KeyMap};
use super::record::AccessRecord;
use crate::number::parse_status;
use crate::time::{parse_msec, parse_time_iso8601, parse_time_local, Stamp, StampCache};

/// Where and why a line did not match its format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset in the line where matching stopped.
    pub offset: usize,
    pub reason: &'static str,
}

/// The shape of an access log: a template split on literals, or JSON objects.
#[derive(Clone, Debug)]
pub enum AccessFormat {
    Template(LogFormat),
    Json { name: String, keys: KeyMap },
}

impl AccessFormat {
    /// The name shown in reports (`combined`, `upstream`, `json`, a `log_format` name...).
    pub fn name(&self) -> &str {
        match self {
            AccessFormat::Template(f) => &f.name,
            AccessFormat::Json { name, .. } => name,
        }
    }

    /// JSON lines keyed by nginx variable names.
    pub fn json_by_names() -> AccessFormat {
        AccessFormat::Json { name: "json".into(), keys: KeyMap::by_variable_names() }
    }

    /// A compiled `log_format`; `escape=json` formats become JSON readers keyed by the template.
    pub fn from_log_format(format: LogFormat) -> AccessFormat {
        if format.escape == Escape::Json || format.template.trim_start().starts_with('{') {
            AccessFormat::Json { keys: KeyMap::from_template(&format.template), name: format.name }
        } else {
            AccessFormat::Template(format)
        }
    }

    /// Whether lines in this format carry `field` (for JSON by names: unknown until read).
    pub fn logs(&self, field: Field) -> bool {
        match self {
            AccessFormat::Template(f) => f.has(field),
            AccessFormat::Json { .. } => true,
        }
    }
}

/// Parses lines of one format; keeps a timestamp cache, so use one per thread.
pub struct AccessParser<'f> {
    split: Split<'f>,
    /// The time variables the format may log, in the order they are preferred.
    times: Vec<(Field, ParseTime)>,
    stamps: StampCache,
}

type ParseTime = fn(&[u8]) -> Option<Stamp>;

/// The time variables a line's time is read from, in the order they are preferred.
const TIMES: [(Field, ParseTime); 3] = [
    (Field::TimeLocal, parse_time_local),
    (Field::TimeIso8601, parse_time_iso8601),
    (Field::Msec, parse_msec),
];

/// How lines of the format are split into fields.
enum Split<'f> {
    Template(Plan),
    Json(JsonSplitter<'f>),
}

impl<'f> AccessParser<'f> {
    pub fn new(format: &'f AccessFormat) -> Self {
        let split = match format {
            AccessFormat::Template(f) => Split::Template(Plan::new(f)),
            AccessFormat::Json { keys, .. } => Split::Json(JsonSplitter::new(keys)),
        };
        let times = TIMES.into_iter().filter(|&(field, _)| format.logs(field)).collect();
        AccessParser { split, times, stamps: StampCache::default() }
    }

    /// Splits `line` (without its newline) into a record.
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessRecord<'a>, Mismatch> {
        let mut record = self.record(line);
        self.fill(&mut record)?;
        Ok(record)
    }

    /// An empty record of `line` for [`fill`](Self::fill).
    pub fn record<'a>(&self, line: &'a [u8]) -> AccessRecord<'a> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let escape = match &self.split {
            Split::Template(plan) => plan.escape,
            Split::Json(_) => Escape::Json,
        };
        AccessRecord::new(line, escape)
    }

    /// [`parse`](Self::parse) into a record the caller holds: the record is a few hundred
    /// bytes, and returning it by value copied it once per line.
    pub fn fill<'a>(&mut self, record: &mut AccessRecord<'a>) -> Result<(), Mismatch> {
        let line = record.line();
        match &mut self.split {
            Split::Template(plan) if u32::try_from(line.len()).is_ok() => {
                plan.split(line, |field, start, end| record.set_fitting(field, start, end))?
            }
            Split::Template(plan) => plan.split(line, |field, start, end| record.set(field, start, end))?,
            Split::Json(keys) => keys
                .split(line, |field, value| record.set_slice(field, value))
                .map_err(|offset| Mismatch { offset, reason: "not a JSON object" })?,
        }
        record.status = record
            .get(Field::Status)
            .and_then(parse_status)
            .ok_or(Mismatch { offset: 0, reason: "no valid $status" })?;
        record.time = self.stamp(record);
        Ok(())
    }

    fn stamp(&mut self, record: &AccessRecord<'_>) -> Option<Stamp> {
        self.times
            .iter()
            .find_map(|&(field, parse)| record.get(field).and_then(|text| self.stamps.get(text, parse)))
    }
}

/// A template format compiled for the hot path: the literal the line starts with, then per
/// variable where it ends. Its split is [`split_template`]'s, found on the line's structural
/// index (one classification of the delimiter bytes per 64 bytes) instead of one search per
/// literal.
struct Plan {
    escape: Escape,
    lead: Vec<u8>,
    steps: Vec<Step>,
    needles: Needles,
}

/// One variable of a [`Plan`]: the field it fills (`None`: a variable ngx502 does not read) and
/// where it ends.
struct Step {
    field: Option<Field>,
    end: End,
}

/// Where a variable ends. The usual end, a literal whose first byte the index holds, is a
/// variant of its own: the split of every line tests it first, with nothing else to decode.
enum End {
    /// At the first byte of `class` followed by `rest`, the rest of a literal of `len` bytes
    /// that [`Rest::follows_short`] compares in one load, in a variable that is not an attempt
    /// list: the usual end, found with the fewest tests.
    Short { class: usize, rest: Rest, len: usize },
    /// At the first byte of `class` followed by `rest`, the rest of a literal of `len` bytes
    /// (skipping attempt-list separators when `list`).
    Indexed { class: usize, rest: Rest, len: usize, list: bool },
    /// At the first `literal` (skipping attempt-list separators when `list`), found by a search:
    /// its first byte is not indexed.
    Searched { literal: Box<Literal>, list: bool },
    /// Another variable follows at once, and a literal later: this one is empty.
    Empty,
    /// No literal follows in the format: the variable takes the rest of the line (and the
    /// variables after it are empty).
    Line,
}

impl Plan {
    fn new(format: &LogFormat) -> Plan {
        let segments = &format.segments;
        let literal_after = |i: usize| match segments.get(i + 1) {
            Some(Segment::Literal(l)) => Some(l),
            _ => None,
        };
        let bytes: Vec<u8> = (0..segments.len())
            .filter(|&i| matches!(segments[i], Segment::Var(_)))
            .filter_map(|i| literal_after(i)?.text.first().copied())
            .collect();
        let needles = Needles::new(&bytes);
        let lead = match segments.first() {
            Some(Segment::Literal(l)) => l.text.clone(),
            _ => Vec::new(),
        };
        let steps = segments
            .iter()
            .enumerate()
            .filter_map(|(i, segment)| {
                let Segment::Var(var) = segment else { return None };
                let field = match var {
                    Var::Known(f) => Some(*f),
                    Var::Other(_) => None,
                };
                let later_literal = segments[i + 1..].iter().any(|s| matches!(s, Segment::Literal(_)));
                let end = match (literal_after(i), later_literal) {
                    (Some(l), _) => {
                        let list =
                            field.is_some_and(|f| f.is_attempt_list()) && l.text.first() == Some(&b' ');
                        match l.text.first().and_then(|&b| needles.class(b)) {
                            Some(class) => {
                                let rest = Rest::new(l.text.get(1..).unwrap_or_default());
                                let len = l.text.len();
                                if rest.is_short() && !list {
                                    End::Short { class, rest, len }
                                } else {
                                    End::Indexed { class, rest, len, list }
                                }
                            }
                            None => End::Searched { literal: l.clone(), list },
                        }
                    }
                    (None, true) => End::Empty,
                    (None, false) => End::Line,
                };
                Some(Step { field, end })
            })
            .collect();
        Plan { escape: format.escape, lead, steps, needles }
    }

    /// Splits `line`, calling `value(field, start, end)` for each variable ngx502 reads; the same
    /// spans and mismatches as [`split_template`].
    fn split(&self, line: &[u8], mut value: impl FnMut(Field, usize, usize)) -> Result<(), Mismatch> {
        if !starts_with(line, &self.lead) {
            return Err(Mismatch { offset: 0, reason: "expected literal text of the format" });
        }
        let mut index = Index::new(line, &self.needles);
        let mut pos = self.lead.len();
        for step in &self.steps {
            // The usual end is tested first, and the others are found out of line: with them
            // all in the loop, its state no longer fit the registers.
            let (end, next) = if let End::Short { class, rest, len } = &step.end {
                let at = index
                    .find(*class, pos, |line, at| rest.follows_short(line, at))
                    .ok_or(Mismatch { offset: pos, reason: ENDS_BEFORE })?;
                (at, at + len)
            } else {
                step.end.find(&mut index, line, pos)?
            };
            if let Some(field) = step.field {
                value(field, pos, end);
            }
            pos = next;
        }
        if pos == line.len() {
            Ok(())
        } else {
            Err(Mismatch { offset: pos, reason: "text after the end of the format" })
        }
    }
}

/// Why a line whose last variable found no end did not match.
const ENDS_BEFORE: &str = "line ends before the format does";

impl End {
    /// Where the variable starting at `pos` ends, and where the next one starts.
    #[inline(never)]
    fn find(&self, index: &mut Index<'_>, line: &[u8], pos: usize) -> Result<(usize, usize), Mismatch> {
        let ends_before = || Mismatch { offset: pos, reason: ENDS_BEFORE };
        Ok(match self {
            End::Short { class, rest, len } | End::Indexed { class, rest, len, list: false } => {
                let at =
                    index.find(*class, pos, |line, at| rest.follows(line, at)).ok_or_else(ends_before)?;
                (at, at + len)
            }
            End::Indexed { class, rest, len, list: true } => {
                let find = |index: &mut Index<'_>, from| {
                    index.find(*class, from, |line, at| rest.follows(line, at)).ok_or_else(ends_before)
                };
                let mut at = find(index, pos)?;
                while inside_attempt_list(line, at) {
                    at = find(index, at + 1)?;
                }
                (at, at + len)
            }
            End::Searched { literal, list } => {
                let search =
                    |from: usize| literal.find(&line[from..]).map(|at| from + at).ok_or_else(ends_before);
                let mut at = search(pos)?;
                while *list && inside_attempt_list(line, at) {
                    at = search(at + 1)?;
                }
                (at, at + literal.text.len())
            }
            End::Empty => (pos, pos),
            End::Line => (line.len(), line.len()),
        })
    }
}

/// Splits `line` on the literals of `format`, calling `value(var, start, end)` with the byte
/// range of each variable (every variable, also those ngx502 does not read: format detection and
/// `check-format` show them). One search per literal; [`AccessParser`] gets the same split from
/// the line's structural index.
///
/// A variable ends at the first occurrence of the literal that follows it, except that the
/// attempt lists (`$upstream_addr` ...) skip the `", "` and `" : "` separators inside them.
/// Two variables with no literal between them cannot be told apart: the last takes the text.
pub fn split_template(
    format: &LogFormat,
    line: &[u8],
    mut value: impl FnMut(&Var, usize, usize),
) -> Result<(), Mismatch> {
    let segments = &format.segments;
    let mut pos = 0;
    // Whether the literal at `pos` was already found by the search that ended a variable.
    let mut found = false;
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(lit) => {
                if !found && !line[pos..].starts_with(&lit.text) {
                    return Err(Mismatch { offset: pos, reason: "expected literal text of the format" });
                }
                pos += lit.text.len();
                found = false;
            }
            Segment::Var(var) => {
                let end = match segments[i + 1..].iter().find_map(|s| match s {
                    Segment::Literal(l) => Some(l),
                    Segment::Var(_) => None,
                }) {
                    None => line.len(),
                    Some(next) if matches!(segments.get(i + 1), Some(Segment::Literal(_))) => {
                        let list = matches!(var, Var::Known(f) if f.is_attempt_list());
                        find_end(line, pos, next, list)
                            .ok_or(Mismatch { offset: pos, reason: "line ends before the format does" })?
                    }
                    Some(_) => pos,
                };
                value(var, pos, end);
                found = matches!(segments.get(i + 1), Some(Segment::Literal(_)));
                pos = end;
            }
        }
    }
    if pos == line.len() {
        Ok(())
    } else {
        Err(Mismatch { offset: pos, reason: "text after the end of the format" })
    }
}

fn find_end(line: &[u8], from: usize, next: &super::format::Literal, list: bool) -> Option<usize> {
    let mut start = from;
    loop {
        let at = start + next.find(&line[start..])?;
        if !list || next.text.first() != Some(&b' ') || !inside_attempt_list(line, at) {
            return Some(at);
        }
        start = at + 1;
    }
}

/// Whether the space at `at` is part of a `", "` or `" : "` separator.
fn inside_attempt_list(line: &[u8], at: usize) -> bool {
    let before = at.checked_sub(1).map(|i| line[i]);
    let after = &line[at + 1..];
    before == Some(b',')
        || after.starts_with(b": ")
        || (before == Some(b':') && at >= 2 && line[at - 2] == b' ')
}

#[cfg(test)]
mod split_equal;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::format::{Escape, LogFormat};

    fn parser_for(name: &str) -> AccessFormat {
        AccessFormat::Template(LogFormat::preset(name).unwrap())
    }

    fn s(v: Option<&[u8]>) -> Option<String> {
        v.map(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn combined_line() {
        let f = parser_for("combined");
        let mut p = AccessParser::new(&f);
        let r = p
            .parse(br#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET /v1/items?page=2 HTTP/1.1" 502 157 "-" "curl/8.0""#)
            .unwrap();
        assert_eq!(r.status, 502);
        assert_eq!(s(r.client()), Some("203.0.113.7".into()));
        assert_eq!(s(r.get(Field::Request)), Some("GET /v1/items?page=2 HTTP/1.1".into()));
        assert_eq!(s(r.get(Field::HttpReferer)), None);
        assert_eq!(r.time.unwrap().offset, 7200);
    }

    #[test]
    fn escaped_quotes_ipv6_crlf() {
        let f = parser_for("combined");
        let mut p = AccessParser::new(&f);
        let r = p
            .parse(b"2001:db8::1 - bob [14/May/2024:10:22:31 -0000] \"GET /a\\x22b\\xFF HTTP/1.1\" 504 0 \"-\" \"a \\x22q\\x22\"\r")
            .unwrap();
        assert_eq!(s(r.client()), Some("2001:db8::1".into()));
        assert_eq!(s(r.get(Field::Request)), Some("GET /a\\x22b\\xFF HTTP/1.1".into()));
        assert_eq!(s(r.get(Field::HttpUserAgent)), Some("a \\x22q\\x22".into()));
        assert_eq!(r.status, 504);
    }

    #[test]
    fn upstream_lists_keep_their_spaces() {
        let f = parser_for("upstream");
        let mut p = AccessParser::new(&f);
        let line = br#"10.0.0.5 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 0 "-" "ua" host="h" cid=7 rt=1.002 ua="10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80" us="504, 502 : 502" urt="1.000, 0.001 : 0.000" uct="-" uht="-""#;
        let r = p.parse(line).unwrap();
        assert_eq!(s(r.get(Field::UpstreamAddr)), Some("10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80".into()));
        assert_eq!(s(r.get(Field::UpstreamStatus)), Some("504, 502 : 502".into()));
        assert_eq!(r.connection(), Some(7));
        assert_eq!(r.request_time(), Some(1.002));
    }

    #[test]
    fn unquoted_list_followed_by_space() {
        let format =
            LogFormat::compile("t", "$status $upstream_addr $request_time", Escape::Default).unwrap();
        let f = AccessFormat::Template(format);
        let mut p = AccessParser::new(&f);
        let r = p.parse(b"502 10.0.0.1:80, 10.0.0.2:80 : unix:/s.sock 0.5").unwrap();
        assert_eq!(s(r.get(Field::UpstreamAddr)), Some("10.0.0.1:80, 10.0.0.2:80 : unix:/s.sock".into()));
        assert_eq!(r.request_time(), Some(0.5));
    }

    #[test]
    fn the_usual_end_is_a_step_of_its_own() {
        let template = r#"$status "$request" upstream_addr_is=$upstream_addr with_a_long_tail $request_time"#;
        let format = LogFormat::compile("t", template, Escape::Default).unwrap();
        let kinds: Vec<&str> = Plan::new(&format)
            .steps
            .iter()
            .map(|step| match step.end {
                End::Short { .. } => "short",
                End::Indexed { list: false, .. } => "long",
                End::Indexed { list: true, .. } => "list",
                End::Searched { .. } => "searched",
                End::Empty => "empty",
                End::Line => "line",
            })
            .collect();
        assert_eq!(kinds, ["short", "long", "list", "line"]);
        let f = AccessFormat::Template(format);
        let r = AccessParser::new(&f)
            .parse(br#"502 "GET / HTTP/1.1" upstream_addr_is=10.0.0.1:80, 10.0.0.2:80 with_a_long_tail 0.5"#)
            .unwrap();
        assert_eq!(s(r.get(Field::UpstreamAddr)), Some("10.0.0.1:80, 10.0.0.2:80".into()));
        assert_eq!(r.request_time(), Some(0.5));
    }

    #[test]
    fn mismatches_say_where() {
        let f = parser_for("combined");
        let mut p = AccessParser::new(&f);
        assert_eq!(p.parse(b"garbage").unwrap_err().offset, 0);
        assert_eq!(
            p.parse(br#"1.2.3.4 - - [x] "GET / HTTP/1.1" 200 1 "-" "-" extra"#).unwrap_err().reason,
            "text after the end of the format"
        );
        assert_eq!(
            p.parse(br#"1.2.3.4 - - [x] "GET / HTTP/1.1" 2x0 1 "-" "-""#).unwrap_err().reason,
            "no valid $status"
        );
        assert!(p.parse(b"").is_err());
    }

    #[test]
    fn json_lines_by_variable_names() {
        let f = AccessFormat::json_by_names();
        let mut p = AccessParser::new(&f);
        let r = p
            .parse(br#"{"time_iso8601":"2024-05-14T10:22:31+02:00","remote_addr":"::1","request":"GET /\"x HTTP/1.1","status":"502","connection":"12"}"#)
            .unwrap();
        assert_eq!(r.status, 502);
        assert_eq!(r.connection(), Some(12));
        assert_eq!(r.time.unwrap().offset, 7200);
        assert_eq!(r.escape, Escape::Json);
    }
}
