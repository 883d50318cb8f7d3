//! The lab: faulty backends + a private nginx in front of them + a traffic generator that records the
//! truth for every request it sends (which scenario, what the client saw, which cause is behind it).

use super::backends::{self, Backend, Behavior};
use super::http::{self, Client};
use super::nginx::{self, Nginx};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

/// The timezone nginx runs in: a non-UTC, non-whole-hour offset (+0530) so that offsets are exercised.
pub const TZ: &str = "Asia/Kolkata";
pub const HOST: &str = "shop.example.test";
/// The upstream{} block whose only usable server gets marked down by max_fails.
pub const NOLIVE_BLOCK: &str = "pool_nolive";

/// The ngx502 `upstream` preset, exactly as documented.
pub const UPSTREAM_FORMAT: &str = r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" host="$host" cid=$connection rt=$request_time ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time" uct="$upstream_connect_time" uht="$upstream_header_time"'"#;

pub const JSON_FORMAT: &str = r#"escape=json '{"time_iso8601":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":"$status","host":"$host","connection":"$connection","request_time":"$request_time","upstream_addr":"$upstream_addr","upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time","body_bytes_sent":"$body_bytes_sent","http_user_agent":"$http_user_agent"}'"#;

/// The three access logs nginx writes at once (same traffic), by format name.
pub const ACCESS_LOGS: [(&str, &str); 3] =
    [("combined", "access.combined.log"), ("upstream", "access.upstream.log"), ("json", "access.json.log")];

