//! What a reader that works in blocks holds back from one block for the next: the start of a line
//! whose newline has not come yet, and an error-log record whose continuation lines (FastCGI
//! stderr relays a PHP trace as many lines) may still follow. Every block reader (the stream
//! reader thread, the batch error-log reader, `live`'s follower) cuts with these, so a line or a
//! record that crosses a block edge is read once and whole, whatever the block size.

/// The bytes held back from the last block, to be read at the start of the next one.
#[derive(Debug, Default)]
pub struct Carry {
    held: Vec<u8>,
}

impl Carry {
    /// The next block: what was held, followed by `block`.
    pub fn join(&mut self, block: Vec<u8>) -> Vec<u8> {
        if self.held.is_empty() {
            return block;
        }
        let mut joined = std::mem::take(&mut self.held);
        joined.extend_from_slice(&block);
        joined
    }

    /// The bytes held so far, to append the next block's bytes to without a copy.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Gives out the part of `buf` before `edge` and holds the rest back. Without an edge (no
    /// whole line or record yet) all of `buf` is held, until it has grown to `limit`: then it is
    /// given out as it is, so a stream without edges cannot fill memory.
    pub fn cut(&mut self, mut buf: Vec<u8>, edge: Option<usize>, limit: usize) -> Option<Vec<u8>> {
        match edge.filter(|&e| e > 0 && e <= buf.len()) {
            Some(edge) => {
                self.held = buf[edge..].to_vec();
                buf.truncate(edge);
                Some(buf)
            }
            None if buf.len() < limit => {
                self.held = buf;
                None
            }
            None => Some(buf),
        }
    }

    /// What is left when the input ends (a last line without newline, a last record).
    pub fn rest(&mut self) -> Vec<u8> {
        self.take()
    }

    /// Whether anything is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The end of the last whole line of `buf`, looking only at `buf[from..]` (the bytes before it
/// are known to hold no newline: searching them again would make a long line quadratic).
pub fn line_edge(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memrchr(b'\n', buf.get(from..)?).map(|i| from + i + 1)
}

/// Where the last record of `buf` (whole lines) starts: the record may go on in the next block,
/// the ones before it are complete. A buffer with no line that starts a record ends at a record
/// edge (its lines belong to no record that could go on); `None` when the only record starts at
/// the first byte (nothing before it can be given out yet).
pub fn record_edge(buf: &[u8], starts_record: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let mut end = body.len();
    loop {
        let start = memchr::memrchr(b'\n', &body[..end]).map_or(0, |i| i + 1);
        if starts_record(&body[start..end]) {
            return (start > 0).then_some(start);
        }
        if start == 0 {
            return Some(buf.len());
        }
        end = start - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(line: &[u8]) -> bool {
        line.starts_with(b"R")
    }

    #[test]
    fn record_edge_is_the_start_of_the_last_record() {
        assert_eq!(record_edge(b"R1\n c\nR2\n c\n", starts), Some(6));
        assert_eq!(record_edge(b"R1\n c\n c\n", starts), None);
        assert_eq!(record_edge(b" x\n y\n", starts), Some(6));
        assert_eq!(record_edge(b"x\nR\n", starts), Some(2));
        assert_eq!(record_edge(b"", starts), Some(0));
    }

    #[test]
    fn carried_bytes_lead_the_next_block() {
        let mut carry = Carry::default();
        let first = b"R1\n c\nR2\n c\n".to_vec();
        let edge = record_edge(&first, starts);
        assert_eq!(carry.cut(first, edge, 100).as_deref(), Some(&b"R1\n c\n"[..]));
        let next = carry.join(b" d\nR3\n".to_vec());
        assert_eq!(next, b"R2\n c\n d\nR3\n");
        let edge = record_edge(&next, starts);
        assert_eq!(carry.cut(next, edge, 100).as_deref(), Some(&b"R2\n c\n d\n"[..]));
        assert_eq!(carry.rest(), b"R3\n");
        assert!(carry.is_empty());
    }

    #[test]
    fn a_block_without_edge_is_held_up_to_the_limit() {
        let mut carry = Carry::default();
        assert_eq!(carry.cut(b"abc".to_vec(), line_edge(b"abc", 0), 4), None);
        let joined = carry.join(b"de".to_vec());
        assert_eq!(carry.cut(joined, None, 4).as_deref(), Some(&b"abcde"[..]));
        assert!(carry.is_empty());
        assert_eq!(line_edge(b"ab\ncd", 1), Some(3));
        assert_eq!(line_edge(b"ab\ncd", 3), None);
    }
}
