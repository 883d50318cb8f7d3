//! `ngx502 check-conf nginx.conf`: the 502 risks a config shows before any request fails, each
//! at the `FILE:LINE` of the directive behind it, with the change that removes it. No logs needed;
//! `--fail-on any` makes it a CI lint for nginx configs.

use serde::Serialize;

use crate::cli::{CheckConfArgs, ClassifyOutput, FailOnRisk};
use crate::escape::sanitize_str;
use crate::exit::Exit;
use crate::nginx_conf::check::{check, Risk, Severity};
use crate::nginx_conf::route::Router;
use crate::nginx_conf::Problem;

/// Version of the JSON output; bumped on any incompatible change.
pub const SCHEMA: &str = "ngx502-check-conf/1";

pub fn run(args: CheckConfArgs) -> anyhow::Result<Exit> {
    let conf = crate::input::resolve::load_nginx_conf(&args.path)?;
    let risks = check(&conf);
    // Regexes ngx502 cannot evaluate make its location matching approximate: say so too.
    let unmatched = Router::new(&conf).problems;
    for problem in &unmatched {
        eprintln!("ngx502: warning: {}", sanitize_str(&problem.to_string()));
    }
    let problems = conf.problems.iter().chain(&unmatched);
    let out = match args.output {
        ClassifyOutput::Text => text(&risks),
        ClassifyOutput::Json => format!("{}\n", serde_json::to_string_pretty(&as_json(problems, &risks))?),
    };
    super::write_output(None, out.as_bytes())?;
    let fails = |r: &Risk| match args.fail_on {
        Some(FailOnRisk::Any) => true,
        Some(FailOnRisk::Warning) => r.severity == Severity::Warning,
        None => false,
    };
    Ok(if risks.iter().any(fails) { Exit::Alert } else { Exit::Ok })
}

fn text(risks: &[Risk]) -> String {
    let mut out = String::new();
    for r in risks {
        let severity = match r.severity {
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let mut lines = vec![format!("{}: {severity} [{}]: {}", r.at, r.check, r.directive)];
        lines.extend(r.context.as_ref().map(|c| format!("  in {c}")));
        lines.push(format!("  {}", r.message));
        lines.push(format!("  fix: {}", r.fix));
        if !r.causes.is_empty() {
            lines.push(format!("  leads to: {}", r.causes.join(", ")));
        }
        for line in lines {
            out.push_str(&sanitize_str(&line));
            out.push('\n');
        }
    }
    let warnings = risks.iter().filter(|r| r.severity == Severity::Warning).count();
    out.push_str(&match risks.len() {
        0 => "No 502 risk found.\n".to_owned(),
        n => format!("{n} risk(s): {warnings} warning(s), {} note(s).\n", n - warnings),
    });
    out
}

/// The JSON document: the risks, then what in the config could not be read.
#[derive(Serialize)]
struct Output<'a> {
    schema: &'static str,
    risks: &'a [Risk],
    problems: Vec<ProblemRow>,
}

#[derive(Serialize)]
struct ProblemRow {
    file: String,
    line: usize,
    message: String,
}

fn as_json<'a, 'p>(problems: impl Iterator<Item = &'p Problem>, risks: &'a [Risk]) -> Output<'a> {
    let problems = problems
        .map(|p| ProblemRow {
            file: p.file.to_string_lossy().into_owned(),
            line: p.line,
            message: p.message.clone(),
        })
        .collect();
    Output { schema: SCHEMA, risks, problems }
}
