//! Real nginx traffic delivered as platforms deliver it: the logs a private nginx wrote are
//! re-written as the stream each platform gives (compose, forego inside compose, kubectl with
//! `--timestamps` and `--prefix`, CRI node files from containerd and CRI-O, Docker's json-file,
//! a TTY container, syslog as nginx sends it, rsyslog's file, journald), interleaved as runtimes
//! interleave them: stdout and stderr in arbitrary order within a second, long lines split with
//! the other stream's lines between the parts, other programs' lines between nginx's, and two
//! pods whose nginx count connections from 1 alike. Every client-facing 5xx must get the cause
//! the two plain files give it, per request, in every wrapper.
//!
//! Pod B replays pod A's traffic with every third upstream error line missing, so a request of B
//! has the same `*CID`, request line and second as A's but, for those, a different diagnosis:
//! any pairing of one pod's access line with the other's error line shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::support::lab::{self, Lab};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pipe {
    Out,
    Err,
}

/// One line as nginx (or another program in the container) wrote it.
struct Line {
    pod: usize,
    pipe: Pipe,
    text: String,
    /// Local wall-clock second, `YYYY-MM-DD HH:MM:SS`.
    second: String,
}

/// A small deterministic generator: the interleaving is random but the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The local second of an access line (`[25/Nov/2026:21:33:25 +0530]`) or an error line.
fn second_of(line: &str) -> Option<String> {
    if line.as_bytes().get(4) == Some(&b'/') {
        return Some(line.get(..19)?.replace('/', "-"));
    }
    let t = &line[line.find(" [")? + 2..];
    let month = MONTHS.iter().position(|m| t.get(3..6) == Some(*m))? + 1;
    Some(format!("{}-{month:02}-{} {}", t.get(7..11)?, t.get(..2)?, t.get(12..20)?))
}

/// The lines of both pods in the order a runtime may deliver them: by second, shuffled within
/// it, with other programs' lines around nginx's.
fn delivered(pods: &[(String, String)], rng: &mut Rng) -> Vec<Line> {
    let mut lines = Vec::new();
    for (pod, (access, error)) in pods.iter().enumerate() {
        let first = second_of(access.lines().next().unwrap()).unwrap();
        for (pipe, text) in [
            (Pipe::Out, "/docker-entrypoint.sh: Configuration complete; ready for start up"),
            (Pipe::Err, "nginx: [warn] the \"user\" directive makes sense only if the master process runs with super-user privileges"),
            (Pipe::Err, "I0809 19:47:29.748303       6 leaderelection.go:184] successfully acquired lease ingress-nginx/ingress-controller-leader"),
        ] {
            lines.push(Line { pod, pipe, text: text.into(), second: first.clone() });
        }
        for (pipe, log) in [(Pipe::Out, access), (Pipe::Err, error)] {
            let mut second = first.clone();
            for text in log.lines() {
                second = second_of(text).unwrap_or(second);
                lines.push(Line { pod, pipe, text: text.into(), second: second.clone() });
            }
        }
    }
    // One queue per (pod, pipe), in file order: a runtime copies each pipe in order, but which
    // pipe's line of a second comes first is anyone's guess.
    let mut queues: BTreeMap<(usize, bool), std::collections::VecDeque<Line>> = BTreeMap::new();
    for l in lines {
        queues.entry((l.pod, l.pipe == Pipe::Out)).or_default().push_back(l);
    }
    let mut out = Vec::new();
    loop {
        let heads: Vec<(&(usize, bool), &str)> =
            queues.iter().filter_map(|(k, q)| q.front().map(|l| (k, l.second.as_str()))).collect();
        let Some(earliest) = heads.iter().map(|(_, s)| *s).min() else { break };
        let ready: Vec<(usize, bool)> =
            heads.iter().filter(|(_, s)| *s == earliest).map(|(k, _)| **k).collect();
        let key = ready[rng.below(ready.len())];
        out.extend(queues.get_mut(&key).and_then(|q| q.pop_front()));
    }
    out
}

/// How one platform writes a line (or a part of a split line) of a pod.
struct Part<'a> {
    pod: usize,
    pipe: Pipe,
    /// UTC, as Docker and kubectl stamp; `local` is the node's zone (CRI).
    utc: NaiveDateTime,
    local: NaiveDateTime,
    nanos: u32,
    body: &'a [u8],
    partial: bool,
}

struct Wrapper {
    name: &'static str,
    /// The name each pod gets in the stream (one entry: one unnamed source).
    pods: &'static [&'static str],
    /// Whether the runtime splits long lines (CRI `P`/`F`, json-file fragments).
    splits: bool,
    render: fn(&Part<'_>) -> Vec<u8>,
}

