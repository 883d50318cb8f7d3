//! Decimal numbers as nginx writes them, read from bytes without allocating (every parser uses
//! these, so they depend on nothing).

/// A decimal number of seconds as nginx writes times (`0.004`), without allocating. nginx always
/// writes whole seconds, a dot and milliseconds; that shape is read directly (it is parsed on
/// every line), anything else through the general float parser.
pub fn parse_seconds(text: &[u8]) -> Option<f64> {
    if let [whole @ .., b'.', a, b, c] = text {
        let [a, b, c] = [a, b, c].map(|d| d.wrapping_sub(b'0'));
        // Most requests take under ten seconds: one digit before the dot, read without a loop.
        let secs = match whole {
            [d] if d.is_ascii_digit() => Some(u64::from(d - b'0')),
            _ => parse_u64(whole),
        };
        if let (Some(secs), true) = (secs, a < 10 && b < 10 && c < 10) {
            let millis = u64::from(a) * 100 + u64::from(b) * 10 + u64::from(c);
            return Some(secs as f64 + millis as f64 / 1000.0);
        }
    }
    std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// A decimal integer, or `None` for anything else (including overflow: the whole `u64` range,
/// twenty digits, is read exactly).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The number `text` starts with, and how many digits it has: for a number whose end is found
/// by reading it (an error-log header's pid and `*CID`), in one pass. `None` for no digits or
/// more than a `u64` holds, as [`parse_u64`] reads the digits.
pub fn leading_u64(text: &[u8]) -> (Option<u64>, usize) {
    let mut value = 0u64;
    let mut digits = 0;
    while let Some(d) = text.get(digits).map(|b| b.wrapping_sub(b'0')).filter(|&d| d < 10) {
        value = value.wrapping_mul(10).wrapping_add(u64::from(d));
        digits += 1;
    }
    // Nineteen digits never overflow: only longer numbers are read again, with the checks.
    match digits {
        0 => (None, 0),
        1..=19 => (Some(value), digits),
        _ => (parse_u64(&text[..digits]), digits),
    }
}

/// An HTTP status: exactly three digits (nginx writes `009` for HTTP/0.9 fallbacks).
pub fn parse_status(text: &[u8]) -> Option<u16> {
    match text {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_numbers_read_as_parse_u64_reads_their_digits() {
        for text in [
            &b""[..],
            b"x",
            b"0",
            b"48213 x",
            b"007,",
            b"9999999999999999999#",
            b"10000000000000000000",
            b"18446744073709551615",
            b"18446744073709551616 ",
            b"99999999999999999999",
        ] {
            let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
            assert_eq!(leading_u64(text), (parse_u64(&text[..digits]), digits), "{text:?}");
        }
        assert_eq!(leading_u64(&[b'9'; 4096]), (None, 4096));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_status(b"502"), Some(502));
        assert_eq!(parse_status(b"009"), Some(9));
        assert_eq!(parse_status(b"50"), None);
        assert_eq!(parse_status(b"5a2"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(&[b'9'; 4096]), None);
        assert_eq!(parse_u64(b"48213"), Some(48213));
        assert_eq!(parse_seconds(b"0.004"), Some(0.004));
        assert_eq!(parse_seconds(b"7.250"), Some(7.25));
        assert_eq!(parse_seconds(b"12.5"), Some(12.5));
        assert_eq!(parse_seconds(b"120.001"), Some(120.001));
        assert_eq!(parse_seconds(b".004"), Some(0.004));
        assert_eq!(parse_seconds(b"x.004"), None);
        assert_eq!(parse_seconds(b"0.0/4"), None);
        assert_eq!(parse_seconds(b"-"), None);
        assert_eq!(parse_seconds(b"NaN"), None);
    }
}
