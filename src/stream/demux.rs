//! From physical lines to logical lines: wrappers peeled, split lines re-joined, sources named.
//!
//! Runtimes split long lines (Docker json-file: a `log` value without its newline; CRI: `P`
//! records until an `F`), and stdout and stderr interleave in one file, so fragments are joined
//! per (source, pipe), on raw bytes: a split can fall inside a multi-byte UTF-8 character.

use rustc_hash::FxHashMap;

use super::json_file;
use super::wrap::{peel, strip_injected_stamps, Pipe, Wrappers};
use crate::input::open::MAX_LINE;

/// One logical line of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logical<'a> {
    /// The line nginx (or whatever else) wrote, wrappers and line ending removed.
    pub body: &'a [u8],
    /// The source id: 0 when nothing named one, else an index into [`Demux::sources`] plus one.
    pub source: u32,
    /// The source's name, when it has one.
    pub name: Option<&'a [u8]>,
    pub pipe: Option<Pipe>,
    /// The number of the physical line it ended on (1-based).
    pub line: u64,
}

/// A line the runtime split, waiting for its end.
struct Fragment {
    source: u32,
    pipe: Option<Pipe>,
    text: Vec<u8>,
}

/// Turns physical lines into logical ones. Holds the fragments still open, so a split line is
/// joined even when its pieces arrive in different blocks of a stream.
#[derive(Default)]
pub struct Demux {
    /// Every wrapper seen so far.
    pub wrappers: Wrappers,
    names: Vec<Box<[u8]>>,
    ids: FxHashMap<Box<[u8]>, u32>,
    /// The source of lines no prefix names (a container directory names its whole input).
    base: u32,
    fragments: Vec<Fragment>,
    json: Vec<u8>,
    joined: Vec<u8>,
    unstamped: Vec<u8>,
    line: u64,
}

impl Demux {
    /// A demultiplexer whose unnamed lines belong to `base` (a source name), if given.
    pub fn new(base: Option<&str>) -> Self {
        let mut demux = Demux::default();
        if let Some(name) = base {
            demux.base = intern(&mut demux.names, &mut demux.ids, name.as_bytes());
        }
        demux
    }

    /// The names of the sources seen, in order of their ids (id `i + 1` is `sources()[i]`).
    pub fn sources(&self) -> &[Box<[u8]>] {
        &self.names
    }

