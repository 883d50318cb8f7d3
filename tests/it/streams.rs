//! One input with access, error and other programs' lines, wrapped as platforms deliver them
//! (compose, kubectl, CRI node files, Docker json-file, syslog, journald): the same diagnosis as
//! from nginx's two files, sources kept apart.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::accounting::check_report;

fn run(args: &[&str], path: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if path.is_dir() {
        return (
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
    }
    let mut piped = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(args)
        .arg("-")
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .unwrap();
    // Through a pipe the same, but for the input's name.
    piped.stdout =
        String::from_utf8_lossy(&piped.stdout).replace("\"-", &format!("\"{}", path.display())).into_bytes();
    assert_eq!(String::from_utf8_lossy(&piped.stdout), String::from_utf8_lossy(&out.stdout), "stdin");
    (
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn report(path: &Path) -> Value {
    let report = run(&["report", "--output", "json", "-q"], path).0;
    check_report(&report);
    report
}

/// `(source, cause)` per failed request, from `export --format ndjson`.
fn causes(path: &Path) -> Vec<(String, String)> {
    let (_, text) = run(&["export", "--format", "ndjson", "-q"], path);
    let mut rows: Vec<(String, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["source"].as_str().unwrap().to_owned(), v["cause"].as_str().unwrap().to_owned()))
        .collect();
    rows.sort();
    rows
}

const FORMAT_UPSTREAM: &str =
    r#"host="shop" cid=1 rt=0.001 ua="127.0.0.2:81" us="502" urt="0.001" uct="-" uht="-""#;

fn access(cid: u32, path: &str, time: &str) -> String {
    format!(
        r#"10.0.0.1 - - [01/Jan/2024:12:00:{time} +0000] "GET {path} HTTP/1.1" 502 157 "-" "curl/8" {}"#,
        FORMAT_UPSTREAM.replace("cid=1", &format!("cid={cid}"))
    )
}

fn error(cid: u32, path: &str, time: &str, what: &str) -> String {
    format!(
        r#"2024/01/01 12:00:{time} [error] 29#29: *{cid} {what} while reading response header from upstream, client: 10.0.0.1, server: shop, request: "GET {path} HTTP/1.1", upstream: "http://127.0.0.2:81{path}", host: "shop""#
    )
}

#[test]
fn two_pods_whose_connection_numbers_collide_are_joined_apart() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "web-2  | /docker-entrypoint.sh: Configuration complete; ready for start up".to_owned(),
        format!("web-2  | {}", error(1, "/a", "00", "upstream prematurely closed connection")),
        format!("web-1  | {}", error(1, "/a", "00", "recv() failed (104: Connection reset by peer)")),
        format!("web-1  | {}", access(1, "/a", "00")),
        format!("web-2  | {}", access(1, "/a", "00")),
        "web-1  | 2024/01/01 12:00:01 [notice] 1#1: signal process started".to_owned(),
        "web-1  | nginx: [emerg] host not found in upstream".to_owned(),
    ];
    let path = dir.path().join("compose.log");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = report(&path);
    let input = &r["inputs"][0];
    assert_eq!(input["kind"], "stream");
    assert_eq!(input["format"], "compose prefix; access upstream");
    assert_eq!(
        (input["lines"].as_u64(), input["malformed"].as_u64(), input["other"].as_u64()),
        (Some(7), Some(0), Some(2))
    );
    let name = path.display().to_string();
    assert_eq!(
        causes(&path),
        [
            (format!("{name} (web-1)"), "reset_by_peer".to_owned()),
            (format!("{name} (web-2)"), "premature_close".to_owned())
        ]
    );
}

