//! Path templates: `/orders/1041` and `/orders/1042` are one endpoint, `/orders/{id}`.
//!
//! On real traffic the ids in paths make a list of top failing paths a list of ones; grouped by
//! template, one line `/orders/{id} (312)` is the finding. A path segment (or the part of it
//! before an extension, `/files/9f86d081884c7d65.json`) that is an id becomes a placeholder:
//! decimal numbers `{id}`, UUIDs `{uuid}`, dates `{date}`, long hex `{hex}`, base64-like tokens
//! `{token}`. Words, slugs (`my-first-post`) and short codes (`v2`, `en-US`) stay as they are.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::errorlog::Cause;
use crate::escape::lossless_cow;
use crate::report::schema::{add_examples, PathRow};

/// One path's (or template's) failures, failures by cause, and up to two example paths.
#[derive(Debug, Default)]
struct Tallied {
    count: u64,
    /// Keyed by cause rather than slug: a cause compares as one byte, a slug as a string.
    by_cause: BTreeMap<Cause, u64>,
    examples: Vec<String>,
}

/// Failures per path, or per template when ids are grouped, for the top-paths lists: the whole
/// run's, and each cause's, read from the same counts ([`PathTally::top_of`]).
#[derive(Debug, Default)]
pub struct PathTally {
    rows: FxHashMap<String, Tallied>,
}

impl PathTally {
    /// Counts one failure of `cause` on a path keyed by [`PathKey::new`] (templated or not, as
    /// `--raw-paths` says).
    pub fn add_key(&mut self, path: &PathKey<'_>, cause: Cause) {
        let row = match self.rows.get_mut(&*path.key) {
            Some(row) => row,
            None => self.rows.entry(path.key.clone().into_owned()).or_default(),
        };
        row.count += 1;
        *row.by_cause.entry(cause).or_insert(0) += 1;
        if let Some(example) = &path.example {
            add_examples(&mut row.examples, std::slice::from_ref(example));
        }
    }

    /// Adds the failures counted in `later`, all of which come after these: examples stay the
    /// first ones in failure order.
    pub fn merge(&mut self, later: PathTally) {
        for (key, theirs) in later.rows {
            let mine = self.rows.entry(key).or_default();
            mine.count += theirs.count;
            for (cause, k) in theirs.by_cause {
                *mine.by_cause.entry(cause).or_insert(0) += k;
            }
            add_examples(&mut mine.examples, &theirs.examples);
        }
    }

    /// The `top` rows with the most failures (ties by path).
    pub fn top(self, top: usize) -> Vec<PathRow> {
        let rows = self.rows.into_iter().map(|(path, row)| PathRow {
            path,
            count: row.count,
            by_cause: row.by_cause.into_iter().map(|(cause, n)| (cause.slug(), n)).collect(),
            examples: row.examples,
        });
        most_first(rows, |row| (row.count, &row.path), top)
    }

    /// The `top` paths with the most failures of `cause`, and their counts (ties by path).
    pub fn top_of(&self, cause: Cause, top: usize) -> Vec<(String, u64)> {
        let rows = self.rows.iter().filter_map(|(path, row)| row.by_cause.get(&cause).map(|&n| (path, n)));
        most_first(rows, |&(path, n)| (n, path), top).into_iter().map(|(path, n)| (path.clone(), n)).collect()
    }
}

/// The `top` of `rows` with the highest count, by path on a tie; `key` gives both.
fn most_first<T>(rows: impl Iterator<Item = T>, key: impl Fn(&T) -> (u64, &String), top: usize) -> Vec<T> {
    let mut rows: Vec<T> = rows.collect();
    rows.sort_by(|a, b| {
        let ((a_count, a_path), (b_count, b_path)) = (key(a), key(b));
        b_count.cmp(&a_count).then_with(|| a_path.cmp(b_path))
    });
    rows.truncate(top);
    rows
}

/// What a path is counted as: its template (or itself, when it has no id or templates are
/// off), and the path itself as an example of its template. A valid UTF-8 path is borrowed from
/// the log, so a failure whose path has no id costs no allocation until its row is made.
#[derive(Debug)]
pub struct PathKey<'a> {
    key: Cow<'a, str>,
    example: Option<Cow<'a, str>>,
}

