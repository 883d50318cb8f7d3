//! Tests of the `--fail-on` grammar and of rules evaluated against reports.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::report::schema::{CauseRow, Period, Totals};

fn upstream(name: &str, requests: Option<u64>, c502: u64, refused: u64) -> UpstreamRow {
    UpstreamRow {
        requests,
        errors_by_cause: BTreeMap::from([("connect_refused", refused)]),
        client_502: c502,
        failed_attempts: refused + 2,
        hidden_failures: 2,
        ..UpstreamRow::new(name.into())
    }
}

/// 1000 requests, 23 × 502 (all connect_refused), 10 × 504; two upstreams.
fn report() -> Report {
    let info = Cause::ConnectRefused.info();
    Report {
        schema: crate::report::schema::SCHEMA.to_owned(),
        totals: Totals {
            requests: 1000,
            by_status: BTreeMap::from([("200".into(), 967), ("502".into(), 23), ("504".into(), 10)]),
            failures: 33,
            lines_read: 1005,
            parsed: 1000,
            malformed_lines: 5,
            filtered: 0,
            other: 0,
            access_logs: true,
        },
        causes: vec![CauseRow {
            cause: info.slug,
            count: 23,
            share: 0.7,
            statuses: BTreeMap::new(),
            summary: info.summary,
            fix: info.fix,
            evidence: Vec::new(),
            top_paths: Vec::new(),
            findings: Vec::new(),
            citations: Vec::new(),
        }],
        upstreams: vec![
            upstream("10.0.1.11:8080", Some(400), 20, 20),
            upstream("10.0.1.12:8080", Some(600), 3, 3),
        ],
        top_paths: Vec::new(),
        timeline: Vec::new(),
        incidents: Vec::new(),
        inputs: Vec::new(),
        unmatched_error_lines: 0,
        error_lines: Default::default(),
        advice: Vec::new(),
        period: Period { first: None, last: None, bucket_seconds: 60 },
        filters: Vec::new(),
        labels: BTreeMap::new(),
        by_label: BTreeMap::new(),
    }
}

fn fired(rule: &str, report: &Report) -> Option<String> {
    Rule::parse(rule).unwrap().check(report).map(|b| b.to_string())
}

#[test]
fn rates_compare_exactly_against_percentages() {
    let r = report();
    assert_eq!(fired("rate_502>1%", &r).as_deref(), Some("rate_502 = 2.3% > 1% (--fail-on 'rate_502>1%')"));
    assert_eq!(fired("rate_502>2.3%", &r), None);
    assert_eq!(
        fired("rate_502>=2.3%", &r).as_deref(),
        Some("rate_502 = 2.3% >= 2.3% (--fail-on 'rate_502>=2.3%')")
    );
    assert_eq!(
        fired("rate_504 == 1%", &r).as_deref(),
        Some("rate_504 = 1% == 1% (--fail-on 'rate_504 == 1%')")
    );
    assert_eq!(fired("rate_5xx>3.3%", &r), None);
    assert_eq!(
        fired("rate_5xx>3.29%", &r).as_deref(),
        Some("rate_5xx = 3.3% > 3.29% (--fail-on 'rate_5xx>3.29%')")
    );
}

#[test]
fn counts_read_the_right_fields() {
    let r = report();
    assert_eq!(
        fired("count(connect_refused)>22", &r).as_deref(),
        Some("count(connect_refused) = 23 > 22 (--fail-on 'count(connect_refused)>22')")
    );
    assert_eq!(fired("count(connect_refused)>23", &r), None);
    assert_eq!(
        fired("count(read_timeout)<1", &r).as_deref(),
        Some("count(read_timeout) = 0 < 1 (--fail-on 'count(read_timeout)<1')")
    );
    assert_eq!(
        fired("count(504)>=10", &r).as_deref(),
        Some("count(504) = 10 >= 10 (--fail-on 'count(504)>=10')")
    );
    assert_eq!(fired("failures>32", &r).as_deref(), Some("failures = 33 > 32 (--fail-on 'failures>32')"));
    assert_eq!(
        fired("hidden_failures>=4", &r).as_deref(),
        Some("hidden_failures = 4 >= 4 (--fail-on 'hidden_failures>=4')")
    );
    assert_eq!(fired("malformed_lines>5", &r), None);
    assert_eq!(
        fired("requests<1001", &r).as_deref(),
        Some("requests = 1000 < 1001 (--fail-on 'requests<1001')")
    );
}