#[test]
fn cri_and_json_file_split_lines_are_joined_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let long_path = format!("/{}", "x".repeat(20_000));
    // nginx escapes non-ASCII bytes in its default escaping; `escape=none` keeps them.
    let a = access(7, &long_path, "00").replace("\"curl/8\"", "\"curl/8 é\"");
    let e = error(7, &long_path, "00", "upstream prematurely closed connection");
    // Split inside the two bytes of `é`, with the other stream between the parts.
    let cut = a.find('é').unwrap() + 1;
    let cri = [
        format!("2024-01-01T12:00:00.000000001Z stdout P {}", &a[..16_384]),
        format!("2024-01-01T12:00:00.000000002Z stderr F {e}"),
        format!(
            "2024-01-01T12:00:00.000000003Z stdout P {}",
            String::from_utf8_lossy(&a.as_bytes()[16_384..cut])
        ),
        "I0809 19:47:29.748303       6 leaderelection.go:184] successfully acquired lease".to_owned(),
    ];
    let mut bytes = cri.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n2024-01-01T12:00:00.000000004Z stdout F ");
    bytes.extend_from_slice(&a.as_bytes()[cut..]);
    bytes.push(b'\n');
    let path = dir.path().join("0.log");
    std::fs::write(&path, &bytes).unwrap();
    let r = report(&path);
    assert_eq!(r["inputs"][0]["format"], "CRI; access upstream");
    assert_eq!((r["inputs"][0]["lines"].as_u64(), r["inputs"][0]["other"].as_u64()), (Some(3), Some(1)));
    assert_eq!(causes(&path).iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["premature_close"]);

    let json = |log: &str, stream: &str| {
        serde_json::json!({"log": log, "stream": stream, "time": "2024-01-01T12:00:00.1Z"}).to_string()
    };
    let docker = [
        json(&a[..16_384], "stdout"),
        json(&format!("{e}\n"), "stderr"),
        json(&format!("{}\n", &a[16_384..]), "stdout"),
    ];
    let path = dir.path().join("c0ffee-json.log");
    std::fs::write(&path, docker.join("\n") + "\n").unwrap();
    let r = report(&path);
    assert_eq!(r["inputs"][0]["format"], "docker json-file; access upstream");
    assert_eq!(causes(&path).iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["premature_close"]);
}

#[test]
fn plain_access_and_error_logs_are_not_streams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, access(1, "/a", "00") + "\n").unwrap();
    assert_eq!(report(&path)["inputs"][0]["kind"], "access");
    std::fs::write(&path, error(1, "/a", "00", "upstream prematurely closed connection") + "\n").unwrap();
    assert_eq!(report(&path)["inputs"][0]["kind"], "error");
}