impl<'a> PathKey<'a> {
    /// The key of `path` (raw bytes, without the query string). A template is written into
    /// `scratch`, which the key then borrows: kept from one failure to the next, it spares an
    /// allocation per failure whose path has an id, and only a key seen for the first time is
    /// copied (by [`PathTally::add_key`]).
    pub fn new(path: &'a [u8], templates: bool, scratch: &'a mut String) -> PathKey<'a> {
        let raw = lossless_cow(path);
        if templates && template_into(&raw, scratch) {
            PathKey { key: Cow::Borrowed(scratch.as_str()), example: Some(raw) }
        } else {
            PathKey { key: raw, example: None }
        }
    }

    /// The template (or the path itself): what the failure is counted under.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Shortest hex string taken for an id (shorter ones are too often words: `cafe`, `decade`).
const MIN_HEX: usize = 12;
/// Shortest base64-like token.
const MIN_TOKEN: usize = 16;
/// 8-4-4-4-12 hex digits and their dashes.
const UUID_LEN: usize = 36;

/// The template of `path` (a path without its query string) written into `out` (emptied first):
/// whether a segment is an id, and so `out` the template. This runs once per failure, into room
/// kept from one to the next, and most paths of a report have no id at all: the path is read
/// once, byte by byte, and only a segment with a digit (or as long as a UUID) is looked at
/// further. The template is one string, begun at the first id segment, and the text between id
/// segments is copied into it whole.
pub fn template_into(path: &str, out: &mut String) -> bool {
    out.clear();
    let bytes = path.as_bytes();
    // Most failing paths are short words (`/index.php`, `/cart/add`): without a digit, only a
    // segment as long as a UUID could be an id, so such a path is turned away in one scan.
    if bytes.len() < UUID_LEN && !bytes.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let mut templated = false;
    // `path[..copied]` is in `out`, as it is or as placeholders.
    let mut copied = 0;
    let mut start = 0;
    while start <= bytes.len() {
        let mut end = start;
        let mut digit = false;
        while let Some(&b) = bytes.get(end).filter(|&&b| b != b'/') {
            digit |= b.is_ascii_digit();
            end += 1;
        }
        // Every placeholder but `{uuid}` needs a digit.
        if digit || end - start >= UUID_LEN {
            let (stem, extension) = split_extension(&path[start..end]);
            if let Some(placeholder) = placeholder(stem) {
                templated = true;
                out.push_str(&path[copied..start]);
                out.push_str(placeholder);
                out.push_str(extension);
                copied = end;
            }
        }
        start = end + 1;
    }
    if templated {
        out.push_str(&path[copied..]);
    }
    templated
}

/// `report.json` → (`report`, `.json`): an extension is 1 to 5 alphanumerics after the last dot.
fn split_extension(segment: &str) -> (&str, &str) {
    match segment.bytes().rposition(|b| b == b'.') {
        Some(i)
            if i > 0
                && (2..=6).contains(&(segment.len() - i))
                && segment[i + 1..].bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            segment.split_at(i)
        }
        _ => (segment, ""),
    }
}

/// The placeholder an id segment becomes. Every id but a UUID has a digit, so the words most
/// segments are (`api`, `orders`) are turned away by one scan.
fn placeholder(s: &str) -> Option<&'static str> {
    if s.len() != UUID_LEN && !s.bytes().any(|b| b.is_ascii_digit()) {
        None
    } else if is_date(s) {
        Some("{date}")
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        Some("{id}")
    } else if is_uuid(s) {
        Some("{uuid}")
    } else if s.len() >= MIN_HEX
        && s.bytes().all(|b| b.is_ascii_hexdigit())
        && s.bytes().any(|b| b.is_ascii_digit())
    {
        Some("{hex}")
    } else if is_token(s) {
        Some("{token}")
    } else {
        None
    }
}

/// `2024-05-14`, or `20240514` with a plausible year, month and day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits: [u8; 8] = match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => [b[0], b[1], b[2], b[3], b[5], b[6], b[8], b[9]],
        8 => [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]],
        _ => return false,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number =
        |range: std::ops::Range<usize>| digits[range].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    (1970..=2099).contains(&number(0..4))
        && (1..=12).contains(&number(4..6))
        && (1..=31).contains(&number(6..8))
}

/// 8-4-4-4-12 hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == UUID_LEN
        && s.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

