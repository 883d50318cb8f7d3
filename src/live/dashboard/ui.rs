//! The dashboard's own state: which pane has the focus, what is selected, the filter, the
//! pause, the explanation shown, and how each key changes them. Terminal-free, so the keys are
//! tested without one.

use std::time::Instant;

use crate::live::tally::Tally;

use super::model::{self, Filter};

/// The panes that take the arrow keys, in `Tab` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Upstreams,
    Causes,
    Failures,
}

/// The keys the dashboard knows (the terminal's key events are mapped to these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Tab,
    Up,
    Down,
    PageUp,
    PageDown,
    Backspace,
    /// Ctrl-C: in raw mode it is a key, not a signal.
    Interrupt,
}

/// The dashboard's state between two keys.
#[derive(Clone, Debug)]
pub struct Ui {
    pub focus: Pane,
    /// The selected row of each pane ([`Pane`] order).
    pub selected: [usize; 3],
    pub filter: Filter,
    /// The filter being typed after `f`, until Enter or Esc.
    pub editing: Option<String>,
    /// A copy of the tally and the instant it was taken, shown instead of the live one.
    pub paused: Option<(Box<Tally>, Instant)>,
    /// The cause whose explanation is shown.
    pub explain: Option<&'static str>,
    pub quit: bool,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui {
            focus: Pane::Failures,
            selected: [0; 3],
            filter: Filter::default(),
            editing: None,
            paused: None,
            explain: None,
            quit: false,
        }
    }
}

/// Rows a page key moves.
const PAGE: usize = 5;

impl Ui {
    fn index(pane: Pane) -> usize {
        match pane {
            Pane::Upstreams => 0,
            Pane::Causes => 1,
            Pane::Failures => 2,
        }
    }

    /// The selected row of `pane`.
    pub fn selected(&self, pane: Pane) -> usize {
        self.selected[Ui::index(pane)]
    }

    /// The tally to show and the instant to show it at: the paused copy, or `live` at `now`.
    pub fn shown<'t>(&'t self, live: &'t Tally, now: Instant) -> (&'t Tally, Instant) {
        match &self.paused {
            Some((copy, at)) => (copy, *at),
            None => (live, now),
        }
    }

    /// Applies `key`; `live` is the tally at `now` (what a pause copies).
    pub fn key(&mut self, key: Key, live: &Tally, now: Instant) {
        if let Some(text) = self.editing.as_mut() {
            match key {
                Key::Enter => {
                    self.filter = Filter(std::mem::take(text));
                    self.editing = None;
                    self.selected = [0; 3];
                }
                Key::Esc => self.editing = None,
                Key::Backspace => {
                    text.pop();
                }
                Key::Char(c) if !c.is_control() && text.chars().count() < 64 => text.push(c),
                Key::Interrupt => self.quit = true,
                _ => {}
            }
            return;
        }
        if self.explain.is_some() && !matches!(key, Key::Char('q') | Key::Interrupt) {
            self.explain = None;
            return;
        }
        match key {
            Key::Char('q') | Key::Interrupt => self.quit = true,
            Key::Char('p') => {
                self.paused = match self.paused.take() {
                    Some(_) => None,
                    None => Some((Box::new(live.clone()), now)),
                }
            }
            Key::Char('f') => self.editing = Some(self.filter.0.clone()),
            Key::Esc => {
                self.filter = Filter::default();
                self.selected = [0; 3];
            }
            Key::Tab => {
                self.focus = match self.focus {
                    Pane::Upstreams => Pane::Causes,
                    Pane::Causes => Pane::Failures,
                    Pane::Failures => Pane::Upstreams,
                }
            }
            Key::Up | Key::Char('k') => self.step(-1, live, now),
            Key::Down | Key::Char('j') => self.step(1, live, now),
            Key::PageUp => self.step(-(PAGE as isize), live, now),
            Key::PageDown => self.step(PAGE as isize, live, now),
            Key::Enter => {
                let (tally, at) = self.shown(live, now);
                self.explain = self.selected_cause(tally, at);
            }
            _ => {}
        }
    }

    /// Rows in the focused pane.
    fn rows(&self, tally: &Tally, now: Instant) -> usize {
        match self.focus {
            Pane::Upstreams => model::upstreams(tally, now, &self.filter).len(),
            Pane::Causes => model::causes(tally, now, 1).len(),
            Pane::Failures => model::failures(tally, &self.filter).len(),
        }
    }

    fn step(&mut self, by: isize, live: &Tally, now: Instant) {
        let (tally, at) = self.shown(live, now);
        let last = self.rows(tally, at).saturating_sub(1);
        let slot = &mut self.selected[Ui::index(self.focus)];
        *slot = slot.saturating_add_signed(by).min(last);
    }

    /// The cause under the selection: the selected cause, the selected failure's, or the
    /// selected upstream's top cause.
    pub fn selected_cause(&self, tally: &Tally, now: Instant) -> Option<&'static str> {
        let row = self.selected(self.focus);
        match self.focus {
            Pane::Upstreams => model::upstreams(tally, now, &self.filter).get(row).and_then(|u| u.top_cause),
            Pane::Causes => model::causes(tally, now, 1).get(row).map(|c| c.cause),
            Pane::Failures => model::failures(tally, &self.filter).get(row).map(|f| f.cause),
        }
    }
}
