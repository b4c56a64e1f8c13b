//! Plugin registries: packages, their signatures, registry indexes, resolution, the lockfile and
//! installation that either completes or changes nothing.
//!
//! A package (`NAME-VERSION-TARGET.tskpkg`, [`package`]) is a gzip-compressed tar archive of a
//! plugin folder with a metadata file and a checksum list, optionally signed by a detached
//! minisign signature ([`signing`]). A registry is a static tree any file server can host: a
//! sparse index with one file per plugin and the archives ([`index`], [`source`], [`publish`]).
//! [`resolve`] picks versions for a set of requirements, [`install`] downloads, verifies,
//! unpacks into temporary folders and swaps them into place, and [`lockfile`] records what was
//! installed so that it can be reproduced. Nothing here opens a library: what a library claims
//! to be (its ABI and target) is read by the caller through [`install::LibraryCheck`].

pub mod error;
pub mod index;
pub mod install;
pub mod lockfile;
pub mod package;
pub mod publish;
pub mod resolve;
pub mod settings;
pub mod signing;
pub mod source;

mod digest;

// Re-exports are the crate's API (semver-relevant).
pub use crate::digest::sha256_hex;
pub use crate::error::RegistryError;
pub use crate::index::IndexEntry;
pub use crate::install::{Compatibility, InstallOptions, LibraryCheck, LibraryFacts, Scope, Unsigned};
pub use crate::lockfile::{LOCK_FILE, LockedPlugin, Lockfile};
pub use crate::package::{PackageMeta, pack, unpack};
pub use crate::settings::{AutoUpdate, RegistrySettings};
pub use crate::signing::{KeyPair, TrustedKey};
pub use crate::source::Registry;

/// Checks a plugin name before it becomes part of a path (an index file, an archive, a
/// folder): the manifest's rule, `[a-z][a-z0-9_]*`, which leaves no room for `/`, `\` or `..`.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    if tusk_plugin_catalog::is_plugin_name(name) {
        return Ok(());
    }
    let reason = if name.contains('/') || name.contains('\\') {
        "it contains a path separator"
    } else if name.contains("..") {
        "it contains `..`"
    } else if name.is_empty() {
        "it is empty"
    } else {
        "plugin names are lowercase letters, digits and `_`, starting with a letter"
    };
    Err(RegistryError::InvalidName { name: name.to_string(), reason: reason.to_string() })
}