#[test]
fn upstream_scope_reads_its_row() {
    let r = report();
    let rule = r#"rate_5xx{upstream="10.0.1.11:8080"}>4.9%"#;
    assert_eq!(
        fired(rule, &r).as_deref(),
        Some(
            r#"rate_5xx{upstream="10.0.1.11:8080"} = 5% > 4.9% (--fail-on 'rate_5xx{upstream="10.0.1.11:8080"}>4.9%')"#
        )
    );
    assert_eq!(fired(r#"rate_5xx{ upstream = "10.0.1.12:8080" }>4.9%"#, &r), None);
    assert_eq!(fired(r#"count(502){upstream="10.0.1.12:8080"}==3"#, &r).map(|_| ()), Some(()));
}

#[test]
fn unknown_values_count_as_breached() {
    let mut r = report();
    assert_eq!(
        fired(r#"rate_502{upstream="10.9.9.9:80"}>1%"#, &r).as_deref(),
        Some(
            r#"rate_502{upstream="10.9.9.9:80"} cannot be evaluated: the report names no such upstream (--fail-on 'rate_502{upstream="10.9.9.9:80"}>1%')"#
        )
    );
    r.upstreams[0].requests = None;
    assert!(fired(r#"rate_502{upstream="10.0.1.11:8080"}>50%"#, &r).unwrap().contains("no $upstream_addr"));
    r.totals.access_logs = false;
    assert!(fired("rate_502>50%", &r).unwrap().contains("no access log was read"));
    assert_eq!(fired("count(connect_refused)>100", &r), None);
}

fn problem(rule: &str) -> String {
    Rule::parse(rule).unwrap_err().problem
}

#[test]
fn bad_rules_say_what_was_expected() {
    assert_eq!(
        problem("rate_502>1"),
        "rate_502 is a share: write the threshold as a percentage, e.g. rate_502>1%"
    );
    assert_eq!(
        problem("count(read_timeout)>10%"),
        "count(read_timeout) is a count: write the threshold without '%', e.g. count(read_timeout)>10"
    );
    assert_eq!(problem("rate_503>1%"), "unknown metric 'rate_503'");
    assert_eq!(
        problem("count(read_timeot)>1"),
        "count(read_timeot) names neither a cause slug (`ngx502 explain` lists them) nor a status like 502"
    );
    assert_eq!(
        problem("rate_502 => 1%"),
        "expected a comparator (> >= < <= ==) after rate_502, found '=> 1%'"
    );
    assert_eq!(problem("rate_502>>1%"), "expected a number like 10 or 1.5%, found '>1%'");
    assert_eq!(problem("failures>10 or so"), "unexpected 'or so' after the value");
    assert_eq!(problem("rate_502>120%"), "rate_502 is a share and cannot exceed 100%");
    assert_eq!(problem("count(read_timeout"), "expected ')' to close count(read_timeout");
    assert_eq!(
        problem("malformed_lines{upstream=\"a\"}>1"),
        "malformed_lines has no per-upstream value (only count(502) and count(504) do)"
    );
    assert_eq!(
        problem("failures{host=\"a\"}>1"),
        "expected upstream=\"ADDR\" after '{', found 'host=\"a\"}>1'"
    );
    assert_eq!(problem(""), "expected a metric, found the end");
    assert_eq!(problem("failures>1.5.2"), "unexpected '.2' after the value");
    let message = Rule::parse("rate_502>1").unwrap_err().to_string();
    assert!(message.starts_with("rate_502 is a share: write the threshold as a percentage, e.g. rate_502>1% in 'rate_502>1'; a rule is METRIC"), "{message}");
}

#[test]
fn terminal_escapes_in_rules_are_neutralised() {
    let message = Rule::parse("fail\u{1b}[2J>1").unwrap_err().to_string();
    assert!(message.contains("in 'fail\\x1B[2J>1'"), "{message}");
}

fn metric_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rate_502".to_string()),
        Just("rate_5xx".to_string()),
        Just("failures".to_string()),
        Just("count(read_timeout)".to_string()),
        Just("count(502)".to_string()),
        "[a-z_()0-9]{0,12}",
    ]
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "\\PC{0,40}") {
        let _ = Rule::parse(&text);
    }

    #[test]
    fn near_rules_never_panic_and_canonical_form_round_trips(
        metric in metric_name(),
        scope in prop_oneof![Just(String::new()), "\\{upstream=\"[^\"]{0,6}\"\\}", "\\{[a-z= \"]{0,8}\\}?"],
        op in prop_oneof![Just(">"), Just(">="), Just("<"), Just("<="), Just("=="), Just("=>"), Just("")],
        value in "[0-9]{0,22}(\\.[0-9]{0,11})?%?",
        spaces in "[ ]{0,2}",
    ) {
        let text = format!("{metric}{spaces}{scope}{op}{spaces}{value}");
        if let Ok(rule) = Rule::parse(&text) {
            let again = Rule::parse(&rule.to_string()).expect("canonical form parses");
            prop_assert_eq!((again.metric, again.upstream, again.comparator, again.threshold),
                (rule.metric, rule.upstream.clone(), rule.comparator, rule.threshold.clone()));
            let _ = rule.check(&report());
        }
    }
}
