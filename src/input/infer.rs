//! Proposing an nginx `log_format` for lines no known format explains, from the shapes in them:
//! addresses, bracketed and ISO times, a quoted request line, a three-digit status, durations,
//! upstream attempt lists (`, ` and ` : `), `key=value` pairs and bracketed `[Name value]` labels.
//!
//! Each line is cut into literals and values; each value is named by its shape and by what came
//! before it (the first three-digit number after the request is `$status`, a number list after
//! `$upstream_addr` is `$upstream_status` when its entries are statuses). Values no rule names are
//! kept as `$unknown_N`. The proposal is the template most sample lines give, checked by reading
//! the sample with it.

use std::collections::HashMap;

use crate::access::format::{Escape, LogFormat};
use crate::access::{AccessFormat, Field};

use super::detect::fit;

/// A proposed format and how much of the sample it explains.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub template: String,
    /// Sample lines it explains whole, of `sample`.
    pub whole: usize,
    pub sample: usize,
}

impl Proposal {
    /// The compiled format, if the proposal reads like an access log: a `$status`, a time, and
    /// the request or the client. (Other logs have three-digit numbers too.)
    pub fn format(&self, name: &str) -> Option<LogFormat> {
        let format = LogFormat::compile(name, &self.template, Escape::Default).ok()?;
        let any = |fields: &[Field]| fields.iter().any(|f| format.has(*f));
        (any(&[Field::TimeLocal, Field::TimeIso8601, Field::Msec])
            && any(&[Field::Request, Field::RemoteAddr]))
        .then_some(format)
    }

    /// The share of the sample it explains, 0..=1.
    pub fn share(&self) -> f64 {
        if self.sample == 0 {
            0.0
        } else {
            self.whole as f64 / self.sample as f64
        }
    }
}

/// The template most of `lines` give, with how many of them it explains whole.
pub fn infer(lines: &[&[u8]]) -> Option<Proposal> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines {
        *counts.entry(propose(line, &mut Namer::default())).or_default() += 1;
    }
    let template = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?.0;
    let format = AccessFormat::Template(LogFormat::compile("inferred", &template, Escape::Default).ok()?);
    let whole = lines.iter().filter(|l| fit(&format, l).whole).count();
    Some(Proposal { template, whole, sample: lines.len() })
}

/// The fields of `tail`, the text a known format left unexplained at the end of a line; `used`
/// are the variables the format already reads, so the tail's names follow on from them.
pub fn propose_tail(tail: &[u8], used: &[&str]) -> String {
    let mut namer = Namer::default();
    for name in used {
        namer.used.push((*name).to_owned());
    }
    propose(tail, &mut namer)
}

/// What a value looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    TimeLocal,
    TimeIso,
    Request,
    Status,
    StatusList,
    Int,
    IntList,
    Seconds,
    SecondsList,
    Address,
    PeerList,
    Id,
    Dash,
    Other,
}

/// Names values in line order, remembering which variables are taken.
#[derive(Default)]
struct Namer {
    used: Vec<String>,
    unknown: usize,
}

impl Namer {
    fn has(&self, name: &str) -> bool {
        self.used.iter().any(|u| u == name)
    }

