//! Time for every stage: timestamps as nginx writes them (parsed once per distinct second), zone
//! offsets, RFC 3339 output and timeline bucket sizes.
//!
//! A busy log repeats the same second thousands of times, so each parser keeps the last text it
//! converted and answers repeats with a byte comparison instead of a date computation.

/// A point in time: seconds since the Unix epoch (UTC) and the offset the log wrote it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub utc: i64,
    pub offset: i32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc.wrapping_mul(10).wrapping_add(u32::from(b - b'0')))
    })
}

fn civil_seconds(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && h < 24 && m < 60 && s < 61;
    valid.then(|| days_from_civil(i64::from(year), month, day) * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

fn month_number(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    MONTHS.iter().position(|m| &m[..] == name).map(|i| i as u32 + 1)
}

/// `+0200`, `-0530`, `+02:00` or `Z` → seconds east of UTC.
pub fn parse_offset(text: &[u8]) -> Option<i32> {
    if text == b"Z" {
        return Some(0);
    }
    let (&sign, rest) = text.split_first()?;
    let rest: Vec<u8> = rest.iter().copied().filter(|&b| b != b':').collect();
    if rest.len() != 4 {
        return None;
    }
    let hours = digits(&rest[..2])? as i32;
    let minutes = digits(&rest[2..])? as i32;
    let seconds = hours * 3600 + minutes * 60;
    match sign {
        b'+' => Some(seconds),
        b'-' => Some(-seconds),
        _ => None,
    }
}

/// `$time_local`: `10/Oct/2000:13:55:36 -0700`.
pub fn parse_time_local(text: &[u8]) -> Option<Stamp> {
    if text.len() != 26 || text[2] != b'/' || text[6] != b'/' || text[11] != b':' || text[20] != b' ' {
        return None;
    }
    let day = digits(&text[0..2])?;
    let month = month_number(&text[3..6])?;
    let year = digits(&text[7..11])?;
    let h = digits(&text[12..14])?;
    let m = digits(&text[15..17])?;
    let s = digits(&text[18..20])?;
    let offset = parse_offset(&text[21..26])?;
    let local = civil_seconds(year, month, day, h, m, s)?;
    Some(Stamp { utc: local - i64::from(offset), offset })
}

/// `$time_iso8601`: `2000-10-10T13:55:36-07:00` (nginx never writes fractions here).
pub fn parse_time_iso8601(text: &[u8]) -> Option<Stamp> {
    if text.len() < 20 || text[4] != b'-' || text[7] != b'-' || text[10] != b'T' {
        return None;
    }
    let local = fixed_width_civil(text)?;
    let offset = parse_offset(&text[19..])?;
    Some(Stamp { utc: local - i64::from(offset), offset })
}

/// `$msec`: `1700000000.123`, always UTC. The seconds are read as a 64-bit number: the `u32`
/// of the date fields would wrap after 2106.
pub fn parse_msec(text: &[u8]) -> Option<Stamp> {
    let whole = text.split(|&b| b == b'.').next()?;
    if whole.len() > 12 {
        return None;
    }
    Some(Stamp { utc: i64::try_from(crate::number::parse_u64(whole)?).ok()?, offset: 0 })
}

/// The error log's `2024/05/14 10:22:31`: local wall-clock seconds, with no zone.
pub fn parse_error_log_time(text: &[u8]) -> Option<i64> {
    if text.len() != 19 || text[4] != b'/' || text[7] != b'/' || text[10] != b' ' {
        return None;
    }
    fixed_width_civil(text)
}

/// `YYYY?MM?DD?HH?MM?SS` at fixed positions (the separators are checked by the callers): the
/// layout `$time_iso8601` and the error log share.
fn fixed_width_civil(text: &[u8]) -> Option<i64> {
    civil_seconds(
        digits(text.get(0..4)?)?,
        digits(text.get(5..7)?)?,
        digits(text.get(8..10)?)?,
        digits(text.get(11..13)?)?,
        digits(text.get(14..16)?)?,
        digits(text.get(17..19)?)?,
    )
}

/// Formats a UTC timestamp in the given offset, RFC 3339.
pub fn rfc3339(utc: i64, offset: i32) -> String {
    use chrono::{FixedOffset, TimeZone};
    let zone = FixedOffset::east_opt(offset)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC is a valid offset"));
    zone.timestamp_opt(utc, 0).single().map_or_else(|| utc.to_string(), |t| t.to_rfc3339())
}

/// `(utc seconds, offset seconds)` of an RFC 3339 time, as reports write them.
pub fn parse_rfc3339(text: &str) -> Option<(i64, i32)> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| (t.timestamp(), t.offset().local_minus_utc()))
}

