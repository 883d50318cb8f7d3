//! Colour for the text a person reads on a terminal: cause names, 5xx statuses, section headings
//! and incidents.
//!
//! Colour is laid on the finished text, so the renderers and their column alignment know nothing
//! of it (an escape added before padding would shift every column). Log text reaching this point
//! has had its control bytes neutralised (`escape.rs`), so the only escapes are the ones added
//! here. Files and pipes never get colour unless asked with `--color always`; `NO_COLOR`
//! (<https://no-color.org>) turns it off on a terminal.

use std::io::IsTerminal;

use crate::errorlog::Cause;

/// `--color`: when text output is coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Also into pipes (e.g. for `less -R`); never into a file written with -o.
    Always,
    /// Never.
    Never,
}

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CAUSE: &str = "\x1b[1;36m";
/// Bold off: keeps the colour of the line around it.
const BOLD_OFF: &str = "\x1b[22m";
const CAUSE_OFF: &str = "\x1b[22;39m";
const RESET: &str = "\x1b[0m";

impl ColorChoice {
    /// Whether text written to stdout (`to_stdout`) or to a file gets colour.
    pub fn paints(self, to_stdout: bool) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        self.decide(to_stdout, std::io::stdout().is_terminal(), no_color)
    }

    fn decide(self, to_stdout: bool, terminal: bool, no_color: bool) -> bool {
        match self {
            ColorChoice::Never => false,
            ColorChoice::Always => to_stdout,
            ColorChoice::Auto => to_stdout && terminal && !no_color,
        }
    }
}

/// A rendered report as it is written: painted when it is text for stdout and colour is on.
pub fn rendered(
    text: String,
    format: crate::report::OutputFormat,
    choice: ColorChoice,
    to_stdout: bool,
) -> String {
    if format == crate::report::OutputFormat::Text && choice.paints(to_stdout) {
        paint(&text)
    } else {
        text
    }
}

/// `text` (a text report, fleet report or explanation) with colour: the headline bold, failure
/// statuses (`502: 126`) red, headings bold, the incident rows yellow under a red heading, and
/// every cause name bold cyan.
pub fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut in_incidents = false;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let indented = body.starts_with(' ');
        if body.is_empty() {
            in_incidents = false;
            out.push_str(line);
            continue;
        }
        if n == 0 || !indented {
            in_incidents = body.starts_with("Incidents");
            let colour = if in_incidents { RED } else { "" };
            out.push_str(&format!("{BOLD}{colour}{}{RESET}{newline}", causes(body, BOLD, BOLD_OFF)));
        } else if in_incidents {
            out.push_str(&format!("{YELLOW}{}{RESET}{newline}", causes(body, BOLD, BOLD_OFF)));
        } else if n == 1 && is_status_line(body) {
            out.push_str(&statuses(body));
            out.push_str(newline);
        } else {
            out.push_str(&causes(body, CAUSE, CAUSE_OFF));
            out.push_str(newline);
        }
    }
    out
}

/// The headline's second line: `  009: 12  502: 126  504: 18`.
fn is_status_line(body: &str) -> bool {
    body.split_whitespace().all(|w| {
        let digits = w.strip_suffix(':').unwrap_or(w);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A status line with each `STATUS: COUNT` pair red.
fn statuses(body: &str) -> String {
    let indent = body.len() - body.trim_start().len();
    let words: Vec<&str> = body.split_whitespace().collect();
    let pairs: Vec<String> = words.chunks(2).map(|pair| format!("{RED}{}{RESET}", pair.join(" "))).collect();
    format!("{}{}", &body[..indent], pairs.join("  "))
}

/// `body` with every whole-word cause slug between `on` and `off`.
fn causes(body: &str, on: &str, off: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let word_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if word_len == 0 {
            let c = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..c]);
            rest = &rest[c..];
            continue;
        }
        let word = &rest[..word_len];
        if Cause::ALL.iter().any(|c| c.slug() == word) {
            out.push_str(on);
            out.push_str(word);
            out.push_str(off);
        } else {
            out.push_str(word);
        }
        rest = &rest[word_len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice() {
        use ColorChoice::*;
        assert!(Auto.decide(true, true, false));
        assert!(!Auto.decide(true, false, false), "pipe");
        assert!(!Auto.decide(true, true, true), "NO_COLOR");
        assert!(!Auto.decide(false, true, false), "file");
        assert!(Always.decide(true, false, true));
        assert!(!Always.decide(false, true, false), "never into a file");
        assert!(!Never.decide(true, true, false));
    }

    #[test]
    fn paints_headline_statuses_causes_and_incidents() {
        let text = "10 requests: 3 failed\n  502: 2  504: 1\n\nCauses\n  read_timeout_x read_timeout 2\n\nIncidents (x)\n  start  read_timeout\n\nInputs\n  a.log\n";
        let painted = paint(text);
        assert_eq!(
            painted,
            "\x1b[1m10 requests: 3 failed\x1b[0m\n  \x1b[31m502: 2\x1b[0m  \x1b[31m504: 1\x1b[0m\n\n\x1b[1mCauses\x1b[0m\n  read_timeout_x \x1b[1;36mread_timeout\x1b[22;39m 2\n\n\x1b[1m\x1b[31mIncidents (x)\x1b[0m\n\x1b[33m  start  \x1b[1mread_timeout\x1b[22m\x1b[0m\n\n\x1b[1mInputs\x1b[0m\n  a.log\n"
        );
        assert_eq!(paint("no newline"), "\x1b[1mno newline\x1b[0m");
        assert_eq!(
            paint("héllo\n  ünïcode connect_refused"),
            "\x1b[1mhéllo\x1b[0m\n  ünïcode \x1b[1;36mconnect_refused\x1b[22;39m"
        );
    }
}
