//! Rows of a run read in time segments, put back in the order of the run read whole.
//!
//! A whole run lists its failures by (time, input, line). A segment's failures come in that
//! order too, but a log's lines are only in time order give or take the seconds its workers
//! allow, so a request logged just after a segment's cut may be a second older than the last
//! requests of the segment before. Rows are therefore held back until the newest row seen is
//! [`HOLD`] seconds past them, and merged with the next segment's rows; memory follows the
//! failures of those seconds, not the run's.

use crate::correlate::Event;

/// How long a row waits for older rows of the next segment: longer than any reordering of
/// access lines short of a line logged far out of time order (which the join of segments does
/// not promise to match either).
pub const HOLD: i64 = 10;

/// Where a row sorts in the whole run's list: request time (`None` first), input, line.
pub type Key = (Option<i64>, usize, u64);

/// The key of an event's row.
pub fn key(event: &Event) -> Key {
    (event.request.time, event.request.input, event.request.line)
}

/// Rows held back until no later segment can have an older one.
#[derive(Debug)]
pub struct InOrder<T> {
    held: Vec<(Key, T)>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder { held: Vec::new() }
    }
}

impl<T> InOrder<T> {
    /// Adds one segment's rows (in key order) and returns those that are due: every row that
    /// is more than [`HOLD`] seconds older than the newest row yet, in key order.
    pub fn add(&mut self, rows: impl IntoIterator<Item = (Key, T)>) -> impl Iterator<Item = T> + '_ {
        self.held.extend(rows);
        // Two sorted runs: the stable sort merges them in linear time.
        self.held.sort_by_key(|(key, _)| *key);
        let due = match self.held.last().and_then(|(key, _)| key.0) {
            Some(newest) => {
                let before = newest.saturating_sub(HOLD);
                self.held.partition_point(|(key, _)| key.0.is_none_or(|t| t < before))
            }
            None => 0,
        };
        self.held.drain(..due).map(|(_, row)| row)
    }

    /// The rows still held, in key order: the run has ended.
    pub fn finish(self) -> impl Iterator<Item = T> {
        self.held.into_iter().map(|(_, row)| row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: Option<i64>, line: u64) -> (Key, u64) {
        ((time, 0, line), line)
    }

    #[test]
    fn rows_wait_until_the_newest_is_past_them_by_the_hold() {
        let mut order = InOrder::default();
        let due: Vec<u64> = order.add([row(Some(100), 1), row(Some(105), 2), row(Some(111), 3)]).collect();
        assert_eq!(due, [1]);
        // A line of the next segment logged a second before the last ones of this one.
        let due: Vec<u64> = order.add([row(Some(104), 4), row(Some(130), 5)]).collect();
        assert_eq!(due, [4, 2, 3]);
        assert_eq!(order.finish().collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn rows_without_a_time_come_first_and_are_due_at_once() {
        let mut order = InOrder::default();
        let due: Vec<u64> = order.add([row(None, 7), row(Some(50), 8)]).collect();
        assert_eq!(due, [7]);
        assert_eq!(order.add([row(None, 9)]).collect::<Vec<_>>(), [9]);
        assert_eq!(order.finish().collect::<Vec<_>>(), [8]);
    }

    #[test]
    fn ties_of_time_keep_input_and_line_order() {
        let mut order = InOrder::default();
        let a = ((Some(10), 1, 3), 1);
        let b = ((Some(10), 0, 9), 2);
        let c = ((Some(10), 1, 2), 3);
        assert_eq!(order.add([b, c]).count(), 0);
        assert_eq!(order.add([a]).count(), 0);
        assert_eq!(order.finish().collect::<Vec<_>>(), [2, 3, 1]);
    }
}
