//! A failed request copied out of the read buffer for the join, its log text in one allocation.
//!
//! Every 5xx of a large log becomes a [`Candidate`], so the per-candidate cost matters: the six
//! text fields share one boxed byte buffer addressed by `u32` ends instead of six boxes of their
//! own. State files keep the plain field-per-value JSON shape (see the `serde` impls below).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 5xx (or a request with a failed upstream attempt), copied out of the buffer for the join.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub input: usize,
    pub line: u64,
    pub time: Option<i64>,
    pub offset: i32,
    pub status: u16,
    pub connection: Option<u64>,
    pub request_time: Option<f64>,
    /// `$remote_addr`, the request line, `$host` and the three `$upstream_*` values.
    pub text: CandidateText,
    /// The container, pod or host a stream named for this line; the join never pairs lines
    /// of two different sources (each nginx counts connections from 1).
    pub source: Option<Box<str>>,
}

impl Candidate {
    pub fn client(&self) -> Option<&[u8]> {
        self.text.get(CLIENT)
    }

    /// The request line in nginx's default escaping, whatever the log's escaping was, so it
    /// compares equal to the error log's `request: "..."` once that is escaped the same way.
    pub fn request(&self) -> Option<&[u8]> {
        self.text.get(REQUEST)
    }

    pub fn host(&self) -> Option<&[u8]> {
        self.text.get(HOST)
    }

    pub fn upstream_addr(&self) -> Option<&[u8]> {
        self.text.get(UPSTREAM_ADDR)
    }

    pub fn upstream_status(&self) -> Option<&[u8]> {
        self.text.get(UPSTREAM_STATUS)
    }

    pub fn upstream_response_time(&self) -> Option<&[u8]> {
        self.text.get(UPSTREAM_RESPONSE_TIME)
    }
}

const CLIENT: usize = 0;
const REQUEST: usize = 1;
const HOST: usize = 2;
const UPSTREAM_ADDR: usize = 3;
const UPSTREAM_STATUS: usize = 4;
const UPSTREAM_RESPONSE_TIME: usize = 5;
const FIELDS: usize = 6;

/// The text fields of a candidate, each present or absent, laid end to end in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CandidateText {
    bytes: Box<[u8]>,
    /// Where each field but the last ends in `bytes` (a field starts where the previous one
    /// ends; the last ends with `bytes`, whose length the box holds already).
    ends: [u32; FIELDS - 1],
    /// Bit `i` set when field `i` is present (an absent field is empty and not set).
    present: u8,
}

/// The text fields by name, borrowed: what [`CandidateText::new`] copies.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFields<'a> {
    pub client: Option<&'a [u8]>,
    pub request: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub upstream_addr: Option<&'a [u8]>,
    pub upstream_status: Option<&'a [u8]>,
    pub upstream_response_time: Option<&'a [u8]>,
}

impl CandidateText {
    pub fn new(f: &TextFields<'_>) -> CandidateText {
        let fields =
            [f.client, f.request, f.host, f.upstream_addr, f.upstream_status, f.upstream_response_time];
        let mut b = TextBuilder::with_capacity(fields.iter().flatten().map(|v| v.len()).sum());
        for value in fields {
            b.push(value);
        }
        b.finish()
    }

    fn get(&self, field: usize) -> Option<&[u8]> {
        if self.present & (1 << field) == 0 {
            return None;
        }
        let start = field.checked_sub(1).and_then(|before| self.ends.get(before)).map_or(0, |&e| e as usize);
        let end = self.ends.get(field).map_or(self.bytes.len(), |&e| e as usize);
        self.bytes.get(start..end)
    }
}

/// Builds a [`CandidateText`] field by field, in field order, so values that need escaping can
/// be written straight into the shared buffer.
pub(super) struct TextBuilder {
    bytes: Vec<u8>,
    ends: [u32; FIELDS],
    present: u8,
    next: usize,
}

impl TextBuilder {
    pub(super) fn with_capacity(capacity: usize) -> TextBuilder {
        TextBuilder { bytes: Vec::with_capacity(capacity), ends: [0; FIELDS], present: 0, next: 0 }
    }

    pub(super) fn push(&mut self, value: Option<&[u8]>) {
        self.push_with(|out| value.map(|v| out.extend_from_slice(v)).is_some());
    }

    /// The next field, written by `write`, which returns whether the field is present. A field
    /// that would take the buffer past `u32::MAX` bytes (no log line is that long) is absent.
    pub(super) fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool) {
        let start = self.bytes.len();
        let present = write(&mut self.bytes);
        let end = match u32::try_from(self.bytes.len()) {
            Ok(end) if present => {
                self.present |= 1 << self.next;
                end
            }
            _ => {
                self.bytes.truncate(start);
                start as u32
            }
        };
        if let Some(slot) = self.ends.get_mut(self.next) {
            *slot = end;
        }
        self.next += 1;
    }

    pub(super) fn finish(self) -> CandidateText {
        let mut ends = [0; FIELDS - 1];
        for (at, (end, &pushed)) in ends.iter_mut().zip(&self.ends).enumerate() {
            // Fields never pushed are absent and empty.
            *end = if at < self.next { pushed } else { self.bytes.len() as u32 };
        }
        CandidateText { bytes: self.bytes.into_boxed_slice(), ends, present: self.present }
    }
}

