//! Which `server` and `location` of an nginx.conf handled a request, chosen by nginx's own rules,
//! so that what applied to a failing request (its timeouts, buffers, `proxy_pass`) can be named.
//!
//! Server (`ngx_http_find_virtual_server`): among the servers listening on the port (when it is
//! known), the exact `server_name` first, then the longest leading wildcard (`*.example.com`,
//! `.example.com`), then the longest trailing wildcard (`www.example.*`), then the first regex
//! (`~...`) in order; otherwise the port's `default_server`, or its first server. When the logs do
//! not carry the host, the error log's `server:` (the first `server_name` of the block) picks it.
//!
//! Location (`ngx_http_core_find_location`): `=` on an exact match ends the search; otherwise the
//! longest prefix is remembered and its nested locations searched; unless it is `^~`, the regexes
//! (`~`, `~*` caseless) of the level are then tried in order and the first match wins (with its
//! own nested locations searched). Matching is on the normalized URI: no query, `%XX` decoded,
//! `//` merged, `.` and `..` resolved. A location that passes nothing upstream but ends its
//! `try_files` with a fixed URI or a named location hands the request there (the PHP front
//! controller, `@backend`), so that is the location resolved.

use regex::bytes::{Regex, RegexBuilder};

use super::scope::Scope;
use super::{NginxConf, Node, Problem};
use crate::escape::lossless;

/// The request as the logs describe it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// `$host` (or the `Host` header; a port in it is ignored).
    pub host: Option<&'a [u8]>,
    /// The error log's `server:`: the first `server_name` of the block that handled it.
    pub server_name: Option<&'a [u8]>,
    /// The port the request came in on, when logged (`$server_port`).
    pub port: Option<u16>,
    /// The request target (`/a/b?x=1`), or the whole request line (`GET /a/b HTTP/1.1`).
    pub target: &'a [u8],
}

/// The servers and locations of a config, ready to match requests against.
pub struct Router<'c> {
    http: Option<&'c Node>,
    servers: Vec<Server<'c>>,
    /// Regexes ngx502 cannot evaluate (PCRE features such as look-around): they never match.
    pub problems: Vec<Problem>,
}

struct Server<'c> {
    node: &'c Node,
    names: Vec<Name>,
    /// `(port, default_server)` per `listen`; a server without one listens on 80.
    listens: Vec<(Option<u16>, bool)>,
    locations: Locations<'c>,
}

enum Name {
    Exact(Vec<u8>),
    /// `*.example.com` as `.example.com`; `.example.com` also matches `example.com` itself.
    Leading {
        suffix: Vec<u8>,
        bare: bool,
    },
    /// `www.example.*` as `www.example.`.
    Trailing(Vec<u8>),
    Regex(Regex),
}

#[derive(Default)]
struct Locations<'c> {
    statics: Vec<Location<'c>>,
    regexes: Vec<Location<'c>>,
}

struct Location<'c> {
    node: &'c Node,
    kind: Kind,
    nested: Locations<'c>,
}

enum Kind {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    /// `^~`: when it is the longest prefix, regexes are not tried.
    PrefixNoRegex(Vec<u8>),
    Regex(Regex),
}

impl<'c> Router<'c> {
    /// Compiles the `server` blocks of `conf`'s `http` block.
    pub fn new(conf: &'c NginxConf) -> Router<'c> {
        let http = conf.tree.iter().find(|n| n.is("http") && n.block.is_some());
        let mut problems = Vec::new();
        let servers = http
            .map(|h| h.children().iter().filter(|n| n.is("server") && n.block.is_some()))
            .into_iter()
            .flatten()
            .map(|node| Server {
                node,
                names: server_names(node, &mut problems),
                listens: listens(node),
                locations: locations(node, &mut problems),
            })
            .collect();
        Router { http, servers, problems }
    }

    /// The server, location chain and `http` block that handled `request`; `None` when the
    /// config has no `http` block with servers.
    pub fn resolve(&self, request: &Request) -> Option<Scope<'c>> {
        let http = self.http?;
        let server = self.server(request)?;
        let mut chain = Vec::new();
        find_location(&server.locations, &normalize_uri(request.target), &mut chain);
        if let Some(fallback) = chain.last().and_then(|l| try_files_fallback(l)) {
            chain = match fallback.strip_prefix(b"@") {
                Some(name) => named_location(server.node, name).into_iter().collect(),
                None => {
                    let mut redirected = Vec::new();
                    find_location(&server.locations, &normalize_uri(&fallback), &mut redirected);
                    redirected
                }
            };
        }
        Some(Scope { http, server: server.node, locations: chain })
    }

    fn server(&self, request: &Request) -> Option<&Server<'c>> {
        let on_port: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| request.port.is_none_or(|p| s.listens.iter().any(|l| l.0 == Some(p))))
            .collect();
        let by_name = match (request.host, request.server_name) {
            (Some(host), _) => by_host(&on_port, &normalize_host(host)),
            (None, Some(name)) => on_port.iter().copied().find(|s| first_name(s.node).as_slice() == name),
            (None, None) => None,
        };
        by_name.or_else(|| {
            let default =
                |s: &&Server| s.listens.iter().any(|l| l.1 && request.port.is_none_or(|p| l.0 == Some(p)));
            on_port.iter().copied().find(default).or_else(|| on_port.first().copied())
        })
    }
}

