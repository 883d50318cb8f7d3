//! nginx error-log lines: header, `*CID`, message and the context fields nginx appends.
//!
//! Layout (nginx `ngx_log_error_core` + `ngx_http_log_error_handler`):
//! `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID MESSAGE, client: A, server: S, request: "R",
//! subrequest: "U", upstream: "U", host: "H", referrer: "F"`. Context values are raw bytes that
//! nginx does not escape, so the parser anchors on the fixed `, key: ` separators in their fixed
//! order. A physical line that does not start with a date continues the previous record
//! (FastCGI stderr relays the application's newlines).

use super::cause::Cause;
use super::text::{Keeper, Kept, FIELDS};
use crate::number::parse_u64;
use crate::time::parse_error_log_time;

/// Severity of an error-log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    fn parse(text: &[u8]) -> Option<Level> {
        Some(match text {
            b"emerg" => Level::Emerg,
            b"alert" => Level::Alert,
            b"crit" => Level::Crit,
            b"error" => Level::Error,
            b"warn" => Level::Warn,
            b"notice" => Level::Notice,
            b"info" => Level::Info,
            b"debug" => Level::Debug,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"][self as usize]
    }
}

/// One logical error-log record, borrowed from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorLine<'a> {
    /// Local wall-clock seconds (the error log has no zone).
    pub local_time: i64,
    pub level: Level,
    pub pid: u32,
    pub cid: Option<u64>,
    /// From after `*CID ` to the context fields, `while ...` included.
    pub message: &'a [u8],
    pub client: Option<&'a [u8]>,
    pub server: Option<&'a [u8]>,
    pub request: Option<&'a [u8]>,
    pub subrequest: Option<&'a [u8]>,
    pub upstream: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    /// The whole record as written, for evidence.
    pub raw: &'a [u8],
}

/// Whether a physical line starts a new record (`YYYY/MM/DD `).
pub fn starts_record(line: &[u8]) -> bool {
    line.len() >= 20
        && line[..4].iter().all(u8::is_ascii_digit)
        && line[4] == b'/'
        && line[7] == b'/'
        && line[10] == b' '
}

/// Parses one logical record (continuation lines included, newlines between them).
pub fn parse_line(raw: &[u8]) -> Option<ErrorLine<'_>> {
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    if !starts_record(line) {
        return None;
    }
    let local_time = parse_error_log_time(&line[..19])?;
    let rest = line[19..].strip_prefix(b" [")?;
    let close = memchr::memchr(b']', rest)?;
    let level = Level::parse(&rest[..close])?;
    let rest = rest[close + 1..].strip_prefix(b" ")?;
    let hash = memchr::memchr(b'#', rest)?;
    let pid = u32::try_from(parse_u64(&rest[..hash])?).ok()?;
    let colon = memchr::memchr(b':', &rest[hash..])? + hash;
    let mut rest = rest[colon + 1..].strip_prefix(b" ").unwrap_or(&rest[colon + 1..]);
    let mut cid = None;
    if let Some(after) = rest.strip_prefix(b"*") {
        let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        cid = parse_u64(&after[..digits]);
        rest = after[digits..].strip_prefix(b" ").unwrap_or(&after[digits..]);
    }
    let mut record = ErrorLine {
        local_time,
        level,
        pid,
        cid,
        message: rest,
        client: None,
        server: None,
        request: None,
        subrequest: None,
        upstream: None,
        host: None,
        raw: line,
    };
    if let Some(at) = finder!(b", client: ").find(rest) {
        record.message = &rest[..at];
        parse_context(&rest[at + 2..], &mut record);
    }
    Some(record)
}

/// Context keys in the order nginx writes them; quoted ones carry `"..."`.
const KEYS: [(&[u8], bool); 7] = [
    (b"client: ", false),
    (b"server: ", false),
    (b"request: \"", true),
    (b"subrequest: \"", true),
    (b"upstream: \"", true),
    (b"host: \"", true),
    (b"referrer: \"", true),
];

fn parse_context<'a>(mut text: &'a [u8], record: &mut ErrorLine<'a>) {
    for (k, (key, quoted)) in KEYS.iter().enumerate() {
        let Some(body) = text.strip_prefix(*key) else { continue };
        let end = value_end(body, &KEYS[k + 1..], *quoted);
        let (value, rest) = match end {
            Some(e) => (&body[..e], &body[e + usize::from(*quoted)..]),
            None if *quoted => (body.strip_suffix(b"\"").unwrap_or(body), &body[body.len()..]),
            None => (body, &body[body.len()..]),
        };
        let slot = match k {
            0 => &mut record.client,
            1 => &mut record.server,
            2 => &mut record.request,
            3 => &mut record.subrequest,
            4 => &mut record.upstream,
            5 => &mut record.host,
            _ => return,
        };
        *slot = Some(value);
        text = rest.strip_prefix(b", ").unwrap_or(rest);
    }
}

