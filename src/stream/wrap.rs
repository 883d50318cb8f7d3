//! Recognising and stripping what a platform wraps around each nginx line, layer by layer.
//!
//! Each recogniser looks at the first bytes only (no regex, no allocation): CRI node files
//! (`TS stdout|stderr P|F `), `docker logs -t` / `kubectl logs --timestamps` (a fixed nine-digit
//! RFC 3339 stamp), compose / forego / swarm (`name  | `, possibly in ANSI colour),
//! `kubectl logs --prefix` (`[pod/NAME/CONTAINER] `), RFC 3164 syslog as nginx sends it
//! (`<PRI>Mon dd HH:MM:SS host tag: `, `nohostname` too) or as rsyslog stores it, and
//! `journalctl` short output (`Mon dd HH:MM:SS host nginx[pid]: `, with the `host nginx: ` that
//! nginx's own syslog header leaves inside the message). Layers nest (compose around forego), so
//! peeling repeats until no recogniser matches. Docker's json-file layer needs a JSON decoder and
//! lives in [`super::json_file`].

/// Which of a container's output streams a line came from, when the wrapper says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pipe {
    Stdout,
    Stderr,
}

/// The wrappers seen in an input, as bits, so the inputs table can name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wrappers(pub u16);

impl Wrappers {
    pub const JSON_FILE: Wrappers = Wrappers(1);
    pub const CRI: Wrappers = Wrappers(2);
    pub const TIMESTAMPS: Wrappers = Wrappers(4);
    pub const COMPOSE: Wrappers = Wrappers(8);
    pub const KUBECTL_PREFIX: Wrappers = Wrappers(16);
    pub const SYSLOG: Wrappers = Wrappers(32);
    pub const JOURNAL: Wrappers = Wrappers(64);
    const NAMES: [&'static str; 7] = [
        "docker json-file",
        "CRI",
        "runtime timestamps",
        "compose prefix",
        "kubectl --prefix",
        "syslog",
        "journald",
    ];

    pub fn add(&mut self, other: Wrappers) {
        self.0 |= other.0;
    }

    pub fn contains(self, other: Wrappers) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `docker json-file + compose prefix`, in a fixed order.
    pub fn describe(self) -> String {
        let names: Vec<&str> =
            Self::NAMES.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, n)| *n).collect();
        names.join(" + ")
    }
}

/// A line with its wrappers taken off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peeled<'a> {
    /// The line as the program inside wrote it (a fragment of it when `partial`).
    pub body: &'a [u8],
    /// The container, pod or host a prefix named (the outermost one).
    pub source: Option<&'a [u8]>,
    pub pipe: Option<Pipe>,
    /// The runtime split the line: the rest follows in later records of the same pipe.
    pub partial: bool,
    pub wrappers: Wrappers,
}

/// Nesting deeper than this is not a real platform's output; the rest is left as the body.
const MAX_LAYERS: usize = 8;

/// Peels the text wrappers off `line` (whose JSON layer, if any, is already decoded).
pub fn peel(line: &[u8]) -> Peeled<'_> {
    let mut p =
        Peeled { body: line, source: None, pipe: None, partial: false, wrappers: Wrappers::default() };
    let mut syslog_host: Option<&[u8]> = None;
    for _ in 0..MAX_LAYERS {
        let body = skip_ansi(p.body);
        if let Some((len, pipe, partial)) = cri(body) {
            p.pipe = p.pipe.or(Some(pipe));
            p.partial |= partial;
            p.wrappers.add(Wrappers::CRI);
            p.body = &body[len..];
        } else if let Some(len) = fixed_timestamp(body).filter(|&n| body.get(n) == Some(&b' ')) {
            p.wrappers.add(Wrappers::TIMESTAMPS);
            p.body = &body[len + 1..];
        } else if let Some((len, name)) = kubectl_prefix(body) {
            p.source = p.source.or(Some(name));
            p.wrappers.add(Wrappers::KUBECTL_PREFIX);
            p.body = &body[len..];
        } else if let Some((len, name)) = compose_prefix(body) {
            p.source = p.source.or(Some(name));
            p.wrappers.add(Wrappers::COMPOSE);
            p.body = &body[len..];
        } else if let Some((len, host, journal)) = syslog(body) {
            p.source = p.source.or(host);
            syslog_host = host.or(syslog_host);
            p.wrappers.add(if journal { Wrappers::JOURNAL } else { Wrappers::SYSLOG });
            p.body = &body[len..];
        } else if let Some(len) = syslog_host.and_then(|h| host_tag(body, h)) {
            // nginx's own `host nginx: ` header inside a journald or rsyslog message.
            p.body = &body[len..];
        } else {
            p.body = body;
            break;
        }
    }
    p.body = p.body.strip_suffix(b"\r").unwrap_or(p.body);
    p
}

