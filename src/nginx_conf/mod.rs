//! What an nginx.conf tells ngx502: the `log_format`s its access logs are written in, the
//! `access_log` and `error_log` files, and the `upstream` blocks its servers belong to. With it,
//! `report --nginx-conf /etc/nginx/nginx.conf` alone finds and reads the logs, each in its format.
//! The whole config is kept as one tree ([`tree`]) whose directives know their `FILE:LINE`;
//! [`route`] picks the `server` and `location` a request went through and [`scope`] says what
//! applied there, so a failure can be set against the directive behind it.
//!
//! Files are read the way nginx reads them: `include` patterns are relative to the main config's
//! directory (not the including file's) and expanded with `*`/`?` in sorted order; `log_format`
//! pieces are joined. Nothing is fatal except an unreadable main config: every other problem (an
//! unreadable include, a syntax error, a format ngx502 cannot use, a log that is not a file) is
//! recorded with its `file:line` and the rest is still used.
//!
//! Relative log paths are relative to nginx's prefix, which the config does not say: it is taken
//! to be the parent of a `conf/` directory (nginx's own layout, `PREFIX/conf/nginx.conf`), else
//! the config's directory (`/etc/nginx` in the official Docker image).

pub mod check;
mod glob;
pub mod route;
pub mod scope;
mod syntax;
pub mod tree;
pub mod units;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::access::format::{Escape, LogFormat, COMBINED};
use crate::escape::lossless;
pub use tree::{Node, Source};

/// Error-log levels above `error`: upstream failures are logged at `error`, so they are dropped.
const TOO_QUIET: [&[u8]; 3] = [b"crit", b"alert", b"emerg"];

/// Everything ngx502 uses from one nginx.conf and the files it includes.
#[derive(Clone, Debug, Default)]
pub struct NginxConf {
    /// nginx's predefined `combined`, then each usable `log_format` in the order nginx reads them.
    pub log_formats: Vec<LogFormat>,
    /// Each file written by `access_log`, once, with the format it is written in.
    pub access_logs: Vec<AccessLog>,
    /// Each file written by `error_log`, once.
    pub error_logs: Vec<PathBuf>,
    /// The HTTP `upstream` blocks, so failures can be grouped by the block a server belongs to.
    pub upstreams: Vec<Upstream>,
    /// What could not be used, and logs that are not files (syslog, variables in the name...).
    pub problems: Vec<Problem>,
    /// Every directive, includes spliced in, each with its `FILE:LINE`.
    pub tree: Vec<Node>,
}

/// An `access_log` file and the name of its `log_format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLog {
    pub path: PathBuf,
    pub format: String,
}

/// An `upstream NAME { server ADDR; ... }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    /// Where the block opens.
    pub at: Source,
    pub servers: Vec<UpstreamServer>,
}

/// A `server ADDR [PARAMS];` line of an `upstream` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The address as written (`10.0.0.1:8080`, `unix:/run/app.sock`, `app.internal`).
    pub addr: String,
    /// `max_fails=1`, `fail_timeout=10s`, `backup`, `weight=2`...
    pub params: Vec<String>,
    pub at: Source,
}

impl UpstreamServer {
    /// The value of `NAME=VALUE` among the parameters.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether the bare flag `name` (`backup`, `down`) is set.
    pub fn flag(&self, name: &str) -> bool {
        self.params.iter().any(|p| p == name)
    }
}

