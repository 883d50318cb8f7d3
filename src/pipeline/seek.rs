//! Where a time starts in a log: the byte offset of the first line logged at or after it, found
//! by bisecting the file on the times of the lines, so a log of many GB is cut into time
//! segments without reading it.
//!
//! Logs are written in time order, give or take the second nginx's cached clock and its
//! workers allow, so bisection finds the cut a scan would. A line out of order only lands in
//! the segment beside its own, where the join's carry-over still reaches it. Lines without a
//! time (malformed, an error record's continuation lines) are stepped over: a cut is always
//! at the start of a timed line, so an error record is never split.

use crate::access::{AccessFormat, AccessParser};
use crate::errorlog::starts_record;
use crate::time::parse_error_log_time;

/// Below this span a cut is found by reading line after line rather than bisecting further.
const SCAN_SPAN: usize = 64 << 10;
/// Lines looked at past a probe for a timed one before the probe is taken as untimed.
const PROBE_LINES: usize = 64;

/// The time of a line of one log, in UTC seconds.
pub enum Clock<'f> {
    Access(AccessParser<'f>),
    /// An error log's lines are in local time, `offset` seconds east of UTC.
    Error {
        offset: i64,
    },
}

impl<'f> Clock<'f> {
    pub fn access(format: &'f AccessFormat) -> Self {
        Clock::Access(AccessParser::new(format))
    }

    /// The line's time, when it is a whole record that has one.
    fn time(&mut self, line: &[u8]) -> Option<i64> {
        match self {
            Clock::Access(parser) => parser.parse(line).ok()?.time.map(|t| t.utc),
            Clock::Error { offset } => {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !starts_record(line) {
                    return None;
                }
                Some(parse_error_log_time(line.get(..19)?)? - *offset)
            }
        }
    }
}

/// The start of the first line that begins at or after `at`.
pub fn line_start(buf: &[u8], at: usize) -> usize {
    if at == 0 {
        return 0;
    }
    let from = at.min(buf.len()) - 1;
    memchr::memchr(b'\n', &buf[from..]).map_or(buf.len(), |i| from + i + 1)
}

/// The line starting at `start` (without its newline) and where the next one starts.
fn line_at(buf: &[u8], start: usize) -> (&[u8], usize) {
    let rest = &buf[start..];
    match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], start + i + 1),
        None => (rest, buf.len()),
    }
}

/// The first timed line starting at or after the line start `at`, within [`PROBE_LINES`]
/// lines: its start and time.
pub fn next_timed(buf: &[u8], at: usize, clock: &mut Clock<'_>) -> Option<(usize, i64)> {
    let mut start = at;
    for _ in 0..PROBE_LINES {
        if start >= buf.len() {
            return None;
        }
        let (line, next) = line_at(buf, start);
        if let Some(time) = clock.time(line) {
            return Some((start, time));
        }
        start = next;
    }
    None
}

/// The time of the first timed line of `buf`, however far into it.
pub fn first_time(buf: &[u8], clock: &mut Clock<'_>) -> Option<i64> {
    let mut start = 0;
    while start < buf.len() {
        let (line, next) = line_at(buf, start);
        if let Some(time) = clock.time(line) {
            return Some(time);
        }
        start = next;
    }
    None
}

/// The start of the first timed line at or after `time` (UTC), or the end of `buf` when there
/// is none: everything before it was logged before `time`, if the log is in time order.
pub fn cut_at(buf: &[u8], time: i64, clock: &mut Clock<'_>) -> usize {
    // The cut is in [lo, hi]; lo is a line start after lines logged before `time`.
    let (mut lo, mut hi) = (0, buf.len());
    while hi - lo > SCAN_SPAN {
        let mid = line_start(buf, lo + (hi - lo) / 2);
        match next_timed(buf, mid, clock) {
            Some((at, t)) if at < hi && t < time => lo = line_at(buf, at).1,
            _ => hi = mid,
        }
    }
    let mut start = lo;
    while start < buf.len() {
        let (line, next) = line_at(buf, start);
        if clock.time(line).is_some_and(|t| t >= time) {
            return start;
        }
        start = next;
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_log(seconds: impl Iterator<Item = u32>) -> Vec<u8> {
        let mut log = Vec::new();
        for s in seconds {
            log.extend_from_slice(
                format!(
                    "2024/05/14 10:{:02}:{:02} [error] 7#7: *{s} connect() failed (111: Connection refused)\n",
                    s / 60,
                    s % 60
                )
                .as_bytes(),
            );
            if s % 3 == 0 {
                log.extend_from_slice(b"continuation of the record above\n");
            }
        }
        log
    }

    fn seconds(buf: &[u8], at: usize) -> i64 {
        let mut clock = Clock::Error { offset: 0 };
        next_timed(buf, at, &mut clock).map_or(-1, |(_, t)| t % 3600)
    }

    #[test]
    fn cuts_before_the_first_line_at_the_time() {
        let log = error_log((0..3000).map(|i| i / 2));
        let mut clock = Clock::Error { offset: 0 };
        let base = parse_error_log_time(b"2024/05/14 10:00:00").unwrap();
        for wanted in [1, 17, 600, 1499] {
            let cut = cut_at(&log, base + wanted, &mut clock);
            assert_eq!(seconds(&log, cut), wanted);
            assert!(log[..cut].ends_with(b"\n"));
            // Two records per second: the line before the cut is the second before.
            let before = log[..cut - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let before = if log[before..].starts_with(b"continuation") {
                log[..before - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
            } else {
                before
            };
            assert_eq!(seconds(&log, before), wanted - 1);
        }
        assert_eq!(cut_at(&log, base, &mut clock), 0);
        assert_eq!(cut_at(&log, base + 1500, &mut clock), log.len());
    }

    #[test]
    fn a_cut_is_never_inside_an_error_record() {
        let log = error_log(0..2000);
        let base = parse_error_log_time(b"2024/05/14 10:00:00").unwrap();
        let mut clock = Clock::Error { offset: 0 };
        for wanted in (0..2000).step_by(3) {
            let cut = cut_at(&log, base + wanted, &mut clock);
            assert!(log[cut..].starts_with(b"2024/05/14 "), "cut at {wanted} is not at a record");
        }
    }

    #[test]
    fn an_error_log_time_is_read_in_its_zone() {
        let log = error_log(0..10);
        let local = parse_error_log_time(b"2024/05/14 10:00:05").unwrap();
        let mut clock = Clock::Error { offset: 7200 };
        let cut = cut_at(&log, local - 7200, &mut clock);
        assert_eq!(seconds(&log, cut), 5);
    }

    #[test]
    fn untimed_lines_are_stepped_over() {
        let junk = b"garbage\n\n\xff\xfe not a line\n";
        let mut log = junk.to_vec();
        log.extend(error_log(0..5));
        let base = parse_error_log_time(b"2024/05/14 10:00:00").unwrap();
        let mut clock = Clock::Error { offset: 0 };
        assert_eq!(next_timed(&log, 0, &mut clock).map(|(at, _)| at), Some(junk.len()));
        assert_eq!(cut_at(&log, base, &mut clock), junk.len());
        assert_eq!(line_start(&log, 1), 8);
        assert_eq!(line_start(&log, 8), 8);
        assert_eq!(line_start(b"no newline", 3), 10);
    }
}