#[test]
fn pod_and_docker_directories_are_sources_named_after_their_pods() {
    let root = tempfile::tempdir().unwrap();
    let cri = |pipe: &str, line: &str| format!("2024-01-01T12:00:00.5Z {pipe} F {line}\n");
    let pod = |what: &str, time: &str| {
        [cri("stdout", &access(1, "/a", time)), cri("stderr", &error(1, "/a", time, what))].concat()
    };
    let pods = root.path().join("pods");
    let a = pods.join("shop_web-a_0f3c1b2a-9c1d-4e55-8a4b-1f2e3d4c5b6a/nginx");
    let b = pods.join("shop_web-b_1f3c1b2a-9c1d-4e55-8a4b-1f2e3d4c5b6a/nginx");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    // Pod A's older traffic, rotated and compressed by the kubelet; the current file after it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        pod("upstream timed out (110: Connection timed out)", "00")
            .replace("502 157", "504 157")
            .replace("us=\"502\"", "us=\"504\"")
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(a.join("0.log.20240101-120001.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(a.join("0.log"), pod("recv() failed (104: Connection reset by peer)", "05")).unwrap();
    std::fs::write(a.join("0.log.20240101-120002.gz.tmp"), "half a gzip").unwrap();
    std::fs::write(b.join("0.log"), pod("upstream prematurely closed connection", "05")).unwrap();
    let got = causes(&pods);
    let a_path = |f: &str| a.join(f).display().to_string();
    assert_eq!(
        got,
        [
            (format!("{} (shop/web-a/nginx)", a_path("0.log")), "reset_by_peer".to_owned()),
            (format!("{} (shop/web-a/nginx)", a_path("0.log.20240101-120001.gz")), "read_timeout".to_owned()),
            (format!("{} (shop/web-b/nginx)", b.join("0.log").display()), "premature_close".to_owned()),
        ]
    );

    let id = "c".repeat(64);
    let docker = root.path().join("containers").join(&id);
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.v2.json"), r#"{"Name":"/shop-web-1"}"#).unwrap();
    let json = |line: &str, stream: &str| {
        serde_json::json!({"log": format!("{line}\n"), "stream": stream, "time": "2024-01-01T12:00:05.1Z"})
            .to_string()
            + "\n"
    };
    let log = docker.join(format!("{id}-json.log"));
    std::fs::write(
        &log,
        json(&access(1, "/a", "05"), "stdout")
            + &json(&error(1, "/a", "05", "upstream prematurely closed connection"), "stderr"),
    )
    .unwrap();
    assert_eq!(
        causes(&root.path().join("containers")),
        [(format!("{} (shop-web-1)", log.display()), "premature_close".to_owned())]
    );
}

#[test]
fn a_stream_says_when_its_error_lines_are_missing_or_hidden() {
    let dir = tempfile::tempdir().unwrap();
    // `docker logs web > file`: stdout only, the entrypoint's lines and the access log.
    let path = dir.path().join("docker-logs.txt");
    let lines = [
        "/docker-entrypoint.sh: Configuration complete; ready for start up".to_owned(),
        access(1, "/a", "00"),
        access(2, "/b", "00").replace("502 157", "200 157").replace("us=\"502\"", "us=\"200\""),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let input = &report(&path)["inputs"][0];
    assert_eq!(
        (input["kind"].as_str(), input["other"].as_u64(), input["malformed"].as_u64()),
        (Some("stream"), Some(1), Some(0))
    );
    assert!(input["problem"].as_str().unwrap().contains("docker logs NAME > file 2>&1"), "{input}");

    // `error_log … crit;`: only the unix socket's [crit] line made it.
    let crit = r#"2024/01/01 12:00:00 [crit] 29#29: *9 connect() to unix:/run/app.sock failed (2: No such file or directory) while connecting to upstream, client: 10.0.0.1, server: shop, request: "GET /c HTTP/1.1", upstream: "http://unix:/run/app.sock:/c", host: "shop""#;
    let lines = [format!("web-1  | {crit}"), format!("web-1  | {}", access(1, "/a", "00"))];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let input = &report(&path)["inputs"][0];
    assert!(input["problem"].as_str().unwrap().contains("all [crit] or above"), "{input}");

    let lines = [
        format!("web-1  | {}", error(1, "/a", "00", "upstream prematurely closed connection")),
        format!("web-1  | {}", access(1, "/a", "00")),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    assert_eq!(report(&path)["inputs"][0]["problem"], Value::Null);
}

/// `kubectl logs -f --prefix --timestamps … | ngx502 live -`: each 502 is shown within a second
/// of its lines entering the pipe, and the session ends with the pipe.
#[test]
fn live_follows_a_pipe_within_a_second() {
    use std::io::{BufRead, Write};
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["live", "--output", "ndjson", "--error-log-offset", "+0000", "--quiet", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, rows) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send((Instant::now(), line));
        }
    });
    let prefix = |pod: &str| format!("[pod/web-7d9f-{pod}/nginx] 2024-01-01T12:00:00.123456789Z ");
    writeln!(stdin, "{}I0809 19:47:29.748303       6 leaderelection.go:184] acquired lease", prefix("a"))
        .unwrap();
    let mut latencies = Vec::new();
    for n in 0..6 {
        let time = format!("{:02}", 10 + n);
        let written = Instant::now();
        // The error line of pod a, then pod b's line with the same `*CID`, then a's access line.
        write!(
            stdin,
            "{a}{e}\n{b}{other}\n{a}{access}\n",
            a = prefix("a"),
            b = prefix("b"),
            e = error(1, &format!("/p/{n}"), &time, "upstream prematurely closed connection"),
            other = error(1, &format!("/p/{n}"), &time, "connect() failed (111: Connection refused)"),
            access = access(1, &format!("/p/{n}"), &time),
        )
        .unwrap();
        stdin.flush().unwrap();
        let (printed, row) = rows.recv_timeout(Duration::from_secs(5)).expect("the 502 is printed");
        let row: Value = serde_json::from_str(&row).unwrap();
        assert_eq!(
            (row["path"].as_str(), row["cause"].as_str()),
            (Some(&*format!("/p/{n}")), Some("premature_close"))
        );
        latencies.push(printed.duration_since(written));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "live ends when the pipe does");
    let summary: Vec<Value> = rows.try_iter().map(|(_, l)| serde_json::from_str(&l).unwrap()).collect();
    let inputs = &summary.last().expect("a summary")["summary"]["inputs"][0];
    assert_eq!((inputs["kind"].as_str(), inputs["other"].as_u64()), (Some("stream"), Some(1)), "{inputs}");
    latencies.sort();
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(1), "{latencies:?}");
}

