//! Deciding from content whether an input is an access log or an error log, and which access
//! format it was written in. Names lie (`access.log.1`, `site.log`); the first lines do not.

use super::{detect, infer};
use crate::access::format::Segment;
use crate::access::{AccessFormat, LogFormat};
use crate::errorlog::starts_record;
use crate::escape::for_terminal;

/// What kind of log an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Access,
    Error,
    /// Access, error and other programs' lines in one input, possibly wrapped by a container
    /// runtime, syslog or journald (see [`crate::stream`]).
    Stream,
}

impl Kind {
    /// The word the inputs table and notes use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Error => "error",
            Kind::Stream => "stream",
        }
    }
}

/// The verdict on an input's first lines.
#[derive(Clone, Debug)]
pub enum Sniffed {
    Access(AccessFormat),
    Error,
    /// Neither: binary, or text no known format matches. The reason says which.
    Unknown(String),
}

/// Lines looked at to decide.
const SAMPLE_LINES: usize = 64;
/// Bytes of the start of an input looked at to decide (a stream gathers this much first).
pub const SNIFF_HEAD: usize = 1 << 20;

/// Decides kind and format from `head` (the start of the input). `candidates` are the access
/// formats to try, most preferred first; the one explaining the most bytes of the sample lines
/// wins (see [`detect`]).
pub fn sniff(head: &[u8], forced: Option<Kind>, candidates: &[AccessFormat]) -> Sniffed {
    let window = &head[..head.len().min(SNIFF_HEAD)];
    // NULs alone do not make a log binary: a crash can zero-fill a block of a log that is
    // otherwise fine, and one such line must not hide the whole file. They only name the reason
    // when no line is recognised.
    let binary = memchr::memchr(0, &window[..window.len().min(8192)]).is_some();
    let lines: Vec<&[u8]> = window
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(SAMPLE_LINES)
        .collect();
    if lines.is_empty() {
        return match forced {
            Some(Kind::Error) => Sniffed::Error,
            _ => Sniffed::Access(candidates.first().cloned().unwrap_or_else(default_format)),
        };
    }
    if forced == Some(Kind::Error) || (forced.is_none() && is_error_log(&lines, candidates)) {
        return Sniffed::Error;
    }
    let best = detect::best(&lines, candidates);
    let whole = best.is_some_and(|(_, tally)| tally.prefix <= tally.whole);
    // A single candidate is a format the user (or nginx.conf) named: it is kept, not replaced.
    if !whole && candidates.len() > 1 {
        if let Some(format) = inferred(&lines) {
            return Sniffed::Access(AccessFormat::Template(format));
        }
    }
    match best {
        Some((AccessFormat::Template(format), tally)) if tally.prefix > tally.whole => {
            Sniffed::Access(AccessFormat::Template(prefix_format(format, &lines)))
        }
        Some((format, _)) => Sniffed::Access(format.clone()),
        None if forced == Some(Kind::Access) => {
            Sniffed::Access(candidates.first().cloned().unwrap_or_else(default_format))
        }
        None if binary => Sniffed::Unknown("binary data (NUL bytes), not a text log".into()),
        None => Sniffed::Unknown(
            "no known access-log format matches its first lines (pass --log-format '<your log_format>' or --nginx-conf; `ngx502 check-format --infer FILE` proposes one)".into(),
        ),
    }
}

/// The format to read a log with when `format` explains only the start of its lines: the same
/// split with the rest of each line kept as one unread field, and a warning naming what is read
/// and what the log would need.
pub fn prefix_format(format: &LogFormat, lines: &[&[u8]]) -> LogFormat {
    let example = lines.iter().find_map(|l| {
        let f = detect::fit_template(format, l);
        (!f.whole && f.explained > 0).then(|| &l[f.explained..])
    });
    let ends_with_literal = matches!(format.segments.last(), Some(Segment::Literal(_)));
    let template =
        if ends_with_literal { format!("{}$unread_rest", format.template) } else { format.template.clone() };
    let mut read = LogFormat::compile(&format!("{} (start of line)", format.name), &template, format.escape)
        .unwrap_or_else(|_| format.clone());
    let fields: Vec<String> = format
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Var(v) => Some(format!("${}", v.name())),
            Segment::Literal(_) => None,
        })
        .collect();
    let tail = example.unwrap_or_default();
    let used: Vec<&str> = fields.iter().map(|f| f.trim_start_matches('$')).collect();
    read.note = Some(format!(
        "only the start of its lines matches the `{}` format (fields read: {}); the rest, e.g. `{}`, is not read. The log_format that reads it whole is likely: --log-format '{}{}'",
        format.name,
        fields.join(" "),
        for_terminal(&tail[..tail.len().min(60)]),
        format.template,
        infer::propose_tail(tail, &used),
    ));
    read
}

