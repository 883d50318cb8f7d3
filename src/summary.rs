//! What one pass over an access log produces: mergeable counters plus the rare 5xx records.
//!
//! Each parallel chunk builds an [`AccessSummary`]; `merge` is associative (chunks merge in file
//! order, which only shifts line numbers), so the result is the same for any chunking and thread
//! count.

use rustc_hash::FxHashMap;

mod candidate;

use candidate::TextBuilder;
pub use candidate::{Candidate, CandidateText, TextFields};

use crate::access::attempts::{attempt_status, entries};
use crate::access::format::Escape;
use crate::access::json::unescape;
use crate::access::{AccessRecord, Field, Mismatch};
use crate::aggregate::sketch::Sketch;
use crate::number::parse_seconds;
use crate::window::TimeWindow;

/// How many malformed lines are kept as examples per input.
pub const MALFORMED_EXAMPLES: usize = 5;

/// Request counts by status, in slots cheap to bump per line.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusCounts(Box<[u64; 1000]>);

impl Default for StatusCounts {
    fn default() -> Self {
        StatusCounts(Box::new([0; 1000]))
    }
}

impl StatusCounts {
    pub fn add(&mut self, status: u16) {
        self.0[usize::from(status).min(999)] += 1;
    }

    /// Takes back one request counted by [`add`](Self::add).
    pub fn remove(&mut self, status: u16) {
        let slot = &mut self.0[usize::from(status).min(999)];
        *slot = slot.saturating_sub(1);
    }

    pub fn merge(&mut self, other: &StatusCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// `(status, count)` for every status seen, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0.iter().enumerate().filter(|(_, n)| **n > 0).map(|(s, n)| (s as u16, *n))
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn get(&self, status: u16) -> u64 {
        self.0[usize::from(status).min(999)]
    }
}

/// Counters for one minute of traffic (the timeline is rebucketed from these).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinuteCounts {
    pub requests: u64,
    /// Responses with status ≥ 500 (and nginx's `009`), by status.
    pub errors: Vec<(u16, u64)>,
}

impl MinuteCounts {
    fn add_error(&mut self, status: u16, n: u64) {
        match self.errors.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => *c += n,
            None => self.errors.push((status, n)),
        }
    }
}

/// Per-upstream counters from `$upstream_addr` / `$upstream_status` / `$upstream_response_time`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamCounts {
    /// Attempts sent to this peer.
    pub attempts: u64,
    /// Attempt statuses (`-` counted as 0).
    pub statuses: Vec<(u16, u64)>,
    pub latency: Sketch,
}

/// A malformed line kept as an example: where, why, and its first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedLine {
    pub line: u64,
    pub offset: usize,
    pub reason: &'static str,
    pub text: Vec<u8>,
}

/// Counters and candidates for one access input (or one chunk of it).
#[derive(Clone, Debug, Default)]
pub struct AccessSummary {
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    /// Read but not counted: blank lines, and requests outside the time window.
    pub filtered: u64,
    pub malformed_examples: Vec<MalformedLine>,
    pub statuses: StatusCounts,
    pub minutes: FxHashMap<i64, MinuteCounts>,
    pub upstreams: FxHashMap<Box<[u8]>, UpstreamCounts>,
    /// `$request_time` of every request.
    pub request_latency: Sketch,
    /// How many requests were written in each UTC offset (the error log's zone is guessed
    /// from the most common one).
    pub offsets: FxHashMap<i32, u64>,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub candidates: Vec<Candidate>,
}

/// Bytes of access log per candidate a chunk's summary has room for from the start: room for
/// two in five requests failing on lines of 200 bytes. A vector that grows instead copies every
/// candidate it holds each time it doubles; room never used is never written, so it takes no
/// memory.
const BYTES_PER_CANDIDATE_ROOM: usize = 512;

impl AccessSummary {
    /// An empty summary for a chunk of `bytes` of access log.
    pub fn for_chunk(bytes: usize) -> AccessSummary {
        AccessSummary {
            candidates: Vec::with_capacity(bytes / BYTES_PER_CANDIDATE_ROOM),
            ..AccessSummary::default()
        }
    }

