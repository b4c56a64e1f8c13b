//! The plugin host: loading and calling plugins, from "the catalogue knows this plugin" to "its
//! operators answer in the registry".
//!
//! What is known before any plugin code runs (manifests, discovery, resolution, permissions,
//! configuration) is `tusk-plugin-catalog`'s. This crate hands the registry the installed plugins' lazy stubs ([`host`]), reads
//! and checks a library's info record and loads it in-process ([`loader`], [`ffi`]) or in a
//! sandboxed runner process ([`sandboxed`]), and [`reload`] swaps a rebuilt library in between
//! two calls, or keeps the running build and says why. A replaced in-process build is shut down
//! once no call holds it, and stays mapped until the process exits: no plugin library is ever
//! unloaded.

pub mod ffi;
pub mod host;
pub mod loader;
pub mod reload;
pub mod sandboxed;

mod cache_store;
mod crash;
mod events;

// Re-exports are the crate's API (semver-relevant).
pub use crate::host::{HostSettings, PluginHost, current_versions};
pub use crate::loader::{LoadError, LoadedPlugin, LoadedSymbol, check_info_record, read_info_record};
pub use crate::sandboxed::{LayerState, SandboxLayer, SandboxReport, SandboxSettings, SandboxedPlugin, locate_runner};
