//! The upstream-failure taxonomy: nginx error-log signatures → a cause, the status it gives the
//! client, and what to fix. The signatures and statuses are read from nginx's source (see
//! `docs/causes.md`); slugs are a stable contract for JSON, CSV, Parquet and Prometheus.

use super::needles::{Found, Needle};

/// What an error line of this cause means for the request it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The attempt failed; if it was the last attempt, this is why the client got an error.
    Terminal,
    /// Context for a failure (FastCGI stderr, a peer being disabled), never the cause itself.
    Evidence,
    /// Not an upstream failure a client saw as 5xx: 499s, cut bodies, WebSocket timeouts.
    NotAFailure,
    /// Decided from the access log alone (no error line).
    AccessOnly,
}

/// Everything ngx502 knows about a cause.
pub struct CauseInfo {
    pub slug: &'static str,
    /// The status nginx gives the client when this is the last attempt; `None` where it varies.
    pub status: Option<u16>,
    pub phase: &'static str,
    pub role: Role,
    /// One line: what happened.
    pub summary: &'static str,
    /// The checklist to fix it, most likely first.
    pub fix: &'static [&'static str],
}

const CHECK_BACKEND: &str = "Is the backend running? `systemctl status <service>`, its process manager, its own logs around the first failure.";
const CURL_PEER: &str =
    "Test the address nginx used, from the nginx host: `curl -v http://<upstream>/` (the upstream column).";
const CHECK_PROXY_PASS: &str =
    "Check the `proxy_pass`/`fastcgi_pass` address and port and the `upstream {}` block they name.";
const KEEPALIVE_RACE: &str = "Make the backend's idle keep-alive timeout longer than `keepalive_timeout` in the nginx `upstream {}` block (default 60s).";

/// Declares every cause once: the enum, `Cause::ALL` in declaration order (the order reports use
/// when counts tie), and `Cause::info`.
macro_rules! causes {
    ($($variant:ident => $slug:expr, $status:expr, $phase:expr, $role:ident, $summary:expr,
        [$($fix:expr),* $(,)?];)*) => {
        /// Why an upstream attempt failed (or why a 5xx has no upstream failure behind it).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Cause {
            $($variant),*
        }

        impl Cause {
            /// Every cause, in declaration order.
            pub const ALL: [Cause; [$(stringify!($variant)),*].len()] = [$(Cause::$variant),*];

            /// Everything ngx502 knows about this cause.
            pub fn info(self) -> &'static CauseInfo {
                match self {
                    $(Cause::$variant => &CauseInfo {
                        slug: $slug,
                        status: $status,
                        phase: $phase,
                        role: Role::$role,
                        summary: $summary,
                        fix: &[$($fix),*],
                    },)*
                }
            }
        }
    };
}