    /// Accounts for one line (without its newline), given what the parser made of it.
    pub fn add(
        &mut self,
        input: usize,
        line: &[u8],
        parsed: Result<&AccessRecord<'_>, &Mismatch>,
        window: &TimeWindow,
    ) {
        self.lines += 1;
        // By reference: the record is a few hundred bytes, not worth a copy per line.
        match parsed {
            Ok(record) if window.contains(record.time.map(|t| t.utc)) => self.add_record(input, record),
            Ok(_) => self.filtered += 1,
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => self.filtered += 1,
            Err(mismatch) => {
                self.malformed += 1;
                if self.malformed_examples.len() < MALFORMED_EXAMPLES {
                    self.malformed_examples.push(MalformedLine {
                        line: self.lines,
                        offset: mismatch.offset,
                        reason: mismatch.reason,
                        text: line[..line.len().min(300)].to_vec(),
                    });
                }
            }
        }
    }

    fn add_record(&mut self, input: usize, record: &AccessRecord<'_>) {
        self.parsed += 1;
        let status = record.status;
        self.statuses.add(status);
        if let Some(stamp) = record.time {
            let minute = stamp.utc.div_euclid(60) * 60;
            let counts = self.minutes.entry(minute).or_default();
            counts.requests += 1;
            if is_failure_status(status) {
                counts.add_error(status, 1);
            }
            *self.offsets.entry(stamp.offset).or_default() += 1;
            self.first = Some(self.first.map_or(stamp.utc, |f| f.min(stamp.utc)));
            self.last = Some(self.last.map_or(stamp.utc, |l| l.max(stamp.utc)));
        }
        let request_time = record.request_time();
        if let Some(rt) = request_time {
            self.request_latency.add(rt);
        }
        let failed_attempt = self.add_attempts(record);
        if is_failure_status(status) || failed_attempt {
            self.candidates.push(candidate(input, self.lines, record, request_time));
        }
    }

    /// Counts each upstream attempt; returns whether any attempt failed (5xx or no status).
    fn add_attempts(&mut self, record: &AccessRecord<'_>) -> bool {
        let Some(addrs) = record.get(Field::UpstreamAddr) else { return false };
        let status_list = record.get(Field::UpstreamStatus);
        let mut statuses = status_list.map(entries);
        let mut times = record.get(Field::UpstreamResponseTime).map(entries);
        let mut failed = false;
        let mut attempts = 0;
        for addr in entries(addrs) {
            attempts += 1;
            let status = statuses.as_mut().and_then(Iterator::next).and_then(attempt_status);
            let time = times.as_mut().and_then(Iterator::next).and_then(parse_seconds);
            failed |= status.is_some_and(|s| s >= 500);
            let counts = match self.upstreams.get_mut(addr) {
                Some(c) => c,
                None => self.upstreams.entry(addr.into()).or_default(),
            };
            counts.attempts += 1;
            let key = status.unwrap_or(0);
            match counts.statuses.iter_mut().find(|(s, _)| *s == key) {
                Some((_, n)) => *n += 1,
                None => counts.statuses.push((key, 1)),
            }
            if let Some(t) = time {
                counts.latency.add(t);
            }
        }
        failed || (attempts > 1 && record.status < 500 && status_list.is_none())
    }

    /// Counts a request that an earlier run read but left undiagnosed (`--state` carries it):
    /// it is counted by the run that diagnoses it, so each run's failures are among its requests.
    pub fn admit(&mut self, c: &Candidate) {
        self.statuses.add(c.status);
        if let Some(time) = c.time {
            let counts = self.minutes.entry(time.div_euclid(60) * 60).or_default();
            counts.requests += 1;
            if is_failure_status(c.status) {
                counts.add_error(c.status, 1);
            }
        }
    }

    /// Takes back the counts of a request whose diagnosis waits for the next run.
    pub fn withdraw(&mut self, c: &Candidate) {
        self.statuses.remove(c.status);
        let Some(counts) = c.time.and_then(|t| self.minutes.get_mut(&(t.div_euclid(60) * 60))) else {
            return;
        };
        counts.requests = counts.requests.saturating_sub(1);
        if let Some((_, n)) = counts.errors.iter_mut().find(|(s, _)| *s == c.status) {
            *n = n.saturating_sub(1);
        }
    }