fn stamp9(t: &NaiveDateTime, nanos: u32) -> String {
    format!("{}.{nanos:09}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn syslog_time(t: &NaiveDateTime) -> String {
    t.format("%b %e %H:%M:%S").to_string()
}

const WRAPPERS: &[Wrapper] = &[
    Wrapper { name: "interleaved", pods: &[""], splits: false, render: |p| p.body.to_vec() },
    Wrapper {
        name: "compose",
        pods: &["web-1", "web-2"],
        splits: false,
        render: |p| cat(&[["web-1  | ", "web-2  | "][p.pod].as_bytes(), p.body]),
    },
    Wrapper {
        name: "compose-colour-timestamps",
        pods: &["web-1", "web-2"],
        splits: false,
        render: |p| {
            let prefix = ["\x1b[36mweb-1  | \x1b[0m", "\x1b[33mweb-2  | \x1b[0m"][p.pod];
            cat(&[prefix.as_bytes(), stamp9(&p.utc, p.nanos).as_bytes(), b" ", p.body])
        },
    },
    Wrapper {
        name: "compose-around-forego",
        pods: &["proxy_1", "proxy_2"],
        splits: false,
        render: |p| {
            let prefix = [
                "proxy_1  | \x1b[0;33;1mnginx.1     | \x1b[0m",
                "proxy_2  | \x1b[0;33;1mnginx.1     | \x1b[0m",
            ];
            cat(&[prefix[p.pod].as_bytes(), p.body])
        },
    },
    Wrapper {
        name: "kubectl-timestamps",
        pods: &[""],
        splits: false,
        render: |p| cat(&[stamp9(&p.utc, p.nanos).as_bytes(), b" ", p.body]),
    },
    Wrapper {
        name: "kubectl-prefix-timestamps",
        pods: &["pod/web-7d9f-abcde/nginx", "pod/web-7d9f-fghij/nginx"],
        splits: false,
        render: |p| {
            let prefix = ["[pod/web-7d9f-abcde/nginx] ", "[pod/web-7d9f-fghij/nginx] "][p.pod];
            cat(&[prefix.as_bytes(), stamp9(&p.utc, p.nanos).as_bytes(), b" ", p.body])
        },
    },
    Wrapper {
        name: "cri-containerd",
        pods: &[""],
        splits: true,
        render: |p| {
            // containerd: RFC3339Nano, trailing zeros trimmed, in the node's zone (UTC here).
            let fraction = format!("{:09}", p.nanos);
            let fraction = fraction.trim_end_matches('0');
            let dot = if fraction.is_empty() { "" } else { "." };
            let ts = format!("{}{dot}{fraction}Z", p.utc.format("%Y-%m-%dT%H:%M:%S"));
            let head = format!("{ts} {} {} ", pipe_name(p.pipe), if p.partial { "P" } else { "F" });
            cat(&[head.as_bytes(), p.body])
        },
    },
    Wrapper {
        name: "cri-o",
        pods: &[""],
        splits: true,
        render: |p| {
            let ts = format!("{}.{:09}+05:30", p.local.format("%Y-%m-%dT%H:%M:%S"), p.nanos);
            let head = format!("{ts} {} {} ", pipe_name(p.pipe), if p.partial { "P" } else { "F" });
            cat(&[head.as_bytes(), p.body])
        },
    },
    Wrapper { name: "docker-json-file", pods: &[""], splits: true, render: |p| json_file(p, false) },
    // A TTY has one stream: the parts of a split line are never apart, so they are not split here.
    Wrapper { name: "docker-json-file-tty", pods: &[""], splits: false, render: |p| json_file(p, true) },
    Wrapper {
        name: "syslog-from-nginx",
        pods: &["web01", "web02"],
        splits: false,
        render: |p| {
            // local7: info for access lines, err for error lines; pod B with `nohostname` would be
            // unnamed, so both name their host.
            let pri = if p.pipe == Pipe::Out { 190 } else { 187 };
            let head = format!("<{pri}>{} {} nginx: ", syslog_time(&p.local), ["web01", "web02"][p.pod]);
            cat(&[head.as_bytes(), p.body])
        },
    },
    Wrapper {
        name: "rsyslog-file",
        pods: &["web01", "web02"],
        splits: false,
        render: |p| {
            let head = format!("{} {} nginx: ", syslog_time(&p.local), ["web01", "web02"][p.pod]);
            cat(&[head.as_bytes(), p.body])
        },
    },
    Wrapper {
        name: "journald",
        pods: &["box"],
        splits: false,
        render: |p| {
            // Access lines through syslog to /dev/log without `nohostname`: nginx's own header
            // stays in the message. Error lines on stderr, straight into the journal.
            let inner: &[u8] = if p.pipe == Pipe::Out { b"box nginx: " } else { b"" };
            let head = format!("{} box nginx[30946]: ", syslog_time(&p.local));
            cat(&[head.as_bytes(), inner, p.body])
        },
    },
];

fn pipe_name(pipe: Pipe) -> &'static str {
    if pipe == Pipe::Out {
        "stdout"
    } else {
        "stderr"
    }
}