fn by_host<'s, 'c>(servers: &[&'s Server<'c>], host: &[u8]) -> Option<&'s Server<'c>> {
    let all = || servers.iter().flat_map(|s| s.names.iter().map(move |n| (*s, n)));
    if let Some((s, _)) = all().find(|(_, n)| matches!(n, Name::Exact(e) if e == host)) {
        return Some(s);
    }
    let leading = longest(all().filter_map(|(s, n)| match n {
        Name::Leading { suffix, bare } => {
            let hit =
                (host.ends_with(suffix) && host.len() > suffix.len()) || (*bare && host == &suffix[1..]);
            hit.then_some((s, suffix.len()))
        }
        _ => None,
    }));
    let trailing = || {
        longest(all().filter_map(|(s, n)| match n {
            Name::Trailing(prefix) => {
                (host.starts_with(prefix) && host.len() > prefix.len()).then_some((s, prefix.len()))
            }
            _ => None,
        }))
    };
    let regex = || all().find(|(_, n)| matches!(n, Name::Regex(r) if r.is_match(host))).map(|(s, _)| s);
    leading.or_else(trailing).or_else(regex)
}

/// The first of the longest matches.
fn longest<T>(matches: impl Iterator<Item = (T, usize)>) -> Option<T> {
    let mut best: Option<(T, usize)> = None;
    for (item, len) in matches {
        if best.as_ref().is_none_or(|b| len > b.1) {
            best = Some((item, len));
        }
    }
    best.map(|b| b.0)
}

/// Searches one level of locations, pushing the chosen location (and its nested choice) on
/// `chain`. Returns whether the search is final (`=` or a regex matched, here or nested).
fn find_location<'c>(level: &Locations<'c>, uri: &[u8], chain: &mut Vec<&'c Node>) -> bool {
    let start = chain.len();
    let mut prefix: Option<&Location> = None;
    for l in &level.statics {
        match &l.kind {
            Kind::Exact(p) if p.as_slice() == uri => {
                chain.push(l.node);
                return true;
            }
            Kind::Prefix(p) | Kind::PrefixNoRegex(p)
                if uri.starts_with(p) && prefix.is_none_or(|b| prefix_len(b) < p.len()) =>
            {
                prefix = Some(l);
            }
            _ => {}
        }
    }
    let mut noregex = false;
    if let Some(l) = prefix {
        chain.push(l.node);
        noregex = matches!(l.kind, Kind::PrefixNoRegex(_));
        if find_location(&l.nested, uri, chain) {
            return true;
        }
    }
    if noregex {
        return false;
    }
    for l in &level.regexes {
        if matches!(&l.kind, Kind::Regex(r) if r.is_match(uri)) {
            chain.truncate(start);
            chain.push(l.node);
            find_location(&l.nested, uri, chain);
            return true;
        }
    }
    false
}

/// Where a location that passes nothing upstream sends the request with `try_files`' last
/// argument (`/index.php?$args`, `@backend`): the location there is the one that fails. Only a
/// fixed URI (query cut) or a named location; `=404` and variables are left alone.
fn try_files_fallback(location: &Node) -> Option<Vec<u8>> {
    let children = location.children();
    if children.iter().any(|n| n.name.ends_with(b"_pass")) {
        return None;
    }
    let last = children.iter().find(|n| n.is("try_files"))?.args.last()?;
    let path = last.split(|&b| b == b'?').next().unwrap_or(last);
    let fixed = (path.starts_with(b"/") || path.starts_with(b"@")) && !path.contains(&b'$');
    fixed.then(|| path.to_vec())
}

/// `location @name` directly in the server.
fn named_location<'c>(server: &'c Node, name: &[u8]) -> Option<&'c Node> {
    server
        .children()
        .iter()
        .find(|n| n.is("location") && n.args.first().is_some_and(|a| a.strip_prefix(b"@") == Some(name)))
}

fn prefix_len(l: &Location) -> usize {
    match &l.kind {
        Kind::Exact(p) | Kind::Prefix(p) | Kind::PrefixNoRegex(p) => p.len(),
        Kind::Regex(_) => 0,
    }
}

/// The locations directly inside `parent` (a server or a location), in order.
fn locations<'c>(parent: &'c Node, problems: &mut Vec<Problem>) -> Locations<'c> {
    let mut out = Locations::default();
    for node in parent.children().iter().filter(|n| n.is("location") && n.block.is_some()) {
        let Some(kind) = location_kind(node, problems) else { continue };
        let location = Location { node, kind, nested: locations(node, problems) };
        match location.kind {
            Kind::Regex(_) => out.regexes.push(location),
            _ => out.statics.push(location),
        }
    }
    out
}

