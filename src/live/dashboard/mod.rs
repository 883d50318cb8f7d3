//! `live` on a terminal: a dashboard of which upstream fails, why, and whether it is getting
//! better, redrawn from the session's [`Tally`] on a thread of its own.
//!
//! [`model`] computes what is shown, [`ui`] holds the keys' state, [`draw`] renders a frame.
//! The thread wakes every [`FRAME`] to read keys and the tally's version, redraws at most that
//! often and, when nothing arrives, once a second (ages and rates move on): an idle dashboard
//! costs next to no CPU. `q` or Ctrl-C raise SIGTERM, so the follower stops the way a signal
//! stops it and prints its summary once the terminal is restored. The terminal is restored
//! on every way out: the follower ending (signal or `--duration`), an error, and a panic
//! (ratatui's hook; a panic on the dashboard's thread also stops the follower).

pub mod draw;
pub mod model;
pub mod ui;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;

use super::tally::Tally;
use ui::{Key, Ui};

/// Shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(250);
/// Longest time between two frames.
const IDLE_FRAME: Duration = Duration::from_secs(1);

/// The running dashboard.
pub struct Dashboard {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<()>>,
}

/// Takes over the terminal (raw mode, alternate screen) and starts drawing `tally`.
pub fn start(tally: Arc<Mutex<Tally>>) -> io::Result<Dashboard> {
    let terminal = ratatui::try_init()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new().name("dashboard".into()).spawn(move || {
        let _stop_follower_on_panic = StopOnPanic;
        let result = run(terminal, &tally, &stopped);
        let restored = restore();
        result.and(restored)
    })?;
    Ok(Dashboard { stop, thread })
}

impl Dashboard {
    /// Stops drawing and gives the terminal back.
    pub fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_else(|_| Err(io::Error::other("the dashboard panicked")))
    }
}

/// Raises SIGTERM when dropped during a panic: a dashboard that died must not leave the
/// follower running behind a dead screen.
struct StopOnPanic;

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
        }
    }
}

fn restore() -> io::Result<()> {
    ratatui::try_restore()?;
    crossterm::execute!(io::stdout(), crossterm::cursor::Show)
}

fn run(mut terminal: DefaultTerminal, tally: &Mutex<Tally>, stop: &AtomicBool) -> io::Result<()> {
    let lock = || tally.lock().unwrap_or_else(PoisonError::into_inner);
    let mut ui = Ui::default();
    let mut drawn: Option<(Instant, u64)> = None;
    let mut dirty = true;
    while !stop.load(Ordering::Acquire) {
        let since = drawn.map_or(FRAME, |(at, _)| at.elapsed());
        let wait = if dirty { FRAME.saturating_sub(since) } else { FRAME };
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if let Some(key) = key(k.code, k.modifiers) {
                        ui.key(key, &lock(), Instant::now());
                        dirty = true;
                    }
                }
                Event::Resize(..) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
        if ui.quit {
            let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
            // The follower stops and calls [`Dashboard::stop`]; until then, show that we heard.
            ui.quit = false;
        }
        let now = Instant::now();
        let tally = lock();
        let due = drawn.is_none_or(|(at, version)| {
            let since = now.duration_since(at);
            since >= FRAME && (dirty || version != tally.version || since >= IDLE_FRAME)
        });
        if due {
            terminal.draw(|frame| draw::draw(frame, &tally, &ui, now))?;
            drawn = Some((now, tally.version));
            dirty = false;
        }
    }
    Ok(())
}

/// The dashboard's key for a terminal key, if it has one.
fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    Some(match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Key::Interrupt,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}