/// Returns the nginx binary, or None (after saying why) when `test` must be skipped: nginx or
/// the lab's time zone is missing. With `CI=true` a missing prerequisite fails the test instead.
pub fn prerequisites(test: &str) -> Option<PathBuf> {
    let tzfile = Path::new("/usr/share/zoneinfo").join(TZ);
    let why = match nginx::find_nginx() {
        None => "nginx is not installed (apt-get install -y nginx, or set NGX502_NGINX)".to_string(),
        Some(_) if !tzfile.exists() => format!("tzdata is missing ({} does not exist)", tzfile.display()),
        Some(bin) => return Some(bin),
    };
    if nginx::in_ci() {
        panic!("{test}: {why}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// How a scenario's requests are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// One after the other, each on its own connection.
    Sequential,
    /// One after the other on one keep-alive connection (so nginx reuses the `$connection` number).
    KeepAlive,
    /// All at once, one connection each (for the slow ones).
    Concurrent,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    /// Also the URL path prefix: `/<name>/<n>`.
    pub name: &'static str,
    pub mode: Mode,
    /// Requests per unit of traffic (scaled by `fire`'s multiplier).
    pub per_batch: usize,
    /// The status the client must see (9 = the HTTP/0.9 fallback, logged as `009`).
    pub client_status: u16,
    /// The cause behind the client's response, when it is an upstream failure (`None` for successes).
    pub cause: Option<&'static str>,
    /// The cause when only the `combined` access log is available (no `$upstream_status`).
    pub cause_combined: Option<&'static str>,
    /// The upstream the client-facing failure is attributed to (`None`: unknown / not applicable).
    pub upstream: Option<String>,
    pub upstream_combined: Option<String>,
    /// A failed attempt that nginx retried away (per request): (upstream, cause).
    pub hidden: Option<(String, &'static str)>,
    /// Every attempt nginx makes per request, in order (what `$upstream_addr` lists).
    pub attempts: Vec<String>,
}

/// One request the harness sent, and the truth about it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub scenario: &'static str,
    /// The request target, e.g. `/refused/2?page=2&sort=asc`: unique per request, the key for the truth.
    pub target: String,
    pub user_agent: String,
    /// What the client actually saw (9 = HTTP/0.9 relay).
    pub status: u16,
    /// The truth for this request: the scenario's, except where nginx's state makes one request
    /// different (the first request to the no-live pool is the one that finds the server refusing).
    pub cause: Option<&'static str>,
    pub cause_combined: Option<&'static str>,
    pub upstream: Option<String>,
    pub upstream_combined: Option<String>,
    pub hidden: Option<(String, &'static str)>,
    pub attempts: Vec<String>,
    /// Wall-clock bounds of the exchange, to check the times ngx502 reports.
    pub started: SystemTime,
    pub finished: SystemTime,
}

impl Sent {
    /// `GET <target> HTTP/1.1`: what nginx logs as `$request`.
    pub fn request_line(&self) -> String {
        format!("GET {} HTTP/1.1", self.target)
    }
}

pub struct Lab {
    pub dir: PathBuf,
    pub scenarios: Vec<Scenario>,
    pub backends: BTreeMap<&'static str, Backend>,
    nginx: Option<Nginx>,
    pub listen: SocketAddr,
    next_id: Mutex<BTreeMap<&'static str, usize>>,
    nolive_first_done: Mutex<bool>,
    pub nolive_dead: String,
    /// Keeps the refusing addresses' ports reserved (see `backends::refusing_addr`).
    _reservations: Vec<std::net::TcpListener>,
}

const USER_AGENTS: [&str; 5] = [
    "curl/7.88.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
];

impl Lab {
    /// Starts every backend and nginx with logs in `dir`. `error_level` is the `error_log` level.
    pub fn start(nginx_bin: &Path, dir: &Path, error_level: &str) -> Lab {
        let dir = dir.to_path_buf();
        for sub in ["html/static", "temp", "sock"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("html/static/app.css"), "body{}\n").unwrap();

        let tcp = |b| backends::spawn_tcp(b).expect("start backend");
        let mut backends = BTreeMap::new();
        backends.insert("timeout", tcp(Behavior::Hang));
        backends.insert("bigheader", tcp(Behavior::BigHeader));
        backends.insert("premature", tcp(Behavior::CloseSilently));
        backends.insert("reset", tcp(Behavior::Reset));
        backends.insert("garbage", tcp(Behavior::Garbage));
        backends.insert("badheader", tcp(Behavior::InvalidHeader));
        backends.insert("backend502", tcp(Behavior::Answer502));
        backends.insert("slow", tcp(Behavior::Slow(Duration::from_millis(300))));
        backends.insert("ok", tcp(Behavior::Healthy));
        backends.insert("retry_healthy", tcp(Behavior::Healthy));
        let sock = dir.join("sock/app.sock");
        backends.insert("unixok", backends::spawn_unix(&sock, Behavior::Healthy).expect("unix backend"));

        let mut reservations = Vec::new();
        let mut refusing = || {
            let (held, addr) = backends::refusing_addr().expect("reserve a port");
            reservations.push(held);
            addr
        };
        let refused = refusing();
        let retry_dead = refusing();
        let nolive_dead = refusing();
        let nolive_down = refusing();
        let missing_sock = format!("unix:{}", dir.join("sock/missing.sock").display());

        let addr = |k: &str| backends[k].addr.clone();
        let s =
            |name, mode, per_batch, client_status, cause: Option<&'static str>, upstream: Option<String>| {
                Scenario {
                    name,
                    mode,
                    per_batch,
                    client_status,
                    cause,
                    cause_combined: cause,
                    upstream: upstream.clone(),
                    upstream_combined: upstream.clone(),
                    hidden: None,
                    attempts: upstream.into_iter().collect(),
                }
            };
        let mut scenarios = vec![
            s("refused", Mode::KeepAlive, 3, 502, Some("connect_refused"), Some(refused.clone())),
            s("timeout", Mode::Concurrent, 3, 504, Some("read_timeout"), Some(addr("timeout"))),
            s("bigheader", Mode::Sequential, 2, 502, Some("too_big_header"), Some(addr("bigheader"))),
            s("premature", Mode::KeepAlive, 3, 502, Some("premature_close"), Some(addr("premature"))),
            s("reset", Mode::KeepAlive, 3, 502, Some("reset_by_peer"), Some(addr("reset"))),
            s("garbage", Mode::Sequential, 2, 9, Some("no_valid_http_header"), Some(addr("garbage"))),
            s("badheader", Mode::Sequential, 2, 502, Some("invalid_header"), Some(addr("badheader"))),
            s("backend502", Mode::KeepAlive, 3, 502, Some("upstream_returned_502"), Some(addr("backend502"))),
            s("slow", Mode::Concurrent, 2, 200, None, Some(addr("slow"))),
            s("retry", Mode::KeepAlive, 4, 200, None, Some(addr("retry_healthy"))),
            s("nolive", Mode::Sequential, 3, 502, Some("no_live_upstreams"), Some(NOLIVE_BLOCK.to_string())),
            s(
                "unixmissing",
                Mode::Sequential,
                2,
                502,
                Some("unix_socket_missing"),
                Some(missing_sock.clone()),
            ),
            s("ok", Mode::KeepAlive, 8, 200, None, Some(addr("ok"))),
            s("unixok", Mode::Sequential, 2, 200, None, Some(addr("unixok"))),
            s("static", Mode::KeepAlive, 2, 404, None, None),
        ];
        for sc in &mut scenarios {
            match sc.name {
                // Without $upstream_status a backend-sent 502 looks like any 502 with no error line.
                "backend502" => {
                    sc.cause_combined = Some("unattributed");
                    sc.upstream_combined = None;
                }
                "retry" => {
                    sc.hidden = Some((retry_dead.clone(), "connect_refused"));
                    sc.attempts = vec![retry_dead.clone(), addr("retry_healthy")];
                }
                // The pool is down from the second request on: only the block name is "attempted".
                "nolive" => sc.attempts = vec![NOLIVE_BLOCK.to_string()],
                _ => {}
            }
        }

        let conf = nginx_conf(
            &dir,
            &backends,
            &refused,
            &retry_dead,
            &nolive_dead,
            &nolive_down,
            &missing_sock,
            error_level,
        );
        // The listen port is found free and then released for nginx to bind: retry in the unlikely
        // case that something else took it in between.
        let mut attempt = 0;
        let (nginx, listen) = loop {
            attempt += 1;
            let listen: SocketAddr = format!("127.0.0.1:{}", nginx::free_port()).parse().unwrap();
            match Nginx::start(nginx_bin, &dir, &conf.replace("@LISTEN@", &listen.to_string()), listen, TZ) {
                Ok(n) => break (n, listen),
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    // Start the next try with clean logs: the failed one logged its bind() error.
                    for f in ["error.log", "access.combined.log", "access.upstream.log", "access.json.log"] {
                        let _ = std::fs::remove_file(dir.join(f));
                    }
                }
                Err(e) => panic!("{e}"),
            }
        };
        Lab {
            dir,
            scenarios,
            backends,
            nginx: Some(nginx),
            listen,
            next_id: Mutex::new(BTreeMap::new()),
            nolive_first_done: Mutex::new(false),
            nolive_dead,
            _reservations: reservations,
        }
    }

    pub fn scenario(&self, name: &str) -> &Scenario {
        self.scenarios.iter().find(|s| s.name == name).unwrap()
    }

    /// Sends `per_batch * scale` requests for every scenario (scenarios in parallel) and returns what
    /// was sent and seen. Panics if a client saw something other than the scenario's status: then the
    /// scenario itself is broken, not ngx502.
    pub fn fire(self: &Arc<Self>, scale: usize) -> Vec<Sent> {
        self.fire_only(&[], scale)
    }

    /// As [`Lab::fire`], for the scenarios named in `names` only (all of them when it is empty).
    pub fn fire_only(self: &Arc<Self>, names: &[&str], scale: usize) -> Vec<Sent> {
        for name in names {
            assert!(self.scenarios.iter().any(|s| s.name == *name), "no scenario {name:?}");
        }
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (i, sc) in self.scenarios.iter().enumerate() {
            if !names.is_empty() && !names.contains(&sc.name) {
                continue;
            }
            let lab = Arc::clone(self);
            let sent = Arc::clone(&sent);
            let n = sc.per_batch * scale;
            handles.push(thread::spawn(move || lab.run_scenario(i, n, &sent)));
        }
        for h in handles {
            h.join().expect("scenario thread panicked");
        }
        let mut sent = Arc::try_unwrap(sent).unwrap().into_inner().unwrap();
        sent.sort_by(|a, b| {
            (a.scenario, a.target.len(), &a.target).cmp(&(b.scenario, b.target.len(), &b.target))
        });
        for s in &sent {
            let sc = self.scenario(s.scenario);
            assert_eq!(
                s.status, sc.client_status,
                "scenario {:?}: the client got {} for {}, expected {}",
                sc.name, s.status, s.target, sc.client_status
            );
        }
        sent
    }

    fn targets(&self, scenario: &Scenario, n: usize) -> Vec<String> {
        let mut ids = self.next_id.lock().unwrap();
        let next = ids.entry(scenario.name).or_insert(0);
        (0..n)
            .map(|_| {
                *next += 1;
                let k = *next;
                let mut t = match scenario.name {
                    "static" => format!("/static/css/app.{k}.css"),
                    _ => format!("/{}/{}", scenario.name, k),
                };
                // Some query strings: they are part of `$request` and of the error line's request.
                if k % 3 == 2 {
                    t.push_str(&format!("?page={k}&sort=asc"));
                }
                t
            })
            .collect()
    }

    fn run_scenario(&self, idx: usize, n: usize, out: &Mutex<Vec<Sent>>) {
        let sc = &self.scenarios[idx];
        let targets = self.targets(sc, n);
        let record = |target: &str, ua: &str, status: u16, first_nolive: bool, started: SystemTime| {
            let mut sent = Sent {
                scenario: sc.name,
                target: target.to_string(),
                user_agent: ua.to_string(),
                status,
                cause: sc.cause,
                cause_combined: sc.cause_combined,
                upstream: sc.upstream.clone(),
                upstream_combined: sc.upstream_combined.clone(),
                hidden: sc.hidden.clone(),
                attempts: sc.attempts.clone(),
                started,
                finished: SystemTime::now(),
            };
            if first_nolive {
                // `down` servers do not count as tries, so this request gets no second attempt and no
                // `no live upstreams` line: the client sees the refusal itself. It also marks the server
                // failed (max_fails=1), so every later request finds no live upstream.
                sent.cause = Some("connect_refused");
                sent.cause_combined = Some("connect_refused");
                sent.upstream = Some(self.nolive_dead.clone());
                sent.upstream_combined = Some(self.nolive_dead.clone());
                sent.attempts = vec![self.nolive_dead.clone()];
            }
            out.lock().unwrap().push(sent);
        };
        let ua_for = |k: usize| USER_AGENTS[(idx + k) % USER_AGENTS.len()];
        match sc.mode {
            Mode::Sequential | Mode::KeepAlive => {
                let mut client = Client::new(self.listen);
                for (k, t) in targets.iter().enumerate() {
                    let ua = ua_for(k);
                    let first_nolive = sc.name == "nolive" && {
                        let mut done = self.nolive_first_done.lock().unwrap();
                        !std::mem::replace(&mut *done, true)
                    };
                    let started = SystemTime::now();
                    let resp = client
                        .get(t, HOST, ua, sc.mode == Mode::KeepAlive)
                        .unwrap_or_else(|e| panic!("GET {t}: {e}"));
                    record(t, ua, resp.status, first_nolive, started);
                }
            }
            Mode::Concurrent => {
                thread::scope(|scope| {
                    for (k, t) in targets.iter().enumerate() {
                        let ua = ua_for(k);
                        let record = &record;
                        scope.spawn(move || {
                            let started = SystemTime::now();
                            let resp = http::get_once(self.listen, t, HOST, ua)
                                .unwrap_or_else(|e| panic!("GET {t}: {e}"));
                            record(t, ua, resp.status, false, started);
                        });
                    }
                });
            }
        }
    }

    /// Log rotation as logrotate would do it for the access logs: rename, then `nginx -s reopen`.
    /// The error log is left alone (it keeps both batches).
    pub fn rotate_access_logs(&self, suffix: &str) {
        let files = ACCESS_LOGS.map(|(_, file)| file);
        self.rename_logs(&files, suffix);
        self.reopen_logs(&files);
    }

    /// The first half of a rotation: renames each of `files` (names in the lab's dir) to
    /// `<file><suffix>`. nginx goes on writing to the renamed files until [`Lab::reopen_logs`].
    pub fn rename_logs(&self, files: &[&str], suffix: &str) {
        for file in files {
            std::fs::rename(self.dir.join(file), self.dir.join(format!("{file}{suffix}"))).unwrap();
        }
    }

    /// logrotate's `create`: makes each of `files` again, empty, while nginx still writes to the
    /// renamed ones.
    pub fn create_logs(&self, files: &[&str]) {
        for file in files {
            std::fs::File::create_new(self.dir.join(file)).unwrap();
        }
    }

    /// The second half: `nginx -s reopen`, then waits until each of `files` exists again.
    pub fn reopen_logs(&self, files: &[&str]) {
        let reopened: Vec<PathBuf> = files.iter().map(|f| self.dir.join(f)).collect();
        self.nginx.as_ref().unwrap().reopen_logs(&reopened);
    }

    /// The nginx.conf the lab wrote, which nginx runs with.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("nginx.conf")
    }

    /// The line of nginx.conf that holds `text`, which must be on exactly one line: what a report
    /// citing that directive must point at.
    pub fn conf_line(&self, text: &str) -> usize {
        let conf = std::fs::read_to_string(self.conf_path()).unwrap();
        let lines: Vec<usize> =
            conf.lines().enumerate().filter(|(_, l)| l.contains(text)).map(|(i, _)| i + 1).collect();
        assert_eq!(lines.len(), 1, "{text:?} is not on exactly one line of nginx.conf: {lines:?}");
        lines[0]
    }

    /// Stops nginx gracefully so that every log line is on disk.
    pub fn stop(&mut self) {
        if let Some(n) = self.nginx.take() {
            n.quit();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn nginx_conf(
    dir: &Path,
    backends: &BTreeMap<&'static str, Backend>,
    refused: &str,
    retry_dead: &str,
    nolive_dead: &str,
    nolive_down: &str,
    missing_sock: &str,
    error_level: &str,
) -> String {
    let d = dir.display();
    let user = if nginx::running_as_root() { "user root;\n" } else { "" };
    let mut locations = String::new();
    // Plain `proxy_pass http://ADDR` (an implicit upstream) for most scenarios...
    for (name, addr) in [
        ("refused", refused.to_string()),
        ("timeout", backends["timeout"].addr.clone()),
        ("bigheader", backends["bigheader"].addr.clone()),
        ("premature", backends["premature"].addr.clone()),
        ("reset", backends["reset"].addr.clone()),
        ("garbage", backends["garbage"].addr.clone()),
        ("badheader", backends["badheader"].addr.clone()),
        ("backend502", backends["backend502"].addr.clone()),
        ("slow", backends["slow"].addr.clone()),
        ("ok", backends["ok"].addr.clone()),
        ("unixok", backends["unixok"].addr.clone()),
        ("unixmissing", missing_sock.to_string()),
    ] {
        // `unix:/path:` is how proxy_pass spells a socket; the URI part is left out so that the
        // request's own URI is passed on.
        let target = if addr.starts_with("unix:") { format!("{addr}:") } else { addr };
        // One location overrides what it inherits from http, on a line of its own, so reports
        // can be checked to cite the override (and http's value everywhere else).
        locations.push_str(&if name == "bigheader" {
            format!("        location /{name}/ {{\n            proxy_buffer_size 4k;\n            proxy_pass http://{target};\n        }}\n")
        } else {
            format!("        location /{name}/ {{ proxy_pass http://{target}; }}\n")
        });
    }
    // ...and named upstream{} blocks where retries and max_fails matter.
    locations.push_str("        location /retry/ { proxy_pass http://pool_retry; }\n");
    locations.push_str(&format!("        location /nolive/ {{ proxy_pass http://{NOLIVE_BLOCK}; }}\n"));
    locations.push_str(&format!("        location /static/ {{ root {d}/html; }}\n"));
    format!(
        r#"# Generated by tests/it/support/lab.rs (ngx502's real-nginx harness).
{user}worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log {error_level};

events {{
    worker_connections 256;
}}

http {{
    log_format upstream {UPSTREAM_FORMAT};
    log_format json {JSON_FORMAT};
    access_log {d}/access.combined.log combined;
    access_log {d}/access.upstream.log upstream;
    access_log {d}/access.json.log json;

    client_body_temp_path {d}/temp/client_body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;

    default_type text/plain;
    keepalive_timeout 30s;
    proxy_connect_timeout 1s;
    proxy_send_timeout 1s;
    proxy_read_timeout 1s;

    upstream pool_retry {{
        # Never marked down (max_fails=0), so every request tries it first and fails over to the backup.
        server {retry_dead} max_fails=0;
        server {retry_healthy} backup;
    }}

    upstream {NOLIVE_BLOCK} {{
        # The first failure marks the only usable server down for longer than the test runs.
        server {nolive_dead} max_fails=1 fail_timeout=120s;
        server {nolive_down} down;
    }}

    server {{
        listen @LISTEN@;
        server_name {HOST};

{locations}    }}
}}
"#,
        retry_healthy = backends["retry_healthy"].addr,
    )
}
