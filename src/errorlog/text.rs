//! Where the text of kept error records lives. The fields the join reads for every record
//! (request, client, host, peer, server) are copied into one arena per chunk: one growing
//! allocation shared by the chunk's records, not one per record. The record as written is
//! needed only for the few records a report shows as evidence: read from a mapped log it stays
//! there, by reference, and its pages go back to the page cache like the rest of the log (they
//! fault back in for the records shown); read from a buffer that does not outlive the read (a
//! gzip or stdin block, a followed file's new bytes, a stream's record) it is copied into the
//! arena too, and the fields are spans of that copy.

use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

/// The bytes a chunk's records point into.
pub struct Text {
    /// The whole mapped log, when the records as written are kept there. A log truncated
    /// while it is mapped can raise SIGBUS when a record is shown, the trade-off reading it
    /// mapped already makes (see `input::open`).
    map: Option<Arc<Mmap>>,
    /// The chunk's copies, set once when the chunk ends (see [`Keeper`]'s `Drop`).
    arena: OnceLock<Vec<u8>>,
}

impl Text {
    fn arena(&self) -> &[u8] {
        self.arena.get().map_or(&[], Vec::as_slice)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text(mapped: {}, arena: {} bytes)", self.map.is_some(), self.arena().len())
    }
}

/// A field's place among a record's kept fields; `len == u32::MAX` when the field is absent (or
/// beyond 4 GiB into a record, which only hostile input writes).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NONE: Span = Span { start: 0, len: u32::MAX };

    fn new(start: usize, len: usize) -> Span {
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) if len != u32::MAX => Span { start, len },
            _ => Span::NONE,
        }
    }
}

/// Fields kept of a record, in the order [`Keeper::keep`] was given them.
pub const FIELDS: usize = 5;

/// What was kept of one record: its text, the record as written and its fields. Offsets into
/// the arena are 32-bit (a keeper starts a new arena before one passes 4 GiB), as one of these
/// is held for every error record a run keeps; only offsets into a mapped log, which can be
/// larger, are 64-bit.
#[derive(Clone, Debug)]
pub struct Kept {
    text: Arc<Text>,
    /// The record as written: `raw_len` bytes from `raw_start` of the mapping, or of the arena.
    raw_start: usize,
    raw_len: u32,
    /// Where the fields' spans start in the arena.
    fields: u32,
    spans: [Span; FIELDS],
}

impl Kept {
    /// The record as written (continuation lines included).
    pub fn raw(&self) -> &[u8] {
        let all = self.text.map.as_deref().map_or_else(|| self.text.arena(), |m| &m[..]);
        all.get(self.raw_start..self.raw_start + self.raw_len as usize).unwrap_or_default()
    }

    /// Field `i`, as it was given to [`Keeper::keep`].
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        let span = self.spans[i];
        let start = self.fields as usize + span.start as usize;
        (span.len != u32::MAX).then(|| self.text.arena().get(start..start + span.len as usize)).flatten()
    }
}

/// Keeps the records one chunk reads: their fields in the chunk's arena, the records as written
/// by reference when the chunk is part of a mapping, else copied into the arena. The arena is
/// handed to the records when the keeper is dropped, so their text is whole from the moment
/// the chunk is read.
pub struct Keeper {
    text: Arc<Text>,
    arena: Vec<u8>,
    /// The most bytes one arena holds: [`ARENA_LIMIT`], so offsets into it fit in 32 bits.
    limit: usize,
}

/// The most bytes an arena holds. A chunk's arena stays far below it, but a stream's keeper
/// lives as long as the stream.
const ARENA_LIMIT: usize = u32::MAX as usize;

impl Keeper {
    /// A keeper for records read from `buf`, which points into the records as written when
    /// `buf` lies inside `map`, else copies them (`buf.len()` bounds the copies, so the arena is
    /// reserved once and never moved; pages it does not use are never touched).
    pub fn for_buffer(buf: &[u8], map: Option<&Arc<Mmap>>) -> Keeper {
        match map.filter(|m| inside(buf, m)) {
            Some(map) => Keeper::new(Some(Arc::clone(map)), buf.len() / 4),
            None => Keeper::new(None, buf.len()),
        }
    }

    fn new(map: Option<Arc<Mmap>>, capacity: usize) -> Keeper {
        Keeper {
            text: Arc::new(Text { map, arena: OnceLock::new() }),
            arena: Vec::with_capacity(capacity),
            limit: ARENA_LIMIT,
        }
    }

    /// Hands the arena to the records kept so far and starts a new one when `bytes` more would
    /// take it past the limit.
    fn make_room(&mut self, bytes: usize) {
        if self.arena.len() + bytes > self.limit {
            let mut next = Keeper::new(self.text.map.clone(), 0);
            next.limit = self.limit;
            drop(std::mem::replace(self, next));
        }
    }

