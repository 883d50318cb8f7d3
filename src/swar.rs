//! Eight bytes tested at once in a `u64` (SWAR): for scans of fields a few bytes long, where a
//! `memchr` call's set-up costs more than the whole scan and a byte loop several times as much.

/// `b` in each of the eight bytes.
pub const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

const HIGHS: u64 = splat(0x80);

/// The bytes of `x` below `n` (`n` at most 0x80), each flagged by its high bit. The lowest
/// flagged byte is always one, so `trailing_zeros() / 8` (of a little-endian word) finds the
/// first; a borrow may flag bytes after it.
#[inline]
pub fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(splat(n)) & !x & HIGHS
}

/// The bytes of `x` equal to `b`, flagged as [`bytes_below`] flags them.
#[inline]
pub fn bytes_equal(x: u64, b: u8) -> u64 {
    bytes_below(x ^ splat(b), 1)
}

/// Whether any byte of `x` has its high bit set (is not ASCII).
#[inline]
pub fn any_high(x: u64) -> bool {
    x & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_flagged_byte_is_exact() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let x = u64::from_le_bytes(word);
                let first = |flags: u64| (flags != 0).then(|| flags.trailing_zeros() as usize / 8);
                assert_eq!(first(bytes_equal(x, b' ')), (b == b' ').then_some(at), "{b:#x} at {at}");
                assert_eq!(first(bytes_below(x, 0x20)), (b < 0x20).then_some(at), "{b:#x} at {at}");
                assert_eq!(any_high(x), b >= 0x80);
            }
        }
    }
}
