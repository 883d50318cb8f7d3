//! genlogs: a deterministic generator of realistic nginx access and error logs whose 502/504 causes are
//! known exactly.
//!
//! ```text
//! cargo run --release --example genlogs -- --size 1G --out DIR [--format combined|upstream|json] [--seed N] [--gzip]
//!     [--failure-rate 0.05] [--error-heavy]
//! ```
//!
//! `--failure-rate R` adds background failures until about `R` of all requests end in 502/504 (the
//! outage bursts alone give about 0.6 %, so a lower rate is that); `--error-heavy` makes the error
//! log as busy as an incident day's: FastCGI stderr traces of several lines on many PHP requests
//! and an `upstream server temporarily disabled` warning after every refused connection.
//!
//! Writes `DIR/access.log`, `DIR/error.log`, `DIR/truth.json` (and `DIR/access.log.gz` with `--gzip`).
//!
//! The simulated site (what the truth assumes about nginx.conf):
//!
//! - three server blocks: `example.com` (Host `www.example.com`; static files, PHP through
//!   `fastcgi_pass unix:/run/php/php8.2-fpm.sock`), `api.example.com` and `shop.example.com`
//!   (`proxy_pass http://backend;`, `upstream backend { server 10.0.1.11:8080 .. 10.0.1.14:8080; }`);
//! - `proxy_next_upstream error timeout` (the default) with `proxy_next_upstream_tries 2`, so a failed
//!   attempt is retried once on the next peer, except non-idempotent requests (POST, PATCH) that were
//!   already sent, `too big header` (`invalid_header` is not in the mask), backend-sent 502/504
//!   (`http_502` is not in the mask) and `no live upstreams` (never retried). PHP has one server: no retry;
//! - `proxy_read_timeout 30s`, `fastcgi_read_timeout 60s`, `error_log ... warn`, `$time_local` at +0200.
//!
//! Six outage bursts, placed at fixed fractions of the output size, plus a low background rate of random
//! failures so that every cause shows up even in a small file. See `incident()` for the list.
//!
//! Every request whose outcome writes an error line gets a fresh connection number (`$connection`, the
//! error line's `*CID`) that is never reused, so the (CID, request, time) join has exactly one answer.
//! Keep-alive connections (reused CIDs) only ever carry requests without error lines.
//!
//! Speed: the hot loop formats into one reused `Vec<u8>` with hand-written integer formatting and no
//! per-line allocation; error lines (rare) are allocated and kept in a heap to be written in time order.
//! Gzip runs in its own thread.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------------
// PRNG: splitmix64. Small, fast, and the same sequence on every platform.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }
    fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.below(s.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------------
// Formatting helpers (itoa-style, into a reused buffer).

fn push_u64(b: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

/// Milliseconds as nginx prints `$request_time`: `S.mmm`.
fn push_ms(b: &mut Vec<u8>, ms: u64) {
    push_u64(b, ms / 1000);
    let r = ms % 1000;
    b.extend_from_slice(&[b'.', b'0' + (r / 100) as u8, b'0' + (r / 10 % 10) as u8, b'0' + (r % 10) as u8]);
}

fn push_2(b: &mut Vec<u8>, n: u32) {
    b.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
}

fn push_hex(b: &mut Vec<u8>, mut v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for _ in 0..digits {
        b.push(HEX[(v & 15) as usize]);
        v >>= 4;
    }
}

// ---------------------------------------------------------------------------------------------------
// Calendar (Howard Hinnant's civil-from-days), so no per-line chrono calls.

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const OFFSET: &str = "+0200";
const OFFSET_SECS: i64 = 2 * 3600;

/// Local (wall-clock, +0200) seconds since the epoch → `14/May/2024:10:22:31 +0200`.
fn access_stamp(b: &mut Vec<u8>, local_sec: i64) {
    let (y, m, d) = civil_from_days(local_sec.div_euclid(86400));
    let s = local_sec.rem_euclid(86400) as u32;
    push_2(b, d);
    b.push(b'/');
    b.extend_from_slice(MONTHS[m as usize - 1].as_bytes());
    b.push(b'/');
    push_u64(b, y as u64);
    b.push(b':');
    push_2(b, s / 3600);
    b.push(b':');
    push_2(b, s / 60 % 60);
    b.push(b':');
    push_2(b, s % 60);
    b.push(b' ');
    b.extend_from_slice(OFFSET.as_bytes());
}

/// Local seconds → `2024/05/14 10:22:31` (error-log header: local time, no zone).
fn error_stamp(b: &mut Vec<u8>, local_sec: i64) {
    let (y, m, d) = civil_from_days(local_sec.div_euclid(86400));
    let s = local_sec.rem_euclid(86400) as u32;
    push_u64(b, y as u64);
    b.push(b'/');
    push_2(b, m);
    b.push(b'/');
    push_2(b, d);
    b.push(b' ');
    push_2(b, s / 3600);
    b.push(b':');
    push_2(b, s / 60 % 60);
    b.push(b':');
    push_2(b, s % 60);
}

fn iso_local(local_sec: i64) -> String {
    let mut b = Vec::new();
    iso_stamp(&mut b, local_sec);
    String::from_utf8(b).unwrap()
}

/// Local seconds → `2024-05-14T10:22:31+02:00` (`$time_iso8601`).
fn iso_stamp(b: &mut Vec<u8>, local_sec: i64) {
    let (y, m, d) = civil_from_days(local_sec.div_euclid(86400));
    let s = local_sec.rem_euclid(86400) as u32;
    push_u64(b, y as u64);
    b.push(b'-');
    push_2(b, m);
    b.push(b'-');
    push_2(b, d);
    b.push(b'T');
    push_2(b, s / 3600);
    b.push(b':');
    push_2(b, s / 60 % 60);
    b.push(b':');
    push_2(b, s % 60);
    b.extend_from_slice(b"+02:00");
}

// ---------------------------------------------------------------------------------------------------
// The simulated world.

const PEERS: [&str; 6] = [
    "10.0.1.11:8080",
    "10.0.1.12:8080",
    "10.0.1.13:8080",
    "10.0.1.14:8080",
    "unix:/run/php/php8.2-fpm.sock",
    "backend", // the upstream block's name, which $upstream_addr shows after `no live upstreams`
];
const PHP: u8 = 4;
const GROUP: u8 = 5;
const WORKERS: [u32; 4] = [2817, 2818, 2819, 2820];

const USER_AGENTS: [&str; 14] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
    "ExampleShop/3.14.2 (iPhone; iOS 17.4; Scale/3.00)",
    "Mozilla/5.0 zgrab/0.x",
];

const REFERERS: [&str; 6] = [
    "https://www.google.com/",
    "https://www.example.com/",
    "https://app.example.com/dashboard",
    "https://shop.example.com/cart",
    "https://www.bing.com/",
    "https://t.co/x7Yq2LpA",
];

const WORDS: [&str; 12] = [
    "shoes",
    "red%20dress",
    "laptop",
    "usb-c",
    "coffee",
    "kettle",
    "tent",
    "bike",
    "gift",
    "sale",
    "socks",
    "lamp",
];
const SLUGS: [&str; 6] = [
    "hello-world",
    "release-notes-3-14",
    "how-we-cut-latency",
    "summer-sale",
    "postmortem-may-2024",
    "php-8-2-upgrade",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Vhost {
    Www,
    Api,
    Shop,
    Default,
}

impl Vhost {
    fn host(self) -> &'static str {
        match self {
            Vhost::Www => "www.example.com",
            Vhost::Api => "api.example.com",
            Vhost::Shop => "shop.example.com",
            Vhost::Default => "example.com",
        }
    }
    /// The first `server_name` of the server block, as the error log's `server:` shows it.
    fn server(self) -> &'static str {
        match self {
            Vhost::Www | Vhost::Default => "example.com",
            Vhost::Api => "api.example.com",
            Vhost::Shop => "shop.example.com",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Static,
    Php,
    Backend,
    /// Bad request (`"-"` or TLS bytes on port 80): 400, no upstream.
    Bad,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    None,
    AuthCallback,
    Report,
    Export,
    Probe404,
    Forbidden,
    Login,
    Orders,
}

/// Error lines that are not upstream failures (a correct tool must not count them).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Noise {
    OpenFailed,
    Forbidden,
    FastcgiStderr,
    UpstreamBuffered,
    ClientBodyBuffered,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cause {
    ConnectRefused,
    ReadTimeout,
    TooBigHeader,
    PrematureClose,
    ResetByPeer,
    NoLive,
    UnixMissing,
    Returned502,
    Returned504,
}

impl Cause {
    fn slug(self) -> &'static str {
        match self {
            Cause::ConnectRefused => "connect_refused",
            Cause::ReadTimeout => "read_timeout",
            Cause::TooBigHeader => "too_big_header",
            Cause::PrematureClose => "premature_close",
            Cause::ResetByPeer => "reset_by_peer",
            Cause::NoLive => "no_live_upstreams",
            Cause::UnixMissing => "unix_socket_missing",
            Cause::Returned502 => "upstream_returned_502",
            Cause::Returned504 => "upstream_returned_504",
        }
    }
    fn status(self) -> u16 {
        match self {
            Cause::ReadTimeout | Cause::Returned504 => 504,
            _ => 502,
        }
    }
    /// nginx writes an error line for this attempt (backend-sent codes log nothing).
    fn logged(self) -> bool {
        !matches!(self, Cause::Returned502 | Cause::Returned504)
    }
}

#[derive(Clone, Copy)]
struct Attempt {
    peer: u8,
    /// `$upstream_status` element; 0 prints `-`.
    status: u16,
    cause: Option<Cause>,
    connect_ms: Option<u64>,
    header_ms: Option<u64>,
    resp_ms: u64,
}

#[derive(Clone, Copy)]
struct Client {
    ip: usize, // index into Gen::ips
    ua: u8,
}

#[derive(Clone, Copy)]
struct Conn {
    client: u32,
    cid: u64,
    worker: u8,
    vhost: Vhost,
    http2: bool,
}

// ---------------------------------------------------------------------------------------------------
// Truth bookkeeping.

#[derive(Default)]
struct PeerTruth {
    attempts: u64,
    requests: u64,
    /// Attempts whose `$upstream_status` element is 502/504 (what the `upstream` format shows).
    failed_attempts_status: u64,
    /// Attempts that nginx logged an error line for (what the error log alone shows).
    failed_attempts_logged: u64,
    /// Failed attempts inside requests whose client status is not 5xx (the retry recovered).
    hidden_status: u64,
    hidden_logged: u64,
    errors_by_cause_status: BTreeMap<&'static str, u64>,
    errors_by_cause_logged: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Truth {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    /// slug → status → count, per client response.
    causes: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    peers: [PeerTruth; 6],
    hidden_failure_requests: u64,
    retried_requests: u64,
    /// Requests whose client status is 502/504.
    client_failures: u64,
    err_records: u64,
    err_physical_lines: u64,
    err_by_kind: BTreeMap<&'static str, u64>,
    err_by_level: BTreeMap<&'static str, u64>,
    first_sec: i64,
    last_sec: i64,
}

// ---------------------------------------------------------------------------------------------------
// Output: access.log through a reused buffer (and a gzip thread), error lines through a time-ordered heap.

const FLUSH_AT: usize = 1 << 20;

struct Sink {
    buf: Vec<u8>,
    file: File,
    gz: Option<mpsc::SyncSender<Vec<u8>>>,
    written: u64,
}

impl Sink {
    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        if let Some(tx) = &self.gz {
            tx.send(self.buf.clone()).ok().context("gzip thread died")?;
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
    fn total(&self) -> u64 {
        self.written + self.buf.len() as u64
    }
}

/// The access-log format written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Combined,
    /// `combined` plus `host= cid= rt= ua= us= urt= uct= uht=`.
    Upstream,
    /// `log_format escape=json` with the fields named like their variables.
    Json,
}

impl Format {
    /// Whether the format logs `$upstream_status` (so backend-sent 502/504 are attributed).
    fn has_upstream_status(self) -> bool {
        self != Format::Combined
    }

    fn name(self) -> &'static str {
        match self {
            Format::Combined => "combined",
            Format::Upstream => "upstream",
            Format::Json => "json",
        }
    }
}

struct Gen {
    rng: Rng,
    format: Format,
    /// `--failure-rate`: the share of requests that should end in 502/504.
    failure_rate: Option<f64>,
    error_heavy: bool,
    target: u64,
    ips: Vec<Vec<u8>>,
    clients: Vec<Client>,
    pool: Vec<Option<Conn>>,
    next_cid: u64,
    /// (client, request line) hash → (last seen, last seen with error lines); see JOIN_GUARD_MS.
    recent: std::collections::HashMap<u64, (i64, i64)>,
    recent_fifo: std::collections::VecDeque<(i64, u64)>,
    /// (time, connection number) of numbers skipped when they were current; see `fresh_cid`.
    reserved: std::collections::VecDeque<(i64, u64)>,
    /// Local wall-clock time in ms of the current access line (end of request).
    now_ms: i64,
    stamp_sec: i64,
    stamp: Vec<u8>,
    /// The same second as `$time_iso8601` (for `--format json`).
    iso_stamp: Vec<u8>,
    uri: Vec<u8>,
    req: Vec<u8>,
    attempts: Vec<Attempt>,
    err_heap: BinaryHeap<Reverse<(i64, u64, Vec<u8>)>>,
    err_seq: u64,
    err_out: BufWriter<File>,
    err_bytes: u64,
    access: Sink,
    access_lines: u64,
    truth: Truth,
    next_notice_ms: i64,
    temp_file_no: u64,
}

struct Req {
    vhost: Vhost,
    route: Route,
    special: Special,
    method: &'static str,
    idempotent: bool,
}

/// The outage bursts, as fractions of the output size. (start, end, name).
const INCIDENTS: [(f64, f64, &str); 7] = [
    (0.100, 0.106, "10.0.1.12:8080 down (connect refused; retries recover)"),
    (0.106, 0.112, "10.0.1.12:8080 and 10.0.1.13:8080 down (connect refused, some client-facing)"),
    (0.250, 0.258, "backend and php-fpm slow (read timeouts, 504)"),
    (0.400, 0.405, "all backend peers down (no live upstreams)"),
    (0.550, 0.556, "php-fpm stopped (socket missing)"),
    (0.700, 0.715, "backend workers crashing (premature close / reset; auth callback too big header)"),
    (0.850, 0.856, "shop backend answering 502/504 itself"),
];

fn incident(progress: f64) -> Option<usize> {
    INCIDENTS.iter().position(|&(a, b, _)| progress >= a && progress < b)
}

impl Gen {
    fn progress(&self) -> f64 {
        self.access.total() as f64 / self.target as f64
    }

    fn set_stamp(&mut self) {
        let sec = self.now_ms.div_euclid(1000);
        if sec != self.stamp_sec {
            self.stamp_sec = sec;
            self.stamp.clear();
            access_stamp(&mut self.stamp, sec);
            self.iso_stamp.clear();
            iso_stamp(&mut self.iso_stamp, sec);
        }
    }

    /// Chance that a proxied request without an outage failure fails anyway: 0.2 % by default, so
    /// small files cover every cause; with `--failure-rate`, whatever keeps the share of 502/504
    /// near the rate asked for (only part of these failures reach the client: retries recover some).
    fn background_failure_chance(&self) -> f64 {
        match self.failure_rate {
            None => 0.002,
            Some(r) if (self.truth.client_failures as f64) < r * (self.truth.requests + 1) as f64 => {
                (4.0 * r).min(1.0)
            }
            Some(_) => 0.0,
        }
    }

    fn new_ip(rng: &mut Rng) -> Vec<u8> {
        let mut b = Vec::with_capacity(40);
        if rng.chance(0.12) {
            // IPv6, compressed form as nginx prints it.
            b.extend_from_slice(rng.pick(&[&b"2001:db8:"[..], b"2a02:6b8:", b"2600:1700:", b"2a01:4f8:"]));
            push_hex_trim(&mut b, rng.range(1, 0xffff));
            b.push(b':');
            push_hex_trim(&mut b, rng.range(0, 0xffff));
            b.extend_from_slice(b"::");
            push_hex_trim(&mut b, rng.range(1, 0xffff));
        } else {
            // Public-looking IPv4 (avoids 10/8, 127/8, 172.16/12, 192.168/16, multicast).
            let a = loop {
                let a = rng.range(1, 223);
                if a != 10 && a != 127 && a != 172 && a != 192 && a != 100 {
                    break a;
                }
            };
            push_u64(&mut b, a);
            b.push(b'.');
            push_u64(&mut b, rng.range(0, 255));
            b.push(b'.');
            push_u64(&mut b, rng.range(0, 255));
            b.push(b'.');
            push_u64(&mut b, rng.range(1, 254));
        }
        b
    }

    /// Skewed client choice: a few heavy clients, a long tail.
    fn pick_client(&mut self) -> u32 {
        let n = self.clients.len() as u64;
        let a = self.rng.below(n);
        let b = self.rng.below(n);
        (a * b / n) as u32
    }

    fn pick_vhost(&mut self) -> Vhost {
        match self.rng.below(100) {
            0..=44 => Vhost::Api,
            45..=79 => Vhost::Www,
            _ => Vhost::Shop,
        }
    }

    /// Builds the URI into `self.uri` and returns the request's shape.
    fn gen_request(&mut self, vhost: Vhost) -> Req {
        let r = &mut self.rng;
        let u = &mut self.uri;
        u.clear();
        let mut req =
            Req { vhost, route: Route::Backend, special: Special::None, method: "GET", idempotent: true };
        match vhost {
            Vhost::Api => match r.below(100) {
                0..=19 => {
                    u.extend_from_slice(b"/v1/items?page=");
                    push_u64(u, r.range(1, 50));
                    if r.chance(0.3) {
                        u.extend_from_slice(b"&sort=price");
                    }
                }
                20..=39 => {
                    u.extend_from_slice(b"/v1/items/");
                    push_u64(u, r.range(1000, 99999));
                }
                40..=49 => {
                    u.extend_from_slice(b"/v1/users/");
                    push_u64(u, r.range(1, 500_000));
                    u.extend_from_slice(b"/profile");
                }
                50..=59 => {
                    u.extend_from_slice(b"/v1/search?q=");
                    u.extend_from_slice(r.pick(&WORDS).as_bytes());
                    u.extend_from_slice(b"&limit=20");
                }
                60..=65 => {
                    u.extend_from_slice(b"/v1/orders");
                    req.method = "POST";
                    req.special = Special::Orders;
                }
                66..=68 => {
                    u.extend_from_slice(b"/v1/auth/login");
                    req.method = "POST";
                    req.special = Special::Login;
                }
                69..=70 => {
                    u.extend_from_slice(b"/v1/auth/callback?code=");
                    push_hex(u, r.next(), 16);
                    u.extend_from_slice(b"&state=");
                    push_hex(u, r.next(), 8);
                    req.special = Special::AuthCallback;
                }
                71..=72 => {
                    u.extend_from_slice(b"/v1/reports/daily?from=2024-05-01&to=2024-05-");
                    push_2(u, r.range(2, 28) as u32);
                    req.special = Special::Report;
                }
                73 => {
                    u.extend_from_slice(b"/v1/reports/export?fmt=csv");
                    req.special = Special::Export;
                }
                74..=75 => {
                    u.extend_from_slice(b"/v1/items/");
                    push_u64(u, r.range(1000, 99999));
                    req.method = "PUT";
                }
                76 => {
                    u.extend_from_slice(b"/v1/cart/");
                    push_u64(u, r.range(1, 9999));
                    req.method = "DELETE";
                }
                77 => {
                    u.extend_from_slice(b"/v1/users/");
                    push_u64(u, r.range(1, 500_000));
                    req.method = "PATCH";
                }
                _ => u.extend_from_slice(b"/healthz"),
            },
            Vhost::Www => match r.below(100) {
                0..=11 => {
                    u.push(b'/');
                    req.route = Route::Php;
                }
                12..=23 => {
                    u.extend_from_slice(b"/index.php?p=");
                    push_u64(u, r.range(1, 300));
                    req.route = Route::Php;
                }
                24..=33 => {
                    u.extend_from_slice(b"/product.php?id=");
                    push_u64(u, r.range(1, 5000));
                    u.extend_from_slice(b"&ref=");
                    u.extend_from_slice(r.pick(&["home", "search", "mail", "ad"]).as_bytes());
                    req.route = Route::Php;
                }
                34..=35 => {
                    u.extend_from_slice(b"/contact.php");
                    req.method = "POST";
                    req.route = Route::Php;
                }
                36..=43 => {
                    u.extend_from_slice(b"/blog/2024/05/");
                    u.extend_from_slice(r.pick(&SLUGS).as_bytes());
                    req.route = Route::Php;
                }
                44..=58 => {
                    u.extend_from_slice(
                        r.pick(&["/static/js/app.3f9c2b.js", "/static/js/vendor.81ad0e.js"]).as_bytes(),
                    );
                    req.route = Route::Static;
                }
                59..=71 => {
                    u.extend_from_slice(b"/static/css/site.css?v=");
                    push_u64(u, r.range(1, 9));
                    req.route = Route::Static;
                }
                72..=87 => {
                    u.extend_from_slice(b"/images/hero-");
                    push_u64(u, r.range(1, 40));
                    u.extend_from_slice(b".jpg");
                    req.route = Route::Static;
                }
                88..=93 => {
                    u.extend_from_slice(b"/favicon.ico");
                    req.route = Route::Static;
                }
                94 => {
                    u.extend_from_slice(b"/robots.txt");
                    req.route = Route::Static;
                }
                95..=97 if r.chance(0.35) => {
                    u.extend_from_slice(
                        r.pick(&["/.env", "/apple-touch-icon.png", "/admin/config.bak", "/backup.zip"])
                            .as_bytes(),
                    );
                    req.route = Route::Static;
                    req.special = Special::Probe404;
                }
                98 if r.chance(0.35) => {
                    u.extend_from_slice(b"/.git/config");
                    req.route = Route::Static;
                    req.special = Special::Forbidden;
                }
                _ => {
                    u.extend_from_slice(b"/sitemap.xml");
                    req.route = Route::Static;
                }
            },
            Vhost::Shop | Vhost::Default => match r.below(100) {
                0..=19 => u.extend_from_slice(b"/cart"),
                20..=31 => {
                    u.extend_from_slice(b"/checkout?step=");
                    push_u64(u, r.range(1, 3));
                }
                32..=69 => {
                    u.extend_from_slice(b"/product/");
                    push_u64(u, r.range(1, 20000));
                    u.extend_from_slice(b"?color=");
                    u.extend_from_slice(r.pick(&["red", "blue", "black", "white"]).as_bytes());
                }
                70..=81 => {
                    u.extend_from_slice(b"/cart/add");
                    req.method = "POST";
                }
                _ => {
                    u.extend_from_slice(b"/assets/shop.");
                    push_hex(u, r.range(0, 0xffffff), 6);
                    u.extend_from_slice(b".css");
                    req.route = Route::Static;
                }
            },
        }
        req.idempotent = !matches!(req.method, "POST" | "PATCH");
        req
    }

    fn ok_attempt(&mut self, peer: u8, status: u16, min_ms: u64, max_ms: u64) -> Attempt {
        let c = self.rng.range(0, 2);
        let h = c + self.rng.range(min_ms, max_ms);
        Attempt {
            peer,
            status,
            cause: None,
            connect_ms: Some(c),
            header_ms: Some(h),
            resp_ms: h + self.rng.range(0, 3),
        }
    }

    fn fail_attempt(&mut self, peer: u8, cause: Cause) -> Attempt {
        let r = &mut self.rng;
        let (connect_ms, header_ms, resp_ms) = match cause {
            Cause::ConnectRefused | Cause::UnixMissing => (None, None, r.range(0, 1)),
            Cause::NoLive => (None, None, 0),
            Cause::ReadTimeout => {
                let t = if peer == PHP { 60_000 } else { 30_000 };
                (Some(r.range(0, 2)), None, t + r.range(0, 4))
            }
            Cause::TooBigHeader => (Some(r.range(0, 2)), None, r.range(5, 120)),
            Cause::PrematureClose | Cause::ResetByPeer => (Some(r.range(0, 2)), None, r.range(1, 900)),
            Cause::Returned502 | Cause::Returned504 => {
                let c = r.range(0, 2);
                let h =
                    c + if cause == Cause::Returned504 { r.range(9_000, 15_000) } else { r.range(2, 400) };
                (Some(c), Some(h), h + r.range(0, 2))
            }
        };
        Attempt { peer, status: cause.status(), cause: Some(cause), connect_ms, header_ms, resp_ms }
    }

    /// Status of a successful response for this request.
    fn ok_status(&mut self, req: &Req) -> u16 {
        let r = &mut self.rng;
        match req.special {
            Special::Orders => return if r.chance(0.95) { 201 } else { 422 },
            Special::Login => return if r.chance(0.88) { 200 } else { 401 },
            _ => {}
        }
        match (req.route, req.method) {
            (_, "POST") => {
                if r.chance(0.8) {
                    302
                } else {
                    200
                }
            }
            (_, "PUT") | (_, "PATCH") => 200,
            (_, "DELETE") => 204,
            (Route::Php, _) => match r.below(1000) {
                0..=29 => 301,
                30..=49 => 404,
                _ => 200,
            },
            _ => match r.below(1000) {
                0..=19 => 304,
                20..=49 => 404,
                50..=56 => 301,
                _ => 200,
            },
        }
    }

    /// Decides the upstream attempts for a proxied/fastcgi request. Fills `self.attempts`; returns
    /// `Some(status)` when an attempt failed (the client status is the last attempt's), `None` when
    /// the request simply succeeded.
    fn plan(&mut self, req: &Req, progress: f64) -> u16 {
        self.attempts.clear();
        let php = req.route == Route::Php;
        let first: u8 = if php { PHP } else { self.rng.below(4) as u8 };
        let next = |p: u8| (p + 1) % 4;

        // 1. Which failure (if any) hits the first attempt?
        let mut fail: Option<Cause> = None;
        let mut second_fails: Option<Cause> = None; // for retried requests: does the retry fail too?
        match incident(progress) {
            Some(0) if !php && first == 1 && self.rng.chance(0.6) => fail = Some(Cause::ConnectRefused),
            Some(1) if !php && (first == 1 || first == 2) && self.rng.chance(0.6) => {
                fail = Some(Cause::ConnectRefused);
                if first == 1 {
                    second_fails = Some(Cause::ConnectRefused); // .12 then .13: both down
                }
            }
            Some(2) => {
                if php && self.rng.chance(0.25) {
                    fail = Some(Cause::ReadTimeout);
                } else if !php && (first == 3 || req.special == Special::Report) && self.rng.chance(0.7) {
                    fail = Some(Cause::ReadTimeout);
                    if self.rng.chance(0.5) {
                        second_fails = Some(Cause::ReadTimeout);
                    }
                }
            }
            Some(3) if !php => {
                if self.rng.chance(0.3) {
                    fail = Some(Cause::ConnectRefused);
                    second_fails = Some(Cause::NoLive);
                } else {
                    fail = Some(Cause::NoLive);
                }
            }
            Some(4) if php => fail = Some(Cause::UnixMissing),
            Some(5) if !php => {
                if req.special == Special::AuthCallback {
                    fail = Some(Cause::TooBigHeader);
                } else if self.rng.chance(if req.idempotent { 0.15 } else { 0.5 }) {
                    // Slow, non-idempotent requests (orders, cart) are the ones caught mid-flight.
                    fail =
                        Some(if self.rng.chance(0.5) { Cause::PrematureClose } else { Cause::ResetByPeer });
                }
            }
            Some(6) if req.vhost == Vhost::Shop && self.rng.chance(0.5) => {
                fail = Some(if self.rng.chance(0.8) { Cause::Returned502 } else { Cause::Returned504 });
            }
            _ => {}
        }
        if fail.is_none() && self.rng.chance(self.background_failure_chance()) {
            // Background: rare failures of every kind, so small files cover every cause.
            let c = if php {
                self.rng.pick(&[
                    Cause::ReadTimeout,
                    Cause::UnixMissing,
                    Cause::TooBigHeader,
                    Cause::Returned502,
                ])
            } else {
                self.rng.pick(&[
                    Cause::ConnectRefused,
                    Cause::ConnectRefused,
                    Cause::ReadTimeout,
                    Cause::TooBigHeader,
                    Cause::PrematureClose,
                    Cause::ResetByPeer,
                    Cause::NoLive,
                    Cause::Returned502,
                    Cause::Returned504,
                ])
            };
            fail = Some(c);
            if c == Cause::ConnectRefused && self.rng.chance(0.3) {
                second_fails = Some(Cause::ConnectRefused);
            }
        }

        let Some(cause) = fail else {
            let status = self.ok_status(req);
            let a = if php {
                self.ok_attempt(PHP, status, 3, 250)
            } else {
                self.ok_attempt(first, status, 1, 180)
            };
            self.attempts.push(a);
            return status;
        };

        if cause == Cause::NoLive {
            let a = self.fail_attempt(GROUP, Cause::NoLive);
            self.attempts.push(a);
            return 502;
        }
        let a = self.fail_attempt(first, cause);
        self.attempts.push(a);

        // 2. Retry? (proxy_next_upstream error timeout; tries 2; php has a single server)
        let retry = !php
            && match cause {
                Cause::ConnectRefused => true, // nothing was sent yet
                Cause::ReadTimeout | Cause::PrematureClose | Cause::ResetByPeer => req.idempotent,
                _ => false,
            };
        if !retry {
            return cause.status();
        }
        let p2 = next(first);
        let a2 = match second_fails {
            Some(Cause::NoLive) => self.fail_attempt(GROUP, Cause::NoLive),
            Some(c) => self.fail_attempt(p2, c),
            None => {
                let status = self.ok_status(req);
                self.ok_attempt(p2, status, 1, 180)
            }
        };
        self.attempts.push(a2);
        a2.status
    }

    fn body_bytes(&mut self, status: u16, req: &Req) -> u64 {
        let r = &mut self.rng;
        match status {
            200 | 206 => match req.route {
                Route::Static => r.range(400, 180_000),
                Route::Php => r.range(3_000, 60_000),
                _ => {
                    if req.special == Special::Export {
                        r.range(2_000_000, 9_000_000)
                    } else {
                        r.range(80, 12_000)
                    }
                }
            },
            201 => r.range(60, 400),
            204 | 304 | 499 => 0,
            301 => 169,
            302 => 145,
            400 => 157,
            403 => 153,
            404 => {
                if req.route == Route::Static {
                    153
                } else {
                    r.range(20, 120)
                }
            }
            401 | 422 => r.range(30, 90),
            502 => 157,
            504 => 167,
            _ => r.range(0, 500),
        }
    }

    /// A never-used connection number for a request with error lines. nginx numbers connections when
    /// it accepts them, so a request that ran for `rt_ms` gets a number from about `rt_ms` ago.
    fn fresh_cid(&mut self, rt_ms: u64) -> u64 {
        if rt_ms >= 1000 {
            let start = self.now_ms - rt_ms as i64;
            let idx = self.reserved.partition_point(|&(t, _)| t < start);
            if let Some((_, cid)) = self.reserved.remove(idx) {
                return cid;
            }
        }
        self.next_cid += 1;
        self.next_cid
    }

    // ---- error lines -------------------------------------------------------------------------------

    fn err_push(&mut self, sec: i64, line: Vec<u8>, kind: &'static str, level: &'static str, physical: u64) {
        self.truth.err_records += 1;
        self.truth.err_physical_lines += physical;
        *self.truth.err_by_kind.entry(kind).or_default() += 1;
        *self.truth.err_by_level.entry(level).or_default() += 1;
        self.err_seq += 1;
        self.err_heap.push(Reverse((sec, self.err_seq, line)));
    }

    /// Writes out every queued error line that no later request can precede.
    fn err_drain(&mut self, upto_sec: i64) -> Result<()> {
        while let Some(Reverse((sec, _, _))) = self.err_heap.peek() {
            if *sec > upto_sec {
                break;
            }
            let Reverse((_, _, line)) = self.err_heap.pop().unwrap();
            self.err_out.write_all(&line)?;
            self.err_bytes += line.len() as u64;
        }
        Ok(())
    }

    /// `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID MESSAGE[ while ACTION], client: C, server: S,
    /// request: "R", upstream: "U", host: "H"[, referrer: "F"]\n`
    #[allow(clippy::too_many_arguments)]
    fn err_line(
        &self,
        sec: i64,
        level: &str,
        worker: u8,
        cid: u64,
        msg: &[u8],
        action: Option<&str>,
        client: &[u8],
        vhost: Vhost,
        upstream: Option<(&str, &str, bool, bool)>, // (schema, peer, colon sep, with uri)
        referer: Option<&str>,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(320 + msg.len());
        error_stamp(&mut b, sec);
        b.extend_from_slice(b" [");
        b.extend_from_slice(level.as_bytes());
        b.extend_from_slice(b"] ");
        let pid = WORKERS[worker as usize] as u64;
        push_u64(&mut b, pid);
        b.push(b'#');
        push_u64(&mut b, pid);
        b.extend_from_slice(b": *");
        push_u64(&mut b, cid);
        b.push(b' ');
        b.extend_from_slice(msg);
        if let Some(a) = action {
            b.extend_from_slice(b" while ");
            b.extend_from_slice(a.as_bytes());
        }
        b.extend_from_slice(b", client: ");
        b.extend_from_slice(client);
        b.extend_from_slice(b", server: ");
        b.extend_from_slice(vhost.server().as_bytes());
        b.extend_from_slice(b", request: \"");
        b.extend_from_slice(&self.req);
        b.push(b'"');
        if let Some((schema, peer, colon, with_uri)) = upstream {
            b.extend_from_slice(b", upstream: \"");
            b.extend_from_slice(schema.as_bytes());
            b.extend_from_slice(peer.as_bytes());
            if colon {
                b.push(b':');
            }
            if with_uri {
                b.extend_from_slice(&self.uri);
            }
            b.push(b'"');
        }
        b.extend_from_slice(b", host: \"");
        b.extend_from_slice(vhost.host().as_bytes());
        b.push(b'"');
        if let Some(f) = referer {
            b.extend_from_slice(b", referrer: \"");
            b.extend_from_slice(f.as_bytes());
            b.push(b'"');
        }
        b.push(b'\n');
        b
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt_err_line(
        &self,
        a: &Attempt,
        sec: i64,
        worker: u8,
        cid: u64,
        client: &[u8],
        vhost: Vhost,
        referer: Option<&str>,
    ) -> Vec<u8> {
        let cause = a.cause.unwrap();
        let php = a.peer == PHP;
        let (level, msg, action): (&str, &[u8], &str) = match cause {
            Cause::ConnectRefused => {
                ("error", b"connect() failed (111: Connection refused)", "connecting to upstream")
            }
            Cause::ReadTimeout => (
                "error",
                b"upstream timed out (110: Connection timed out)",
                "reading response header from upstream",
            ),
            Cause::TooBigHeader => {
                ("error", b"upstream sent too big header", "reading response header from upstream")
            }
            Cause::PrematureClose => {
                ("error", b"upstream prematurely closed connection", "reading response header from upstream")
            }
            Cause::ResetByPeer => (
                "error",
                b"recv() failed (104: Connection reset by peer)",
                "reading response header from upstream",
            ),
            Cause::NoLive => ("error", b"no live upstreams", "connecting to upstream"),
            Cause::UnixMissing => (
                "crit",
                b"connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory)",
                "connecting to upstream",
            ),
            Cause::Returned502 | Cause::Returned504 => unreachable!(),
        };
        // `sep` is ':' only for unix peers whose sockaddr is still set: not after a timeout or no-live.
        let colon = php && !matches!(cause, Cause::ReadTimeout | Cause::NoLive);
        let upstream = if php {
            ("fastcgi://", PEERS[PHP as usize], colon, false)
        } else {
            ("http://", PEERS[a.peer as usize], false, true)
        };
        self.err_line(sec, level, worker, cid, msg, Some(action), client, vhost, Some(upstream), referer)
    }

    // ---- the main step ------------------------------------------------------------------------------

    fn step(&mut self) -> Result<()> {
        let progress = self.progress();
        // Time: ~45 requests/s on average, with a daily-ish wave.
        // (A triangle wave, not sin(): plain arithmetic gives the same bytes on every platform.)
        let phase = (progress * 0.8).fract();
        let wave = 0.4 + 2.4 * (phase - 0.5).abs();
        let mean_gap = (22.0 / wave) as u64 + 1;
        self.now_ms += self.rng.range(0, 2 * mean_gap) as i64;
        self.set_stamp();

        // Occasional reload notice (logrotate's `nginx -s reopen`): a line with no *CID.
        if self.now_ms >= self.next_notice_ms {
            let sec = self.now_ms / 1000;
            let mut b = Vec::with_capacity(64);
            error_stamp(&mut b, sec);
            b.extend_from_slice(b" [notice] ");
            let pid = 30000 + self.rng.range(0, 9999);
            push_u64(&mut b, pid);
            b.push(b'#');
            push_u64(&mut b, pid);
            b.extend_from_slice(b": signal process started\n");
            self.err_push(sec, b, "noise_notice", "notice", 1);
            self.next_notice_ms += 6 * 3600 * 1000;
        }

        // Connection: reuse a keep-alive one, or open a new one.
        let reuse_slot = self.rng.below(self.pool.len() as u64) as usize;
        let reused = self.rng.chance(0.45) && self.pool[reuse_slot].is_some();
        let conn = if reused {
            self.pool[reuse_slot].unwrap()
        } else {
            let client = self.pick_client();
            let vhost = self.pick_vhost();
            let k = self.rng.range(1, 3);
            if k >= 2 {
                // A connection number some other (unlogged or long-running) request took: kept for
                // the long requests that accepted their connection back then.
                self.reserved.push_back((self.now_ms, self.next_cid + 1));
            }
            self.next_cid += k;
            while self.reserved.front().is_some_and(|&(t, _)| t < self.now_ms - 150_000) {
                self.reserved.pop_front();
            }
            Conn {
                client,
                cid: self.next_cid,
                worker: self.rng.below(4) as u8,
                vhost,
                http2: self.rng.chance(0.3),
            }
        };
        let mut client = self.clients[conn.client as usize];

        // Request.
        let bad = if self.rng.chance(0.002) { self.rng.below(4) as u8 + 1 } else { 0 };
        let mut req = self.gen_request(conn.vhost);
        self.req.clear();
        if bad != 0 {
            req.route = Route::Bad;
            req.vhost = Vhost::Default;
            if bad == 1 {
                self.req
                    .extend_from_slice(b"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\\x8A\\xD2");
            } else {
                self.req.push(b'-');
            }
        } else {
            self.req.extend_from_slice(req.method.as_bytes());
            self.req.push(b' ');
            self.req.extend_from_slice(&self.uri);
            self.req.extend_from_slice(if conn.http2 {
                b" HTTP/2.0"
            } else if self.rng.chance(0.02) {
                b" HTTP/1.0"
            } else {
                b" HTTP/1.1"
            });
        }
        let referer: &'static str =
            if req.route == Route::Bad || self.rng.chance(0.55) { "-" } else { self.rng.pick(&REFERERS) };
        let vhost = req.vhost;
        let referer_opt = if referer == "-" { None } else { Some(referer) };

        // Outcome.
        self.attempts.clear();
        let mut status: u16;
        let mut rt_ms: u64;
        let mut noise: Option<(&'static str, Noise, &'static str)> = None; // (level, what, truth kind)
        match req.route {
            Route::Bad => {
                status = 400;
                rt_ms = if bad == 1 { self.rng.range(0, 40) } else { 0 };
            }
            Route::Static => {
                rt_ms = self.rng.range(0, 3);
                status = match req.special {
                    Special::Probe404 => {
                        noise = Some(("error", Noise::OpenFailed, "noise_open_failed"));
                        404
                    }
                    Special::Forbidden => {
                        noise = Some(("error", Noise::Forbidden, "noise_forbidden"));
                        403
                    }
                    _ => match self.rng.below(100) {
                        0..=27 => 304,
                        28..=29 => 206,
                        _ => 200,
                    },
                };
                if status == 200 && self.rng.chance(0.01) {
                    status = 499;
                    rt_ms = self.rng.range(200, 5000);
                }
            }
            Route::Php | Route::Backend => {
                status = self.plan(&req, progress);
                // A few clients give up while waiting (499, `$upstream_status` `-`).
                if self.attempts.len() == 1 && self.attempts[0].cause.is_none() && self.rng.chance(0.004) {
                    status = 499;
                    let a = &mut self.attempts[0];
                    a.status = 0;
                    a.header_ms = None;
                    a.resp_ms = self.rng.range(1000, 20_000);
                }
                rt_ms = self.attempts.iter().map(|a| a.resp_ms).sum::<u64>() + self.rng.range(0, 2);
                let last = *self.attempts.last().unwrap();
                if last.cause.is_none() && status != 499 {
                    let stderr_chance = if self.error_heavy { 0.5 } else { 0.02 };
                    if req.route == Route::Php && status == 200 && self.rng.chance(stderr_chance) {
                        noise = Some(("error", Noise::FastcgiStderr, "fastcgi_stderr"));
                    } else if req.special == Special::Export && status == 200 && self.rng.chance(0.5) {
                        noise = Some(("warn", Noise::UpstreamBuffered, "noise_buffered_warn"));
                    } else if req.method == "POST" && self.rng.chance(0.01) {
                        noise = Some(("warn", Noise::ClientBodyBuffered, "noise_client_body_warn"));
                    }
                }
            }
        }
        let body = self.body_bytes(status, &req);
        let has_err = self.attempts.iter().any(|a| a.cause.is_some_and(|c| c.logged())) || noise.is_some();

        // The `combined` format has no $connection: a tool can only join on (client, request, time).
        // Keep that join unambiguous: no two requests with the same (client, request line) within
        // JOIN_GUARD_MS of each other when either has error lines. On a clash, another client sends it.
        let mut moved = false;
        for _ in 0..16 {
            let key = fnv(&self.ips[client.ip], &self.req);
            let (last, last_err) = self.recent.get(&key).copied().unwrap_or((i64::MIN / 2, i64::MIN / 2));
            let clash =
                self.now_ms - last_err < JOIN_GUARD_MS || (has_err && self.now_ms - last < JOIN_GUARD_MS);
            if !clash {
                self.recent.insert(key, (self.now_ms, if has_err { self.now_ms } else { last_err }));
                self.recent_fifo.push_back((self.now_ms, key));
                break;
            }
            let ci = self.pick_client() as usize;
            client = self.clients[ci];
            moved = true;
        }
        let horizon = self.now_ms - JOIN_GUARD_MS;
        while self.recent_fifo.front().is_some_and(|&(t, _)| t < horizon) {
            let (_, key) = self.recent_fifo.pop_front().unwrap();
            if self.recent.get(&key).is_some_and(|&(t, _)| t < horizon) {
                self.recent.remove(&key);
            }
        }
        let ua = if req.route == Route::Bad { "-" } else { USER_AGENTS[client.ua as usize] };

        // CID: a request with error lines always gets a fresh, never-reused connection.
        let (cid, worker) = if moved {
            (self.fresh_cid(rt_ms), self.rng.below(4) as u8)
        } else if has_err {
            if reused || rt_ms >= 1000 {
                (self.fresh_cid(rt_ms), self.rng.below(4) as u8)
            } else {
                (conn.cid, conn.worker)
            }
        } else {
            if !reused {
                self.pool[reuse_slot] = Some(conn);
            }
            (conn.cid, conn.worker)
        };

        // Error lines.
        if has_err {
            let ip = &self.ips[client.ip].clone();
            // The request started rt before its access line; attempts run back to back from there.
            // Lines are queued in attempt order (the heap keeps insertion order within a second).
            let mut end_ms = self.now_ms - rt_ms as i64;
            let attempts = self.attempts.clone();
            let n = attempts.len();
            for (i, a) in attempts.iter().enumerate() {
                end_ms += a.resp_ms as i64;
                if let Some(c) = a.cause {
                    if c.logged() {
                        let sec = end_ms.div_euclid(1000);
                        let line = self.attempt_err_line(a, sec, worker, cid, ip, vhost, referer_opt);
                        let kind = if status >= 500 && i == n - 1 {
                            "client_failure"
                        } else if status >= 500 {
                            "earlier_attempt"
                        } else {
                            "hidden_failure"
                        };
                        self.err_push(
                            sec,
                            line,
                            kind,
                            if c == Cause::UnixMissing { "crit" } else { "error" },
                            1,
                        );
                        let disabled_chance = if self.error_heavy { 1.0 } else { 0.3 };
                        if c == Cause::ConnectRefused && self.rng.chance(disabled_chance) {
                            let sec2 = sec;
                            let l = self.err_line(
                                sec2,
                                "warn",
                                worker,
                                cid,
                                b"upstream server temporarily disabled",
                                Some("connecting to upstream"),
                                ip,
                                vhost,
                                Some(("http://", PEERS[a.peer as usize], false, true)),
                                referer_opt,
                            );
                            self.err_push(sec2, l, "server_disabled_warn", "warn", 1);
                        }
                    }
                }
            }
            if let Some((level, what, kind)) = noise {
                let sec = self.now_ms.div_euclid(1000);
                let (line, physical) = match what {
                    Noise::OpenFailed => {
                        let mut m = b"open() \"/var/www/html".to_vec();
                        m.extend_from_slice(&self.uri);
                        m.extend_from_slice(b"\" failed (2: No such file or directory)");
                        (self.err_line(sec, level, worker, cid, &m, None, ip, vhost, None, referer_opt), 1)
                    }
                    Noise::Forbidden => (
                        self.err_line(
                            sec,
                            level,
                            worker,
                            cid,
                            b"access forbidden by rule",
                            None,
                            ip,
                            vhost,
                            None,
                            referer_opt,
                        ),
                        1,
                    ),
                    Noise::FastcgiStderr => {
                        // Raw backend text with embedded newlines: continuation lines.
                        let n = if self.error_heavy { self.rng.range(2, 12) } else { self.rng.range(1, 3) };
                        let mut m = b"FastCGI sent in stderr: \"".to_vec();
                        for k in 0..n {
                            if k > 0 {
                                m.push(b'\n');
                            }
                            let lines =
                                if self.error_heavy && k > 0 { &TRACE[..] } else { &PHP_MESSAGES[..] };
                            m.extend_from_slice(self.rng.pick(lines));
                            let line_no = self.rng.range(3, 400);
                            push_u64(&mut m, line_no);
                        }
                        m.push(b'"');
                        let upstream = ("fastcgi://", PEERS[PHP as usize], true, false);
                        (
                            self.err_line(
                                sec,
                                level,
                                worker,
                                cid,
                                &m,
                                Some("reading response header from upstream"),
                                ip,
                                vhost,
                                Some(upstream),
                                referer_opt,
                            ),
                            n,
                        )
                    }
                    Noise::UpstreamBuffered => {
                        self.temp_file_no += 1;
                        let mut m = b"an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/".to_vec();
                        let t = self.temp_file_no;
                        push_u64(&mut m, t % 10);
                        m.push(b'/');
                        push_2(&mut m, (t / 10 % 100) as u32);
                        m.push(b'/');
                        let s = format!("{t:010}");
                        m.extend_from_slice(s.as_bytes());
                        let peer = PEERS[self.attempts.last().unwrap().peer as usize];
                        (
                            self.err_line(
                                sec,
                                level,
                                worker,
                                cid,
                                &m,
                                Some("reading upstream"),
                                ip,
                                vhost,
                                Some(("http://", peer, false, true)),
                                referer_opt,
                            ),
                            1,
                        )
                    }
                    Noise::ClientBodyBuffered => {
                        self.temp_file_no += 1;
                        let mut m = b"a client request body is buffered to a temporary file /var/cache/nginx/client_temp/".to_vec();
                        let s = format!("{:010}", self.temp_file_no);
                        m.extend_from_slice(s.as_bytes());
                        (self.err_line(sec, level, worker, cid, &m, None, ip, vhost, None, referer_opt), 1)
                    }
                };
                self.err_push(sec, line, kind, level, physical);
            }
        }

        // Truth.
        let t = &mut self.truth;
        t.requests += 1;
        *t.by_status.entry(status).or_default() += 1;
        let client_failed = status == 502 || status == 504;
        if client_failed {
            t.client_failures += 1;
            let last = self.attempts.last().unwrap().cause.unwrap();
            let slug = match last {
                Cause::Returned502 | Cause::Returned504 if !self.format.has_upstream_status() => {
                    "unattributed"
                }
                c => c.slug(),
            };
            *t.causes.entry(slug).or_default().entry(status).or_default() += 1;
        }
        let mut seen = [false; 6];
        let mut hidden = false;
        for a in &self.attempts {
            let p = &mut t.peers[a.peer as usize];
            p.attempts += 1;
            if !seen[a.peer as usize] {
                seen[a.peer as usize] = true;
                p.requests += 1;
            }
            if let Some(c) = a.cause {
                p.failed_attempts_status += 1;
                *p.errors_by_cause_status.entry(c.slug()).or_default() += 1;
                if c.logged() {
                    p.failed_attempts_logged += 1;
                    *p.errors_by_cause_logged.entry(c.slug()).or_default() += 1;
                }
                if !client_failed {
                    hidden = true;
                    p.hidden_status += 1;
                    if c.logged() {
                        p.hidden_logged += 1;
                    }
                }
            }
        }
        if hidden {
            t.hidden_failure_requests += 1;
        }
        if self.attempts.len() > 1 {
            t.retried_requests += 1;
        }
        if t.requests == 1 {
            t.first_sec = self.stamp_sec;
        }
        t.last_sec = self.stamp_sec;

        // Access line.
        let b = &mut self.access.buf;
        let ip = &self.ips[client.ip];
        let user: &[u8] = if client.ip % 97 == 5 && req.route != Route::Bad { b"alice" } else { b"-" };
        if self.format == Format::Json {
            let field = |b: &mut Vec<u8>, key: &str| {
                b.extend_from_slice(if key == "time_iso8601" { b"{\"" } else { b"\",\"" });
                b.extend_from_slice(key.as_bytes());
                b.extend_from_slice(b"\":\"");
            };
            field(b, "time_iso8601");
            b.extend_from_slice(&self.iso_stamp);
            field(b, "remote_addr");
            b.extend_from_slice(ip);
            field(b, "remote_user");
            b.extend_from_slice(user);
            field(b, "request");
            push_json_escaped(b, &self.req);
            field(b, "status");
            push_u64(b, status as u64);
            field(b, "body_bytes_sent");
            push_u64(b, body);
            field(b, "http_referer");
            b.extend_from_slice(referer.as_bytes());
            field(b, "http_user_agent");
            b.extend_from_slice(ua.as_bytes());
            field(b, "host");
            b.extend_from_slice(vhost.host().as_bytes());
            field(b, "connection");
            push_u64(b, cid);
            field(b, "request_time");
            push_ms(b, rt_ms);
            for (_, variable, list) in UPSTREAM_LISTS {
                field(b, variable);
                list(b, &self.attempts);
            }
            b.extend_from_slice(b"\"}");
        } else {
            b.extend_from_slice(ip);
            b.extend_from_slice(b" - ");
            b.extend_from_slice(user);
            b.extend_from_slice(b" [");
            b.extend_from_slice(&self.stamp);
            b.extend_from_slice(b"] \"");
            b.extend_from_slice(&self.req);
            b.extend_from_slice(b"\" ");
            push_u64(b, status as u64);
            b.push(b' ');
            push_u64(b, body);
            b.extend_from_slice(b" \"");
            b.extend_from_slice(referer.as_bytes());
            b.extend_from_slice(b"\" \"");
            b.extend_from_slice(ua.as_bytes());
            b.push(b'"');
        }
        if self.format == Format::Upstream {
            b.extend_from_slice(b" host=\"");
            b.extend_from_slice(vhost.host().as_bytes());
            b.extend_from_slice(b"\" cid=");
            push_u64(b, cid);
            b.extend_from_slice(b" rt=");
            push_ms(b, rt_ms);
            for (name, _, list) in UPSTREAM_LISTS {
                b.push(b' ');
                b.extend_from_slice(name.as_bytes());
                b.extend_from_slice(b"=\"");
                list(b, &self.attempts);
                b.push(b'"');
            }
        }
        b.push(b'\n');
        self.access_lines += 1;
        if self.access.buf.len() >= FLUSH_AT {
            self.access.flush()?;
        }
        // No future request can log an error line earlier than now − (longest request: 2 × 60 s).
        if !self.err_heap.is_empty() && self.access_lines & 1023 == 0 {
            self.err_drain(self.stamp_sec - 130)?;
        }
        Ok(())
    }
}

/// What PHP writes to FastCGI stderr (each followed by a line number).
const PHP_MESSAGES: [&[u8]; 4] = [
    b"PHP message: PHP Warning:  Undefined array key \"id\" in /var/www/html/product.php on line ",
    b"PHP message: PHP Deprecated:  Creation of dynamic property Cart::$items is deprecated in /var/www/html/lib/Cart.php on line ",
    b"PHP message: PHP Notice:  Trying to access array offset on value of type null in /var/www/html/index.php on line ",
    b"PHP message: PHP Warning:  file_get_contents(/var/cache/app/menu.json): Failed to open stream: No such file or directory in /var/www/html/inc/menu.php on line ",
];

/// Stack-trace lines of a PHP fatal (`--error-heavy`), each followed by a line number.
const TRACE: [&[u8]; 4] = [
    b"PHP message: PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/html/lib/Db.php:",
    b"#0 /var/www/html/lib/Db.php(41): PDO->__construct('mysql:host=db;...', 'app', Object(SensitiveParameterValue)) /var/www/html/lib/Db.php:",
    b"#1 /var/www/html/lib/Cart.php(88): Db::connect() /var/www/html/lib/Cart.php:",
    b"#2 /var/www/html/index.php(17): Cart->load() /var/www/html/index.php:",
];

const JOIN_GUARD_MS: i64 = 300_000;

/// The `$upstream_*` lists, one element per attempt joined by `, ` (`-` without attempts): their
/// name in the `upstream` format, their variable name (also their JSON key), and their writer.
type UpstreamList = fn(&mut Vec<u8>, &[Attempt]);
const UPSTREAM_LISTS: [(&str, &str, UpstreamList); 5] = [
    ("ua", "upstream_addr", |b, a| {
        push_list(b, a, |b, a| b.extend_from_slice(PEERS[a.peer as usize].as_bytes()))
    }),
    ("us", "upstream_status", |b, a| {
        push_list(b, a, |b, a| if a.status == 0 { b.push(b'-') } else { push_u64(b, a.status as u64) })
    }),
    ("urt", "upstream_response_time", |b, a| push_list(b, a, |b, a| push_ms(b, a.resp_ms))),
    ("uct", "upstream_connect_time", |b, a| push_list(b, a, |b, a| push_opt_ms(b, a.connect_ms))),
    ("uht", "upstream_header_time", |b, a| push_list(b, a, |b, a| push_opt_ms(b, a.header_ms))),
];

fn push_list(b: &mut Vec<u8>, attempts: &[Attempt], item: impl Fn(&mut Vec<u8>, &Attempt)) {
    if attempts.is_empty() {
        b.push(b'-');
    }
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            b.extend_from_slice(b", ");
        }
        item(b, a);
    }
}