/// Skips ANSI escape sequences (`ESC [ params final`) at the start: compose and forego colour
/// their prefixes and reset after them.
fn skip_ansi(mut s: &[u8]) -> &[u8] {
    while let [0x1b, b'[', rest @ ..] = s {
        let params = rest.iter().take_while(|b| b.is_ascii_digit() || **b == b';').count();
        match rest.get(params) {
            Some(b) if b.is_ascii_alphabetic() => s = &rest[params + 1..],
            _ => break,
        }
    }
    s
}

fn all_digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// `HH:MM:SS`.
fn is_clock(s: &[u8]) -> bool {
    s.len() == 8
        && all_digits(&s[..2])
        && s[2] == b':'
        && all_digits(&s[3..5])
        && s[5] == b':'
        && all_digits(&s[6..])
}

/// Length of an RFC 3339 timestamp at the start of `s` (`2024-01-01T00:00:00[.f…](Z|±hh:mm)`)
/// and how many fraction digits it has.
fn rfc3339(s: &[u8]) -> Option<(usize, usize)> {
    let head = s.get(..19)?;
    let shape = all_digits(&head[..4])
        && head[4] == b'-'
        && all_digits(&head[5..7])
        && head[7] == b'-'
        && all_digits(&head[8..10])
        && head[10] == b'T'
        && is_clock(&head[11..19]);
    if !shape {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0;
    if s.get(i) == Some(&b'.') {
        fraction = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if fraction == 0 {
            return None;
        }
        i += 1 + fraction;
    }
    match s.get(i)? {
        b'Z' => Some((i + 1, fraction)),
        b'+' | b'-' => {
            let zone = s.get(i + 1..i + 6)?;
            (all_digits(&zone[..2]) && zone[2] == b':' && all_digits(&zone[3..])).then_some((i + 6, fraction))
        }
        _ => None,
    }
}

/// The fixed nine-digit stamp `docker logs -t` and `kubectl logs --timestamps` put before each
/// line (`RFC3339NanoFixed`). Requiring nine digits keeps an access format that starts with
/// `$time_iso8601` from losing its own time.
pub fn fixed_timestamp(s: &[u8]) -> Option<usize> {
    rfc3339(s).filter(|&(_, fraction)| fraction == 9).map(|(len, _)| len)
}

/// A CRI log record's header: `TS stdout|stderr TAG ` where the first character of the tag is
/// `P` (partial) or `F` (full). Returns the header length, the pipe and whether it is partial.
fn cri(s: &[u8]) -> Option<(usize, Pipe, bool)> {
    let (ts, _) = rfc3339(s)?;
    let rest = s[ts..].strip_prefix(b" ")?;
    let (pipe, rest) = if let Some(r) = rest.strip_prefix(b"stdout ") {
        (Pipe::Stdout, r)
    } else {
        (Pipe::Stderr, rest.strip_prefix(b"stderr ")?)
    };
    let tag_len = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let partial = match rest.first()? {
        b'P' => true,
        b'F' => false,
        _ => return None,
    };
    let header = s.len() - rest.len() + tag_len;
    Some(((header + 1).min(s.len()), pipe, partial))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-')
}

/// `name<spaces>| `: compose (`web-1  | `, `server_1  | `), forego (`nginx.1     | `) and swarm
/// (`svc.1.task@node    | `).
fn compose_prefix(s: &[u8]) -> Option<(usize, &[u8])> {
    if !s.first()?.is_ascii_alphanumeric() {
        return None;
    }
    let name = s.iter().take_while(|b| is_name_byte(**b)).count();
    let pad = s[name..].iter().take_while(|b| **b == b' ').count();
    if pad == 0 || s.get(name + pad) != Some(&b'|') {
        return None;
    }
    let end = name + pad + 1;
    let len = if s.get(end) == Some(&b' ') { end + 1 } else { end };
    (len == s.len() || s[end] == b' ').then_some((len, &s[..name]))
}

/// `[pod/NAME/CONTAINER] ` of `kubectl logs --prefix`; the source is `pod/NAME/CONTAINER`.
fn kubectl_prefix(s: &[u8]) -> Option<(usize, &[u8])> {
    let inner = s.strip_prefix(b"[pod/")?;
    let close = memchr::memchr(b']', inner)?;
    let name = &inner[..close];
    if memchr::memchr(b'/', name).is_none() || memchr::memchr(b' ', name).is_some() {
        return None;
    }
    let len = 5 + close + 1;
    let len = if s.get(len) == Some(&b' ') { len + 1 } else { len };
    Some((len, &s[1..5 + close]))
}

/// An RFC 3164 header: optional `<PRI>`, `Mon dd HH:MM:SS `, then `host tag: ` or (nginx's
/// `nohostname`) `tag: `, the tag possibly with `[pid]`. Returns the length, the host, and
/// whether it looks like journald's short output (no PRI, `tag[pid]`).
fn syslog(s: &[u8]) -> Option<(usize, Option<&[u8]>, bool)> {
    let (pri, rest) = match s.strip_prefix(b"<") {
        Some(r) => {
            let digits = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=3).contains(&digits) || r.get(digits) != Some(&b'>') {
                return None;
            }
            (digits + 2, &r[digits + 1..])
        }
        None => (0, s),
    };
    let stamp = rest.get(..16)?;
    let shape = stamp[0].is_ascii_uppercase()
        && stamp[1].is_ascii_lowercase()
        && stamp[2].is_ascii_lowercase()
        && stamp[3] == b' '
        && (stamp[4] == b' ' || stamp[4].is_ascii_digit())
        && stamp[5].is_ascii_digit()
        && stamp[6] == b' '
        && is_clock(&stamp[7..15])
        && stamp[15] == b' ';
    if !shape {
        return None;
    }
    let after = &rest[16..];
    let first = token(after)?;
    if let Some(tag_len) = tag(first) {
        return Some((pri + 16 + tag_len + 1, None, false));
    }
    let second = token(after.get(first.len() + 1..)?)?;
    let tag_len = tag(second)?;
    let journal = pri == 0 && second.ends_with(b"]:");
    let len = pri + 16 + first.len() + 1 + tag_len + 1;
    Some((len.min(s.len()), Some(first), journal))
}