    /// Adds `later` (the chunk that follows `self` in the same file) into `self`.
    pub fn merge(self, later: AccessSummary) -> AccessSummary {
        let shift = self.lines;
        self.absorb(later, shift)
    }

    /// The summary of chunks that follow one another in one file, in order. Their candidates
    /// are moved once, into one vector sized for all (merging neighbours in pairs moves each
    /// candidate once per level of pairs, and grows the vectors as it goes).
    pub fn concat(parts: Vec<AccessSummary>) -> AccessSummary {
        let candidates = parts.iter().map(|p| p.candidates.len()).sum::<usize>();
        let mut parts = parts.into_iter();
        let Some(mut first) = parts.next() else { return AccessSummary::default() };
        first.candidates.reserve_exact(candidates - first.candidates.len());
        parts.fold(first, AccessSummary::merge)
    }

    /// Adds the summary of another input: line numbers stay as they are.
    pub fn merge_input(self, other: AccessSummary) -> AccessSummary {
        self.absorb(other, 0)
    }

    fn absorb(mut self, mut later: AccessSummary, shift: u64) -> AccessSummary {
        for m in &mut later.malformed_examples {
            m.line += shift;
        }
        for c in &mut later.candidates {
            c.line += shift;
        }
        self.lines += later.lines;
        self.parsed += later.parsed;
        self.malformed += later.malformed;
        self.filtered += later.filtered;
        let room = MALFORMED_EXAMPLES.saturating_sub(self.malformed_examples.len());
        self.malformed_examples.extend(later.malformed_examples.into_iter().take(room));
        self.statuses.merge(&later.statuses);
        for (minute, counts) in later.minutes {
            let mine = self.minutes.entry(minute).or_default();
            mine.requests += counts.requests;
            for (s, n) in counts.errors {
                mine.add_error(s, n);
            }
        }
        for (addr, counts) in later.upstreams {
            let mine = self.upstreams.entry(addr).or_default();
            mine.attempts += counts.attempts;
            for (s, n) in counts.statuses {
                match mine.statuses.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, c)) => *c += n,
                    None => mine.statuses.push((s, n)),
                }
            }
            mine.latency.merge(&counts.latency);
        }
        self.request_latency.merge(&later.request_latency);
        for (offset, n) in later.offsets {
            *self.offsets.entry(offset).or_default() += n;
        }
        self.first = min_opt(self.first, later.first);
        self.last = later.last.max(self.last);
        if self.candidates.is_empty() {
            self.candidates = later.candidates;
        } else {
            self.candidates.append(&mut later.candidates);
        }
        self
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        _ => a.or(b),
    }
}

/// Whether a client status is one ngx502 explains: any 5xx, and nginx's `009` (an upstream
/// that did not speak HTTP/1.x).
pub fn is_failure_status(status: u16) -> bool {
    status >= 500 || status == 9
}

/// The candidate of a failed request, whose `$request_time` the summary has read already.
fn candidate(input: usize, line: u64, r: &AccessRecord<'_>, request_time: Option<f64>) -> Candidate {
    let (client, host) = (r.client(), r.host());
    let request = r.get(Field::Request);
    // `METHOD URI` for formats that log `$request_method` and `$request_uri` but not `$request`
    // (Nginx Proxy Manager): enough for the join, which compares request lines without protocol.
    let method_uri = match request {
        Some(_) => None,
        None => r.get(Field::RequestMethod).zip(r.get(Field::RequestUri)),
    };
    let upstream =
        [Field::UpstreamAddr, Field::UpstreamStatus, Field::UpstreamResponseTime].map(|f| r.get(f));
    let len = |v: Option<&[u8]>| v.map_or(0, <[u8]>::len);
    let capacity = len(client)
        + len(request)
        + method_uri.map_or(0, |(m, u)| m.len() + 1 + u.len())
        + len(host)
        + upstream.iter().map(|v| len(*v)).sum::<usize>();
    let mut text = TextBuilder::with_capacity(capacity);
    text.push(client);
    text.push_with(|out| {
        let start = out.len();
        match (request, method_uri) {
            (Some(line), _) => out.extend_from_slice(line),
            (None, Some((method, uri))) => {
                out.extend_from_slice(method);
                out.push(b' ');
                out.extend_from_slice(uri);
            }
            (None, None) => return false,
        }
        if r.escape != Escape::Default {
            let raw = out.split_off(start);
            match r.escape {
                Escape::Json => nginx_escape_into(&unescape(&raw), out),
                _ => nginx_escape_into(&raw, out),
            }
        }
        true
    });
    text.push(host);
    let [addr, status, response_time] = upstream;
    text.push_with(|out| match addr {
        Some(v) if r.escape == Escape::Json => {
            out.extend_from_slice(&unescape(v));
            true
        }
        Some(v) => {
            out.extend_from_slice(v);
            true
        }
        None => false,
    });
    text.push(status);
    text.push(response_time);
    Candidate {
        input,
        line,
        time: r.time.map(|t| t.utc),
        offset: r.time.map_or(0, |t| t.offset),
        status: r.status,
        connection: r.connection(),
        request_time,
        text: text.finish(),
        source: None,
    }
}

