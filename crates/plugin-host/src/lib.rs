//! The plugin host: everything between "a folder with a `plugin.toml`" and "an operator in the
//! registry".
//!
//! The pure-Rust half reads and validates manifests ([`manifest`]), finds installed plugins and
//! caches what it read ([`discovery`]), orders them by their dependencies ([`resolve`]), matches
//! what they ask for against what the user grants ([`permissions`]) and builds their validated
//! configuration ([`config`]). None of it opens a library: loading and calling live in the FFI
//! modules.
//!
//! [`reload`] swaps a rebuilt library in between two calls, or keeps the running build and says
//! why. A replaced in-process build is shut down once no call holds it, and stays mapped until
//! the process exits: no plugin library is ever unloaded.

pub mod config;
pub mod discovery;
pub mod ffi;
pub mod host;
pub mod isolated;
pub mod loader;
pub mod manifest;
pub mod permissions;
pub mod reload;
pub mod resolve;

mod cache_store;
mod crash;
mod glob;
mod io;
mod names;
mod paths;
mod toml_check;

// Re-exports are the crate's API (semver-relevant).
pub use crate::config::{ConfigError, ConfigIssue, ConfigSchema, UserConfig, configure};
pub use crate::discovery::{Catalog, DiscoveredPlugin, IndexStats, Origin, SearchPath, SearchRoot, discover};
pub use crate::isolated::{LayerState, RemotePlugin, SandboxLayer, SandboxReport, SandboxSettings, locate_runner};
pub use crate::manifest::{
    Example, ExecutionMode, FileAccess, MANIFEST_FILE, Manifest, NetworkAccess, Permissions, SUPPORTED_ABI_MAJOR,
    load_manifest,
};
pub use crate::paths::{default_config_file, default_grants_file, default_index_file};
pub use crate::permissions::{Access, FlagError, GrantSet, Grants, MissingGrant, PermissionError, PluginGrants, check};
pub use crate::resolve::{HostVersions, ResolveError, resolve};
