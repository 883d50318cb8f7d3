//! Error lines as people paste them into tickets and chats: without nginx's date, without
//! `pid#tid:`, without `*CID`, behind a docker-compose, journald or `docker logs --timestamps`
//! prefix, cut short by a pager (`…`, `$`), or with HTML entities from a web page (`&#37;`).
//!
//! The text is brought back to the shape nginx writes, with placeholders for the header parts
//! it lacks, and then read by the ordinary line parser; [`Pasted`] says which parts were real.
//! Container and syslog prefixes are peeled as for whole logs ([`crate::stream::wrap`]).

use super::parse::{parse_line, starts_record, upstream_peer, ErrorLine};

/// A pasted line, normalised to a full error-log line.
#[derive(Debug)]
pub struct Pasted {
    /// The line in nginx's shape (placeholders where the paste lacked the header).
    pub line: Vec<u8>,
    /// Whether the paste had nginx's date, its `[level]` and its `pid#tid:`.
    pub had_date: bool,
    pub had_level: bool,
    /// Whether the paste was cut short (a pager's `…` or `$`, or `...`).
    pub cut: bool,
}

impl Pasted {
    /// Whether the paste carried a part of nginx's own header (`[level]`, `*CID`), so it is a
    /// line of its own even after a dated record, not a continuation of it.
    pub fn has_header(&self) -> bool {
        self.had_date || self.had_level || self.line.get(25..).is_some_and(|t| t.starts_with(b"*"))
    }

    /// The parsed line: its fields and, through [`ErrorLine::cause`], its cause.
    pub fn parse(&self) -> Option<ErrorLine<'_>> {
        parse_line(&self.line)
    }
}

/// The upstream a line names: its `upstream:` field, or, when the paste stops before the
/// context, the peer of `connect() to PEER failed`.
pub fn named_peer<'a>(line: &ErrorLine<'a>) -> Option<&'a [u8]> {
    line.upstream.map(upstream_peer).or_else(|| {
        let rest = line.message.strip_prefix(b"connect() to ")?;
        memchr::memmem::find(rest, b" failed").map(|end| &rest[..end])
    })
}

/// The phases nginx names after `while`, so a cut action (`while connec…`) still names its phase.
const PHASES: [&str; 9] = [
    "connecting to upstream",
    "SSL handshaking to upstream",
    "sending request to upstream",
    "reading response header from upstream",
    "reading upstream",
    "sending to client",
    "proxying upgraded connection",
    "SSL handshaking",
    "reading client request line",
];

/// Normalises one pasted line.
pub fn normalize(text: &[u8]) -> Pasted {
    let decoded = decode_entities(text.trim_ascii());
    let rest = crate::stream::wrap::peel(trim_quotes(&decoded)).body.trim_ascii_start();
    let (rest, cut) = strip_cut(rest);
    let mut line = Vec::with_capacity(rest.len() + 40);
    let (had_date, had_level) = match find_header(rest) {
        Some(start) => {
            line.extend_from_slice(&rest[start..]);
            (true, true)
        }
        None => {
            line.extend_from_slice(b"1970/01/01 00:00:00 ");
            let level = level_end(rest);
            let tail = &rest[level.unwrap_or(0)..];
            line.extend_from_slice(if level.is_some() { &rest[..level.unwrap_or(0)] } else { b"[error] " });
            if !has_pid(tail) {
                line.extend_from_slice(b"0#0: ");
            }
            line.extend_from_slice(tail);
            (false, level.is_some())
        }
    };
    if cut {
        complete_phase(&mut line);
    }
    Pasted { line, had_date, had_level, cut }
}

/// Where nginx's own text starts: its date, a `[level]`, or the whole text.
fn find_header(text: &[u8]) -> Option<usize> {
    (0..text.len().saturating_sub(19)).find(|&i| starts_record(&text[i..]) && (i == 0 || text[i - 1] == b' '))
}

/// The end of a leading `[level] ` (the index after its space).
fn level_end(text: &[u8]) -> Option<usize> {
    if !text.starts_with(b"[") {
        return None;
    }
    let close = memchr::memchr(b']', text)?;
    let name = &text[1..close];
    let known = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"];
    known
        .iter()
        .any(|l| l.as_bytes() == name)
        .then_some(close + 1 + usize::from(text.get(close + 1) == Some(&b' ')))
}

/// Whether `text` starts with nginx's `PID#TID: `.
fn has_pid(text: &[u8]) -> bool {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &text[digits..];
    let tid = rest.strip_prefix(b"#").map(|r| r.iter().take_while(|b| b.is_ascii_digit()).count());
    digits > 0 && tid.is_some_and(|t| t > 0 && rest[1 + t..].starts_with(b": "))
}