    /// The first of `names` not taken yet.
    fn first_free(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|n| !self.has(n))
    }

    fn name(&mut self, shape: Shape, key: Option<&[u8]>, quoted: bool) -> String {
        let by_key = key.and_then(|k| match k {
            b"rt" | b"request_time" => Some("request_time"),
            b"ua" | b"upstream" | b"upstream_addr" => Some("upstream_addr"),
            b"us" | b"upstream_status" => Some("upstream_status"),
            b"ut" | b"urt" | b"upstream_response_time" => Some("upstream_response_time"),
            b"uct" | b"upstream_connect_time" => Some("upstream_connect_time"),
            b"uht" | b"upstream_header_time" => Some("upstream_header_time"),
            b"ul" | b"upstream_response_length" => Some("upstream_response_length"),
            b"cid" | b"conn" | b"connection" => Some("connection"),
            b"host" | b"vhost" => Some("host"),
            b"sn" | b"server_name" => Some("server_name"),
            b"status" | b"s" => Some("status"),
            b"rid" | b"request_id" | b"req_id" => Some("request_id"),
            _ => None,
        });
        let after_upstream = self.has("upstream_addr");
        let after_request = self.has("request") || self.has("status");
        let by_shape = match shape {
            Shape::TimeLocal => self.first_free(&["time_local"]),
            Shape::TimeIso => self.first_free(&["time_iso8601"]),
            Shape::Request => self.first_free(&["request"]),
            Shape::Status if !self.has("status") => Some("status"),
            Shape::Status | Shape::StatusList if after_upstream => self.first_free(&["upstream_status"]),
            Shape::Int | Shape::Status if !after_request => None,
            Shape::Int | Shape::IntList if after_upstream => self.first_free(&["upstream_response_length"]),
            Shape::Int | Shape::Status => self.first_free(&["body_bytes_sent", "request_length"]),
            Shape::Seconds | Shape::SecondsList if after_upstream => {
                self.first_free(&["upstream_response_time", "upstream_connect_time", "upstream_header_time"])
            }
            Shape::Seconds => self.first_free(&["request_time"]),
            Shape::SecondsList => self.first_free(&["upstream_response_time"]),
            Shape::PeerList => self.first_free(&["upstream_addr"]),
            Shape::Address if quoted && self.has("remote_addr") => self.first_free(&["http_x_forwarded_for"]),
            Shape::Address => self.first_free(&["remote_addr", "http_x_forwarded_for"]),
            Shape::Id => self.first_free(&["request_id"]),
            Shape::Other | Shape::Dash if quoted && after_request => {
                self.first_free(&["http_referer", "http_user_agent", "http_x_forwarded_for"])
            }
            _ => None,
        };
        // An unknown key names its value when the shape does not say more (`tenant=$tenant`).
        let plain = matches!(shape, Shape::Int | Shape::Other | Shape::Dash | Shape::Id | Shape::Seconds);
        let key_name = key
            .filter(|_| plain)
            .map(|k| String::from_utf8_lossy(k).to_ascii_lowercase().replace('-', "_"))
            .filter(|k| !self.has(k) && Field::from_variable(k).is_none());
        let name = match (by_key.filter(|n| !self.has(n)), key_name) {
            (Some(known), _) => known.to_owned(),
            (None, Some(key)) => key,
            (None, None) => by_shape.map(str::to_owned).unwrap_or_else(|| {
                self.unknown += 1;
                format!("unknown_{}", self.unknown)
            }),
        };
        self.used.push(name.clone());
        name
    }
}

/// The template one line gives.
fn propose(line: &[u8], namer: &mut Namer) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut prev_field_was_addr = false;
    while i < line.len() {
        let rest = &line[i..];
        let b = rest[0];
        if b == b' ' {
            out.push(' ');
            i += 1;
            continue;
        }
        if b == b'"' {
            i += quoted(&mut out, namer, rest, None);
            prev_field_was_addr = false;
            continue;
        }
        if b == b'[' {
            let end = memchr::memchr(b']', rest).unwrap_or(rest.len());
            let inner = &rest[1..end];
            out.push('[');
            // `[Client 203.0.113.7]`: a label, then the value.
            let label = memchr::memchr(b' ', inner)
                .filter(|&s| inner[..s].iter().all(|c| c.is_ascii_alphabetic() || *c == b'-') && s > 0)
                .filter(|_| shape_of(inner) != Shape::TimeLocal);
            let value = match label {
                Some(s) => {
                    out.push_str(&String::from_utf8_lossy(&inner[..=s]));
                    &inner[s + 1..]
                }
                None => inner,
            };
            push_field(&mut out, namer, value, None, false);
            out.push(']');
            i += (end + 1).min(rest.len());
            prev_field_was_addr = false;
            continue;
        }
        let token_end = value_end(rest);
        let token = &rest[..token_end];
        if let Some(eq) = key_end(token) {
            let key = &token[..eq];
            out.push_str(&String::from_utf8_lossy(&token[..=eq]));
            let after = &rest[eq + 1..];
            i += eq + 1;
            if after.first() == Some(&b'"') {
                i += quoted(&mut out, namer, after, Some(key));
            } else {
                let end = value_end(after);
                push_field(&mut out, namer, &after[..end], Some(key), false);
                i += end;
            }
            prev_field_was_addr = false;
            continue;
        }
        // `kong_request_id: "…"`: a label ending in a colon is literal text.
        if token.len() > 1
            && token.ends_with(b":")
            && token[..token.len() - 1].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            out.push_str(&String::from_utf8_lossy(token));
            i += token_end;
            continue;
        }
        let shape = shape_of(token);
        // `203.0.113.7 - - [`: the first dash after the client is literal, as in `combined`.
        if shape == Shape::Dash && prev_field_was_addr {
            out.push('-');
            i += token_end;
            prev_field_was_addr = false;
            continue;
        }
        let name = if shape == Shape::Dash && rest[token_end..].starts_with(b" [") && namer.has("remote_addr")
        {
            namer.used.push("remote_user".into());
            "remote_user".to_owned()
        } else {
            namer.name(shape, None, false)
        };
        prev_field_was_addr = name == "remote_addr";
        out.push('$');
        out.push_str(&name);
        i += token_end;
    }
    out
}

