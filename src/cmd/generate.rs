//! `ngx502 generate`: the man page and the shell completions, built from the same clap definitions
//! that parse the command line, so neither can drift from the flags the binary takes.

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use crate::cli::{Cli, GenerateArgs, GenerateKind};
use crate::exit::Exit;

/// Prints what `args` asks for on stdout.
pub fn run(args: GenerateArgs) -> anyhow::Result<Exit> {
    let text = match args.kind {
        GenerateKind::Man => man_page()?,
        GenerateKind::CompleteBash => completion(Shell::Bash),
        GenerateKind::CompleteZsh => completion(Shell::Zsh),
        GenerateKind::CompleteFish => completion(Shell::Fish),
        GenerateKind::CompletePowershell => completion(Shell::PowerShell),
    };
    super::write_output(None, &text)?;
    Ok(Exit::Ok)
}

/// The command line as clap sees it, with the names of subcommands filled in (`ngx502 report`).
fn command(help_subcommand: bool) -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(!help_subcommand);
    cmd.build();
    cmd
}

/// A shell's completion script for every subcommand, flag and enumerated value.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = command(true);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ngx502", &mut out);
    out
}

/// One man page for the whole tool: the overview and the list of subcommands, then a section per
/// subcommand with its synopsis and every option (one page, as `man ngx502` is what people type),
/// then exit status, environment and files.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = command(false);
    let man = Man::new(cmd.clone()).manual("ngx502 manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    page.extend_from_slice(DESCRIPTION.as_bytes());
    man.render_options_section(&mut page)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands() {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        page.extend_from_slice(
            format!(".TP\n\\fBngx502 {}\\fR\n{}\n", sub.get_name(), roff_text(&about)).as_bytes(),
        );
    }
    for sub in cmd.get_subcommands() {
        page.extend_from_slice(format!(".SH \"NGX502 {}\"\n", sub.get_name().to_uppercase()).as_bytes());
        let sub_man = Man::new(sub.clone());
        let mut part = Vec::new();
        sub_man.render_synopsis_section(&mut part)?;
        sub_man.render_description_section(&mut part)?;
        sub_man.render_options_section(&mut part)?;
        page.extend_from_slice(&demote_sections(&part));
    }
    page.extend_from_slice(TRAILER.as_bytes());
    man.render_version_section(&mut page)?;
    Ok(tidy(&page))
}

/// clap_mangen renders a subcommand as a page of its own; inside the one page its sections
/// (SYNOPSIS, OPTIONS) become subsections of the subcommand's section.
fn demote_sections(roff: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b".SH ") {
            Some(rest) => {
                out.extend_from_slice(b".SS ");
                out.extend_from_slice(rest);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Every piece clap_mangen renders starts with the same two lines defining the apostrophe
/// string; the page needs them once, at its top.
fn tidy(page: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut out = Vec::with_capacity(page.len());
    for line in page.split_inclusive(|&b| b == b'\n') {
        let preamble = line.starts_with(b".ie \\n(.g .ds Aq") || line.starts_with(b".el .ds Aq");
        if preamble && seen.contains(&line) {
            continue;
        }
        if preamble {
            seen.push(line);
        }
        out.extend_from_slice(line);
    }
    out
}

/// `text` as a roff text line: backslashes and hyphens escaped, no leading control character.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// What the tool is for, longer than the one line of `--help`.
const DESCRIPTION: &str = r#".SH DESCRIPTION
nginx writes the answer to a 502 or 504 in two files: the access log says which requests failed
and when, the error log says why.
\fBngx502\fR joins the two and names, for every client\-facing 502/504, the upstream that failed,
the cause, the evidence line and the fix: over a directory of rotated \fI.gz\fR archives, as a cron
report, or live while an incident is on.
.PP
Inputs are recognised by content, not name: an access log in any nginx \fBlog_format\fR, an error
log, gzip or zstd archives; \fB\-\fR reads stdin.
\fBngx502 explain\fR lists every cause with its fix.
"#;

/// What clap does not know: exit codes, the environment, the files read by default.
const TRAILER: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
The report was produced.
.TP
\fB2\fR
A usage or input error: a bad flag, a path that cannot be read, nothing that is an nginx log.
.TP
\fB3\fR
A \fB\-\-fail\-on\fR rule was breached (the report was still written).
.SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set to anything but the empty string, text output has no colour on a terminal either
(\fB\-\-color always\fR still colours).
.SH FILES
.TP
\fI/var/log/nginx/\fR
Read when no log is named.
.SH "SEE ALSO"
\fBnginx\fR(8), \fBcron\fR(8)
"#;