/// Orders two RFC 3339 times by the instant they name (`12:00+02:00` before `11:00Z`); texts that
/// are not RFC 3339 (readers refuse them first) by their text, so the order is total.
pub fn order_rfc3339(a: &str, b: &str) -> std::cmp::Ordering {
    match (parse_rfc3339(a), parse_rfc3339(b)) {
        (Some(a), Some(b)) => a.0.cmp(&b.0),
        _ => a.cmp(b),
    }
}

/// Picks a timeline bucket so a span gives at most about 120 buckets.
pub fn bucket_for_span(span: i64) -> i64 {
    const STEPS: [i64; 8] = [60, 300, 900, 1800, 3600, 6 * 3600, 12 * 3600, 86400];
    STEPS.into_iter().find(|s| span / s <= 120).unwrap_or(86400)
}

/// Whether two texts are equal, compared 8 bytes at a time without a call of `memcmp` (once per
/// access line, the call cost more than the compare).
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    a.len() == b.len()
        && a8.by_ref().zip(b8.by_ref()).all(|(x, y)| x.first_chunk::<8>() == y.first_chunk::<8>())
        && a8.remainder().iter().eq(b8.remainder())
}

/// Remembers the last timestamp text and its value: consecutive lines almost always share it
/// (an access log's `Stamp`s, an error log's header times).
pub struct StampCache<T = Stamp> {
    text: [u8; 32],
    len: usize,
    value: Option<T>,
}

impl<T> Default for StampCache<T> {
    fn default() -> Self {
        StampCache { text: [0; 32], len: 0, value: None }
    }
}

impl<T: Copy> StampCache<T> {
    /// Parses `text` with `parse`, or returns the remembered value when the text repeats.
    pub fn get(&mut self, text: &[u8], parse: fn(&[u8]) -> Option<T>) -> Option<T> {
        if self.len == text.len() && same_text(&self.text[..self.len], text) {
            return self.value;
        }
        let value = parse(text);
        if text.len() <= self.text.len() {
            self.text[..text.len()].copy_from_slice(text);
            self.len = text.len();
            self.value = value;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_local_with_offsets() {
        let s = parse_time_local(b"10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(s, Stamp { utc: 971_211_336, offset: -7 * 3600 });
        let k = parse_time_local(b"10/Oct/2000:13:55:36 +0530").unwrap();
        assert_eq!(k, Stamp { utc: 971_186_136 - 19_800, offset: 19_800 });
        assert!(parse_time_local(b"10/Foo/2000:13:55:36 -0700").is_none());
        assert!(parse_time_local(b"10/Oct/2000:25:55:36 -0700").is_none());
    }

    #[test]
    fn iso8601_and_msec_agree_with_time_local() {
        let local = parse_time_local(b"10/Oct/2000:13:55:36 -0700").unwrap();
        let iso = parse_time_iso8601(b"2000-10-10T13:55:36-07:00").unwrap();
        assert_eq!(local, iso);
        assert_eq!(parse_msec(b"971211336.250").unwrap().utc, local.utc);
        assert!(parse_msec(b"12a.5").is_none());
        assert_eq!(parse_msec(b"4294967296.000").unwrap().utc, 4_294_967_296);
    }

    #[test]
    fn offsets_in_every_spelling() {
        assert_eq!(parse_offset(b"+0200"), Some(7200));
        assert_eq!(parse_offset(b"-05:30"), Some(-19_800));
        assert_eq!(parse_offset(b"Z"), Some(0));
        assert_eq!(parse_offset(b"0200"), None);
        assert_eq!(rfc3339(971_211_336, -7 * 3600), "2000-10-10T13:55:36-07:00");
    }

    #[test]
    fn error_log_time_is_naive_local() {
        assert_eq!(parse_error_log_time(b"2000/10/10 13:55:36"), Some(971_186_136));
        assert_eq!(parse_error_log_time(b"2000-10-10 13:55:36"), None);
    }

    #[test]
    fn texts_compare_in_chunks_and_remainder() {
        let t = b"14/May/2024:10:22:31 +0200";
        assert!(same_text(t, t) && same_text(b"", b""));
        assert!(!same_text(t, b"14/May/2024:10:22:31 +0201"));
        assert!(!same_text(t, b"14/May/2024:10:22:32 +0200"));
        assert!(!same_text(t, b"14/May/2024:10:22:31 +020"));
    }

    #[test]
    fn cache_returns_same_value_for_repeats() {
        let mut cache = StampCache::default();
        let a = cache.get(b"10/Oct/2000:13:55:36 -0700", parse_time_local);
        let b = cache.get(b"10/Oct/2000:13:55:36 -0700", parse_time_local);
        assert_eq!(a, b);
        assert!(cache.get(b"garbage", parse_time_local).is_none());
    }
}
