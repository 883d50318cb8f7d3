//! What wakes the follower: file-system events (inotify through `notify`), SIGINT/SIGTERM, or a
//! timeout. Between them the process sleeps, so an idle follower costs next to no CPU.
//!
//! Events only say "look now": every wake re-reads every followed path, so a missed or merged
//! event loses nothing, and a timed poll covers what events cannot see (a file renamed out of
//! the watched directories, a file system without inotify, the inotify watch limit).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Why the follower woke up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A file was written to.
    Data,
    /// A file was created, renamed or removed: directories may hold new logs.
    Names,
    /// SIGINT or SIGTERM: read what is left and stop.
    Stop,
    /// Nothing happened before the timeout.
    Timeout,
}

/// The source of wake-ups.
pub struct Waker {
    receiver: Receiver<Wake>,
    /// `None` when the platform watcher could not start: then only timed polls wake us.
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    /// For readers on other threads (a pipe) to say that data came.
    nudge: Sender<Wake>,
}

impl Waker {
    /// Starts the signal listener and the file-system watcher. A watcher that cannot start is
    /// not an error: [`Waker::events`] says so and the caller polls more often.
    pub fn new() -> std::io::Result<Waker> {
        let (sender, receiver) = mpsc::channel();
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let stop = sender.clone();
        let nudge = sender.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = stop.send(Wake::Stop);
            }
        });
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let _ = forward(&sender, event);
        })
        .ok();
        Ok(Waker { receiver, watcher, watched: HashSet::new(), nudge })
    }

    /// Whether file-system events arrive (else only timed polls notice changes).
    /// A handle that wakes [`wait`](Self::wait) with [`Wake::Data`] from another thread.
    pub fn nudge(&self) -> Sender<Wake> {
        self.nudge.clone()
    }

    pub fn events(&self) -> bool {
        self.watcher.is_some()
    }

    /// Watches `dir` (once). On failure events for it are lost, and timed polls remain.
    pub fn watch(&mut self, dir: &Path, recursive: bool) {
        let Some(watcher) = self.watcher.as_mut() else { return };
        if self.watched.contains(dir) {
            return;
        }
        let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        if watcher.watch(dir, mode).is_ok() {
            self.watched.insert(dir.to_path_buf());
        }
    }

    /// Waits up to `timeout` for a wake-up, then takes every other one already queued, so a burst
    /// of writes costs one pass. `Stop` wins over `Names`, which wins over `Data`.
    pub fn wait(&self, timeout: Duration) -> Wake {
        let first = match self.receiver.recv_timeout(timeout) {
            Ok(wake) => wake,
            Err(RecvTimeoutError::Timeout) => return Wake::Timeout,
            // Both senders live as long as the waker's threads: treat a close as a stop.
            Err(RecvTimeoutError::Disconnected) => return Wake::Stop,
        };
        self.receiver.try_iter().fold(first, strongest)
    }
}

fn strongest(a: Wake, b: Wake) -> Wake {
    let rank = |w: Wake| match w {
        Wake::Stop => 3,
        Wake::Names => 2,
        Wake::Data => 1,
        Wake::Timeout => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn forward(sender: &Sender<Wake>, event: notify::Result<notify::Event>) -> Result<(), mpsc::SendError<Wake>> {
    let wake = match event.map(|e| e.kind) {
        Ok(EventKind::Access(_)) => return Ok(()),
        Ok(EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)) => Wake::Data,
        // Creations, removals, renames, metadata changes (a truncation shows as one), errors
        // (queue overflow): look at everything again.
        _ => Wake::Names,
    };
    sender.send(wake)
}
