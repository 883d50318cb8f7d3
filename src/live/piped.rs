//! `live -`: following a pipe (`kubectl logs -f … | ngx502 live -`, `docker compose logs -f |
//! ngx502 live -`). A thread reads stdin and hands on whole lines; each pass takes what arrived,
//! so a line is shown within the same second as a followed file's.

use std::io::Read;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

use super::ingest::{Arrivals, Source};
use super::wake::Wake;
use crate::access::AccessFormat;
use crate::input::Kind;
use crate::report::schema::InputRow;

/// Bytes read per `read(2)`.
const READ_SIZE: usize = 64 << 10;

/// Standard input, read by a thread.
pub struct Piped {
    chunks: Receiver<Vec<u8>>,
    pub source: Source,
    /// The writer closed the pipe and everything it wrote was read.
    pub ended: bool,
}

impl Piped {
    /// Starts reading stdin; its lines count into the input `index`.
    pub fn spawn(index: usize, forced: Option<Kind>, nudge: Sender<Wake>) -> Piped {
        let (tx, chunks) = mpsc::sync_channel(64);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; READ_SIZE];
            let mut partial: Vec<u8> = Vec::new();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                partial.extend_from_slice(&buf[..n]);
                // Only whole lines go on; a line longer than the limit is cut, as files are.
                let whole = match memchr::memrchr(b'\n', &partial) {
                    Some(i) => i + 1,
                    None if partial.len() > crate::input::open::MAX_LINE => partial.len(),
                    None => continue,
                };
                let rest = partial.split_off(whole);
                if tx.send(std::mem::replace(&mut partial, rest)).is_err() {
                    return;
                }
                let _ = nudge.send(Wake::Data);
            }
            if !partial.is_empty() {
                partial.push(b'\n');
                let _ = tx.send(partial);
            }
            drop(tx);
            let _ = nudge.send(Wake::Data);
        });
        Piped { chunks, source: Source::new(index, forced, false), ended: false }
    }

    /// Reads what arrived since the last pass; returns whether the kind was decided now.
    pub fn pass(&mut self, formats: &[AccessFormat], report: &mut InputRow, out: &mut Arrivals) -> bool {
        let mut decided = false;
        loop {
            match self.chunks.try_recv() {
                Ok(chunk) => {
                    decided |= self.source.decide(&chunk, formats, report);
                    self.source.feed(&chunk, report, out);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    break;
                }
            }
        }
        self.source.flush(report, out);
        decided
    }
}
