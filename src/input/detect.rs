//! Which access format explains a log's lines: the candidate that accounts for the most bytes of
//! the sample wins, ties to the earlier (more specific) candidate.
//!
//! A format "explains" a line when the line splits on its literals from the first byte to the
//! last and every variable holds what it can hold: `$status` three digits, `$body_bytes_sent` a
//! number, `$time_local` a timestamp, `$remote_addr` an address. Without the value check the last
//! variable of a short format swallows the rest of any longer line (`common` "matched" every
//! ingress-nginx line with `$body_bytes_sent` = `150 "-" "axios/0.23.0" 340 …`), and the upstream
//! fields were lost. A format that splits the start of a line but leaves text at its end is a
//! prefix match: used only when nothing explains the lines whole, with a warning that names the
//! fields read and the `log_format` that would read the rest (see `sniff`).
//!
//! This runs on the first lines of an input only; the per-line parser stays a literal splitter.

use crate::access::format::LogFormat;
use crate::access::parse::split_template;
use crate::access::{AccessFormat, AccessParser};

/// How much of one line a format explains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// Bytes from the start of the line that the format accounts for.
    pub explained: usize,
    /// Whether that is the whole line.
    pub whole: bool,
}

/// The split of `line` by `format`, the reason it stopped short (if it did), and the byte where
/// the explained part ends. [`split_template`] reports a trailing remainder with this reason.
const TRAILING_TEXT: &str = "text after the end of the format";

/// What a variable's value may consist of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Any,
    /// Exactly three digits.
    Status,
    /// A decimal integer, or `-`.
    Digits,
    /// Seconds with a fraction (`0.016`), or `-`.
    Seconds,
    /// One entry per upstream attempt, joined by `, ` and ` : `.
    List(Entry),
    /// An IP address (or a `, `-separated list of them, as X-Forwarded-For carries).
    Address,
    /// One word: no space, quote or comma (host names, schemes, methods).
    Token,
    /// `14/May/2024:10:22:31 +0200`.
    TimeLocal,
    /// `2024-05-14T10:22:31+02:00`.
    TimeIso,
}

/// What one entry of an attempt list may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Digits,
    Seconds,
    Address,
}

impl Class {
    fn of(variable: &str) -> Class {
        match variable {
            "status" => Class::Status,
            "body_bytes_sent"
            | "bytes_sent"
            | "request_length"
            | "connection"
            | "connection_requests"
            | "pid"
            | "server_port"
            | "remote_port"
            | "content_length"
            | "bytes_received" => Class::Digits,
            "request_time" | "msec" | "session_time" | "gzip_ratio" => Class::Seconds,
            "upstream_addr" => Class::List(Entry::Address),
            "upstream_status"
            | "upstream_response_length"
            | "upstream_bytes_sent"
            | "upstream_bytes_received" => Class::List(Entry::Digits),
            "upstream_response_time" | "upstream_connect_time" | "upstream_header_time" => {
                Class::List(Entry::Seconds)
            }
            "remote_addr" | "realip_remote_addr" => Class::Address,
            "host" | "server_name" | "scheme" | "request_method" | "upstream_cache_status" => Class::Token,
            "time_local" => Class::TimeLocal,
            "time_iso8601" => Class::TimeIso,
            _ => Class::Any,
        }
    }

    /// The length of the longest start of `value` this class allows; the value is valid when
    /// that is all of it.
    fn valid_prefix(self, value: &[u8]) -> usize {
        let run = |ok: fn(u8) -> bool| value.iter().take_while(|&&b| ok(b)).count();
        match self {
            Class::Any => value.len(),
            _ if value == b"-" => 1,
            Class::Status => {
                if value.len() >= 3 && value[..3].iter().all(u8::is_ascii_digit) {
                    3
                } else {
                    0
                }
            }
            Class::Digits => run(|b| b.is_ascii_digit()),
            Class::Seconds => run(|b| b.is_ascii_digit() || b == b'.'),
            Class::Address => list_prefix(value, address_byte, false),
            Class::List(Entry::Address) => list_prefix(value, address_byte, true),
            Class::List(Entry::Digits) => list_prefix(value, |b| b.is_ascii_digit() || b == b'-', true),
            Class::List(Entry::Seconds) => {
                list_prefix(value, |b| b.is_ascii_digit() || b == b'.' || b == b'-', true)
            }
            Class::Token => run(|b| b > b' ' && b != b'"' && b != b','),
            Class::TimeLocal => shaped(value, b"00/Aaa/0000:00:00:00 +0000"),
            Class::TimeIso => shaped(value, b"0000-00-00T00:00:00+00:00"),
        }
    }
}

/// Bytes of an IP address, a unix socket (`unix:/run/a.sock`) or an upstream group name.
fn address_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'[' | b']' | b'%' | b'_' | b'-' | b'/')
}

