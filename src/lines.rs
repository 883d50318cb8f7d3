//! Lines and line-aligned chunks of a byte buffer, found with `memchr`: how every reader walks
//! its input.

/// Splits `buf` into about `n` pieces, each ending just after a newline (or at the end).
pub fn chunks_at_lines(buf: &[u8], n: usize) -> Vec<&[u8]> {
    let target = buf.len().div_ceil(n.max(1)).max(1);
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    while start < buf.len() {
        let guess = (start + target).min(buf.len());
        let end = match memchr::memchr(b'\n', &buf[guess..]) {
            Some(i) if guess < buf.len() => guess + i + 1,
            _ => buf.len(),
        };
        chunks.push(&buf[start..end]);
        start = end;
    }
    chunks
}

/// The lines of a buffer, without their newlines; a last line without newline is included.
/// Newlines are found with `memchr` (a byte-at-a-time `split` cost a quarter of the hot path).
pub fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_buffer_at_line_ends() {
        let buf = b"a\nbb\nccc\ndddd\ne";
        for n in 1..8 {
            let chunks = chunks_at_lines(buf, n);
            assert_eq!(chunks.concat(), buf);
            for c in &chunks[..chunks.len() - 1] {
                assert!(c.ends_with(b"\n"));
            }
        }
        assert!(chunks_at_lines(b"", 4).is_empty());
    }

    #[test]
    fn lines_handle_missing_final_newline() {
        assert_eq!(lines(b"a\nb").collect::<Vec<_>>(), [&b"a"[..], b"b"]);
        assert_eq!(lines(b"a\n\nb\n").collect::<Vec<_>>(), [&b"a"[..], b"", b"b"]);
        assert_eq!(lines(b"").count(), 0);
    }
}
