//! Following one log path like `tail -F`, through every way logrotate and nginx replace a file.
//!
//! A [`Followed`] path has a *current* file (the one the path names) and *draining* files: files
//! the path named before a rotation. nginx keeps writing to the old file until it reopens its logs
//! (`nginx -s reopen`, logrotate's `postrotate`), so a replaced file is read on until it has been
//! idle for [`DRAIN_IDLE`]; only then is it closed. Rename + create and delete + recreate are the
//! same case (the path names a new inode). `copytruncate` keeps the inode and shrinks it: the
//! lines written between the last read and the truncation are then read from the copy, found
//! beside the log by its first bytes. Output is always whole lines, each read once.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a replaced file must go without new bytes before it is closed. nginx reopens its
/// logs within milliseconds of the signal; this leaves room for a slow `postrotate`.
pub const DRAIN_IDLE: Duration = Duration::from_secs(3);
/// The first bytes of a file, kept to recognise it after a truncation and to find its copy.
const FINGERPRINT: usize = 256;
/// A "line" longer than this without a newline is handed on as it is, so memory stays bounded
/// whatever the file holds.
const MAX_LINE: usize = 1 << 20;

/// Where reading starts in a file that exists when following begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At its end, from the next whole line (`tail -F`).
    End,
    /// At its first byte.
    Beginning,
}

/// One open file: where reading stands, and the bytes after its last newline.
struct Open {
    file: File,
    dev: u64,
    ino: u64,
    pos: u64,
    head: Vec<u8>,
    pending: Vec<u8>,
    /// Started mid-line: drop the bytes before the first newline.
    skip_partial: bool,
    last_data: Instant,
}

impl Open {
    fn new(path: &Path, start: Start, now: Instant) -> io::Result<Open> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let (mut pos, mut skip_partial) = (0, false);
        if start == Start::End && meta.len() > 0 {
            pos = meta.len();
            let mut last = [0u8; 1];
            file.read_exact_at(&mut last, pos - 1)?;
            skip_partial = last[0] != b'\n';
            file.seek(SeekFrom::Start(pos))?;
        }
        let mut open = Open {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            pos,
            head: Vec::new(),
            pending: Vec::new(),
            skip_partial,
            last_data: now,
        };
        if pos > 0 {
            let mut head = [0u8; FINGERPRINT];
            let n = open.file.read_at(&mut head, 0)?;
            open.head.extend_from_slice(&head[..n.min(FINGERPRINT)]);
        }
        Ok(open)
    }

    /// Whether the file was truncated since it was last read: it is shorter than the position,
    /// or its first bytes changed (truncated and written past the old position in between).
    fn truncated(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.pos || self.head_changed()?)
    }

    /// Whether the first bytes differ from the fingerprint (false while there is none).
    fn head_changed(&self) -> io::Result<bool> {
        if self.head.is_empty() {
            return Ok(false);
        }
        let mut buf = [0u8; FINGERPRINT];
        let n = self.file.read_at(&mut buf[..self.head.len()], 0)?;
        Ok(buf[..n] != self.head[..])
    }

    /// Reads to the end of the file, handing whole lines to `sink` in chunks. Returns false,
    /// with the last read undone, when the file was truncated under the read: the bytes may be
    /// the new content's, and the old ones are in the copy.
    fn read_available(
        &mut self,
        scratch: &mut [u8],
        now: Instant,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<bool> {
        loop {
            let n = match self.file.read(scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(true);
            }
            if self.head_changed()? {
                self.file.seek(SeekFrom::Start(self.pos))?;
                return Ok(false);
            }
            // The fingerprint is made of the bytes read, never re-read: a truncation between
            // two reads must not slip into it.
            if self.head.len() as u64 == self.pos && self.head.len() < FINGERPRINT {
                self.head.extend_from_slice(&scratch[..n.min(FINGERPRINT - self.head.len())]);
            }
            self.pos += n as u64;
            self.last_data = now;
            self.push(&scratch[..n], sink);
        }
    }

    /// Hands on the whole lines `bytes` completes; keeps the rest for the next read.
    fn push(&mut self, mut bytes: &[u8], sink: &mut dyn FnMut(&[u8])) {
        if self.skip_partial {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    bytes = &bytes[i + 1..];
                    self.skip_partial = false;
                }
                None => return,
            }
        }
        match memchr::memrchr(b'\n', bytes) {
            Some(last) if self.pending.is_empty() => {
                sink(&bytes[..=last]);
                self.pending.extend_from_slice(&bytes[last + 1..]);
            }
            Some(last) => {
                self.pending.extend_from_slice(&bytes[..=last]);
                sink(&self.pending);
                self.pending.clear();
                self.pending.extend_from_slice(&bytes[last + 1..]);
            }
            None => {
                self.pending.extend_from_slice(bytes);
                if self.pending.len() > MAX_LINE {
                    self.flush(sink);
                }
            }
        }
    }

    /// Hands on what is left after the last newline as a line of its own.
    fn flush(&mut self, sink: &mut dyn FnMut(&[u8])) {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            sink(&self.pending);
            self.pending.clear();
        }
    }
}

