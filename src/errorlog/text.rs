//! Where the text of kept error records lives. The fields the join reads for every record
//! (request, client, host, peer, server) are copied into one arena per chunk: one growing
//! allocation shared by the chunk's records, not one per record, and a field equal to the one
//! before it (the server's name and the `Host` header) copied once. The record as written is
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
    /// Where in the mapping the records' offsets count from (the chunk's start), so that they
    /// fit in 32 bits in a log of any size.
    base: usize,
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

/// A field's place among a record's kept fields, in 16 bits: nginx writes at most 2 KiB a
/// record (`NGX_MAX_ERROR_STR`), so the fields of every line it writes fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u16,
    len: u16,
}

impl Span {
    /// An absent field.
    const NONE: Span = Span { start: 0, len: u16::MAX };
    /// In the first span: the fields are not spans but a [`FarSpans`] table in the arena.
    const FAR: Span = Span { start: u16::MAX, len: u16::MAX };

    /// The span of a place known to fit (both below `u16::MAX`).
    fn within(start: usize, len: usize) -> Span {
        Span { start: start as u16, len: len as u16 }
    }

    fn near(place: Option<(usize, usize)>) -> Option<Span> {
        let Some((start, len)) = place else { return Some(Span::NONE) };
        match (u16::try_from(start), u16::try_from(len)) {
            (Ok(start), Ok(len)) if len != u16::MAX => Some(Span { start, len }),
            _ => None,
        }
    }
}

/// The fields of a record whose fields do not fit in 16-bit spans (written by something other
/// than nginx, or hostile): a 32-bit start in the arena and length per field, little-endian,
/// written in the arena; an absent field has length `u32::MAX`.
struct FarSpans;

impl FarSpans {
    const BYTES: usize = FIELDS * 8;

    fn write(arena: &mut Vec<u8>, places: [Option<(usize, usize)>; FIELDS]) {
        for place in places {
            // Below the arena limit, so below `u32::MAX`.
            let (start, len) = place.map_or((0, u32::MAX), |(start, len)| (start as u32, len as u32));
            arena.extend_from_slice(&start.to_le_bytes());
            arena.extend_from_slice(&len.to_le_bytes());
        }
    }

    /// Field `i` of the table at `at` in `arena`.
    fn field(arena: &[u8], at: usize, i: usize) -> Option<&[u8]> {
        let entry = arena.get(at + i * 8..at + i * 8 + 8)?;
        let (start, len) = entry.split_at(4);
        let start = u32::from_le_bytes(start.try_into().ok()?) as usize;
        let len = u32::from_le_bytes(len.try_into().ok()?);
        (len != u32::MAX).then(|| arena.get(start..start + len as usize)).flatten()
    }
}

/// Fields kept of a record, in the order [`Keeper::keep`] was given them.
pub const FIELDS: usize = 5;

/// What was kept of one record: its text, the record as written and its fields, in 40 bytes,
/// as one is held for every error record a run keeps. Offsets are 32-bit: a keeper starts a
/// new text before its arena passes 4 GiB or a record as written lies 4 GiB past its base in
/// the mapping.
#[derive(Clone, Debug)]
pub struct Kept {
    text: Arc<Text>,
    /// The record as written: `raw_len` bytes from `raw_start` of the arena, or of the mapping
    /// after the text's base.
    raw_start: u32,
    raw_len: u32,
    /// Where the fields are in the arena: the offset `spans` count from, or their
    /// `FarSpans` table when the first span is `Span::FAR`.
    fields: u32,
    spans: [Span; FIELDS],
}

impl Kept {
    /// The record as written (continuation lines included).
    pub fn raw(&self) -> &[u8] {
        let (all, base) = match self.text.map.as_deref() {
            Some(map) => (&map[..], self.text.base),
            None => (self.text.arena(), 0),
        };
        let start = base + self.raw_start as usize;
        all.get(start..start + self.raw_len as usize).unwrap_or_default()
    }

