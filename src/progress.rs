//! A progress bar for long runs: on stderr, only when it is a terminal and the input is large
//! enough for the run to take more than about a second.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::input::{InputSpec, Origin};

/// Inputs smaller than this finish in well under a second: no bar.
const SHOW_FROM_BYTES: u64 = 256 << 20;

/// A byte-progress bar that is a no-op when hidden.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar sized to the inputs' bytes on disk (compressed inputs count their compressed size,
    /// so the bar is approximate for them).
    pub fn for_inputs(inputs: &[InputSpec], quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let total: u64 = inputs
            .iter()
            .filter_map(|i| match &i.origin {
                Origin::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                Origin::Stdin => None,
            })
            .sum();
        if total < SHOW_FROM_BYTES {
            return Progress(None);
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style);
        }
        Progress(Some(bar))
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
