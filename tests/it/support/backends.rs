//! Faulty upstream servers for the real-nginx harness.
//!
//! Every backend listens on 127.0.0.1 (an ephemeral port) or on a unix socket inside the test's temp
//! dir, serves each connection on its own std thread, and fails in exactly one way. Each counts the
//! connections it accepted, so the harness can check how many attempts nginx really made.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How a backend misbehaves once nginx has connected and sent its request.
#[derive(Clone, Copy, Debug)]
pub enum Behavior {
    /// Reads the request, then never answers; holds the connection until nginx gives up.
    Hang,
    /// Answers with a response header far larger than `proxy_buffer_size`.
    BigHeader,
    /// Reads the request and closes the connection without a byte of answer.
    CloseSilently,
    /// Reads the request and aborts the connection (SO_LINGER 0 → RST).
    Reset,
    /// Answers with a banner that is not HTTP at all (a non-HTTP service behind `http://`).
    Garbage,
    /// Answers with a valid status line followed by a malformed header line.
    InvalidHeader,
    /// Answers `502 Bad Gateway` itself (as a proxy or app behind nginx would).
    Answer502,
    /// Answers 200 after a delay that stays inside `proxy_read_timeout`.
    Slow(Duration),
    /// Answers 200 at once.
    Healthy,
}

/// A running backend: its nginx-side address and the number of connections it accepted.
#[derive(Clone, Debug)]
pub struct Backend {
    /// What nginx writes in `$upstream_addr` for this server: `127.0.0.1:PORT` or `unix:/path`.
    pub addr: String,
    pub accepted: Arc<AtomicUsize>,
}

impl Backend {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Bytes that are not an HTTP status line: what an SSH daemon greets a client with.
pub const GARBAGE_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

const BIG_HEADER_BYTES: usize = 16 * 1024;

/// Starts a TCP backend on 127.0.0.1 with an ephemeral port.
pub fn spawn_tcp(behavior: Behavior) -> io::Result<Backend> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    assert!(addr.ip().is_loopback());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    thread::Builder::new().name(format!("backend-{behavior:?}")).spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                let _ = serve(TcpConn(stream), behavior);
            });
        }
    })?;
    Ok(Backend { addr: addr.to_string(), accepted })
}

/// Starts a backend on a unix socket at `path` (which must not exist yet).
pub fn spawn_unix(path: &Path, behavior: Behavior) -> io::Result<Backend> {
    let listener = UnixListener::bind(path)?;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    thread::Builder::new().name(format!("unix-backend-{behavior:?}")).spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                let _ = serve(UnixConn(stream), behavior);
            });
        }
    })?;
    Ok(Backend { addr: format!("unix:{}", path.display()), accepted })
}

/// An address on loopback where nothing listens, so that connecting is refused (RST) at once.
///
/// Releasing an ephemeral port and hoping nobody takes it is racy. Instead this holds a listener on
/// 127.0.0.1:P (so no one else on the host can bind P on 127.0.0.1 or on the wildcard address) and
/// hands out 127.0.0.2:P, which no socket matches. Keep the returned listener alive.
pub fn refusing_addr() -> io::Result<(TcpListener, String)> {
    let reservation = TcpListener::bind("127.0.0.1:0")?;
    let port = reservation.local_addr()?.port();
    Ok((reservation, format!("127.0.0.2:{port}")))
}

/// The two stream types behind one small interface.
trait Conn: Read + Write {
    fn set_timeouts(&self, d: Duration) -> io::Result<()>;
    fn abort(self);
}

struct TcpConn(TcpStream);
struct UnixConn(UnixStream);

impl Read for TcpConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl Write for TcpConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Conn for TcpConn {
    fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        self.0.set_read_timeout(Some(d))?;
        self.0.set_write_timeout(Some(d))
    }
    fn abort(self) {
        set_linger_zero(&self.0);
        drop(self.0);
    }
}

impl Read for UnixConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl Write for UnixConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Conn for UnixConn {
    fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        self.0.set_read_timeout(Some(d))?;
        self.0.set_write_timeout(Some(d))
    }
    fn abort(self) {
        drop(self.0);
    }
}

/// SO_LINGER {on, 0}: close() then sends RST instead of FIN. std has no stable setter, so call libc's
/// setsockopt (always linked on unix) directly.
#[cfg(target_os = "linux")]
fn set_linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct Linger {
        l_onoff: i32,
        l_linger: i32,
    }
    extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, val: *const std::ffi::c_void, len: u32) -> i32;
    }
    // asm-generic values, used by x86_64, aarch64, riscv64, ... (not by mips/sparc/parisc/alpha).
    const SOL_SOCKET: i32 = 1;
    const SO_LINGER: i32 = 13;
    let linger = Linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid fd we own, a properly sized and aligned `struct linger`.
    let rc = unsafe {
        setsockopt(
            stream.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            &linger as *const Linger as *const std::ffi::c_void,
            std::mem::size_of::<Linger>() as u32,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER) failed: {}", io::Error::last_os_error());
}

#[cfg(not(target_os = "linux"))]
fn set_linger_zero(_stream: &TcpStream) {
    // Elsewhere rely on the other classic trigger: closing with unread data pending sends RST.
}

/// Reads one request head (nginx sends GETs without a body); bounded in size and time.
fn read_request_head(conn: &mut impl Conn) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 64 * 1024 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    Ok(head)
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}

fn serve(mut conn: impl Conn, behavior: Behavior) -> io::Result<()> {
    // Nothing in the harness waits longer than this; a stuck thread must not outlive the test by much.
    conn.set_timeouts(Duration::from_secs(10))?;
    let _head = read_request_head(&mut conn)?;
    match behavior {
        Behavior::Hang => {
            // Wait for nginx to give up (proxy_read_timeout) and close its side.
            let mut sink = [0u8; 512];
            while conn.read(&mut sink)? > 0 {}
        }
        Behavior::BigHeader => {
            let cookie = "a".repeat(BIG_HEADER_BYTES);
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: session={cookie}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig"
            );
            // nginx stops reading once its buffer is full and closes: a write error here is expected.
            let _ = conn.write_all(resp.as_bytes());
        }
        Behavior::CloseSilently => drop(conn),
        Behavior::Reset => conn.abort(),
        Behavior::Garbage => {
            conn.write_all(GARBAGE_BANNER)?;
        }
        Behavior::InvalidHeader => {
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX Broken Header: oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            )?;
        }
        Behavior::Answer502 => {
            let body = "bad gateway (sent by the backend itself)\n";
            conn.write_all(
                format!(
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    body.len(),
                    body
                )
                .as_bytes(),
            )?;
        }
        Behavior::Slow(delay) => {
            thread::sleep(delay);
            conn.write_all(&ok_response("slow but fine\n"))?;
        }
        Behavior::Healthy => {
            conn.write_all(&ok_response("hello\n"))?;
        }
    }
    Ok(())
}
