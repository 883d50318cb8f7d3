//! Events per key over the last 1, 5 and 15 minutes, like a load average: 10-second buckets in a
//! ring, so memory is fixed per key and the number of keys is capped.

use std::collections::BTreeMap;
use std::time::Instant;

const BUCKET_SECS: u64 = 10;
const BUCKETS: u64 = 90;
/// The windows shown, in seconds (1, 5 and 15 minutes).
pub const WINDOWS: [u64; 3] = [60, 300, 900];
/// Distinct keys kept; later ones are counted under [`OTHER`].
const MAX_KEYS: usize = 200;
/// The key events beyond [`MAX_KEYS`] are counted under.
pub const OTHER: &str = "(other)";

struct Ring {
    counts: [u32; BUCKETS as usize],
    /// The newest bucket written.
    last: u64,
}

impl Ring {
    fn add(&mut self, bucket: u64) {
        if bucket > self.last {
            for b in self.last + 1..=bucket.min(self.last + BUCKETS) {
                self.counts[(b % BUCKETS) as usize] = 0;
            }
            self.last = bucket;
        }
        let slot = &mut self.counts[(bucket % BUCKETS) as usize];
        *slot = slot.saturating_add(1);
    }

    /// Events in the `span` buckets up to and including `now`.
    fn sum(&self, now: u64, span: u64) -> u64 {
        let from = (now + 1).saturating_sub(span).max((self.last + 1).saturating_sub(BUCKETS));
        (from..=self.last.min(now)).map(|b| u64::from(self.counts[(b % BUCKETS) as usize])).sum()
    }
}

/// Event counts per key over the last [`WINDOWS`].
pub struct Rates {
    start: Instant,
    keys: BTreeMap<String, Ring>,
}

impl Rates {
    pub fn new(start: Instant) -> Rates {
        Rates { start, keys: BTreeMap::new() }
    }

    fn bucket(&self, now: Instant) -> u64 {
        now.duration_since(self.start).as_secs() / BUCKET_SECS
    }

    /// Counts one event for `key` at `now`.
    pub fn add(&mut self, key: &str, now: Instant) {
        let bucket = self.bucket(now);
        let key = if self.keys.contains_key(key) || self.keys.len() < MAX_KEYS { key } else { OTHER };
        match self.keys.get_mut(key) {
            Some(ring) => ring.add(bucket),
            None => {
                let mut ring = Ring { counts: [0; BUCKETS as usize], last: bucket };
                ring.add(bucket);
                self.keys.insert(key.to_owned(), ring);
            }
        }
    }

    /// Each key with events in the last 15 minutes and its counts per window, busiest first.
    pub fn rows(&self, now: Instant) -> Vec<(&str, [u64; 3])> {
        let bucket = self.bucket(now);
        let mut rows: Vec<(&str, [u64; 3])> = self
            .keys
            .iter()
            .map(|(key, ring)| (key.as_str(), WINDOWS.map(|w| ring.sum(bucket, w / BUCKET_SECS))))
            .filter(|(_, counts)| counts[2] > 0)
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn windows_forget_old_events() {
        let start = Instant::now();
        let mut rates = Rates::new(start);
        let at = |secs| start + Duration::from_secs(secs);
        rates.add("a", at(0));
        rates.add("a", at(130));
        rates.add("a", at(290));
        rates.add("b", at(295));
        assert_eq!(rates.rows(at(299)), [("a", [1, 3, 3]), ("b", [1, 1, 1])]);
        assert_eq!(rates.rows(at(400)), [("a", [0, 2, 3]), ("b", [0, 1, 1])]);
        assert_eq!(rates.rows(at(1200)), []);
        rates.add("a", at(2000));
        assert_eq!(rates.rows(at(2000)), [("a", [1, 1, 1])]);
    }
}