    /// Field `i`, as it was given to [`Keeper::keep`].
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        let arena = self.text.arena();
        if self.spans[0] == Span::FAR {
            return FarSpans::field(arena, self.fields as usize, i);
        }
        let span = self.spans[i];
        let start = self.fields as usize + span.start as usize;
        (span.len != u16::MAX).then(|| arena.get(start..start + span.len as usize)).flatten()
    }
}

/// Keeps the records one chunk reads: their fields in the chunk's arena, the records as written
/// by reference when the chunk is part of a mapping, else copied into the arena. The arena is
/// handed to the records when the keeper is dropped, so their text is whole from the moment
/// the chunk is read.
pub struct Keeper {
    text: Arc<Text>,
    arena: Vec<u8>,
    /// The most bytes one text spans: `TEXT_LIMIT`, so offsets into it fit in 32 bits.
    limit: usize,
}

/// The most bytes a text spans, in its arena or from its base in the mapping. A chunk stays
/// far below it, but a stream's keeper lives as long as the stream.
const TEXT_LIMIT: usize = u32::MAX as usize;

impl Keeper {
    /// A keeper for records read from `buf`, which points into the records as written when
    /// `buf` lies inside `map`, else copies them (`buf.len()` bounds the copies, so the arena is
    /// reserved once and never moved; pages it does not use are never touched).
    pub fn for_buffer(buf: &[u8], map: Option<&Arc<Mmap>>) -> Keeper {
        match map.filter(|m| inside(buf, m)) {
            Some(map) => Keeper::new(
                Some(Arc::clone(map)),
                buf.as_ptr() as usize - map.as_ptr() as usize,
                buf.len() / 4,
            ),
            None => Keeper::new(None, 0, buf.len()),
        }
    }

    fn new(map: Option<Arc<Mmap>>, base: usize, capacity: usize) -> Keeper {
        Keeper {
            text: Arc::new(Text { map, base, arena: OnceLock::new() }),
            arena: Vec::with_capacity(capacity),
            limit: TEXT_LIMIT,
        }
    }

    /// Hands the text kept so far to its records and starts a new one when `bytes` more would
    /// take the arena past the limit, or when the record as written at `raw` (its place and
    /// length in the mapping) would end past the limit from the text's base.
    fn make_room(&mut self, bytes: usize, raw: Option<(usize, usize)>) {
        let base = self.text.base;
        let far =
            raw.is_some_and(|(at, len)| at.checked_sub(base).is_none_or(|from| from + len > self.limit));
        if self.arena.len() + bytes > self.limit || far {
            let mut next = Keeper::new(self.text.map.clone(), raw.map_or(base, |(at, _)| at), 0);
            next.limit = self.limit;
            drop(std::mem::replace(self, next));
        }
    }

    /// Keeps the record `raw` (a slice of the chunk's buffer) and its `fields` (slices of `raw`).
    /// Of a record longer than the limit (4 GiB, only hostile input writes one), nothing is
    /// kept.
    pub fn keep(&mut self, raw: &[u8], fields: [Option<&[u8]>; FIELDS]) -> Kept {
        if raw.len() + FarSpans::BYTES > self.limit {
            return Kept {
                text: Arc::clone(&self.text),
                raw_start: 0,
                raw_len: 0,
                fields: 0,
                spans: [Span::NONE; FIELDS],
            };
        }
        // Where `raw` starts in the mapping, when there is one.
        let mapped = self
            .text
            .map
            .as_deref()
            .map(|map| inside(raw, map).then(|| raw.as_ptr() as usize - map.as_ptr() as usize));
        // Each field's start in the arena from `base`, and its length.
        let (raw_start, base, places) = match mapped {
            Some(Some(at)) => {
                let bytes: usize = fields.iter().flatten().map(|f| f.len()).sum();
                self.make_room(bytes + FarSpans::BYTES, Some((at, raw.len())));
                let raw_start = at - self.text.base;
                let base = self.arena.len();
                let places = self.copy_fields(fields, bytes);
                if bytes < usize::from(u16::MAX) {
                    // Every place lies within `bytes`: all fit in 16-bit spans.
                    let spans = places.map(|p| p.map_or(Span::NONE, |(start, len)| Span::within(start, len)));
                    return self.kept(raw_start, raw.len(), base, spans);
                }
                (raw_start, base, places)
            }
            // Never in practice: a mapped keeper is only given slices of its mapping.
            Some(None) => return Keeper::new(None, 0, raw.len()).keep(raw, fields),
            // The record as written is copied, and the fields are spans of the copy.
            None => {
                self.make_room(raw.len() + FarSpans::BYTES, None);
                let at = self.arena.len();
                self.arena.extend_from_slice(raw);
                let offset = |f: &[u8]| f.as_ptr() as usize - raw.as_ptr() as usize;
                (at, at, fields.map(|f| f.map(|f| (offset(f), f.len()))))
            }
        };
        let (fields, spans) = match near(places) {
            Some(spans) => (base, spans),
            None => {
                let table = self.arena.len();
                FarSpans::write(&mut self.arena, places.map(|p| p.map(|(start, len)| (base + start, len))));
                let mut spans = [Span::NONE; FIELDS];
                spans[0] = Span::FAR;
                (table, spans)
            }
        };
        self.kept(raw_start, raw.len(), fields, spans)
    }