fn push_opt_ms(b: &mut Vec<u8>, ms: Option<u64>) {
    match ms {
        Some(v) => push_ms(b, v),
        None => b.push(b'-'),
    }
}

/// A string as nginx's `escape=json` writes it: `"` and `\` escaped, control bytes as `\u00XX`.
fn push_json_escaped(b: &mut Vec<u8>, text: &[u8]) {
    for &c in text {
        match c {
            b'"' | b'\\' => b.extend_from_slice(&[b'\\', c]),
            0..=0x1f => {
                b.extend_from_slice(b"\\u00");
                push_hex(b, u64::from(c >> 4), 1);
                push_hex(b, u64::from(c & 15), 1);
            }
            _ => b.push(c),
        }
    }
}

fn fnv(a: &[u8], b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in a.iter().chain([0u8].iter()).chain(b.iter()) {
        h = (h ^ x as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn push_hex_trim(b: &mut Vec<u8>, v: u64) {
    let s = format!("{v:x}");
    b.extend_from_slice(s.as_bytes());
}

// ---------------------------------------------------------------------------------------------------

fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix("IB").or_else(|| t.strip_suffix('B')).unwrap_or(&t).to_string();
    let (num, mul) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (&t[..], 1),
    };
    let v: f64 = num.trim().parse().with_context(|| format!("bad --size {s:?} (examples: 2M, 500M, 1G)"))?;
    Ok((v * mul as f64) as u64)
}

struct Args {
    size: u64,
    out: PathBuf,
    format: Format,
    failure_rate: Option<f64>,
    error_heavy: bool,
    seed: u64,
    gzip: bool,
    quiet: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        size: 1 << 30,
        out: PathBuf::from("genlogs-out"),
        format: Format::Combined,
        failure_rate: None,
        error_heavy: false,
        seed: 42,
        gzip: false,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--size" => a.size = parse_size(&val("--size")?)?,
            "--out" => a.out = PathBuf::from(val("--out")?),
            "--format" => {
                a.format = match val("--format")?.as_str() {
                    "combined" => Format::Combined,
                    "upstream" => Format::Upstream,
                    "json" => Format::Json,
                    f => bail!("unknown --format {f:?} (combined | upstream | json)"),
                }
            }
            "--failure-rate" => {
                let v = val("--failure-rate")?;
                let r: f64 = v.trim_end_matches('%').parse().context("--failure-rate takes a number")?;
                let r = if v.ends_with('%') { r / 100.0 } else { r };
                if !(0.0..=1.0).contains(&r) {
                    bail!("--failure-rate {v:?} is not between 0 and 1 (or 0% and 100%)");
                }
                a.failure_rate = Some(r);
            }
            "--error-heavy" => a.error_heavy = true,
            "--seed" => a.seed = val("--seed")?.parse().context("--seed takes an integer")?,
            "--gzip" => a.gzip = true,
            "--quiet" | "-q" => a.quiet = true,
            "-h" | "--help" => {
                println!(
                    "genlogs: deterministic nginx access/error logs with known 502/504 causes\n\n\
                     usage: genlogs --size 1G --out DIR [--format combined|upstream|json] [--seed N] [--gzip] [--quiet]\n\
                     \x20             [--failure-rate 0.05] [--error-heavy]\n\n\
                     writes DIR/access.log, DIR/error.log, DIR/truth.json (+ DIR/access.log.gz with --gzip)"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let access_path = args.out.join("access.log");
    let file = File::create(&access_path).with_context(|| format!("creating {}", access_path.display()))?;
    let err_file = File::create(args.out.join("error.log"))?;

    let (gz_tx, gz_handle) = if args.gzip {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
        let gz_path = args.out.join("access.log.gz");
        let handle = thread::spawn(move || -> Result<u64> {
            let f = File::create(&gz_path)?;
            let mut enc = flate2::write::GzEncoder::new(
                BufWriter::with_capacity(1 << 20, f),
                flate2::Compression::default(),
            );
            for chunk in rx {
                enc.write_all(&chunk)?;
            }
            let mut w = enc.finish()?;
            w.flush()?;
            Ok(std::fs::metadata(&gz_path)?.len())
        });
        (Some(tx), Some(handle))
    } else {
        (None, None)
    };

    let mut rng = Rng(args.seed ^ 0x6E67_7835_3032); // "ngx502"
    let n_clients = 20_000usize;
    let mut ips = Vec::with_capacity(n_clients);
    let mut clients = Vec::with_capacity(n_clients);
    for i in 0..n_clients {
        ips.push(Gen::new_ip(&mut rng));
        let ua = if rng.chance(0.08) { rng.range(6, 13) } else { rng.range(0, 5) } as u8;
        clients.push(Client { ip: i, ua });
    }

    // 2024-05-14 00:00:00 local time (+0200).
    let start_sec = days_from_civil(2024, 5, 14) * 86400;
    let mut g = Gen {
        rng,
        format: args.format,
        failure_rate: args.failure_rate,
        error_heavy: args.error_heavy,
        target: args.size.max(1),
        ips,
        clients,
        pool: vec![None; 256],
        next_cid: 48_000,
        recent: std::collections::HashMap::new(),
        recent_fifo: std::collections::VecDeque::new(),
        reserved: std::collections::VecDeque::new(),
        now_ms: start_sec * 1000,
        stamp_sec: i64::MIN,
        stamp: Vec::with_capacity(32),
        iso_stamp: Vec::with_capacity(32),
        uri: Vec::with_capacity(256),
        req: Vec::with_capacity(256),
        attempts: Vec::with_capacity(4),
        err_heap: BinaryHeap::new(),
        err_seq: 0,
        err_out: BufWriter::with_capacity(1 << 20, err_file),
        err_bytes: 0,
        access: Sink { buf: Vec::with_capacity(FLUSH_AT + 4096), file, gz: gz_tx, written: 0 },
        access_lines: 0,
        truth: Truth::default(),
        next_notice_ms: (start_sec + 3 * 3600 + 1) * 1000,
        temp_file_no: 0,
    };

    while g.access.total() < g.target {
        g.step()?;
    }
    g.access.flush()?;
    g.access.gz = None; // closes the channel: the gzip thread finishes
    g.err_drain(i64::MAX)?;
    g.err_out.flush()?;
    let gz_bytes = match gz_handle {
        Some(h) => Some(h.join().map_err(|_| anyhow::anyhow!("gzip thread panicked"))??),
        None => None,
    };
    let elapsed = started.elapsed().as_secs_f64();

    // truth.json
    let t = &g.truth;
    let by_status: Map<String, Value> = t.by_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let causes: Vec<Value> = t
        .causes
        .iter()
        .map(|(slug, st)| {
            let statuses: Map<String, Value> = st.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            json!({"cause": slug, "count": st.values().sum::<u64>(), "statuses": statuses})
        })
        .collect();
    let mut upstreams = Vec::new();
    for (i, p) in t.peers.iter().enumerate() {
        if p.attempts == 0 {
            continue;
        }
        let (failed, hidden, by_cause) = if args.format.has_upstream_status() {
            (p.failed_attempts_status, p.hidden_status, &p.errors_by_cause_status)
        } else {
            (p.failed_attempts_logged, p.hidden_logged, &p.errors_by_cause_logged)
        };
        upstreams.push(json!({
            "upstream": PEERS[i],
            "attempts": p.attempts,
            "requests": p.requests,
            "failed_attempts": failed,
            "hidden_failures": hidden,
            "errors_by_cause": by_cause,
            "failed_attempts_by_status": p.failed_attempts_status,
            "failed_attempts_logged": p.failed_attempts_logged,
            "hidden_failures_by_status": p.hidden_status,
            "hidden_failures_logged": p.hidden_logged,
        }));
    }
    let incidents: Vec<Value> = INCIDENTS
        .iter()
        .map(|&(a, b, name)| json!({"from_fraction": a, "to_fraction": b, "what": name}))
        .collect();
    let error_lines = t.err_physical_lines;
    let truth = json!({
        "generator": "genlogs",
        "truth_version": 1,
        "seed": args.seed,
        "format": args.format.name(),
        "failure_rate": args.failure_rate,
        "error_heavy": args.error_heavy,
        "size_target": args.size,
        "notes": [
            "causes: per client response with status 502/504; the cause is the last attempt's.",
            "format=combined has no $upstream_status, so backend-sent 502/504 are 'unattributed'.",
            "upstreams.failed_attempts: format=upstream counts $upstream_status elements 502/504 per peer \
             (including backend-sent ones and the group name 'backend' after 'no live upstreams'); \
             format=combined counts the failed attempts that nginx logged an error line for, per peer of the \
             error line's upstream field.",
            "upstreams.hidden_failures: failed attempts inside requests whose client status is not 502/504.",
            "error_log.records counts records; physical_lines adds FastCGI stderr continuation lines."
        ],
        "totals": {
            "requests": t.requests,
            "by_status": by_status,
            "client_failures": t.causes.values().flat_map(|m| m.values()).sum::<u64>(),
            "hidden_failure_requests": t.hidden_failure_requests,
            "retried_requests": t.retried_requests,
        },
        "causes": causes,
        "upstreams": upstreams,
        "error_log": {
            "records": t.err_records,
            "physical_lines": error_lines,
            "continuation_lines": error_lines - t.err_records,
            "by_kind": t.err_by_kind,
            "by_level": t.err_by_level,
            "bytes": g.err_bytes,
        },
        "access_log": {"lines": g.access_lines, "bytes": g.access.total(), "gzip_bytes": gz_bytes},
        "lines_written": g.access_lines + error_lines,
        "time": {"first_access": iso_local(t.first_sec), "last_access": iso_local(t.last_sec), "utc_offset": OFFSET, "offset_seconds": OFFSET_SECS},
        "incidents": incidents,
        "elapsed_seconds": (elapsed * 1000.0).round() / 1000.0,
    });
    let mut f = File::create(args.out.join("truth.json"))?;
    serde_json::to_writer_pretty(&mut f, &truth)?;
    f.write_all(b"\n")?;

    if !args.quiet {
        let mb = g.access.total() as f64 / 1e6;
        eprintln!(
            "genlogs: {} access lines ({:.1} MB), {} error lines, {} client 502/504, in {:.2}s ({:.0} MB/s){}",
            g.access_lines,
            mb,
            error_lines,
            t.causes.values().flat_map(|m| m.values()).sum::<u64>(),
            elapsed,
            mb / elapsed,
            gz_bytes.map(|b| format!(", access.log.gz {:.1} MB", b as f64 / 1e6)).unwrap_or_default()
        );
    }
    Ok(())
}
