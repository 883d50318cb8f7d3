//! The indexed split gives what the literal-by-literal split gives, on random and hostile lines.

use super::*;
use crate::access::presets::PRESETS;
use proptest::prelude::*;
use std::sync::LazyLock;

/// Every built-in template format, and formats that take the other paths of the index: more
/// delimiter bytes than it classifies, a literal longer than four bytes, one longer than the
/// nine compared in one load (also after an attempt list), adjacent variables, a list at the end,
/// a leading literal.
static FORMATS: LazyLock<Vec<LogFormat>> = LazyLock::new(|| {
    let custom = [
        "$status|$request_time;$remote_addr,$host:$upstream_addr~$connection!$request",
        "$status $upstream_addr <<sep>> $request ]]] $http_user_agent",
        "$status$request_time $host$remote_addr \"$request\"",
        "[$time_local] $status \"$request\" $upstream_status $upstream_addr",
        "\"$status\" $upstream_response_time\" $upstream_addr \"$request_time\"",
        "$status $host$remote_addr$upstream_status",
        "$status \"$request\" upstream_addr_is=$upstream_addr with_a_long_tail $request_time",
    ];
    PRESETS
        .iter()
        .filter_map(|p| p.compile())
        .chain(custom.iter().filter_map(|t| LogFormat::compile("t", t, Escape::Default).ok()))
        .filter(|f| matches!(AccessFormat::from_log_format(f.clone()), AccessFormat::Template(_)))
        .collect()
});

/// Pieces of field values, chosen to hit every delimiter, nginx's escapes, list separators,
/// invalid UTF-8, control bytes and values longer than a window.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            &b" "[..],
            b"\"",
            b"[",
            b"]",
            b"\\x22",
            b"\\\"",
            b", ",
            b" : ",
            b":",
            b"-",
            b"502",
            b"0.004",
            b"10.0.0.1:80",
            b"\xff\xfe",
            b"\xc3(",
            b"\r",
            b"\0",
            b"\t",
            b"=",
            b"host=\"",
            b"\" ",
            b"] \"",
            b"|",
            b";",
            b"~",
            b"<<sep>>",
            b"<<se",
            b" with_a_long_tail ",
            b" with_a_long",
            b"GET / HTTP/1.1",
            b"14/May/2024:10:22:31 +0200",
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 1..4),
        (60usize..200).prop_map(|n| vec![b'x'; n]),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..6).prop_map(|p| p.concat())
}

/// A line of format `which`: each variable's value random, then some bytes replaced or cut.
fn line() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let count = FORMATS.len();
    (
        0..count,
        prop::collection::vec(value(), 40),
        prop::collection::vec((any::<usize>(), piece()), 0..3),
        any::<u8>(),
    )
        .prop_map(|(which, values, edits, cut)| {
            let format = &FORMATS[which];
            let mut values = values.into_iter().cycle();
            let mut line = Vec::new();
            for segment in &format.segments {
                match segment {
                    Segment::Literal(l) => line.extend_from_slice(&l.text),
                    Segment::Var(Var::Known(Field::Status)) if cut % 3 != 0 => line.extend_from_slice(b"502"),
                    Segment::Var(_) => line.extend(values.next().unwrap_or_default()),
                }
            }
            for (at, bytes) in edits {
                let at = at % (line.len() + 1);
                line.splice(at..at, bytes);
            }
            if cut % 5 == 0 {
                line.truncate(line.len() * usize::from(cut) / 256);
            }
            (which, line)
        })
}

/// The spans of the fields ngx502 reads, and how the split ended.
type Spans = (Result<(), Mismatch>, Vec<(Field, usize, usize)>);

fn reference(format: &LogFormat, line: &[u8]) -> Spans {
    let mut spans = Vec::new();
    let result = split_template(format, line, |var, start, end| {
        if let Var::Known(field) = var {
            spans.push((*field, start, end));
        }
    });
    (result, spans)
}

fn indexed(format: &LogFormat, line: &[u8]) -> Spans {
    let mut spans = Vec::new();
    let result = Plan::new(format).split(line, |field, start, end| spans.push((field, start, end)));
    (result, spans)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn indexed_split_equals_the_literal_search((which, line) in line()) {
        let format = &FORMATS[which];
        prop_assert_eq!(indexed(format, &line), reference(format, &line));
    }

    #[test]
    fn random_bytes_split_alike(which in 0..FORMATS.len(), line in prop::collection::vec(any::<u8>(), 0..300)) {
        let format = &FORMATS[which];
        prop_assert_eq!(indexed(format, &line), reference(format, &line));
    }
}

#[test]
fn preset_examples_parse_as_before() {
    for p in PRESETS {
        let Some(format) = p.compile() else { continue };
        for line in p.lines() {
            let whole = indexed(&format, line.as_bytes());
            assert_eq!(whole, reference(&format, line.as_bytes()), "{line}");
            assert!(whole.0.is_ok(), "{line}");
        }
    }
}
