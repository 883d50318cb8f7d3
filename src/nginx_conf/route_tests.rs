//! The matching rules, with the examples of nginx's own documentation
//! (<https://nginx.org/en/docs/http/ngx_http_core_module.html#location>,
//! <https://nginx.org/en/docs/http/server_names.html>).

use super::*;
use crate::nginx_conf::scope::{Level, Module};

fn conf(text: &str) -> (tempfile::TempDir, NginxConf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let conf = NginxConf::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, conf)
}

/// The `return` text of the block that handled the request (each test block returns its name).
fn label(scope: &Scope) -> String {
    scope.setting("return", "").value.trim_start_matches("200 ").to_owned()
}

fn route(router: &Router, host: Option<&str>, target: &str) -> String {
    let request = Request { host: host.map(str::as_bytes), target: target.as_bytes(), ..Request::default() };
    router.resolve(&request).map_or_else(|| "none".to_owned(), |s| label(&s))
}

const DOC_LOCATIONS: &str = r#"http { server {
    location = / { return 200 A; }
    location / { return 200 B; }
    location /documents/ { return 200 C; }
    location ^~ /images/ { return 200 D; }
    location ~* \.(gif|jpg|jpeg)$ { return 200 E; }
} }"#;

#[test]
fn locations_as_in_the_nginx_documentation() {
    let (_dir, conf) = conf(DOC_LOCATIONS);
    let router = Router::new(&conf);
    assert_eq!(route(&router, None, "/"), "A");
    assert_eq!(route(&router, None, "/index.html"), "B");
    assert_eq!(route(&router, None, "/documents/document.html"), "C");
    assert_eq!(route(&router, None, "/images/1.gif"), "D");
    assert_eq!(route(&router, None, "/documents/1.jpg"), "E");
    assert_eq!(route(&router, None, "GET /documents/1.JPG?x=/a.png HTTP/1.1"), "E", "caseless, no query");
    assert!(router.problems.is_empty());
}

#[test]
fn regexes_in_order_nested_locations_and_the_longest_prefix() {
    let (_dir, conf) = conf(
        r#"http { server {
    location /api/ {
        return 200 api;
        location /api/v2/ { return 200 v2; }
        location ~ \.json$ { return 200 nested-json; }
    }
    location /api/v1/ { return 200 v1; }
    location ~ ^/api/.*\.xml$ { return 200 first-xml; }
    location ~ \.xml$ { return 200 second-xml; }
    location =/exact { return 200 exact; }
    location ~*\.PNG$ { return 200 png; }
    location @fallback { return 200 named; }
    location ~ (?<=a)b { return 200 lookbehind; }
} }"#,
    );
    let router = Router::new(&conf);
    assert_eq!(route(&router, None, "/api/x"), "api");
    assert_eq!(route(&router, None, "/api/v1/x"), "v1", "the longest prefix, not the first");
    assert_eq!(route(&router, None, "/api/v2/x"), "v2", "nested prefix");
    assert_eq!(route(&router, None, "/api/v2/x.json"), "nested-json", "nested regexes come first");
    assert_eq!(route(&router, None, "/api/v1/x.xml"), "first-xml", "regexes in the order written");
    assert_eq!(route(&router, None, "/other.xml"), "second-xml");
    assert_eq!(route(&router, None, "/exact"), "exact", "modifier stuck to the pattern");
    assert_eq!(route(&router, None, "/exact/more"), "", "no location: the server itself");
    assert_eq!(route(&router, None, "/a/b.png"), "png");
    let problems: Vec<String> = router.problems.iter().map(|p| p.message.clone()).collect();
    assert_eq!(
        problems,
        ["the regex \"(?<=a)b\" uses PCRE features ngx502 cannot evaluate; requests are never matched to it"]
    );
}

