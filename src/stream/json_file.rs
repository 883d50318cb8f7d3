//! Docker's json-file lines (`{"log":"…\n","stream":"stdout","time":"…"}`), decoded with a real
//! JSON decoder: Docker escapes `<`, `>`, `&` as `\u003c`-style sequences, control bytes as
//! `\u00XX`, and replaces invalid UTF-8, so hand-rolled unescaping would get lines wrong.

use std::borrow::Cow;

use super::wrap::Pipe;

#[derive(serde::Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Option<Cow<'a, str>>,
}

/// A decoded json-file entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub pipe: Option<Pipe>,
    /// The `log` value lacked its trailing newline: Docker split the line (at 16 KiB), and the
    /// rest follows in later entries of the same stream.
    pub partial: bool,
}

/// Whether `line` looks like a json-file entry (checked before paying for a decode).
pub fn looks_like(line: &[u8]) -> bool {
    line.starts_with(b"{\"log\":")
}

/// Decodes `line` into `out` (the `log` value without its newline); `None` when it is not a
/// json-file entry after all.
pub fn decode(line: &[u8], out: &mut Vec<u8>) -> Option<Decoded> {
    let entry: Entry<'_> = serde_json::from_slice(line).ok()?;
    let log = entry.log.as_bytes();
    let (text, partial) = match log.strip_suffix(b"\n") {
        Some(t) => (t, false),
        None => (log, true),
    };
    out.clear();
    out.extend_from_slice(text);
    let pipe = match entry.stream.as_deref() {
        Some("stdout") => Some(Pipe::Stdout),
        Some("stderr") => Some(Pipe::Stderr),
        _ => None,
    };
    Some(Decoded { pipe, partial })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_partials() {
        let mut out = Vec::new();
        let line = br#"{"log":"10.0.0.1 - - [30/Jul/2019:04:45:57 +0000] \"GET /a?x=\u003cb\u003e\u0026y HTTP/1.1\" 502 5\n","stream":"stdout","time":"2019-07-30T04:45:57.689166775Z"}"#;
        assert!(looks_like(line));
        assert_eq!(decode(line, &mut out), Some(Decoded { pipe: Some(Pipe::Stdout), partial: false }));
        assert_eq!(out, br#"10.0.0.1 - - [30/Jul/2019:04:45:57 +0000] "GET /a?x=<b>&y HTTP/1.1" 502 5"#);
        let fragment = br#"{"log":"2024/01/01 12:00:00 [error] 1#1: caf\u00e9","stream":"stderr","attrs":{"tag":"x"},"time":"2024-01-01T12:00:00Z"}"#;
        assert_eq!(decode(fragment, &mut out), Some(Decoded { pipe: Some(Pipe::Stderr), partial: true }));
        assert_eq!(out, "2024/01/01 12:00:00 [error] 1#1: café".as_bytes());
        let tty = br#"{"log":"hello\r\n","stream":"stdout","time":"2024-01-01T12:00:00Z"}"#;
        decode(tty, &mut out);
        assert_eq!(out, b"hello\r", "the wrapper layer strips the carriage return");
        assert_eq!(decode(br#"{"log":"cut"#, &mut out), None);
        assert_eq!(decode(br#"{"log":5}"#, &mut out), None);
    }
}
