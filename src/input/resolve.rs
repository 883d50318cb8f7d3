//! Which logs to read and in which formats: the paths given (or the default directory), the
//! logs and `log_format`s an nginx.conf names, the formats `--log-format`/`--log-format-name` pick.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::sniff::builtin_candidates;
use super::sniff::Kind;
use super::walk::{describe_io, expand, InputSpec, WalkError};
use crate::access::format::Escape;
use crate::access::{AccessFormat, LogFormat};
use crate::escape::sanitize_str;
use crate::nginx_conf::NginxConf;

/// The directory read when no log is named.
pub const DEFAULT_DIR: &str = "/var/log/nginx/";

/// The access formats to try, from `--log-format` / `--log-format-name` or all built-ins.
pub fn access_formats(log_format: Option<&str>, name: Option<&str>) -> anyhow::Result<Vec<AccessFormat>> {
    if let Some(template) = log_format {
        let escape = if template.trim_start().starts_with('{') { Escape::Json } else { Escape::Default };
        let format = LogFormat::compile("custom", template, escape)
            .with_context(|| format!("--log-format {template:?} is not a usable nginx log_format"))?;
        return Ok(vec![AccessFormat::from_log_format(format)]);
    }
    match name {
        None => Ok(builtin_candidates()),
        Some("json") => Ok(vec![AccessFormat::json_by_names()]),
        Some(n) => match LogFormat::preset(n) {
            Some(f) => Ok(vec![AccessFormat::Template(f)]),
            None => bail!(
                "unknown --log-format-name {n:?}: use one of {}, json (`ngx502 check-format --list` shows them), or pass the format itself with --log-format",
                crate::access::presets::names()
            ),
        },
    }
}

/// What a batch run reads: its inputs, the access formats to try on them, and the nginx.conf that
/// named them (with `--nginx-conf`).
pub struct Resolved {
    pub specs: Vec<InputSpec>,
    pub formats: Vec<AccessFormat>,
    pub conf: Option<NginxConf>,
}

/// Resolves a batch run's inputs: `paths` (or the logs `nginx_conf` names in place of the default
/// directory) and the `--access`/`--error` files, read in the formats `--log-format` or
/// `--log-format-name` pick (or the conf's, or the built-ins).
pub fn resolve(
    paths: &[PathBuf],
    access: &[PathBuf],
    error: &[PathBuf],
    nginx_conf: Option<&Path>,
    log_format: Option<&str>,
    log_format_name: Option<&str>,
) -> anyhow::Result<Resolved> {
    let conf = nginx_conf.map(load_nginx_conf).transpose()?;
    let formats = match &conf {
        Some(conf) => conf_formats(conf, log_format, log_format_name)?,
        None => access_formats(log_format, log_format_name)?,
    };
    let user_format = log_format.is_some() || log_format_name.is_some();
    let specs = logs(paths, access, error, conf.as_ref(), user_format)?;
    Ok(Resolved { specs, formats, conf })
}

/// Reads `--nginx-conf`, warning about whatever in it could not be used: what could not be
/// read, and locations whose regex cannot be evaluated (requests are never routed to them, so
/// their directives are never cited).
pub fn load_nginx_conf(path: &Path) -> anyhow::Result<NginxConf> {
    let conf = NginxConf::load(path)
        .map_err(|e| anyhow::anyhow!("cannot read --nginx-conf {}: {}", path.display(), describe_io(&e)))?;
    let unrouted = crate::nginx_conf::route::Router::new(&conf).problems;
    for problem in conf.problems.iter().chain(&unrouted) {
        eprintln!("ngx502: warning: {}", sanitize_str(&problem.to_string()));
    }
    Ok(conf)
}

