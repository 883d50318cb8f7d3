//! Lines that look like upstream failures and are not: the client's own TLS or protocol errors,
//! Lua timers and cosockets (which connect by themselves, not through an `upstream`), notes
//! about temporary files, module and debug lines logged while a request waits for its upstream.
//! Counting them would blame a backend for a scanner's bad handshake or a Redis client's timeout.

use std::cell::Cell;

use super::cause::{classify_found, unix_upstream, Cause};
use super::needles::{Found, Needle};
use super::parse::{ErrorLine, Level};

/// `[warn]` notes that name the upstream phase but report buffering, not a failure.
const NOTES: [&[u8]; 3] = [
    b"an upstream response is buffered to a temporary file",
    b"a client request body is buffered to a temporary file",
    b"upstream sent more data than specified",
];

impl ErrorLine<'_> {
    /// The cause this line reports, if it is about an upstream failure. An unrecognised
    /// upstream message below `[error]` (buffering notes, warnings) is not a failure, nor is
    /// anything this module rules out.
    pub fn cause(&self) -> Option<Cause> {
        self.cause_asking(|| self.is_unix())
    }

    /// [`ErrorLine::cause`], asking `unix` whether the `upstream:` field names a unix socket
    /// (only some connect errors ask). It reads nothing else of the line than the message, the
    /// level and whether there are `client:` and `upstream:` fields: what [`Causes`] remembers
    /// an answer by.
    fn cause_asking(&self, unix: impl Fn() -> bool) -> Option<Cause> {
        if is_a_note(self) {
            return None;
        }
        // One pass over the message answers both this module's questions and the signatures'.
        let found = Found::in_text(self.message);
        if not_an_upstream_failure(self, found) {
            return None;
        }
        classify_found(self.message, self.upstream.is_some(), unix, found)
            .filter(|c| *c != Cause::OtherUpstreamError || self.level <= Level::Error)
    }

    fn is_unix(&self) -> bool {
        self.upstream.is_some_and(unix_upstream)
    }
}

/// The causes of the lines one piece of a log held, remembered by message. An incident's log
/// repeats a few dozen messages (`connect() failed (111: Connection refused) while connecting
/// to upstream`) hundreds of thousands of times, each a search of the whole message and a
/// string of compares to decide; a message seen before is answered by one compare. A line is
/// answered from memory only when everything [`ErrorLine::cause`] reads of it is what the
/// answer was found for, so the answer is the same as asking the line.
pub(crate) struct Causes<'a> {
    slots: [Option<Remembered<'a>>; SLOTS],
}

/// Remembered answers: a few hundred, more than the distinct fixed messages of any incident
/// (the others, FastCGI stderr and file paths, seldom repeat and are read in full anyway).
const SLOTS: usize = 256;

/// An answer, and the line it holds for.
#[derive(Clone, Copy)]
struct Remembered<'a> {
    message: &'a [u8],
    /// See [`shape`].
    shape: u8,
    /// Whether the `upstream:` field named a unix socket, when the answer depended on it.
    unix: Option<bool>,
    cause: Option<Cause>,
}

impl<'a> Causes<'a> {
    pub(crate) fn new() -> Causes<'a> {
        Causes { slots: [None; SLOTS] }
    }

    /// The cause of `line`: the same as [`ErrorLine::cause`].
    pub(crate) fn cause(&mut self, line: &ErrorLine<'a>) -> Option<Cause> {
        let shape = shape(line);
        let slot = slot(line.message, shape);
        if let Some(r) = self.slots[slot] {
            if r.shape == shape && r.message == line.message && r.unix.is_none_or(|u| u == line.is_unix()) {
                return r.cause;
            }
        }
        let asked = Cell::new(None);
        let cause = line.cause_asking(|| {
            let unix = line.is_unix();
            asked.set(Some(unix));
            unix
        });
        self.slots[slot] = Some(Remembered { message: line.message, shape, unix: asked.get(), cause });
        cause
    }
}

/// What [`ErrorLine::cause`] reads of a line besides its message (and the unix socket, asked
/// for), in one byte.
fn shape(line: &ErrorLine<'_>) -> u8 {
    line.level as u8 | u8::from(line.client.is_some()) << 3 | u8::from(line.upstream.is_some()) << 4
}