/// Something in the config ngx502 could not use, at `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl NginxConf {
    /// Reads `path` and everything it includes. Fails only when `path` itself cannot be read.
    pub fn load(path: &Path) -> std::io::Result<NginxConf> {
        let text = std::fs::read(path)?;
        let conf_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let prefix = match conf_dir.file_name() {
            Some(name) if name == "conf" => conf_dir.parent().unwrap_or(&conf_dir).to_path_buf(),
            _ => conf_dir.clone(),
        };
        let (tree, problems) = tree::read(path, &text, &conf_dir);
        let mut loader = Loader {
            prefix,
            conf: NginxConf { problems, ..NginxConf::default() },
            format_uses: Vec::new(),
            unusable_formats: Vec::new(),
        };
        if let Ok(combined) = LogFormat::compile("combined", COMBINED, Escape::Default) {
            loader.conf.log_formats.push(combined);
        }
        loader.walk(&tree, Context::Http);
        loader.check_format_uses();
        loader.conf.tree = tree;
        Ok(loader.conf)
    }

    /// The `log_format` called `name` (`combined` included).
    pub fn format(&self, name: &str) -> Option<&LogFormat> {
        self.log_formats.iter().find(|f| f.name == name)
    }

    /// The `upstream NAME {}` block of `http`, as written (for `keepalive` and the like).
    pub fn upstream_block(&self, name: &str) -> Option<&Node> {
        let http = self.tree.iter().find(|n| n.is("http"))?;
        http.children().iter().find(|n| n.is("upstream") && n.arg(0).as_deref() == Some(name))
    }

    /// The `upstream` block an `$upstream_addr` entry belongs to (see [`block_of`]).
    pub fn upstream_of(&self, addr: &[u8]) -> Option<&str> {
        block_of(&self.upstreams, addr)
    }
}

/// The block an `$upstream_addr` entry belongs to: the first block listing it as written, or
/// written without a port (nginx then uses `:80`), or the block's own name (what nginx logs when
/// it tried no server of the block, as with "no live upstreams"). Servers written as host names
/// are not resolved, so the addresses they resolve to are not found.
pub fn block_of<'u>(upstreams: &'u [Upstream], addr: &[u8]) -> Option<&'u str> {
    upstreams
        .iter()
        .find(|u| u.name.as_bytes() == addr || u.servers.iter().any(|s| same_server(s.addr.as_bytes(), addr)))
        .map(|u| u.name.as_str())
}

fn same_server(server: &[u8], addr: &[u8]) -> bool {
    server == addr || (!has_port(server) && addr.strip_suffix(b":80") == Some(server))
}

fn has_port(server: &[u8]) -> bool {
    server.starts_with(b"unix:")
        || server.iter().rposition(|&b| b == b':').is_some_and(|i| {
            let port = &server[i + 1..];
            !port.is_empty() && port.iter().all(u8::is_ascii_digit)
        })
}

/// Where a directive sits, as far as ngx502 cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// The main level and `http`, `server`, `location`... blocks.
    Http,
    /// Directly inside `upstream NAME { }` (the index of the block in `upstreams`).
    Upstream(usize),
    /// `stream` and `mail`: their formats, access logs and upstreams are not HTTP's.
    Other,
}

struct Loader {
    prefix: PathBuf,
    conf: NginxConf,
    /// Each `access_log`'s format name and location, checked once every `log_format` is known
    /// (lenient: nginx wants the `log_format` first, but the order is not what matters here).
    format_uses: Vec<(String, Source)>,
    /// `log_format`s that exist but could not be compiled (already reported).
    unusable_formats: Vec<String>,
}

impl Loader {
    fn problem(&mut self, at: &Source, message: String) {
        self.conf.problems.push(Problem { file: at.file.to_path_buf(), line: at.line, message });
    }

    fn walk(&mut self, nodes: &[Node], context: Context) {
        for d in nodes {
            match (d.name.as_slice(), context) {
                (b"error_log", _) => self.error_log(d),
                (_, Context::Other) => {}
                (b"log_format", _) => self.log_format(d),
                (b"access_log", _) => self.access_log(d),
                (b"server", Context::Upstream(i)) if d.block.is_none() => match d.args.split_first() {
                    Some((addr, params)) => {
                        if let Some(upstream) = self.conf.upstreams.get_mut(i) {
                            upstream.servers.push(UpstreamServer {
                                addr: lossless(addr),
                                params: params.iter().map(|p| lossless(p)).collect(),
                                at: d.at.clone(),
                            });
                        }
                    }
                    None => self.problem(&d.at, "server without an address".into()),
                },
                _ => {}
            }
            let Some(block) = &d.block else { continue };
            let inner = match (d.name.as_slice(), context) {
                (_, Context::Other) | (b"stream" | b"mail", _) => Context::Other,
                (b"upstream", _) => match d.args.first() {
                    Some(name) => {
                        self.conf.upstreams.push(Upstream {
                            name: lossless(name),
                            at: d.at.clone(),
                            servers: Vec::new(),
                        });
                        Context::Upstream(self.conf.upstreams.len() - 1)
                    }
                    None => {
                        self.problem(&d.at, "upstream block without a name".into());
                        Context::Http
                    }
                },
                _ => Context::Http,
            };
            self.walk(block, inner);
        }
    }

