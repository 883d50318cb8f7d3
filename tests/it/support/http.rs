//! A tiny HTTP/1.1 client over std's TcpStream: just enough to drive nginx, with keep-alive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What the client saw.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code; 9 when nginx relayed an HTTP/0.9 answer (no status line, just raw bytes:
    /// nginx's access log writes `009` for it).
    pub status: u16,
    pub body: Vec<u8>,
}

/// One client connection to nginx, reused for several requests while the server keeps it alive.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        assert!(addr.ip().is_loopback(), "the harness only talks to loopback: {addr}");
        Client { addr, conn: None }
    }

    /// Sends `GET path` and reads the whole answer. With `keep_alive`, the connection is kept for the
    /// next call if the server allows it.
    pub fn get(
        &mut self,
        path: &str,
        host: &str,
        user_agent: &str,
        keep_alive: bool,
    ) -> io::Result<Response> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            // Bounded: no request in the harness legitimately takes longer than a few seconds.
            stream.set_read_timeout(Some(Duration::from_secs(15)))?;
            stream.set_write_timeout(Some(Duration::from_secs(5)))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().unwrap();
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nConnection: {connection}\r\n\r\n"
        );
        conn.get_mut().write_all(req.as_bytes())?;
        let (resp, reusable) = read_response(conn)?;
        if !(keep_alive && reusable) {
            self.conn = None;
        }
        Ok(resp)
    }
}

/// One request on a fresh connection.
pub fn get_once(addr: SocketAddr, path: &str, host: &str, user_agent: &str) -> io::Result<Response> {
    Client::new(addr).get(path, host, user_agent, false)
}

fn read_response(conn: &mut BufReader<TcpStream>) -> io::Result<(Response, bool)> {
    // HTTP/0.9 fallback: whatever the backend sent is relayed raw, then the connection is closed.
    let peek = conn.fill_buf()?;
    if peek.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before any answer"));
    }
    if !peek.starts_with(b"HTTP/") {
        let mut body = Vec::new();
        conn.read_to_end(&mut body)?;
        return Ok((Response { status: 9, body }, false));
    }
    let mut status_line = String::new();
    conn.read_line(&mut status_line)?;
    let status: u16 =
        status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}"))
        })?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = status_line.starts_with("HTTP/1.0");
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            conn.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0u8; size + 2];
            conn.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = content_length {
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    } else {
        conn.read_to_end(&mut body)?;
        close = true;
    }
    Ok((Response { status, body }, !close))
}
