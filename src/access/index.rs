//! A structural index of a line: where each delimiter byte of a format occurs, classified 64
//! bytes at a time into one bitmask per byte (the simdjson idea), so the parser walks bits
//! instead of starting a `memchr` per field.
//!
//! The only `unsafe` of the parser lives here: the vector loads and the call of the AVX2 kernel
//! once the CPU was seen to have AVX2. x86_64 always has SSE2; other targets classify with a
//! plain loop, which the compiler vectorises where it can.

/// How many distinct delimiter bytes one index classifies.
pub const CLASSES: usize = 4;

/// Bytes per window: one bit of a `u64` mask each.
const WINDOW: usize = 64;

/// The delimiter bytes of a format and the kernel that classifies them on this CPU.
#[derive(Clone, Copy, Debug)]
pub struct Needles {
    bytes: [u8; CLASSES],
    /// How many of `bytes` are distinct: the others are not compared.
    count: usize,
    kernel: Kernel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Scalar,
}

impl Needles {
    /// Up to [`CLASSES`] distinct bytes (more are ignored: [`Needles::class`] says which are
    /// indexed). Unused classes repeat the first byte and are not classified.
    pub fn new(wanted: &[u8]) -> Needles {
        let mut bytes = [wanted.first().copied().unwrap_or(b'\n'); CLASSES];
        let mut n = 0;
        for &b in wanted {
            if n < CLASSES && !bytes[..n].contains(&b) {
                bytes[n] = b;
                n += 1;
            }
        }
        Needles { bytes, count: n, kernel: Kernel::detect() }
    }

    /// The class of `byte`, when it is indexed.
    pub fn class(&self, byte: u8) -> Option<usize> {
        self.bytes.iter().position(|&b| b == byte)
    }

    /// Classifies the windows of `line` from window `first` on, up to [`BATCH`] of them, into
    /// `out`; returns how many. One call classifies a whole line of usual length: the kernel's
    /// needles are set up once, and a call per window cost more than its compares.
    fn classify(&self, line: &[u8], first: usize, out: &mut Masks) -> usize {
        match self.count {
            0 | 1 => self.classify_n::<1>(line, first, out),
            2 => self.classify_n::<2>(line, first, out),
            3 => self.classify_n::<3>(line, first, out),
            _ => self.classify_n::<CLASSES>(line, first, out),
        }
    }

    /// [`classify`](Self::classify) with the first `N` needles: formats have two to four.
    fn classify_n<const N: usize>(&self, line: &[u8], first: usize, out: &mut Masks) -> usize {
        let bytes: [u8; N] = std::array::from_fn(|i| self.bytes[i]);
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only chosen after `is_x86_feature_detected!("avx2")`.
            Kernel::Avx2 => unsafe { x86::classify_avx2(&bytes, line, first, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of every x86_64 CPU (the target's baseline).
            Kernel::Sse2 => unsafe { x86::classify_sse2(&bytes, line, first, out) },
            Kernel::Scalar => classify_windows(line, first, out, |w| classify_scalar(&bytes, w)),
        }
    }

    #[cfg(test)]
    fn with_kernel(mut self, kernel: Kernel) -> Needles {
        self.kernel = kernel;
        self
    }
}

impl Kernel {
    #[cfg(target_arch = "x86_64")]
    fn detect() -> Kernel {
        if std::arch::is_x86_feature_detected!("avx2") {
            Kernel::Avx2
        } else {
            Kernel::Sse2
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn detect() -> Kernel {
        Kernel::Scalar
    }
}

/// Windows one [`Needles::classify`] call classifies at most: lines of up to 512 bytes, most
/// lines, are classified in one call.
const BATCH: usize = 8;

/// The masks of up to [`BATCH`] consecutive windows.
type Masks = [[u64; CLASSES]; BATCH];

/// The loop of every kernel: `one` classifies a window. The last, partial window of a line is
/// read as the line's last 64 bytes, shifted, so nothing is copied unless the whole line is
/// shorter than a window.
#[inline(always)]
fn classify_windows<const N: usize>(
    line: &[u8],
    first: usize,
    out: &mut Masks,
    mut one: impl FnMut(&[u8; WINDOW]) -> [u64; N],
) -> usize {
    let start = first * WINDOW;
    let (full, rest) = line.get(start..).unwrap_or_default().as_chunks::<WINDOW>();
    let mut n = 0;
    for (window, masks) in full.iter().zip(out.iter_mut()) {
        masks[..N].copy_from_slice(&one(window));
        n += 1;
    }
    // Fewer full windows than the batch holds: `rest` is the end of the line.
    if n < BATCH && !rest.is_empty() {
        let tail = if let Some(last) = line.last_chunk::<WINDOW>() {
            let shift = start + n * WINDOW - (line.len() - WINDOW);
            one(last).map(|m| m >> shift)
        } else {
            let mut padded = [0; WINDOW];
            padded[..line.len()].copy_from_slice(line);
            let inside = (1u64 << line.len()) - 1;
            one(&padded).map(|m| m & inside)
        };
        out[n][..N].copy_from_slice(&tail);
        n += 1;
    }
    n
}

fn classify_scalar<const N: usize>(needles: &[u8; N], window: &[u8; WINDOW]) -> [u64; N] {
    needles.map(|n| window.iter().rev().fold(0u64, |mask, &b| (mask << 1) | u64::from(b == n)))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{classify_windows, Masks};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(super) fn classify_avx2<const N: usize>(
        needles: &[u8; N],
        line: &[u8],
        first: usize,
        out: &mut Masks,
    ) -> usize {
        let needles = needles.map(|n| _mm256_set1_epi8(n as i8));
        classify_windows(line, first, out, |window| {
            let p = window.as_ptr().cast::<__m256i>();
            // SAFETY: `window` is 64 readable bytes; the loads are unaligned ones of 32 bytes at 0
            // and 32.
            let (lo, hi) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
            needles.map(|n| {
                let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, n)) as u32;
                let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, n)) as u32;
                u64::from(lo) | (u64::from(hi) << 32)
            })
        })
    }

