//! The detection rule as a property: a line rendered from a random `log_format` is detected as
//! that format, or as one that explains the line whole; and the format chosen reads the line.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use ngx502::access::format::{Escape, LogFormat};
use ngx502::access::presets::PRESETS;
use ngx502::access::{AccessFormat, AccessParser};
use ngx502::input::detect::{best, fit};

/// Fixed cases so CI cannot fail by chance; `PROPTEST_RNG_SEED` explores others.
fn config() -> Config {
    let mut config = Config { cases: 500, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x6465_7465_6374);
    }
    config
}

/// How a variable is enclosed: values that may hold spaces are quoted (or, for `$time_local`,
/// bracketed), as nginx users write them; a split on spaces could not tell them apart otherwise.
const PLAIN: (&str, &str) = ("", "");
const QUOTED: (&str, &str) = ("\"", "\"");

/// A variable with values of its kind, and how the format encloses it.
fn variable() -> impl Strategy<Value = (String, String, (&'static str, &'static str))> {
    let ip = (1u8..255, 0u8..255, 0u8..255, 1u8..255).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"));
    let peer = (ip.clone(), 1u16..65535).prop_map(|(ip, port)| format!("{ip}:{port}"));
    let list = |entry: BoxedStrategy<String>| {
        proptest::collection::vec(entry, 1..4).prop_map(|e| e.join(", ")).boxed()
    };
    let secs = (0u32..100_000).prop_map(|ms| format!("{}.{:03}", ms / 1000, ms % 1000));
    prop_oneof![
        ip.clone().prop_map(|v| ("remote_addr".into(), v, PLAIN)),
        (1u32..29, 0usize..12, 2000u32..2030, 0u32..24, 0u32..60, 0u32..60, -12i32..13).prop_map(
            |(d, m, y, h, mi, s, z)| {
                let months =
                    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
                let zone = format!("{}{:02}00", if z < 0 { '-' } else { '+' }, z.abs());
                (
                    "time_local".into(),
                    format!("{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} {zone}", months[m]),
                    ("[", "]"),
                )
            }
        ),
        "/[a-z0-9/._-]{0,20}".prop_map(|p| ("request".into(), format!("GET {p} HTTP/1.1"), QUOTED)),
        (0u64..1_000_000_000).prop_map(|v| ("body_bytes_sent".into(), v.to_string(), PLAIN)),
        (0u64..100_000).prop_map(|v| ("request_length".into(), v.to_string(), PLAIN)),
        secs.clone().prop_map(|v| ("request_time".into(), v, PLAIN)),
        list(peer.boxed()).prop_map(|v| ("upstream_addr".into(), v, PLAIN)),
        list((100u16..600).prop_map(|s| s.to_string()).boxed()).prop_map(|v| (
            "upstream_status".into(),
            v,
            PLAIN
        )),
        list(secs.boxed()).prop_map(|v| ("upstream_response_time".into(), v, PLAIN)),
        "[a-z]{1,10}(\\.[a-z]{2,5}){1,2}".prop_map(|v| ("host".into(), v, PLAIN)),
        (1u64..10_000_000).prop_map(|v| ("connection".into(), v.to_string(), PLAIN)),
        "[A-Za-z][A-Za-z0-9/(); .,-]{0,30}".prop_map(|v| ("http_user_agent".into(), v, QUOTED)),
        ("[a-z]{1,6}", "[a-z0-9]{1,10}").prop_map(|(n, v)| (format!("x_{n}"), v, PLAIN)),
        ("[a-z]{1,6}", "[A-Za-z0-9 ]{1,12}").prop_map(|(n, v)| (format!("q_{n}"), v, QUOTED)),
    ]
}

/// Literal text between fields: never a substring of any value above.
fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(" "), Just(" | "), Just(" - "), Just(" ~ ")]
}

/// A random format with `$status`, and a line it writes.
fn format_and_line() -> impl Strategy<Value = (String, String)> {
    (
        proptest::collection::vec((variable(), separator()), 1..8),
        0usize..8,
        100u16..600,
        proptest::option::of("[a-z]{1,5}="),
    )
        .prop_map(|(fields, at, status, key)| {
            let mut template = String::new();
            let mut line = String::new();
            let at = at.min(fields.len());
            let mut seen = std::collections::HashSet::new();
            for (i, ((name, value, (open, close)), sep)) in fields.into_iter().enumerate() {
                if i == at {
                    let prefix = key.clone().unwrap_or_default();
                    template.push_str(&format!("{prefix}$status "));
                    line.push_str(&format!("{prefix}{status} "));
                }
                if !seen.insert(name.clone()) {
                    continue;
                }
                template.push_str(&format!("{open}${name}{close}{sep}"));
                line.push_str(&format!("{open}{value}{close}{sep}"));
            }
            if !template.contains("$status") {
                template.push_str("$status");
                line.push_str(&status.to_string());
            }
            // End on the last field, not on a separator.
            let trim = |s: &mut String| {
                while s.ends_with([' ', '|', '-', '~']) {
                    s.pop();
                }
            };
            trim(&mut template);
            trim(&mut line);
            (template, line)
        })
}

fn presets() -> Vec<AccessFormat> {
    PRESETS.iter().map(|p| AccessFormat::Template(LogFormat::preset(p.name).expect("preset"))).collect()
}

#[test]
fn a_rendered_line_is_detected_as_its_format_or_one_that_explains_it_whole() {
    TestRunner::new(config())
        .run(&(format_and_line(), any::<bool>()), |((template, line), conf_first)| {
            let Ok(own) = LogFormat::compile("random", &template, Escape::Default) else {
                return Ok(());
            };
            let own = AccessFormat::Template(own);
            prop_assert!(fit(&own, line.as_bytes()).whole, "{template}\n{line}");
            // As with --nginx-conf: the conf's formats first, then the built-ins; or the
            // built-ins first, as when the format is not known at all.
            let mut candidates = presets();
            if conf_first {
                candidates.insert(0, own.clone());
            } else {
                candidates.push(own.clone());
            }
            let lines = [line.as_bytes()];
            let (chosen, tally) = best(&lines, &candidates).expect("some format explains the line");
            prop_assert_eq!(tally.whole, 1, "{} chosen for {}\n{}", chosen.name(), template, line);
            if conf_first {
                prop_assert_eq!(chosen.name(), "random");
            }
            let record = AccessParser::new(chosen).parse(line.as_bytes());
            prop_assert!(record.is_ok(), "{} cannot read {}", chosen.name(), line);
            Ok(())
        })
        .unwrap();
}