/// Docker's json-file entry: `<`, `>`, `&` escaped as Docker escapes them; a TTY container has
/// one stream and `\r\n` endings.
fn json_file(p: &Part<'_>, tty: bool) -> Vec<u8> {
    let mut log = String::from_utf8_lossy(p.body).into_owned();
    if !p.partial {
        log.push_str(if tty { "\r\n" } else { "\n" });
    }
    let stream = if tty { "stdout" } else { pipe_name(p.pipe) };
    let time =
        format!("{}.{}Z", p.utc.format("%Y-%m-%dT%H:%M:%S"), format!("{:09}", p.nanos).trim_end_matches('0'));
    let entry = serde_json::json!({"log": log, "stream": stream, "time": time}).to_string();
    entry.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026").into_bytes()
}

/// The physical lines a runtime writes for one logical line.
type Parts = Vec<Vec<u8>>;

fn put(out: &mut Vec<u8>, parts: Parts) {
    for part in parts {
        out.extend(part);
        out.push(b'\n');
    }
}

/// Writes `lines` as `w` does, splitting about a quarter of the lines of a splitting runtime
/// into parts with the other pipes' lines between them.
fn write_stream(w: &Wrapper, lines: &[Line], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    // Parts still to write, per (pod, pipe): they must come before that pipe's next line.
    let mut waiting: Vec<((usize, bool), Parts)> = Vec::new();
    for l in lines.iter().filter(|l| l.pod < w.pods.len()) {
        let key = (l.pod, l.pipe == Pipe::Out);
        if let Some(i) = waiting.iter().position(|(k, _)| *k == key) {
            put(&mut out, waiting.swap_remove(i).1);
        }
        let local = NaiveDateTime::parse_from_str(&l.second, "%Y-%m-%d %H:%M:%S").unwrap();
        let utc = local - chrono::Duration::seconds(19_800);
        let body = l.text.as_bytes();
        let mut cuts = vec![0];
        if w.splits && body.len() > 8 && rng.below(4) == 0 {
            for _ in 0..1 + rng.below(2) {
                // Any byte for CRI (a cut can fall inside a UTF-8 character); json-file
                // fragments are strings, cut between characters.
                let mut at = 1 + rng.below(body.len() - 1);
                while !l.text.is_char_boundary(at) {
                    at += 1;
                }
                cuts.push(at);
            }
        }
        cuts.push(body.len());
        cuts.sort_unstable();
        cuts.dedup();
        let parts: Vec<Vec<u8>> = cuts
            .windows(2)
            .enumerate()
            .map(|(k, c)| {
                let partial = k + 2 < cuts.len();
                let nanos = (rng.next() % 1_000_000_000) as u32;
                (w.render)(&Part {
                    pod: l.pod,
                    pipe: l.pipe,
                    utc,
                    local,
                    nanos,
                    body: &body[c[0]..c[1]],
                    partial,
                })
            })
            .collect();
        let (first, rest) = parts.split_first().unwrap();
        put(&mut out, vec![first.clone()]);
        // Earlier split lines of other pipes end now, after this line: the other stream sits
        // between their parts.
        for (_, parts) in std::mem::take(&mut waiting) {
            put(&mut out, parts);
        }
        if !rest.is_empty() {
            waiting.push((key, rest.to_vec()));
        }
    }
    for (_, parts) in waiting {
        put(&mut out, parts);
    }
    out
}

/// `(pod, request) → cause` for every client-facing failure `export` lists.
fn causes(inputs: &[&Path], names: &[&str]) -> BTreeMap<(usize, String), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["export", "--format", "ndjson", "-q"])
        .args(inputs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut map = BTreeMap::new();
    for row in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(row).unwrap();
        let source = v["source"].as_str().unwrap();
        let pod =
            names.iter().position(|n| !n.is_empty() && source.ends_with(&format!(" ({n})"))).unwrap_or(0);
        let key =
            (pod, format!("{} {}", v["request"].as_str().unwrap_or("-"), v["time"].as_str().unwrap_or("-")));
        let previous = map.insert(key.clone(), v["cause"].as_str().unwrap().to_owned());
        assert!(previous.is_none(), "{key:?} twice in {inputs:?}");
    }
    map
}

