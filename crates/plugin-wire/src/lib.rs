//! The protocol between the plugin host and a sandboxed plugin runner: the values and messages
//! that cross between the two processes, one compact binary encoding for both directions, and
//! length-prefixed framing over any byte stream.
//!
//! Decoding is strict and total: any byte string either decodes to exactly one message or is an
//! error, never a panic, an unbounded allocation or unbounded recursion (the host reads what a
//! possibly hostile runner writes; the `wire` fuzz target checks this). The crate uses std only.

mod codec;
mod events;
mod frame;
mod message;
mod value;

#[cfg(test)]
mod tests;

// Re-exports are the crate's API (semver-relevant).
pub use codec::{DecodeError, MAX_DEPTH};
pub use events::{EventToHost, EventToRunner, PostFailure};
pub use frame::{MAX_FRAME, encode_frame, read_frame, write_frame};
pub use message::{
    CallError, FsGrants, HELLO_BYTES, Init, Layer, LayerState, Limits, MapFailure, MapOutcome, NetGrant, PREAMBLE,
    PROTOCOL_VERSION, Ready, Request, Symbol, ToHost, ToRunner, hello_version, runner_hello,
};
pub use value::WireValue;
