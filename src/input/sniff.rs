//! Deciding from content whether an input is an access log or an error log, and which access
//! format it was written in. Names lie (`access.log.1`, `site.log`); the first lines do not.

use crate::access::{AccessFormat, AccessParser, LogFormat};
use crate::errorlog::starts_record;

/// What kind of log an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Access,
    Error,
}

/// The verdict on an input's first lines.
#[derive(Debug)]
pub enum Sniffed {
    Access(AccessFormat),
    Error,
    /// Neither: binary, or text no known format matches. The reason says which.
    Unknown(String),
}

/// Lines looked at to decide.
const SAMPLE_LINES: usize = 64;

/// Decides kind and format from `head` (the start of the input). `candidates` are the access
/// formats to try, most preferred first; the one matching the most sample lines wins.
pub fn sniff(head: &[u8], forced: Option<Kind>, candidates: &[AccessFormat]) -> Sniffed {
    let window = &head[..head.len().min(1 << 20)];
    // NULs alone do not make a log binary: a crash can zero-fill a block of a log that is
    // otherwise fine, and one such line must not hide the whole file. They only name the reason
    // when no line is recognised.
    let binary = memchr::memchr(0, &window[..window.len().min(8192)]).is_some();
    let lines: Vec<&[u8]> = window
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(SAMPLE_LINES)
        .collect();
    if lines.is_empty() {
        return match forced {
            Some(Kind::Error) => Sniffed::Error,
            _ => Sniffed::Access(candidates.first().cloned().unwrap_or_else(default_format)),
        };
    }
    let error_lines = lines.iter().filter(|l| starts_record(l)).count();
    if forced == Some(Kind::Error) || (forced.is_none() && error_lines * 2 > lines.len()) {
        return Sniffed::Error;
    }
    let best = candidates
        .iter()
        .map(|format| {
            let mut parser = AccessParser::new(format);
            (lines.iter().filter(|l| parser.parse(l).is_ok()).count(), format)
        })
        .fold(None::<(usize, &AccessFormat)>, |best, (n, f)| match best {
            Some((b, _)) if b >= n => best,
            _ => Some((n, f)),
        });
    match best {
        Some((n, format)) if n > 0 => Sniffed::Access(format.clone()),
        _ if forced == Some(Kind::Access) => {
            Sniffed::Access(candidates.first().cloned().unwrap_or_else(default_format))
        }
        _ if binary => Sniffed::Unknown("binary data (NUL bytes), not a text log".into()),
        _ => Sniffed::Unknown(
            "no known access-log format matches its first lines (pass --log-format '<your log_format>' or --nginx-conf)".into(),
        ),
    }
}

fn default_format() -> AccessFormat {
    AccessFormat::Template(LogFormat::preset("combined").expect("combined preset compiles"))
}

/// The formats auto-detection tries: the presets, then JSON keyed by variable names.
pub fn builtin_candidates() -> Vec<AccessFormat> {
    crate::access::format::PRESETS
        .iter()
        .filter_map(|(name, _)| LogFormat::preset(name))
        .map(AccessFormat::Template)
        .chain(std::iter::once(AccessFormat::json_by_names()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(text: &[u8]) -> String {
        match sniff(text, None, &builtin_candidates()) {
            Sniffed::Access(f) => f.name().to_owned(),
            Sniffed::Error => "error".into(),
            Sniffed::Unknown(_) => "unknown".into(),
        }
    }

    #[test]
    fn decides_by_content() {
        let combined = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        assert_eq!(kind_of(combined), "combined");
        let common = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(kind_of(common), "common");
        let main = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5 "-" "ua" "-""#;
        assert_eq!(kind_of(main), "main");
        assert_eq!(kind_of(br#"{"status":"502","remote_addr":"::1"}"#), "json");
        assert_eq!(kind_of(b"2024/05/14 10:22:31 [error] 1#1: *1 boom"), "error");
        assert_eq!(kind_of(b"hello world\n"), "unknown");
        assert_eq!(kind_of(b"\x7fELF\x00\x00"), "unknown");
        let zero_filled = b"\x00\x00\x00\n2024/05/14 10:22:31 [error] 1#1: *1 boom\n2024/05/14 10:22:32 [error] 1#1: *2 boom";
        assert_eq!(kind_of(zero_filled), "error");
    }
}
