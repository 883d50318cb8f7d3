//! `live --metrics-listen ADDR`: `/metrics` (the [`Tally`] in the Prometheus text format, with
//! the families and labels of `report --output prometheus`) and `/healthz`, over a minimal
//! HTTP/1.1 responder.
//!
//! It listens only on the address given and answers GET/HEAD on those two paths (404 for any
//! other path, 405 for any other method); it reads the request head only (at most
//! [`MAX_HEAD`] bytes, never a body) and closes the connection after each response. Each client
//! has its own thread with read and write timeouts, and at most [`MAX_CLIENTS`] are served at
//! once, so a slow or hostile client can neither stall the follower (which only shares the
//! tally's lock, held while the text is written into memory) nor pile up threads.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::report::prometheus;

use super::tally::Tally;

/// Longest request head read; a longer one gets 431.
pub const MAX_HEAD: usize = 8 << 10;
/// Clients served at once; more are closed unanswered.
pub const MAX_CLIENTS: usize = 16;
/// How long a client may take to send its head or to read the response.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` now (so a wrong address fails before following starts) and serves from a thread
/// of its own. Returns the address bound (the port the system chose for port 0).
pub fn serve(addr: SocketAddr, tally: Arc<Mutex<Tally>>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let clients = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                clients.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            let (tally, served) = (Arc::clone(&tally), Arc::clone(&clients));
            let spawned = std::thread::Builder::new().name("metrics-client".into()).spawn(move || {
                let _ = answer(stream, &tally);
                served.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                clients.fetch_sub(1, Ordering::AcqRel);
            }
        }
    })?;
    Ok(bound)
}

/// Reads one request head from `stream` and writes the response.
fn answer(mut stream: TcpStream, tally: &Mutex<Tally>) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let (status, body, with_body) = match read_head(&mut stream)? {
        Some(head) => route(&head, || {
            let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
            prometheus::write(&tally.metrics(Instant::now()))
        }),
        None => (Status::HeadTooLarge, String::new(), true),
    };
    stream.write_all(&response(status, &body, with_body))?;
    stream.flush()
}

/// The head up to its blank line, or `None` when it exceeds [`MAX_HEAD`]. A client that closes
/// or stalls before the end of its head gets no answer.
fn read_head(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    loop {
        if started.elapsed() > TIMEOUT {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = memchr::memmem::find(&head, b"\r\n\r\n") {
            head.truncate(end);
            return Ok(Some(head).filter(|h| h.len() <= MAX_HEAD));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Responses the endpoint gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    HealthOk,
    NotFound,
    MethodNotAllowed,
    HeadTooLarge,
    BadRequest,
}

/// What to answer to `head`, and whether to send the body (not for HEAD); `metrics` renders
/// the exposition only when it is asked for.
fn route(head: &[u8], metrics: impl FnOnce() -> String) -> (Status, String, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.strip_suffix(b"\r").unwrap_or(line).split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (Status::BadRequest, String::new(), true);
    };
    if !version.starts_with(b"HTTP/1.") {
        return (Status::BadRequest, String::new(), true);
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let with_body = method != b"HEAD";
    let (status, body) = match path {
        _ if with_body && method != b"GET" => (Status::MethodNotAllowed, String::new()),
        b"/metrics" => (Status::Ok, metrics()),
        b"/healthz" => (Status::HealthOk, "ok\n".to_owned()),
        _ => (Status::NotFound, "not found: try /metrics or /healthz\n".to_owned()),
    };
    (status, body, with_body)
}

/// The response bytes: status line, headers, and the body unless it is for HEAD.
fn response(status: Status, body: &str, with_body: bool) -> Vec<u8> {
    let (code, reason, kind) = match status {
        Status::Ok => (200, "OK", "text/plain; version=0.0.4; charset=utf-8"),
        Status::HealthOk => (200, "OK", "text/plain; charset=utf-8"),
        Status::NotFound => (404, "Not Found", "text/plain; charset=utf-8"),
        Status::MethodNotAllowed => (405, "Method Not Allowed", "text/plain; charset=utf-8"),
        Status::HeadTooLarge => (431, "Request Header Fields Too Large", "text/plain; charset=utf-8"),
        Status::BadRequest => (400, "Bad Request", "text/plain; charset=utf-8"),
    };
    let allow = if status == Status::MethodNotAllowed { "Allow: GET, HEAD\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_to(head: &str) -> (u16, String) {
        let (status, body, with_body) = route(head.as_bytes(), || "metrics\n".to_owned());
        let text = String::from_utf8(response(status, &body, with_body)).unwrap();
        let code = text[9..12].parse().unwrap();
        (code, text.split_once("\r\n\r\n").unwrap().1.to_owned())
    }

    #[test]
    fn only_two_routes_and_two_methods() {
        assert_eq!(answer_to("GET /metrics HTTP/1.1\r\nHost: x"), (200, "metrics\n".into()));
        assert_eq!(answer_to("GET /metrics?x=1 HTTP/1.0"), (200, "metrics\n".into()));
        assert_eq!(answer_to("GET /healthz HTTP/1.1"), (200, "ok\n".into()));
        assert_eq!(answer_to("HEAD /metrics HTTP/1.1"), (200, String::new()));
        assert_eq!(answer_to("GET / HTTP/1.1").0, 404);
        assert_eq!(answer_to("GET /metrics/ HTTP/1.1").0, 404);
        assert_eq!(answer_to("POST /metrics HTTP/1.1"), (405, String::new()));
        assert_eq!(answer_to("GET /metrics").0, 400);
        assert_eq!(answer_to("GET /metrics SPDY/3").0, 400);
        assert_eq!(answer_to("\u{1b}[2J").0, 400);
    }

    #[test]
    fn head_is_bounded_and_ends_at_its_blank_line() {
        let mut ok: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nbody never read";
        assert_eq!(read_head(&mut ok).unwrap().unwrap(), b"GET /healthz HTTP/1.1\r\nHost: x");
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_head(&mut long.as_bytes()).unwrap().is_none());
        let mut cut: &[u8] = b"GET /metrics HTTP/1.1\r\n";
        assert!(read_head(&mut cut).is_err());
    }
}