/// The quoted value at the start of `text` as `"$name"`; returns the bytes it took.
fn quoted(out: &mut String, namer: &mut Namer, text: &[u8], key: Option<&[u8]>) -> usize {
    let end = closing_quote(text);
    out.push('"');
    push_field(out, namer, &text[1..end], key, true);
    out.push('"');
    (end + 1).min(text.len())
}

/// `$name` for a non-empty value. Values end at a space, quote or bracket, so no literal that
/// could continue the name follows one and no `${name}` braces are needed.
fn push_field(out: &mut String, namer: &mut Namer, value: &[u8], key: Option<&[u8]>, quoted: bool) {
    if !value.is_empty() {
        out.push('$');
        out.push_str(&namer.name(shape_of(value), key, quoted));
    }
}

/// The index of the quote closing the quoted value at the start of `text` (nginx escapes `"`
/// inside values as `\x22`, so it is the next quote), or the end of the text.
fn closing_quote(text: &[u8]) -> usize {
    memchr::memchr(b'"', &text[1..]).map_or(text.len(), |i| i + 1)
}

/// Where a bare value ends: at a space, except inside an attempt list (`a, b : c`).
fn value_end(text: &[u8]) -> usize {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b' ' if i > 0 && text[i - 1] == b',' => i += 1,
            b' ' if text[i..].starts_with(b" : ") && i > 0 => i += 3,
            b' ' | b'"' | b'[' => break,
            _ => i += 1,
        }
    }
    i
}

/// `key=` at the start of a token: the index of `=`.
fn key_end(token: &[u8]) -> Option<usize> {
    let eq = memchr::memchr(b'=', token)?;
    let key = &token[..eq];
    let ok = !key.is_empty()
        && key[0].is_ascii_alphabetic()
        && key.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'));
    ok.then_some(eq)
}

fn shape_of(value: &[u8]) -> Shape {
    let all = |f: fn(u8) -> bool| !value.is_empty() && value.iter().all(|&b| f(b));
    let list_of = |f: fn(&[u8]) -> bool| {
        let mut entries = value.split(|&b| b == b',' || b == b':').map(<[u8]>::trim_ascii).peekable();
        entries.peek().is_some() && entries.all(|e| e == b"-" || f(e))
    };
    let is_status = |e: &[u8]| e.len() == 3 && e.iter().all(u8::is_ascii_digit);
    let is_int = |e: &[u8]| !e.is_empty() && e.iter().all(u8::is_ascii_digit);
    let is_secs = |e: &[u8]| {
        let dot = e.iter().position(|&b| b == b'.');
        dot.is_some_and(|d| d > 0 && d + 1 < e.len())
            && e.iter().filter(|&&b| b == b'.').count() == 1
            && e.iter().all(|&b| b.is_ascii_digit() || b == b'.')
    };
    let has_list =
        memchr::memmem::find(value, b", ").is_some() || memchr::memmem::find(value, b" : ").is_some();
    if value == b"-" {
        return Shape::Dash;
    }
    if value.len() == 26 && value[2] == b'/' && value[6] == b'/' && value[11] == b':' {
        return Shape::TimeLocal;
    }
    if value.len() >= 19 && value[4] == b'-' && value[7] == b'-' && value[10] == b'T' {
        return Shape::TimeIso;
    }
    if is_request(value) {
        return Shape::Request;
    }
    if is_status(value) && matches!(value[0], b'1'..=b'5') {
        return Shape::Status;
    }
    if is_int(value) {
        return Shape::Int;
    }
    if is_secs(value) {
        return Shape::Seconds;
    }
    if has_list && list_of(is_status) {
        return Shape::StatusList;
    }
    if has_list && list_of(is_int) {
        return Shape::IntList;
    }
    if has_list && list_of(is_secs) {
        return Shape::SecondsList;
    }
    if is_peer_list(value) {
        return Shape::PeerList;
    }
    if all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') && value.contains(&b'.') || is_ipv6(value) {
        return Shape::Address;
    }
    if value.len() >= 16 && all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Shape::Id;
    }
    Shape::Other
}

