//! Making attacker-written log bytes safe to print.
//!
//! Log lines carry whatever a client sent: invalid UTF-8, ANSI escape sequences, bidi overrides.
//! Every renderer goes through one of these functions, so a single rule decides what reaches a
//! terminal, a JSON document or a CSV cell.

use std::borrow::Cow;
use std::fmt::Write;

/// Renders bytes as text: valid UTF-8 is kept, every invalid byte becomes `\xHH` (the same
/// notation nginx itself uses in access logs), so the result is always valid UTF-8 and the same
/// input always gives the same output.
pub fn lossless(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

/// [`lossless`] that borrows valid UTF-8 (nearly every name and path) instead of copying it:
/// code that looks a name up once per failure only pays for a `String` when it keeps one.
pub fn lossless_cow(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(lossless(bytes)),
    }
}

/// Like [`lossless`], and also escapes C0/C1 control characters, DEL, bidi overrides and
/// zero-width characters, so a user agent cannot recolour, clear or reorder a terminal.
pub fn for_terminal(bytes: &[u8]) -> String {
    sanitize_str(&lossless(bytes))
}

/// Escapes the characters of `text` that a terminal would interpret.
pub fn sanitize_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_dangerous(c) {
            let code = c as u32;
            if code <= 0xFF {
                let _ = write!(out, "\\x{code:02X}");
            } else {
                let _ = write!(out, "\\u{{{code:04X}}}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_becomes_hex_escapes() {
        assert_eq!(lossless(b"a\xff\xfeb"), "a\\xFF\\xFEb");
        assert_eq!(lossless("é".as_bytes()), "é");
        assert!(matches!(lossless_cow("é".as_bytes()), Cow::Borrowed("é")));
        assert_eq!(lossless_cow(b"a\xffb"), Cow::<str>::Owned("a\\xFFb".to_owned()));
    }

    #[test]
    fn terminal_output_neutralises_ansi_and_bidi() {
        assert_eq!(for_terminal(b"\x1b[2Jhi\x07"), "\\x1B[2Jhi\\x07");
        assert_eq!(for_terminal("a\u{202E}b".as_bytes()), "a\\u{202E}b");
        assert_eq!(for_terminal(b"tab\there"), "tab\\x09here");
    }
}
