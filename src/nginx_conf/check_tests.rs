//! Tests of `check-conf`: each static 502 risk found, at its FILE:LINE, in real nginx.conf trees.

use super::*;

fn risks(main: &str, site: &str) -> (tempfile::TempDir, Vec<Risk>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("sites")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("sites/shop"), site).unwrap_or_else(|e| panic!("{e}"));
    let conf = NginxConf::load(&dir.path().join("nginx.conf")).unwrap_or_else(|e| panic!("{e}"));
    let risks = check(&conf);
    (dir, risks)
}

/// `(check, file, line, context)` per risk, with the temp dir cut off.
fn summary(dir: &tempfile::TempDir, risks: &[Risk]) -> Vec<(String, String, usize, Option<String>)> {
    risks
        .iter()
        .map(|r| {
            let file = r.at.file.strip_prefix(dir.path()).unwrap_or(&r.at.file).display().to_string();
            (r.check.to_owned(), file, r.at.line, r.context.clone())
        })
        .collect()
}

const MAIN: &str = r#"http {
    proxy_buffer_size 2k;
    proxy_connect_timeout 90s;
    upstream pool {
        server 10.0.0.1:8080;
        server 10.0.0.2:8080 max_fails=3;
        keepalive 16;
    }
    upstream covered { server 10.0.0.3:80; server 10.0.0.4:80 backup; }
    upstream lone { server 10.0.0.5:80; }
    include sites/*;
}
"#;

const SITE: &str = r#"server {
    server_name shop.test www.shop.test;
    location /dyn/ { proxy_pass http://$backend_host; }
    location /static-var/ { proxy_pass http://pool/$uri; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /local/ { proxy_pass http://localhost:3000; }
    location /php/ { fastcgi_pass unix:/nonexistent/ngx502-php.sock; }
    location /retry/ {
        proxy_next_upstream error timeout http_502 non_idempotent;
        proxy_pass http://lone;
    }
    location /covered/ { proxy_pass http://covered; }
    location /ws/ { proxy_pass http://pool; proxy_http_version 1.1; }
}
server {
    resolver 127.0.0.53;
    location / { proxy_pass http://$backend_host; proxy_buffer_size 8k; }
}
"#;

#[test]
fn every_risk_at_its_line_with_its_location() {
    let (dir, found) = risks(MAIN, SITE);
    let shop = |loc: &str| Some(format!("server shop.test, location {loc}"));
    assert_eq!(
        summary(&dir, &found),
        [
            ("small_buffer".to_string(), "nginx.conf".to_string(), 2, None),
            ("connect_timeout_capped".into(), "nginx.conf".into(), 3, None),
            ("no_failover".into(), "nginx.conf".into(), 4, None),
            ("keepalive_timeout_race".into(), "nginx.conf".into(), 7, None),
            ("no_resolver".into(), "sites/shop".into(), 3, shop("/dyn/")),
            ("localhost".into(), "sites/shop".into(), 5, shop("/local/")),
            ("socket_missing".into(), "sites/shop".into(), 6, shop("/php/")),
            ("retry_non_idempotent".into(), "sites/shop".into(), 8, None),
            ("retry_without_peer".into(), "sites/shop".into(), 8, shop("/retry/")),
            ("keepalive_unused".into(), "sites/shop".into(), 12, shop("/ws/")),
        ]
    );
    let by_check = |c: &str| found.iter().find(|r| r.check == c).unwrap_or_else(|| panic!("no {c}"));
    assert_eq!(
        by_check("no_failover").message,
        "10.0.0.1:8080 at ".to_string()
            + &dir.path().join("nginx.conf").display().to_string()
            + ":5 (no max_fails, so 1 failure takes a server out for fail_timeout, 10s by default) and no backup: when each server failed once, every request gets \"no live upstreams\" (502) until fail_timeout ends"
    );
    let keepalive = by_check("keepalive_unused");
    assert_eq!(keepalive.fix, "add `proxy_set_header Connection \"\";` to this location");
    assert!(keepalive.message.contains("(keepalive 16 at "), "{}", keepalive.message);
    assert_eq!(by_check("small_buffer").directive, "proxy_buffer_size 2k");
    assert_eq!(
        by_check("retry_without_peer").directive,
        "proxy_next_upstream error timeout http_502 non_idempotent"
    );
    assert_eq!(by_check("no_resolver").severity, Severity::Warning);
    assert_eq!(by_check("localhost").severity, Severity::Note);
}

#[test]
fn a_clean_config_has_no_risk() {
    let (_dir, found) = risks(
        "http {\n upstream app { server 10.0.0.1:80 max_fails=3; server 10.0.0.2:80 backup; keepalive 8; keepalive_timeout 4s; }\n include sites/*;\n}\n",
        "server {\n location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }\n location /ip/ { proxy_pass http://10.0.0.9:8080/$uri; }\n}\n",
    );
    assert_eq!(found, []);
}
