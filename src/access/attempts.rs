//! The upstream attempt lists: `$upstream_addr` `10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80`.
//!
//! nginx pushes one entry per attempt, joined by `", "`, and a `" : "` where an internal redirect
//! started a second upstream run in the same request. `$upstream_status` and the times line up
//! with `$upstream_addr` entry by entry.

use crate::number::parse_status;

/// Iterates the entries of an attempt list, separators removed.
pub fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    Entries { rest: Some(list) }
}

/// The entries of a list not yet read; an iterator of its own (not a closure) so that it is
/// inlined into the loops that read up to three lists per access line.
#[derive(Clone)]
struct Entries<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let text = self.rest?;
        let mut search = 0;
        loop {
            match find_space(&text[search..]).map(|i| search + i) {
                None => {
                    self.rest = None;
                    return Some(trim(text));
                }
                Some(sp) if sp > 0 && text[sp - 1] == b',' => {
                    self.rest = Some(&text[sp + 1..]);
                    return Some(trim(&text[..sp - 1]));
                }
                Some(sp) if text[sp + 1..].starts_with(b": ") => {
                    self.rest = Some(&text[sp + 3..]);
                    return Some(trim(&text[..sp]));
                }
                Some(sp) => search = sp + 1,
            }
        }
    }
}

/// The first space in `text`. Entries are a few bytes long and every access line has up to three
/// lists, so eight bytes are tested at a time in a register: a `memchr` call's set-up costs more
/// than the whole scan here, and a byte loop several times as much.
fn find_space(text: &[u8]) -> Option<usize> {
    crate::swar::find_byte(text, b' ', usize::MAX)
}

fn trim(text: &[u8]) -> &[u8] {
    match text {
        // Bytes above the space are never ASCII whitespace: the usual entry is returned as is.
        [first, .., last] if *first > b' ' && *last > b' ' => text,
        _ => text.trim_ascii(),
    }
}

/// The status of one attempt: `502`, or `None` for `-` (no response was read).
pub fn attempt_status(entry: &[u8]) -> Option<u16> {
    parse_status(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(list: &[u8]) -> Vec<String> {
        entries(list).map(|e| String::from_utf8_lossy(e).into_owned()).collect()
    }

    #[test]
    fn splits_retries_and_redirects() {
        assert_eq!(all(b"10.0.0.1:80"), ["10.0.0.1:80"]);
        assert_eq!(
            all(b"10.0.0.1:80, 10.0.0.2:80 : 10.0.0.9:80"),
            ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.9:80"]
        );
        assert_eq!(all(b"[2001:db8::1]:80, backend"), ["[2001:db8::1]:80", "backend"]);
        assert_eq!(all(b"unix:/run/php.sock : 10.0.0.9:80"), ["unix:/run/php.sock", "10.0.0.9:80"]);
        assert_eq!(all(b"502, -"), ["502", "-"]);
        assert_eq!(all(b""), [""]);
        assert_eq!(all(b" a ,  b\t"), ["a", "b"]);
        assert_eq!(all(b"x"), ["x"]);
        assert_eq!(
            all(b"10.0.100.200:8080, 10.0.100.201:8080 : unix:/run/a b.sock"),
            ["10.0.100.200:8080", "10.0.100.201:8080", "unix:/run/a b.sock"]
        );
    }

    #[test]
    fn finds_the_first_space_at_any_place() {
        for len in 0..40 {
            let mut text = vec![b'a'; len];
            assert_eq!(find_space(&text), None);
            for at in 0..len {
                text.fill(b'a');
                text[at] = b' ';
                assert_eq!(find_space(&text), Some(at), "{len} bytes, space at {at}");
                // `!` is one above a space: a borrow from the space may flag it, never first.
                text.fill(b'!');
                text[at] = b' ';
                text[len - 1] = b' ';
                assert_eq!(find_space(&text), Some(at), "{len} bytes, space at {at}");
            }
        }
        assert_eq!(find_space("\u{a0}é ".as_bytes()), Some(4));
    }

    #[test]
    fn statuses() {
        assert_eq!(attempt_status(b"502"), Some(502));
        assert_eq!(attempt_status(b"-"), None);
    }
}
