//! What the nginx.conf says about each cause's failures: every failing request is resolved to the
//! `server` and `location` that handled it, and the directives behind its cause there (the
//! timeout and its value, the buffer size, the `upstream` block and its `server` lines, the
//! socket, the resolver, the TLS settings) are cited at the `FILE:LINE` where they are written,
//! or as nginx's default. Where the logs support a value, the change is written against that
//! location, never at `http` level. Typed data only: renderers turn it into sentences.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlate::Event;
use crate::errorlog::{Cause, ErrorRecord};
use crate::nginx_conf::check::describe;
use crate::nginx_conf::route::{Request, Router};
use crate::nginx_conf::scope::{Level, Module, Pass, Scope, Setting};
use crate::nginx_conf::{units, NginxConf, Source};
use crate::summary::UpstreamCounts;

/// Places cited per cause (the ones with the most failures).
const TOP: usize = 3;

/// A line of the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct At {
    pub file: String,
    pub line: usize,
}

impl From<&Source> for At {
    fn from(s: &Source) -> At {
        At { file: s.file.to_string_lossy().into_owned(), line: s.line }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A directive as it applies: written at `at` (on `level`), or nginx's default (`at` absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub directive: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
}

impl From<Setting> for Applied {
    fn from(s: Setting) -> Applied {
        Applied { directive: s.directive, value: s.value, at: s.at.as_ref().map(At::from), level: s.level }
    }
}

/// How long the failures took, against what the upstream answers in when it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// `$request_time` of the failures: median and largest, in seconds.
    pub median: f64,
    pub max: f64,
    pub samples: u64,
    /// The upstream's attempts that did not fail this way, and their p99 response time.
    pub successes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_p99: Option<f64>,
}

/// An `upstream {}` block and its `server` lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub name: String,
    pub at: At,
    pub servers: Vec<ServerLine>,
}

/// `server ADDR PARAMS;` in an upstream block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLine {
    pub addr: String,
    pub params: Vec<String>,
    pub at: At,
}

/// A unix socket as it is now on the host the report runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    pub path: String,
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// Permission bits (`0o660`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// The change the logs support, written against the block that needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    /// `location /api/`, `upstream app`.
    pub block: String,
    /// Where to edit: the directive's own line when the block writes it, else the block's line.
    pub at: At,
    pub directive: String,
    /// `None`: the block does not write it yet, so it is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    pub value: String,
}

/// What the config says about one cause's failures in one place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// `server shop.test, location /api/`.
    pub context: String,
    /// The `location` (or `server`) block that handled them.
    pub at: At,
    pub failures: u64,
    /// The `*_pass` directive the location sends requests with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<Applied>,
    /// The directives behind this cause, as they apply there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<Applied>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Block>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<Socket>,
    /// The target says `localhost`, and only its `::1` address failed: the IPv6-first surprise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub localhost_ipv6: bool,
    /// The target says `https://`, and the upstream answered in plain HTTP (`wrong version number`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