/// The slot a message is remembered in: from its length and three words of it (the start, the
/// middle and the end, where nginx's fixed messages differ: the call, the errno, the phase).
fn slot(message: &[u8], shape: u8) -> usize {
    let n = message.len();
    let word = |at: usize| {
        let mut bytes = [0; 8];
        match message.get(at..at + 8) {
            Some(whole) => bytes.copy_from_slice(whole),
            // Past the end of a short message: what there is, zero-padded.
            None => message.iter().skip(at).zip(&mut bytes).for_each(|(b, to)| *to = *b),
        }
        u64::from_le_bytes(bytes)
    };
    let mixed = (n as u64 | u64::from(shape) << 56)
        ^ word(0)
        ^ word(n / 2).rotate_left(21)
        ^ word(n.saturating_sub(8)).rotate_left(42);
    // The top bits of a multiplicative hash, which every input bit reaches.
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// Debug lines and buffering notes: never failures, known without reading the whole message.
fn is_a_note(line: &ErrorLine<'_>) -> bool {
    line.level == Level::Debug || NOTES.iter().any(|n| line.message.starts_with(n))
}

/// Whether `line` (not a note), whose message contains the needles `found`, is certainly not
/// about a failed upstream attempt.
fn not_an_upstream_failure(line: &ErrorLine<'_>, found: Found) -> bool {
    let m = line.message;
    // A FastCGI backend's stderr is an upstream's, whatever its text says.
    if m.starts_with(super::cause::FASTCGI_STDERR) {
        return false;
    }
    // Module lines carry their tag (`[lua] balancer.lua:…`, `[njs]`); Lua timers run outside any
    // request and say so in their context; cosockets name themselves.
    if m.starts_with(b"[")
        || found.has(Needle::LuaContext)
        || found.has(Needle::LuaTcpSocket)
        || found.has(Needle::LuaUdpSocket)
    {
        return true;
    }
    if line.upstream.is_some() {
        return false;
    }
    match super::cause::action(m) {
        // The client's side of the connection: `while SSL handshaking`, `while reading client
        // request line`, `while waiting for request`. (`sending to client` ends an upstream
        // response or an auth subrequest, and is left to the signatures.)
        Some(action) => {
            finder!(b"upstream").find(action).is_none() && !action.starts_with(b"sending to client")
        }
        // nginx writes `while connecting to upstream` and an `upstream:` field on its own connect
        // failures; a connect error with the request's context and neither is a Lua cosocket's.
        None => {
            line.client.is_some() && (m.starts_with(b"connect() ") || found.has(Needle::SpacedConnectFailed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Causes;
    use crate::errorlog::parse_line;

    fn cause(line: &str) -> Option<&'static str> {
        parse_line(line.as_bytes()).unwrap().cause().map(|c| c.slug())
    }

    #[test]
    fn client_tls_and_protocol_errors_are_not_upstream_failures() {
        assert_eq!(cause("2024/05/14 10:22:31 [crit] 7#7: *4170 SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: 198.51.100.9, server: 0.0.0.0:443"), None);
        assert_eq!(cause("2024/05/14 10:22:31 [info] 7#7: *12 peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking, client: 198.51.100.9, server: 0.0.0.0:443"), None);
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *13 recv() failed (104: Connection reset by peer) while reading client request line, client: 198.51.100.9, server: _"), None);
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *5 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"https://10.0.0.1:80/\", host: \"a\""), Some("ssl_handshake"));
    }

    #[test]
    fn lua_timers_and_cosockets_are_not_upstream_failures() {
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *1 connect() failed (111: Connection refused), context: ngx.timer"), None);
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *3 connect() failed (111: Connection refused), client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"localhost\""), None);
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *3 lua tcp socket connect timed out, when connecting to 10.0.0.5:6379, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"localhost\""), None);
        assert_eq!(cause("2024/05/14 10:22:31 [error] 7#7: *8 [lua] balancer.lua:91: error while setting current upstream peer while connecting to upstream, client: 1.2.3.4, server: _, request: \"GET / HTTP/1.1\", host: \"h\""), None);
    }

    #[test]
    fn a_fastcgi_backends_stderr_is_the_backends_whatever_it_says() {
        let fastcgi = |text: &str| {
            cause(&format!("2024/05/14 10:22:31 [error] 7#7: *9 FastCGI sent in stderr: \"PHP message: {text}\" while reading response header from upstream, client: 1.2.3.4, server: _, request: \"GET /x.php HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\", host: \"h\""))
        };
        for text in [
            "db.internal could not be resolved (3: Host not found)",
            "client prematurely closed connection",
            "lua tcp socket read timed out",
            "[lua] worker_connections are not enough, context: ngx.timer",
        ] {
            assert_eq!(fastcgi(text), Some("fastcgi_stderr"), "{text}");
        }
        assert_eq!(fastcgi("Primary script unknown"), Some("fastcgi_primary_script_unknown"));
        // Without an `upstream:` field or a phase, still the backend's.
        assert_eq!(
            cause("2024/05/14 10:22:31 [error] 7#7: *9 FastCGI sent in stderr: \"PHP message: mysqli connect() failed (111: Connection refused)\", client: 1.2.3.4, server: _"),
            Some("fastcgi_stderr")
        );
    }

    /// Lines of every shape the memory of [`Causes`] tells apart: the same messages at
    /// different levels, with and without `client:` and `upstream:`, on unix sockets and not.
    fn lines() -> Vec<String> {
        let messages = [
            "connect() failed (111: Connection refused) while connecting to upstream",
            "connect() failed (2: No such file or directory) while connecting to upstream",
            "connect() failed (13: Permission denied) while connecting to upstream",
            "connect() to unix:/run/php.sock failed (2: No such file or directory) while connecting to upstream",
            "connect() failed (111: Connection refused)",
            "upstream timed out (110: Connection timed out) while reading response header from upstream",
            "upstream timed out (110: Connection timed out) while reading upstream",
            "upstream sent something odd while reading upstream",
            "upstream sent something odd",
            "open() \"/var/www/x\" failed (2: No such file or directory)",
            "an upstream response is buffered to a temporary file /tmp/1 while reading upstream",
            "FastCGI sent in stderr: \"PHP message: could not be resolved (3: x)\"",
            "x",
            "",
        ];
        let contexts = [
            "",
            ", client: 1.2.3.4, server: a",
            ", client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.1:80/\"",
            ", client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php.sock:\"",
            ", client: 1.2.3.4, upstream: \"http://h/?a=fastcgi://unix:/x\"",
        ];
        let mut lines = Vec::new();
        for level in ["error", "warn", "crit", "info", "debug"] {
            for message in messages {
                for context in contexts {
                    lines.push(format!("2024/05/14 10:22:31 [{level}] 7#7: *9 {message}{context}"));
                }
            }
        }
        lines
    }

    #[test]
    fn remembered_causes_are_the_lines_own_in_any_order() {
        let lines = lines();
        let parsed: Vec<_> = lines.iter().map(|l| parse_line(l.as_bytes()).unwrap()).collect();
        let want: Vec<_> = parsed.iter().map(|l| l.cause()).collect();
        // Each line read after each other one: every answer remembered meets every shape.
        let mut causes = Causes::new();
        for (i, line) in parsed.iter().enumerate() {
            for (j, other) in parsed.iter().enumerate() {
                assert_eq!(causes.cause(other), want[j], "{}", lines[j]);
                assert_eq!(causes.cause(line), want[i], "{} after {}", lines[i], lines[j]);
            }
        }
        let distinct: std::collections::HashSet<_> = want.iter().collect();
        assert!(distinct.len() > 8, "the lines have many causes: {distinct:?}");
    }

    proptest::proptest! {
        #[test]
        fn remembered_causes_are_the_lines_own(picks in proptest::collection::vec(0..350usize, 1..400)) {
            let lines = lines();
            let parsed: Vec<_> = lines.iter().map(|l| parse_line(l.as_bytes()).unwrap()).collect();
            let mut causes = Causes::new();
            for i in picks {
                let line = &parsed[i % parsed.len()];
                proptest::prop_assert_eq!(causes.cause(line), line.cause());
            }
        }
    }

    #[test]
    fn the_phase_is_the_text_after_the_last_while() {
        use crate::errorlog::cause::action;
        assert_eq!(action(b"x while reading upstream"), Some(&b"reading upstream"[..]));
        assert_eq!(action(b"a while b while c"), Some(&b"c"[..]));
        assert_eq!(action(b" while while "), Some(&b""[..]));
        assert_eq!(action(b"while reading"), None);
        assert_eq!(action(b"awhile x"), None);
        assert_eq!(action(b""), None);
    }

    #[test]
    fn notes_debug_and_a_disabled_server_alone_are_not_failures() {
        assert_eq!(cause("2024/05/14 10:22:31 [warn] 7#7: *9 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client: 1.2.3.4, server: _, request: \"GET /big HTTP/1.1\", upstream: \"http://10.0.0.1:80/big\", host: \"h\""), None);
        assert_eq!(cause("2024/05/14 10:22:31 [debug] 7#7: *9 http upstream request: \"/x?\" while reading response header from upstream, client: 1.2.3.4, server: _, request: \"GET /x HTTP/1.1\", upstream: \"http://10.0.0.1:80/x\", host: \"h\""), None);
        let disabled = cause("2024/05/14 10:22:31 [warn] 7#7: *9 upstream server temporarily disabled while connecting to upstream, client: 1.2.3.4, server: _, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.1:80/\", host: \"h\"");
        assert_eq!(disabled, Some("server_disabled"));
        assert_eq!(crate::errorlog::Cause::ServerDisabled.role(), crate::errorlog::Role::Evidence);
    }
}