#[test]
fn real_nginx_through_every_wrapper() {
    let Some(bin) = lab::prerequisites("real_nginx_through_every_wrapper") else {
        return;
    };
    let tmp = tempfile::Builder::new().prefix("ngx502-streams.").tempdir_in("/tmp").expect("temp dir");
    // `notice`, as the official image logs: start and stop lines join the stream.
    let lab = Arc::new(Lab::start(&bin, tmp.path(), "notice"));
    let sent = lab.fire(1);
    let mut lab = Arc::try_unwrap(lab).ok().expect("lab still shared");
    lab.stop();
    let dir = tmp.path();
    let error = std::fs::read_to_string(dir.join("error.log")).unwrap();
    let mut dropped = 0;
    let error_b: String = error
        .lines()
        .filter(|l| {
            !(l.contains(", upstream: \"") && {
                dropped += 1;
                dropped % 3 == 0
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("error.b.log"), &error_b).unwrap();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (format, file) in [("upstream", "access.upstream.log"), ("combined", "access.combined.log")] {
        let access = std::fs::read_to_string(dir.join(file)).unwrap();
        // The truth per pod: its two plain files.
        let mut expected = BTreeMap::new();
        for (pod, error_file) in ["error.log", "error.b.log"].iter().enumerate() {
            for ((_, request), cause) in causes(&[&dir.join(file), &dir.join(error_file)], &[""]) {
                expected.insert((pod, request), cause);
            }
        }
        let client_facing = sent.iter().filter(|s| s.status >= 500 || s.status == 9).count();
        assert_eq!(expected.len(), 2 * client_facing, "{format}: the plain files list every failure");
        let both = [(access.clone(), error.clone()), (access.clone(), error_b.clone())];
        let mut rng = Rng(0x5eed_0000 + access.len() as u64);
        let lines = delivered(&both, &mut rng);
        for w in WRAPPERS {
            let path = dir.join(format!("stream.{format}.{}.log", w.name));
            std::fs::write(&path, write_stream(w, &lines, &mut rng)).unwrap();
            let got = causes(&[&path], w.pods);
            let want: BTreeMap<_, _> = expected.iter().filter(|((pod, _), _)| *pod < w.pods.len()).collect();
            let same = want.iter().filter(|(k, cause)| got.get(*k) == Some(cause)).count();
            checked += want.len();
            if same != want.len() || got.len() != want.len() {
                let wrong: Vec<String> = want
                    .iter()
                    .filter(|(k, cause)| got.get(*k) != Some(cause))
                    .take(5)
                    .map(|(k, cause)| format!("{k:?}: want {cause}, got {:?}", got.get(*k)))
                    .collect();
                problems.push(format!(
                    "{format} through {}: {same} of {} failures right, {} listed; {}",
                    w.name,
                    want.len(),
                    got.len(),
                    wrong.join("; ")
                ));
            }
        }
    }
    assert!(checked > 500, "only {checked} failures checked");
    if !problems.is_empty() {
        let kept = tmp.keep();
        panic!(
            "streams disagree with the plain files (kept in {}):\n  {}",
            kept.display(),
            problems.join("\n  ")
        );
    }
}

/// Writes `sample-streams/docker-compose.log`: the traffic of `sample-logs/` (which real nginx
/// wrote) as `docker compose logs` delivers it, and checks that it gives every request the
/// diagnosis of the plain files. Run through scripts/regen-sample-logs.sh.
#[test]
#[ignore = "rewrites sample-streams/; run scripts/regen-sample-logs.sh"]
fn regenerate_sample_stream() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("sample-logs");
    let mut access = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(sample.join("access.log.1.gz")).unwrap()),
        &mut access,
    )
    .unwrap();
    access.push_str(&std::fs::read_to_string(sample.join("access.log")).unwrap());
    let error = std::fs::read_to_string(sample.join("error.log")).unwrap();
    let compose = WRAPPERS.iter().find(|w| w.name == "compose").unwrap();
    let mut rng = Rng(0x0063_6f6d_706f_7365);
    let lines = delivered(&[(access, error)], &mut rng);
    let out = root.join("sample-streams");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("docker-compose.log");
    std::fs::write(&path, write_stream(compose, &lines, &mut rng)).unwrap();
    let plain = ["access.log.1.gz", "access.log", "error.log"].map(|f| sample.join(f));
    let want = causes(&plain.iter().map(PathBuf::as_path).collect::<Vec<_>>(), &[""]);
    assert_eq!(causes(&[&path], compose.pods), want, "the sample stream tells the story of the plain files");
}