#[test]
fn uris_are_matched_normalized() {
    assert_eq!(normalize_uri(b"/a//b/./c/../d?x=1"), b"/a/b/d");
    assert_eq!(normalize_uri(b"GET /%61pi/%2e%2e/x/ HTTP/1.1"), b"/x/");
    assert_eq!(normalize_uri(b"/../.."), b"/");
    assert_eq!(normalize_uri(b"/a/.."), b"/");
    assert_eq!(normalize_uri(b"/a/b/.."), b"/a/");
    assert_eq!(normalize_uri(b"/bad%zz"), b"/bad%zz");
}

const DOC_SERVERS: &str = r#"http {
    server { listen 80; server_name example.org www.example.org; return 200 exact; }
    server { listen 80; server_name *.example.org; return 200 leading; }
    server { listen 80; server_name .example.com *.shop.example.com; return 200 dot; }
    server { listen 80; server_name mail.*; return 200 trailing; }
    server { listen 80; server_name ~^(?<user>.+)\.example\.net$; return 200 regex; }
    server { listen 8080 default_server; listen 80 default_server; server_name _; return 200 default; }
    server { listen 127.0.0.1:8080; server_name example.org; return 200 alt-port; }
}"#;

#[test]
fn servers_as_in_the_nginx_documentation() {
    let (_dir, conf) = conf(DOC_SERVERS);
    let router = Router::new(&conf);
    assert_eq!(route(&router, Some("www.example.org"), "/"), "exact");
    assert_eq!(route(&router, Some("WWW.Example.ORG:80"), "/"), "exact", "case and port ignored");
    assert_eq!(route(&router, Some("example.org."), "/"), "exact", "trailing dot ignored");
    assert_eq!(route(&router, Some("a.example.org"), "/"), "leading");
    assert_eq!(route(&router, Some("example.com"), "/"), "dot", ".example.com covers example.com");
    assert_eq!(route(&router, Some("x.shop.example.com"), "/"), "dot");
    assert_eq!(route(&router, Some("mail.example.io"), "/"), "trailing");
    assert_eq!(route(&router, Some("mail.example.org"), "/"), "leading", "leading wildcards first");
    assert_eq!(route(&router, Some("joe.example.net"), "/"), "regex");
    assert_eq!(route(&router, Some("unknown.test"), "/"), "default");
    let on_port = |port: u16, host: &str| {
        let request =
            Request { host: Some(host.as_bytes()), port: Some(port), target: b"/", ..Request::default() };
        router.resolve(&request).map(|s| label(&s))
    };
    assert_eq!(on_port(8080, "example.org").as_deref(), Some("alt-port"));
    assert_eq!(on_port(8080, "a.example.org").as_deref(), Some("default"));
    assert_eq!(on_port(9999, "example.org"), None, "nothing listens there");
}

#[test]
fn the_error_logs_server_name_picks_the_block_without_a_host() {
    let (_dir, conf) = conf(
        "http {\n server { server_name a.test; return 200 a; }\n server { server_name b.test b2.test; return 200 b; }\n}",
    );
    let router = Router::new(&conf);
    let request = Request { server_name: Some(b"b.test"), target: b"/", ..Request::default() };
    assert_eq!(router.resolve(&request).map(|s| label(&s)).as_deref(), Some("b"));
    assert_eq!(route(&router, None, "/"), "a", "nothing known: the first server");
}

