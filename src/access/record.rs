//! One parsed access-log line, borrowing its bytes from the input buffer.

use super::field::{Field, FIELD_COUNT};
use super::format::Escape;
use super::time::Stamp;

/// An access-log line split into fields. Nothing is copied: every value is a slice of the line,
/// still escaped the way nginx wrote it (see [`AccessRecord::escape`]). Values are kept as
/// `(start, end)` offsets into the line, which halves the record's size against slices: it is
/// built and moved once per line.
#[derive(Clone, Debug)]
pub struct AccessRecord<'a> {
    line: &'a [u8],
    spans: [(u32, u32); FIELD_COUNT],
    /// How the values are escaped, which matters when a value is compared across logs.
    pub escape: Escape,
    pub status: u16,
    pub time: Option<Stamp>,
}

impl<'a> AccessRecord<'a> {
    pub(crate) fn new(line: &'a [u8], escape: Escape) -> Self {
        AccessRecord { line, spans: [(0, 0); FIELD_COUNT], escape, status: 0, time: None }
    }

    /// Records that `field` spans `start..end` of the line.
    pub(crate) fn set(&mut self, field: Field, start: usize, end: usize) {
        // Lines longer than 4 GiB cannot be split; their fields read as absent.
        if let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end)) {
            self.spans[field as usize] = (s, e);
        }
    }

    /// Records `field` from a slice that must lie inside the line.
    pub(crate) fn set_slice(&mut self, field: Field, value: &'a [u8]) {
        let start = value.as_ptr() as usize - self.line.as_ptr() as usize;
        self.set(field, start, start + value.len());
    }

    /// The value of `field`, or `None` when the format does not log it or nginx wrote `-`
    /// (its marker for "no value").
    pub fn get(&self, field: Field) -> Option<&'a [u8]> {
        let (start, end) = self.spans[field as usize];
        let value = self.line.get(start as usize..end as usize)?;
        (!value.is_empty() && value != b"-").then_some(value)
    }

    /// The client address: `$remote_addr`, or `$realip_remote_addr` when only that is logged.
    pub fn client(&self) -> Option<&'a [u8]> {
        self.get(Field::RemoteAddr).or_else(|| self.get(Field::RealipRemoteAddr))
    }

    /// The virtual host, from `$host`, `$http_host` or `$server_name`.
    pub fn host(&self) -> Option<&'a [u8]> {
        self.get(Field::Host).or_else(|| self.get(Field::HttpHost)).or_else(|| self.get(Field::ServerName))
    }

    /// `$connection`, the number the error log prints as `*CID`.
    pub fn connection(&self) -> Option<u64> {
        parse_u64(self.get(Field::Connection)?)
    }

    /// `$request_time` in seconds.
    pub fn request_time(&self) -> Option<f64> {
        parse_seconds(self.get(Field::RequestTime)?)
    }
}

/// A decimal number of seconds as nginx writes times (`0.004`), without allocating. nginx always
/// writes whole seconds, a dot and milliseconds; that shape is read directly (it is parsed on
/// every line), anything else through the general float parser.
pub fn parse_seconds(text: &[u8]) -> Option<f64> {
    if let [whole @ .., b'.', a, b, c] = text {
        if let (Some(secs), true) = (parse_u64(whole), [a, b, c].iter().all(|d| d.is_ascii_digit())) {
            let millis = u64::from(a - b'0') * 100 + u64::from(b - b'0') * 10 + u64::from(c - b'0');
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
        assert_eq!(parse_seconds(b"-"), None);
        assert_eq!(parse_seconds(b"NaN"), None);
    }

    #[test]
    fn dash_means_absent() {
        let line = b"- example.com";
        let mut r = AccessRecord::new(line, Escape::Default);
        r.set(Field::Host, 0, 1);
        r.set(Field::HttpHost, 2, line.len());
        assert_eq!(r.host(), Some(&b"example.com"[..]));
    }
}