causes! {
    ConnectRefused => "connect_refused", Some(502), "connect", Terminal,
        "Nothing listens on the upstream's port: the backend is down, restarting or deploying, or the port is wrong (on a unix: socket, a stale socket file).",
        [CHECK_BACKEND, CURL_PEER, CHECK_PROXY_PASS,
         "Give the upstream more than one `server` (or a `backup`) so `proxy_next_upstream error` can retry elsewhere during deploys."];
    NoRoute => "no_route", Some(502), "connect", Terminal,
        "The upstream host is unreachable (No route to host / Network is unreachable / Host is down): host down, firewall REJECT, or a stale container IP.",
        ["Ping and `ip route get <addr>` from the nginx host; check firewalls and security groups.",
         "If the address is a container or pod IP, it may be stale: re-resolve with `resolver` + a variable in `proxy_pass`, or `server ... resolve` (nginx >= 1.27.3)."];
    ConnectTimeout => "connect_timeout", Some(504), "connect", Terminal,
        "The TCP handshake did not finish within proxy_connect_timeout: SYNs are dropped (accept backlog full, firewall DROP, dead host).",
        [CURL_PEER,
         "Check the backend's accept backlog (`ss -lnt` Recv-Q vs Send-Q) and `net.core.somaxconn`; scale the backend.",
         "Check firewalls that DROP rather than REJECT.", "`proxy_connect_timeout` (at most 75s) bounds how long clients wait."];
    ConnectOsTimeout => "connect_os_timeout", Some(502), "connect", Terminal,
        "The kernel gave up on the TCP handshake (ETIMEDOUT) before nginx's proxy_connect_timeout did.",
        [CURL_PEER, "Lower `proxy_connect_timeout` below the kernel's SYN retry time so nginx fails over sooner.",
         "Check the backend's accept backlog and firewalls."];
    UnixSocketMissing => "unix_socket_missing", Some(502), "connect", Terminal,
        "The unix socket file does not exist: php-fpm or the app is not running, or the socket path is wrong.",
        ["Start the pool/app: `systemctl status php*-fpm` (or the app's service).",
         "Compare the path in `fastcgi_pass`/`proxy_pass` with the pool's `listen =` (a PHP version in the path is a classic)."];
    UnixSocketPermission => "unix_socket_permission", Some(502), "connect", Terminal,
        "nginx's worker user may not connect to the unix socket.",
        ["Set php-fpm's `listen.owner`, `listen.group` and `listen.mode` to match nginx's `user`.",
         "Check SELinux labels (`ls -Z`, `ausearch -m avc`)."];
    ConnectPermissionDenied => "connect_permission_denied", Some(502), "connect", Terminal,
        "The OS refused nginx an outbound connection (SELinux/AppArmor).",
        ["On SELinux: `setsebool -P httpd_can_network_connect 1`.", "Check `ausearch -m avc` / AppArmor logs."];
    BacklogFull => "backlog_full", Some(502), "connect", Terminal,
        "The unix socket's listen queue is full (EAGAIN): every backend worker is busy.",
        ["Raise php-fpm `pm.max_children` (if memory allows) and `listen.backlog`; raise `net.core.somaxconn`.",
         "Find the slow requests keeping workers busy (php-fpm slowlog)."];
    LocalPortExhausted => "local_port_exhausted", Some(502), "connect", Terminal,
        "No free local port for a new upstream connection (EADDRNOTAVAIL): TIME_WAIT churn or a bad proxy_bind.",
        ["Reuse connections: `keepalive 32;` in `upstream {}` with `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";`.",
         "Widen `net.ipv4.ip_local_port_range`."];
    NoLiveUpstreams => "no_live_upstreams", Some(502), "connect", Terminal,
        "Every server of the upstream block was marked failed (max_fails/fail_timeout), down, or at max_conns: a consequence of earlier failures.",
        ["Look at the failures just before it on the same upstream: they are the real cause.",
         "Tune `max_fails`/`fail_timeout`; add a `backup` server."];
    WorkerConnectionsExhausted => "worker_connections_exhausted", Some(500), "connect", Terminal,
        "nginx ran out of worker_connections (upstream sockets count too).",
        ["Raise `worker_connections` and `worker_rlimit_nofile`."];
    TooManyOpenFiles => "too_many_open_files", Some(500), "connect", Terminal,
        "nginx hit its file-descriptor limit.",
        ["Raise `worker_rlimit_nofile` and the service's `LimitNOFILE`/`ulimit -n`."];
    SslHandshake => "ssl_handshake", Some(502), "ssl", Terminal,
        "The TLS handshake with the upstream failed: often https:// pointed at a plain-HTTP port, SNI required, or a protocol/cipher mismatch.",
        ["Check the scheme and port in `proxy_pass` (`wrong version number` means plain HTTP on the other end).",
         "`proxy_ssl_server_name on;` and `proxy_ssl_name` when the backend needs SNI.", "Align `proxy_ssl_protocols`/ciphers."];
    SslVerifyFailed => "ssl_verify_failed", Some(502), "ssl", Terminal,
        "proxy_ssl_verify rejected the upstream's certificate (untrusted CA or name mismatch).",
        ["Point `proxy_ssl_trusted_certificate` at the right CA bundle; set `proxy_ssl_name` to the certificate's name."];
    SslHandshakeTimeout => "ssl_handshake_timeout", Some(504), "ssl", Terminal,
        "The TLS handshake with the upstream stalled past proxy_connect_timeout.",
        [CURL_PEER, "Check the backend's TLS termination load; `proxy_connect_timeout` governs this wait."];
    SendTimeout => "send_timeout", Some(504), "send", Terminal,
        "The backend stopped reading the request body within proxy_send_timeout.",
        ["Check the backend's upload handling and body-size limits; `proxy_send_timeout`."];
    SendFailed => "send_failed", Some(502), "send", Terminal,
        "Writing the request to the backend failed (broken pipe / reset): it closed early, crashed, or a keep-alive connection went stale.",
        ["Check the backend's request-body limit and its logs for crashes.", KEEPALIVE_RACE];
    ReadTimeout => "read_timeout", Some(504), "header", Terminal,
        "The backend did not send a response header within proxy_read_timeout: slow queries, deadlocks, saturated workers.",
        ["Find the slow endpoints (the paths listed with this cause) and profile them.", CHECK_BACKEND,
         "Raise `proxy_read_timeout` / `fastcgi_read_timeout` / `uwsgi_read_timeout` / `grpc_read_timeout` only for endpoints that are legitimately slow."];
    PrematureClose => "premature_close", Some(502), "header", Terminal,
        "The backend closed the connection without sending a response: worker crash or kill (OOM, harakiri, request_terminate_timeout), a keep-alive race, or a non-HTTP service.",
        ["Check the backend's logs and `dmesg` for OOM kills at these times.", KEEPALIVE_RACE,
         "Raise the app server's own timeouts (gunicorn `--timeout`, uWSGI `harakiri`, php-fpm `request_terminate_timeout`)."];
    ResetByPeer => "reset_by_peer", Some(502), "header", Terminal,
        "The backend reset the connection while nginx waited for the response header: a crash, an RST from a proxy or load balancer, or a keep-alive race.",
        ["Check the backend's logs and `dmesg` at these times.", KEEPALIVE_RACE];
    TooBigHeader => "too_big_header", Some(502), "header", Terminal,
        "The response headers do not fit in proxy_buffer_size (4k/8k by default): large Set-Cookie, JWT, Location or CSP headers.",
        ["`proxy_buffer_size 16k; proxy_buffers 8 16k; proxy_busy_buffers_size 32k;` (or `fastcgi_buffer_size`/`fastcgi_buffers`, `uwsgi_buffer_size`, `grpc_buffer_size`).",
         "Or make the backend send smaller headers (cookies, tokens)."];
    InvalidHeader => "invalid_header", Some(502), "header", Terminal,
        "The backend sent a malformed response header (no colon, control byte, bad Status, conflicting Content-Length).",
        ["Fix the backend's response; `curl -sv` it directly to see the raw header.",
         "`proxy_next_upstream invalid_header` only fails over to another peer."];
    NoValidHttpHeader => "no_valid_http_header", Some(9), "header", Terminal,
        "The backend did not answer in HTTP/1.x (a TLS port behind http://, an h2c-only server, a non-HTTP service); nginx relayed raw bytes as HTTP/0.9 and logged status 009.",
        ["Use the right scheme or port in `proxy_pass` (`https://`, `grpc://`)."];
    FastcgiProtocolError => "fastcgi_protocol_error", Some(502), "header", Terminal,
        "fastcgi_pass points at something that does not speak FastCGI (protocol version 72 = 'H': an HTTP server).",
        ["Point `fastcgi_pass` at php-fpm's `listen` address."];
    FastcgiEmptyStdout => "fastcgi_empty_stdout", Some(502), "header", Terminal,
        "The FastCGI script ended without sending output or headers (a fatal error with display off, or an early exit).",
        ["Read the `FastCGI sent in stderr` evidence just before it; check the PHP error log."];
    FastcgiPrimaryScriptUnknown => "fastcgi_primary_script_unknown", Some(404), "header", Terminal,
        "php-fpm could not find the script nginx asked for (wrong SCRIPT_FILENAME or root).",
        ["`fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;` and check `root`."];
    GrpcProtocolMismatch => "grpc_protocol_mismatch", Some(502), "header", Terminal,
        "grpc_pass received an HTTP/1.x or TLS reply: it points at the wrong port or scheme.",
        ["Use `grpcs://` for TLS backends, or the backend's h2c port."];
    GrpcStreamError => "grpc_stream_error", Some(502), "header", Terminal,
        "The gRPC/HTTP/2 backend reset the stream or sent GOAWAY.",
        ["Check the backend's logs and its `max_concurrent_streams`; the error number is the HTTP/2 error code."];
    ResolveFailed => "resolve_failed", Some(502), "resolve", Terminal,
        "The upstream's name could not be resolved at request time (NXDOMAIN, DNS server down or timing out).",
        ["Check the name and the DNS server in `resolver`; `resolver ... valid=` and `resolver_timeout`."];
    NoResolver => "no_resolver", Some(502), "resolve", Terminal,
        "proxy_pass uses a variable host name but no resolver is configured.",
        ["Add `resolver <dns-ip>;` (127.0.0.11 inside Docker)."];
    AuthSubrequest => "auth_subrequest", Some(500), "auth", Terminal,
        "The auth_request subrequest's upstream failed, which fails the main request with 500.",
        ["Fix the auth service: its own failure line (with `subrequest:`) names the cause."];
    ConfigError => "config_error", Some(500), "config", Terminal,
        "The proxy target is invalid at request time (no port, invalid URL prefix).",
        ["Fix the variable-built `proxy_pass` URL; `nginx -t` cannot see values built at runtime."];
    OtherUpstreamError => "other_upstream_error", None, "upstream", Terminal,
        "An upstream error ngx502 has no signature for: its message is shown as evidence.",
        ["Read the evidence lines; the phase (`while ...`) tells where it failed."];
    UpstreamReturned502 => "upstream_returned_502", Some(502), "backend", AccessOnly,
        "The backend (or a proxy/load balancer behind nginx) itself answered 502: nginx logged no error.",
        ["Look at the backend's own logs: it produced the 502.", CURL_PEER];
    UpstreamReturned504 => "upstream_returned_504", Some(504), "backend", AccessOnly,
        "The backend (or a proxy/load balancer behind nginx) itself answered 504: nginx logged no error.",
        ["Look at the next hop's timeouts: the backend produced the 504.", CURL_PEER];
    UpstreamReturned5xx => "upstream_returned_5xx", None, "backend", AccessOnly,
        "The backend itself answered this 5xx: nginx logged no error.",
        ["Look at the backend's own logs."];
    Unattributed => "unattributed", None, "unknown", AccessOnly,
        "A 5xx with no matching error line and no other evidence.",
        ["Log `$upstream_status` and `$connection` (the `upstream` log format) so the backend's own 5xx and exact joins become visible.",
         "Check that the error log covers the same period and its level is `error` or lower (`error_log ... crit` hides most upstream failures)."];
    FastcgiStderr => "fastcgi_stderr", None, "header", Evidence,
        "Text the FastCGI application wrote to stderr (PHP warnings and fatals): context, not a failure by itself.",
        ["Read the message: a PHP Fatal here usually explains a following failure."];
    ServerDisabled => "server_disabled", None, "connect", Evidence,
        "nginx marked an upstream server failed after max_fails: later requests may see no_live_upstreams.",
        ["Fix the failures that disabled it; tune `max_fails`/`fail_timeout`."];
    ClientClosed => "client_closed", Some(499), "client", NotAFailure,
        "The client gave up before the upstream answered (499), not an upstream failure.",
        ["If this follows slow responses, see read_timeout's checklist."];
    TruncatedResponse => "truncated_response", None, "body", NotAFailure,
        "The upstream failed after the response header was sent: the client got the upstream's status with a cut body.",
        ["Check the backend for crashes mid-response and `proxy_read_timeout` for slow streams."];
    UpgradedTimeout => "upgraded_timeout", Some(101), "upgraded", NotAFailure,
        "A WebSocket/upgraded connection idled past proxy_read_timeout.",
        ["Send pings from the app, or raise `proxy_read_timeout` for the WebSocket location."];
}

impl Cause {
    /// The stable identifier used in every machine-readable output.
    pub fn slug(self) -> &'static str {
        self.info().slug
    }

    /// The cause with this slug.
    pub fn from_slug(slug: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.slug() == slug)
    }

    pub fn role(self) -> Role {
        self.info().role
    }

    /// Whether nginx gave up waiting: the failure's `$request_time` is then the timeout it
    /// applied, which the findings and the nginx.conf citations measure.
    pub fn timed_out(self) -> bool {
        matches!(
            self,
            Cause::ReadTimeout | Cause::ConnectTimeout | Cause::SslHandshakeTimeout | Cause::SendTimeout
        )
    }

    /// The cause for a 5xx the backend itself sent (no nginx error line).
    pub fn upstream_returned(status: u16) -> Cause {
        match status {
            502 => Cause::UpstreamReturned502,
            504 => Cause::UpstreamReturned504,
            _ => Cause::UpstreamReturned5xx,
        }
    }
}

