//! One parsed access-log line, borrowing its bytes from the input buffer.

use super::field::{Field, FIELD_COUNT};
use super::format::Escape;
use crate::number::{parse_seconds, parse_u64};
use crate::time::Stamp;

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

    /// The line the record splits (without its `\r`).
    pub(crate) fn line(&self) -> &'a [u8] {
        self.line
    }

    /// Records that `field` spans `start..end` of the line.
    pub(crate) fn set(&mut self, field: Field, start: usize, end: usize) {
        // Lines longer than 4 GiB cannot be split; their fields read as absent.
        if let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end)) {
            self.spans[field as usize] = (s, e);
        }
    }

    /// [`set`](Self::set) for a line shorter than 4 GiB, whose offsets all fit the spans: the
    /// check per field is left out of the split of every line.
    pub(crate) fn set_fitting(&mut self, field: Field, start: usize, end: usize) {
        debug_assert!(u32::try_from(end).is_ok() && start <= end);
        self.spans[field as usize] = (start as u32, end as u32);
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

/// The path of a request line (`GET /a/b?x=1 HTTP/1.1` → `/a/b`).
pub fn request_path(request: &[u8]) -> &[u8] {
    let target = request.split(|&b| b == b' ').nth(1).unwrap_or(request);
    target.split(|&b| b == b'?').next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_means_absent() {
        let line = b"- example.com";
        let mut r = AccessRecord::new(line, Escape::Default);
        r.set(Field::Host, 0, 1);
        r.set(Field::HttpHost, 2, line.len());
        assert_eq!(r.host(), Some(&b"example.com"[..]));
    }
}