    /// Peels one physical line (without its newline) and hands every logical line it completes
    /// to `emit`.
    pub fn push(&mut self, line: &[u8], emit: &mut impl FnMut(Logical<'_>)) {
        self.line += 1;
        let Demux { wrappers, names, ids, base, fragments, json, joined, unstamped, line: number } = self;
        let (text, json_pipe, json_partial) = match json_file::looks_like(line) {
            true => match json_file::decode(line, json) {
                Some(d) => {
                    wrappers.add(Wrappers::JSON_FILE);
                    (&json[..], d.pipe, d.partial)
                }
                None => (line, None, false),
            },
            false => (line, None, false),
        };
        let p = peel(text);
        wrappers.add(p.wrappers);
        let pipe = json_pipe.or(p.pipe);
        let source = p.source.map_or(*base, |name| intern(names, ids, name));
        let partial = json_partial || p.partial;
        let open = fragments.iter().position(|f| f.source == source && f.pipe == pipe);
        let body: &[u8] = match (open, partial) {
            (None, false) => p.body,
            (None, true) => {
                fragments.push(Fragment { source, pipe, text: p.body.to_vec() });
                return;
            }
            (Some(i), true) if fragments[i].text.len() + p.body.len() <= MAX_LINE => {
                fragments[i].text.extend_from_slice(p.body);
                return;
            }
            (Some(i), _) => {
                // The end of a split line (or a runaway one, cut at MAX_LINE).
                *joined = fragments.swap_remove(i).text;
                joined.extend_from_slice(p.body);
                &joined[..]
            }
        };
        let body = match wrappers.contains(Wrappers::TIMESTAMPS) {
            true => strip_injected_stamps(body, unstamped),
            false => body,
        };
        let name = source.checked_sub(1).and_then(|i| names.get(i as usize)).map(|n| &n[..]);
        emit(Logical { body, source, name, pipe, line: *number });
    }

    /// Ends the stream: fragments whose end never came are lines of their own (containerd
    /// writes a stream's last bytes without a newline as `P`).
    pub fn finish(&mut self, emit: &mut impl FnMut(Logical<'_>)) {
        for f in std::mem::take(&mut self.fragments) {
            let name = f.source.checked_sub(1).and_then(|i| self.names.get(i as usize)).map(|n| &n[..]);
            emit(Logical { body: &f.text, source: f.source, name, pipe: f.pipe, line: self.line });
        }
    }
}

fn intern(names: &mut Vec<Box<[u8]>>, ids: &mut FxHashMap<Box<[u8]>, u32>, name: &[u8]) -> u32 {
    if let Some(&id) = ids.get(name) {
        return id;
    }
    names.push(name.into());
    let id = u32::try_from(names.len()).unwrap_or(u32::MAX);
    ids.insert(name.into(), id);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    type Emitted = Vec<(Vec<u8>, u32, Option<Pipe>, u64)>;

    fn run(lines: &[&[u8]]) -> (Emitted, Demux) {
        let mut demux = Demux::new(None);
        let mut out = Vec::new();
        let mut emit = |l: Logical<'_>| out.push((l.body.to_vec(), l.source, l.pipe, l.line));
        for line in lines {
            demux.push(line, &mut emit);
        }
        demux.finish(&mut emit);
        (out, demux)
    }

    #[test]
    fn cri_partials_join_per_stream_even_inside_a_utf8_character() {
        let e = "é".as_bytes();
        let first = [b"2024-01-01T12:00:00.1Z stdout P caf".as_slice(), &e[..1]].concat();
        let last = [b"2024-01-01T12:00:00.2Z stdout F ".as_slice(), &e[1..], b" au lait"].concat();
        let (out, demux) = run(&[
            &first,
            b"2024-01-01T12:00:00.15Z stderr F 2024/01/01 12:00:00 [error] 1#1: *1 boom",
            &last,
            b"2024-01-01T12:00:00.3Z stdout P never ended",
        ]);
        assert_eq!(out[0], (b"2024/01/01 12:00:00 [error] 1#1: *1 boom".to_vec(), 0, Some(Pipe::Stderr), 2));
        assert_eq!(out[1], ("café au lait".as_bytes().to_vec(), 0, Some(Pipe::Stdout), 3));
        assert_eq!(out[2], (b"never ended".to_vec(), 0, Some(Pipe::Stdout), 4));
        assert_eq!(out.len(), 3);
        assert!(demux.wrappers.contains(Wrappers::CRI));
    }

    #[test]
    fn json_file_fragments_join_per_stream_and_sources_are_named() {
        let (out, _) = run(&[
            br#"{"log":"GET /a\u003c","stream":"stdout","time":"2024-01-01T12:00:00.1Z"}"#,
            br#"{"log":"err\n","stream":"stderr","time":"2024-01-01T12:00:00.2Z"}"#,
            br#"{"log":"b\u003e HTTP/1.1\n","stream":"stdout","time":"2024-01-01T12:00:00.3Z"}"#,
        ]);
        let bodies: Vec<&[u8]> = out.iter().map(|o| &o.0[..]).collect();
        assert_eq!(bodies, [&b"err"[..], b"GET /a<b> HTTP/1.1"]);
        let (out, demux) = run(&[b"web-1  | a", b"web-2  | b", b"web-1  | c", b"plain"]);
        let ids: Vec<u32> = out.iter().map(|o| o.1).collect();
        assert_eq!(ids, [1, 2, 1, 0]);
        assert_eq!(demux.sources(), [Box::from(&b"web-1"[..]), Box::from(&b"web-2"[..])]);
    }

    #[test]
    fn a_directory_names_unprefixed_lines() {
        let mut demux = Demux::new(Some("default/web/nginx"));
        let mut ids = Vec::new();
        demux.push(b"2024-01-01T12:00:00.1Z stdout F x", &mut |l: Logical<'_>| ids.push(l.source));
        assert_eq!(ids, [1]);
        assert_eq!(&demux.sources()[0][..], b"default/web/nginx");
    }
}
