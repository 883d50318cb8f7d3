//! Access logs: formats, the line parser and the attempt lists of the upstream variables.

pub mod attempts;
pub mod field;
pub mod format;
pub(crate) mod index;
pub mod json;
pub mod parse;
pub mod presets;
pub mod record;

pub use field::Field;
pub use format::LogFormat;
pub use parse::{AccessFormat, AccessParser, Mismatch};
pub use record::{request_path, AccessRecord};
