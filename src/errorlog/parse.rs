//! nginx error-log lines: header, `*CID`, message and the context fields nginx appends.
//!
//! Layout (nginx `ngx_log_error_core` + `ngx_http_log_error_handler`):
//! `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID MESSAGE, client: A, server: S, request: "R",
//! subrequest: "U", upstream: "U", host: "H", referrer: "F"`. Context values are raw bytes that
//! nginx does not escape, so the parser anchors on the fixed `, key: ` separators in their fixed
//! order. A physical line that does not start with a date continues the previous record
//! (FastCGI stderr relays the application's newlines).

use std::sync::LazyLock;

use super::cause::Cause;
use super::text::{Keeper, Kept, FIELDS};
use crate::access::index::{Index, Needles};
use crate::number::leading_u64;
use crate::swar::word_le;
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
    parse_line_timed(raw, parse_error_log_time)
}

/// [`parse_line`], reading the time of the header (its first 19 bytes) with `time`, for
/// readers that remember the last one.
pub(crate) fn parse_line_timed(raw: &[u8], time: impl FnOnce(&[u8]) -> Option<i64>) -> Option<ErrorLine<'_>> {
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    if !starts_record(line) {
        return None;
    }
    let local_time = time(&line[..19])?;
    let rest = line[19..].strip_prefix(b" [")?;
    let close = find_byte(rest, b']')?;
    let level = Level::parse(&rest[..close])?;
    let rest = rest[close + 1..].strip_prefix(b" ")?;
    // The digits before the first `#`, all of them.
    let (pid, hash) = leading_u64(rest);
    let pid = u32::try_from(pid.filter(|_| rest.get(hash) == Some(&b'#'))?).ok()?;
    let colon = find_byte(&rest[hash..], b':')? + hash;
    let mut rest = rest[colon + 1..].strip_prefix(b" ").unwrap_or(&rest[colon + 1..]);
    let mut cid = None;
    if let Some(after) = rest.strip_prefix(b"*") {
        let digits;
        (cid, digits) = leading_u64(after);
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
    // The context fields start at the first `, client: `. Messages hold few commas (most none),
    // so each is checked in place, cheaper than setting up a substring search per line; the
    // same pass goes on over the values' commas. The commas are classified 64 bytes at a time
    // (the access parser's `Index`) and taken from their masks: a `memchr` call per comma cost
    // its set-up for values a few words long.
    let mut commas = Index::new(rest, &COMMAS);
    if let Some(at) = commas.find(0, 0, |text, comma| starts_with(&text[comma + 1..], b" client: ")) {
        record.message = &rest[..at];
        parse_context(rest, at + 2, &mut commas, &mut record);
    }
    Some(record)
}

/// The one byte the context is cut at.
static COMMAS: LazyLock<Needles> = LazyLock::new(|| Needles::new(b","));

/// The first `byte` in `text`: the spans an error line is cut at (a level, a pid, a context
/// value, a peer) are read in place for their first 32 bytes (see [`crate::swar::find_byte`]).
#[inline]
fn find_byte(text: &[u8], byte: u8) -> Option<usize> {
    crate::swar::find_byte(text, byte, 32)
}

/// Context keys in the order nginx writes them; quoted ones carry `"..."`. No key starts with
/// another, so a text starts with at most one of them (see [`key_at`]).
const KEYS: [(&[u8], bool); 7] = [
    (b"client: ", false),
    (b"server: ", false),
    (b"request: \"", true),
    (b"subrequest: \"", true),
    (b"upstream: \"", true),
    (b"host: \"", true),
    (b"referrer: \"", true),
];

/// The last key: its value is not kept, so reading stops at it.
const REFERRER: usize = KEYS.len() - 1;

/// Reads the context fields of `text` from `start`, where `client: ` is, given the index of
/// its commas.
fn parse_context<'a>(text: &'a [u8], start: usize, commas: &mut Index<'_>, record: &mut ErrorLine<'a>) {
    // The field being read: its key and where its value starts. The keys come in order, and
    // hold no comma: the commas after one are those of its value, then of the fields after it.
    let mut field = Some((0, start + KEYS[0].0.len()));
    let mut from = start;
    while let Some((k, body)) = field.filter(|&(k, _)| k != REFERRER) {
        let quoted = KEYS[k].1;
        // The value ends at the first `, ` before a later key (after the closing quote of a
        // quoted value), which starts the next field.
        field = None;
        let end = loop {
            let Some(comma) = commas.next(0, from) else { break text.len() };
            from = comma + 1;
            let after = text.get(comma + 2..).filter(|_| text[comma + 1] == b' ');
            let Some(later) = after.and_then(key_at).filter(|&later| later > k) else { continue };
            if quoted && !(comma > body && text[comma - 1] == b'"') {
                continue;
            }
            field = Some((later, comma + 2 + KEYS[later].0.len()));
            break comma;
        };
        let value = &text[body..end];
        let value = if quoted { value.strip_suffix(b"\"").unwrap_or(value) } else { value };
        let slot = match k {
            0 => &mut record.client,
            1 => &mut record.server,
            2 => &mut record.request,
            3 => &mut record.subrequest,
            4 => &mut record.upstream,
            _ => &mut record.host,
        };
        *slot = Some(value);
    }
}

