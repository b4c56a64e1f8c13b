//! The registry index: a static tree that any file server can host.
//!
//! ```text
//! config.json                         {"v": 1}
//! index/3/g/gre                       one file per plugin, one JSON line per published build
//! index/gr/ee/greeter                 (cargo's sparse-index prefixes: 1/, 2/, 3/X/, AB/CD/)
//! archives/greeter/greeter-1.0.0-x86_64-linux.tskpkg
//! archives/greeter/greeter-1.0.0-x86_64-linux.tskpkg.minisig
//! search.json                         every plugin's name, newest version and description
//! ```
//!
//! An index line is never edited once written, except for its `yanked` flag; each line carries
//! its format version `v`, and a client skips lines of a newer format than it reads.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// The index line format this tusk writes and reads.
pub const INDEX_FORMAT: u32 = 1;
/// The registry's marker file at its root.
pub const CONFIG_FILE: &str = "config.json";
/// The list `tusk plugin search` reads.
pub const SEARCH_FILE: &str = "search.json";

/// One published build of one version of a plugin: one line of its index file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The line's format ([`INDEX_FORMAT`]).
    pub v: u32,
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub vers: Version,
    /// What the library was built for (`x86_64-linux`).
    pub target: String,
    /// The plugin ABI of its library (`1.2`).
    pub abi: String,
    /// Its requirement on tusk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tusk: Option<VersionReq>,
    /// Its requirements on other plugins.
    #[serde(default)]
    pub deps: BTreeMap<String, VersionReq>,
    /// The SHA-256 of the archive.
    pub cksum: String,
    /// The archive's size in bytes.
    pub size: u64,
    /// The archive's path from the registry's root.
    pub file: String,
    /// The one-line description.
    #[serde(default)]
    pub description: String,
    /// What the plugin declares it needs (its manifest's `[permissions]`).
    #[serde(default)]
    pub permissions: serde_json::Value,
    /// The key id of the signature, if signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The detached signature's text (minisign format), if signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Withdrawn: never chosen by a new resolution, still installable from a lockfile.
    #[serde(default)]
    pub yanked: bool,
}

impl IndexEntry {
    /// The ABI as `(major, minor)`, `None` when it is not `MAJOR.MINOR`.
    pub fn abi_version(&self) -> Option<(u32, u32)> {
        let (major, minor) = self.abi.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    }

    /// `name version`.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.vers)
    }
}

/// Where the index file of `name` lives, from the registry's root (the name is checked
/// first, so it cannot leave the index folder).
pub fn index_path(name: &str) -> Result<String, RegistryError> {
    crate::check_name(name)?;
    Ok(match name.len() {
        1 => format!("index/1/{name}"),
        2 => format!("index/2/{name}"),
        3 => format!("index/3/{}/{name}", &name[..1]),
        _ => format!("index/{}/{}/{name}", &name[..2], &name[2..4]),
    })
}

/// Where the archive of a build is stored, from the registry's root.
pub fn archive_path(name: &str, file_name: &str) -> String {
    format!("archives/{name}/{file_name}")
}

/// Reads the index file of `name` (`location` names it in errors): its lines of a format
/// this tusk reads, each checked to be about `name` and to point at an archive inside the
/// registry.
pub fn parse_index(text: &str, name: &str, location: &str) -> Result<Vec<IndexEntry>, RegistryError> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| RegistryError::Index {
            message: format!("invalid index entry at {location} line {}: {message}", number + 1),
        };
        let value: serde_json::Value = serde_json::from_str(line).map_err(|error| bad(error.to_string()))?;
        // A line of a newer format may have fields this tusk cannot read: skip it, as cargo does.
        if value.get("v").and_then(serde_json::Value::as_u64).is_some_and(|v| v > u64::from(INDEX_FORMAT)) {
            continue;
        }
        let entry: IndexEntry = serde_json::from_value(value).map_err(|error| bad(error.to_string()))?;
        if entry.name != name {
            return Err(bad(format!("it is about `{}`, not `{name}`", entry.name)));
        }
        for dependency in entry.deps.keys() {
            crate::check_name(dependency).map_err(|error| bad(error.to_string()))?;
        }
        let expected_prefix = format!("archives/{name}/");
        let file_name = entry.file.strip_prefix(&expected_prefix).unwrap_or("");
        if file_name.is_empty() || file_name.contains('/') || file_name.contains('\\') || file_name.starts_with('.') {
            return Err(bad(format!("its archive path `{}` is not under {expected_prefix}", entry.file)));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// One line of [`SEARCH_FILE`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchEntry {
    /// The plugin's name.
    pub name: String,
    /// Its newest version.
    pub version: Version,
    /// Its description.
    #[serde(default)]
    pub description: String,
}

impl SearchEntry {
    /// Whether every word is in the name or the description (case-insensitive).
    pub fn matches(&self, words: &[String]) -> bool {
        let haystack = format!("{} {}", self.name, self.description).to_lowercase();
        words.iter().all(|word| haystack.contains(&word.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo_prefixes() {
        assert_eq!(index_path("a").unwrap(), "index/1/a");
        assert_eq!(index_path("ab").unwrap(), "index/2/ab");
        assert_eq!(index_path("abc").unwrap(), "index/3/a/abc");
        assert_eq!(index_path("greeter").unwrap(), "index/gr/ee/greeter");
        let error = index_path("../etc").unwrap_err();
        assert_eq!(error.to_string(), "invalid plugin name `../etc`: it contains a path separator");
        assert!(index_path("a..b").unwrap_err().to_string().contains("`..`"));
    }

    #[test]
    fn lines_of_newer_formats_are_skipped_and_lies_refused() {
        let good = r#"{"v":1,"name":"greeter","vers":"1.0.0","target":"x86_64-linux","abi":"1.2","cksum":"00","size":3,"file":"archives/greeter/greeter-1.0.0-x86_64-linux.tskpkg"}"#;
        let newer = r#"{"v":2,"name":"greeter","whatever":true}"#;
        let entries = parse_index(&format!("{good}\n{newer}\n"), "greeter", "idx").unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].abi_version(), Some((1, 2)));
        let escaping = good.replace("archives/greeter/greeter-1.0.0", "archives/greeter/../../x");
        let error = parse_index(&escaping, "greeter", "idx").unwrap_err();
        assert!(error.to_string().contains("is not under archives/greeter/"), "{error}");
        let other = parse_index(good, "other", "idx").unwrap_err();
        assert!(other.to_string().contains("it is about `greeter`, not `other`"), "{other}");
    }
}
