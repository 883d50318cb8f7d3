//! The 502 risks an nginx.conf shows before any request fails (`ngx502 check-conf`): each is
//! tied to the directive that causes it, at `FILE:LINE`, with the change that removes it.

use serde::Serialize;

use super::route::first_name;
use super::scope::{default_of, Module, Pass, Scope};
use super::{units, NginxConf, Node, Source};

/// How sure the risk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something to know; it fails only with a backend that behaves a certain way.
    Note,
    /// A setting that turns ordinary trouble into 502/504s.
    Warning,
}

/// One risk, where it is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Risk {
    /// Stable name of the check (`no_resolver`, `small_buffer`...).
    pub check: &'static str,
    pub severity: Severity,
    #[serde(flatten)]
    pub at: Source,
    /// The directive as written (`proxy_pass http://$backend`).
    pub directive: String,
    /// Where it applies (`server shop.test, location /api/`), when it is about one location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub message: String,
    pub fix: String,
    /// The cause slugs (see `ngx502 explain`) this risk leads to.
    pub causes: &'static [&'static str],
}

/// Smallest `*_buffer_size` that holds common response headers: one memory page, nginx's default.
const PAGE_SIZE: u64 = 4096;

/// What nginx actually waits for a connection at most, whatever `*_connect_timeout` says.
const CONNECT_CAP: f64 = 75.0;

/// Every risk in `conf`, in file order.
pub fn check(conf: &NginxConf) -> Vec<Risk> {
    let mut risks = Vec::new();
    every_node(&conf.tree, &mut |node| directive_risks(node, &mut risks));
    for_each_location(conf, &mut |scope| {
        if let Some(pass) = scope.pass(conf) {
            location_risks(conf, &scope, &pass, &mut risks);
        }
    });
    upstream_risks(conf, &mut risks);
    risks.sort_by(|a, b| a.at.cmp(&b.at).then(a.check.cmp(b.check)));
    risks.dedup_by(|a, b| a.at == b.at && a.check == b.check);
    risks
}

fn every_node<'c>(nodes: &'c [Node], f: &mut impl FnMut(&'c Node)) {
    for node in nodes {
        f(node);
        every_node(node.children(), f);
    }
}

/// Calls `f` with the scope of every location of every server, nested ones included.
pub fn for_each_location<'c>(conf: &'c NginxConf, f: &mut impl FnMut(Scope<'c>)) {
    let Some(http) = conf.tree.iter().find(|n| n.is("http")) else { return };
    for server in http.children().iter().filter(|n| n.is("server")) {
        let mut chain = Vec::new();
        walk_locations(http, server, &mut chain, f);
    }
}

fn walk_locations<'c>(
    http: &'c Node,
    server: &'c Node,
    chain: &mut Vec<&'c Node>,
    f: &mut impl FnMut(Scope<'c>),
) {
    let parent = chain.last().copied().unwrap_or(server);
    for location in parent.children().iter().filter(|n| n.is("location")) {
        chain.push(location);
        f(Scope { http, server, locations: chain.clone() });
        walk_locations(http, server, chain, f);
        chain.pop();
    }
}

/// `server NAME, location /x/`: where a location risk applies.
pub fn describe(scope: &Scope) -> String {
    let name = crate::escape::lossless(&first_name(scope.server));
    let server = if name.is_empty() { "server".to_owned() } else { format!("server {name}") };
    match scope.location() {
        Some(l) => format!("{server}, location {}", l.value()),
        None => server,
    }
}

fn written(node: &Node) -> String {
    format!("{} {}", crate::escape::lossless(&node.name), node.value()).trim_end().to_owned()
}

