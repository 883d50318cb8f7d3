//! JSON access logs (`log_format NAME escape=json '{...}'`): one flat object per line.
//!
//! The scanner walks the object once, borrowing each value still escaped; keys are mapped to
//! fields by the `log_format` template when it is known, else by the variable names themselves
//! (`"status"`, `"upstream_addr"`, ...), which is what most JSON formats in the wild use.
//! Lines of one format repeat the same keys in the same order, so a [`JsonSplitter`] remembers
//! the previous line's keys: a key is mapped by one compare with the key at its place before,
//! not by a search of the map, and that compare also finds where the key ends, without a scan
//! for its closing quote.

use super::field::Field;

/// Maps JSON keys to fields.
#[derive(Clone, Debug, Default)]
pub struct KeyMap {
    pairs: Vec<(Vec<u8>, Field)>,
}

impl KeyMap {
    /// Keys named like the nginx variables (`"remote_addr"`, `"status"`, ...).
    pub fn by_variable_names() -> KeyMap {
        let mut map = KeyMap::default();
        for field in Field::all() {
            map.pairs.push((field.variable().as_bytes().to_vec(), field));
        }
        for (alias, field) in [
            ("time", Field::TimeIso8601),
            ("timestamp", Field::TimeIso8601),
            ("remote_ip", Field::RemoteAddr),
            ("client", Field::RemoteAddr),
            ("user_agent", Field::HttpUserAgent),
            ("referer", Field::HttpReferer),
        ] {
            map.pairs.push((alias.as_bytes().to_vec(), field));
        }
        map
    }

    /// Keys as a JSON `log_format` template assigns them: `"key":"$var"` or `"key":$var`.
    pub fn from_template(template: &str) -> KeyMap {
        let mut map = KeyMap::default();
        let _ = scan(template.as_bytes(), |key, value| {
            let var = value.strip_prefix(b"$").unwrap_or(value);
            let var = var.strip_prefix(b"{").and_then(|v| v.strip_suffix(b"}")).unwrap_or(var);
            if let Some(field) = std::str::from_utf8(var).ok().and_then(Field::from_variable) {
                map.pairs.push((key.to_vec(), field));
            }
        });
        map
    }

    fn field(&self, key: &[u8]) -> Option<Field> {
        self.pairs.iter().find(|(k, _)| k == key).map(|&(_, f)| f)
    }
}

/// Splits JSON lines of one format into fields; keeps the previous line's keys, so use one per
/// thread.
#[derive(Debug)]
pub struct JsonSplitter<'f> {
    keys: &'f KeyMap,
    /// The keys of the previous line in their order, each with the field it maps to. Entries are
    /// rewritten in place when a line differs, so their buffers are reused.
    order: Vec<(Vec<u8>, Option<Field>)>,
}

/// Keys remembered per line at most: a hostile line of thousands of keys is mapped one by one.
const MAX_REMEMBERED_KEYS: usize = 64;

impl<'f> JsonSplitter<'f> {
    pub fn new(keys: &'f KeyMap) -> JsonSplitter<'f> {
        JsonSplitter { keys, order: Vec::new() }
    }

    /// Calls `found` with the field and raw (still escaped) value of every mapped key in `line`.
    pub fn split<'a>(&mut self, line: &'a [u8], found: impl FnMut(Field, &'a [u8])) -> Result<(), usize> {
        walk(line, &mut Remembered { keys: self.keys, order: &mut self.order, found })
    }
}

/// What [`JsonSplitter::split`] does at each key: the previous line's key at that place is offered
/// to [`walk`], and a key found different is mapped and remembered.
struct Remembered<'s, 'f, F> {
    keys: &'f KeyMap,
    order: &'s mut Vec<(Vec<u8>, Option<Field>)>,
    found: F,
}

impl<'a, F: FnMut(Field, &'a [u8])> Pairs<'a> for Remembered<'_, '_, F> {
    fn expected(&self, at: usize) -> Option<&[u8]> {
        self.order.get(at).map(|(key, _)| &key[..])
    }

    // Inlined into the walk: as a call it cost a frame per pair.
    #[inline(always)]
    fn pair(&mut self, at: usize, key: &'a [u8], value: &'a [u8], as_expected: bool) {
        let (keys, order) = (self.keys, &mut *self.order);
        let field = match order.get_mut(at) {
            Some((_, field)) if as_expected => *field,
            Some((known, field)) => {
                known.clear();
                known.extend_from_slice(key);
                *field = keys.field(key);
                *field
            }
            None if at < MAX_REMEMBERED_KEYS => {
                let field = keys.field(key);
                order.push((key.to_vec(), field));
                field
            }
            None => keys.field(key),
        };
        if let Some(field) = field {
            (self.found)(field, value);
        }
    }
}