fn is_ipv6(value: &[u8]) -> bool {
    value.iter().filter(|&&b| b == b':').count() >= 2
        && value.iter().all(|b| b.is_ascii_hexdigit() || *b == b':')
}

/// `10.0.0.1:80`, `[::1]:80`, `unix:/run/a.sock`, and lists of them.
fn is_peer_list(value: &[u8]) -> bool {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).all(|e| {
        let e = e.strip_prefix(b": ").unwrap_or(e);
        e.starts_with(b"unix:")
            || e.rsplit_once_byte(b':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && !port.is_empty()
                    && port.iter().all(u8::is_ascii_digit)
                    && host
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'[' | b']' | b':' | b'-'))
            })
    }) && !value.is_empty()
}

/// `METHOD /uri HTTP/x.y`.
fn is_request(value: &[u8]) -> bool {
    let mut parts = value.splitn(3, |&b| b == b' ');
    let (Some(method), Some(uri), Some(proto)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(u8::is_ascii_uppercase)
        && !uri.is_empty()
        && proto.starts_with(b"HTTP/")
}

trait RsplitOnce {
    fn rsplit_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])>;
}

impl RsplitOnce for [u8] {
    fn rsplit_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])> {
        let i = memchr::memrchr(b, self)?;
        Some((&self[..i], &self[i + 1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::presets::PRESETS;

    fn template(line: &str) -> String {
        propose(line.as_bytes(), &mut Namer::default())
    }

    #[test]
    fn combined_and_ingress_lines_get_their_format_back() {
        let combined = PRESETS.iter().find(|p| p.name == "combined").unwrap();
        assert_eq!(template(combined.example), combined.template);
        let ingress = PRESETS.iter().find(|p| p.name == "ingress-nginx").unwrap();
        assert_eq!(
            template(ingress.example),
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$unknown_1] [] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $request_id"#
        );
    }

    #[test]
    fn key_value_pairs_labels_and_iso_times() {
        let line = r#"2024-05-14T10:22:31+02:00 client=203.0.113.7 "GET /a HTTP/1.1" status=502 up="10.0.0.1:80, 10.0.0.2:80" ups="502, 502" rt=0.004 [Pool api]"#;
        assert_eq!(
            template(line),
            r#"$time_iso8601 client=$remote_addr "$request" status=$status up="$upstream_addr" ups="$upstream_status" rt=$request_time [Pool $unknown_1]"#
        );
    }

    #[test]
    fn the_inferred_format_reads_the_sample_whole() {
        let lines: Vec<&[u8]> = vec![
            br#"2024-05-14T10:22:31+02:00 client=203.0.113.7 "GET /a HTTP/1.1" status=502 up="10.0.0.1:80, 10.0.0.2:80" t=0.004"#,
            br#"2024-05-14T10:22:32+02:00 client=203.0.113.8 "GET /b HTTP/1.1" status=200 up="10.0.0.1:80" t=0.001"#,
        ];
        let p = infer(&lines).unwrap();
        assert_eq!((p.whole, p.sample), (2, 2));
        assert!(p.format("inferred").is_some());
    }
}