/// A long run of base64 (or base64url) characters that looks random rather than like words: a
/// digit and both cases, or (without separators) at least a quarter digits.
fn is_token(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < MIN_TOKEN || !bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_+=~".contains(&b)) {
        return false;
    }
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let separators = bytes.iter().any(|b| b"-_".contains(b));
    digits > 0 && ((upper && lower) || (!separators && digits * 4 >= bytes.len() && (upper || lower)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template of `path`, or `None` when no segment is an id.
    fn template(path: &str) -> Option<String> {
        let mut out = String::new();
        template_into(path, &mut out).then_some(out)
    }

    #[test]
    fn ids_become_placeholders() {
        let cases = [
            ("/orders/1041", "/orders/{id}"),
            ("/orders/1041/items/7", "/orders/{id}/items/{id}"),
            ("/u/123e4567-e89b-12d3-a456-426614174000/avatar", "/u/{uuid}/avatar"),
            ("/blobs/9f86d081884c7d659a2feaa0c55ad015", "/blobs/{hex}"),
            ("/files/9f86d081884c7d65.json", "/files/{hex}.json"),
            ("/reports/2024-05-14", "/reports/{date}"),
            ("/reports/20240514/summary", "/reports/{date}/summary"),
            ("/s/eyJhbGciOiJIUzI1NiJ9", "/s/{token}"),
            ("/reset/k3j4h5g6f7d8s9a0q1w2", "/reset/{token}"),
            ("/img/42.png", "/img/{id}.png"),
            // No digit at all: only the length lets it through the first scan.
            ("/u/abcdefab-abcd-abcd-abcd-abcdefabcdef/avatar", "/u/{uuid}/avatar"),
            ("/u/abcdefab-abcd-abcd-abcd-abcdefabcdef.json", "/u/{uuid}.json"),
        ];
        for (path, want) in cases {
            assert_eq!(template(path).as_deref(), Some(want), "{path}");
        }
    }

    #[test]
    fn words_stay_as_they_are() {
        // Shorter than a UUID and without a digit, and a segment of a UUID's length that is not one.
        for path in
            ["/", "", "/index.php", "/cart/add", "/blog/hello-world", "/abcdefab-abcd-abcd-abcd-abcdefabcdeg"]
        {
            assert_eq!(template(path), None, "{path}");
        }
    }

    /// The template as first written: each segment templated into its own string, then joined.
    fn one_string_per_segment(path: &str) -> Option<String> {
        let mut changed = false;
        let segments: Vec<String> = path
            .split('/')
            .map(|segment| {
                let (stem, extension) = split_extension(segment);
                match placeholder(stem) {
                    Some(p) => {
                        changed = true;
                        format!("{p}{extension}")
                    }
                    None => segment.to_owned(),
                }
            })
            .collect();
        changed.then(|| segments.join("/"))
    }

    proptest::proptest! {
        #[test]
        fn templates_as_segment_by_segment(path in "(/([0-9a-fA-F]{1,12}|20[0-9]{2}-?[01][0-9]-?[0-3][0-9]|[a-z0-9-]{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_=~+-]{14,24})(\\.[a-z0-9]{1,6})?){0,5}/?") {
            proptest::prop_assert_eq!(template(&path), one_string_per_segment(&path));
        }
    }

    #[test]
    fn a_template_is_written_over_what_the_buffer_held() {
        let mut out = String::from("/left/over/from/before");
        assert!(template_into("/orders/1041", &mut out));
        assert_eq!(out, "/orders/{id}");
        assert!(!template_into("/about", &mut out));
        assert!(out.is_empty());
        assert!(template_into("/u/7/a", &mut out));
        assert_eq!(out, "/u/{id}/a");
    }

    #[test]
    fn extensions_and_empty_segments() {
        let cases = [
            ("/orders//1041/", Some("/orders//{id}/")),
            ("//1041", Some("//{id}")),
            ("/img/42.tar.gz", None),
            ("/img/42.", None),
            ("/img/42.toolong", None),
            ("/img/.42", None),
            ("/img/42.png/7", Some("/img/{id}.png/{id}")),
            ("/img/42.p-g", None),
        ];
        for (path, want) in cases {
            assert_eq!(template(path).as_deref(), want, "{path}");
        }
    }

    #[test]
    fn keys_borrow_valid_paths_and_escape_invalid_bytes() {
        let (mut zero, mut one, mut two, mut three) =
            (String::new(), String::new(), String::new(), String::new());
        let key = PathKey::new(b"/static/app.js", true, &mut zero);
        assert!(matches!(key.key, Cow::Borrowed("/static/app.js")));
        assert_eq!(key.example, None);

        let key = PathKey::new(b"/orders/1041", true, &mut one);
        assert_eq!((&*key.key, key.example.as_deref()), ("/orders/{id}", Some("/orders/1041")));
        assert!(matches!(key.example, Some(Cow::Borrowed(_))));

        let key = PathKey::new(b"/orders/1041/\xff", true, &mut two);
        assert_eq!((&*key.key, key.example.as_deref()), ("/orders/{id}/\\xFF", Some("/orders/1041/\\xFF")));

        let key = PathKey::new(b"/orders/1041", false, &mut three);
        assert_eq!((&*key.key, key.example.as_deref()), ("/orders/1041", None));
    }

    #[test]
    fn tally_copies_each_key_once_and_keeps_two_examples() {
        let (mut tally, mut scratch) = (PathTally::default(), String::new());
        for path in [&b"/orders/1"[..], b"/orders/2", b"/orders/1", b"/orders/3", b"/about"] {
            tally.add_key(&PathKey::new(path, true, &mut scratch), Cause::ConnectRefused);
        }
        let rows = tally.top(10);
        let summary: Vec<_> = rows.iter().map(|r| (r.path.as_str(), r.count, r.examples.clone())).collect();
        assert_eq!(
            summary,
            [
                ("/orders/{id}", 4, vec!["/orders/1".to_owned(), "/orders/2".to_owned()]),
                ("/about", 1, vec![]),
            ]
        );
    }

    #[test]
    fn each_cause_top_paths_come_from_the_same_counts() {
        let (mut tally, mut scratch) = (PathTally::default(), String::new());
        let (refused, timeout) = (Cause::ConnectRefused, Cause::ReadTimeout);
        for (path, cause) in [
            (&b"/b"[..], refused),
            (b"/orders/1", timeout),
            (b"/a", refused),
            (b"/orders/2", refused),
            (b"/orders/3", timeout),
            (b"/c", timeout),
        ] {
            tally.add_key(&PathKey::new(path, true, &mut scratch), cause);
        }
        let count = |path: &str, n| (path.to_owned(), n);
        assert_eq!(tally.top_of(refused, 2), [count("/a", 1), count("/b", 1)]);
        assert_eq!(tally.top_of(timeout, 5), [count("/orders/{id}", 2), count("/c", 1)]);
        assert!(tally.top_of(Cause::NoRoute, 5).is_empty());
        let rows = tally.top(1);
        assert_eq!(rows[0].by_cause, BTreeMap::from([("connect_refused", 1), ("read_timeout", 2)]));
    }

    #[test]
    fn dates_and_uuids_need_their_exact_shape() {
        for (segment, date) in [
            ("2024-05-14", true),
            ("2024-0--14", false),
            ("2024-13-01", false),
            ("19691231", false),
            ("2024051", false),
            ("２０２４0514", false),
        ] {
            assert_eq!(is_date(segment), date, "{segment}");
        }
        for (segment, uuid) in [
            ("123e4567-e89b-12d3-a456-426614174000", true),
            ("123e4567-e89b-12d3-a456-42661417400g", false),
            ("123e4567e-89b-12d3-a456-426614174000", false),
            ("123e4567-e89b-12d3-a456-4266141740000", false),
        ] {
            assert_eq!(is_uuid(segment), uuid, "{segment}");
        }
    }

    #[test]
    fn words_slugs_and_short_codes_stay() {
        for path in [
            "/",
            "",
            "/api/v2/users",
            "/blog/my-first-post-of-2024-is-here",
            "/en-US/checkout",
            "/cafe/decade",
            "/deadbeefcafebabe",
            "/static/app.min.js",
            "/ReadTheDocsPageForUs",
            "/a//b",
            "/99999999",
        ] {
            let got = template(path);
            assert!(got.is_none() || path == "/99999999", "{path} → {got:?}");
        }
        // Eight digits that are no date are an id.
        assert_eq!(template("/99999999").as_deref(), Some("/{id}"));
    }
}