/// The start of `value` made of entries of `entry` bytes joined by `, ` (and ` : ` when
/// `attempts`: a second upstream module run in the same request).
fn list_prefix(value: &[u8], entry: fn(u8) -> bool, attempts: bool) -> usize {
    let mut i = 0;
    while i < value.len() {
        let rest = &value[i..];
        let sep = if rest.starts_with(b", ") {
            2
        } else if attempts && rest.starts_with(b" : ") {
            3
        } else {
            0
        };
        if sep > 0 && i > 0 {
            i += sep;
        } else if entry(value[i]) && !(attempts && value[i] == b':' && rest.starts_with(b": ")) {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// `value.len()` when `value` has the shape of `pattern` (`0` a digit, `A`/`a` a letter, any
/// other byte itself, `+` also `-`), else 0.
fn shaped(value: &[u8], pattern: &[u8]) -> usize {
    let fits = |(&v, &p): (&u8, &u8)| match p {
        b'0' => v.is_ascii_digit(),
        b'A' | b'a' => v.is_ascii_alphabetic(),
        b'+' => v == b'+' || v == b'-',
        _ => v == p,
    };
    if value.len() >= pattern.len() && value.iter().zip(pattern).all(fits) {
        pattern.len()
    } else {
        0
    }
}

/// How much of `line` `format` explains.
pub fn fit(format: &AccessFormat, line: &[u8]) -> Fit {
    match format {
        AccessFormat::Template(f) => fit_template(f, line),
        AccessFormat::Json { .. } => {
            let whole = AccessParser::new(format).parse(line).is_ok();
            Fit { explained: if whole { line.len() } else { 0 }, whole }
        }
    }
}

/// How much of `line` a template format explains.
pub fn fit_template(format: &LogFormat, line: &[u8]) -> Fit {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut spans = Vec::with_capacity(format.segments.len());
    let end = match split_template(format, line, |var, start, end| {
        spans.push((Class::of(var.name()), start, end));
    }) {
        Ok(()) => line.len(),
        Err(m) if m.reason == TRAILING_TEXT => m.offset,
        Err(_) => return Fit::default(),
    };
    let last = spans.len().saturating_sub(1);
    for (i, &(class, start, stop)) in spans.iter().enumerate() {
        let value = &line[start..stop];
        let valid = class.valid_prefix(value);
        if valid == value.len() && !(class == Class::Status && valid == 0) {
            continue;
        }
        // The last variable ran to the end of the line: what it can hold of it is explained,
        // and the rest is the unexplained tail.
        if i == last && stop == end && valid > 0 && value.get(valid) == Some(&b' ') {
            return Fit { explained: start + valid, whole: false };
        }
        return Fit::default();
    }
    Fit { explained: end, whole: end == line.len() }
}

/// A candidate's fit over the sample lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub explained: usize,
    pub whole: usize,
    pub prefix: usize,
}

/// Each candidate's tally over `lines`.
pub fn tally(lines: &[&[u8]], format: &AccessFormat) -> Tally {
    lines.iter().fold(Tally::default(), |mut t, line| {
        let f = fit(format, line);
        t.explained += f.explained;
        if f.whole {
            t.whole += 1;
        } else if f.explained > 0 {
            t.prefix += 1;
        }
        t
    })
}

/// The candidate that explains the most bytes of `lines` (the earlier on a tie), with its tally;
/// `None` when no candidate explains anything.
pub fn best<'c>(lines: &[&[u8]], candidates: &'c [AccessFormat]) -> Option<(&'c AccessFormat, Tally)> {
    candidates
        .iter()
        .map(|format| (format, tally(lines, format)))
        .fold(None, |best: Option<(&AccessFormat, Tally)>, (f, t)| match best {
            Some((_, b)) if b.explained >= t.explained => best,
            _ => Some((f, t)),
        })
        .filter(|(_, t)| t.explained > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::presets::PRESETS;

    fn preset(name: &str) -> AccessFormat {
        AccessFormat::Template(LogFormat::preset(name).unwrap())
    }

    #[test]
    fn numbers_take_only_what_they_hold() {
        let ingress = PRESETS.iter().find(|p| p.name == "ingress-nginx").unwrap().example.as_bytes();
        let common = fit(&preset("common"), ingress);
        assert!(!common.whole);
        assert!(ingress[..common.explained].ends_with(b"502 150"));
        let combined = fit(&preset("combined"), ingress);
        assert!(!combined.whole && combined.explained > common.explained);
        assert!(fit(&preset("ingress-nginx"), ingress).whole);
    }

    #[test]
    fn each_distribution_s_other_lines_keep_its_preset() {
        let candidates: Vec<AccessFormat> = PRESETS.iter().map(|p| preset(p.name)).collect();
        for p in PRESETS {
            let lines: Vec<&[u8]> = p.lines().map(str::as_bytes).collect();
            let (format, tally) = best(&lines, &candidates).unwrap();
            assert_eq!((format.name(), tally.whole), (p.name, lines.len()), "{lines:?}");
        }
    }

    #[test]
    fn values_keep_their_class() {
        assert_eq!(Class::Status.valid_prefix(b"502"), 3);
        assert_eq!(Class::Status.valid_prefix(b"5x2"), 0);
        assert_eq!(Class::List(Entry::Address).valid_prefix(b"10.0.0.1:80, 10.0.0.2:80 : unix:/a.sock"), 39);
        assert_eq!(Class::List(Entry::Digits).valid_prefix(b"502, 504 : 200 abc"), 14);
        assert_eq!(Class::Address.valid_prefix(b"203.0.113.7, 10.0.0.1"), 21);
        assert_eq!(Class::Address.valid_prefix(b"shop.example.com:443 203.0.113.7"), 20);
        assert_eq!(Class::TimeLocal.valid_prefix(b"14/May/2024:10:22:31 +0200"), 26);
        assert_eq!(Class::TimeIso.valid_prefix(b"2024-05-14T10:22:31-02:00"), 25);
        assert_eq!(Class::Token.valid_prefix(b"1.2.3.4,"), 7);
    }

    #[test]
    fn a_forwarded_for_list_as_client_is_combined() {
        let line = br#"203.0.113.7, 10.0.0.1 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0""#;
        let candidates: Vec<AccessFormat> = PRESETS.iter().map(|p| preset(p.name)).collect();
        assert_eq!(best(&[line], &candidates).unwrap().0.name(), "combined");
    }
}
