//! The plugin catalogue: what is known about plugins before any of their code runs.
//!
//! It reads and validates manifests ([`manifest`]), finds installed plugins and caches what it
//! read ([`discovery`]), orders them by their dependencies ([`resolve`]), matches what they ask
//! for against what the user grants ([`permissions`]) and builds their validated configuration
//! ([`config`]). It is plain Rust: it never opens a library, starts a process or watches a
//! file, so the `tusk plugin` tooling and the test kit can use it without the loading machinery
//! of `tusk-plugin-host`.

pub mod config;
pub mod discovery;
pub mod manifest;
pub mod paths;
pub mod permissions;
pub mod resolve;

mod glob;
mod names;
mod toml_check;

// Re-exports are the crate's API (semver-relevant).
pub use crate::config::{ConfigError, ConfigIssue, ConfigSchema, UserConfig, configure};
pub use crate::discovery::{
    Catalog, DiscoveredPlugin, IndexStats, Origin, SearchPath, SearchRoot, bundled_dir, discover,
};
pub use crate::manifest::{
    Example, ExecutionMode, FileAccess, MANIFEST_FILE, Manifest, NetworkAccess, Permissions, SUPPORTED_ABI_MAJOR,
    default_library_name, load_manifest, parse_manifest,
};
pub use crate::names::is_plugin_name;
pub use crate::paths::{default_config_file, default_grants_file, default_index_file};
pub use crate::permissions::{Access, FlagError, GrantSet, Grants, MissingGrant, PermissionError, PluginGrants, check};
pub use crate::resolve::{HostVersions, ResolveError, resolve};
