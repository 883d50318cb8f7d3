//! Expanding the paths a user gave into inputs.

use std::fmt;
use std::path::{Path, PathBuf};

use super::sniff::Kind;
use crate::access::AccessFormat;

/// Where an input's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    File(PathBuf),
    Stdin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Stdin => f.write_str("-"),
        }
    }
}

/// One input to read, with the kind the user forced (`--access`/`--error`), if any.
#[derive(Clone, Debug)]
pub struct InputSpec {
    pub origin: Origin,
    pub forced: Option<Kind>,
    /// The access format this input is written in, when known (from nginx.conf's `access_log`);
    /// `None` detects it among the candidates.
    pub format: Option<AccessFormat>,
    /// Found by walking a directory (rather than named): not-a-log files are skipped quietly.
    pub from_walk: bool,
    /// Where reading starts: what an earlier run already read (`--state`).
    pub resume: Resume,
    /// The pod or container a platform's log path names (see [`crate::stream::place`]).
    pub source: Option<String>,
}

/// The start of an input that an earlier run already read: reading resumes after `bytes`
/// (decompressed, for gzip), and line numbers continue after `lines`, so they stay those of
/// the whole log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub bytes: u64,
    pub lines: u64,
}

/// A path that could not be expanded, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct WalkError {
    pub path: PathBuf,
    pub reason: String,
}

/// Expands files, directories (recursively, sorted, hidden files skipped) and `-` into inputs.
/// Errors for paths that do not exist or cannot be listed are returned beside the inputs found,
/// so one bad path does not stop the others.
pub fn expand(paths: &[PathBuf], forced: Option<Kind>) -> (Vec<InputSpec>, Vec<WalkError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(InputSpec {
                origin: Origin::Stdin,
                forced,
                from_walk: false,
                format: None,
                resume: Resume::default(),
                source: None,
            });
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, forced, &mut inputs, &mut errors),
            Ok(_) => inputs.push(InputSpec {
                origin: Origin::File(path.clone()),
                forced,
                from_walk: false,
                format: None,
                resume: Resume::default(),
                source: crate::stream::place::source_of(path),
            }),
            Err(e) => errors.push(WalkError { path: path.clone(), reason: describe_io(&e) }),
        }
    }
    (inputs, errors)
}

fn walk_dir(dir: &Path, forced: Option<Kind>, inputs: &mut Vec<InputSpec>, errors: &mut Vec<WalkError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(WalkError { path: dir.to_path_buf(), reason: describe_io(&e) });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        // Hidden files, and kubelet's `.tmp` copies of a rotation being compressed.
        .filter(|p| {
            !p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with('.') || n.to_string_lossy().ends_with(".tmp")
            })
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk_dir(&path, forced, inputs, errors);
        } else if path.is_file() {
            inputs.push(InputSpec {
                source: crate::stream::place::source_of(&path),
                origin: Origin::File(path),
                forced,
                from_walk: true,
                format: None,
                resume: Resume::default(),
            });
        }
    }
}

/// An I/O error in words a user can act on.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (run as a user that can read the logs, e.g. with sudo or in the adm group)"
                .into()
        }
        _ => e.to_string(),
    }
}
