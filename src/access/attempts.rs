//! The upstream attempt lists: `$upstream_addr` `10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80`.
//!
//! nginx pushes one entry per attempt, joined by `", "`, and a `" : "` where an internal redirect
//! started a second upstream run in the same request. `$upstream_status` and the times line up
//! with `$upstream_addr` entry by entry.

use crate::number::parse_status;

/// Iterates the entries of an attempt list, separators removed.
pub fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let mut rest = Some(list);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut search = 0;
        loop {
            // Entries are a few bytes long: a plain scan beats a `memchr` call's set-up here.
            match text[search..].iter().position(|&b| b == b' ').map(|i| search + i) {
                None => {
                    rest = None;
                    return Some(trim(text));
                }
                Some(sp) if sp > 0 && text[sp - 1] == b',' => {
                    rest = Some(&text[sp + 1..]);
                    return Some(trim(&text[..sp - 1]));
                }
                Some(sp) if text[sp + 1..].starts_with(b": ") => {
                    rest = Some(&text[sp + 3..]);
                    return Some(trim(&text[..sp]));
                }
                Some(sp) => search = sp + 1,
            }
        }
    })
}

fn trim(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

/// The status of one attempt: `502`, or `None` for `-` (no response was read).
pub fn attempt_status(entry: &[u8]) -> Option<u16> {
    parse_status(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(list: &[u8]) -> Vec<String> {
        entries(list).map(|e| String::from_utf8_lossy(e).into_owned()).collect()
    }

    #[test]
    fn splits_retries_and_redirects() {
        assert_eq!(all(b"10.0.0.1:80"), ["10.0.0.1:80"]);
        assert_eq!(
            all(b"10.0.0.1:80, 10.0.0.2:80 : 10.0.0.9:80"),
            ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.9:80"]
        );
        assert_eq!(all(b"[2001:db8::1]:80, backend"), ["[2001:db8::1]:80", "backend"]);
        assert_eq!(all(b"unix:/run/php.sock : 10.0.0.9:80"), ["unix:/run/php.sock", "10.0.0.9:80"]);
        assert_eq!(all(b"502, -"), ["502", "-"]);
    }

    #[test]
    fn statuses() {
        assert_eq!(attempt_status(b"502"), Some(502));
        assert_eq!(attempt_status(b"-"), None);
    }
}