/// The pieces of an error-log message a cause is decided on.
struct Message<'a> {
    text: &'a [u8],
    found: Found,
    action: &'a [u8],
}

impl Message<'_> {
    /// Whether the message contains the needle.
    fn has(&self, needle: Needle) -> bool {
        self.found.has(needle)
    }

    fn starts(&self, prefix: &[u8]) -> bool {
        self.text.starts_with(prefix)
    }

    fn in_phase(&self, phase: &[u8]) -> bool {
        self.action.starts_with(phase)
    }

    /// Read only by the causes that depend on it: FastCGI messages hold many parentheses.
    fn errno(&self) -> Option<u32> {
        errno(self.text)
    }
}

/// What nginx was doing when the message was written: the text after the last ` while `.
/// Found from the end by its `w` (a vector search; a reverse substring search has none, and
/// FastCGI messages are long).
pub(crate) fn action(message: &[u8]) -> Option<&[u8]> {
    memchr::memrchr_iter(b'w', message)
        .find(|&w| w > 0 && message[w - 1] == b' ' && message[w..].starts_with(b"while "))
        .map(|w| &message[w + 6..])
}

/// The errno nginx appended: the number in the first `(N: ` of the message.
fn errno(text: &[u8]) -> Option<u32> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'(', &text[from..]).map(|i| from + i) {
        let digits = text[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && digits < 6 && text[i + 1 + digits..].starts_with(b": ") {
            return std::str::from_utf8(&text[i + 1..i + 1 + digits]).ok()?.parse().ok();
        }
        from = i + 1;
    }
    None
}

