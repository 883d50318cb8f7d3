//! The upstream attempt lists: `$upstream_addr` `10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80`.
//!
//! nginx pushes one entry per attempt, joined by `", "`, and a `" : "` where an internal redirect
//! started a second upstream run in the same request. `$upstream_status` and the times line up
//! with `$upstream_addr` entry by entry.

use crate::number::parse_status;
use crate::swar::{bytes_equal, word_le};

/// Iterates the entries of an attempt list, separators removed.
pub fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    Entries { rest: Some(list) }
}

/// The entries of an attempt list, each with whether it is the last: known once the entry is
/// cut (nothing of the list is left), so the list is not read ahead as a peeking iterator would.
pub fn entries_with_last(list: &[u8]) -> impl Iterator<Item = (bool, &[u8])> + Clone {
    let mut entries = Entries { rest: Some(list) };
    std::iter::from_fn(move || {
        let entry = entries.next()?;
        Some((entries.rest.is_none(), entry))
    })
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
/// than the whole scan here, and a byte loop several times as much. The end of the text is read
/// as one word too, however short: the usual list (`200`, `0.051`, `10.0.1.12:8080`) takes one
/// or two tests and no loop over bytes.
fn find_space(text: &[u8]) -> Option<usize> {
    let Some(last) = text.len().checked_sub(8) else { return first_space(short_word(text)) };
    let mut at = 0;
    while at < last {
        if let Some(i) = first_space(word_le(&text[at..])) {
            return Some(at + i);
        }
        at += 8;
    }
    // The last eight bytes, read again where they overlap the words above: those held no space,
    // so the first one flagged is the first space.
    first_space(word_le(&text[last..])).map(|i| last + i)
}

/// The place of the first space among the bytes of `word` (little-endian).
fn first_space(word: u64) -> Option<usize> {
    let found = bytes_equal(word, b' ');
    (found != 0).then(|| found.trailing_zeros() as usize / 8)
}

/// The bytes of a text shorter than eight in the low bytes of a word, zeros above. Read as two
/// overlapping loads (a byte present in both is the same byte, so or-ing them keeps it).
fn short_word(text: &[u8]) -> u64 {
    let len = text.len();
    match text {
        [] => 0,
        [a, .., b] if len < 4 => {
            u64::from(*a) | u64::from(text[len / 2]) << (len / 2 * 8) | u64::from(*b) << ((len - 1) * 8)
        }
        [a] => u64::from(*a),
        _ => {
            let low = u32::from_le_bytes([text[0], text[1], text[2], text[3]]);
            let high = u32::from_le_bytes([text[len - 4], text[len - 3], text[len - 2], text[len - 1]]);
            u64::from(low) | u64::from(high) << ((len - 4) * 8)
        }
    }
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
    fn marks_only_the_last_entry() {
        let marked = |list: &[u8]| -> Vec<(bool, String)> {
            entries_with_last(list).map(|(last, e)| (last, String::from_utf8_lossy(e).into_owned())).collect()
        };
        assert_eq!(marked(b"10.0.0.1:80"), [(true, "10.0.0.1:80".to_string())]);
        assert_eq!(
            marked(b"a:80, b:80 : c:80"),
            [(false, "a:80".to_string()), (false, "b:80".to_string()), (true, "c:80".to_string())]
        );
        assert_eq!(marked(b""), [(true, String::new())]);
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
    fn finds_the_first_space_among_any_bytes() {
        // Bytes around a space and a zero (the padding of short texts), from a fixed sequence.
        const BYTES: [u8; 8] = [b' ', 0x00, 0x1f, 0x21, 0x7f, 0xa0, b'a', 0x20 ^ 0x80];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..500 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // A space one time in sixteen, so that many texts have none or a late one.
                        if seed.is_multiple_of(16) {
                            b' '
                        } else {
                            BYTES[1 + (seed >> 8) as usize % 7]
                        }
                    })
                    .collect();
                assert_eq!(find_space(&text), text.iter().position(|&b| b == b' '), "{text:?}");
            }
        }
    }

    #[test]
    fn short_texts_fill_the_low_bytes_of_a_word() {
        for len in 0..8 {
            let text: Vec<u8> = (1..=len).map(|i| i * 0x11).collect();
            let mut want = [0; 8];
            want[..usize::from(len)].copy_from_slice(&text);
            assert_eq!(short_word(&text).to_le_bytes(), want, "{len} bytes");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(attempt_status(b"502"), Some(502));
        assert_eq!(attempt_status(b"-"), None);
    }
}
