//! The one error type of registries, packages and installation. Every message names the file,
//! plugin or registry it is about; none carries a secret (registry URLs are printed without
//! their user information).

use std::fmt;

/// Why a registry operation failed. Nothing on disk has changed when one is returned from an
/// installation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A name that cannot be a plugin's: `../x`, `a/b`, `Foo`.
    #[error("invalid plugin name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry could not be read: connection refused, HTTP 500, a missing folder.
    #[error("cannot reach registry `{registry}` ({location}): {message}")]
    Unreachable {
        /// The registry's configured name.
        registry: String,
        /// Its URL or folder.
        location: String,
        /// What happened.
        message: String,
    },
    /// A download ended early: the server closed the connection after 1000 of 4000 bytes.
    #[error("download of {file} was cut short: {message}")]
    Truncated {
        /// The file.
        file: String,
        /// How much arrived.
        message: String,
    },
    /// Bytes that do not match the checksum that the index or lockfile records.
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {found}")]
    ChecksumMismatch {
        /// The file.
        file: String,
        /// The recorded checksum.
        expected: String,
        /// The checksum of what arrived.
        found: String,
    },
    /// Not a package: not gzip, not tar, missing metadata, files not matching the checksum list.
    #[error("corrupt package {file}: {message}")]
    CorruptPackage {
        /// The archive.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// An archive entry that would leave its folder or is not a plain file: `../evil`,
    /// `/etc/passwd`, a symbolic link.
    #[error("refusing package {file}: entry `{entry}` {reason}")]
    UnsafeEntry {
        /// The archive.
        file: String,
        /// The entry's path as written in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// A package without a signature, or signed by a key that is not trusted.
    #[error("{message}")]
    Untrusted {
        /// Which package and why.
        message: String,
    },
    /// A signature that does not verify: the archive or its signed comment was changed.
    #[error("bad signature on {file}: {message}")]
    BadSignature {
        /// The archive.
        file: String,
        /// What failed.
        message: String,
    },
    /// A key file that cannot be read as a minisign key.
    #[error("invalid key: {message}")]
    InvalidKey {
        /// What is wrong.
        message: String,
    },
    /// An index file or entry that cannot be read, or that the package contradicts (an entry
    /// lying about the ABI its library speaks).
    #[error("{message}")]
    Index {
        /// What is wrong, naming the index file or entry.
        message: String,
    },
    /// Requirements that no set of versions satisfies: a conflict, a missing plugin, nothing
    /// compatible with this tusk.
    #[error("{message}")]
    Resolve {
        /// The requirements involved.
        message: String,
    },
    /// A lockfile that cannot be read or written, or that no longer matches.
    #[error("{message}")]
    Lock {
        /// What is wrong.
        message: String,
    },
    /// The `[registry]` or `[registries.NAME]` tables of the user configuration.
    #[error("{message}")]
    Config {
        /// What is wrong, with the file's path.
        message: String,
    },
    /// Publishing a version that the registry already has (published versions are immutable).
    #[error("{message}")]
    Publish {
        /// What is wrong.
        message: String,
    },
    /// A file-system operation failed.
    #[error("{action}: {error}")]
    Io {
        /// What was being done, with the path.
        action: String,
        /// The operating system's error.
        error: std::io::Error,
    },
}

impl RegistryError {
    /// An [`RegistryError::Io`] for `action`.
    pub(crate) fn io(action: impl fmt::Display, error: std::io::Error) -> RegistryError {
        RegistryError::Io { action: action.to_string(), error }
    }
}