const HEADER: &[u8] = b"reading response header from upstream";
/// How nginx starts a line that passes on what a FastCGI backend wrote to its stderr.
pub(crate) const FASTCGI_STDERR: &[u8] = b"FastCGI sent in stderr";
const BODY_PHASES: [&[u8]; 2] = [b"reading upstream", b"sending to client"];

/// Classifies an error-log message (the text after `*CID `, context fields removed).
/// `upstream` is the line's `upstream: "..."` value, which tells unix sockets from TCP peers.
/// Returns `None` for messages that are not about upstreams (404s for static files, ...).
pub fn classify(message: &[u8], upstream: Option<&[u8]>) -> Option<Cause> {
    classify_found(
        message,
        upstream.is_some(),
        || upstream.is_some_and(unix_upstream),
        Found::in_text(message),
    )
}

/// Whether an `upstream: "..."` value names a unix socket (`fastcgi://unix:/run/php.sock:`).
pub(crate) fn unix_upstream(upstream: &[u8]) -> bool {
    finder!(b"://unix:").find(upstream).is_some()
}

/// [`classify`] with the needles of `message` already `found`, told of the `upstream:` field
/// only whether there is one and, through `unix_upstream` (asked only for the connect errors a
/// unix socket names differently), whether it names a unix socket.
pub(crate) fn classify_found(
    message: &[u8],
    has_upstream: bool,
    unix_upstream: impl Fn() -> bool,
    found: Found,
) -> Option<Cause> {
    use Cause::*;
    let m = Message { text: message, found, action: action(message).unwrap_or_default() };
    let unix = || m.has(Needle::ConnectToUnix) || unix_upstream();
    let body_phase = BODY_PHASES.iter().any(|p| m.in_phase(p));

    // A warning: nginx drops the extra bytes and the response stands.
    if m.starts(b"upstream sent more data than specified") {
        return None;
    }
    // The backend's own stderr, quoted: what it says is the application's text, not nginx's
    // (a PHP message that mentions a resolver or a closed connection is still the backend's).
    if m.starts(FASTCGI_STDERR) {
        let unknown = m.has(Needle::PrimaryScriptUnknown) || m.has(Needle::UnableToOpenPrimaryScript);
        return Some(if unknown { FastcgiPrimaryScriptUnknown } else { FastcgiStderr });
    }
    if m.starts(b"no live upstreams") {
        return Some(NoLiveUpstreams);
    }
    if m.has(Needle::CouldNotBeResolved) {
        return Some(ResolveFailed);
    }
    if m.starts(b"no resolver defined to resolve") {
        return Some(NoResolver);
    }
    if m.has(Needle::ClientClosed) {
        return Some(ClientClosed);
    }
    if m.starts(b"upstream server temporarily disabled") {
        return Some(ServerDisabled);
    }
    if m.has(Needle::WorkerConnections) {
        return Some(WorkerConnectionsExhausted);
    }
    if m.starts(b"socket() failed") && m.errno() == Some(24) {
        return Some(TooManyOpenFiles);
    }
    if m.starts(b"auth request unexpected status") {
        return Some(AuthSubrequest);
    }
    if m.starts(b"no port in upstream") || m.starts(b"invalid URL prefix in") {
        return Some(ConfigError);
    }
    if m.starts(b"upstream timed out") {
        return Some(match m.action {
            a if a.starts_with(b"connecting to upstream") => ConnectTimeout,
            a if a.starts_with(b"SSL handshaking to upstream") => SslHandshakeTimeout,
            a if a.starts_with(b"sending request to upstream") => SendTimeout,
            a if a.starts_with(b"proxying upgraded connection") => UpgradedTimeout,
            _ if body_phase => TruncatedResponse,
            _ => ReadTimeout,
        });
    }
    if body_phase
        && (m.starts(b"upstream") || m.starts(b"recv()") || m.starts(b"readv()") || m.starts(b"SSL_read()"))
    {
        return Some(TruncatedResponse);
    }
    if m.has(Needle::ConnectFailed) || m.starts(b"connect() to ") {
        return Some(match m.errno() {
            Some(111) | Some(61) => ConnectRefused,
            Some(113) | Some(101) | Some(112) | Some(65) | Some(51) | Some(64) => NoRoute,
            Some(110) | Some(60) => ConnectOsTimeout,
            Some(2) if unix() => UnixSocketMissing,
            Some(13) if unix() => UnixSocketPermission,
            Some(13) => ConnectPermissionDenied,
            Some(11) | Some(35) => BacklogFull,
            Some(99) | Some(49) => LocalPortExhausted,
            Some(104) | Some(54) => ResetByPeer,
            _ => OtherUpstreamError,
        });
    }
    if m.starts(b"SSL_do_handshake() failed")
        || m.starts(b"peer closed connection in SSL handshake")
        || m.starts(b"upstream SSL handshake rejected")
    {
        return Some(SslHandshake);
    }
    if m.starts(b"upstream SSL certificate") {
        return Some(SslVerifyFailed);
    }
    if m.in_phase(b"sending request to upstream") {
        return Some(SendFailed);
    }
    if m.starts(b"upstream prematurely closed connection") {
        return Some(PrematureClose);
    }
    if (m.starts(b"recv() failed") || m.starts(b"readv() failed") || m.starts(b"SSL_read() failed"))
        && matches!(m.errno(), Some(104) | Some(54))
    {
        return Some(ResetByPeer);
    }
    if m.starts(b"upstream sent too big header") {
        return Some(TooBigHeader);
    }
    if m.starts(b"upstream sent no valid HTTP/1.0 header") {
        return Some(NoValidHttpHeader);
    }
    if m.starts(b"upstream sent unsupported FastCGI protocol version")
        || m.starts(b"upstream sent invalid FastCGI record type")
        || m.starts(b"upstream sent unexpected FastCGI")
    {
        return Some(FastcgiProtocolError);
    }
    if m.starts(b"upstream prematurely closed FastCGI stdout") {
        return Some(FastcgiEmptyStdout);
    }
    if m.starts(b"upstream sent too large http2 frame") {
        return Some(GrpcProtocolMismatch);
    }
    if m.starts(b"upstream rejected request with error")
        || m.starts(b"upstream sent goaway with error")
        || m.starts(b"upstream prematurely closed stream")
        || m.starts(b"upstream sent no :status header")
        || m.starts(b"upstream sent invalid http2")
    {
        return Some(GrpcStreamError);
    }
    if m.starts(b"upstream sent duplicate header line") && m.has(Needle::Ignoring) {
        return None;
    }
    if m.starts(b"upstream sent") && (m.in_phase(HEADER) || m.action.is_empty()) {
        return Some(InvalidHeader);
    }
    if has_upstream || finder!(b"upstream").find(m.action).is_some() {
        return Some(OtherUpstreamError);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_name_their_cause() {
        assert_eq!(Cause::ALL.len(), 42);
        for cause in Cause::ALL {
            assert_eq!(Cause::from_slug(cause.slug()), Some(cause));
        }
    }

    #[test]
    fn errno_is_the_first_number_in_parentheses() {
        assert_eq!(errno(b"connect() failed (111: Connection refused) while"), Some(111));
        assert_eq!(errno(b"connect() to unix:/a(b) failed (2: No such file)"), Some(2));
        assert_eq!(errno(b"no errno (here)"), None);
    }
}