/// Risks of a directive on its own, wherever it is.
fn directive_risks(node: &Node, risks: &mut Vec<Risk>) {
    let name = crate::escape::lossless(&node.name);
    let risk = |check, severity, message: String, fix: String, causes| Risk {
        check,
        severity,
        at: node.at.clone(),
        directive: written(node),
        context: None,
        message,
        fix,
        causes,
    };
    let value = node.value();
    if name.ends_with("_buffer_size") && Module::from_directive(&name).is_some() {
        if let Some(size) = units::bytes(&value).filter(|&s| s < PAGE_SIZE) {
            risks.push(risk(
                "small_buffer",
                Severity::Warning,
                format!("{name} {value} ({size} bytes) is below one memory page ({PAGE_SIZE} bytes, the default): response headers larger than it (cookies, long redirects) fail with \"upstream sent too big header\""),
                format!("{name} 4k; or more where large headers are expected"),
                &["too_big_header"],
            ));
        }
    }
    if name.ends_with("_next_upstream") && node.args.iter().any(|a| a == b"non_idempotent") {
        risks.push(risk(
            "retry_non_idempotent",
            Severity::Warning,
            format!("{name} non_idempotent sends a POST, LOCK or PATCH that failed mid-way to the next server too: the request may run twice"),
            format!("remove non_idempotent from {name}, unless every such request is safe to repeat"),
            &[],
        ));
    }
    if name.ends_with("_connect_timeout") && Module::from_directive(&name).is_some() {
        if let Some(s) = units::seconds(&value).filter(|&s| s > CONNECT_CAP) {
            risks.push(risk(
                "connect_timeout_capped",
                Severity::Note,
                format!("{name} {value}: nginx waits at most {CONNECT_CAP}s for a connection, so {} is never reached", units::show_seconds(s)),
                format!("{name} 75s; or less, so a dead server is given up sooner"),
                &["connect_timeout"],
            ));
        }
    }
}

/// Risks of a location and what it passes requests to.
fn location_risks(conf: &NginxConf, scope: &Scope, pass: &Pass, risks: &mut Vec<Risk>) {
    let risk = |check, severity, message: String, fix: String, causes| Risk {
        check,
        severity,
        at: pass.node.at.clone(),
        directive: written(pass.node),
        context: Some(describe(scope)),
        message,
        fix,
        causes,
    };
    let resolver = scope.setting("resolver", "");
    if pass.has_variables() && needs_resolver(pass) && resolver.at.is_none() {
        risks.push(risk(
            "no_resolver",
            Severity::Warning,
            format!("{} has variables, so its host is resolved per request, and no resolver is in force here: every such request fails with \"no resolver defined\" (502) unless the name is an upstream block", pass.target),
            "add `resolver 127.0.0.53 valid=30s;` (your DNS server; 127.0.0.11 in Docker) to this server or location".into(),
            &["no_resolver", "resolve_failed"],
        ));
    }
    if pass.address.split(':').next() == Some("localhost") {
        risks.push(risk(
            "localhost",
            Severity::Note,
            format!("{} names localhost, which resolves to ::1 and 127.0.0.1: a backend listening on 127.0.0.1 only refuses the ::1 attempts", pass.target),
            format!("write 127.0.0.1 instead of localhost in {}", crate::escape::lossless(&pass.node.name)),
            &["connect_refused"],
        ));
    }
    if let Some(socket) = pass.socket().filter(|p| !p.exists()) {
        risks.push(risk(
            "socket_missing",
            Severity::Note,
            format!(
                "{} does not exist on this machine now (fine if the config is checked elsewhere)",
                socket.display()
            ),
            "start the backend that listens there, or correct the path (a PHP version in it?)".into(),
            &["unix_socket_missing"],
        ));
    }
    let next = scope.module_setting(pass.module, "next_upstream");
    let single = match pass.upstream {
        Some(u) => u.servers.len() == 1,
        None => !pass.has_variables() && !needs_resolver(pass),
    };
    if let (Some(at), true) = (&next.at, single && next.value != "off") {
        risks.push(Risk {
            at: at.clone(),
            directive: format!("{} {}", next.directive, next.value),
            ..risk(
                "retry_without_peer",
                Severity::Warning,
                format!("{} is set, but {} is a single server with no backup: nginx never retries a single server, so every failure reaches the client", next.directive, pass.address),
                format!("add a second server or a `backup` to upstream {}", pass.address),
                &["connect_refused", "read_timeout", "connect_timeout"],
            )
        });
    }
    if let Some(upstream) = pass.upstream {
        keepalive_risks(conf, scope, pass, &upstream.name, risks);
    }
}

/// nginx needs a resolver for a target with variables unless it names an upstream block or an
/// IP address (a unix socket needs none either).
fn needs_resolver(pass: &Pass) -> bool {
    let host = pass.address.rsplit_once(':').map_or(pass.address.as_str(), |(h, _)| h);
    !(pass.upstream.is_some()
        || pass.address.starts_with("unix:")
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok())
}

