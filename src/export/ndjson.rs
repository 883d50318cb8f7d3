//! ndjson written as the run is read: each segment's failures become lines as the segment is
//! joined, so a large run's export holds one segment's failures, not the run's.

use std::collections::BTreeMap;
use std::io::Write;

use super::order::{key, InOrder};
use super::{failure_events, FailureRow};
use crate::labels::Labels;
use crate::pipeline::Analysis;

/// Writes one [`FailureRow`] per line, segment after segment, in the order of the run read
/// whole (see `export/order.rs`).
pub struct NdjsonWriter<W: Write> {
    out: W,
    labels: BTreeMap<String, String>,
    order: InOrder<Vec<u8>>,
}

impl<W: Write> NdjsonWriter<W> {
    pub fn new(out: W, labels: &Labels) -> Self {
        let labels = labels.columns().map(|(k, v)| (k, v.to_owned())).collect();
        NdjsonWriter { out, labels, order: InOrder::default() }
    }

    /// Writes the rows of one segment (or of the whole run) that are due.
    pub fn add(&mut self, analysis: &Analysis) -> anyhow::Result<()> {
        let mut rows = Vec::new();
        for event in failure_events(analysis) {
            let mut row = FailureRow::from_event(event, analysis);
            row.labels.clone_from(&self.labels);
            let mut line = serde_json::to_vec(&row)?;
            line.push(b'\n');
            rows.push((key(event), line));
        }
        for line in self.order.add(rows) {
            self.out.write_all(&line)?;
        }
        Ok(())
    }

    /// Writes the rows still held back and flushes: the run has ended.
    pub fn finish(mut self) -> anyhow::Result<W> {
        for line in self.order.finish() {
            self.out.write_all(&line)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