/// The citations for `events`, all of cause `cause`: one per place they were handled, the places
/// with the most failures first.
pub fn citations(
    conf: &NginxConf,
    router: &Router,
    cause: Cause,
    events: &[&Event],
    errors: &[ErrorRecord],
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Vec<Citation> {
    let mut places: BTreeMap<Source, (Scope, Vec<&Event>)> = BTreeMap::new();
    for &e in events {
        let Some(scope) = router.resolve(&request_of(e, errors)) else { continue };
        let key = scope.location().unwrap_or(scope.server).at.clone();
        places.entry(key).or_insert_with(|| (scope, Vec::new())).1.push(e);
    }
    let mut places: Vec<(Scope, Vec<&Event>)> = places.into_values().collect();
    places.sort_by_key(|p| std::cmp::Reverse(p.1.len()));
    places
        .into_iter()
        .take(TOP)
        .map(|(scope, events)| cite(conf, &scope, cause, &events, errors, upstreams))
        .collect()
}

/// The request as the logs tell it: host from the access log, `server:` from the error lines.
fn request_of<'e>(e: &'e Event, errors: &'e [ErrorRecord]) -> Request<'e> {
    let error = e.evidence().rev().map(|i| &errors[i]);
    let server_name = error.clone().find_map(|r| r.server());
    let target = e.request.request().or_else(|| error.clone().find_map(|r| r.request()));
    let host = e.request.host().or_else(|| error.clone().find_map(|r| r.host()));
    Request { host, server_name, port: None, target: target.unwrap_or(b"/") }
}

fn cite(
    conf: &NginxConf,
    scope: &Scope,
    cause: Cause,
    events: &[&Event],
    errors: &[ErrorRecord],
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Citation {
    let block = scope.location().unwrap_or(scope.server);
    let pass = scope.pass(conf);
    let module = pass.as_ref().map_or(Module::Proxy, |p| p.module);
    let mut citation = Citation {
        context: describe(scope),
        at: At::from(&block.at),
        failures: events.len() as u64,
        pass: pass.as_ref().map(|p| Applied {
            directive: crate::escape::lossless(&p.node.name),
            value: p.target.clone(),
            at: Some(At::from(&p.node.at)),
            level: Some(Level::Location),
        }),
        applied: Vec::new(),
        measured: None,
        upstream: None,
        socket: None,
        localhost_ipv6: false,
        plain_http: false,
        fix: None,
    };
    let timeout = match cause {
        Cause::ReadTimeout => Some("read_timeout"),
        Cause::ConnectTimeout | Cause::SslHandshakeTimeout => Some("connect_timeout"),
        Cause::SendTimeout => Some("send_timeout"),
        _ => None,
    };
    if let Some(setting) = timeout {
        let applied = scope.module_setting(module, setting);
        citation.measured = measured(events, upstreams);
        citation.fix = timeout_fix(scope, &applied, citation.measured.as_ref());
        citation.applied.push(applied.into());
    }
    match cause {
        Cause::TooBigHeader => {
            let applied = scope.module_setting(module, "buffer_size");
            let current = units::bytes(&applied.value).unwrap_or(4096);
            let value =
                if current < 16 * 1024 { "16k".to_owned() } else { format!("{}k", current * 2 / 1024) };
            citation.fix = Some(fix_in(scope, &applied, value));
            citation.applied.push(applied.into());
        }
        Cause::ResolveFailed | Cause::NoResolver => {
            citation.applied.push(scope.setting("resolver", "").into());
            citation.applied.push(scope.setting("resolver_timeout", "30s").into());
        }
        Cause::SslHandshake | Cause::SslVerifyFailed | Cause::SslHandshakeTimeout => {
            for setting in ["ssl_server_name", "ssl_protocols"] {
                citation.applied.push(scope.module_setting(module, setting).into());
            }
            if let Some(pass) = pass.as_ref().filter(|p| p.target.starts_with("https://")) {
                let plain =
                    |i: usize| memchr::memmem::find(errors[i].raw(), b"wrong version number").is_some();
                citation.plain_http = events.iter().any(|e| e.evidence().any(plain));
                if citation.plain_http {
                    citation.fix = Some(Fix {
                        block: block_name(scope),
                        at: At::from(&pass.node.at),
                        directive: crate::escape::lossless(&pass.node.name),
                        current: Some(pass.target.clone()),
                        value: pass.target.replacen("https://", "http://", 1),
                    });
                }
            }
        }
        _ => {}
    }
    if let Some(pass) = &pass {
        peers(&mut citation, pass, cause, events);
        retries(conf, scope, &mut citation, pass, cause);
    }
    citation
}

/// Whether nginx could try another server, and for the keep-alive race (a backend closing an
/// idle connection nginx reuses) how long nginx keeps them idle.
fn retries(conf: &NginxConf, scope: &Scope, citation: &mut Citation, pass: &Pass, cause: Cause) {
    let race = matches!(cause, Cause::PrematureClose | Cause::ResetByPeer | Cause::SendFailed);
    let connect = citation.upstream.is_some()
        && matches!(cause, Cause::ConnectRefused | Cause::ConnectTimeout | Cause::NoRoute);
    if !(race || connect) {
        return;
    }
    citation.applied.push(scope.module_setting(pass.module, "next_upstream").into());
    if !race {
        return;
    }
    let block = pass.upstream.and_then(|u| conf.upstream_block(&u.name));
    let Some(keepalive) = block.and_then(|b| b.children().iter().find(|n| n.is("keepalive"))) else { return };
    let in_block = |name: &str, default: &str| {
        let node = block.and_then(|b| b.children().iter().find(|n| n.is(name)));
        Applied {
            directive: name.to_owned(),
            value: node.map_or_else(|| default.to_owned(), |n| n.value()),
            at: node.map(|n| At::from(&n.at)),
            level: None,
        }
    };
    citation.applied.push(Applied { at: Some(At::from(&keepalive.at)), ..in_block("keepalive", "") });
    citation.applied.push(in_block("keepalive_timeout", "60s"));
}

/// The upstream block (or the socket, or the `localhost` surprise) behind connection failures.
fn peers(citation: &mut Citation, pass: &Pass, cause: Cause, events: &[&Event]) {
    let connecting = matches!(
        cause,
        Cause::ConnectRefused
            | Cause::ConnectTimeout
            | Cause::ConnectOsTimeout
            | Cause::NoRoute
            | Cause::NoLiveUpstreams
            | Cause::UnixSocketMissing
            | Cause::UnixSocketPermission
            | Cause::BacklogFull
    );
    if !connecting {
        return;
    }
    if let Some(u) = pass.upstream {
        citation.upstream = Some(Block {
            name: u.name.clone(),
            at: At::from(&u.at),
            servers: u
                .servers
                .iter()
                .map(|s| ServerLine { addr: s.addr.clone(), params: s.params.clone(), at: At::from(&s.at) })
                .collect(),
        });
        if cause == Cause::NoLiveUpstreams {
            citation.fix = fail_timeout_fix(u);
        }
    }
    if let Some(path) = pass.socket() {
        citation.socket = Some(socket_now(path));
    }
    let failed: Vec<&[u8]> = events.iter().filter_map(|e| e.upstream()).collect();
    citation.localhost_ipv6 = pass.address.split(':').next() == Some("localhost")
        && failed.iter().any(|a| a.starts_with(b"[::1]:"))
        && !failed.iter().any(|a| a.starts_with(b"127.0.0.1:"));
}

/// A long `fail_timeout` keeps a failed server out long after it is back: the default 10s is
/// what a block with no `backup` can afford.
fn fail_timeout_fix(u: &crate::nginx_conf::Upstream) -> Option<Fix> {
    let server = u
        .servers
        .iter()
        .find(|s| s.param("fail_timeout").and_then(units::seconds).is_some_and(|t| t > 10.0))?;
    let current = server.params.join(" ");
    let value: Vec<String> = server
        .params
        .iter()
        .map(|p| if p.starts_with("fail_timeout=") { "fail_timeout=10s".to_owned() } else { p.clone() })
        .collect();
    Some(Fix {
        block: format!("upstream {}", u.name),
        at: At::from(&server.at),
        directive: format!("server {}", server.addr),
        current: Some(current),
        value: value.join(" "),
    })
}

fn socket_now(path: &std::path::Path) -> Socket {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    Socket {
        path: path.to_string_lossy().into_owned(),
        exists: meta.is_some(),
        owner: meta.as_ref().map(MetadataExt::uid),
        group: meta.as_ref().map(MetadataExt::gid),
        mode: meta.as_ref().map(|m| m.mode() & 0o7777),
    }
}

fn measured(
    events: &[&Event],
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Option<Measured> {
    let mut times: Vec<f64> = events.iter().filter_map(|e| e.request.request_time).collect();
    if times.is_empty() {
        return None;
    }
    times.sort_by(f64::total_cmp);
    // The failures are the slowest attempts of their upstream, so its successes are the fastest
    // (all - failed) of its latency sketch: their p99 sits at that share of 0.99.
    let mut by_upstream: BTreeMap<&[u8], u64> = BTreeMap::new();
    for e in events {
        if let Some(u) = e.upstream() {
            *by_upstream.entry(u).or_default() += 1;
        }
    }
    let busiest = by_upstream.into_iter().max_by_key(|(_, n)| *n);
    let (successes, success_p99) = match busiest.and_then(|(u, failed)| Some((upstreams.get(u)?, failed))) {
        Some((counts, failed)) => {
            let all = counts.latency.count();
            let successes = all.saturating_sub(failed);
            let q = 0.99 * successes as f64 / all.max(1) as f64;
            (successes, (successes > 0).then(|| counts.latency.quantile(q)).flatten())
        }
        None => (0, None),
    };
    Some(Measured {
        median: times[times.len() / 2],
        max: times[times.len() - 1],
        samples: times.len() as u64,
        successes,
        success_p99,
    })
}

/// A timeout the upstream's own successful responses come close to is raised, in this location,
/// to twice their p99; one far above them is not the problem (the backend hung), so no value.
fn timeout_fix(scope: &Scope, applied: &Setting, measured: Option<&Measured>) -> Option<Fix> {
    let current = units::seconds(&applied.value)?;
    let p99 = measured?.success_p99?;
    if p99 < current / 2.0 {
        return None;
    }
    let value = (p99 * 2.0).ceil().max(current + 1.0);
    Some(fix_in(scope, applied, format!("{value}s")))
}

/// `directive value` set in the matched location (or server): changed where it is written there,
/// added to the block otherwise — never in a block other requests share.
fn fix_in(scope: &Scope, applied: &Setting, value: String) -> Fix {
    let block = scope.location().unwrap_or(scope.server);
    let own = block.children().iter().find(|n| n.is(&applied.directive));
    Fix {
        block: block_name(scope),
        at: At::from(own.map_or(&block.at, |n| &n.at)),
        directive: applied.directive.clone(),
        current: own.map(|n| n.value()),
        value,
    }
}

/// `location /api/`, or `server` when no location matched.
fn block_name(scope: &Scope) -> String {
    scope.location().map_or_else(|| "server".to_owned(), |l| format!("location {}", l.value()))
}

#[cfg(test)]
#[path = "cite_tests.rs"]
mod tests;
