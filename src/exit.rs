//! Exit codes, documented in the README: scripts and cron jobs branch on them.

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The report was produced.
    Ok = 0,
    /// A usage or input error: bad flag, unreadable path, no log to read.
    Usage = 2,
    /// A `--fail-on` threshold was crossed (the report was still produced).
    Alert = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}