    fn log_format(&mut self, d: &Node) {
        let Some((name, rest)) = d.args.split_first() else {
            return self.problem(&d.at, "log_format without a name".into());
        };
        let name = lossless(name);
        let (escape, pieces) = match rest.split_first() {
            Some((first, pieces)) if first.starts_with(b"escape=") => match &first[b"escape=".len()..] {
                b"default" => (Escape::Default, pieces),
                b"json" => (Escape::Json, pieces),
                b"none" => (Escape::None, pieces),
                other => {
                    let message = format!(
                        "log_format {name}: unknown escape={} (nginx knows default, json and none)",
                        lossless(other)
                    );
                    return self.problem(&d.at, message);
                }
            },
            _ => (Escape::Default, rest),
        };
        if self.conf.format(&name).is_some() || self.unusable_formats.contains(&name) {
            let message =
                format!("duplicate log_format name {name:?} (nginx refuses this); the first one is used");
            return self.problem(&d.at, message);
        }
        let compiled = if pieces.is_empty() {
            Err(format!("log_format {name} has no format string"))
        } else {
            match String::from_utf8(pieces.concat()) {
                Ok(template) => LogFormat::compile(&name, &template, escape)
                    .map_err(|e| format!("log_format {name} cannot be used: {e}")),
                Err(_) => Err(format!("log_format {name} is not valid UTF-8")),
            }
        };
        match compiled {
            Ok(format) => self.conf.log_formats.push(format),
            Err(message) => {
                self.unusable_formats.push(name);
                self.problem(&d.at, message);
            }
        }
    }

    fn access_log(&mut self, d: &Node) {
        let Some(raw) = d.args.first() else {
            return self.problem(&d.at, "access_log without a path".into());
        };
        if raw.as_slice() == b"off" {
            return;
        }
        let Some(path) = self.log_path(&d.at, "access_log", raw) else { return };
        let format = d.args.get(1).map_or_else(|| "combined".to_string(), |f| lossless(f));
        self.format_uses.push((format.clone(), d.at.clone()));
        match self.conf.access_logs.iter().find(|l| l.path == path) {
            Some(first) if first.format != format => {
                let message = format!(
                    "access_log {} {format:?} writes a file also written with log_format {:?}, so it mixes two formats; it is read as {:?}",
                    path.display(),
                    first.format,
                    first.format
                );
                self.problem(&d.at, message);
            }
            Some(_) => {}
            None => self.conf.access_logs.push(AccessLog { path, format }),
        }
    }

    fn error_log(&mut self, d: &Node) {
        let Some(raw) = d.args.first() else {
            return self.problem(&d.at, "error_log without a path".into());
        };
        let Some(path) = self.log_path(&d.at, "error_log", raw) else { return };
        if let Some(level) = d.args.get(1).filter(|l| TOO_QUIET.contains(&l.as_slice())) {
            let message = format!(
                "error_log {} {}: upstream failures are logged at level error, so this log leaves them out; lower the level to error",
                path.display(),
                lossless(level)
            );
            self.problem(&d.at, message);
        }
        if !self.conf.error_logs.contains(&path) {
            self.conf.error_logs.push(path);
        }
    }