/// The key `text` starts with. The keys differ in their first byte, or in their second
/// (`server`, `subrequest`) or third (`request`, `referrer`), so one key is compared, in
/// place: this runs at every field and every comma of a value. Each arm compares its own key,
/// whose length and bytes are then constants of the compare rather than read from the table.
fn key_at(text: &[u8]) -> Option<usize> {
    let key = |k: usize| starts_with(text, KEYS[k].0).then_some(k);
    match *text.first()? {
        b'c' => key(0),
        b's' if text.get(1) == Some(&b'e') => key(1),
        b's' => key(3),
        b'r' if text.get(2) == Some(&b'q') => key(2),
        b'r' => key(REFERRER),
        b'u' => key(4),
        b'h' => key(5),
        _ => None,
    }
}

/// `text.starts_with(prefix)` for the short texts nginx writes in a fixed form (context keys,
/// the start of a message), compared a word at a time in place: a call to `memcmp` for each
/// costs more than the compare.
#[inline]
pub(crate) fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    let n = prefix.len();
    let Some(head) = text.get(..n) else { return false };
    if n < 8 {
        return head.iter().zip(prefix).all(|(a, b)| a == b);
    }
    // Whole words from the start, then the last word (overlapping the one before it).
    let mut at = 0;
    while at + 8 < n {
        if word_le(&head[at..]) != word_le(&prefix[at..]) {
            return false;
        }
        at += 8;
    }
    word_le(&head[n - 8..]) == word_le(&prefix[n - 8..])
}

/// The peer part of an error line's `upstream: "http://10.0.1.11:8080/x"` value: the same
/// string as the matching `$upstream_addr` entry (`10.0.1.11:8080`, `[::1]:80`,
/// `unix:/run/php.sock`, or the upstream block's name after `no live upstreams`).
pub fn upstream_peer(upstream: &[u8]) -> &[u8] {
    let rest = scheme_end(upstream).map_or(upstream, |i| &upstream[i..]);
    if let Some(path) = rest.strip_prefix(b"unix:") {
        let end = find_byte(path, b':').unwrap_or(path.len());
        return &rest[..5 + end];
    }
    if rest.starts_with(b"[") {
        if let Some(close) = find_byte(rest, b']') {
            let end = find_byte(&rest[close..], b'/').map_or(rest.len(), |i| close + i);
            return &rest[..end];
        }
    }
    let end = find_byte(rest, b'/').unwrap_or(rest.len());
    &rest[..end]
}

