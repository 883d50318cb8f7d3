//! Every cause slug against real nginx error lines: the format strings of nginx's source
//! (1.10 to 1.27) as they appear in logs, and lines quoted in public bug reports.

use ngx502::errorlog::{parse_line, Cause};

const CTX: &str = r#", client: 203.0.113.7, server: api.example.com, request: "GET /v1/items HTTP/1.1", upstream: "http://10.0.0.12:8080/v1/items", host: "api.example.com""#;
const UNIX_CTX: &str = r#", client: 203.0.113.7, server: _, request: "GET /index.php HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "example.com""#;

fn line(level: &str, message: &str, ctx: &str) -> String {
    format!("2024/05/14 10:22:31 [{level}] 2817#2817: *48213 {message}{ctx}")
}

fn cause_of(raw: &str) -> Option<&'static str> {
    parse_line(raw.as_bytes()).unwrap_or_else(|| panic!("not parsed: {raw}")).cause().map(Cause::slug)
}

#[test]
fn every_signature_gets_its_slug() {
    let cases: Vec<(String, &str)> = vec![
        (line("error", "connect() failed (111: Connection refused) while connecting to upstream", CTX), "connect_refused"),
        (line("error", "connect() to 10.0.0.12:8080 failed (111: Connection refused) while connecting to upstream", CTX), "connect_refused"),
        (line("error", "kevent() reported that connect() failed (61: Connection refused) while connecting to upstream", CTX), "connect_refused"),
        (line("error", "connect() to unix:/run/php/php8.2-fpm.sock failed (111: Connection refused) while connecting to upstream", UNIX_CTX), "connect_refused"),
        (line("error", "connect() failed (113: No route to host) while connecting to upstream", CTX), "no_route"),
        (line("error", "connect() failed (101: Network is unreachable) while connecting to upstream", CTX), "no_route"),
        (line("error", "connect() failed (112: Host is down) while connecting to upstream", CTX), "no_route"),
        (line("error", "upstream timed out (110: Connection timed out) while connecting to upstream", CTX), "connect_timeout"),
        (line("error", "upstream timed out (60: Operation timed out) while connecting to upstream", CTX), "connect_timeout"),
        (line("error", "connect() failed (110: Connection timed out) while connecting to upstream", CTX), "connect_os_timeout"),
        (line("crit", "connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory) while connecting to upstream", UNIX_CTX), "unix_socket_missing"),
        (line("crit", "connect() to unix:/run/php/php8.2-fpm.sock failed (13: Permission denied) while connecting to upstream", UNIX_CTX), "unix_socket_permission"),
        (line("crit", "connect() to 10.0.0.12:8080 failed (13: Permission denied) while connecting to upstream", CTX), "connect_permission_denied"),
        (line("error", "connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream", UNIX_CTX), "backlog_full"),
        (line("error", "connect() to unix:/run/php-fpm.sock failed (11: Operation would block) while connecting to upstream", UNIX_CTX), "backlog_full"),
        (line("crit", "connect() to 10.0.0.12:8080 failed (99: Cannot assign requested address) while connecting to upstream", CTX), "local_port_exhausted"),
        (line("error", "no live upstreams while connecting to upstream", r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", upstream: "http://backend/", host: "api""#), "no_live_upstreams"),
        (line("alert", "1024 worker_connections are not enough while connecting to upstream", CTX), "worker_connections_exhausted"),
        (line("alert", "socket() failed (24: Too many open files) while connecting to upstream", CTX), "too_many_open_files"),
        (line("error", "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream", CTX), "ssl_handshake"),
        (line("error", "SSL_do_handshake() failed (SSL: error:1408F10B:SSL routines:ssl3_get_record:wrong version number) while SSL handshaking to upstream", CTX), "ssl_handshake"),
        (line("error", "peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking to upstream", CTX), "ssl_handshake"),
        (line("error", "upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream", CTX), "ssl_verify_failed"),
        (line("error", r#"upstream SSL certificate does not match "api.internal" while SSL handshaking to upstream"#, CTX), "ssl_verify_failed"),
        (line("error", "upstream timed out (110: Connection timed out) while SSL handshaking to upstream", CTX), "ssl_handshake_timeout"),
        (line("error", "upstream timed out (110: Connection timed out) while sending request to upstream", CTX), "send_timeout"),
        (line("error", "writev() failed (32: Broken pipe) while sending request to upstream", CTX), "send_failed"),
        (line("error", "sendfile() failed (104: Connection reset by peer) while sending request to upstream", CTX), "send_failed"),
        (line("error", "upstream timed out (110: Connection timed out) while reading response header from upstream", CTX), "read_timeout"),
        (line("error", "upstream timed out (110: Unknown error) while reading response header from upstream", CTX), "read_timeout"),
        (line("error", "upstream prematurely closed connection while reading response header from upstream", CTX), "premature_close"),
        (line("error", "recv() failed (104: Connection reset by peer) while reading response header from upstream", CTX), "reset_by_peer"),
        (line("error", "SSL_read() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) (104: Connection reset by peer) while reading response header from upstream", CTX), "reset_by_peer"),
        (line("error", "upstream sent too big header while reading response header from upstream", CTX), "too_big_header"),
        (line("error", "upstream sent invalid header while reading response header from upstream", CTX), "invalid_header"),
        (line("error", r#"upstream sent invalid header: "X-Bad\x01..." while reading response header from upstream"#, CTX), "invalid_header"),
        (line("error", r#"upstream sent invalid status "abc" while reading response header from upstream"#, UNIX_CTX), "invalid_header"),
        (line("error", r#"upstream sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 6" while reading response header from upstream"#, CTX), "invalid_header"),
        (line("error", r#"upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time while reading response header from upstream"#, CTX), "invalid_header"),
        (line("error", r#"upstream sent unknown "Transfer-Encoding": "gzip" while reading response header from upstream"#, CTX), "invalid_header"),
        (line("error", "upstream sent no valid HTTP/1.0 header while reading response header from upstream", CTX), "no_valid_http_header"),
        (line("error", "upstream sent unsupported FastCGI protocol version: 72 while reading response header from upstream", UNIX_CTX), "fastcgi_protocol_error"),
        (line("error", "upstream sent invalid FastCGI record type: 3 while reading response header from upstream", UNIX_CTX), "fastcgi_protocol_error"),
        (line("error", "upstream prematurely closed FastCGI stdout while reading response header from upstream", UNIX_CTX), "fastcgi_empty_stdout"),
        (line("error", r#"FastCGI sent in stderr: "Primary script unknown" while reading response header from upstream"#, UNIX_CTX), "fastcgi_primary_script_unknown"),
        (line("error", r#"FastCGI sent in stderr: "PHP message: PHP Warning:  Undefined variable $x in /var/www/index.php on line 3" while reading response header from upstream"#, UNIX_CTX), "fastcgi_stderr"),
        (line("error", "upstream sent too large http2 frame: 4740180 while reading response header from upstream", CTX), "grpc_protocol_mismatch"),
        (line("error", "upstream rejected request with error 2 while reading response header from upstream", CTX), "grpc_stream_error"),
        (line("error", "upstream sent goaway with error 11 while reading response header from upstream", CTX), "grpc_stream_error"),
        (line("error", "upstream prematurely closed stream while reading response header from upstream", CTX), "grpc_stream_error"),
        (line("error", "api.internal could not be resolved (3: Host not found)", r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "resolve_failed"),
        (line("error", "api.internal could not be resolved (110: Operation timed out)", r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "resolve_failed"),
        (line("error", "no resolver defined to resolve api.internal", r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "no_resolver"),
        (line("error", "auth request unexpected status: 502", r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "auth_subrequest"),
        (line("error", r#"no port in upstream "backend""#, r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "config_error"),
        (line("error", r#"invalid URL prefix in "backend/x""#, r#", client: 203.0.113.7, server: api, request: "GET / HTTP/1.1", host: "api""#), "config_error"),
        (line("info", "client prematurely closed connection, so upstream connection is closed too while reading response header from upstream", CTX), "client_closed"),
        (line("info", "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream", CTX), "client_closed"),
        (line("error", "upstream prematurely closed connection while reading upstream", CTX), "truncated_response"),
        (line("error", "upstream timed out (110: Connection timed out) while reading upstream", CTX), "truncated_response"),
        (line("error", "recv() failed (104: Connection reset by peer) while reading upstream", CTX), "truncated_response"),
        (line("error", "upstream sent invalid chunked response while reading upstream", CTX), "truncated_response"),
        (line("error", "upstream timed out (110: Connection timed out) while proxying upgraded connection", CTX), "upgraded_timeout"),
        (line("warn", "upstream server temporarily disabled while connecting to upstream", CTX), "server_disabled"),
        (line("error", "upstream sent something nobody has seen before while reading response header from upstream", CTX), "invalid_header"),
        (line("error", "something odd happened while connecting to upstream", CTX), "other_upstream_error"),
    ];
    let mut wrong = Vec::new();
    for (raw, want) in &cases {
        let got = cause_of(raw);
        if got != Some(*want) {
            wrong.push(format!("want {want}, got {got:?}: {raw}"));
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));

    // Every cause an error line can carry is covered by a case above.
    for cause in Cause::ALL {
        let from_access_only = matches!(
            cause,
            Cause::UpstreamReturned502
                | Cause::UpstreamReturned504
                | Cause::UpstreamReturned5xx
                | Cause::Unattributed
        );
        assert!(
            from_access_only || cases.iter().any(|(_, s)| *s == cause.slug()),
            "no error-line case for {}",
            cause.slug()
        );
    }
}

#[test]
fn lines_that_are_not_upstream_failures_have_no_cause() {
    for raw in [
        line(
            "error",
            r#"open() "/var/www/favicon.ico" failed (2: No such file or directory)"#,
            r#", client: 1.2.3.4, server: _, request: "GET /favicon.ico HTTP/1.1", host: "h""#,
        ),
        line(
            "error",
            r#"limiting requests, excess: 10.500 by zone "api""#,
            r#", client: 1.2.3.4, server: _, request: "GET / HTTP/1.1", host: "h""#,
        ),
        line(
            "error",
            "client intended to send too large body: 20000000 bytes",
            r#", client: 1.2.3.4, server: _, request: "POST /up HTTP/1.1", host: "h""#,
        ),
        line(
            "warn",
            r#"upstream sent duplicate header line: "X: 1", previous value: "X: 2", ignoring while reading response header from upstream"#,
            CTX,
        ),
        line(
            "warn",
            r#"upstream sent more data than specified in "Content-Length" header while reading upstream"#,
            CTX,
        ),
        "2024/05/14 10:22:31 [notice] 1#1: signal process started".to_string(),
    ] {
        assert_eq!(cause_of(&raw), None, "{raw}");
    }
}
