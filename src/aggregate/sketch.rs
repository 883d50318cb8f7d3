//! A mergeable latency sketch with a stated error bound.
//!
//! Values are counted in logarithmic buckets of ratio γ = 1.02 (as in DDSketch): a reported
//! quantile is within ±1 % of a value that truly lies at that rank. Merging is adding counts, so
//! per-chunk sketches combine exactly, in any order.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

const GAMMA: f64 = 1.02;
/// Values at or below this many seconds share the first bucket (nginx logs milliseconds).
const MIN_SECONDS: f64 = 0.001;

/// The highest bucket index (a latency of about 2 × 10^31 s saturates there).
const MAX_INDEX: usize = 4000;

/// How many values each thread remembers the bucket of (a power of two): room for the
/// thousand-odd distinct millisecond latencies of a busy log, in 16 KiB.
const SLOTS: usize = 1024;

thread_local! {
    /// The buckets of the values seen last, by a hash of their bits (see
    /// [`Sketch::remembered_index`]). Empty slots hold the bits of a NaN, whose bucket is the
    /// last (`f64::min` passes over a NaN).
    static SEEN: [Cell<(u64, u16)>; SLOTS] =
        const { [const { Cell::new((u64::MAX, MAX_INDEX as u16)) }; SLOTS] };
}

/// Counts of latencies in seconds. In JSON only the non-empty buckets are written, as
/// `[index, count]` pairs: reports carry one sketch per upstream so `merge` stays exact, and a
/// dense array of mostly zeros made them several times larger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "Sparse", try_from = "Sparse")]
pub struct Sketch {
    buckets: Vec<u64>,
    count: u64,
}

/// The serialized form of a [`Sketch`].
#[derive(Serialize, Deserialize)]
struct Sparse {
    buckets: Vec<(usize, u64)>,
}

impl From<Sketch> for Sparse {
    fn from(s: Sketch) -> Sparse {
        Sparse {
            buckets: s.buckets.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| (i, *n)).collect(),
        }
    }
}

impl TryFrom<Sparse> for Sketch {
    type Error = String;

    /// Reports are user input: indexes past the last bucket are refused rather than allocated,
    /// and the count is derived from the buckets rather than trusted.
    fn try_from(sparse: Sparse) -> Result<Sketch, String> {
        let mut sketch = Sketch::default();
        for (index, n) in sparse.buckets {
            if index > MAX_INDEX {
                return Err(format!("latency sketch bucket {index} is past the last one ({MAX_INDEX})"));
            }
            if sketch.buckets.len() <= index {
                sketch.buckets.resize(index + 1, 0);
            }
            sketch.buckets[index] = sketch.buckets[index].saturating_add(n);
            sketch.count = sketch.count.saturating_add(n);
        }
        Ok(sketch)
    }
}

impl Sketch {
    fn index(seconds: f64) -> usize {
        if seconds <= MIN_SECONDS {
            return 0;
        }
        ((seconds / MIN_SECONDS).ln() / GAMMA.ln()).ceil().min(MAX_INDEX as f64) as usize
    }

    fn value(index: usize) -> f64 {
        if index == 0 {
            return MIN_SECONDS;
        }
        // The bucket holds (γ^(i-1), γ^i] × MIN; its midpoint in ratio keeps the error ≤ 1 %.
        MIN_SECONDS * GAMMA.powi(index as i32) * 2.0 / (1.0 + GAMMA)
    }

    /// [`Sketch::index`], remembered per thread for the values seen last: nginx logs
    /// milliseconds, so a log's latencies take few distinct values, and a logarithm for each
    /// one read cost more than the rest of counting it. Keyed by the value's bits, so the
    /// bucket is the one `index` gives, exactly. Only the look-up is inlined: a value not
    /// remembered is rare, and its logarithm is worked out apart.
    #[inline]
    fn remembered_index(seconds: f64) -> usize {
        let bits = seconds.to_bits();
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize;
        match SEEN.with(|seen| seen[slot].get()) {
            (key, index) if key == bits => usize::from(index),
            _ => Self::remember(slot, seconds),
        }
    }

    /// Works out the bucket of a value not remembered, and remembers it in `slot`.
    #[cold]
    #[inline(never)]
    fn remember(slot: usize, seconds: f64) -> usize {
        let index = Self::index(seconds);
        // Every index fits: MAX_INDEX is below u16::MAX.
        SEEN.with(|seen| seen[slot].set((seconds.to_bits(), index as u16)));
        index
    }

    /// Counts one latency. Inlined into the loop over access lines, which counts two per line:
    /// its bucket is nearly always remembered and already there.
    #[inline]
    pub fn add(&mut self, seconds: f64) {
        let i = Self::remembered_index(seconds);
        match self.buckets.get_mut(i) {
            Some(n) => *n = n.saturating_add(1),
            None => self.add_past_end(i),
        }
        self.count = self.count.saturating_add(1);
    }

    /// Counts one value in bucket `i`, past the last bucket so far.
    #[cold]
    #[inline(never)]
    fn add_past_end(&mut self, i: usize) {
        self.buckets.resize(i + 1, 0);
        self.buckets[i] = 1;
    }

    /// Adds `other`'s counts. Counts read from reports can be near `u64::MAX`: they saturate
    /// rather than wrap, so a merged sketch never holds fewer samples than either part.
    pub fn merge(&mut self, other: &Sketch) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The q-quantile (0 ≤ q ≤ 1) in seconds, or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * (self.count - 1) as f64).round() as u64).saturating_add(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen = n.saturating_add(seen);
            if seen >= rank {
                return Some(Self::value(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_one_percent() {
        let mut s = Sketch::default();
        for ms in 1..=1000 {
            s.add(f64::from(ms) / 1000.0);
        }
        for (q, want) in [(0.5, 0.5005), (0.9, 0.9001), (0.99, 0.99)] {
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() / want < 0.011, "q{q}: {got} vs {want}");
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn json_keeps_only_the_buckets_in_use_and_reads_back_the_same() {
        let mut s = Sketch::default();
        for v in [0.0005, 0.012, 0.012, 30.0] {
            s.add(v);
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"buckets":[[0,1],[126,2],[521,1]]}"#);
        assert_eq!(serde_json::from_str::<Sketch>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Sketch>(r#"{"buckets":[[99999999999,1]]}"#).is_err());
    }

    #[test]
    fn merging_huge_counts_saturates() {
        let huge = format!(r#"{{"buckets":[[3,{}],[9,{}]]}}"#, u64::MAX - 1, u64::MAX / 2);
        let mut a: Sketch = serde_json::from_str(&huge).unwrap();
        let b = a.clone();
        a.merge(&b);
        assert_eq!(a.count(), u64::MAX);
        assert!(a.count() >= b.count());
        a.add(0.5);
        assert_eq!(a.count(), u64::MAX);
        assert!(a.quantile(0.99).is_some() && a.quantile(1.0).is_some());
    }

    #[test]
    fn remembered_buckets_are_the_computed_ones() {
        let values = (0..20_000).map(|i| f64::from(i) * 0.0007).chain([
            f64::NAN,
            f64::from_bits(u64::MAX),
            f64::INFINITY,
            -1.0,
            0.0,
            1e300,
        ]);
        // Twice: the second pass reads what the first remembered, and slots are reused.
        for v in values.clone().chain(values) {
            assert_eq!(Sketch::remembered_index(v), Sketch::index(v), "{v}");
        }
    }

    #[test]
    fn merge_equals_single_pass() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..500 {
            let v = f64::from(i) * 0.013;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }
}