/// Where a value ends: at the first `, ` followed by one of the `later` keys (and, for quoted
/// values, preceded by the closing quote), giving the index of that quote or of the `, `. One
/// pass over the commas of the value, not one substring search per later key.
fn value_end(body: &[u8], later: &[(&[u8], bool)], quoted: bool) -> Option<usize> {
    memchr::memchr_iter(b',', body).find_map(|comma| {
        let after = body[comma + 1..].strip_prefix(b" ")?;
        if !later.iter().any(|(key, _)| after.starts_with(key)) {
            return None;
        }
        match quoted {
            false => Some(comma),
            true => comma.checked_sub(1).filter(|&q| body[q] == b'"'),
        }
    })
}

/// The peer part of an error line's `upstream: "http://10.0.1.11:8080/x"` value: the same
/// string as the matching `$upstream_addr` entry (`10.0.1.11:8080`, `[::1]:80`,
/// `unix:/run/php.sock`, or the upstream block's name after `no live upstreams`).
pub fn upstream_peer(upstream: &[u8]) -> &[u8] {
    let rest = finder!(b"://").find(upstream).map_or(upstream, |i| &upstream[i + 3..]);
    if let Some(path) = rest.strip_prefix(b"unix:") {
        let end = memchr::memchr(b':', path).unwrap_or(path.len());
        return &rest[..5 + end];
    }
    if rest.starts_with(b"[") {
        if let Some(close) = memchr::memchr(b']', rest) {
            let end = memchr::memchr(b'/', &rest[close..]).map_or(rest.len(), |i| close + i);
            return &rest[..end];
        }
    }
    let end = memchr::memchr(b'/', rest).unwrap_or(rest.len());
    &rest[..end]
}

/// An error record kept for the join: the fields the join and the report use, and the record
/// as written kept by reference (in the mapped log, or in its chunk's arena: see
/// [`super::text`]), with its other fields as spans of it. No allocation of its own.
///
/// A run holds one for every upstream error line it read (hundreds of thousands in an
/// incident's log), so it is kept small: the `*CID` is a number and a flag that fit where
/// `Option<u64>` would take 16 bytes, and the kept text is addressed in 40 bytes (see `Kept`).
#[derive(Clone, Debug)]
pub struct ErrorRecord {
    /// Index of the input it came from, and its line number there (1-based).
    pub input: usize,
    pub line: u64,
    pub local_time: i64,
    pub level: Level,
    pub pid: u32,
    /// The `*CID` when `has_cid` (see [`ErrorRecord::cid`]).
    cid: u64,
    has_cid: bool,
    pub cause: Cause,
    /// The container, pod or host a stream named for this line (see `Candidate::source`).
    pub source: Option<Box<str>>,
    /// The record as written and the fields below (in this order), kept by reference.
    kept: Kept,
}

/// The fields of [`ErrorRecord::kept`], in the order they are kept: the server's name just
/// before the `Host` header, which most often repeats it and is then kept once.
const CLIENT: usize = 0;
const REQUEST: usize = 1;
const SERVER: usize = 2;
const HOST: usize = 3;
const PEER: usize = 4;

impl ErrorRecord {
    /// The connection number nginx wrote as `*CID`, the same as `$connection` in access logs.
    pub fn cid(&self) -> Option<u64> {
        self.has_cid.then_some(self.cid)
    }

    /// The whole record as written (continuation lines included), for evidence.
    pub fn raw(&self) -> &[u8] {
        self.kept.raw()
    }

    pub fn client(&self) -> Option<&[u8]> {
        self.kept.field(CLIENT)
    }

    /// The `server:` field: the server block's first `server_name`.
    pub fn server(&self) -> Option<&[u8]> {
        self.kept.field(SERVER)
    }

    /// The request line as nginx wrote it (unescaped).
    pub fn request(&self) -> Option<&[u8]> {
        self.kept.field(REQUEST)
    }

    pub fn host(&self) -> Option<&[u8]> {
        self.kept.field(HOST)
    }

    /// The upstream peer (see [`upstream_peer`]).
    pub fn peer(&self) -> Option<&[u8]> {
        self.kept.field(PEER)
    }
}