    #[target_feature(enable = "sse2")]
    pub(super) fn classify_sse2<const N: usize>(
        needles: &[u8; N],
        line: &[u8],
        first: usize,
        out: &mut Masks,
    ) -> usize {
        let needles = needles.map(|n| _mm_set1_epi8(n as i8));
        classify_windows(line, first, out, |window| {
            let p = window.as_ptr().cast::<__m128i>();
            // SAFETY: `window` is 64 readable bytes; the loads are unaligned ones of 16 bytes at
            // 0, 16, 32 and 48.
            let v = unsafe { [0, 1, 2, 3].map(|i| _mm_loadu_si128(p.add(i))) };
            needles.map(|n| {
                v.iter().enumerate().fold(0u64, |mask, (i, &v)| {
                    mask | (u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, n)) as u16) << (16 * i))
                })
            })
        })
    }
}

/// The positions of the needles in one line, classified when the walk reaches them, up to
/// [`BATCH`] windows at a time (a line is walked from its start to its end, so each window is
/// classified once).
pub struct Index<'a> {
    line: &'a [u8],
    needles: &'a Needles,
    /// The windows classified so far: `count` of them from window `first` on.
    first: usize,
    count: usize,
    batch: Masks,
}

impl<'a> Index<'a> {
    pub fn new(line: &'a [u8], needles: &'a Needles) -> Index<'a> {
        Index { line, needles, first: 0, count: 0, batch: [[0; CLASSES]; BATCH] }
    }

    /// The first position at or after `from` holding the byte of `class`. The masks are read
    /// where the batch holds them: the walk asks for one class at a time, so copying a window's
    /// masks out cost more than the one mask it reads.
    #[inline(always)]
    pub fn next(&mut self, class: usize, from: usize) -> Option<usize> {
        let mut window = from / WINDOW;
        let mut above = !0u64 << (from % WINDOW);
        loop {
            if window * WINDOW >= self.line.len() {
                return None;
            }
            // Bits past the end of the line are never set, so a window is searched whole.
            let mask = self.mask(window, class) & above;
            if mask != 0 {
                return Some(window * WINDOW + mask.trailing_zeros() as usize);
            }
            window += 1;
            above = !0;
        }
    }

    /// The first position at or after `from` holding the byte of `class` where `follows(line,
    /// position)` holds: a literal found by its first byte. Inlined into the walk: as a call it
    /// cost a frame per variable.
    #[inline(always)]
    pub fn find(
        &mut self,
        class: usize,
        from: usize,
        follows: impl Fn(&[u8], usize) -> bool,
    ) -> Option<usize> {
        let mut from = from;
        loop {
            let at = self.next(class, from)?;
            if follows(self.line, at) {
                return Some(at);
            }
            from = at + 1;
        }
    }

    /// The mask of `class` in window `window`, classifying it (and the ones after it) when the
    /// batch classified so far does not hold it.
    #[inline]
    fn mask(&mut self, window: usize, class: usize) -> u64 {
        let mut at = window.wrapping_sub(self.first);
        if at >= self.count {
            self.classify_from(window);
            at = 0;
        }
        // The masks keep the indices in range; the compiler cannot tell.
        self.batch[at % BATCH][class % CLASSES]
    }

    #[cold]
    #[inline(never)]
    fn classify_from(&mut self, window: usize) {
        self.count = self.needles.classify(self.line, window, &mut self.batch);
        self.first = window;
    }
}