/// The state file's shape of a candidate: one JSON field per value, as before the text fields
/// shared a buffer, so state files stay readable by older and newer builds alike.
#[derive(Serialize)]
struct Wire<'a> {
    input: usize,
    line: u64,
    time: Option<i64>,
    offset: i32,
    status: u16,
    client: Option<&'a [u8]>,
    request: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
    connection: Option<u64>,
    request_time: Option<f64>,
    upstream_addr: Option<&'a [u8]>,
    upstream_status: Option<&'a [u8]>,
    upstream_response_time: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
}

/// [`Wire`], owned, for reading.
#[derive(Deserialize)]
struct OwnedWire {
    input: usize,
    line: u64,
    time: Option<i64>,
    offset: i32,
    status: u16,
    client: Option<Box<[u8]>>,
    request: Option<Box<[u8]>>,
    host: Option<Box<[u8]>>,
    connection: Option<u64>,
    request_time: Option<f64>,
    upstream_addr: Option<Box<[u8]>>,
    upstream_status: Option<Box<[u8]>>,
    upstream_response_time: Option<Box<[u8]>>,
    #[serde(default)]
    source: Option<Box<str>>,
}

impl Serialize for Candidate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            input: self.input,
            line: self.line,
            time: self.time,
            offset: self.offset,
            status: self.status,
            client: self.client(),
            request: self.request(),
            host: self.host(),
            connection: self.connection,
            request_time: self.request_time,
            upstream_addr: self.upstream_addr(),
            upstream_status: self.upstream_status(),
            upstream_response_time: self.upstream_response_time(),
            source: self.source.as_deref(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Candidate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Candidate, D::Error> {
        let w = OwnedWire::deserialize(d)?;
        let text = CandidateText::new(&TextFields {
            client: w.client.as_deref(),
            request: w.request.as_deref(),
            host: w.host.as_deref(),
            upstream_addr: w.upstream_addr.as_deref(),
            upstream_status: w.upstream_status.as_deref(),
            upstream_response_time: w.upstream_response_time.as_deref(),
        });
        Ok(Candidate {
            input: w.input,
            line: w.line,
            time: w.time,
            offset: w.offset,
            status: w.status,
            connection: w.connection,
            request_time: w.request_time,
            text,
            source: w.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Candidate {
        Candidate {
            input: 1,
            line: 7,
            time: Some(60),
            offset: 3600,
            status: 502,
            connection: Some(9),
            request_time: Some(0.25),
            text: CandidateText::new(&TextFields {
                client: Some(b"10.0.0.1"),
                request: Some(b""),
                upstream_addr: Some(b"10.0.0.2:80, 10.0.0.3:80"),
                upstream_response_time: Some(b"0.1, 0.15"),
                ..TextFields::default()
            }),
            source: None,
        }
    }

    #[test]
    fn fields_keep_absent_apart_from_empty() {
        let c = sample();
        assert_eq!(c.client(), Some(&b"10.0.0.1"[..]));
        assert_eq!(c.request(), Some(&b""[..]));
        assert_eq!(c.host(), None);
        assert_eq!(c.upstream_addr(), Some(&b"10.0.0.2:80, 10.0.0.3:80"[..]));
        assert_eq!(c.upstream_status(), None);
        assert_eq!(c.upstream_response_time(), Some(&b"0.1, 0.15"[..]));
    }

    #[test]
    fn the_last_field_ends_with_the_buffer() {
        let last = |value: Option<&'static [u8]>| {
            let text = CandidateText::new(&TextFields {
                request: Some(b"GET / HTTP/1.1"),
                upstream_response_time: value,
                ..TextFields::default()
            });
            Candidate { text, ..sample() }
        };
        assert_eq!(last(None).upstream_response_time(), None);
        assert_eq!(last(Some(b"")).upstream_response_time(), Some(&b""[..]));
        assert_eq!(last(Some(b"0.5")).upstream_response_time(), Some(&b"0.5"[..]));
        assert_eq!(last(Some(b"0.5")).request(), Some(&b"GET / HTTP/1.1"[..]));
        assert_eq!(last(Some(b"0.5")).upstream_status(), None);
        let mut fewer = TextBuilder::with_capacity(0);
        fewer.push(Some(b"10.0.0.1"));
        let c = Candidate { text: fewer.finish(), ..sample() };
        assert_eq!(c.client(), Some(&b"10.0.0.1"[..]));
        assert_eq!((c.request(), c.upstream_response_time()), (None, None));
    }

    /// Every failed request holds one: the last field's end is left to the box's length.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_candidate_stays_small() {
        assert_eq!(std::mem::size_of::<CandidateText>(), 40);
        assert_eq!(std::mem::size_of::<Candidate>(), 128);
    }

    #[test]
    fn state_files_keep_one_json_field_per_value() {
        let c = sample();
        let json = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"input":1,"line":7,"time":60,"offset":3600,"status":502,"client":[49,48,46,48,46,48,46,49],"request":[],"host":null,"connection":9,"request_time":0.25,"upstream_addr":[49,48,46,48,46,48,46,50,58,56,48,44,32,49,48,46,48,46,48,46,51,58,56,48],"upstream_status":null,"upstream_response_time":[48,46,49,44,32,48,46,49,53]}"#
        );
        let back: Candidate = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, c);
        let named = Candidate { source: Some("web-1".into()), ..c };
        let json = serde_json::to_string(&named).unwrap_or_default();
        assert!(json.ends_with(r#","source":"web-1"}"#), "{json}");
        assert_eq!(serde_json::from_str::<Candidate>(&json).ok(), Some(named));
    }
}
