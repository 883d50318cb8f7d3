//! Reading a whole error log (or a block of one) into the records the join needs, in parallel
//! chunks like access logs. A chunk starts at a line that starts a record (nginx's date header),
//! so no record is split between two chunks and every chunk reads as it would in one pass: the
//! records, counts and examples of `-j1` and `-jN` are the same, in the same order.

use rayon::prelude::*;

use super::negative::Causes;
use super::parse::{parse_line_timed, starts_record, ErrorRecord};
use super::text::Keeper;
use super::Role;
use crate::input::PageRelease;
use crate::summary::{MalformedLine, MALFORMED_EXAMPLES};
use crate::time::{parse_error_log_time, StampCache};

/// What one chunk (or, merged, one buffer) of an error log held. Line numbers count from the
/// chunk's first line (1-based); [`read_chunks`] renumbers them for the whole buffer.
#[derive(Debug, Default)]
pub struct ErrorChunk {
    pub lines: u64,
    /// Records about upstreams, and their continuation lines.
    pub parsed: u64,
    pub malformed: u64,
    /// Blank lines and records about other things (static files, startup).
    pub filtered: u64,
    pub malformed_examples: Vec<MalformedLine>,
    pub records: Vec<ErrorRecord>,
}

impl ErrorChunk {
    /// Appends the chunk that follows this one in the input.
    fn append(mut self, mut next: ErrorChunk) -> ErrorChunk {
        let before = self.lines;
        next.records.iter_mut().for_each(|r| r.line += before);
        let room = MALFORMED_EXAMPLES.saturating_sub(self.malformed_examples.len());
        self.malformed_examples.extend(
            next.malformed_examples
                .into_iter()
                .take(room)
                .map(|m| MalformedLine { line: m.line + before, ..m }),
        );
        if self.records.is_empty() {
            // The first records of all (a fold's start, or the reading pieces before them
            // kept none): their vector, with the room made for the rest, is taken as it is.
            std::mem::swap(&mut self.records, &mut next.records);
        } else {
            self.records.append(&mut next.records);
        }
        self.lines += next.lines;
        self.parsed += next.parsed;
        self.malformed += next.malformed;
        self.filtered += next.filtered;
        self
    }

    fn note_malformed(&mut self, line: u64, text: &[u8]) {
        self.malformed += 1;
        if self.malformed_examples.len() < MALFORMED_EXAMPLES {
            self.malformed_examples.push(MalformedLine {
                line,
                offset: 0,
                reason: "not an nginx error-log line",
                text: text[..text.len().min(300)].to_vec(),
            });
        }
    }

    /// Classifies one whole record: kept (by the piece's keeper) when it is about an upstream,
    /// counted either way.
    fn finish_record<'a>(&mut self, piece: &mut Piece<'a>, index: usize, raw: &'a [u8], line_no: u64) {
        match parse_line_timed(raw, |header| piece.clock.get(header, parse_error_log_time)) {
            Some(line) => match piece.causes.cause(&line) {
                Some(cause) if cause.role() != Role::AccessOnly => {
                    self.parsed += 1;
                    self.records.push(line.keep(&mut piece.keeper, index, line_no, cause));
                }
                _ => self.filtered += 1,
            },
            None => self.note_malformed(line_no, raw),
        }
    }

    /// Reads one piece in order, after what `self` read (its lines numbered on from there): a
    /// line that starts a record closes the one before; a non-empty line that does not
    /// continues it (FastCGI stderr relays the application's newlines). The records' text is
    /// whole once `keeper` is dropped, at the end. Room is made for the records of `rest`
    /// bytes (the piece and what follows it), once, so that reading the pieces after it
    /// never moves the records.
    fn read(&mut self, index: usize, buf: &[u8], keeper: Keeper, rest: usize) {
        self.records.reserve(rest / RECORD_BYTES);
        let mut piece = Piece { keeper, causes: Causes::new(), clock: StampCache::default() };
        // The record being read: byte range and the number of its first line.
        let mut open: Option<(usize, usize, u64)> = None;
        let mut offset = 0;
        for line in crate::lines::lines(buf) {
            self.lines += 1;
            let (start, end) = (offset, offset + line.len());
            offset = end + 1;
            if starts_record(line) {
                if let Some((s, e, n)) = open.take() {
                    self.finish_record(&mut piece, index, &buf[s..e], n);
                }
                open = Some((start, end, self.lines));
            } else if let Some(record) = open.as_mut().filter(|_| !line.is_empty()) {
                record.1 = end;
                self.parsed += 1;
            } else if line.iter().all(u8::is_ascii_whitespace) {
                self.filtered += 1;
            } else {
                self.note_malformed(self.lines, line);
            }
        }
        if let Some((s, e, n)) = open {
            self.finish_record(&mut piece, index, &buf[s..e], n);
        }
    }
}

/// What reading one piece of a log carries from record to record.
struct Piece<'a> {
    keeper: Keeper,
    causes: Causes<'a>,
    /// The time of the last record header read: an incident's log writes many records a
    /// second, whose headers read to the same time.
    clock: StampCache<i64>,
}

/// Reads `buf` (whole lines) in about `chunks` parallel pieces cut at record starts; `release`
/// gives each piece's pages back once it is read. The pieces of one split of the work, read
/// one after another, add to the same records: only the records of later splits are moved,
/// once, when the splits are joined.
pub fn read_chunks(index: usize, buf: &[u8], chunks: usize, release: PageRelease<'_>) -> ErrorChunk {
    // One thread has nothing to balance: it reads all the pieces onto the same records.
    let alone = if rayon::current_num_threads() == 1 { usize::MAX } else { 1 };
    chunks_at_records(buf, chunks)
        .into_par_iter()
        .with_min_len(alone)
        .fold(ErrorChunk::default, |mut read, chunk| {
            // The bytes from the piece to the end of `buf`: what the pieces this thread reads
            // next can hold at most.
            let rest = buf.len() - (chunk.as_ptr() as usize - buf.as_ptr() as usize);
            read.read(index, chunk, Keeper::for_buffer(chunk, release.mapping()), rest);
            release.done(chunk);
            read
        })
        .reduce(ErrorChunk::default, ErrorChunk::append)
}