fn keepalive_risks(conf: &NginxConf, scope: &Scope, pass: &Pass, name: &str, risks: &mut Vec<Risk>) {
    let Some(block) = conf.upstream_block(name) else { return };
    let Some(keepalive) = block.children().iter().find(|n| n.is("keepalive")) else { return };
    let missing = match pass.module {
        Module::Proxy => {
            let version = scope.module_setting(Module::Proxy, "http_version");
            let connection = scope.all("proxy_set_header").into_iter().find(|h| {
                h.args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"connection"))
                    && !h.args.get(1).is_some_and(|v| v.eq_ignore_ascii_case(b"close"))
            });
            let mut missing = Vec::new();
            if version.value == default_of("http_version") {
                missing.push("`proxy_http_version 1.1;`");
            }
            if connection.is_none() {
                missing.push("`proxy_set_header Connection \"\";`");
            }
            missing
        }
        Module::Fastcgi if scope.setting("fastcgi_keep_conn", "off").value != "on" => {
            vec!["`fastcgi_keep_conn on;`"]
        }
        _ => Vec::new(),
    };
    if missing.is_empty() {
        return;
    }
    risks.push(Risk {
        check: "keepalive_unused",
        severity: Severity::Warning,
        at: pass.node.at.clone(),
        directive: written(pass.node),
        context: Some(describe(scope)),
        message: format!(
            "upstream {name} keeps connections alive ({} at {}), but this location does not: each request opens a new connection, which under load exhausts local ports (\"Cannot assign requested address\")",
            written(keepalive),
            keepalive.at
        ),
        fix: format!("add {} to this location", missing.join(" and ")),
        causes: &["local_port_exhausted"],
    });
}

/// Upstream blocks whose servers are all taken out by one failure each, with nothing behind them;
/// idle keep-alive connections kept longer than backends usually keep theirs.
fn upstream_risks(conf: &NginxConf, risks: &mut Vec<Risk>) {
    for upstream in &conf.upstreams {
        keepalive_race(conf, &upstream.name, risks);
        let primary: Vec<_> = upstream.servers.iter().filter(|s| !s.flag("backup")).collect();
        if primary.len() < 2 || upstream.servers.iter().any(|s| s.flag("backup")) {
            continue;
        }
        let unset: Vec<String> = primary
            .iter()
            .filter(|s| !s.flag("down") && s.param("max_fails").is_none())
            .map(|s| format!("{} at {}", s.addr, s.at))
            .collect();
        if unset.is_empty() {
            continue;
        }
        risks.push(Risk {
            check: "no_failover",
            severity: Severity::Warning,
            at: upstream.at.clone(),
            directive: format!("upstream {}", upstream.name),
            context: None,
            message: format!(
                "{} (no max_fails, so 1 failure takes a server out for fail_timeout, 10s by default) and no backup: when each server failed once, every request gets \"no live upstreams\" (502) until fail_timeout ends",
                unset.join(", ")
            ),
            fix: format!("add a `backup` server to upstream {}, and set max_fails/fail_timeout on its servers deliberately (max_fails=3 fail_timeout=10s)", upstream.name),
            causes: &["no_live_upstreams"],
        });
    }
}

/// nginx reuses an idle upstream connection for up to `keepalive_timeout` (60s by default); a
/// backend that closes idle connections sooner (Node.js 5s, gunicorn 2s) closes some just as a
/// request is sent on them.
fn keepalive_race(conf: &NginxConf, name: &str, risks: &mut Vec<Risk>) {
    let Some(block) = conf.upstream_block(name) else { return };
    let Some(keepalive) = block.children().iter().find(|n| n.is("keepalive")) else { return };
    let timeout = block.children().iter().find(|n| n.is("keepalive_timeout"));
    let value = timeout.map_or_else(|| "60s".to_owned(), Node::value);
    if units::seconds(&value).is_none_or(|s| s <= 4.0) {
        return;
    }
    let node = timeout.unwrap_or(keepalive);
    let origin = if timeout.is_some() { "" } else { ", the default" };
    risks.push(Risk {
        check: "keepalive_timeout_race",
        severity: Severity::Note,
        at: node.at.clone(),
        directive: written(node),
        context: None,
        message: format!("upstream {name} reuses idle connections for up to {value}{origin}: a backend that closes idle connections sooner (Node.js 5s, gunicorn 2s) closes some just as nginx sends on them, and a POST on one fails with 502 (premature_close, reset_by_peer)"),
        fix: format!("`keepalive_timeout 4s;` in upstream {name}: below the backend's own idle timeout"),
        causes: &["premature_close", "reset_by_peer"],
    });
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