/// The bytes of a literal after its indexed first byte. Format literals are a few bytes: up to
/// eight are compared in one load of the line.
#[derive(Clone, Debug)]
pub struct Rest {
    word: u64,
    mask: u64,
    bytes: Box<[u8]>,
}

impl Rest {
    pub fn new(bytes: &[u8]) -> Rest {
        let n = bytes.len().min(8);
        let mut word = [0; 8];
        word[..n].copy_from_slice(&bytes[..n]);
        let mask = u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0);
        Rest { word: u64::from_le_bytes(word), mask, bytes: bytes.into() }
    }

    /// Whether the rest is at most eight bytes, which [`follows_short`](Self::follows_short)
    /// compares in one load.
    pub fn is_short(&self) -> bool {
        self.bytes.len() <= 8
    }

    /// Whether these bytes follow position `at` of `line` (`at` inside the line).
    pub fn follows(&self, line: &[u8], at: usize) -> bool {
        if self.is_short() {
            self.follows_short(line, at)
        } else {
            starts_with(line.get(at + 1..).unwrap_or_default(), &self.bytes)
        }
    }

    /// [`follows`](Self::follows) for a short rest: one load of the eight bytes after `at` when
    /// the line holds them, else a compare.
    #[inline(always)]
    pub fn follows_short(&self, line: &[u8], at: usize) -> bool {
        match line.get(at + 1..).and_then(<[u8]>::first_chunk::<8>) {
            Some(&head) => u64::from_le_bytes(head) & self.mask == self.word,
            None => starts_with(line.get(at + 1..).unwrap_or_default(), &self.bytes),
        }
    }
}

/// Whether `line` starts with `prefix`, compared in a loop: format literals are a few bytes,
/// for which a call of `memcmp` per line costs more than the compare.
pub fn starts_with(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line.iter().zip(prefix).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn positions(line: &[u8], needles: &Needles, class: usize) -> Vec<usize> {
        let mut index = Index::new(line, needles);
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = index.next(class, from) {
            out.push(at);
            from = at + 1;
        }
        out
    }

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            all.push(Kernel::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
        }
        all
    }

    #[test]
    fn rests_compare_as_slices_do() {
        let texts: [&[u8]; 6] = [b"", b"a", b"ab\"", b" host=\"x\" cid=1", b"\" us=\"502\"", b"12345678"];
        let rests: [&[u8]; 7] = [b"", b"a", b"ab", b" host=\"", b"\" us=\"", b"12345678", b"123456789"];
        for text in texts {
            for rest in rests {
                let mut line = b"x".to_vec();
                line.extend_from_slice(text);
                assert_eq!(Rest::new(rest).follows(&line, 0), text.starts_with(rest), "{text:?} {rest:?}");
            }
        }
    }

    #[test]
    fn needles_are_distinct_and_capped() {
        let n = Needles::new(b"  \"]\"x\0y");
        assert_eq!([b' ', b'"', b']', b'x'].map(|b| n.class(b)), [Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(n.class(b'y'), None);
        assert_eq!(n.class(0), None);
    }

    proptest! {
        #[test]
        fn every_kernel_finds_what_a_byte_scan_finds(
            line in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'"'), Just(0u8), any::<u8>()], 0..1200),
            wanted in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'"'), Just(0u8), any::<u8>()], 1..6),
        ) {
            for kernel in kernels() {
                let needles = Needles::new(&wanted).with_kernel(kernel);
                for &b in &wanted {
                    let Some(class) = needles.class(b) else { continue };
                    let expected: Vec<usize> =
                        line.iter().enumerate().filter(|&(_, &x)| x == b).map(|(i, _)| i).collect();
                    prop_assert_eq!(positions(&line, &needles, class), expected, "{:?}", kernel);
                }
            }
        }
    }
}