/// Removes a pager's or an editor's cut marker from the end: `…`, `...`, `$` (`cat -A`, `less`).
fn strip_cut(text: &[u8]) -> (&[u8], bool) {
    for marker in ["…".as_bytes(), b"...", b"$"] {
        if let Some(rest) = text.strip_suffix(marker) {
            return (rest.trim_ascii_end(), true);
        }
    }
    (text, false)
}

/// A cut `while ACTION` completed to the one phase it starts (`while connec` → connecting).
fn complete_phase(line: &mut Vec<u8>) {
    let Some(at) = memchr::memmem::rfind(line, b" while ") else { return };
    let action = &line[at + 7..];
    if action.is_empty() || memchr::memmem::find(action, b", ").is_some() {
        return;
    }
    let mut fits = PHASES.iter().filter(|p| p.as_bytes().starts_with(action) && p.len() > action.len());
    if let (Some(phase), None) = (fits.next(), fits.next()) {
        line.truncate(at + 7);
        line.extend_from_slice(phase.as_bytes());
    }
}

/// Surrounding backticks or quotes, as chat tools and shells leave them.
fn trim_quotes(text: &[u8]) -> &[u8] {
    for q in [b'`', b'\'', b'"'] {
        if let Some(inner) = text.strip_prefix(&[q]).and_then(|t| t.strip_suffix(&[q])) {
            return inner.trim_ascii();
        }
    }
    text
}

/// HTML character references a web page leaves in copied text: `&#37;`, `&#x25;`, `&quot;`,
/// `&amp;`, `&lt;`, `&gt;`, `&#39;`, `&apos;`, `&nbsp;`.
fn decode_entities(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'&' {
            if let Some((decoded, len)) = entity(&text[i..]) {
                out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                i += len;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

fn entity(text: &[u8]) -> Option<(char, usize)> {
    let semi = memchr::memchr(b';', &text[..text.len().min(10)])?;
    let name = std::str::from_utf8(&text[1..semi]).ok()?;
    let c = match name {
        "quot" => '"',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errorlog::Cause;

    fn cause(text: &str) -> Option<&'static str> {
        normalize(text.as_bytes()).parse().and_then(|l| l.cause()).map(|c| c.slug())
    }

    #[test]
    fn header_parts_may_be_missing() {
        let full = "2024/05/14 10:22:31 [error] 2817#2817: *48213 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: api, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.12:8080/\", host: \"api\"";
        let p = normalize(full.as_bytes());
        assert!(p.had_date && p.had_level && !p.cut);
        assert_eq!(p.line, full.as_bytes());
        assert_eq!(cause("*55 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4"), Some("connect_refused"));
        let l = normalize(b"[error] 7#7: *1 upstream timed out (110: Connection timed out) while reading response header from upstream, client: ::1, server: _, request: \"GET /slow HTTP/1.1\", upstream: \"http://127.0.0.1:81/slow\", host: \"h\"");
        let parsed = l.parse().unwrap();
        assert_eq!((parsed.cid, parsed.cause()), (Some(1), Some(Cause::ReadTimeout)));
        assert_eq!(parsed.upstream, Some(&b"http://127.0.0.1:81/slow"[..]));
        assert!(!l.had_date && l.had_level);
        assert_eq!(
            cause("connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory)"),
            Some("unix_socket_missing")
        );
    }

    #[test]
    fn wrappers_cuts_and_entities() {
        assert_eq!(cause("web-1  | 2024/05/14 10:22:31 [error] 29#29: *3 upstream prematurely closed connection while reading response header from upstream, client: 172.18.0.1"), Some("premature_close"));
        assert_eq!(cause("May 14 10:22:31 web01 nginx[812]: 2024/05/14 10:22:31 [crit] 812#812: *9 connect() to unix:/run/php-fpm.sock failed (13: Permission denied) while connecting to upstream"), Some("unix_socket_permission"));
        assert_eq!(cause("2024-05-14T10:22:31.123456789Z 2024/05/14 10:22:31 [error] 1#1: *2 no live upstreams while connecting to upstream"), Some("no_live_upstreams"));
        assert_eq!(
            cause("*7 upstream timed out (110: Connection timed out) while connec…"),
            Some("connect_timeout")
        );
        assert_eq!(cause("upstream sent too big header while reading response header from upstream, client: 1.2.3.4, server: x, request: \"GET /a?x=1&#37;20 HTTP/1.1\"$"), Some("too_big_header"));
        let p = normalize(b"`upstream timed out (110: Connection timed out) while reading response header from upstream, client: 1.2.3.4, server: x, request: &quot;GET /a&#37;2F HTTP/1.1&quot;`");
        assert_eq!(p.parse().unwrap().request, Some(&b"GET /a%2F HTTP/1.1"[..]));
    }
}