    /// Copies the `fields` (`bytes` long together) into the arena, in one reservation, and
    /// gives their places from the arena's length before the copy. A field equal to the one
    /// before it shares its bytes: fields come in an order that puts the ones often equal side
    /// by side (the server's name, then the `Host` header), so one compare a field finds them.
    fn copy_fields(
        &mut self,
        fields: [Option<&[u8]>; FIELDS],
        bytes: usize,
    ) -> [Option<(usize, usize)>; FIELDS] {
        self.arena.reserve(bytes);
        let mut places = [None; FIELDS];
        let mut end = 0;
        let mut before = None;
        for (place, f) in places.iter_mut().zip(fields) {
            if let Some(f) = f {
                if before != Some(f) {
                    self.arena.extend_from_slice(f);
                    end += f.len();
                }
                *place = Some((end - f.len(), f.len()));
            }
            before = f;
        }
        places
    }

    /// The record kept at `raw_start` (`raw_len` long), its fields at `fields` in the arena.
    fn kept(&self, raw_start: usize, raw_len: usize, fields: usize, spans: [Span; FIELDS]) -> Kept {
        // Within the limit after `make_room`, so below `u32::MAX`.
        Kept {
            text: Arc::clone(&self.text),
            raw_start: raw_start as u32,
            raw_len: raw_len as u32,
            fields: fields as u32,
            spans,
        }
    }
}

/// The fields' places as 16-bit spans, when they all fit.
fn near(places: [Option<(usize, usize)>; FIELDS]) -> Option<[Span; FIELDS]> {
    let mut spans = [Span::NONE; FIELDS];
    for (span, place) in spans.iter_mut().zip(places) {
        *span = Span::near(place)?;
    }
    Some(spans)
}

