//! How the C allocator keeps memory it is given back, and where it gets huge pages.
//!
//! A large run is read in time segments (see [`crate::pipeline::analyze_in_segments`]): each
//! segment allocates a few megabytes of candidates, error records and events, and frees them
//! once it is joined and folded. By default glibc hands freed memory at the top of a heap back
//! to the kernel beyond 128 KB, and serves a block of more than 128 KB with a fresh `mmap`
//! until one that size has been freed, so the next segment page-faults the same amount in
//! again, zeroed by the kernel: at 30 % failures a fifth of the process's CPU time was spent in
//! the kernel, most of it on such page faults.
//!
//! Most of the faults left were the heaps' pages touched for the first time, 4 KB each. Many
//! kernels give transparent huge pages on request (`madvise`, Ubuntu's default), and glibc makes
//! that request for its heaps only when its `glibc.malloc.hugetlb` tunable says so, which it
//! reads from the environment at start-up alone. [`restart_with_huge_pages`] therefore starts the
//! process again with the tunable set: at 30 % failures the run then takes 2,200 page faults
//! instead of 6,900, and 7 to 10 % less CPU time, for one more `exec` (about 2 ms).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use std::ffi::{OsStr, OsString};

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

/// The environment variable glibc reads its tunables from.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLES: &str = "GLIBC_TUNABLES";

/// What [`restart_with_huge_pages`] adds to the tunables: huge pages for the heaps, and heaps
/// grown 16 MB at a time, so that each grows over whole huge pages (grown a page at a time, a
/// heap never spans an aligned 2 MB, and gets none).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HUGE_PAGES: &str = "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216";

/// Starts this process again (same program, arguments and process id) with glibc asked to back
/// its heaps with transparent huge pages (see the module docs), when that helps and was not
/// decided already: on glibc, with the kernel's huge pages enabled on request, and with no
/// `glibc.malloc.hugetlb` in `GLIBC_TUNABLES` (which also keeps the new process from
/// restarting again; `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` turns the restart off). Returns
/// when the process is not restarted, or could not be (the program's file gone, say): the run
/// then goes on as it is. Call it first, before any thread starts or any input is opened.
pub fn restart_with_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let tunables = std::env::var_os(TUNABLES);
        // The environment first: the restarted process reads no file to learn it is done.
        if decided(tunables.as_deref()) {
            return;
        }
        let enabled = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if !enabled.is_ok_and(|mode| on_request(&mode)) {
            return;
        }
        let Ok(program) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let mut again = std::process::Command::new(program);
        if let Some(name) = args.next() {
            again.arg0(name);
        }
        // `exec` returns only when it failed.
        let _ = again.args(args).env(TUNABLES, with_huge_pages(tunables.as_deref())).exec();
    }
}

/// Whether the kernel's transparent huge page mode (the contents of
/// `/sys/kernel/mm/transparent_hugepage/enabled`, the chosen one in brackets) gives them only
/// to memory that asks.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn on_request(mode: &str) -> bool {
    mode.contains("[madvise]")
}

/// Whether `GLIBC_TUNABLES` already says whether the heaps use huge pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn decided(tunables: Option<&OsStr>) -> bool {
    tunables.is_some_and(|t| memchr::memmem::find(t.as_encoded_bytes(), b"glibc.malloc.hugetlb").is_some())
}

/// `GLIBC_TUNABLES` with [`HUGE_PAGES`] added to what the user set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_huge_pages(tunables: Option<&OsStr>) -> OsString {
    let mut all = OsString::new();
    if let Some(set) = tunables.filter(|t| !t.is_empty()) {
        all.push(set);
        all.push(":");
    }
    all.push(HUGE_PAGES);
    all
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    use std::ffi::OsStr;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn huge_pages_are_asked_for_only_where_the_kernel_gives_them_on_request() {
        assert!(super::on_request("always [madvise] never\n"));
        assert!(!super::on_request("[always] madvise never\n"));
        assert!(!super::on_request("always madvise [never]\n"));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_users_tunables_are_kept_and_a_decision_stands() {
        assert_eq!(super::with_huge_pages(None), super::HUGE_PAGES);
        assert_eq!(super::with_huge_pages(Some(OsStr::new(""))), super::HUGE_PAGES);
        assert_eq!(
            super::with_huge_pages(Some(OsStr::new("glibc.malloc.arena_max=2"))),
            format!("glibc.malloc.arena_max=2:{}", super::HUGE_PAGES).as_str()
        );
        assert!(!super::decided(None));
        assert!(!super::decided(Some(OsStr::new("glibc.malloc.arena_max=2"))));
        assert!(super::decided(Some(OsStr::new("glibc.malloc.hugetlb=0"))));
        assert!(super::decided(Some(OsStr::new(super::HUGE_PAGES))));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_both_settings() {
        assert!(super::keep_freed_memory());
    }
}
