//! What both implementations of the host API do alike: the in-process host (which checks a
//! plugin's grants itself) and the sandboxed runner (which asks the host over the wire). Each
//! piece exists once here so that the two cannot drift: the table of values a plugin holds
//! ([`HandleTable`]), the file writes a grant allows ([`fs`]), and the sandbox channel itself:
//! the shared-memory rings that carry its messages both ways ([`ring`]) and the spin-then-sleep
//! wait of their readers ([`poll`], which stops spinning while it does not pay).
//!
//! Descriptors cross between the two with `SCM_RIGHTS` in one place ([`fdpass`]): the
//! preamble's, the network broker's sockets and the hand-off desk's.
//!
//! The only `unsafe` is the ring's shared mapping and futex calls (`ring::shm`) and owning
//! the descriptors `recvmsg` installed (`fdpass`); the pointer checks of the host API are in
//! `tusk-plugin-hostapi`, next to the pointers.

pub mod fdpass;
pub mod fs;
pub mod handles;
pub mod poll;
pub mod ring;

// Re-exports are the crate's API (semver-relevant).
pub use crate::handles::{HandleTable, Slot};
