//! The whole configuration as one tree, with every `include` replaced by the directives of the
//! files it names, as nginx reads it. Each directive keeps the file it is written in and its line,
//! so whatever ngx502 says about a directive can point at `FILE:LINE` through includes and globs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::syntax::{self, Directive};
use super::{glob, path_from_bytes, Problem};
use crate::input::walk::describe_io;

/// Includes nested deeper than this are taken for a loop (nginx itself would fail on one).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Where a directive is written: the file (as reached from the main config) and its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Serialized as `{"file": ..., "line": ...}`, the file as text.
impl serde::Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Source", 2)?;
        s.serialize_field("file", &self.file.to_string_lossy())?;
        s.serialize_field("line", &self.line)?;
        s.end()
    }
}

/// One directive of the spliced tree: no `include` is left in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    pub at: Source,
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// Whether this directive is called `name`.
    pub fn is(&self, name: &str) -> bool {
        self.name == name.as_bytes()
    }

    /// The directives of its block (none for a simple directive).
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or_default()
    }

    /// The argument at `i`, as text (lossy: config words are ASCII in practice).
    pub fn arg(&self, i: usize) -> Option<String> {
        self.args.get(i).map(|a| crate::escape::lossless(a))
    }

    /// The arguments joined by spaces, as written (after unquoting).
    pub fn value(&self) -> String {
        self.args.iter().map(|a| crate::escape::lossless(a)).collect::<Vec<_>>().join(" ")
    }
}

/// Reads `path` (whose text is `text`) and every file it includes, into one tree. Include patterns
/// are relative to `conf_dir`. What cannot be read is a [`Problem`] and left out.
pub fn read(path: &Path, text: &[u8], conf_dir: &Path) -> (Vec<Node>, Vec<Problem>) {
    let mut reader = Reader { conf_dir, reading: Vec::new(), problems: Vec::new() };
    let nodes = reader.file(path, text);
    (nodes, reader.problems)
}

struct Reader<'a> {
    conf_dir: &'a Path,
    /// Canonical paths of the files being read, outermost first: including one again is a loop.
    reading: Vec<PathBuf>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, at: &Source, message: String) {
        self.problems.push(Problem { file: at.file.to_path_buf(), line: at.line, message });
    }

    fn file(&mut self, path: &Path, text: &[u8]) -> Vec<Node> {
        match syntax::parse(text) {
            Ok(tree) => {
                self.reading.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
                let file: Arc<Path> = Arc::from(path);
                let nodes = self.splice(&file, tree);
                self.reading.pop();
                nodes
            }
            Err(e) => {
                let at = Source { file: Arc::from(path), line: e.line };
                self.problem(&at, format!("{}; nothing in this file is used", e.message));
                Vec::new()
            }
        }
    }

    fn splice(&mut self, file: &Arc<Path>, directives: Vec<Directive>) -> Vec<Node> {
        let mut out = Vec::with_capacity(directives.len());
        for d in directives {
            let at = Source { file: Arc::clone(file), line: d.line };
            if d.name == b"include" && d.block.is_none() {
                out.extend(self.include(&at, &d.args));
                continue;
            }
            let block = d.block.map(|b| self.splice(file, b));
            out.push(Node { name: d.name, args: d.args, at, block });
        }
        out
    }

    fn include(&mut self, at: &Source, args: &[Vec<u8>]) -> Vec<Node> {
        let [pattern] = args else {
            self.problem(at, "include takes exactly one file or pattern".into());
            return Vec::new();
        };
        let pattern = self.conf_dir.join(path_from_bytes(pattern));
        let files = match glob::expand(&pattern) {
            Ok(files) => files,
            Err(e) => {
                self.problem(at, format!("include {}: {}", pattern.display(), describe_io(&e)));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for path in files {
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let why_not = if self.reading.contains(&canonical) {
                Some("loops back to a file being read".to_string())
            } else if self.reading.len() >= MAX_INCLUDE_DEPTH {
                Some(format!("nests includes more than {MAX_INCLUDE_DEPTH} deep"))
            } else {
                None
            };
            if let Some(why) = why_not {
                self.problem(at, format!("include {} {why}", path.display()));
                continue;
            }
            match std::fs::read(&path) {
                Ok(text) => out.extend(self.file(&path, &text)),
                Err(e) => self.problem(
                    at,
                    format!("cannot read included file {}: {}", path.display(), describe_io(&e)),
                ),
            }
        }
        out
    }
}
