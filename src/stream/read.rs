//! Reading one stream: each logical line is decided on its own as an access line (in the
//! format found for the stream), an error record (a header, or a continuation of the open
//! record *of the same source*), or another program's line, counted as `other`.

use crate::access::{AccessFormat, AccessParser};
use crate::errorlog::text::Keeper;
use crate::errorlog::{parse_line, starts_record, ErrorRecord, Level, Role};
use crate::summary::{AccessSummary, MalformedLine};
use crate::window::TimeWindow;

use super::demux::{Demux, Logical};
use super::wrap::Pipe;

/// Counts of a stream's logical lines: `lines = parsed + malformed + filtered + other`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub lines: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub filtered: u64,
    pub other: u64,
    /// Error-log records (headers) read, whatever their level.
    pub error_records: u64,
    /// The most detailed error-log level seen (to tell when `error_log … crit` hides upstream
    /// errors, which nginx logs at `error`).
    pub finest_level: Option<Level>,
}

/// A source's error record still taking continuation lines (the buffer is kept between
/// records, so reading error lines does not allocate).
struct Open {
    source: u32,
    name: Option<Box<str>>,
    pipe: Option<Pipe>,
    text: Vec<u8>,
    line: u64,
    active: bool,
}

/// What a stream yielded.
pub struct Read {
    pub summary: AccessSummary,
    pub records: Vec<ErrorRecord>,
    pub counts: Counts,
    pub malformed_examples: Vec<MalformedLine>,
    /// Source names by id (id `i + 1` is `sources[i]`).
    pub sources: Vec<String>,
    pub wrappers: super::wrap::Wrappers,
}

/// Reads a stream block by block, keeping split lines and open error records across blocks.
pub struct StreamReader {
    index: usize,
    format: Option<AccessFormat>,
    window: TimeWindow,
    demux: Demux,
    route: Router,
}

#[derive(Default)]
struct Router {
    summary: AccessSummary,
    records: Vec<ErrorRecord>,
    /// Keeps the text of `records` in one arena until they are handed on.
    keeper: Keeper,
    open: Vec<Open>,
    counts: Counts,
    malformed_examples: Vec<MalformedLine>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader").field("index", &self.index).field("format", &self.format).finish()
    }
}

impl StreamReader {
    /// A reader for input `index`, whose access lines are in `format` (none: no access lines
    /// were found at its start), and whose unprefixed lines belong to the source `base`.
    pub fn new(index: usize, format: Option<AccessFormat>, window: TimeWindow, base: Option<&str>) -> Self {
        StreamReader { index, format, window, demux: Demux::new(base), route: Router::default() }
    }

    /// The access format the stream is read in.
    pub fn format(&self) -> Option<&AccessFormat> {
        self.format.as_ref()
    }

    /// Reads a block of whole lines.
    pub fn read(&mut self, block: &[u8]) {
        let StreamReader { index, window, demux, route, format } = self;
        let mut parser = format.as_ref().map(AccessParser::new);
        let mut emit = |l: Logical<'_>| route.line(*index, l, parser.as_mut(), window);
        for line in crate::lines::lines(block) {
            demux.push(line, &mut emit);
        }
    }

    /// What was read since the last call, for `live`, which hands on what each pass read. Open
    /// error records are read too (the runtime delivers a record's lines at once); split lines
    /// wait for their end.
    pub fn take(&mut self) -> Read {
        for i in 0..self.route.open.len() {
            self.route.close(self.index, i);
        }
        let Router { summary, records, counts, malformed_examples, keeper, .. } = &mut self.route;
        // The records' text is whole once their keeper is dropped.
        drop(std::mem::take(keeper));
        Read {
            summary: std::mem::take(summary),
            records: std::mem::take(records),
            counts: std::mem::take(counts),
            malformed_examples: std::mem::take(malformed_examples),
            sources: Vec::new(),
            wrappers: self.demux.wrappers,
        }
    }

