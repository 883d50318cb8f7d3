//! Logs as platforms deliver them: access and error lines interleaved in one input (what
//! `docker compose logs`, `kubectl logs`, a pod's node file, Docker's json-file, syslog and
//! journald give), each line wrapped by the runtime, with other programs' lines between them.
//!
//! [`wrap`] and [`json_file`] take the wrappers off a line, [`demux`] re-joins the lines the
//! runtime split and names the source (container, pod, host) of each, and [`read`] decides per
//! line whether it is an access line, an error record or something else. The join then keeps
//! sources apart: two pods' nginx both count connections from 1.

pub mod demux;
pub mod json_file;
pub mod place;
pub mod read;
pub mod wrap;

use crate::access::AccessFormat;
use crate::errorlog::{starts_record, Level};
use crate::input::{sniff, InputSpec, Kind, PageRelease, Sniffed};
use crate::report::schema::InputRow;
use crate::window::TimeWindow;

pub use read::{Read, StreamReader};

/// Bytes of a mapped stream read between releases of its pages.
const RELEASE_EVERY: usize = 64 << 20;

/// Logical lines looked at to decide.
const SAMPLE_LINES: usize = 256;

/// Decides from the start of an input whether it is a stream, and the format of its access
/// lines (found by the usual detection, run on the unwrapped lines). An input is a stream when
/// its lines carry a wrapper, or when error records or other programs' lines are mixed with its
/// access lines; plain
/// access and error logs are left to the faster whole-file readers.
pub fn detect(head: &[u8], candidates: &[AccessFormat]) -> Option<Option<AccessFormat>> {
    let head = &head[..head.len().min(1 << 20)];
    let mut demux = demux::Demux::new(None);
    let (mut errors, mut foreign) = (0, 0);
    let mut sample = Vec::new();
    let mut emit = |l: demux::Logical<'_>| {
        if starts_record(l.body) {
            errors += 1;
        } else if read::is_foreign(l.body) {
            foreign += 1;
        } else if !l.body.is_empty() && l.pipe != Some(wrap::Pipe::Stderr) {
            sample.extend_from_slice(l.body);
            sample.push(b'\n');
        }
    };
    for line in crate::lines::lines(head).take(SAMPLE_LINES) {
        demux.push(line, &mut emit);
    }
    let format = match sample.is_empty() {
        true => None,
        false => match sniff(&sample, None, candidates) {
            Sniffed::Access(format) => Some(format),
            _ => None,
        },
    };
    // Access lines with error records or other programs' lines (`docker logs NAME > file` keeps
    // the entrypoint's) are a stream too.
    (!demux.wrappers.is_empty() || (errors + foreign > 0 && format.is_some())).then_some(format)
}

/// Starts reading input `index` as a stream when its first block `head` is one (or an earlier
/// run found it to be one), reading that block.
pub fn start(
    index: usize,
    spec: &InputSpec,
    candidates: &[AccessFormat],
    window: TimeWindow,
    head: &[u8],
    release: PageRelease<'_>,
) -> Option<StreamReader> {
    let format = match spec.forced {
        None => detect(head, candidates)?,
        Some(Kind::Stream) => detect(head, candidates).flatten(),
        Some(_) => return None,
    };
    let mut reader = StreamReader::new(index, format, window, spec.source.as_deref());
    // A mapped file's pages go back to the kernel as it is read, as the whole-file readers do.
    for chunk in crate::lines::chunks_at_lines(head, head.len() / RELEASE_EVERY + 1) {
        reader.read(chunk);
        release.done(chunk);
    }
    Some(reader)
}

/// Ends a stream, accounting for its lines in `report`; returns its access summary, the access
/// format (when it had access lines) and its error records.
pub(crate) fn finish(
    reader: StreamReader,
    report: &mut InputRow,
) -> (crate::summary::AccessSummary, Option<AccessFormat>, Vec<crate::errorlog::ErrorRecord>) {
    let format = reader.format().cloned();
    let read = reader.finish();
    account(&read, format.as_ref(), report);
    if let Some(note) = missing_errors(&read) {
        report.problem.get_or_insert(note);
    }
    (read.summary, format, read.records)
}

/// What a stream with client 5xx says about its error log when that cannot explain them: none
/// at all (`docker logs` sends stderr, where the official images write the error log, to the
/// terminal, not to `> file`), or only `[crit]` and above (nginx logs upstream failures at
/// `[error]`).
pub fn missing_errors(read: &Read) -> Option<String> {
    let failures: u64 = read
        .summary
        .statuses
        .iter()
        .filter(|(s, _)| crate::summary::is_failure_status(*s))
        .map(|(_, n)| n)
        .sum();
    if failures == 0 {
        return None;
    }
    match read.counts.finest_level {
        None => Some(format!(
            "{failures} client 5xx but no error-log lines: a container's error log goes to stderr, which `docker logs NAME > file` leaves out; use `docker logs NAME > file 2>&1`"
        )),
        Some(level) if level <= Level::Crit => Some(format!(
            "{failures} client 5xx, but its error-log lines are all [{}] or above: nginx logs most upstream failures at [error], which `error_log … {};` hides; use `error_log … error;` (or notice)",
            level.name(),
            level.name()
        )),
        Some(_) => None,
    }
}

/// Counts what a stream yielded into its input's report, and names its wrappers and format.
pub fn account(read: &Read, format: Option<&AccessFormat>, report: &mut InputRow) {
    let (counts, summary) = (&read.counts, &read.summary);
    report.kind = Some(Kind::Stream);
    report.lines += counts.lines;
    report.parsed += counts.parsed + summary.parsed;
    report.malformed += counts.malformed + summary.malformed;
    report.filtered += counts.filtered + summary.filtered;
    report.other += counts.other;
    let room = crate::summary::MALFORMED_EXAMPLES.saturating_sub(report.malformed_examples.len());
    report.malformed_examples.extend(summary.malformed_examples.iter().take(room).map(Into::into));
    let wrappers = if read.wrappers.is_empty() { "interleaved".to_owned() } else { read.wrappers.describe() };
    report.format = Some(match format {
        Some(f) => format!("{wrappers}; access {}", f.name()),
        None => format!("{wrappers}; no access lines"),
    });
}
