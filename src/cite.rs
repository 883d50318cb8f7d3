//! What the nginx.conf says about each cause's failures: every failing request is resolved to the
//! `server` and `location` that handled it, and the directives behind its cause there (the
//! timeout and its value, the buffer size, the `upstream` block and its `server` lines, the
//! socket, the resolver, the TLS settings) are cited at the `FILE:LINE` where they are written,
//! or as nginx's default. Where the logs support a value, the change is written against that
//! location, never at `http` level. Typed data only: renderers turn it into sentences.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::samples::Samples;
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

/// One cause's failures in one place (a `location`, or a `server` no location matched), folded
/// failure by failure into what its citation needs.
#[derive(Debug)]
pub struct Place {
    /// The first failure's request: resolved again when citing, it gives the place's scope.
    request: OwnedRequest,
    failures: u64,
    /// `$request_time` of the failures, for timeouts only (see [`Cause::timed_out`]).
    times: Samples,
    /// Failures per upstream, for timeouts only: the busiest one's latency is the measure.
    by_upstream: BTreeMap<Box<[u8]>, u64>,
    /// An error line of a failure says `wrong version number`.
    plain_http: bool,
    /// A failure went to `[::1]:…`, one to `127.0.0.1:…`.
    failed_v6: bool,
    failed_v4: bool,
}

/// A [`Request`] kept past the failure it came from.
#[derive(Debug)]
struct OwnedRequest {
    host: Option<Box<[u8]>>,
    server_name: Option<Box<[u8]>>,
    target: Box<[u8]>,
}

impl OwnedRequest {
    fn new(r: &Request<'_>) -> OwnedRequest {
        OwnedRequest {
            host: r.host.map(Into::into),
            server_name: r.server_name.map(Into::into),
            target: r.target.into(),
        }
    }

    fn request(&self) -> Request<'_> {
        Request {
            host: self.host.as_deref(),
            server_name: self.server_name.as_deref(),
            port: None,
            target: &self.target,
        }
    }
}

impl Place {
    fn add(&mut self, cause: Cause, e: &Event, errors: &[ErrorRecord]) {
        self.failures += 1;
        if cause.timed_out() {
            if let Some(t) = e.request.request_time {
                self.times.add(t);
            }
            if let Some(u) = e.upstream() {
                match self.by_upstream.get_mut(u) {
                    Some(n) => *n += 1,
                    None => {
                        self.by_upstream.insert(u.into(), 1);
                    }
                }
            }
        }
        if matches!(cause, Cause::SslHandshake | Cause::SslVerifyFailed | Cause::SslHandshakeTimeout)
            && !self.plain_http
        {
            self.plain_http = e
                .evidence()
                .any(|i| memchr::memmem::find(errors[i].raw(), b"wrong version number").is_some());
        }
        if let Some(u) = e.upstream() {
            self.failed_v6 |= u.starts_with(b"[::1]:");
            self.failed_v4 |= u.starts_with(b"127.0.0.1:");
        }
    }

    /// Adds the failures folded into `later`, all of which come after this place's.
    fn merge(&mut self, later: Place) {
        self.failures += later.failures;
        self.times.merge(&later.times);
        for (u, n) in later.by_upstream {
            *self.by_upstream.entry(u).or_default() += n;
        }
        self.plain_http |= later.plain_http;
        self.failed_v6 |= later.failed_v6;
        self.failed_v4 |= later.failed_v4;
    }
}

/// One cause's failures by the place that handled them: memory per place (and per distinct
/// request time of its timeouts), not per failure.
#[derive(Debug, Default)]
pub struct Places(BTreeMap<Source, Place>);

impl Places {
    /// Counts `e`, a failure of `cause`, at the place `router` resolves its request to; `false`
    /// when no place handles it.
    pub fn add(&mut self, router: &Router, cause: Cause, e: &Event, errors: &[ErrorRecord]) -> bool {
        let request = request_of(e, errors);
        let Some(scope) = router.resolve(&request) else { return false };
        let key = &scope.location().unwrap_or(scope.server).at;
        let place = match self.0.get_mut(key) {
            Some(place) => place,
            None => self.0.entry(key.clone()).or_insert_with(|| Place {
                request: OwnedRequest::new(&request),
                failures: 0,
                times: Samples::default(),
                by_upstream: BTreeMap::new(),
                plain_http: false,
                failed_v6: false,
                failed_v4: false,
            }),
        };
        place.add(cause, e, errors);
        true
    }

    /// Adds the failures folded into `later`, all of which come after these.
    pub fn merge(&mut self, later: Places) {
        for (at, place) in later.0 {
            match self.0.get_mut(&at) {
                Some(mine) => mine.merge(place),
                None => {
                    self.0.insert(at, place);
                }
            }
        }
    }

    /// The request times kept (timeouts only), place by place.
    pub fn times(&self) -> impl Iterator<Item = &Samples> + '_ {
        self.0.values().map(|p| &p.times)
    }
}

/// The citations for `places`, the failures of cause `cause`: one per place they were handled,
/// the places with the most failures first.
pub fn citations(
    conf: &NginxConf,
    router: &Router,
    cause: Cause,
    places: Places,
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Vec<Citation> {
    let mut places: Vec<Place> = places.0.into_values().collect();
    places.sort_by_key(|p| std::cmp::Reverse(p.failures));
    places
        .into_iter()
        .take(TOP)
        .filter_map(|place| {
            let scope = router.resolve(&place.request.request())?;
            Some(cite(conf, &scope, cause, place, upstreams))
        })
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
    place: Place,
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Citation {
    let block = scope.location().unwrap_or(scope.server);
    let pass = scope.pass(conf);
    let module = pass.as_ref().map_or(Module::Proxy, |p| p.module);
    let mut citation = Citation {
        context: describe(scope),
        at: At::from(&block.at),
        failures: place.failures,
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
        citation.measured = measured(place.times, &place.by_upstream, upstreams);
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
                citation.plain_http = place.plain_http;
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
        peers(&mut citation, pass, cause, (place.failed_v6, place.failed_v4));
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

/// The upstream block (or the socket, or the `localhost` surprise) behind connection failures;
/// `failed` says whether a failure went to `[::1]:…`, and whether one went to `127.0.0.1:…`.
fn peers(citation: &mut Citation, pass: &Pass, cause: Cause, failed: (bool, bool)) {
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
    citation.localhost_ipv6 = pass.address.split(':').next() == Some("localhost") && failed.0 && !failed.1;
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

/// `times` and `by_upstream` of the failures, against `upstreams`' latency.
fn measured(
    times: Samples,
    by_upstream: &BTreeMap<Box<[u8]>, u64>,
    upstreams: &rustc_hash::FxHashMap<Box<[u8]>, UpstreamCounts>,
) -> Option<Measured> {
    let (median, max) = (times.median()?, times.max()?);
    // The failures are the slowest attempts of their upstream, so its successes are the fastest
    // (all - failed) of its latency sketch: their p99 sits at that share of 0.99.
    let busiest = by_upstream.iter().max_by_key(|(_, n)| **n);
    let (successes, success_p99) = match busiest.and_then(|(u, &failed)| Some((upstreams.get(u)?, failed))) {
        Some((counts, failed)) => {
            let all = counts.latency.count();
            let successes = all.saturating_sub(failed);
            let q = 0.99 * successes as f64 / all.max(1) as f64;
            (successes, (successes > 0).then(|| counts.latency.quantile(q)).flatten())
        }
        None => (0, None),
    };
    Some(Measured { median, max, samples: times.len(), successes, success_p99 })
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