    /// Keeps the record `raw` (a slice of the chunk's buffer) and its `fields` (slices of `raw`).
    /// Of a record longer than the arena limit (4 GiB, only hostile input writes one), nothing
    /// is kept.
    pub fn keep(&mut self, raw: &[u8], fields: [Option<&[u8]>; FIELDS]) -> Kept {
        let Some(raw_len) = u32::try_from(raw.len()).ok().filter(|&len| len as usize <= self.limit) else {
            return Kept {
                text: Arc::clone(&self.text),
                raw_start: 0,
                raw_len: 0,
                fields: 0,
                spans: [Span::NONE; FIELDS],
            };
        };
        // Where `raw` starts in the mapping, when there is one.
        let mapped = self
            .text
            .map
            .as_deref()
            .map(|map| inside(raw, map).then(|| raw.as_ptr() as usize - map.as_ptr() as usize));
        let (raw_start, base, spans) = match mapped {
            Some(Some(raw_start)) => {
                self.make_room(fields.iter().flatten().map(|f| f.len()).sum());
                let base = self.arena.len();
                let spans = fields.map(|field| {
                    field.map_or(Span::NONE, |f| {
                        self.arena.extend_from_slice(f);
                        Span::new(self.arena.len() - f.len() - base, f.len())
                    })
                });
                (raw_start, base, spans)
            }
            // Never in practice: a mapped keeper is only given slices of its mapping.
            Some(None) => return Keeper::new(None, raw.len()).keep(raw, fields),
            // The record as written is copied, and the fields are spans of the copy.
            None => {
                self.make_room(raw.len());
                let at = self.arena.len();
                self.arena.extend_from_slice(raw);
                let offset = |f: &[u8]| f.as_ptr() as usize - raw.as_ptr() as usize;
                (at, at, fields.map(|f| f.map_or(Span::NONE, |f| Span::new(offset(f), f.len()))))
            }
        };
        // Below the limit after `make_room`, so below `u32::MAX`.
        Kept { text: Arc::clone(&self.text), raw_start, raw_len, fields: base as u32, spans }
    }
}

impl Default for Keeper {
    fn default() -> Self {
        Keeper::new(None, 0)
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        let _ = self.text.arena.set(std::mem::take(&mut self.arena));
    }
}

/// Whether `part` lies inside `map`.
fn inside(part: &[u8], map: &Mmap) -> bool {
    let (start, end) = (map.as_ptr() as usize, map.as_ptr() as usize + map.len());
    let p = part.as_ptr() as usize;
    start <= p && p + part.len() <= end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arena_is_whole_once_its_keeper_is_dropped() {
        let buf = b"first record\nsecond record".to_vec();
        let mut keeper = Keeper::for_buffer(&buf, None);
        let first = keeper.keep(&buf[..12], [Some(&buf[6..12]), None, None, None, None]);
        let second = keeper.keep(&buf[13..], [None, Some(&buf[13..19]), None, None, None]);
        assert_eq!(first.raw(), b"");
        drop(keeper);
        assert_eq!(
            (first.raw(), first.field(0), first.field(1)),
            (&b"first record"[..], Some(&b"record"[..]), None)
        );
        assert_eq!(
            (second.raw(), second.field(0), second.field(1)),
            (&b"second record"[..], None, Some(&b"second"[..]))
        );
    }

    #[test]
    fn a_full_arena_is_handed_on_and_a_record_past_the_limit_keeps_nothing() {
        let buf = b"first record\nsecond record\nthird".to_vec();
        let mut keeper = Keeper::for_buffer(&buf, None);
        keeper.limit = 20;
        let first = keeper.keep(&buf[..12], [Some(&buf[6..12]), None, None, None, None]);
        let second = keeper.keep(&buf[13..26], [None, Some(&buf[13..19]), None, None, None]);
        let too_long = keeper.keep(&buf, [Some(&buf[..5]), None, None, None, None]);
        let third = keeper.keep(&buf[27..], [Some(&buf[27..]), None, None, None, None]);
        drop(keeper);
        assert_eq!((first.raw(), first.field(0)), (&b"first record"[..], Some(&b"record"[..])));
        assert_eq!((second.raw(), second.field(1)), (&b"second record"[..], Some(&b"second"[..])));
        assert_eq!((too_long.raw(), too_long.field(0)), (&b""[..], None));
        assert_eq!((third.raw(), third.field(0)), (&b"third"[..], Some(&b"third"[..])));
        assert!(!Arc::ptr_eq(&first.text, &second.text), "the second record starts a new arena");
        assert!(Arc::ptr_eq(&second.text, &third.text));
    }
}
