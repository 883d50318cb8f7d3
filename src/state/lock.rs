//! One run at a time per state file: an advisory lock (`flock`) on `FILE.lock`, a file that is
//! never renamed or deleted, so every run locks the same inode whatever happens to the state.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use fs4::{FileExt, TryLockError};

/// Held for the whole run; the kernel releases it when the process ends, however it ends.
pub struct Lock {
    _file: File,
}

/// The lock file beside `state`.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of `state`: fails at once if another run holds it, or waits when `wait`.
pub fn acquire(state: &Path, wait: bool) -> anyhow::Result<Lock> {
    let path = lock_path(state);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    // Called through the trait: `File` has inherent lock methods only from Rust 1.89.
    let locked =
        if wait { FileExt::lock(&file).map_err(TryLockError::Error) } else { FileExt::try_lock(&file) };
    match locked {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let by = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            bail!(
                "another ngx502 run is using the state file {}{by}: it holds {}; \
                 run one at a time, or pass --wait-lock to wait for it",
                state.display(),
                path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // Who holds it, for the message another run prints; the lock itself does not depend on it.
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(Lock { _file: file })
}
