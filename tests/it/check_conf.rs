//! `ngx502 check-conf`: the static 502 risks of a real multi-file config (that `nginx -t` accepts,
//! when nginx is installed), each at the line of its directive in the file where it is written,
//! the JSON contract, and the exit codes a CI lint relies on.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

const MAIN: &str = r#"events { worker_connections 64; }
http {
    proxy_read_timeout 1s;
    upstream shop_pool {
        server 127.0.0.1:9001;
        server 127.0.0.1:9002;
        keepalive 8;
    }
    include sites/*.conf;
}
"#;

const SITE: &str = r#"server {
    listen 127.0.0.1:18090;
    server_name shop.test;
    location /api/ {
        proxy_pass http://shop_pool;
        proxy_http_version 1.1;
    }
    location /search/ {
        proxy_pass http://$arg_backend:8080;
    }
    location /headers/ {
        proxy_buffer_size 1k;
        proxy_pass http://127.0.0.1:9003;
    }
    location ~ (?<=/old)/x$ { return 410; }
}
"#;

fn site(main: &str, site: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("sites")).expect("mkdir");
    std::fs::write(dir.path().join("nginx.conf"), main).expect("write");
    std::fs::write(dir.path().join("sites/shop.conf"), site).expect("write");
    dir
}

fn check_conf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .arg("check-conf")
        .arg(dir.join("nginx.conf"))
        .args(args)
        .output()
        .expect("run ngx502")
}

#[test]
fn risks_cite_file_and_line_and_fail_a_ci_job() {
    let dir = site(MAIN, SITE);
    let out = check_conf(dir.path(), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["schema"], "ngx502-check-conf/1");
    let prefix = format!("{}/", dir.path().display());
    let rows: Vec<Value> = v["risks"]
        .as_array()
        .expect("risks")
        .iter()
        .map(|r| {
            let file = r["file"].as_str().unwrap_or_default().replace(&prefix, "");
            json!([r["check"], r["severity"], file, r["line"], r["context"]])
        })
        .collect();
    assert_eq!(
        rows,
        [
            json!(["no_failover", "warning", "nginx.conf", 4, null]),
            json!(["keepalive_timeout_race", "note", "nginx.conf", 7, null]),
            json!(["keepalive_unused", "warning", "sites/shop.conf", 5, "server shop.test, location /api/"]),
            json!(["no_resolver", "warning", "sites/shop.conf", 9, "server shop.test, location /search/"]),
            json!(["small_buffer", "warning", "sites/shop.conf", 12, null]),
        ]
    );
    assert_eq!(v["risks"][2]["fix"], "add `proxy_set_header Connection \"\";` to this location");
    let problems: Vec<Value> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            json!([p["file"].as_str().unwrap_or_default().replace(&prefix, ""), p["line"], p["message"]])
        })
        .collect();
    assert_eq!(
        problems,
        [json!([
            "sites/shop.conf",
            15,
            "the regex \"(?<=/old)/x$\" uses PCRE features ngx502 cannot evaluate; requests are never matched to it"
        ])]
    );

    let text = check_conf(dir.path(), &["--fail-on", "any"]);
    assert_eq!(text.status.code(), Some(3), "a risk fails the job");
    let stdout = String::from_utf8_lossy(&text.stdout).replace(&prefix, "");
    assert!(
        stdout.starts_with("nginx.conf:4: warning [no_failover]: upstream shop_pool\n  127.0.0.1:9001 at nginx.conf:5, 127.0.0.1:9002 at nginx.conf:6 (no max_fails"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sites/shop.conf:12: warning [small_buffer]: proxy_buffer_size 1k\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("5 risk(s): 4 warning(s), 1 note(s).\n"), "{stdout}");
}

#[test]
fn a_clean_config_passes_and_notes_fail_only_on_any() {
    let clean = "events { worker_connections 64; }\nhttp {\n    include sites/*.conf;\n}\n";
    let dir = site(clean, "server {\n    location / { proxy_pass http://127.0.0.1:9003; }\n}\n");
    let out = check_conf(dir.path(), &["--fail-on", "any"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "No 502 risk found.\n");

    let note_only = site(clean, "server {\n    location / { proxy_pass http://localhost:9003; }\n}\n");
    assert_eq!(check_conf(note_only.path(), &["--fail-on", "warning"]).status.code(), Some(0));
    assert_eq!(check_conf(note_only.path(), &["--fail-on", "any"]).status.code(), Some(3));
}

#[test]
fn an_unreadable_config_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = check_conf(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The risky config is one nginx itself accepts: the risks are in valid configs.
#[test]
fn nginx_accepts_the_risky_config() {
    let nginx = Path::new("/usr/sbin/nginx");
    if !nginx.is_file() {
        eprintln!("SKIPPED nginx_accepts_the_risky_config: /usr/sbin/nginx is not installed");
        return;
    }
    let dir = site(MAIN, SITE);
    let checked =
        crate::support::nginx::syntax_check(nginx, dir.path(), &dir.path().join("nginx.conf"), "UTC");
    assert_eq!(checked, Ok(()), "nginx -t rejected the config");
}

#[test]
fn report_warns_of_a_location_regex_it_cannot_route_to() {
    let dir = site(MAIN, SITE);
    let access = dir.path().join("access.log");
    std::fs::write(
        &access,
        "127.0.0.1 - - [14/May/2024:10:00:00 +0000] \"GET /old/x HTTP/1.1\" 502 157 \"-\" \"curl\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["report", "-q", "--nginx-conf"])
        .arg(dir.path().join("nginx.conf"))
        .arg(&access)
        .output()
        .expect("run ngx502");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.path().display()), "");
    assert_eq!(
        stderr,
        "ngx502: warning: sites/shop.conf:15: the regex \"(?<=/old)/x$\" uses PCRE features ngx502 cannot evaluate; requests are never matched to it\n"
    );
}
