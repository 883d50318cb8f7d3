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
///
/// Only whole lines count as read: `pos` and the descriptor's offset (reads use `pread`) stop at
/// the end of the last line handed on, and the start of an unfinished line waits in `pending`.
/// What the offset shows (`/proc/PID/fdinfo`) is then what has been read for good. A line is
/// written in pieces, and when no whole line has been read, a `copytruncate` whose new content
/// starts with the same bytes as the part read (a timestamp) cannot be told from the line going
/// on: an offset at the end of that part would claim bytes that cannot be vouched for.
struct Open {
    file: File,
    dev: u64,
    ino: u64,
    /// End of the last whole line handed on (or skipped).
    pos: u64,
    /// The file's first bytes as read, up to [`FINGERPRINT`], unfinished line included.
    head: Vec<u8>,
    /// The bytes read after `pos`: the start of a line whose newline has not come yet.
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

    /// Where the next read starts: after the whole lines and the unfinished one.
    fn read_pos(&self) -> u64 {
        self.pos + self.pending.len() as u64
    }

    /// Whether the file was truncated since it was last read: it is shorter than what was read,
    /// or its first bytes changed (truncated and written past the old position in between).
    fn truncated(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.read_pos() || self.head_changed()?)
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

    /// Reads to the end of the file, handing whole lines to `sink` in chunks, then moves the
    /// descriptor's offset to `pos`. Returns false, with the last read dropped, when the file
    /// was truncated under the read: the bytes may be the new content's, and the old ones are
    /// in the copy.
    fn read_available(
        &mut self,
        scratch: &mut [u8],
        now: Instant,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<bool> {
        let from = self.pos;
        let whole = loop {
            let n = match self.file.read_at(scratch, self.read_pos()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break true;
            }
            // Checked after the read: while the first bytes are unchanged, what was read came
            // before any truncation.
            if self.head_changed()? {
                break false;
            }
            // The fingerprint is made of the bytes read, never re-read: a truncation between
            // two reads must not slip into it.
            if self.head.len() as u64 == self.read_pos() && self.head.len() < FINGERPRINT {
                self.head.extend_from_slice(&scratch[..n.min(FINGERPRINT - self.head.len())]);
            }
            self.last_data = now;
            self.push(&scratch[..n], sink);
        };
        if self.pos != from {
            self.file.seek(SeekFrom::Start(self.pos))?;
        }
        Ok(whole)
    }

    /// Hands on the whole lines `bytes` completes and moves `pos` past them; keeps the rest for
    /// the next read.
    fn push(&mut self, mut bytes: &[u8], sink: &mut dyn FnMut(&[u8])) {
        if self.skip_partial {
            let Some(i) = memchr::memchr(b'\n', bytes) else {
                self.pos += bytes.len() as u64;
                return;
            };
            self.pos += i as u64 + 1;
            bytes = &bytes[i + 1..];
            self.skip_partial = false;
        }
        let Some(last) = memchr::memrchr(b'\n', bytes) else {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() > MAX_LINE {
                self.flush(sink);
            }
            return;
        };
        let (lines, rest) = bytes.split_at(last + 1);
        if self.pending.is_empty() {
            self.pos += lines.len() as u64;
            sink(lines);
        } else {
            let mut whole = std::mem::take(&mut self.pending);
            whole.extend_from_slice(lines);
            self.pos += whole.len() as u64;
            sink(&whole);
            whole.clear();
            self.pending = whole;
        }
        self.pending.extend_from_slice(rest);
    }

    /// Hands on what is left after the last newline as a line of its own.
    fn flush(&mut self, sink: &mut dyn FnMut(&[u8])) {
        if self.pending.is_empty() {
            return;
        }
        let mut line = std::mem::take(&mut self.pending);
        self.pos += line.len() as u64;
        line.push(b'\n');
        sink(&line);
        line.clear();
        self.pending = line;
    }
}

/// A path followed through rotations.
pub struct Followed {
    path: PathBuf,
    current: Option<Open>,
    draining: Vec<Open>,
    /// The last problem met, reported once.
    problem: Option<String>,
    /// Rotations seen: the path named a new file, or its file was truncated.
    rotations: u64,
}

impl Followed {
    /// Starts following `path`; a path that does not exist yet is picked up when it appears
    /// (and then read from its start).
    pub fn new(path: PathBuf, start: Start, now: Instant) -> Followed {
        let current = Open::new(&path, start, now).ok();
        Followed { path, current, draining: Vec::new(), problem: None, rotations: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rotations seen so far (shown on the dashboard: a log that stopped rotating, or rotates
    /// every minute, is worth a look during an incident).
    pub fn rotations(&self) -> u64 {
        self.rotations
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
                    self.rotations += 1;
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
                if let Some(mut old) = self.current.take() {
                    self.rotations += 1;
                    // Idle is counted from the replacement: a quiet log may still get a line
                    // before nginx reopens it, however long ago it was last written.
                    old.last_data = now;
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
    if open.read_pos() == 0 || open.head.is_empty() {
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
            let meta = fs::metadata(&p).ok().filter(|m| m.is_file() && m.len() > open.read_pos())?;
            let file = File::open(&p).ok()?;
            let mut head = vec![0u8; open.head.len()];
            file.read_exact_at(&mut head, 0).ok()?;
            (head == open.head).then_some((meta.mtime(), meta.mtime_nsec(), file))
        })
        .max_by_key(|(secs, nanos, _)| (*secs, *nanos));
    if let Some((_, _, mut file)) = copy {
        if file.seek(SeekFrom::Start(open.read_pos())).is_ok() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Polls `followed` once at `now` (or finishes it) and returns the lines read.
    fn lines_at(followed: &mut Followed, now: Instant, last: bool) -> Vec<String> {
        let (mut scratch, mut out) = (vec![0u8; 4096], Vec::new());
        let mut sink = |chunk: &[u8]| {
            out.extend(
                chunk.split_inclusive(|&b| b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()),
            )
        };
        if last {
            followed.finish(&mut scratch, now, &mut sink);
        } else {
            followed.poll(&mut scratch, now, &mut sink);
        }
        out
    }

    fn lines(followed: &mut Followed, last: bool) -> Vec<String> {
        lines_at(followed, Instant::now(), last)
    }

    /// A log quiet for longer than [`DRAIN_IDLE`] is renamed: a line written to it before the
    /// writer reopens is still read.
    #[test]
    fn a_quiet_log_is_drained_after_its_rename() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("error.log");
        let mut log = fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        log.write_all(b"one\n").unwrap();
        let start = Instant::now();
        let mut followed = Followed::new(path.clone(), Start::Beginning, start);
        assert_eq!(lines_at(&mut followed, start, false), ["one\n"]);
        fs::rename(&path, tmp.path().join("error.log.1")).unwrap();
        File::create(&path).unwrap();
        let later = start + 2 * DRAIN_IDLE;
        assert!(lines_at(&mut followed, later, false).is_empty());
        log.write_all(b"two\n").unwrap();
        assert_eq!(lines_at(&mut followed, later + DRAIN_IDLE / 2, false), ["two\n"]);
    }

    /// A line read in part, then finished, copied and truncated: the old line comes whole from
    /// the copy, the new one (a second later, so the part read tells them apart) from the log.
    #[test]
    fn copytruncate_after_a_part_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("error.log");
        let mut log = fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        log.write_all(b"2024/05/14 12:34:56 [error] 7#7: *").unwrap();
        let mut followed = Followed::new(path.clone(), Start::Beginning, Instant::now());
        assert!(lines(&mut followed, false).is_empty());
        log.write_all(b"1 old\n").unwrap();
        fs::copy(&path, tmp.path().join("error.log.1")).unwrap();
        log.set_len(0).unwrap();
        log.write_all(b"2024/05/14 12:34:57 [error] 7#7: *2 new\n").unwrap();
        let mut read = lines(&mut followed, false);
        read.extend(lines(&mut followed, true));
        assert_eq!(
            read,
            ["2024/05/14 12:34:56 [error] 7#7: *1 old\n", "2024/05/14 12:34:57 [error] 7#7: *2 new\n"]
        );
    }

    /// The descriptor's offset stays at the end of the last whole line.
    #[test]
    fn a_part_line_is_not_read_for_good() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("access.log");
        let mut log = fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        log.write_all(b"one\ntw").unwrap();
        let mut followed = Followed::new(path.clone(), Start::Beginning, Instant::now());
        assert_eq!(lines(&mut followed, false), ["one\n"]);
        let offset = |f: &mut Followed| f.current.as_mut().map(|o| o.file.stream_position().unwrap());
        assert_eq!(offset(&mut followed), Some(4));
        log.write_all(b"o\n").unwrap();
        assert_eq!(lines(&mut followed, false), ["two\n"]);
        assert_eq!(offset(&mut followed), Some(8));
    }
}
