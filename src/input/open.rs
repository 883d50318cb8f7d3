//! Opening an input: plain files are memory-mapped; gzip and stdin are streamed in large blocks
//! by a reader thread, so decompression overlaps parsing and memory stays bounded.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{mpsc, Arc};

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;

use super::carry::{line_edge, Carry};
use super::walk::Origin;

/// Size of the blocks streamed inputs are read in (each handed on ends at a line boundary).
pub const BLOCK_SIZE: usize = 8 << 20;
/// Environment variable that sets the block size (tests read inputs in blocks down to one byte:
/// lines and records must come out the same whatever the size).
pub const BLOCK_SIZE_VAR: &str = "NGX502_BLOCK_SIZE";

/// The block size: [`BLOCK_SIZE`] unless [`BLOCK_SIZE_VAR`] names a positive number.
pub fn block_size_from_env() -> usize {
    std::env::var(BLOCK_SIZE_VAR).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(BLOCK_SIZE)
}

/// Blocks read ahead of the parser: bounds memory for streams.
const BLOCKS_IN_FLIGHT: usize = 2;
/// A partial line is carried into the next block until its newline comes, or until it has grown
/// past this (checked a block at a time): a stream without newlines (a gzip bomb of NULs) must
/// not fill memory. A longer line is cut there and its pieces are read (and counted, as
/// malformed) as separate lines.
pub const MAX_LINE: usize = 8 * BLOCK_SIZE;

/// An opened input.
pub enum Source {
    /// A whole plain file, mapped (or read, when it is empty or cannot be mapped).
    Mapped(Mmap),
    Buffer(Vec<u8>),
    /// A stream (gzip, zstd, stdin) delivered in blocks.
    Stream(Blocks),
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Opens an input, recognising gzip and zstd by their magic bytes rather than their names.
pub fn open(origin: &Origin) -> io::Result<Source> {
    open_in_blocks(origin, BLOCK_SIZE)
}

/// [`open`], streams read in blocks of `block_size` bytes (what a test varies: records and lines
/// must come out the same whatever the size).
pub fn open_in_blocks(origin: &Origin, block_size: usize) -> io::Result<Source> {
    match origin {
        Origin::Stdin => Ok(Source::Stream(Blocks::spawn(Box::new(io::stdin()), block_size))),
        Origin::File(path) => match open_file(path)? {
            Opened::Gzip(file) => {
                Ok(Source::Stream(Blocks::spawn(Box::new(MultiGzDecoder::new(file)), block_size)))
            }
            Opened::Zstd(file) => {
                let decoder = zstd::stream::read::Decoder::new(file)?;
                Ok(Source::Stream(Blocks::spawn(Box::new(decoder), block_size)))
            }
            Opened::Plain(file) => map(path, &file),
        },
    }
}

/// A plain file, mapped: `None` for stdin, compressed files and files that cannot be mapped,
/// which only [`open_in_blocks`] reads. Nothing is read or spawned to find out.
pub fn map_plain(origin: &Origin) -> Option<Mmap> {
    let Origin::File(path) = origin else { return None };
    let Opened::Plain(file) = open_file(path).ok()? else { return None };
    match map(path, &file).ok()? {
        Source::Mapped(map) => Some(map),
        // An empty log (a quiet day's error log) is an empty map, not a reason to read the run
        // whole; a pipe, which also has no length, is not a file.
        Source::Buffer(buf) if buf.is_empty() && file.metadata().ok()?.is_file() => {
            memmap2::MmapMut::map_anon(0).ok()?.make_read_only().ok()
        }
        Source::Buffer(_) | Source::Stream(_) => None,
    }
}

/// A file opened and recognised by its magic bytes, from its start.
enum Opened {
    Gzip(File),
    Zstd(File),
    Plain(File),
}

fn open_file(path: &std::path::Path) -> io::Result<Opened> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic)?;
    if n >= 2 && magic[..2] == GZIP_MAGIC {
        return Ok(Opened::Gzip(File::open(path)?));
    }
    if n == 4 && magic == ZSTD_MAGIC {
        return Ok(Opened::Zstd(File::open(path)?));
    }
    Ok(Opened::Plain(file))
}

