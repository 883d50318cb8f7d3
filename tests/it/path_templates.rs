//! Top failing paths grouped into templates (`/orders/{id}`) with their count and two examples,
//! in JSON and text; `--raw-paths` lists them as they are.

use std::process::Command;

use serde_json::Value;

use crate::support::accounting::checked;

/// A combined-format access log: 502s on three orders, two users' avatars (UUIDs), a report by
/// date with a query string, and one plain path.
fn access_log(dir: &std::path::Path) -> String {
    let paths = [
        "/orders/1041",
        "/orders/1042",
        "/orders/1041",
        "/orders/1043",
        "/u/123e4567-e89b-12d3-a456-426614174000/avatar",
        "/u/00000000-0000-4000-8000-000000000001/avatar",
        "/reports/2024-05-14?format=csv",
        "/health",
    ];
    let mut log = String::new();
    for (i, path) in paths.iter().enumerate() {
        log.push_str(&format!(
            "203.0.113.{i} - - [14/May/2024:10:00:{i:02} +0000] \"GET {path} HTTP/1.1\" 502 157 \"-\" \"curl/8.0\"\n"
        ));
        log.push_str(&format!(
            "203.0.113.{i} - - [14/May/2024:10:00:{i:02} +0000] \"GET /ok HTTP/1.1\" 200 157 \"-\" \"curl/8.0\"\n"
        ));
    }
    let path = dir.join("access.log");
    std::fs::write(&path, log).unwrap();
    path.to_str().unwrap().to_owned()
}

fn report(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let log = access_log(dir.path());
    let mut all = vec!["report", &log, "-q", "--output", "json"];
    all.extend_from_slice(args);
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(&all).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    checked(&out.stdout)
}

/// `(path, count, examples)` of the top paths.
fn rows(report: &Value) -> Vec<(String, u64, Vec<String>)> {
    report["top_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let examples = p
                .get("examples")
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |e| e.iter().map(|x| x.as_str().unwrap().to_owned()).collect());
            (p["path"].as_str().unwrap().to_owned(), p["count"].as_u64().unwrap(), examples)
        })
        .collect()
}

#[test]
fn ids_group_into_templates_with_two_examples() {
    let r = report(&[]);
    assert_eq!(r["totals"]["failures"], 8);
    assert_eq!(
        rows(&r),
        [
            ("/orders/{id}".to_owned(), 4, vec!["/orders/1041".to_owned(), "/orders/1042".to_owned()]),
            (
                "/u/{uuid}/avatar".to_owned(),
                2,
                vec![
                    "/u/123e4567-e89b-12d3-a456-426614174000/avatar".to_owned(),
                    "/u/00000000-0000-4000-8000-000000000001/avatar".to_owned()
                ]
            ),
            ("/health".to_owned(), 1, vec![]),
            ("/reports/{date}".to_owned(), 1, vec!["/reports/2024-05-14".to_owned()]),
        ]
    );
    // The cause's own path list is templated too.
    assert_eq!(r["causes"][0]["top_paths"][0], serde_json::json!(["/orders/{id}", 4]));
}

#[test]
fn raw_paths_lists_them_as_they_are() {
    let r = report(&["--raw-paths"]);
    let listed: Vec<(String, u64)> = rows(&r)
        .into_iter()
        .map(|(p, n, e)| {
            assert!(e.is_empty());
            (p, n)
        })
        .collect();
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[0], ("/orders/1041".to_owned(), 2));
}

#[test]
fn text_shows_the_template_and_its_examples() {
    let dir = tempfile::tempdir().unwrap();
    let log = access_log(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_ngx502")).args(["report", &log, "-q"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let table: Vec<&str> = text.lines().skip_while(|l| *l != "Top failing paths").skip(2).take(1).collect();
    assert_eq!(table.len(), 1, "{text}");
    assert!(table[0].starts_with("  /orders/{id}"), "{table:?}");
    assert!(table[0].ends_with("/orders/1041, /orders/1042"), "{table:?}");
}