/// The access formats to try with an nginx.conf: `--log-format` as given; `--log-format-name` as
/// one of the conf's formats, else a built-in; without either, the conf's formats first (a log is
/// more likely written in one of them), then the built-ins the conf does not redefine.
pub fn conf_formats(
    conf: &NginxConf,
    log_format: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<Vec<AccessFormat>> {
    let from_conf = |f: &LogFormat| AccessFormat::from_log_format(f.clone());
    match (log_format, name) {
        (Some(_), _) => access_formats(log_format, None),
        (None, Some(n)) => match conf.format(n) {
            Some(f) => Ok(vec![from_conf(f)]),
            None => access_formats(None, Some(n)).map_err(|_| {
                let defined: Vec<&str> = conf.log_formats.iter().map(|f| f.name.as_str()).collect();
                let builtin: Vec<String> = builtin_candidates().iter().map(|f| f.name().to_owned()).collect();
                anyhow::anyhow!(
                    "unknown --log-format-name {n:?}: the formats in --nginx-conf are {}; built in: {}",
                    defined.join(", "),
                    builtin.join(", ")
                )
            }),
        },
        (None, None) => {
            let mut formats: Vec<AccessFormat> = conf.log_formats.iter().map(from_conf).collect();
            formats.extend(builtin_candidates().into_iter().filter(|f| conf.format(f.name()).is_none()));
            Ok(formats)
        }
    }
}

/// The logs an nginx.conf names: each access log read in its own `log_format` (unless the user
/// named the format, which then applies to all), each error log as an error log.
fn conf_inputs(conf: &NginxConf, user_format: bool) -> anyhow::Result<(Vec<InputSpec>, Vec<WalkError>)> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for log in &conf.access_logs {
        let (found, missing) = expand(std::slice::from_ref(&log.path), Some(Kind::Access));
        let format = conf.format(&log.format).filter(|_| !user_format);
        specs.extend(found.into_iter().map(|spec| InputSpec {
            format: format.map(|f| AccessFormat::from_log_format(f.clone())),
            ..spec
        }));
        errors.extend(missing);
    }
    let (found, missing) = expand(&conf.error_logs, Some(Kind::Error));
    specs.extend(found);
    errors.extend(missing);
    if specs.is_empty() {
        let why = if errors.is_empty() {
            "it names no access_log or error_log file".to_string()
        } else {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        };
        bail!("nothing to read from --nginx-conf: {why}; pass the logs to read");
    }
    Ok((specs, errors))
}

/// The inputs to read: `given` paths (files, directories, `-`), or, when only the default
/// directory stands there, the logs `conf` names (if any); plus `--access`/`--error` files
/// forced to their kind. Warns about what could not be read; fails when nothing can be.
pub fn logs(
    given: &[PathBuf],
    access: &[PathBuf],
    error: &[PathBuf],
    conf: Option<&NginxConf>,
    user_format: bool,
) -> anyhow::Result<Vec<InputSpec>> {
    // The default directory stands in only when no log was named at all, neither as a path
    // nor with --access/--error.
    let default_paths = given.len() == 1 && given[0] == Path::new(DEFAULT_DIR);
    let forced_only = default_paths && !(access.is_empty() && error.is_empty());
    let named_default = default_paths && !forced_only;
    let paths: &[PathBuf] = if forced_only { &[] } else { given };
    let (mut specs, walk_errors) = match conf {
        Some(conf) if named_default => conf_inputs(conf, user_format)?,
        _ => expand(paths, None),
    };
    let (access, access_errors) = expand(access, Some(Kind::Access));
    let (error, error_errors) = expand(error, Some(Kind::Error));
    specs.extend(access);
    specs.extend(error);
    let problems: Vec<String> =
        walk_errors.iter().chain(&access_errors).chain(&error_errors).map(ToString::to_string).collect();
    if named_default && specs.is_empty() {
        bail!("/var/log/nginx/ cannot be read ({}); pass the logs to read: ngx502 report /path/to/logs/ (or - for stdin)", problems.join("; "));
    }
    if specs.is_empty() {
        bail!(
            "nothing to read: {}",
            if problems.is_empty() {
                "the directories hold no files".to_string()
            } else {
                problems.join("; ")
            }
        );
    }
    for p in &problems {
        eprintln!("ngx502: warning: {}", sanitize_str(p));
    }
    Ok(specs)
}
