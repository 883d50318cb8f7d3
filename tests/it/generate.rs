//! `ngx502 generate`: the man page and every shell's completion name every subcommand and every
//! flag of it (read from the clap definitions, so a new flag without them fails here), and bash
//! really completes with the generated script.

use std::process::Command;

use clap::CommandFactory;

/// `ngx502 generate KIND`'s stdout.
fn generate(kind: &str) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_ngx502")).args(["generate", kind]).output().expect("running ngx502");
    assert!(out.status.success(), "generate {kind}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A subcommand's flags: (long, short).
type Flags = Vec<(String, Option<char>)>;

/// Every subcommand with its flags, `--help` and `--version` included.
fn subcommands() -> Vec<(String, Flags)> {
    let mut cli = ngx502::cli::Cli::command();
    cli.build();
    cli.get_subcommands()
        .map(|sub| {
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_positional() && !a.is_hide_set())
                .map(|a| (a.get_long().expect("every flag has a long name").to_owned(), a.get_short()))
                .collect();
            (sub.get_name().to_owned(), flags)
        })
        .collect()
}

/// The words of `text` once roff font and hyphen escapes are gone.
fn words(text: &str) -> Vec<String> {
    let plain = text.replace("\\-", "-").replace("\\fB", " ").replace("\\fR", " ").replace("\\fI", " ");
    plain
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The part of `text` from `start`'s first occurrence to the next of any of `others` after it.
fn block<'a>(text: &'a str, start: &str, others: &[String]) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?} not found"));
    let rest = &text[from + start.len()..];
    let end = others.iter().filter_map(|o| rest.find(o.as_str())).min().unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn man_page_and_every_completion_name_every_subcommand_and_flag() {
    let subs = subcommands();
    let names: Vec<&str> = subs.iter().map(|(name, _)| name.as_str()).collect();
    for known in
        ["report", "export", "classify", "explain", "check-format", "live", "merge", "generate", "help"]
    {
        assert!(names.contains(&known), "{known} missing from {names:?}");
    }
    let man = generate("man");
    let bash = generate("complete-bash");
    let zsh = generate("complete-zsh");
    let fish = generate("complete-fish");
    let powershell = generate("complete-powershell");
    let man_marker = |sub: &str| format!(".SH \"NGX502 {}\"", sub.to_uppercase());
    let bash_marker = |sub: &str| format!("ngx502__subcmd__{})", sub.replace('-', "__subcmd__"));
    let zsh_marker = |sub: &str| format!("({sub})");
    let ps_marker = |sub: &str| format!("'ngx502;{sub}' {{");
    let markers = |f: &dyn Fn(&str) -> String| subs.iter().map(|(s, _)| f(s)).collect::<Vec<_>>();
    let (man_all, bash_all, zsh_all, ps_all) =
        (markers(&man_marker), markers(&bash_marker), markers(&zsh_marker), markers(&ps_marker));
    let mut checked = 0;
    for (sub, flags) in subs.iter().filter(|(name, _)| name != "help") {
        let man_words = words(block(&man, &man_marker(sub), &man_all));
        let bash_words = words(block(&bash, &bash_marker(sub), &bash_all));
        let zsh_words = words(block(&zsh, &zsh_marker(sub), &zsh_all));
        let ps_words = words(block(&powershell, &ps_marker(sub), &ps_all));
        let fish_lines: Vec<&str> =
            fish.lines().filter(|l| l.contains(&format!("__fish_ngx502_using_subcommand {sub}\""))).collect();
        assert!(man.contains(&format!("\\fBngx502 {sub}\\fR")), "man page lists {sub}");
        assert!(words(&bash).contains(sub) && words(&zsh).contains(sub), "bash/zsh complete {sub}");
        assert!(fish.contains(&format!("-a \"{sub}\"")) && powershell.contains(&format!("'{sub}'")));
        for (long, short) in flags {
            let long_flag = format!("--{long}");
            for (shell, found) in
                [("man", &man_words), ("bash", &bash_words), ("zsh", &zsh_words), ("powershell", &ps_words)]
            {
                assert!(found.contains(&long_flag), "{shell}: {sub} {long_flag} missing");
                if let Some(c) = short {
                    assert!(found.contains(&format!("-{c}")), "{shell}: {sub} -{c} missing");
                }
            }
            assert!(
                fish_lines.iter().any(|l| l.contains(&format!(" -l {long} "))),
                "fish: {sub} --{long} missing"
            );
            if let Some(c) = short {
                assert!(
                    fish_lines.iter().any(|l| l.contains(&format!(" -s {c} "))),
                    "fish: {sub} -{c} missing"
                );
            }
            checked += 1;
        }
    }
    // report alone has 18 flags (--help and --version included): the walk really visited them.
    assert!(checked > 60, "only {checked} flags checked");
}

#[test]
fn man_page_has_the_sections_a_reader_looks_for() {
    let man = generate("man");
    assert!(man.starts_with(".ie \\n(.g .ds Aq"), "roff preamble first");
    assert_eq!(man.matches(".ds Aq \\(aq").count(), 1, "preamble once");
    let sections: Vec<String> = man.lines().filter(|l| l.starts_with(".SH ")).map(str::to_owned).collect();
    let per_command = subcommands()
        .into_iter()
        .filter(|(name, _)| name != "help")
        .map(|(name, _)| format!(".SH \"NGX502 {}\"", name.to_uppercase()));
    let expected: Vec<String> =
        [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH COMMANDS"]
            .into_iter()
            .map(str::to_owned)
            .chain(per_command)
            .chain(
                [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES", ".SH \"SEE ALSO\"", ".SH VERSION"]
                    .map(str::to_owned),
            )
            .collect();
    assert_eq!(sections, expected);
    assert!(sections.contains(&".SH \"NGX502 CHECK-FORMAT\"".to_owned()));
    assert!(man.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))));
}

/// What bash offers for the words typed so far (the last one being completed), using the
/// generated script as bash-completion would.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = generate("complete-bash");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ngx502.bash");
    std::fs::write(&path, script).expect("write script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _ngx502 ngx502 '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = Command::new("bash").args(["--norc", "-c", &program]).output().expect("running bash");
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_flags_and_their_values() {
    assert_eq!(bash_complete(&["ngx502", "ex"]), ["export", "explain"]);
    assert_eq!(bash_complete(&["ngx502", "report", "--ou"]), ["--output", "--out"]);
    assert_eq!(
        bash_complete(&["ngx502", "report", "--output", ""]),
        ["text", "json", "html", "markdown", "prometheus"]
    );
    assert_eq!(
        bash_complete(&["ngx502", "generate", "complete-"]),
        ["complete-bash", "complete-zsh", "complete-fish", "complete-powershell"]
    );
    // live takes no batch flags (--state...), and bash offers none of them there.
    assert_eq!(bash_complete(&["ngx502", "live", "--st"]), ["--status"]);
    assert_eq!(bash_complete(&["ngx502", "report", "--st"]), ["--state", "--state-reset", "--status"]);
}