/// The bytes up to the next space (or the end).
fn token(s: &[u8]) -> Option<&[u8]> {
    let end = memchr::memchr(b' ', s).unwrap_or(s.len());
    (end > 0).then_some(&s[..end])
}

/// A syslog tag with its colon (`nginx:`, `nginx[42]:`): its length, or `None`.
fn tag(t: &[u8]) -> Option<usize> {
    let name = t.strip_suffix(b":")?;
    let name = match name.strip_suffix(b"]") {
        Some(n) => {
            let open = memchr::memrchr(b'[', n)?;
            if open == 0 || !all_digits(&n[open + 1..]) {
                return None;
            }
            &n[..open]
        }
        None => name,
    };
    let ok = !name.is_empty()
        && name.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    ok.then_some(t.len())
}

/// `host tag: ` for the given host at the start of `s`: its length.
fn host_tag(s: &[u8], host: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(host)?.strip_prefix(b" ")?;
    let t = token(rest)?;
    let len = tag(t)?;
    let total = host.len() + 1 + len;
    Some(if s.get(total) == Some(&b' ') { total + 1 } else { total })
}

/// Removes the stamps `docker logs -t` and `kubectl logs --timestamps` inject inside a long line
/// (each 16 KiB piece of a split line gets its own). Only lines long enough to have been split
/// are searched; `out` receives the line without them when there were any.
pub fn strip_injected_stamps<'a>(body: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
    const SHORTEST_SPLIT: usize = 4096;
    if body.len() < SHORTEST_SPLIT {
        return body;
    }
    out.clear();
    let mut copied = 0;
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'T', &body[at..]).map(|i| at + i) {
        at = i + 1;
        let Some(start) = i.checked_sub(10) else { continue };
        if start < copied {
            continue;
        }
        if let Some(len) = fixed_timestamp(&body[start..]).filter(|&n| body.get(start + n) == Some(&b' ')) {
            out.extend_from_slice(&body[copied..start]);
            copied = start + len + 1;
            at = copied;
        }
    }
    if copied == 0 {
        return body;
    }
    out.extend_from_slice(&body[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &[u8] =
        br#"10.0.0.1 - - [01/Jan/2024:12:00:00 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0""#;

    fn body(line: &[u8]) -> (&[u8], Option<&[u8]>) {
        let p = peel(line);
        (p.body, p.source)
    }

    #[test]
    fn plain_lines_are_left_alone() {
        assert_eq!(peel(ACCESS).body, ACCESS);
        assert!(peel(ACCESS).wrappers.is_empty());
        let error = b"2024/01/01 12:00:00 [error] 31#31: *5 connect() failed";
        assert_eq!(peel(error).body, error);
        let iso = b"2024-01-01T12:00:00+00:00 10.0.0.1 GET / 502";
        assert_eq!(peel(iso).body, iso, "an access format's own $time_iso8601 stays");
        let ts_fraction = b"2024-01-01T12:00:00.123+00:00 10.0.0.1 GET / 502";
        assert_eq!(peel(ts_fraction).body, ts_fraction);
    }

    #[test]
    fn cri_records_in_both_zone_forms() {
        let containerd = [b"2016-10-06T00:17:09.669794202Z stdout F ".as_slice(), ACCESS].concat();
        let p = peel(&containerd);
        assert_eq!((p.body, p.pipe, p.partial), (ACCESS, Some(Pipe::Stdout), false));
        let trimmed = b"2016-10-06T00:17:09.6697Z stderr P 2024/01/01 12:00:00 [error]";
        let p = peel(trimmed);
        assert_eq!(
            (p.body, p.pipe, p.partial),
            (&b"2024/01/01 12:00:00 [error]"[..], Some(Pipe::Stderr), true)
        );
        let crio = b"2024-01-01T12:00:00.123456789+02:00 stdout F:extra hello";
        assert_eq!(peel(crio).body, b"hello");
        let empty = b"2024-01-01T12:00:00.123456789+02:00 stdout F";
        assert_eq!(peel(empty).body, b"");
        assert_eq!(peel(b"2024-01-01T12:00:00.1Z stdin F x").body, b"2024-01-01T12:00:00.1Z stdin F x");
    }

    #[test]
    fn runtime_timestamps_and_prefixes_nest() {
        let t = [b"2024-04-09T17:33:12.238986028Z ".as_slice(), ACCESS].concat();
        assert_eq!(body(&t), (ACCESS, None));
        let compose = [b"web-1  | ".as_slice(), ACCESS].concat();
        assert_eq!(body(&compose), (ACCESS, Some(&b"web-1"[..])));
        let compose_t = [b"web-1  | 2024-01-01T00:00:00.123456789Z ".as_slice(), ACCESS].concat();
        assert_eq!(body(&compose_t), (ACCESS, Some(&b"web-1"[..])));
        let coloured =
            [b"\x1b[36mproxy_1  | \x1b[0m\x1b[0;33;1mnginx.1     | \x1b[0m".as_slice(), ACCESS].concat();
        let p = peel(&coloured);
        assert_eq!((p.body, p.source), (ACCESS, Some(&b"proxy_1"[..])));
        assert!(p.wrappers.contains(Wrappers::COMPOSE));
        let swarm = [b"svc.1.y7trhjwm1b5g@flut    | ".as_slice(), ACCESS].concat();
        assert_eq!(body(&swarm), (ACCESS, Some(&b"svc.1.y7trhjwm1b5g@flut"[..])));
        let kubectl = [b"[pod/web-7d9/nginx] ".as_slice(), ACCESS].concat();
        assert_eq!(body(&kubectl), (ACCESS, Some(&b"pod/web-7d9/nginx"[..])));
        assert_eq!(body(b"web-1  |"), (&b""[..], Some(&b"web-1"[..])));
        assert_eq!(body(b"web-1  |x").0, b"web-1  |x");
    }

    #[test]
    fn syslog_and_journald_headers() {
        let nginx = [b"<190>Jan  1 12:00:00 web01 nginx: ".as_slice(), ACCESS].concat();
        assert_eq!(body(&nginx), (ACCESS, Some(&b"web01"[..])));
        let nohostname = [b"<187>Jan 11 12:00:00 nginx: ".as_slice(), ACCESS].concat();
        assert_eq!(body(&nohostname), (ACCESS, None));
        let rsyslog = [b"Jan  1 12:00:00 web01 nginx: ".as_slice(), ACCESS].concat();
        assert_eq!(body(&rsyslog), (ACCESS, Some(&b"web01"[..])));
        let journal = b"Apr 21 08:12:57 box nginx[30944]: 2025/04/21 08:12:57 [notice] 30944#30944: signal process started";
        let p = peel(journal);
        assert_eq!(p.body, &b"2025/04/21 08:12:57 [notice] 30944#30944: signal process started"[..]);
        assert!(p.wrappers.contains(Wrappers::JOURNAL));
        let inside =
            b"Apr 21 08:13:58 box nginx[30946]: box nginx: 2025/04/21 08:13:58 [error] 30946#30946: *17 x";
        assert_eq!(body(inside).0, b"2025/04/21 08:13:58 [error] 30946#30946: *17 x");
        let systemd = b"Apr 21 08:12:57 box systemd[1]: Reloaded nginx.service";
        assert_eq!(body(systemd).0, b"Reloaded nginx.service");
        assert_eq!(body(b"<19x>Jan  1 12:00:00 a b: c").0, b"<19x>Jan  1 12:00:00 a b: c");
    }

    #[test]
    fn tty_line_ends_and_injected_stamps() {
        assert_eq!(peel(b"web-1  | hello\r").body, b"hello");
        let long = [vec![b'a'; 16384], b"2024-04-09T17:33:12.238986028Z ".to_vec(), vec![b'b'; 10]].concat();
        let mut out = Vec::new();
        let cleaned = strip_injected_stamps(&long, &mut out);
        assert_eq!(cleaned, [vec![b'a'; 16384], vec![b'b'; 10]].concat());
        let mut out = Vec::new();
        assert_eq!(strip_injected_stamps(ACCESS, &mut out), ACCESS);
    }
}