impl Default for Keeper {
    fn default() -> Self {
        Keeper::new(None, 0, 0)
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Reserved for the chunk's most: what it did not take goes back.
        self.arena.shrink_to_fit();
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
        keeper.limit = 60;
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

    #[test]
    fn fields_past_16_bits_are_kept_in_the_arena() {
        let mut buf = vec![b'x'; 70_000];
        buf.extend_from_slice(b" client: 10.0.0.1");
        let mut keeper = Keeper::for_buffer(&buf, None);
        let plain = keeper.keep(&buf[..5], [Some(&buf[1..3]), None, None, None, None]);
        let far = keeper.keep(&buf, [None, Some(&buf[70_009..]), None, None, Some(&buf[..70_000])]);
        drop(keeper);
        assert_eq!((plain.raw(), plain.field(0), plain.field(1)), (&b"xxxxx"[..], Some(&b"xx"[..]), None));
        assert_eq!(far.spans[0], Span::FAR);
        assert_eq!((far.raw(), far.field(0)), (&buf[..], None));
        assert_eq!((far.field(1), far.field(4)), (Some(&b"10.0.0.1"[..]), Some(&buf[..70_000])));
    }

    #[test]
    fn mapped_fields_are_near_while_their_copies_fit_16_bits() {
        let text = [&b"a "[..], &[b'x'; 40_000], b" ", &[b'y'; 30_000]].concat();
        let mut writable = memmap2::MmapMut::map_anon(text.len()).unwrap();
        writable.copy_from_slice(&text);
        let map = Arc::new(writable.make_read_only().unwrap());
        let mut keeper = Keeper::for_buffer(&map, Some(&map));
        let (a, x, y) = (&map[..1], &map[2..40_002], &map[40_003..]);
        // 80,001 bytes given, 40,001 copied: the shared field keeps them near.
        let shared = keeper.keep(&map, [Some(a), None, Some(x), Some(x), None]);
        // Equal fields apart are each copied: the last field starts past 16 bits.
        let far = keeper.keep(&map, [Some(x), Some(a), Some(x), Some(y), None]);
        drop(keeper);
        assert_ne!(shared.spans[0], Span::FAR);
        assert_eq!(far.spans[0], Span::FAR);
        let fields: Vec<_> = (0..FIELDS).map(|i| shared.field(i)).collect();
        assert_eq!(fields, [Some(a), None, Some(x), Some(x), None]);
        let fields: Vec<_> = (0..FIELDS).map(|i| far.field(i)).collect();
        assert_eq!(fields, [Some(x), Some(a), Some(x), Some(y), None]);
    }

    #[test]
    fn records_in_a_mapping_count_from_their_text_base() {
        let text = [&b"skipped\nfirst record\n"[..], &[b'x'; 40], b"\nsecond record\n"].concat();
        let mut writable = memmap2::MmapMut::map_anon(text.len()).unwrap();
        writable.copy_from_slice(&text);
        let map = Arc::new(writable.make_read_only().unwrap());
        let chunk = &map[8..];
        let mut keeper = Keeper::for_buffer(chunk, Some(&map));
        keeper.limit = 60;
        let first = keeper.keep(&chunk[..12], [Some(&chunk[6..12]), None, None, None, None]);
        // It would end 67 bytes after the base: a new text starts at it.
        let second = keeper.keep(&chunk[54..67], [None, None, None, None, Some(&chunk[54..60])]);
        drop(keeper);
        assert_eq!((first.text.base, first.raw_start), (8, 0));
        assert_eq!((second.text.base, second.raw_start), (8 + 54, 0));
        assert_eq!((first.raw(), first.field(0)), (&b"first record"[..], Some(&b"record"[..])));
        assert_eq!((second.raw(), second.field(4)), (&b"second record"[..], Some(&b"second"[..])));
    }

    #[test]
    fn a_field_equal_to_the_one_before_it_is_kept_once() {
        let text = b"server: a.example, host: a.example, client: b";
        let mut writable = memmap2::MmapMut::map_anon(text.len()).unwrap();
        writable.copy_from_slice(text);
        let map = Arc::new(writable.make_read_only().unwrap());
        let mut keeper = Keeper::for_buffer(&map, Some(&map));
        let (server, host, client) = (&map[8..17], &map[25..34], &map[44..]);
        let kept = keeper.keep(&map, [Some(client), None, Some(server), Some(host), None]);
        assert_eq!(keeper.arena, b"ba.example");
        // Equal fields that are not neighbours are each copied: only neighbours are compared.
        let apart = keeper.keep(&map, [Some(server), Some(client), Some(host), None, None]);
        assert_eq!(keeper.arena, b"ba.examplea.exampleba.example");
        drop(keeper);
        let fields: Vec<_> = (0..FIELDS).map(|i| kept.field(i)).collect();
        assert_eq!(fields, [Some(&b"b"[..]), None, Some(b"a.example"), Some(b"a.example"), None]);
        let fields: Vec<_> = (0..FIELDS).map(|i| apart.field(i)).collect();
        assert_eq!(fields, [Some(&b"a.example"[..]), Some(b"b"), Some(b"a.example"), None, None]);
    }
}
