//! Request times of timeouts, kept as a count per distinct value: the median, the largest and
//! the number of them come out exactly as from the sorted times, but memory follows the distinct
//! values (nginx logs `$request_time` in milliseconds, and timeouts cluster at the timeout in
//! force), not the failures.

use std::collections::BTreeMap;

/// Times counted by value, in [`f64::total_cmp`] order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Times by their [`order_key`], and how many of each.
    counts: BTreeMap<i64, u64>,
    len: u64,
}

/// An integer that orders as [`f64::total_cmp`] orders the times: their bits, with the bits
/// after the sign flipped for negative ones. Flipping them again gives the time back.
fn order_key(bits: i64) -> i64 {
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn time_of(key: i64) -> f64 {
    f64::from_bits(order_key(key) as u64)
}

impl Samples {
    /// Counts one time.
    pub fn add(&mut self, t: f64) {
        *self.counts.entry(order_key(t.to_bits() as i64)).or_insert(0) += 1;
        self.len += 1;
    }

    /// Adds the times counted in `other` (a later part of the same failures: the order of
    /// parts does not change the counts).
    pub fn merge(&mut self, other: &Samples) {
        for (&key, &n) in &other.counts {
            *self.counts.entry(key).or_insert(0) += n;
        }
        self.len += other.len;
    }

    /// How many times were counted.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no time was counted: no median to give.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The time at index `len / 2` of the sorted times (the upper median of an even count).
    pub fn median(&self) -> Option<f64> {
        let mut seen = 0;
        self.counts.iter().find_map(|(&key, &n)| {
            seen += n;
            (seen > self.len / 2).then(|| time_of(key))
        })
    }

    /// The largest time.
    pub fn max(&self) -> Option<f64> {
        self.counts.last_key_value().map(|(&key, _)| time_of(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(times: &[f64]) -> Samples {
        let mut s = Samples::default();
        times.iter().for_each(|&t| s.add(t));
        s
    }

    #[test]
    fn none_counted() {
        let s = Samples::default();
        assert!(s.is_empty());
        assert_eq!((s.len(), s.median(), s.max()), (0, None, None));
    }

    #[test]
    fn odd_count_takes_the_middle_time() {
        let s = of(&[60.003, 0.5, 60.001, 60.003, 12.0]);
        assert_eq!((s.len(), s.median(), s.max()), (5, Some(60.001), Some(60.003)));
    }

    #[test]
    fn even_count_takes_the_upper_of_the_two_middle_times() {
        let s = of(&[1.0, 4.0, 2.0, 3.0]);
        assert_eq!((s.len(), s.median(), s.max()), (4, Some(3.0), Some(4.0)));
        let s = of(&[30.001, 30.001, 60.0, 60.0]);
        assert_eq!(s.median(), Some(60.0));
    }

    #[test]
    fn repeated_times_are_counted_once_each() {
        let s = of(&[60.003; 1000]);
        assert_eq!(s.counts.len(), 1);
        assert_eq!((s.len(), s.median(), s.max()), (1000, Some(60.003), Some(60.003)));
    }

    #[test]
    fn merged_parts_count_as_one() {
        let mut s = of(&[5.0, 1.0]);
        s.merge(&of(&[2.0, 5.0, 9.0]));
        assert_eq!(s, of(&[1.0, 2.0, 5.0, 5.0, 9.0]));
        assert_eq!((s.len(), s.median(), s.max()), (5, Some(5.0), Some(9.0)));
    }

    #[test]
    fn orders_as_total_cmp() {
        let s = of(&[-1.5, 0.0, -0.0, 2.0, -3.0]);
        assert_eq!((s.median(), s.max()), (Some(0.0), Some(2.0)));
        assert!(s.median().unwrap().is_sign_negative());
        assert_eq!(of(&[-2.0, -1.0, -3.0]).max(), Some(-1.0));
    }

    proptest::proptest! {
        #[test]
        fn as_the_sorted_times(
            times in proptest::collection::vec(proptest::prop_oneof![0u32..100_000, 59_990u32..60_010], 1..200),
            cut in 0usize..200,
        ) {
            let times: Vec<f64> = times.into_iter().map(|ms| f64::from(ms) / 1000.0).collect();
            let cut = cut.min(times.len());
            let mut s = of(&times[..cut]);
            s.merge(&of(&times[cut..]));
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            proptest::prop_assert_eq!(s.len(), sorted.len() as u64);
            proptest::prop_assert_eq!(s.median().map(f64::to_bits), Some(sorted[sorted.len() / 2].to_bits()));
            proptest::prop_assert_eq!(s.max().map(f64::to_bits), sorted.last().map(|t| t.to_bits()));
        }

        #[test]
        fn as_the_sorted_times_for_any_f64(times in proptest::collection::vec(proptest::num::f64::ANY, 1..50)) {
            let s = of(&times);
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            proptest::prop_assert_eq!(s.median().map(f64::to_bits), Some(sorted[sorted.len() / 2].to_bits()));
            proptest::prop_assert_eq!(s.max().map(f64::to_bits), sorted.last().map(|t| t.to_bits()));
        }
    }
}