#[test]
fn directives_are_inherited_and_arrays_replaced() {
    let (dir, conf) = conf(
        r#"http {
    proxy_read_timeout 1s;
    proxy_set_header X-A a;
    proxy_set_header X-B b;
    upstream app { server 127.0.0.1:9001 max_fails=1 fail_timeout=600s; }
    server {
        server_name shop.test;
        proxy_connect_timeout 2s;
        location /slow/ {
            proxy_read_timeout 30s;
            proxy_set_header X-C c;
            proxy_pass http://app;
            location /slow/nested/ { proxy_pass http://unix:/run/app.sock:/x; }
        }
        location /fast/ { fastcgi_pass 127.0.0.1:9000; }
    }
}"#,
    );
    let router = Router::new(&conf);
    let scope = |target: &str| {
        router
            .resolve(&Request { host: Some(b"shop.test"), target: target.as_bytes(), ..Request::default() })
            .unwrap_or_else(|| panic!("no scope for {target}"))
    };
    let file = dir.path().join("nginx.conf");
    let at = |line: usize| Some(crate::nginx_conf::Source { file: file.as_path().into(), line });

    let slow = scope("/slow/x");
    let read = slow.module_setting(Module::Proxy, "read_timeout");
    assert_eq!((read.value.as_str(), read.at.clone(), read.level), ("30s", at(10), Some(Level::Location)));
    let connect = slow.module_setting(Module::Proxy, "connect_timeout");
    assert_eq!((connect.value.as_str(), connect.at, connect.level), ("2s", at(8), Some(Level::Server)));
    let send = slow.module_setting(Module::Proxy, "send_timeout");
    assert_eq!((send.value.as_str(), send.at), ("60s", None), "nginx's default");
    let headers: Vec<String> = slow.all("proxy_set_header").iter().map(|n| n.value()).collect();
    assert_eq!(headers, ["X-C c"], "one proxy_set_header in the location replaces http's");
    let pass = slow.pass(&conf).unwrap_or_else(|| panic!("no pass"));
    assert_eq!((pass.module, pass.address.as_str(), pass.node.at.line), (Module::Proxy, "app", 12));
    let upstream = pass.upstream.unwrap_or_else(|| panic!("no upstream"));
    assert_eq!(upstream.servers[0].param("fail_timeout"), Some("600s"));

    let nested = scope("/slow/nested/y");
    assert_eq!(nested.module_setting(Module::Proxy, "read_timeout").at, at(10), "from the outer location");
    let socket = nested.pass(&conf).unwrap_or_else(|| panic!("no pass"));
    assert_eq!(socket.socket(), Some(std::path::Path::new("/run/app.sock")));
    assert!(socket.upstream.is_none());

    let fast = scope("/fast/z");
    let fast_pass = fast.pass(&conf).unwrap_or_else(|| panic!("no pass"));
    assert_eq!((fast_pass.module, fast_pass.address.as_str()), (Module::Fastcgi, "127.0.0.1:9000"));
    let fastcgi_read = fast.module_setting(Module::Fastcgi, "read_timeout");
    assert_eq!(
        (fastcgi_read.value.as_str(), fastcgi_read.at),
        ("60s", None),
        "proxy_ settings are not fastcgi_"
    );
    let http_headers: Vec<String> = fast.all("proxy_set_header").iter().map(|n| n.value()).collect();
    assert_eq!(http_headers, ["X-A a", "X-B b"]);
    assert!(scope("/none").pass(&conf).is_none(), "the server itself: no location");
}

#[test]
fn try_files_sends_the_request_where_its_fallback_lands() {
    let (_dir, conf) = conf(
        r#"http { server {
    location / { try_files $uri $uri/ /index.php?$args; return 200 root; }
    location ~ \.php$ { fastcgi_pass unix:/run/php.sock; return 200 php; }
    location /app/ { try_files $uri @backend; }
    location @backend { proxy_pass http://127.0.0.1:3000; return 200 named; }
    location /missing/ { try_files $uri =404; return 200 missing; }
    location /api/ { try_files $uri /index.php; proxy_pass http://127.0.0.1:4000; return 200 api; }
} }"#,
    );
    let router = Router::new(&conf);
    assert_eq!(route(&router, None, "/blog/2024/hello"), "php");
    assert_eq!(route(&router, None, "/app/x"), "named");
    assert_eq!(route(&router, None, "/missing/x"), "missing");
    assert_eq!(route(&router, None, "/api/x"), "api", "a location that passes upstream itself stays");
}