/// `location [=|^~|~|~*] pattern`, with the modifier apart or stuck to the pattern (`=/x`).
/// Named locations (`@x`) are only reached by redirects, so they are left out.
fn location_kind(node: &Node, problems: &mut Vec<Problem>) -> Option<Kind> {
    let (modifier, pattern): (&[u8], &[u8]) = match node.args.as_slice() {
        [m, p] => (m, p),
        [one] => {
            let split = [&b"^~"[..], b"~*", b"=", b"~"].into_iter().find(|m| one.starts_with(m));
            match split {
                Some(m) => (m, &one[m.len()..]),
                None => (b"", one),
            }
        }
        _ => return None,
    };
    match modifier {
        b"=" => Some(Kind::Exact(pattern.to_vec())),
        b"^~" => Some(Kind::PrefixNoRegex(pattern.to_vec())),
        b"" if pattern.starts_with(b"@") => None,
        b"" => Some(Kind::Prefix(pattern.to_vec())),
        b"~" | b"~*" => compile(node, pattern, modifier == b"~*", problems).map(Kind::Regex),
        _ => None,
    }
}

fn compile(node: &Node, pattern: &[u8], caseless: bool, problems: &mut Vec<Problem>) -> Option<Regex> {
    let text = lossless(pattern);
    match RegexBuilder::new(&text).case_insensitive(caseless).build() {
        Ok(r) => Some(r),
        Err(_) => {
            problems.push(Problem {
                file: node.at.file.to_path_buf(),
                line: node.at.line,
                message: format!(
                    "the regex {text:?} uses PCRE features ngx502 cannot evaluate; requests are never matched to it"
                ),
            });
            None
        }
    }
}

fn server_names(server: &Node, problems: &mut Vec<Problem>) -> Vec<Name> {
    let mut names = Vec::new();
    for node in server.children().iter().filter(|n| n.is("server_name")) {
        for arg in &node.args {
            let name = arg.to_ascii_lowercase();
            let parsed = if let Some(re) = arg.strip_prefix(b"~") {
                compile(node, re, true, problems).map(Name::Regex)
            } else if let Some(rest) = name.strip_prefix(b"*") {
                Some(Name::Leading { suffix: rest.to_vec(), bare: false })
            } else if name.starts_with(b".") {
                Some(Name::Leading { suffix: name.clone(), bare: true })
            } else if let Some(rest) = name.strip_suffix(b"*") {
                Some(Name::Trailing(rest.to_vec()))
            } else {
                Some(Name::Exact(name.strip_suffix(b".").unwrap_or(&name).to_vec()))
            };
            names.extend(parsed);
        }
    }
    names
}

/// The first `server_name`, as nginx logs it in `server:` (empty when there is none).
pub fn first_name(server: &Node) -> Vec<u8> {
    server
        .children()
        .iter()
        .find(|n| n.is("server_name"))
        .and_then(|n| n.args.first())
        .cloned()
        .unwrap_or_default()
}

fn listens(server: &Node) -> Vec<(Option<u16>, bool)> {
    let listens: Vec<(Option<u16>, bool)> = server
        .children()
        .iter()
        .filter(|n| n.is("listen"))
        .filter_map(|n| {
            let (addr, flags) = n.args.split_first()?;
            let default = flags.iter().any(|f| f == b"default_server" || f == b"default");
            Some((listen_port(addr), default))
        })
        .collect();
    if listens.is_empty() {
        vec![(Some(80), false)]
    } else {
        listens
    }
}

/// `80`, `127.0.0.1:8080`, `[::]:443`, `*:80`, `localhost` (port 80); a unix socket has none.
fn listen_port(addr: &[u8]) -> Option<u16> {
    if addr.starts_with(b"unix:") {
        return None;
    }
    let port = match addr.iter().rposition(|&b| b == b':') {
        Some(i) if !addr[..i].ends_with(b"]") && addr.starts_with(b"[") => return Some(80),
        Some(i) => &addr[i + 1..],
        None if addr.iter().all(u8::is_ascii_digit) => addr,
        None => return Some(80),
    };
    std::str::from_utf8(port).ok()?.parse().ok()
}

/// `Host` as nginx compares it: lowercase, without a port or a trailing dot.
fn normalize_host(host: &[u8]) -> Vec<u8> {
    let mut h = host.to_ascii_lowercase();
    let port_at = if h.starts_with(b"[") {
        h.iter().position(|&b| b == b']').map(|i| i + 1)
    } else {
        h.iter().position(|&b| b == b':')
    };
    if let Some(i) = port_at {
        h.truncate(i);
    }
    if h.ends_with(b".") {
        h.pop();
    }
    h
}

/// The URI locations are matched against (see the module docs). A request line is cut to its
/// target first.
pub fn normalize_uri(target: &[u8]) -> Vec<u8> {
    let target = crate::access::request_path(target);
    let mut decoded = Vec::with_capacity(target.len());
    let mut i = 0;
    while i < target.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (target[i], target.get(i + 1).copied().and_then(hex), target.get(i + 2).copied().and_then(hex))
        {
            (b'%', Some(hi), Some(lo)) => {
                decoded.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&b| b == b'/').skip(1) {
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(decoded.len());
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    let trailing = decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    if out.is_empty() || (trailing && !out.ends_with(b"/")) {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