/// Where the first `://` of `upstream` ends, found from its colons (a value holds a few).
fn scheme_end(upstream: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(colon) = find_byte(&upstream[from..], b':').map(|i| from + i) {
        if upstream[colon + 1..].starts_with(b"//") {
            return Some(colon + 3);
        }
        from = colon + 1;
    }
    None
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
    use proptest::strategy::Strategy;

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
        for pid in [&b""[..], b"1 2", b"12a", b"4294967296"] {
            let line = [&b"2024/05/14 10:22:31 [error] "[..], pid, b"#1: x"].concat();
            assert_eq!(parse_line(&line).map(|l| l.pid), None, "{pid:?}");
        }
        let line = b"2024/05/14 10:22:31 [error] 4294967295#1: x";
        assert_eq!(parse_line(line).map(|l| l.pid), Some(u32::MAX));
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

    /// What a compare per key and a substring search for `, client: ` say: the fields as
    /// nginx's order and separators define them, to check the parser's shortcuts against.
    fn fields_one_key_at_a_time(line: &[u8]) -> Option<Fields<'_>> {
        let message = parse_line(line)?.message;
        let start = message.as_ptr() as usize - line.as_ptr() as usize;
        let rest = &line[start..];
        let mut fields = [None; 6];
        let Some(at) = memchr::memmem::find(rest, b", client: ") else { return Some((rest, fields)) };
        let mut text = &rest[at + 2..];
        for (k, (key, quoted)) in KEYS.iter().enumerate() {
            let Some(body) = text.strip_prefix(*key) else { continue };
            let end = memchr::memchr_iter(b',', body).find_map(|comma| {
                let after = body[comma + 1..].strip_prefix(b" ")?;
                if !KEYS[k + 1..].iter().any(|(later, _)| after.starts_with(later)) {
                    return None;
                }
                match quoted {
                    false => Some(comma),
                    true => comma.checked_sub(1).filter(|&q| body[q] == b'"'),
                }
            });
            let (value, rest) = match end {
                Some(e) => (&body[..e], &body[e + usize::from(*quoted)..]),
                None if *quoted => (body.strip_suffix(b"\"").unwrap_or(body), &body[body.len()..]),
                None => (body, &body[body.len()..]),
            };
            if k == REFERRER {
                break;
            }
            fields[k] = Some(value);
            text = rest.strip_prefix(b", ").unwrap_or(rest);
        }
        Some((&rest[..at], fields))
    }

    /// A line's message and context fields, in the order of `KEYS`.
    type Fields<'a> = (&'a [u8], [Option<&'a [u8]>; 6]);

    fn fields(line: &[u8]) -> Option<Fields<'_>> {
        let l = parse_line(line)?;
        Some((l.message, [l.client, l.server, l.request, l.subrequest, l.upstream, l.host]))
    }

    #[test]
    fn a_text_starts_with_the_key_key_at_names() {
        for (k, (key, _)) in KEYS.iter().enumerate() {
            for (j, (other, _)) in KEYS.iter().enumerate() {
                assert!(j == k || !key.starts_with(other), "{j} starts {k}");
            }
            for tail in [&b""[..], b"x", b"\", host: \"h\""] {
                assert_eq!(key_at(&[key, tail].concat()), Some(k));
            }
            for cut in 0..key.len() {
                assert_eq!(key_at(&key[..cut]), None);
                let mut changed = key.to_vec();
                changed[cut] ^= 0x20;
                assert_eq!(key_at(&changed), None, "{:?}", String::from_utf8_lossy(&changed));
            }
        }
    }

    #[test]
    fn starts_with_is_the_slices() {
        let text = b"upstream prematurely closed connection while reading";
        for n in 0..=text.len() {
            for prefix in [&text[..n], &[&text[..n.saturating_sub(1)], &b"?"[..]].concat()[..]] {
                assert_eq!(starts_with(text, prefix), text.starts_with(prefix), "{n}");
                assert_eq!(starts_with(&text[..n], prefix), text[..n].starts_with(prefix), "{n}");
            }
        }
    }

    #[test]
    fn hostile_contexts_read_as_one_key_at_a_time() {
        let lines: [&[u8]; 9] = [
            REAL,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: a, client: b, server: c, request: "d", e, client: f"#,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: , server: , request: "", subrequest: "", upstream: "", host: "", referrer: """#,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: a, host: "h", server: s, upstream: "u""#,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: a, request: "GET /?q=", upstream: "x", host: "h" HTTP/1.1", upstream: "http://u/", host: "h""#,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: a, request: "GET /, host: "h" HTTP/1.1, host: "h"#,
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x,client: a, client:b, client: c,server: d, server: e"#,
            b"2024/05/14 10:22:31 [error] 1#0: *5 x, client: \xff, server: \xc3, request: \"\x80\", upstream: \"\", subrequest: \"s\", host: \"h",
            br#"2024/05/14 10:22:31 [error] 1#0: *5 x, client: a, server: s, request: "r", subrequest: "q", upstream: "u", host: "h", referrer: "f", host: "g""#,
        ];
        for line in lines {
            assert_eq!(fields(line), fields_one_key_at_a_time(line), "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn long_records_read_as_one_key_at_a_time() {
        // Commas at every place in a 64-byte window and on both sides of the 512 bytes the index
        // classifies at once, in the message and in the values (nginx writes up to 2 KiB).
        for pad in (0..130).chain(440..600).chain([1500, 2100]) {
            let filler = |n: usize| {
                (0..n).map(|i| if i % 37 == 5 { b',' } else { b'a' + (i % 26) as u8 }).collect::<Vec<u8>>()
            };
            let line = [
                &b"2024/05/14 10:22:31 [error] 1#0: *5 "[..],
                &filler(pad),
                b", client: a, server: s, request: \"GET /",
                &filler(pad),
                b", host: \"x\" HTTP/1.1\", upstream: \"http://u/",
                &filler(pad / 3),
                b"\", host: \"h\"",
            ]
            .concat();
            let got = fields(&line);
            assert_eq!(got, fields_one_key_at_a_time(&line), "{pad}");
            assert_eq!(
                got.map(|(message, f)| (message.len(), f[0], f[5])),
                Some((pad, Some(&b"a"[..]), Some(&b"h"[..])))
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_context_reads_as_one_key_at_a_time(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(KEYS.map(|(key, _)| key).to_vec()).prop_map(<[u8]>::to_vec),
                proptest::sample::select(vec![&b", "[..], b",", b"\"", b"\", ", b" ", b"client: "]).prop_map(<[u8]>::to_vec),
                "[a-z0-9./:?=\" ,]{0,6}".prop_map(String::into_bytes),
            ], 0..24),
        ) {
            let line = [&b"2024/05/14 10:22:31 [error] 1#0: *5 x, client: "[..], &pieces.concat()].concat();
            proptest::prop_assert_eq!(fields(&line), fields_one_key_at_a_time(&line));
        }
    }

    proptest::proptest! {
        #[test]
        fn the_scheme_ends_after_the_first_colon_slash_slash(upstream in "[:/a-z]{0,40}") {
            let upstream = upstream.as_bytes();
            let first = memchr::memmem::find(upstream, b"://").map(|i| i + 3);
            proptest::prop_assert_eq!(scheme_end(upstream), first);
        }
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
        // After the first `://`, wherever the colons before it are.
        assert_eq!(upstream_peer(b"a:b:/c://d:1/x://y"), b"d:1");
        assert_eq!(upstream_peer(b"http:/x:/"), b"http:");
        assert_eq!(upstream_peer(b"://"), b"");
    }
}
