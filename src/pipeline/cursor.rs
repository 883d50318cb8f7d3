//! A compressed log read segment by segment: blocks are decompressed as the segments need them,
//! and what a block holds past a segment's end waits for the next segment.

use super::seek::{cut_at, first_time, Clock};
use super::{combine, decide, read_block, Options, Outcome};
use crate::errorlog::starts_record;
use crate::input::carry::{record_edge, Carry};
use crate::input::open::MAX_LINE;
use crate::input::sniff::SNIFF_HEAD;
use crate::input::walk::describe_io;
use crate::input::{open_in_blocks, Blocks, InputSpec, Kind, PageRelease, Sniffed, Source};
use crate::progress::Progress;
use crate::report::schema::InputRow;

/// A stream of whole lines (whole records, for an error log) read up to a moment at a time.
pub struct Cursor {
    blocks: Blocks,
    carry: Carry,
    /// The block being handed out: `pending[handed..]` is read and not yet handed to a
    /// segment. An offset rather than a drain, as a block may be handed out in many small
    /// segments and moving its rest each time would copy it over and over.
    pending: Vec<u8>,
    handed: usize,
    ended: bool,
    /// Why reading stopped before the end, once it has.
    problem: Option<String>,
}

impl Cursor {
    /// Opens a compressed file and reads its head: the cursor and what the head shows the
    /// input to be. `None` for stdin (which cannot be read a second time should the run be
    /// read whole), plain files, and streams of wrapped lines (container logs), which are read
    /// whole.
    pub fn open(spec: &InputSpec, options: &Options) -> Option<(Cursor, Sniffed)> {
        if matches!(spec.origin, crate::input::Origin::Stdin) || spec.forced == Some(Kind::Stream) {
            return None;
        }
        let Ok(Source::Stream(blocks)) = open_in_blocks(&spec.origin, options.block_size) else {
            return None;
        };
        let mut cursor = Cursor {
            blocks,
            carry: Carry::default(),
            pending: Vec::new(),
            handed: 0,
            ended: false,
            problem: None,
        };
        let head = loop {
            match cursor.blocks.next() {
                Some(Ok(block)) => {
                    let buf = cursor.carry.join(block);
                    if let Some(head) = cursor.carry.cut(buf, None, SNIFF_HEAD.min(options.block_size)) {
                        break head;
                    }
                }
                Some(Err(e)) => {
                    cursor.stop(Some(&e));
                    break std::mem::take(&mut cursor.pending);
                }
                None => {
                    cursor.stop(None);
                    break std::mem::take(&mut cursor.pending);
                }
            }
        };
        let formats = spec.format.as_ref().map_or(&options.formats[..], std::slice::from_ref);
        if spec.forced.is_none() && crate::stream::detect(&head, formats).is_some() {
            return None;
        }
        let sniffed = decide(spec, options, &head, None);
        cursor.pending = cursor.whole(head, &sniffed).unwrap_or_default();
        if cursor.ended {
            // The whole stream was in its head: its last record, held back for continuation
            // lines, has no next block to wait for.
            let rest = cursor.carry.rest();
            cursor.append(rest);
        }
        Some((cursor, sniffed))
    }

    /// The time of the first line not handed out yet, reading a block if none is held.
    pub fn next_time(
        &mut self,
        sniffed: &Sniffed,
        clock: &mut Clock<'_>,
        progress: &Progress,
    ) -> Option<i64> {
        loop {
            // Untimed lines at the front (a malformed stretch) are handed out with the next
            // segment, however many there are.
            if let Some(time) = first_time(self.pending(), clock) {
                return Some(time);
            }
            if !self.fill(sniffed, progress) {
                return None;
            }
        }
    }

    /// What has been read and not handed out yet.
    pub fn pending(&self) -> &[u8] {
        &self.pending[self.handed..]
    }

    /// Reads the lines before `until` (all that is left, when `None`) as input `index`,
    /// counting them into `row`.
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        &mut self,
        index: usize,
        spec: &InputSpec,
        options: &Options,
        sniffed: &Sniffed,
        until: Option<(i64, Clock<'_>)>,
        progress: &Progress,
        row: &mut InputRow,
    ) -> Option<Outcome> {
        if let Sniffed::Unknown(_) = sniffed {
            // Not a log: said once, and not decompressed any further.
            let outcome =
                read_block(index, options, &[], sniffed.clone(), PageRelease::default(), row, spec.from_walk);
            self.ended = true;
            self.pending = Vec::new();
            self.handed = 0;
            return outcome;
        }
        let mut until = until;
        let mut outcome = None;
        loop {
            let rest = &self.pending[self.handed..];
            if !rest.is_empty() {
                let cut = match until.as_mut() {
                    Some((time, clock)) => cut_at(rest, *time, clock),
                    None => rest.len(),
                };
                let bytes = &rest[..cut];
                let next = read_block(
                    index,
                    options,
                    bytes,
                    sniffed.clone(),
                    PageRelease::default(),
                    row,
                    spec.from_walk,
                );
                outcome = combine(outcome, next);
                if cut < rest.len() {
                    self.handed += cut;
                    return outcome;
                }
                self.pending.clear();
                self.handed = 0;
            }
            if !self.fill(sniffed, progress) {
                if let Some(problem) = self.problem.take() {
                    row.problem = Some(problem);
                }
                return outcome;
            }
        }
    }

    /// Reads the next block after what is pending; false when nothing is pending at the end.
    fn fill(&mut self, sniffed: &Sniffed, progress: &Progress) -> bool {
        while !self.ended {
            let block = match self.blocks.next() {
                Some(Ok(block)) => block,
                Some(Err(e)) => {
                    self.stop(Some(&e));
                    break;
                }
                None => {
                    self.stop(None);
                    break;
                }
            };
            progress.advance(block.len() as u64);
            let buf = self.carry.join(block);
            if let Some(whole) = self.whole(buf, sniffed) {
                self.append(whole);
                return true;
            }
        }
        !self.pending().is_empty()
    }

    /// Puts `more` after what is not handed out yet.
    fn append(&mut self, more: Vec<u8>) {
        if self.pending().is_empty() {
            self.pending = more;
        } else {
            self.pending.drain(..self.handed);
            self.pending.extend_from_slice(&more);
        }
        self.handed = 0;
    }

    /// Ends the stream (at `error`, when reading failed): what was held back is all that is
    /// left.
    fn stop(&mut self, error: Option<&std::io::Error>) {
        if let Some(e) = error {
            self.problem =
                Some(format!("read stopped early: {} (the lines before it were counted)", describe_io(e)));
        }
        self.ended = true;
        let rest = self.carry.rest();
        self.append(rest);
    }

    /// The part of `buf` that holds whole records, the rest held back for the next block
    /// (continuation lines of an error log's last record may follow).
    fn whole(&mut self, buf: Vec<u8>, sniffed: &Sniffed) -> Option<Vec<u8>> {
        match sniffed {
            Sniffed::Error => {
                let edge = record_edge(&buf, starts_record);
                self.carry.cut(buf, edge, MAX_LINE)
            }
            _ => Some(buf),
        }
    }
}
