//! `--nginx-conf`: a real multi-file nginx.conf (main file, `conf.d/*.conf` include, a custom
//! `log_format` with the upstream variables and an `escape=json` one), logs written in those
//! formats, and `ngx502 report --nginx-conf` alone finding and reading every log in its own format.
//!
//! When nginx is installed, the same config is checked with `nginx -t`, so the test config is one
//! nginx itself accepts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::accounting::checked;
use serde_json::{json, Value};

const MAIN_CONF: &str = r#"# main config: formats here, sites in conf.d/
worker_processes 1;
error_log logs/error.log;
pid logs/nginx.pid;

events {
    worker_connections 64;
}

http {
    log_format upstream_log '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                            'cid=$connection ua="$upstream_addr" us="$upstream_status" '
                            "urt=\"$upstream_response_time\" rt=$request_time";
    log_format api_json escape=json
        '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
        '"status":"$status","upstream_addr":"$upstream_addr",'
        '"upstream_status":"$upstream_status","connection":"$connection","request_time":"$request_time"}';

    include conf.d/*.conf;
}
"#;

const APP_CONF: &str = r#"upstream app {
    server 127.0.0.1:9001 max_fails=0;
    server 127.0.0.1:9002;
}

server {
    listen 127.0.0.1:18080;
    server_name app.test;
    access_log logs/app.access.log upstream_log;
    location / {
        proxy_pass http://app;
    }
}
"#;

/// `{API_LOG}` is replaced by an absolute path (the app log above is relative to the prefix).
const API_CONF: &str = r#"server {
    listen 127.0.0.1:18081;
    server_name api.test;
    access_log {API_LOG} api_json;
    access_log syslog:server=127.0.0.1:514 api_json;
    location / {
        proxy_pass http://127.0.0.1:9003;
    }
}
"#;

const APP_LOG: &str = r#"10.0.0.1 [14/May/2024:10:22:01 +0000] "GET / HTTP/1.1" 200 612 cid=1 ua="127.0.0.1:9001" us="200" urt="0.004" rt=0.004
10.0.0.2 [14/May/2024:10:22:05 +0000] "GET /b HTTP/1.1" 200 612 cid=2 ua="127.0.0.1:9002" us="200" urt="0.003" rt=0.003
10.0.0.5 [14/May/2024:10:22:31 +0000] "GET /a HTTP/1.1" 502 157 cid=11 ua="127.0.0.1:9001" us="502" urt="0.000" rt=0.001
10.0.0.6 [14/May/2024:10:22:32 +0000] "GET /a HTTP/1.1" 502 157 cid=12 ua="127.0.0.1:9001" us="502" urt="0.000" rt=0.001
10.0.0.7 [14/May/2024:10:23:40 +0000] "GET /slow HTTP/1.1" 504 167 cid=13 ua="127.0.0.1:9002" us="504" urt="60.001" rt=60.001
10.0.0.9 [14/May/2024:10:23:50 +0000] "GET /c HTTP/1.1" 200 612 cid=14 ua="127.0.0.1:9001, 127.0.0.1:9002" us="502, 200" urt="0.000, 0.002" rt=0.002
"#;

const API_LOG: &str = r#"{"time":"2024-05-14T10:22:10+00:00","remote_addr":"10.0.1.1","request":"GET /v1/a HTTP/1.1","status":"200","upstream_addr":"127.0.0.1:9003","upstream_status":"200","connection":"20","request_time":"0.010"}
{"time":"2024-05-14T10:22:20+00:00","remote_addr":"10.0.1.2","request":"GET /v1/b?q=\"x\" HTTP/1.1","status":"200","upstream_addr":"127.0.0.1:9003","upstream_status":"200","connection":"22","request_time":"0.011"}
{"time":"2024-05-14T10:23:01+00:00","remote_addr":"10.0.1.8","request":"POST /v1/x HTTP/1.1","status":"502","upstream_addr":"127.0.0.1:9003","upstream_status":"502","connection":"21","request_time":"0.012"}
{"time":"2024-05-14T10:23:05+00:00","remote_addr":"10.0.1.9","request":"GET /v1/c HTTP/1.1","status":"200","upstream_addr":"127.0.0.1:9003","upstream_status":"200","connection":"23","request_time":"0.009"}
"#;

const ERROR_LOG: &str = r#"2024/05/14 10:22:31 [error] 4242#4242: *11 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: app.test, request: "GET /a HTTP/1.1", upstream: "http://127.0.0.1:9001/a", host: "app.test"
2024/05/14 10:22:32 [error] 4242#4242: *12 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.6, server: app.test, request: "GET /a HTTP/1.1", upstream: "http://127.0.0.1:9001/a", host: "app.test"
2024/05/14 10:23:01 [error] 4242#4242: *21 upstream prematurely closed connection while reading response header from upstream, client: 10.0.1.8, server: api.test, request: "POST /v1/x HTTP/1.1", upstream: "http://127.0.0.1:9003/v1/x", host: "api.test"
2024/05/14 10:23:40 [error] 4242#4242: *13 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.7, server: app.test, request: "GET /slow HTTP/1.1", upstream: "http://127.0.0.1:9002/slow", host: "app.test"
2024/05/14 10:23:50 [error] 4242#4242: *14 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.9, server: app.test, request: "GET /c HTTP/1.1", upstream: "http://127.0.0.1:9001/c", host: "app.test"
"#;

/// The config and its logs in a temp dir (which is also nginx's prefix).
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let site = Site { dir };
        let api_log = site.path("api/api.access.log");
        site.write("nginx.conf", MAIN_CONF);
        site.write("conf.d/app.conf", APP_CONF);
        site.write("conf.d/api.conf", &API_CONF.replace("{API_LOG}", &api_log.display().to_string()));
        site.write("conf.d/README", "not a config: the include only reads *.conf\naccess_log /nowhere;\n");
        site.write("logs/app.access.log", APP_LOG);
        site.write("logs/error.log", ERROR_LOG);
        site.write("api/api.access.log", API_LOG);
        site
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create dir");
        std::fs::write(&path, text).expect("write file");
    }

    fn ngx502(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().expect("run ngx502")
    }

    fn conf(&self) -> String {
        self.path("nginx.conf").display().to_string()
    }

    /// Text with the temp dir replaced by `<dir>`, for exact comparisons.
    fn relative(&self, text: &[u8]) -> String {
        String::from_utf8_lossy(text).replace(&self.dir.path().display().to_string(), "<dir>")
    }
}

fn report(output: &Output) -> Value {
    assert!(output.status.success(), "ngx502 failed: {}", String::from_utf8_lossy(&output.stderr));
    checked(&output.stdout)
}

/// `(path, kind, format, lines, parsed, malformed)` per input.
fn inputs(site: &Site, report: &Value) -> Vec<Value> {
    report["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| {
            json!([
                site.relative(i["path"].as_str().unwrap_or_default().as_bytes()),
                i["kind"],
                i["format"],
                i["lines"],
                i["parsed"],
                i["malformed"]
            ])
        })
        .collect()
}

fn cause_counts(report: &Value) -> Vec<(String, u64)> {
    report["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| (c["cause"].as_str().unwrap_or_default().to_string(), c["count"].as_u64().unwrap_or(0)))
        .collect()
}

#[test]
fn report_reads_every_log_the_conf_names_in_its_own_format() {
    let site = Site::new();
    let output = site.ngx502(&["report", "--nginx-conf", &site.conf(), "--output", "json", "--quiet"]);
    let report = report(&output);
    assert_eq!(
        inputs(&site, &report),
        [
            json!(["<dir>/api/api.access.log", "access", "api_json", 4, 4, 0]),
            json!(["<dir>/logs/app.access.log", "access", "upstream_log", 6, 6, 0]),
            json!(["<dir>/logs/error.log", "error", "nginx error log", 5, 5, 0]),
        ]
    );
    assert_eq!(report["totals"]["requests"], 10);
    assert_eq!(report["totals"]["by_status"], json!({"200": 6, "502": 3, "504": 1}));
    assert_eq!(report["totals"]["failures"], 4);
    assert_eq!(
        cause_counts(&report),
        [("connect_refused".to_string(), 2), ("premature_close".into(), 1), ("read_timeout".into(), 1)]
    );
    let joins: Vec<&Value> =
        report["inputs"].as_array().expect("inputs").iter().map(|i| &i["join"]).collect();
    assert_eq!(
        joins,
        [&json!("connection"), &json!("connection"), &Value::Null],
        "both formats log $connection"
    );
    let upstreams: Vec<Value> = report["upstreams"]
        .as_array()
        .expect("upstreams")
        .iter()
        .map(|u| {
            json!([
                u["upstream"],
                u["block"],
                u["requests"],
                u["client_502"],
                u["client_504"],
                u["hidden_failures"]
            ])
        })
        .collect();
    assert_eq!(
        upstreams,
        [
            json!(["127.0.0.1:9001", "app", 4, 2, 0, 1]),
            json!(["127.0.0.1:9002", "app", 3, 0, 1, 0]),
            json!(["127.0.0.1:9003", null, 4, 1, 0, 0])
        ]
    );
    assert_eq!(
        site.relative(&output.stderr),
        "ngx502: warning: <dir>/conf.d/api.conf:5: access_log syslog:server=127.0.0.1:514: logs to syslog, not to a file; not read\n"
    );
}

#[test]
fn log_format_name_takes_a_format_from_the_conf() {
    let site = Site::new();
    let api_log = site.path("api/api.access.log").display().to_string();
    let args =
        ["report", "--nginx-conf", &site.conf(), "--log-format-name", "api_json", "--output", "json", "-q"];
    let report = report(&site.ngx502(&[&args[..], &[api_log.as_str()]].concat()));
    assert_eq!(inputs(&site, &report), [json!(["<dir>/api/api.access.log", "access", "api_json", 4, 4, 0])]);
    assert_eq!(report["totals"]["by_status"], json!({"200": 3, "502": 1}));
}

#[test]
fn given_paths_are_detected_among_the_conf_formats_first() {
    let site = Site::new();
    let app_log = site.path("logs/app.access.log").display().to_string();
    let report =
        report(&site.ngx502(&["report", "--nginx-conf", &site.conf(), "--output", "json", "-q", &app_log]));
    assert_eq!(
        inputs(&site, &report),
        [json!(["<dir>/logs/app.access.log", "access", "upstream_log", 6, 6, 0])]
    );
}

#[test]
fn an_unknown_format_name_lists_the_formats_that_exist() {
    let site = Site::new();
    let output =
        site.ngx502(&["report", "--nginx-conf", &site.conf(), "--log-format-name", "upstream_lgo", "-q"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        site.relative(&output.stderr),
        "ngx502: warning: <dir>/conf.d/api.conf:5: access_log syslog:server=127.0.0.1:514: logs to syslog, not to a file; not read\n\
         ngx502: unknown --log-format-name \"upstream_lgo\": the formats in --nginx-conf are combined, upstream_log, api_json; built in: upstream, ingress-nginx-0.25, ingress-nginx-0.15, ingress-nginx-0.9, ingress-nginx, main_ext, npm-proxy, npm-standard, cp_combined, cp_common, vhost, vhost-0.9, kong, gitlab_access, discourse, discourse-old, main, combined, common, json\n"
    );
}

#[test]
fn an_unreadable_conf_is_one_clear_error() {
    let site = Site::new();
    let missing = site.path("missing.conf").display().to_string();
    let output = site.ngx502(&["report", "--nginx-conf", &missing]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        site.relative(&output.stderr),
        "ngx502: cannot read --nginx-conf <dir>/missing.conf: no such file or directory\n"
    );
}

/// The test config is one nginx itself accepts (skipped when nginx is not installed).
#[test]
fn nginx_accepts_the_test_config() {
    let nginx = Path::new("/usr/sbin/nginx");
    if !nginx.is_file() {
        eprintln!("SKIPPED nginx_accepts_the_test_config: /usr/sbin/nginx is not installed");
        return;
    }
    let site = Site::new();
    let checked =
        crate::support::nginx::syntax_check(nginx, site.dir.path(), &site.path("nginx.conf"), "UTC");
    assert_eq!(checked, Ok(()), "nginx -t rejected the config");
}