/// nginx's default access-log escaping (`ngx_http_log_escape`): `"`, `\`, control bytes and
/// bytes ≥ 0x7F become `\xHH`. Applied to error-log values (which nginx writes raw) so they
/// compare equal to access-log values.
pub fn nginx_escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    nginx_escape_into(raw, &mut out);
    out
}

/// [`nginx_escape`] appended to `out`, so many values can share one buffer.
pub fn nginx_escape_into(raw: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if all_plain(raw) {
        out.extend_from_slice(raw);
        return;
    }
    for b in raw {
        if plain(*b) {
            out.push(*b);
        } else {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Whether nginx writes `b` as is.
fn plain(b: u8) -> bool {
    b != b'"' && b != b'\\' && (0x20..0x7f).contains(&b)
}

/// Whether nginx writes all of `raw` as is, which [`nginx_escape_into`] would copy unchanged.
/// Every request line of the error log and of each failed request is checked, so eight bytes are
/// tested at a time, in a register.
pub(crate) fn all_plain(raw: &[u8]) -> bool {
    use crate::swar::{any_high, bytes_below, bytes_equal};
    let (words, tail) = raw.as_chunks::<8>();
    words.iter().all(|w| {
        let x = u64::from_le_bytes(*w);
        !any_high(x)
            && bytes_below(x, 0x20) == 0
            && bytes_equal(x, 0x7f) == 0
            && bytes_equal(x, b'"') == 0
            && bytes_equal(x, b'\\') == 0
    }) && tail.iter().all(|b| plain(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_has_room_for_its_failures_from_the_start() {
        let summary = AccessSummary::for_chunk(100 * BYTES_PER_CANDIDATE_ROOM);
        assert!(summary.candidates.capacity() >= 100);
        assert!(AccessSummary::default().candidates.capacity() == 0);
    }

    #[test]
    fn a_line_is_all_plain_exactly_when_escaping_leaves_it_unchanged() {
        let unchanged = |raw: &[u8]| {
            let mut out = Vec::new();
            nginx_escape_into(raw, &mut out);
            out == raw
        };
        for b in 0..=u8::MAX {
            // Each byte alone, and at every place of a line long enough to be read in blocks.
            for at in [0, 7, 16, 39] {
                let mut line = b"GET /a/b?c=d&e=f HTTP/1.1 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}".to_vec();
                line[at] = b;
                assert_eq!(all_plain(&line), unchanged(&line), "byte {b:#x} at {at}");
            }
            assert_eq!(all_plain(&[b]), unchanged(&[b]), "byte {b:#x}");
        }
        assert!(all_plain(b""));
    }

    #[test]
    fn plain_words_agree_with_plain_bytes() {
        for b in 0..=255u8 {
            for at in 0..17 {
                let mut raw = [b'a'; 17];
                raw[at] = b;
                assert_eq!(all_plain(&raw), plain(b), "byte {b:#x} at {at}");
            }
        }
        assert!(all_plain(b""));
        assert!(all_plain(b"GET /a/b?c=d&e=f HTTP/1.1 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"));
    }

    #[test]
    fn escape_matches_nginx() {
        assert_eq!(nginx_escape(b"GET /a\"b\xff HTTP/1.1"), b"GET /a\\x22b\\xFF HTTP/1.1");
    }
}