/// A path followed through rotations.
pub struct Followed {
    path: PathBuf,
    current: Option<Open>,
    draining: Vec<Open>,
    /// The last problem met, reported once.
    problem: Option<String>,
}

impl Followed {
    /// Starts following `path`; a path that does not exist yet is picked up when it appears
    /// (and then read from its start).
    pub fn new(path: PathBuf, start: Start, now: Instant) -> Followed {
        let current = Open::new(&path, start, now).ok();
        Followed { path, current, draining: Vec::new(), problem: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Up to `max` bytes of whole lines before the reading position of the current file, to
    /// decide its kind and format before new lines arrive.
    pub fn sample(&self, max: usize) -> Vec<u8> {
        let Some(open) = &self.current else { return Vec::new() };
        let from = open.pos.saturating_sub(max as u64);
        let mut buf = vec![0u8; (open.pos - from) as usize];
        let n = open.file.read_at(&mut buf, from).unwrap_or(0);
        buf.truncate(n);
        let start = if from == 0 { 0 } else { memchr::memchr(b'\n', &buf).map_or(buf.len(), |i| i + 1) };
        let end = memchr::memrchr(b'\n', &buf).map_or(start, |i| i + 1).max(start);
        buf[start..end].to_vec()
    }

    /// Reads every new whole line of the path's files, in chunks handed to `sink`, and notices
    /// rotations. Returns a problem to report, the first time it is met.
    pub fn poll(&mut self, scratch: &mut [u8], now: Instant, sink: &mut dyn FnMut(&[u8])) -> Option<String> {
        let problem =
            self.read_all(scratch, now, sink).err().map(|e| format!("{}: {e}", self.path.display()));
        if problem.is_some() && problem != self.problem {
            self.problem.clone_from(&problem);
            return problem;
        }
        None
    }

    /// Reads and closes everything: the last poll before exiting.
    pub fn finish(&mut self, scratch: &mut [u8], now: Instant, sink: &mut dyn FnMut(&[u8])) {
        let _ = self.read_all(scratch, now, sink);
        for mut open in self.draining.drain(..).chain(self.current.take()) {
            open.flush(sink);
        }
    }

    fn read_all(&mut self, scratch: &mut [u8], now: Instant, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let mut result = Ok(());
        if let Some(open) = self.current.as_mut() {
            // At most twice: a truncation met while reading is handled on the second round.
            for _ in 0..2 {
                if open.truncated()? {
                    recover_from_copy(&self.path, open, sink);
                    open.file.seek(SeekFrom::Start(0))?;
                    open.pos = 0;
                    open.head.clear();
                    open.skip_partial = false;
                }
                match open.read_available(scratch, now, sink) {
                    Ok(false) => continue,
                    done => {
                        result = done.map(|_| ());
                        break;
                    }
                }
            }
        }
        match fs::metadata(&self.path) {
            Ok(meta) if self.current.as_ref().is_some_and(|o| (o.dev, o.ino) == (meta.dev(), meta.ino())) => {
            }
            Ok(meta) if meta.is_file() => {
                let mut fresh = Open::new(&self.path, Start::Beginning, now)?;
                if let Some(old) = self.current.take() {
                    self.draining.push(old);
                }
                fresh.read_available(scratch, now, sink)?;
                self.current = Some(fresh);
            }
            // Gone (deleted or renamed away) or not a file: keep reading what is open.
            _ => {}
        }
        for open in &mut self.draining {
            open.read_available(scratch, now, sink)?;
        }
        self.draining.retain_mut(|open| {
            let keep = now.duration_since(open.last_data) < DRAIN_IDLE;
            if !keep {
                open.flush(sink);
            }
            keep
        });
        result
    }
}

/// After a `copytruncate`, reads the lines written between the last read and the truncation
/// from the copy: a regular file beside the log that starts with the same bytes and is longer
/// than what was read. The newest such file wins.
fn recover_from_copy(path: &Path, open: &mut Open, sink: &mut dyn FnMut(&[u8])) {
    if open.pos == 0 || open.head.is_empty() {
        open.flush(sink);
        return;
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let copy = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p != path)
        .filter_map(|p| {
            let meta = fs::metadata(&p).ok().filter(|m| m.is_file() && m.len() > open.pos)?;
            let file = File::open(&p).ok()?;
            let mut head = vec![0u8; open.head.len()];
            file.read_exact_at(&mut head, 0).ok()?;
            (head == open.head).then_some((meta.mtime(), meta.mtime_nsec(), file))
        })
        .max_by_key(|(secs, nanos, _)| (*secs, *nanos));
    if let Some((_, _, mut file)) = copy {
        if file.seek(SeekFrom::Start(open.pos)).is_ok() {
            let mut buf = Vec::new();
            if file.take(MAX_COPY_TAIL).read_to_end(&mut buf).is_ok() {
                open.push(&buf, sink);
            }
        }
    }
    open.flush(sink);
}

/// Most bytes recovered from a copy (the lines of a few seconds, even on a busy server).
const MAX_COPY_TAIL: u64 = 64 << 20;
