//! nginx's time and size values (`ngx_parse_time`, `ngx_parse_size`), so a configured timeout can
//! be compared with measured request times and a buffer size with the page size.

/// Seconds in `1m30s`, `500ms`, `60` (bare numbers are seconds), `2h`, `1d`, `1w`...
pub fn seconds(value: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "" | "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "M" => 30.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Bytes in `4k`, `8K`, `1m`, `4096`.
pub fn bytes(value: &str) -> Option<u64> {
    let value = value.trim();
    let (number, factor) = match value.as_bytes().last()? {
        b'k' | b'K' => (&value[..value.len() - 1], 1024),
        b'm' | b'M' => (&value[..value.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&value[..value.len() - 1], 1024 * 1024 * 1024),
        _ => (value, 1),
    };
    number.parse::<u64>().ok()?.checked_mul(factor)
}

/// A duration as nginx users write it: `1s`, `1.5s`, `250ms`.
pub fn show_seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else if (s - s.round()).abs() < 0.05 {
        format!("{}s", s.round())
    } else {
        format!("{s:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_like_nginx() {
        assert_eq!(seconds("1s"), Some(1.0));
        assert_eq!(seconds("60"), Some(60.0));
        assert_eq!(seconds("500ms"), Some(0.5));
        assert_eq!(seconds("1m30s"), Some(90.0));
        assert_eq!(seconds("2h"), Some(7200.0));
        assert_eq!(seconds("1x"), None);
        assert_eq!(seconds(""), None);
        assert_eq!(seconds("s"), None);
        assert_eq!(bytes("4k"), Some(4096));
        assert_eq!(bytes("8K"), Some(8192));
        assert_eq!(bytes("1m"), Some(1 << 20));
        assert_eq!(bytes("512"), Some(512));
        assert_eq!(bytes("k"), None);
        assert_eq!(bytes("99999999999999999999g"), None);
        assert_eq!(show_seconds(1.0), "1s");
        assert_eq!(show_seconds(0.25), "250ms");
        assert_eq!(show_seconds(2.44), "2.4s");
    }
}