/// The format inferred from the lines' shapes, when it explains at least 99 % of them whole and
/// logs a `$status`; it carries a note saying it was inferred.
fn inferred(lines: &[&[u8]]) -> Option<LogFormat> {
    let proposal = infer::infer(lines).filter(|p| p.share() >= INFERRED_SHARE)?;
    let mut format = proposal.format("inferred")?;
    format.note = Some(format!(
        "no known format explains its lines; read with the log_format inferred from them (explains {} of {} sample lines): --log-format '{}'",
        proposal.whole, proposal.sample, proposal.template
    ));
    Some(format)
}

/// The share of the sample an inferred format must explain to be used.
const INFERRED_SHARE: f64 = 0.99;

/// Whether most sample lines belong to error-log records. A record is a line starting with
/// nginx's date and the lines after it that no access format explains (FastCGI stderr relays an
/// application's newlines: a PHP stack trace makes one record of dozens of lines).
fn is_error_log(lines: &[&[u8]], candidates: &[AccessFormat]) -> bool {
    let mut in_record = false;
    let mut error_lines = 0;
    for line in lines {
        if starts_record(line) {
            in_record = true;
        } else if in_record {
            in_record = !candidates.iter().any(|f| detect::fit(f, line).whole);
        }
        error_lines += usize::from(in_record);
    }
    error_lines * 2 > lines.len()
}

fn default_format() -> AccessFormat {
    AccessFormat::Template(LogFormat::preset("combined").expect("combined preset compiles"))
}

/// The formats auto-detection tries: the presets, then JSON keyed by variable names.
pub fn builtin_candidates() -> Vec<AccessFormat> {
    crate::access::presets::PRESETS
        .iter()
        .filter_map(crate::access::presets::Preset::compile)
        .map(AccessFormat::Template)
        .chain(std::iter::once(AccessFormat::json_by_names()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(text: &[u8]) -> String {
        match sniff(text, None, &builtin_candidates()) {
            Sniffed::Access(f) => f.name().to_owned(),
            Sniffed::Error => "error".into(),
            Sniffed::Unknown(_) => "unknown".into(),
        }
    }

    #[test]
    fn decides_by_content() {
        let combined = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        assert_eq!(kind_of(combined), "combined");
        let common = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(kind_of(common), "common");
        let main = br#"1.2.3.4 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 200 5 "-" "ua" "-""#;
        assert_eq!(kind_of(main), "main");
        assert_eq!(kind_of(br#"{"status":"502","remote_addr":"::1"}"#), "json");
        assert_eq!(kind_of(b"2024/05/14 10:22:31 [error] 1#1: *1 boom"), "error");
        assert_eq!(kind_of(b"hello world\n"), "unknown");
        assert_eq!(kind_of(b"\x7fELF\x00\x00"), "unknown");
        let zero_filled = b"\x00\x00\x00\n2024/05/14 10:22:31 [error] 1#1: *1 boom\n2024/05/14 10:22:32 [error] 1#1: *2 boom";
        assert_eq!(kind_of(zero_filled), "error");
    }

    #[test]
    fn continuation_lines_count_with_their_record() {
        let mut log = b"2024/05/14 10:22:31 [error] 9#9: *1 FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Uncaught Exception: boom in /var/www/index.php:3\n".to_vec();
        for i in 0..70 {
            log.extend_from_slice(
                format!("PHP message: #{i} /var/www/vendor/lib.php({i}): call()\n").as_bytes(),
            );
        }
        log.extend_from_slice(b"2024/05/14 10:22:31 [error] 9#9: *1 upstream prematurely closed FastCGI stdout while reading response header from upstream\n");
        assert_eq!(kind_of(&log), "error");
    }

    #[test]
    fn an_access_log_after_one_error_line_stays_an_access_log() {
        let mut log = b"2024/05/14 10:22:31 [notice] 1#1: signal process started\n".to_vec();
        for _ in 0..10 {
            log.extend_from_slice(
                b"1.2.3.4 - - [14/May/2024:10:22:31 +0200] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n",
            );
        }
        assert_eq!(kind_of(&log), "combined");
    }
}