    /// Ends the stream: fragments never ended and records still open are read.
    pub fn finish(mut self) -> Read {
        let StreamReader { index, window, demux, route, format } = &mut self;
        let mut parser = format.as_ref().map(AccessParser::new);
        demux.finish(&mut |l: Logical<'_>| route.line(*index, l, parser.as_mut(), window));
        for i in 0..route.open.len() {
            route.close(*index, i);
        }
        let sources = demux.sources().iter().map(|n| crate::escape::lossless(n)).collect();
        let wrappers = demux.wrappers;
        let Router { summary, records, counts, malformed_examples, keeper, .. } =
            std::mem::take(&mut self.route);
        drop(keeper);
        Read { summary, records, counts, malformed_examples, sources, wrappers }
    }
}

impl Router {
    fn line(
        &mut self,
        index: usize,
        l: Logical<'_>,
        parser: Option<&mut AccessParser<'_>>,
        window: &TimeWindow,
    ) {
        self.counts.lines += 1;
        let body = l.body;
        if body.iter().all(u8::is_ascii_whitespace) {
            self.counts.filtered += 1;
            return;
        }
        if starts_record(body) {
            let i = match self.open.iter().position(|o| o.source == l.source) {
                Some(i) => {
                    self.close(index, i);
                    i
                }
                None => {
                    let name = l.name.map(|n| crate::escape::lossless(n).into_boxed_str());
                    let open =
                        Open { source: l.source, name, pipe: None, text: Vec::new(), line: 0, active: false };
                    self.open.push(open);
                    self.open.len() - 1
                }
            };
            let open = &mut self.open[i];
            open.text.clear();
            open.text.extend_from_slice(body);
            (open.pipe, open.line, open.active) = (l.pipe, l.line, true);
            return;
        }
        let mismatch = match parser.map(|p| p.parse(body)) {
            Some(Ok(record)) => {
                self.access(index, &l, Ok(record), window);
                return;
            }
            Some(Err(m)) => Some(m),
            None => None,
        };
        if !is_foreign(body) {
            let continues =
                self.open_of(l.source).filter(|&i| l.pipe.is_none() || self.open[i].pipe == l.pipe);
            if let Some(i) = continues {
                // A continuation of the record above (FastCGI stderr relays newlines).
                self.open[i].text.push(b'\n');
                self.open[i].text.extend_from_slice(body);
                self.counts.parsed += 1;
                return;
            }
            // Text that starts like the access format but breaks off is a damaged access line.
            if let Some(m) = mismatch.filter(|m| m.offset > 0 && l.pipe != Some(Pipe::Stderr)) {
                self.access(index, &l, Err(m), window);
                return;
            }
        }
        self.counts.other += 1;
    }

    fn open_of(&self, source: u32) -> Option<usize> {
        self.open.iter().position(|o| o.source == source && o.active)
    }

    fn access(
        &mut self,
        index: usize,
        l: &Logical<'_>,
        parsed: Result<crate::access::AccessRecord<'_>, crate::access::parse::Mismatch>,
        window: &TimeWindow,
    ) {
        let (candidates, malformed) = (self.summary.candidates.len(), self.summary.malformed);
        self.summary.add(index, l.body, parsed.as_ref(), window);
        // Line numbers are the stream's physical lines, and the source goes with the request.
        for c in &mut self.summary.candidates[candidates..] {
            c.line = l.line;
            c.source = l.name.map(|n| crate::escape::lossless(n).into_boxed_str());
        }
        if self.summary.malformed > malformed {
            if let Some(m) = self.summary.malformed_examples.last_mut() {
                m.line = l.line;
            }
        }
    }

    /// Reads the open record `i`, if it is active.
    fn close(&mut self, index: usize, i: usize) {
        let open = &mut self.open[i];
        if !std::mem::take(&mut open.active) {
            return;
        }
        self.counts.error_records += 1;
        let Some(line) = parse_line(&open.text) else {
            self.counts.other += 1;
            return;
        };
        self.counts.finest_level = self.counts.finest_level.max(Some(line.level));
        match line.cause() {
            Some(cause) if cause.role() != Role::AccessOnly => {
                self.counts.parsed += 1;
                let mut record = line.keep(&mut self.keeper, index, open.line, cause);
                record.source = open.name.clone();
                self.records.push(record);
            }
            // Lines about other things (static files, startup, reloads): read, not upstreams.
            _ => self.counts.filtered += 1,
        }
    }
}

/// Lines other programs in the same container write: nginx's own pre-config messages
/// (`nginx: [emerg] …`, no timestamp), klog lines (`I0809 19:47:29.748303 …`), the
/// ingress-nginx banner, entrypoint scripts. They never continue an error record.
pub(crate) fn is_foreign(body: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 5] =
        [b"nginx: [", b"/docker-entrypoint", b"-----", b"NGINX Ingress controller", b"  Release:"];
    PREFIXES.iter().any(|p| body.starts_with(p)) || is_klog(body) || finder!(b".sh: ").find(body).is_some()
}

/// `Lmmdd hh:mm:ss.uuuuuu `: the klog/glog header.
fn is_klog(b: &[u8]) -> bool {
    b.len() > 21
        && matches!(b[0], b'I' | b'W' | b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' '
        && b[8] == b':'
        && b[14] == b'.'
}
