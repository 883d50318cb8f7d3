//! Eight bytes tested at once in a `u64` (SWAR): for scans of fields a few bytes long, where a
//! `memchr` call's set-up costs more than the whole scan and a byte loop several times as much.

/// `b` in each of the eight bytes.
pub const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

const HIGHS: u64 = splat(0x80);

/// The bytes of `x` below `n` (`n` at most 0x80), each flagged by its high bit. The lowest
/// flagged byte is always one, so `trailing_zeros() / 8` (of a little-endian word) finds the
/// first; a borrow may flag bytes after it.
#[inline]
pub fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(splat(n)) & !x & HIGHS
}

/// The bytes of `x` equal to `b`, flagged as [`bytes_below`] flags them.
#[inline]
pub fn bytes_equal(x: u64, b: u8) -> u64 {
    bytes_below(x ^ splat(b), 1)
}

/// Whether any byte of `x` has its high bit set (is not ASCII).
#[inline]
pub fn any_high(x: u64) -> bool {
    x & HIGHS != 0
}

/// The first 8 bytes of `chunk` (which has them), little-endian: the first byte lowest.
#[inline]
pub fn word_le(chunk: &[u8]) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&chunk[..8]);
    u64::from_le_bytes(bytes)
}

/// The first `byte` in `text`. The spans a log line is cut at (a level, a pid, a context value,
/// an upstream attempt) are mostly shorter than a few words, where a `memchr` call's set-up
/// costs more than the scan: the words that start in the first `in_place` bytes are read eight
/// bytes at a time, a shorter end byte by byte, and anything longer by `memchr`.
#[inline]
pub fn find_byte(text: &[u8], byte: u8, in_place: usize) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = text.get(at..at + 8).filter(|_| at < in_place) {
        let found = bytes_equal(word_le(chunk), byte);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = &text[at..];
    let found =
        if rest.len() < 8 { rest.iter().position(|&b| b == byte) } else { memchr::memchr(byte, rest) };
    found.map(|i| at + i)
}

/// The first `a` or `b` in `text`: the end of a JSON string value (a quote, or a backslash that
/// escapes the next byte), mostly a few bytes on. The first four words are tested in place; the
/// rest of the text, after a long value or near the end of a line, goes to `memchr2`.
#[inline]
pub fn find_either(text: &[u8], a: u8, b: u8) -> Option<usize> {
    const IN_PLACE: usize = 4;
    let words = text.chunks_exact(8).take(IN_PLACE);
    let read = words.len() * 8;
    for (n, word) in words.enumerate() {
        // The lowest flag of each is its first match (see `bytes_below`), so that of both is.
        let found = bytes_equal(word_le(word), a) | bytes_equal(word_le(word), b);
        if found != 0 {
            return Some(n * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    memchr::memchr2(a, b, &text[read..]).map(|i| read + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_is_memchr() {
        for in_place in [0, 8, 32, usize::MAX] {
            for len in 0..150 {
                let mut text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                assert_eq!(find_byte(&text, b',', in_place), None, "{len}");
                for at in (0..len).rev() {
                    text[at] = b',';
                    assert_eq!(find_byte(&text, b',', in_place), memchr::memchr(b',', &text), "{len} {at}");
                    // A byte one above or below is not it (the borrow of the word compare).
                    text[at] = b'-';
                    assert_eq!(find_byte(&text, b',', in_place), memchr::memchr(b',', &text), "{len} {at}");
                    text[at] = b'+';
                }
                assert_eq!(find_byte(&text, b',', in_place), None, "{len}");
            }
        }
        assert_eq!(find_byte("\u{a0}é ".as_bytes(), b' ', usize::MAX), Some(4));
    }

    #[test]
    fn find_either_is_memchr2() {
        for len in 0..100 {
            let mut text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(find_either(&text, b'"', b'\\'), None, "{len}");
            for at in (0..len).rev() {
                for (wanted, beside) in [(b'"', b'#'), (b'\\', b']')] {
                    text[at] = wanted;
                    assert_eq!(
                        find_either(&text, b'"', b'\\'),
                        memchr::memchr2(b'"', b'\\', &text),
                        "{len} {at}"
                    );
                    // The byte one above is not it (the borrow of the word compare).
                    text[at] = beside;
                    assert_eq!(
                        find_either(&text, b'"', b'\\'),
                        memchr::memchr2(b'"', b'\\', &text),
                        "{len} {at}"
                    );
                }
            }
            if len > 1 {
                // A backslash, then a quote: the first of the two is found.
                text[len - 1] = b'"';
                text[len / 2] = b'\\';
                assert_eq!(find_either(&text, b'"', b'\\'), Some(len / 2), "{len}");
            }
        }
    }

    #[test]
    fn the_first_flagged_byte_is_exact() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let x = u64::from_le_bytes(word);
                let first = |flags: u64| (flags != 0).then(|| flags.trailing_zeros() as usize / 8);
                assert_eq!(first(bytes_equal(x, b' ')), (b == b' ').then_some(at), "{b:#x} at {at}");
                assert_eq!(first(bytes_below(x, 0x20)), (b < 0x20).then_some(at), "{b:#x} at {at}");
                assert_eq!(any_high(x), b >= 0x80);
            }
        }
    }
}
