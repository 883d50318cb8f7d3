//! Where log bytes come from: paths expanded into inputs, files opened (memory-mapped, gzip,
//! stdin), and each input's kind and format decided from its content.

pub mod carry;
pub mod detect;
pub mod infer;
pub mod open;
pub mod resolve;
pub mod sniff;
pub mod walk;

pub use open::{open, open_in_blocks, Blocks, PageRelease, Source};
pub use sniff::{sniff, Kind, Sniffed};
pub use walk::{expand, InputSpec, Origin, Resume};
