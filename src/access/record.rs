//! One parsed access-log line, borrowing its bytes from the input buffer.

use super::field::{Field, FIELD_COUNT};
use super::format::Escape;
use super::time::Stamp;

/// An access-log line split into fields. Nothing is copied: every value is a slice of the line,
/// still escaped the way nginx wrote it (see [`AccessRecord::escape`]).
#[derive(Clone, Debug)]
pub struct AccessRecord<'a> {
    slots: [Option<&'a [u8]>; FIELD_COUNT],
    /// How the values are escaped, which matters when a value is compared across logs.
    pub escape: Escape,
    pub status: u16,
    pub time: Option<Stamp>,
}

impl<'a> AccessRecord<'a> {
    pub(crate) fn new(escape: Escape) -> Self {
        AccessRecord { slots: [None; FIELD_COUNT], escape, status: 0, time: None }
    }

    pub(crate) fn set(&mut self, field: Field, value: &'a [u8]) {
        self.slots[field as usize] = Some(value);
    }

    /// The value of `field`, or `None` when the format does not log it or nginx wrote `-`
    /// (its marker for "no value").
    pub fn get(&self, field: Field) -> Option<&'a [u8]> {
        self.slots[field as usize].filter(|v| !v.is_empty() && *v != b"-")
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

/// A decimal number of seconds as nginx writes times (`0.004`), without allocating.
pub fn parse_seconds(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// A decimal integer, or `None` for anything else (including overflow).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
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
        assert_eq!(parse_u64(b"18446744073709551615"), None);
        assert_eq!(parse_u64(b"48213"), Some(48213));
        assert_eq!(parse_seconds(b"0.004"), Some(0.004));
        assert_eq!(parse_seconds(b"-"), None);
        assert_eq!(parse_seconds(b"NaN"), None);
    }

    #[test]
    fn dash_means_absent() {
        let mut r = AccessRecord::new(Escape::Default);
        r.set(Field::Host, b"-");
        r.set(Field::HttpHost, b"example.com");
        assert_eq!(r.host(), Some(&b"example.com"[..]));
    }
}
