//! The report's rows of inputs: what was read of each, summed over the segments of a run, and
//! how its failed requests were joined to error lines.

use crate::correlate::{Event, JoinMethod};
use crate::pipeline::Analysis;
use crate::report::schema::InputRow;
use crate::summary::MALFORMED_EXAMPLES;

/// The best join method of each input's failed requests: `$connection` beats the request line,
/// which beats none.
#[derive(Debug, Default)]
pub struct Joins(Vec<Option<JoinMethod>>);

fn rank(join: Option<JoinMethod>) -> u8 {
    match join {
        Some(JoinMethod::Connection) => 2,
        Some(JoinMethod::Request) => 1,
        Some(JoinMethod::None) | None => 0,
    }
}

impl Joins {
    fn set(&mut self, input: usize, join: Option<JoinMethod>) {
        if rank(join) == 0 {
            return;
        }
        if self.0.len() <= input {
            self.0.resize(input + 1, None);
        }
        if rank(join) > rank(self.0[input]) {
            self.0[input] = join;
        }
    }

    pub fn add(&mut self, e: &Event) {
        self.set(e.request.input, Some(e.join));
    }

    pub fn merge(&mut self, other: Joins) {
        for (input, join) in other.0.into_iter().enumerate() {
            self.set(input, join);
        }
    }

    /// `rows` with their join methods.
    pub fn rows(&self, rows: &[InputRow]) -> Vec<InputRow> {
        rows.iter()
            .enumerate()
            .map(|(i, input)| InputRow { join: self.0.get(i).copied().flatten(), ..input.clone() })
            .collect()
    }
}

/// Adds what a later segment read of an input to what earlier ones did: counts add, malformed
/// examples are appended while there is room, and a description (kind, format, problem) an
/// earlier segment lacks is taken from the later one.
pub fn add_segment(row: &mut InputRow, later: &InputRow) {
    if row.path.is_empty() {
        row.path.clone_from(&later.path);
    }
    row.kind = row.kind.or(later.kind);
    if row.format.is_none() {
        row.format.clone_from(&later.format);
    }
    if row.problem.is_none() {
        row.problem.clone_from(&later.problem);
    }
    row.skipped |= later.skipped;
    row.lines += later.lines;
    row.parsed += later.parsed;
    row.malformed += later.malformed;
    row.filtered += later.filtered;
    row.other += later.other;
    let room = MALFORMED_EXAMPLES.saturating_sub(row.malformed_examples.len());
    row.malformed_examples.extend(later.malformed_examples.iter().take(room).cloned());
}

/// One row per input of `analysis`: what was read, how it was joined, and what went wrong.
pub fn input_rows(analysis: &Analysis) -> Vec<InputRow> {
    let mut joins = Joins::default();
    analysis.correlation.events.iter().for_each(|e| joins.add(e));
    joins.rows(&analysis.inputs)
}