/// What a walk over an object calls: the key expected at each place, and each pair.
trait Pairs<'a> {
    /// The key expected as the `at`-th (from 0), when one is: a key with the same bytes is taken
    /// by one compare, without a scan for its closing quote.
    fn expected(&self, _at: usize) -> Option<&[u8]> {
        None
    }

    /// The `at`-th pair: its key and value as [`scan`] gives them, and whether the key was the
    /// one expected.
    fn pair(&mut self, at: usize, key: &'a [u8], value: &'a [u8], as_expected: bool);
}

/// Any `FnMut(key, value)` is a walk that expects no key.
struct Plain<F>(F);

impl<'a, F: FnMut(&'a [u8], &'a [u8])> Pairs<'a> for Plain<F> {
    fn pair(&mut self, _at: usize, key: &'a [u8], value: &'a [u8], _as_expected: bool) {
        (self.0)(key, value);
    }
}

/// Walks a flat JSON object, calling `pair(key, value)` with raw slices: string values without
/// their quotes and still escaped, other values as written. Nested values are skipped whole.
/// Returns the byte offset where the line stops being a JSON object.
pub fn scan<'a>(line: &'a [u8], pair: impl FnMut(&'a [u8], &'a [u8])) -> Result<(), usize> {
    walk(line, &mut Plain(pair))
}

/// [`scan`] with the keys a line is expected to have: a key equal to the one expected ends where
/// that one did, since the end of a string depends only on its bytes.
fn walk<'a>(line: &'a [u8], pairs: &mut impl Pairs<'a>) -> Result<(), usize> {
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return Err(i);
    }
    i = skip_ws(line, i + 1);
    if line.get(i) == Some(&b'}') {
        return trailing(line, i + 1);
    }
    let mut at = 0;
    loop {
        if line.get(i) != Some(&b'"') {
            return Err(i);
        }
        let expected = pairs.expected(at).and_then(|key| {
            let end = i + 1 + key.len();
            (line.get(i + 1..end) == Some(key) && line.get(end) == Some(&b'"')).then_some(end)
        });
        let key_end = match expected {
            Some(end) => end,
            None => string_end(line, i + 1).ok_or(i)?,
        };
        let key = &line[i + 1..key_end];
        i = skip_ws(line, key_end + 1);
        if line.get(i) != Some(&b':') {
            return Err(i);
        }
        i = skip_ws(line, i + 1);
        let (value, next) = value_at(line, i).ok_or(i)?;
        pairs.pair(at, key, value, expected.is_some());
        at += 1;
        i = skip_ws(line, next);
        match line.get(i) {
            Some(b',') => i = skip_ws(line, i + 1),
            Some(b'}') => return trailing(line, i + 1),
            _ => return Err(i),
        }
    }
}

