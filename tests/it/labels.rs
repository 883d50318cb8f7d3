//! `--label KEY=VALUE` over the logs a real nginx wrote in `sample-logs/`: the JSON `labels`
//! object, the labels on every Prometheus sample, a `label_KEY` field per NDJSON row, and a fleet
//! merge that keeps the failures by host.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::accounting::checked;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-logs");

fn ngx502(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(args).output().expect("running ngx502");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn report_json_and_text_carry_the_labels() {
    let out =
        ngx502(&["report", SAMPLE, "-q", "--output", "json", "--label", "host=web1", "--label", "dc=fra"]);
    let report = checked(&out.stdout);
    assert_eq!(report["labels"], serde_json::json!({"dc": "fra", "host": "web1"}));
    assert!(report.get("by_label").is_none());
    let text = String::from_utf8(ngx502(&["report", SAMPLE, "-q", "--label", "host=web1"]).stdout).unwrap();
    assert_eq!(text.lines().nth(2), Some("  Labels: host=web1"));
}

#[test]
fn every_prometheus_sample_has_the_labels() {
    let out = ngx502(&[
        "report",
        SAMPLE,
        "-q",
        "--output",
        "prometheus",
        "--label",
        "host=web1",
        "--label",
        "dc=fra",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.len() > 40, "{} samples", samples.len());
    for sample in &samples {
        assert!(
            sample.contains(",dc=\"fra\",host=\"web1\"} ") || sample.contains("{dc=\"fra\",host=\"web1\"} "),
            "{sample}"
        );
    }
    assert!(samples.contains(&"ngx502_failures_total{cause=\"read_timeout\",upstream=\"127.0.0.1:34147\",dc=\"fra\",host=\"web1\"} 18"));
    // The same numbers as without labels.
    let plain =
        String::from_utf8(ngx502(&["report", SAMPLE, "-q", "--output", "prometheus"]).stdout).unwrap();
    assert_eq!(
        text.replace(",dc=\"fra\",host=\"web1\"}", "}").replace("{dc=\"fra\",host=\"web1\"}", ""),
        plain
    );
}

#[test]
fn ndjson_rows_have_a_field_per_label() {
    let out = ngx502(&["export", SAMPLE, "-q", "--label", "host=web1", "--status", "504"]);
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 18);
    for row in &rows {
        assert_eq!(row["label_host"], "web1");
        assert_eq!(row["host"], "shop.example.test", "the request's Host stays in its own field");
    }
}

#[test]
fn merge_keeps_the_failures_by_host() {
    let dir = tempfile::tempdir().unwrap();
    let web1 = dir.path().join("web1.json");
    let web2 = dir.path().join("web2.json");
    let (w1, w2) = (web1.to_str().unwrap(), web2.to_str().unwrap());
    let host_report = |out: &str, host: &str, extra: &[&str]| {
        let label = format!("host={host}");
        let args =
            ["report", SAMPLE, "-q", "--output", "json", "-o", out, "--label", &label, "--label", "dc=fra"];
        ngx502(&[&args[..], extra].concat());
    };
    host_report(w1, "web1", &[]);
    // web2 saw only the refused connections (the same logs, filtered).
    host_report(w2, "web2", &["--path", "^/refused/"]);
    for host in [&web1, &web2] {
        checked(&std::fs::read(host).unwrap());
    }
    let merged = checked(&ngx502(&["merge", w1, w2]).stdout);
    assert_eq!(merged["labels"], serde_json::json!({"dc": "fra"}), "shared labels stay");
    assert_eq!(merged["totals"]["failures"], 156 + 18);
    let hosts: Vec<(String, u64, u64)> = merged["by_label"]["host"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["value"].as_str().unwrap().to_owned(),
                r["requests"].as_u64().unwrap(),
                r["failures"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hosts, [("web1".to_owned(), 264, 156), ("web2".to_owned(), 126, 18)]);
    assert_eq!(merged["by_label"]["host"][1]["by_cause"], serde_json::json!({"connect_refused": 18}));

    let text = String::from_utf8(ngx502(&["merge", w1, w2, "--output", "text"]).stdout).unwrap();
    let table: Vec<&str> = text.lines().skip_while(|l| *l != "Failures by host").take(4).collect();
    assert_eq!(table[0], "Failures by host");
    assert_eq!(table[1], "  host  hosts  requests  failures   rate  causes");
    assert!(
        table[2].starts_with("  web1      1       264       156  59.1%  connect_refused 19, "),
        "{table:?}"
    );
    assert_eq!(table[3], "  web2      1       126        18  14.3%  connect_refused 18");
}

#[test]
fn bad_labels_are_usage_errors() {
    for (args, message) in [
        (&["--label", "web1"][..], "is not KEY=VALUE"),
        (&["--label", "cause=x"], "already use"),
        (&["--label", "a=1", "--label", "a=2"], "given twice"),
    ] {
        let mut all = vec!["report", SAMPLE, "-q"];
        all.extend_from_slice(args);
        let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(&all).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{args:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502"))
        .args(["export", SAMPLE, "-o", "/nonexistent", "--partition", "day,host"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--partition host: no --label host=VALUE was given")
    );
}
