//! What both implementations of the host API do alike: the in-process host (which checks a
//! plugin's grants itself) and the sandboxed runner (which asks the host over the wire). Each
//! piece exists once here so that the two cannot drift: the table of values a plugin holds
//! ([`HandleTable`]), the file writes a grant allows ([`fs`]) and the spin-then-block socket
//! read both ends of the sandbox channel use ([`poll`], which stops spinning while it does not
//! pay).
//!
//! No `unsafe`: the pointer checks are in `tusk-plugin-hostapi`, next to the pointers.

pub mod fs;
pub mod handles;
pub mod poll;

// Re-exports are the crate's API (semver-relevant).
pub use crate::handles::{HandleTable, Slot};