    /// The file a log directive writes, or `None` (with a note) when it does not write a file
    /// ngx502 can read.
    fn log_path(&mut self, at: &Source, directive: &str, raw: &[u8]) -> Option<PathBuf> {
        let why_not = if raw.starts_with(b"syslog:") {
            Some("logs to syslog, not to a file")
        } else if raw.starts_with(b"memory:") {
            Some("logs to a memory buffer, not to a file")
        } else if raw == b"stderr" {
            Some("logs to nginx's stderr, not to a file")
        } else if raw.contains(&b'$') {
            Some("the file name has variables (one file per value); pass those files themselves")
        } else if raw.starts_with(b"/dev/") || raw.starts_with(b"/proc/") {
            Some("writes to a device, not to a file (in a container, pass the captured output as -)")
        } else {
            None
        };
        match why_not {
            Some(why) => {
                self.problem(at, format!("{directive} {}: {why}; not read", lossless(raw)));
                None
            }
            None => Some(self.prefix.join(path_from_bytes(raw))),
        }
    }

    fn check_format_uses(&mut self) {
        for (name, at) in std::mem::take(&mut self.format_uses) {
            if self.conf.format(&name).is_some() {
                continue;
            }
            let why = if self.unusable_formats.contains(&name) {
                "cannot be used (see above)"
            } else {
                "is not defined"
            };
            let message = format!(
                "access_log uses log_format {name:?}, which {why}; its format is detected from its lines"
            );
            self.problem(&at, message);
        }
    }
}