impl ErrorLine<'_> {
    /// The record for the join, its text in an arena of its own (for records read one at a time).
    pub fn to_record(&self, input: usize, line: u64, cause: Cause) -> ErrorRecord {
        self.keep(&mut Keeper::default(), input, line, cause)
    }

    /// The record for the join, its text kept by the `keeper` of the chunk it was read from.
    pub fn keep(&self, keeper: &mut Keeper, input: usize, line: u64, cause: Cause) -> ErrorRecord {
        let mut fields = [None; FIELDS];
        fields[CLIENT] = self.client;
        fields[SERVER] = self.server;
        fields[REQUEST] = self.request;
        fields[HOST] = self.host;
        fields[PEER] = self.upstream.map(upstream_peer);
        ErrorRecord {
            input,
            line,
            local_time: self.local_time,
            level: self.level,
            pid: self.pid,
            cid: self.cid.unwrap_or_default(),
            has_cid: self.cid.is_some(),
            cause,
            source: None,
            kept: keeper.keep(self.raw, fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = br#"2024/05/14 10:22:31 [error] 2817#2817: *48213 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: api.example.com, request: "GET /v1/items?page=2 HTTP/1.1", upstream: "http://10.0.0.12:8080/v1/items?page=2", host: "api.example.com", referrer: "https://app.example.com/""#;

    #[test]
    fn parses_the_documented_line() {
        let l = parse_line(REAL).unwrap();
        assert_eq!(l.level, Level::Error);
        assert_eq!(l.pid, 2817);
        assert_eq!(l.cid, Some(48213));
        assert_eq!(l.message, b"connect() failed (111: Connection refused) while connecting to upstream");
        assert_eq!(l.client, Some(&b"203.0.113.7"[..]));
        assert_eq!(l.server, Some(&b"api.example.com"[..]));
        assert_eq!(l.request, Some(&b"GET /v1/items?page=2 HTTP/1.1"[..]));
        assert_eq!(l.upstream, Some(&b"http://10.0.0.12:8080/v1/items?page=2"[..]));
        assert_eq!(l.host, Some(&b"api.example.com"[..]));
        assert_eq!(l.cause(), Some(Cause::ConnectRefused));
    }

    #[test]
    fn request_with_quotes_and_commas_is_kept_whole() {
        let line = br#"2024/05/14 10:22:31 [error] 1#0: *5 upstream sent too big header while reading response header from upstream, client: ::1, server: _, request: "GET /a", b?x="1" HTTP/1.1", upstream: "http://127.0.0.1:81/a", host: "h""#;
        let l = parse_line(line).unwrap();
        assert_eq!(l.request, Some(&br#"GET /a", b?x="1" HTTP/1.1"#[..]));
        assert_eq!(l.client, Some(&b"::1"[..]));
        assert_eq!(l.cause(), Some(Cause::TooBigHeader));
    }

    #[test]
    fn lines_without_context_or_cid() {
        let l = parse_line(b"2024/05/14 10:22:31 [notice] 12#12: signal process started").unwrap();
        assert_eq!(l.cid, None);
        assert_eq!(l.message, b"signal process started");
        assert_eq!(l.cause(), None);
        assert!(parse_line(b"PHP message: continuation").is_none());
        assert!(parse_line(b"2024/05/14 10:22:31 [bogus] 1#1: x").is_none());
        assert!(parse_line(b"2024/05/14 10:22:31 [error] x#1: x").is_none());
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_kept_record_stays_small() {
        // One is held per upstream error line read; this is what a record costs before its text.
        assert_eq!(std::mem::size_of::<ErrorRecord>(), 96);
    }

    #[test]
    fn a_record_without_cid_has_none() {
        let with = parse_line(REAL).unwrap().to_record(0, 1, Cause::ConnectRefused);
        assert_eq!(with.cid(), Some(48213));
        let line = b"2024/05/14 10:22:31 [error] 1#1: upstream timed out (110: Connection timed out)";
        let without = parse_line(line).unwrap().to_record(0, 1, Cause::ReadTimeout);
        assert_eq!(without.cid(), None);
        let zero = b"2024/05/14 10:22:31 [error] 1#1: *0 upstream timed out (110: Connection timed out)";
        assert_eq!(parse_line(zero).unwrap().to_record(0, 1, Cause::ReadTimeout).cid(), Some(0));
    }

    #[test]
    fn peers() {
        assert_eq!(upstream_peer(b"http://10.0.0.12:8080/v1/items"), b"10.0.0.12:8080");
        assert_eq!(
            upstream_peer(b"fastcgi://unix:/run/php/php8.2-fpm.sock:"),
            b"unix:/run/php/php8.2-fpm.sock"
        );
        assert_eq!(upstream_peer(b"fastcgi://unix:/run/php.sock"), b"unix:/run/php.sock");
        assert_eq!(upstream_peer(b"http://[2001:db8::1]:80/x"), b"[2001:db8::1]:80");
        assert_eq!(upstream_peer(b"http://backend/x"), b"backend");
        assert_eq!(upstream_peer(b"fastcgi://127.0.0.1:9000"), b"127.0.0.1:9000");
    }
}
