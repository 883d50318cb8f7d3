//! Every reader gives the same lines and records: a log read memory-mapped, through gzip, zstd
//! or stdin, in blocks of any size down to one byte, reports what the whole file read at once
//! does. Multi-line error records (FastCGI stderr traces) crossing a block edge are the case
//! that broke.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use crate::support::accounting::check_report;

/// How a log reaches ngx502.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Mapped,
    Gzip,
    Zstd,
    Stdin,
}

const READERS: [Reader; 4] = [Reader::Mapped, Reader::Gzip, Reader::Zstd, Reader::Stdin];

fn encode(reader: Reader, plain: &[u8]) -> Vec<u8> {
    match reader {
        Reader::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(plain).unwrap();
            encoder.finish().unwrap()
        }
        Reader::Zstd => zstd::encode_all(plain, 1).unwrap(),
        Reader::Mapped | Reader::Stdin => plain.to_vec(),
    }
}

/// The JSON report of `access` and `error` handed over by `reader` (the access log, or the error
/// log when `stdin_error`, through stdin), streams read in blocks of `block`. Files have the same
/// names whatever the reader, so reports compare as text.
fn report(access: &[u8], error: &[u8], reader: Reader, stdin_error: bool, block: usize) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), encode(reader, access)).unwrap();
    std::fs::write(dir.path().join("error.log"), encode(reader, error)).unwrap();
    let (access_arg, error_arg, stdin) = match reader {
        Reader::Stdin if stdin_error => ("access.log", "-", Some(error)),
        Reader::Stdin => ("-", "error.log", Some(access)),
        _ => ("access.log", "error.log", None),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .current_dir(dir.path())
        .env(ngx502::input::open::BLOCK_SIZE_VAR, block.to_string())
        .args(["report", "--output", "json", "-q", "--log-format-name", "upstream"])
        .args(["--access", access_arg, "--error", error_arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let feed = stdin.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let Some(bytes) = feed {
            let _ = pipe.write_all(&bytes);
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{reader:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap().replace("\"-\"", "\"STDIN\"");
    let mut report: serde_json::Value = serde_json::from_str(&text).unwrap();
    check_report(&report);
    for input in report["inputs"].as_array_mut().unwrap() {
        input["path"] = serde_json::Value::Null;
    }
    report
}

/// A php-fpm style record: the header line, `trace` lines of the PHP stack trace FastCGI relays on
/// stderr, and the line with nginx's context (upstream, request).
fn fastcgi_record(second: u32, cid: u32, trace: usize) -> String {
    let mut record = format!(
        "2026/11/25 21:{:02}:{:02} [error] 311#311: *{cid} FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Uncaught Exception: boom {cid} in /srv/app/index.php:12\n",
        second / 60,
        second % 60
    );
    for depth in 0..trace {
        record.push_str(&format!("#{depth} /srv/app/lib/Handler.php({}): Handler->run()\n", depth * 7 + 3));
    }
    record.push_str(&format!(
        "  thrown in /srv/app/index.php on line 12\" while reading response header from upstream, client: 127.0.0.1, server: shop.example.test, request: \"GET /php/{cid} HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/fpm.sock:\", host: \"shop.example.test\"\n"
    ));
    record
}

fn access_line(second: u32, cid: u32, status: u16) -> String {
    format!(
        "127.0.0.1 - - [25/Nov/2026:21:{:02}:{:02} +0000] \"GET /php/{cid} HTTP/1.1\" {status} 157 \"-\" \"curl/8\" host=\"shop.example.test\" cid={cid} rt=0.010 ua=\"unix:/run/php/fpm.sock\" us=\"{status}\" urt=\"0.010\" uct=\"-\" uht=\"-\"\n",
        second / 60,
        second % 60
    )
}

#[test]
fn fastcgi_traces_across_block_edges_are_read_whole() {
    let (mut access, mut error) = (String::new(), String::new());
    for i in 0..60u32 {
        access.push_str(&access_line(i, 1000 + i, 502));
        error.push_str(&fastcgi_record(i, 1000 + i, 1 + (i as usize * 7) % 40));
    }
    let whole = report(access.as_bytes(), error.as_bytes(), Reader::Mapped, false, 1 << 23);
    assert_eq!(whole["inputs"][1]["malformed"], 0);
    assert_eq!(whole["causes"][0]["count"], 60, "{:#}", whole["causes"]);
    for block in [1, 100, 997, 4096] {
        for reader in [Reader::Gzip, Reader::Zstd, Reader::Stdin] {
            let got = report(access.as_bytes(), error.as_bytes(), reader, true, block);
            assert_eq!(got, whole, "{reader:?} in blocks of {block}");
        }
    }
}

/// One line of a random log: what it holds and how it ends.
#[derive(Clone, Debug)]
enum Piece {
    /// A request: second, connection, 502 or 200.
    Request(u32, u32, bool),
    /// A FastCGI record with this many trace lines.
    Record(u32, u32, usize),
    /// Bytes that are no log line (invalid UTF-8 included), without a newline.
    Junk(Vec<u8>),
    Blank,
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => (0..600u32, 0..40u32, any::<bool>()).prop_map(|(s, c, f)| Piece::Request(s, c, f)),
        4 => (0..600u32, 0..40u32, 0..8usize).prop_map(|(s, c, t)| Piece::Record(s, c, t)),
        1 => prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..30).prop_map(Piece::Junk),
        1 => Just(Piece::Blank),
    ]
}

/// The access and error logs of `pieces`, lines ending in CRLF when `crlf`, the last newline
/// dropped when `cut_last`.
fn render(pieces: &[Piece], crlf: bool, cut_last: bool) -> (Vec<u8>, Vec<u8>) {
    let (mut access, mut error) = (Vec::new(), Vec::new());
    for p in pieces {
        match p {
            Piece::Request(s, c, failed) => {
                access.extend(access_line(*s, *c, if *failed { 502 } else { 200 }).bytes())
            }
            Piece::Record(s, c, t) => error.extend(fastcgi_record(*s, *c, *t).bytes()),
            Piece::Junk(bytes) => {
                access.extend(bytes);
                access.push(b'\n');
                error.extend(bytes);
                error.push(b'\n');
            }
            Piece::Blank => error.push(b'\n'),
        }
    }
    let finish = |mut log: Vec<u8>| {
        if crlf {
            log = log.split(|&b| b == b'\n').collect::<Vec<_>>().join(&b"\r\n"[..]);
        }
        if cut_last && log.ends_with(b"\n") {
            log.pop();
        }
        log
    };
    (finish(access), finish(error))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_reader_and_block_size_reads_like_the_whole_file(
        pieces in prop::collection::vec(piece(), 1..60),
        crlf in any::<bool>(),
        cut_last in any::<bool>(),
        block in prop_oneof![1..8usize, 8..300usize, 300..5000usize],
        stdin_error in any::<bool>(),
    ) {
        let (access, error) = render(&pieces, crlf, cut_last);
        let whole = report(&access, &error, Reader::Mapped, false, 1 << 23);
        for reader in READERS {
            let got = report(&access, &error, reader, stdin_error, block);
            prop_assert_eq!(&got, &whole, "{:?} in blocks of {}", reader, block);
        }
    }
}
