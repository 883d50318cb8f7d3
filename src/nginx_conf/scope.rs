//! What applies inside one `location`: each directive as nginx inherits it, and the upstream the
//! location passes requests to.
//!
//! Inheritance is nginx's: a directive written in a `location` overrides the enclosing location's,
//! which overrides the `server`'s, which overrides `http`'s. Array-like directives
//! (`proxy_set_header`, `proxy_next_upstream` lists...) are inherited only by a level that writes
//! none of them: one `proxy_set_header` in a location replaces every `proxy_set_header` above it.
//! Both rules are one: the innermost level that writes the directive at all gives all its values.
//! The `*_pass` directives are not inherited (a nested location has no handler of its own).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{NginxConf, Node, Source, Upstream};

/// The blocks that applied to a request, outermost first: `http`, `server`, then the locations
/// from the outermost to the one that matched.
#[derive(Clone, Debug)]
pub struct Scope<'c> {
    pub http: &'c Node,
    pub server: &'c Node,
    pub locations: Vec<&'c Node>,
}

/// The level a directive is written at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Http,
    Server,
    Location,
}

/// The module a location passes requests with; its directives share a prefix
/// (`proxy_read_timeout`, `fastcgi_read_timeout`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    Proxy,
    Fastcgi,
    Uwsgi,
    Scgi,
    Grpc,
}

impl Module {
    const ALL: [Module; 5] = [Module::Proxy, Module::Fastcgi, Module::Uwsgi, Module::Scgi, Module::Grpc];

    /// `proxy`, `fastcgi`...: the prefix of its directives.
    pub fn prefix(self) -> &'static str {
        match self {
            Module::Proxy => "proxy",
            Module::Fastcgi => "fastcgi",
            Module::Uwsgi => "uwsgi",
            Module::Scgi => "scgi",
            Module::Grpc => "grpc",
        }
    }

    /// The module a directive belongs to (`fastcgi_buffer_size` → FastCGI).
    pub fn from_directive(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| name.strip_prefix(m.prefix()).is_some_and(|r| r.starts_with('_')))
    }

    /// The module's own name for `setting` (`read_timeout` → `fastcgi_read_timeout`).
    pub fn directive(self, setting: &str) -> String {
        format!("{}_{setting}", self.prefix())
    }
}

/// A directive's value where it applies: written somewhere (with where), or nginx's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub directive: String,
    /// The arguments as written, or the default.
    pub value: String,
    /// Where it is written; `None` for nginx's default.
    pub at: Option<Source>,
    pub level: Option<Level>,
}

/// Where a location sends requests.
#[derive(Clone, Debug)]
pub struct Pass<'c> {
    pub module: Module,
    /// The `proxy_pass` (…) directive.
    pub node: &'c Node,
    /// The target as written (`http://app`, `unix:/run/php.sock`, `127.0.0.1:9000`).
    pub target: String,
    /// The address part: a `host[:port]`, an upstream block's name, or `unix:/path`.
    pub address: String,
    /// The `upstream {}` block the address names, if it names one.
    pub upstream: Option<&'c Upstream>,
}

impl Pass<'_> {
    /// Whether the target has variables (then nginx resolves the name per request, with `resolver`).
    pub fn has_variables(&self) -> bool {
        self.target.contains('$')
    }

    /// The unix socket path, for `unix:` targets.
    pub fn socket(&self) -> Option<&Path> {
        self.address.strip_prefix("unix:").map(Path::new)
    }
}

/// nginx's defaults for the settings ngx502 cites (identical for every module that has them).
pub fn default_of(setting: &str) -> &'static str {
    match setting {
        "read_timeout" | "connect_timeout" | "send_timeout" => "60s",
        "buffer_size" => "4k",
        "next_upstream" => "error timeout",
        "next_upstream_tries" | "next_upstream_timeout" => "0",
        "http_version" => "1.0",
        "ssl_server_name" => "off",
        "ssl_protocols" => "TLSv1.2 TLSv1.3",
        "resolver_timeout" => "30s",
        _ => "",
    }
}

impl<'c> Scope<'c> {
    /// The levels, innermost first, with their kind.
    fn levels(&self) -> impl Iterator<Item = (&'c Node, Level)> + '_ {
        self.locations
            .iter()
            .rev()
            .map(|l| (*l, Level::Location))
            .chain([(self.server, Level::Server), (self.http, Level::Http)])
    }

    /// Every occurrence of `name` at the innermost level that writes it (see the module docs).
    pub fn all(&self, name: &str) -> Vec<&'c Node> {
        self.levels()
            .map(|(block, _)| block.children().iter().filter(|n| n.is(name)).collect::<Vec<_>>())
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    }

    /// `name` where it applies, or `default` when no level writes it.
    pub fn setting(&self, name: &str, default: &str) -> Setting {
        let found = self
            .levels()
            .find_map(|(block, level)| block.children().iter().find(|n| n.is(name)).map(|n| (n, level)));
        match found {
            Some((node, level)) => Setting {
                directive: name.to_owned(),
                value: node.value(),
                at: Some(node.at.clone()),
                level: Some(level),
            },
            None => Setting { directive: name.to_owned(), value: default.to_owned(), at: None, level: None },
        }
    }

    /// The module's `setting` where it applies (`read_timeout` → `proxy_read_timeout 1s`).
    pub fn module_setting(&self, module: Module, setting: &str) -> Setting {
        self.setting(&module.directive(setting), default_of(setting))
    }

    /// The location that matched (`None`: the server itself handled it).
    pub fn location(&self) -> Option<&'c Node> {
        self.locations.last().copied()
    }

    /// Where the matched location passes requests (`None`: it serves them itself).
    pub fn pass(&self, conf: &'c NginxConf) -> Option<Pass<'c>> {
        let location = self.location()?;
        Module::ALL.into_iter().find_map(|module| {
            let name = format!("{}_pass", module.prefix());
            let node = location.children().iter().find(|n| n.is(&name))?;
            let target = node.arg(0)?;
            let address = pass_address(&target);
            let upstream = conf.upstreams.iter().find(|u| u.name == address);
            Some(Pass { module, node, target, address, upstream })
        })
    }
}

/// The address of a `*_pass` target: without scheme and URI (`http://app:8080/x` → `app:8080`;
/// `http://unix:/run/a.sock:/x` → `unix:/run/a.sock`).
fn pass_address(target: &str) -> String {
    let rest = target.split_once("://").map_or(target, |(_, rest)| rest);
    if let Some(path) = rest.strip_prefix("unix:") {
        let path = path.split_once(':').map_or(path, |(p, _)| p);
        return format!("unix:{path}");
    }
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::pass_address;

    #[test]
    fn pass_addresses_lose_scheme_and_uri() {
        assert_eq!(pass_address("http://app"), "app");
        assert_eq!(pass_address("http://127.0.0.1:8080/api/"), "127.0.0.1:8080");
        assert_eq!(pass_address("http://unix:/run/app.sock:/x"), "unix:/run/app.sock");
        assert_eq!(pass_address("http://unix:/run/app.sock:"), "unix:/run/app.sock");
        assert_eq!(pass_address("unix:/run/php/php8.2-fpm.sock"), "unix:/run/php/php8.2-fpm.sock");
        assert_eq!(pass_address("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(pass_address("grpcs://[::1]:50051"), "[::1]:50051");
        assert_eq!(pass_address("http://$backend$request_uri"), "$backend$request_uri");
    }
}