/// A plain file mapped, or read when it is empty or cannot be mapped.
fn map(path: &std::path::Path, file: &File) -> io::Result<Source> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Source::Buffer(Vec::new()));
    }
    // SAFETY: the map is read-only; a log that is truncated while mapped can raise
    // SIGBUS, the same trade-off ripgrep makes for plain files named on the command line.
    match unsafe { Mmap::map(file) } {
        Ok(map) => Ok(Source::Mapped(map)),
        Err(_) => {
            let mut buf = Vec::new();
            File::open(path)?.read_to_end(&mut buf)?;
            Ok(Source::Buffer(buf))
        }
    }
}

/// Hands the pages of a memory-mapped input back to the kernel once a chunk of it has been parsed.
/// They stay in the page cache, so nothing is read twice, but the process's resident memory stays
/// flat however large the log is. A no-op for inputs that are not mapped.
#[derive(Clone, Copy, Default)]
pub struct PageRelease<'m>(Option<&'m Arc<Mmap>>);

impl<'m> PageRelease<'m> {
    pub fn of(map: &'m Arc<Mmap>) -> Self {
        PageRelease(Some(map))
    }

    /// The mapping, which outlives the read: what is kept of it can point into it.
    pub fn mapping(&self) -> Option<&'m Arc<Mmap>> {
        self.0
    }

    /// Where `bytes` start in the mapping, when they lie inside it.
    pub fn offset_of(&self, bytes: &[u8]) -> Option<usize> {
        let map = self.0?;
        let offset = (bytes.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
        (offset.checked_add(bytes.len())? <= map.len()).then_some(offset)
    }

    pub fn done(&self, chunk: &[u8]) {
        let (Some(map), Some(offset)) = (self.0, self.offset_of(chunk)) else { return };
        // SAFETY: the mapping is a read-only shared mapping of a file: MADV_DONTNEED only drops
        // the pages from this process's page tables, and a later access (another chunk sharing
        // the boundary page) faults the same bytes back in from the page cache. No reference
        // into the mapping is invalidated. Failure only means the pages stay resident.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, chunk.len()) };
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let (filled, end) = fill(reader, buf);
    end.map(|()| filled)
}

/// Reads into `buf` until it is full or the input ends; the count of bytes read is returned
/// even when an error stops the read, so the lines before a truncated gzip's cut are kept.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> (usize, io::Result<()>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Err(e)),
        }
    }
    (filled, Ok(()))
}

/// Blocks of a stream, each ending at a newline (except the last, and a line cut at
/// [`MAX_LINE`]), read by a background thread.
/// A read error (a truncated gzip) arrives as the last item, after every complete line before it.
pub struct Blocks {
    receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl Blocks {
    /// Reads `reader` on a background thread in blocks of about `block_size` bytes (at least one).
    pub fn spawn(mut reader: Box<dyn Read + Send>, block_size: usize) -> Blocks {
        let block_size = block_size.max(1);
        let (sender, receiver) = mpsc::sync_channel(BLOCKS_IN_FLIGHT);
        std::thread::spawn(move || {
            let mut carry = Carry::default();
            loop {
                let mut block = carry.take();
                let start = block.len();
                block.resize(start + block_size, 0);
                let (got, end) = fill(&mut reader, &mut block[start..]);
                block.truncate(start + got);
                if end.is_err() || got == 0 {
                    if !block.is_empty() {
                        let _ = sender.send(Ok(block));
                    }
                    if let Err(e) = end {
                        let _ = sender.send(Err(e));
                    }
                    return;
                }
                let edge = line_edge(&block, start);
                let Some(block) = carry.cut(block, edge, MAX_LINE) else { continue };
                if sender.send(Ok(block)).is_err() {
                    return;
                }
            }
        });
        Blocks { receiver }
    }
}

impl Iterator for Blocks {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.recv().ok()
    }
}