fn trailing(line: &[u8], i: usize) -> Result<(), usize> {
    let end = skip_ws(line, i);
    if end == line.len() {
        Ok(())
    } else {
        Err(end)
    }
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Index of the closing quote of a string whose content starts at `i`. Inlined into the walk,
/// which finds the end of every value and of each key it did not expect. Most values are a few
/// bytes long (a status, an address, a time), so their first 32 bytes are read in place (see
/// [`crate::swar::find_either`]): a `memchr2` call per value took 8 % of a run at 30 % failures.
#[inline(always)]
fn string_end(line: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += crate::swar::find_either(line.get(i..)?, b'"', b'\\')?;
        if line[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

/// The value starting at `i` and the index just after it. Inlined into the walk: as a call it
/// cost a frame per pair.
#[inline(always)]
fn value_at(line: &[u8], i: usize) -> Option<(&[u8], usize)> {
    match *line.get(i)? {
        b'"' => {
            let end = string_end(line, i + 1)?;
            Some((&line[i + 1..end], end + 1))
        }
        b'{' | b'[' => {
            let end = nested_end(line, i)?;
            Some((&line[i..end], end))
        }
        _ => {
            let len = line[i..]
                .iter()
                .take_while(|b| !matches!(b, b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            (len > 0).then(|| (&line[i..i + len], i + len))
        }
    }
}

/// End (exclusive) of the object or array starting at `i`, strings respected.
fn nested_end(line: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < line.len() {
        match line[i] {
            b'"' => i = string_end(line, i + 1)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Decodes a JSON string body (as nginx's `escape=json` wrote it) back to the raw bytes.
/// Malformed escapes are kept verbatim rather than refused: this runs on attacker-written text.
pub fn unescape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b != b'\\' || i + 1 >= value.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let decoded = match value[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'b' => Some(8),
            b'f' => Some(12),
            _ => None,
        };
        if let Some(d) = decoded {
            out.push(d);
            i += 2;
        } else if let Some(code) = value
            .get(i + 2..i + 6)
            .filter(|_| value[i + 1] == b'u')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
        {
            // nginx only writes \u00XX, for single bytes below 0x20.
            match u8::try_from(code) {
                Ok(byte) => out.push(byte),
                Err(_) => out.extend_from_slice(&value[i..i + 6]),
            }
            i += 6;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &[u8]) -> Result<Vec<(String, String)>, usize> {
        let mut out = Vec::new();
        scan(line, |k, v| out.push((String::from_utf8_lossy(k).into(), String::from_utf8_lossy(v).into())))?;
        Ok(out)
    }

    #[test]
    fn flat_object_with_escapes_and_nesting() {
        let got = pairs(br#"{"a":"x\"y","n":502, "o":{"k":"}"},"e":""}"#).unwrap();
        assert_eq!(
            got,
            [
                ("a".into(), r#"x\"y"#.into()),
                ("n".into(), "502".into()),
                ("o".into(), r#"{"k":"}"}"#.into()),
                ("e".into(), "".into())
            ]
        );
    }

    #[test]
    fn broken_objects_report_where() {
        assert_eq!(pairs(b"not json"), Err(0));
        assert_eq!(pairs(br#"{"a":"unterminated"#), Err(5));
        assert_eq!(pairs(br#"{"a":1} trailing"#), Err(8));
        assert_eq!(pairs(br#"{"a" 1}"#), Err(5));
    }

    #[test]
    fn template_keys_map_to_fields() {
        let map = KeyMap::from_template(r#"{"t":"$time_iso8601","code":$status,"x":"$scheme"}"#);
        let mut got = Vec::new();
        JsonSplitter::new(&map)
            .split(br#"{"t":"2024-01-01T00:00:00+00:00","code":502,"x":"https"}"#, |f, v| {
                got.push((f, v.to_vec()))
            })
            .unwrap();
        assert_eq!(
            got,
            [(Field::TimeIso8601, b"2024-01-01T00:00:00+00:00".to_vec()), (Field::Status, b"502".to_vec())]
        );
    }

    #[test]
    fn keys_map_the_same_whatever_the_previous_line() {
        let map = KeyMap::by_variable_names();
        let mut splitter = JsonSplitter::new(&map);
        let mut split = |line: &[u8]| {
            let mut got = Vec::new();
            splitter.split(line, |f, v| got.push((f, String::from_utf8_lossy(v).into_owned()))).unwrap();
            got
        };
        let status = |s: &str| (Field::Status, s.to_owned());
        let addr = |s: &str| (Field::RemoteAddr, s.to_owned());
        assert_eq!(split(br#"{"status":"502","remote_addr":"a"}"#), [status("502"), addr("a")]);
        assert_eq!(split(br#"{"status":"200","remote_addr":"b"}"#), [status("200"), addr("b")]);
        // Other order, an unknown key in between, keys of the same length as the remembered ones.
        assert_eq!(split(br#"{"remote_addr":"c","statuz":"1","status":"504"}"#), [addr("c"), status("504")]);
        assert_eq!(split(br#"{"statuz":"1"}"#), []);
        assert_eq!(split(br#"{"status":"503","remote_addr":"d"}"#), [status("503"), addr("d")]);
        // A key that starts with the remembered one, or is cut short of it, is its own key.
        assert_eq!(split(br#"{"status_":"1","remote_add":"e"}"#), []);
        assert_eq!(split(br#"{"status":"500","remote_addr":"f"}"#), [status("500"), addr("f")]);
        // Escaped quotes and backslashes in a key: the remembered key ends where a scan ends it.
        assert_eq!(split(br#"{"a\"b\\":"1","status":"502"}"#), [status("502")]);
        assert_eq!(split(br#"{"a\"b\\":"2","status":"503"}"#), [status("503")]);
        assert_eq!(split(br#"{"a\"b\\\"":"3","status":"504"}"#), [status("504")]);
        assert_eq!(split(br#"{"a\"b\\":"x"}"#), []);
        // More keys than are remembered: the ones past the limit still map.
        let mut long = String::from("{");
        for i in 0..MAX_REMEMBERED_KEYS + 3 {
            long.push_str(&format!(r#""k{i}":"v","#));
        }
        long.push_str(r#""status":"502"}"#);
        assert_eq!(split(long.as_bytes()), [status("502")]);
        assert_eq!(split(long.as_bytes()), [status("502")]);
    }

    #[test]
    fn unescape_nginx_json() {
        assert_eq!(unescape(br#"GET /a\"b\\c\u0001 HTTP/1.1"#), b"GET /a\"b\\c\x01 HTTP/1.1");
        assert_eq!(unescape(br#"bad\u12"#), br#"bad\u12"#);
        assert_eq!(unescape(b"raw\xff"), b"raw\xff");
    }
}