mod interleavings {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ngx502::input::expand;
    use ngx502::input::sniff::builtin_candidates;
    use ngx502::pipeline::{analyze, Options};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn sample(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs").join(name)
    }

    /// `(request, time) → cause` of every client-facing failure.
    fn diagnosis(paths: &[PathBuf]) -> BTreeMap<(String, Option<i64>), &'static str> {
        let (specs, _) = expand(paths, None);
        let analysis =
            analyze(&specs, &Options { formats: builtin_candidates(), quiet: true, ..Options::default() });
        analysis
            .correlation
            .events
            .iter()
            .filter(|e| e.client_facing())
            .map(|e| {
                let request = String::from_utf8_lossy(e.request.request().unwrap_or_default()).into_owned();
                ((request, e.request.time), e.cause.slug())
            })
            .collect()
    }

    fn config() -> Config {
        let mut config = Config { cases: 32, failure_persistence: None, ..Config::default() };
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            config.rng_seed = RngSeed::Fixed(0x7374_7265_616d);
        }
        config
    }

    proptest! {
        #![proptest_config(config())]

        /// Any interleaving of an access and an error log (each in its own order, as a runtime
        /// copies each pipe in order), plain or behind a compose prefix, gives every request the
        /// diagnosis of the two files.
        #[test]
        fn any_interleaving_gives_the_two_file_diagnosis(
            picks in proptest::collection::vec(any::<bool>(), 1200),
            prefix in prop_oneof![Just(""), Just("web-1  | "), Just("2024-01-01T00:00:00.123456789Z ")],
        ) {
            let access = std::fs::read_to_string(sample("access.log")).unwrap();
            let error = std::fs::read_to_string(sample("error.log")).unwrap();
            let (mut a, mut e) = (access.lines().peekable(), error.lines().peekable());
            let mut picks = picks.into_iter().chain(std::iter::repeat(true));
            let mut stream = String::new();
            while a.peek().is_some() || e.peek().is_some() {
                let from_access = picks.next().unwrap_or(true);
                let line = if (from_access && a.peek().is_some()) || e.peek().is_none() { a.next() } else { e.next() };
                stream.push_str(prefix);
                stream.push_str(line.unwrap_or_default());
                stream.push('\n');
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("stream.log");
            std::fs::write(&path, stream).unwrap();
            let want = diagnosis(&[sample("access.log"), sample("error.log")]);
            prop_assert!(want.len() > 50);
            prop_assert_eq!(diagnosis(&[path]), want);
        }
    }
}
