//! Time windows: `--since`, `--until`, `--last 24h`, and bucket sizes like `--bucket 5m`.

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The requests to count: `since <= time < until`, in UTC seconds. Lines outside it are read and
/// counted as filtered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeWindow {
    /// Whether a request at `utc` is inside the window; requests without a time always are.
    pub fn contains(&self, utc: Option<i64>) -> bool {
        let Some(t) = utc else { return true };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// The window from the command line; `now` anchors `--last`.
    pub fn from_flags(
        since: Option<&str>,
        until: Option<&str>,
        last: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Self> {
        let mut window = TimeWindow {
            since: since.map(|s| parse_time(s).with_context(|| format!("--since {s:?}"))).transpose()?,
            until: until.map(|s| parse_time(s).with_context(|| format!("--until {s:?}"))).transpose()?,
        };
        if let Some(last) = last {
            if window.since.is_some() {
                bail!("--last and --since both set the start of the window: use one");
            }
            let span = parse_duration(last).with_context(|| format!("--last {last:?}"))?;
            let end = window.until.unwrap_or(now);
            window.since = Some(
                end.checked_sub(span).with_context(|| format!("--last {last:?} starts before time began"))?,
            );
        }
        if let (Some(s), Some(u)) = (window.since, window.until) {
            if s >= u {
                bail!("the window is empty: --since must be before --until");
            }
        }
        Ok(window)
    }
}

/// `2024-05-14T10:00:00+02:00` (RFC 3339), `2024-05-14T10:00[:00]` or `2024-05-14` (UTC), or a
/// Unix timestamp.
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(unix) = text.parse::<i64>() {
        return Ok(unix);
    }
    bail!("not a time: use RFC 3339 like 2024-05-14T10:00:00+02:00, 2024-05-14T10:00 (UTC), or a Unix timestamp")
}

/// `30s`, `5m`, `2h`, `7d` → seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .context("not a duration: use a positive number with s, m, h or d, like 5m or 24h")?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("not a duration: use a positive number with s, m, h or d, like 5m or 24h"),
    };
    n.checked_mul(scale).context("duration too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("2024-05-14T10:00:00+02:00").unwrap(), 1_715_673_600);
        assert_eq!(parse_time("2024-05-14T08:00").unwrap(), 1_715_673_600);
        assert_eq!(parse_time("2024-05-14").unwrap(), 1_715_644_800);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("5m").unwrap(), 300);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn windows() {
        let w = TimeWindow::from_flags(None, None, Some("1h"), 10_000).unwrap();
        assert_eq!(w, TimeWindow { since: Some(6_400), until: None });
        assert!(w.contains(Some(6_400)) && !w.contains(Some(6_399)) && w.contains(None));
        assert!(TimeWindow::from_flags(Some("2024-05-14"), Some("2024-05-13"), None, 0).is_err());
        assert!(TimeWindow::from_flags(Some("2024-05-14"), None, Some("1h"), 0).is_err());
    }
}