/// A path from config bytes; exact on Unix, where paths are bytes.
#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// A path from config bytes; invalid UTF-8 is replaced where paths are not bytes.
#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (relative path, text) under a new temp dir; returns it.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap_or(dir.path())).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    }

    fn load(dir: &Path, main: &str) -> NginxConf {
        NginxConf::load(&dir.join(main)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Problems with the temp dir cut off, so they can be compared exactly.
    fn problems(conf: &NginxConf, dir: &Path) -> Vec<String> {
        let prefix = format!("{}/", dir.display());
        conf.problems.iter().map(|p| p.to_string().replace(&prefix, "")).collect()
    }

    fn access(conf: &NginxConf, dir: &Path) -> Vec<(String, String)> {
        conf.access_logs
            .iter()
            .map(|l| (l.path.strip_prefix(dir).unwrap_or(&l.path).display().to_string(), l.format.clone()))
            .collect()
    }

    fn template<'a>(conf: &'a NginxConf, name: &str) -> (&'a str, Escape) {
        conf.format(name).map_or_else(|| panic!("no format {name}"), |f| (f.template.as_str(), f.escape))
    }

    #[test]
    fn multi_line_log_format_pieces_are_joined_with_escapes_undone() {
        let dir = tree(&[(
            "nginx.conf",
            "http {\n  log_format up '$remote_addr [$time_local] '\n     \"\\\"$request\\\" $status \"  # comment\n    'ua=\"$upstream_addr\"\\t$upstream_status';\n  log_format js escape=json '{\"s\":\"$status\"}';\n}\n",
        )]);
        let conf = load(dir.path(), "nginx.conf");
        assert_eq!(
            template(&conf, "up"),
            (
                "$remote_addr [$time_local] \"$request\" $status ua=\"$upstream_addr\"\t$upstream_status",
                Escape::Default
            )
        );
        assert_eq!(template(&conf, "js"), ("{\"s\":\"$status\"}", Escape::Json));
        let names: Vec<&str> = conf.log_formats.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["combined", "up", "js"]);
        assert_eq!(template(&conf, "combined"), (COMBINED, Escape::Default));
        assert_eq!(problems(&conf, dir.path()), Vec::<String>::new());
    }

    #[test]
    fn includes_expand_globs_relative_to_the_main_config_directory() {
        let dir = tree(&[
            (
                "nginx.conf",
                "error_log logs/error.log;\nhttp {\n  include conf.d/*.conf;\n  include missing.d/*.conf;\n}\n",
            ),
            ("conf.d/b.conf", "server { access_log /srv/b.log fmt; }\n"),
            ("conf.d/a.conf", "log_format fmt '$status $request';\ninclude snippets/s.conf;\n"),
            ("conf.d/.a.conf.swp.conf", "access_log /hidden.log;\n"),
            ("conf.d/notes.txt", "access_log /txt.log;\n"),
            ("snippets/s.conf", "access_log logs/snippet.log;\n"),
        ]);
        let conf = load(dir.path(), "nginx.conf");
        assert_eq!(
            access(&conf, dir.path()),
            [("logs/snippet.log".to_string(), "combined".to_string()), ("/srv/b.log".into(), "fmt".into())]
        );
        assert_eq!(conf.error_logs, [dir.path().join("logs/error.log")]);
        assert_eq!(problems(&conf, dir.path()), Vec::<String>::new());
    }

    #[test]
    fn logs_at_every_level_and_not_in_stream_or_mail() {
        let dir = tree(&[(
            "nginx.conf",
            "error_log /l/main.err warn;\nhttp {\n  access_log /l/http.log;\n  error_log /l/main.err;\n  server {\n    access_log /l/server.log;\n    error_log /l/server.err;\n    location /api/ {\n      access_log /l/api.log;\n      if ($x) { access_log /l/if.log; }\n      access_log off;\n    }\n  }\n}\nstream {\n  log_format tcp '$status';\n  access_log /l/stream.log tcp;\n  upstream db { server 10.0.0.9:5432; }\n  error_log /l/stream.err;\n}\n",
        )]);
        let conf = load(dir.path(), "nginx.conf");
        let logs: Vec<String> = conf.access_logs.iter().map(|l| l.path.display().to_string()).collect();
        assert_eq!(logs, ["/l/http.log", "/l/server.log", "/l/api.log", "/l/if.log"]);
        assert_eq!(
            conf.error_logs,
            [Path::new("/l/main.err"), Path::new("/l/server.err"), Path::new("/l/stream.err")]
        );
        assert!(conf.format("tcp").is_none());
        assert_eq!(conf.upstreams, []);
    }

    #[test]
    fn upstream_blocks_map_addresses_to_their_block() {
        let dir = tree(&[(
            "nginx.conf",
            "http {\n upstream api {\n  zone api 64k;\n  server 10.0.0.1:8080 weight=2;\n  server 10.0.0.2 backup;\n  server unix:/run/app.sock;\n  keepalive 8;\n }\n upstream v6 { server [::1]; server [::2]:81; }\n server { listen 80; }\n}\n",
        )]);
        let conf = load(dir.path(), "nginx.conf");
        type Servers<'a> = Vec<(&'a str, Vec<&'a str>, usize)>;
        let blocks: Vec<(&str, usize, Servers)> = conf
            .upstreams
            .iter()
            .map(|u| {
                let servers = u
                    .servers
                    .iter()
                    .map(|s| (s.addr.as_str(), s.params.iter().map(String::as_str).collect(), s.at.line))
                    .collect();
                (u.name.as_str(), u.at.line, servers)
            })
            .collect();
        assert_eq!(
            blocks,
            [
                (
                    "api",
                    2,
                    vec![
                        ("10.0.0.1:8080", vec!["weight=2"], 4),
                        ("10.0.0.2", vec!["backup"], 5),
                        ("unix:/run/app.sock", vec![], 6)
                    ]
                ),
                ("v6", 9, vec![("[::1]", vec![], 9), ("[::2]:81", vec![], 9)]),
            ]
        );
        assert!(conf.upstreams[0].servers[1].flag("backup"));
        assert_eq!(conf.upstreams[0].servers[0].param("weight"), Some("2"));
        assert_eq!(conf.upstreams[0].servers[0].param("max_fails"), None);
        let block = |addr: &[u8]| conf.upstream_of(addr);
        assert_eq!(block(b"10.0.0.1:8080"), Some("api"));
        assert_eq!(block(b"10.0.0.2:80"), Some("api"), "no port written means :80");
        assert_eq!(block(b"10.0.0.2:81"), None);
        assert_eq!(block(b"10.0.0.1:80"), None, "a port was written, so only that port");
        assert_eq!(block(b"unix:/run/app.sock"), Some("api"));
        assert_eq!(block(b"api"), Some("api"), "no live upstreams logs the block name");
        assert_eq!(block(b"[::1]:80"), Some("v6"));
        assert_eq!(block(b"[::2]:81"), Some("v6"));
        assert_eq!(block(b"[::2]:80"), None);
    }

    #[test]
    fn problems_name_file_and_line_and_the_rest_is_used() {
        let dir = tree(&[
            (
                "nginx.conf",
                "http {\n  include broken.conf;\n  include absent.conf;\n  log_format bad escape=xml '$status';\n  log_format nostatus '$remote_addr';\n  log_format combined '$status';\n  access_log /l/a.log nostatus;\n  access_log /l/b.log typo;\n  access_log syslog:server=10.0.0.1;\n  access_log /l/$host.log;\n  access_log /dev/stdout;\n  access_log /l/c.log;\n  access_log /l/c.log nostatus;\n  error_log /l/e.log crit;\n  include nginx.conf;\n}\n",
            ),
            ("broken.conf", "access_log /l/unused.log;\nlog_format x '$status\n  $request;\n"),
        ]);
        let conf = load(dir.path(), "nginx.conf");
        assert_eq!(
            problems(&conf, dir.path()),
            [
                "broken.conf:2: unterminated ' quote; nothing in this file is used",
                "nginx.conf:3: cannot read included file absent.conf: no such file or directory",
                "nginx.conf:15: include nginx.conf loops back to a file being read",
                "nginx.conf:4: log_format bad: unknown escape=xml (nginx knows default, json and none)",
                "nginx.conf:5: log_format nostatus cannot be used: log_format does not log $status, which the diagnosis needs",
                "nginx.conf:6: duplicate log_format name \"combined\" (nginx refuses this); the first one is used",
                "nginx.conf:9: access_log syslog:server=10.0.0.1: logs to syslog, not to a file; not read",
                "nginx.conf:10: access_log /l/$host.log: the file name has variables (one file per value); pass those files themselves; not read",
                "nginx.conf:11: access_log /dev/stdout: writes to a device, not to a file (in a container, pass the captured output as -); not read",
                "nginx.conf:13: access_log /l/c.log \"nostatus\" writes a file also written with log_format \"combined\", so it mixes two formats; it is read as \"combined\"",
                "nginx.conf:14: error_log /l/e.log crit: upstream failures are logged at level error, so this log leaves them out; lower the level to error",
                "nginx.conf:7: access_log uses log_format \"nostatus\", which cannot be used (see above); its format is detected from its lines",
                "nginx.conf:8: access_log uses log_format \"typo\", which is not defined; its format is detected from its lines",
                "nginx.conf:13: access_log uses log_format \"nostatus\", which cannot be used (see above); its format is detected from its lines",
            ]
        );
        let logs: Vec<(String, String)> = access(&conf, dir.path());
        assert_eq!(
            logs,
            [
                ("/l/a.log".to_string(), "nostatus".to_string()),
                ("/l/b.log".into(), "typo".into()),
                ("/l/c.log".into(), "combined".into())
            ]
        );
        assert_eq!(template(&conf, "combined"), (COMBINED, Escape::Default));
    }

    #[test]
    fn a_config_in_a_conf_directory_has_its_logs_under_the_parent() {
        let dir =
            tree(&[("conf/nginx.conf", "http { access_log logs/access.log; }\nerror_log logs/error.log;\n")]);
        let conf = load(dir.path(), "conf/nginx.conf");
        assert_eq!(access(&conf, dir.path()), [("logs/access.log".to_string(), "combined".to_string())]);
        assert_eq!(conf.error_logs, [dir.path().join("logs/error.log")]);
    }

    #[test]
    fn an_unreadable_main_config_is_an_error() {
        let dir = tree(&[]);
        let err = NginxConf::load(&dir.path().join("nope.conf")).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(err, Err(std::io::ErrorKind::NotFound));
    }
}
