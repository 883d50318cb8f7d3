//! What identifies a log across rotations: its first bytes, not its name. A renamed, gzipped or
//! copied log starts with the same bytes; a truncated or replaced one does not.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

/// Bytes of content the fingerprint covers: a few dozen log lines, with their timestamps.
pub const HEAD_BYTES: usize = 4096;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A fingerprint of the first `len` bytes of a log's content (decompressed, for gzip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub len: u64,
    /// XXH3-64 of those bytes: a stable, specified hash, so state files outlive releases.
    pub xxh3: u64,
}

impl Head {
    /// The fingerprint of `content`'s first bytes (at most [`HEAD_BYTES`]).
    pub fn of(content: &[u8]) -> Head {
        let head = &content[..content.len().min(HEAD_BYTES)];
        Head { len: head.len() as u64, xxh3: xxhash_rust::xxh3::xxh3_64(head) }
    }

    /// Whether `content` (a log's first bytes) starts with the bytes this fingerprint covers.
    pub fn matches(&self, content: &[u8]) -> bool {
        usize::try_from(self.len)
            .ok()
            .and_then(|len| content.get(..len))
            .is_some_and(|head| xxhash_rust::xxh3::xxh3_64(head) == self.xxh3)
    }
}

/// The file behind a log as it was on disk: the same stamp means nothing was written since.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    /// On-disk size (compressed, for gzip).
    pub len: u64,
    pub mtime_ns: i128,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        let (dev, ino) = file_id(meta);
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Stamp { dev, ino, len: meta.len(), mtime_ns }
    }

    /// Whether the stamp can tell this file from others: without an inode number it cannot.
    pub fn is_reliable(&self) -> bool {
        self.ino != 0
    }
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(_: &Metadata) -> (u64, u64) {
    (0, 0)
}

/// A log file looked at before reading it.
#[derive(Clone, Debug)]
pub struct Observed {
    pub stamp: Stamp,
    /// Its first content bytes (at most [`HEAD_BYTES`], decompressed for gzip).
    pub head: Vec<u8>,
    pub gzip: bool,
}

/// Stats `path` and reads the start of its content.
pub fn observe(path: &Path) -> io::Result<Observed> {
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file.metadata()?);
    let mut magic = Vec::with_capacity(2);
    (&mut file).take(2).read_to_end(&mut magic)?;
    let gzip = magic == GZIP_MAGIC;
    let mut file = File::open(path)?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let limit = HEAD_BYTES as u64;
    if gzip {
        // A gzip still being written ends early: its first bytes are fingerprint enough.
        if let Err(e) = MultiGzDecoder::new(file).take(limit).read_to_end(&mut head) {
            if head.is_empty() {
                return Err(e);
            }
        }
    } else {
        (&mut file).take(limit).read_to_end(&mut head)?;
    }
    Ok(Observed { stamp, head, gzip })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_matches_the_same_start_and_only_it() {
        let head = Head::of(b"line one\nline two\n");
        assert_eq!(head.len, 18);
        assert!(head.matches(b"line one\nline two\nline three\n"));
        assert!(!head.matches(b"line one\nline tw"));
        assert!(!head.matches(b"line 1\nline two\nline three\n"));
    }

    #[test]
    fn a_head_covers_at_most_head_bytes() {
        let long = vec![b'x'; HEAD_BYTES * 2];
        let head = Head::of(&long);
        assert_eq!(head.len, HEAD_BYTES as u64);
        let mut other = long.clone();
        other[HEAD_BYTES + 10] = b'y';
        assert!(head.matches(&other));
    }
}