/// Fewer bytes than an upstream error record takes in nginx's layout (header, message, client,
/// server, request, upstream, host), so that a piece's records, counted from its length, are
/// never more than the room made for them: an incident's log is mostly such records, and
/// growing the vector on the way copied each of them again. The room a piece of other lines does
/// not use is never written, so its pages are never touched.
const RECORD_BYTES: usize = 200;

/// Splits `buf` into about `n` pieces; every piece but the first starts at a line that starts a
/// record, so the lines between two record starts (a record and its continuation lines, or
/// lines no record claims) stay in one piece.
pub fn chunks_at_records(buf: &[u8], n: usize) -> Vec<&[u8]> {
    let target = buf.len().div_ceil(n.max(1)).max(1);
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    while start < buf.len() {
        let end = next_record_start(buf, (start + target).min(buf.len()));
        chunks.push(&buf[start..end]);
        start = end;
    }
    chunks
}

/// The start of the first line after `from` that starts a record, or the end of `buf`.
fn next_record_start(buf: &[u8], mut from: usize) -> usize {
    while let Some(nl) = memchr::memchr(b'\n', &buf[from..]) {
        let line_start = from + nl + 1;
        let line_end = memchr::memchr(b'\n', &buf[line_start..]).map_or(buf.len(), |i| line_start + i);
        let line = &buf[line_start..line_end];
        if starts_record(line.strip_suffix(b"\r").unwrap_or(line)) {
            return line_start;
        }
        from = line_start;
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"junk before\n\
        2024/05/14 10:22:31 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.1:80/\", host: \"a\"\n\
        2024/05/14 10:22:32 [error] 1#1: *2 FastCGI sent in stderr: \"PHP message: one\n\
        PHP message: two\" while reading response header from upstream, client: 1.2.3.4, server: a, request: \"GET /x HTTP/1.1\", upstream: \"fastcgi://unix:/run/php.sock:\", host: \"a\"\n\
        \n\
        2024/05/14 10:22:33 [notice] 1#1: signal process started\n\
        2024/05/14 10:22:34 [error] 1#1: *3 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 1.2.3.4, server: a, request: \"GET /y HTTP/1.1\", upstream: \"http://10.0.0.2:80/y\", host: \"a\"\n\
        stray\n";

    #[test]
    fn the_clock_reads_each_header_as_parsing_it_does() {
        let mut clock = StampCache::default();
        assert_eq!(clock.get(&[0; 19], parse_error_log_time), parse_error_log_time(&[0; 19]));
        for header in [
            &b"2024/05/14 10:22:31"[..],
            b"2024/05/14 10:22:31",
            b"2024/05/14 10:22:32",
            b"2024/05/14 1x:22:32",
            b"2024/05/14 10:22:31",
            b"2024/05/14 10:22:3",
            b"",
            b"2024/05/14 10:22:31",
        ] {
            assert_eq!(clock.get(header, parse_error_log_time), parse_error_log_time(header), "{header:?}");
        }
    }

    #[test]
    fn chunks_start_at_records_and_cover_the_buffer() {
        for n in 1..12 {
            let chunks = chunks_at_records(LOG, n);
            assert_eq!(chunks.concat(), LOG);
            for c in &chunks[1..] {
                assert!(starts_record(c), "{n}: {:?}", String::from_utf8_lossy(c));
            }
        }
        assert!(chunks_at_records(b"", 4).is_empty());
    }

    /// `buf` read as one piece.
    fn read_alone(buf: &[u8]) -> ErrorChunk {
        let mut read = ErrorChunk::default();
        read.read(0, buf, Keeper::default(), buf.len());
        read
    }

    #[test]
    fn any_cut_reads_like_one_pass() {
        let whole = read_alone(LOG);
        assert_eq!((whole.lines, whole.parsed, whole.malformed, whole.filtered), (8, 5, 1, 2));
        let lines: Vec<u64> = whole.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 7]);
        let same = |merged: &ErrorChunk, how: &str| {
            assert_eq!(
                (merged.lines, merged.parsed, merged.malformed, merged.filtered),
                (whole.lines, whole.parsed, whole.malformed, whole.filtered),
                "{how}"
            );
            let got: Vec<(u64, &[u8])> = merged.records.iter().map(|r| (r.line, r.raw())).collect();
            let want: Vec<(u64, &[u8])> = whole.records.iter().map(|r| (r.line, r.raw())).collect();
            assert_eq!(got, want, "{how}");
            let examples = |c: &ErrorChunk| c.malformed_examples.iter().map(|m| m.line).collect::<Vec<_>>();
            assert_eq!(examples(merged), examples(&whole), "{how}");
        };
        for n in 1..12 {
            let pieces = chunks_at_records(LOG, n);
            // Read one after another into the same records, as one thread does.
            let mut onto = ErrorChunk::default();
            for piece in &pieces {
                onto.read(0, piece, Keeper::default(), piece.len());
            }
            same(&onto, &format!("{n} pieces read on"));
            // Read apart and joined, as the records of different threads are.
            let joined = pieces.iter().map(|c| read_alone(c)).fold(ErrorChunk::default(), ErrorChunk::append);
            same(&joined, &format!("{n} pieces joined"));
            same(&read_chunks(0, LOG, n, PageRelease::default()), &format!("{n} pieces in parallel"));
        }
    }
}
