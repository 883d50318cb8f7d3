//! How the C allocator keeps memory it is given back.
//!
//! A large run is read in time segments (see [`crate::pipeline::analyze_in_segments`]): each
//! segment allocates a few megabytes of candidates, error records and events, and frees them
//! once it is joined and folded. By default glibc hands freed memory at the top of a heap back
//! to the kernel beyond 128 KB, and serves a block of more than 128 KB with a fresh `mmap`
//! until one that size has been freed, so the next segment page-faults the same amount in
//! again, zeroed by the kernel: at 30 % failures a fifth of the process's CPU time was spent in
//! the kernel, most of it on such page faults.

/// The free memory at the top of a heap kept for the next segment rather than returned: about
/// what a segment's vectors take. More kept no fewer page faults, only a higher peak (64 MB:
/// 190 MB against 170 MB on 11.6 GB of logs at 5 % failures; 16 MB: 150 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_FREED: libc::c_int = 16 << 20;

/// Blocks of up to this size come from the heaps, where freed ones are reused, instead of
/// `mmap`: a segment's vectors of candidates, error records and events are a few MB each.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAP_ABOVE: libc::c_int = 8 << 20;

/// Tells glibc to keep freed memory for reuse (see the module docs). The peak barely moves, as
/// what is kept is what the segment before had in use (a few MB more on 1.5 GB of logs at 30 %
/// failures, with half the page faults). Returns whether the allocator took both settings
/// (`false` off glibc, whose allocators keep memory on their own terms).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` sets two of the allocator's parameters under its own lock; it reads
        // and writes no memory of the caller's.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MAP_ABOVE) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_both_settings() {
        assert!(super::keep_freed_memory());
    }
}
