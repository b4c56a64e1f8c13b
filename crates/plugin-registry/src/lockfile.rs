//! `tusk.lock`: what `tusk plugin install` put into a plugin folder, so that `tusk plugin
//! install` without arguments installs exactly that again, elsewhere.
//!
//! ```toml
//! version = 1
//!
//! [requirements]      # what was asked for: `update` stays within these
//! app = "^1.0"
//!
//! [[plugin]]
//! name = "app"
//! version = "1.0.0"
//! source = "registry+https://plugins.example/reg"
//! target = "x86_64-linux"
//! checksum = "sha256:…"
//! dependencies = ["base 1.4.0"]
//! ```
//!
//! The checksum is the package archive's for registry sources, and the library's for plugins
//! built from source (`path+DIR`, `git+URL#REV`, `crate+NAME`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tusk_plugin_boundary::fs::write_atomically;

use crate::error::RegistryError;

/// The lockfile's name in a project folder.
pub const LOCK_FILE: &str = "tusk.lock";
/// The lockfile format this tusk writes and reads.
pub const LOCK_FORMAT: u32 = 1;

/// A lockfile's contents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// The format ([`LOCK_FORMAT`]).
    pub version: u32,
    /// What the user asked for, by plugin: a semver requirement.
    #[serde(default)]
    pub requirements: BTreeMap<String, String>,
    /// What is installed, sorted by name.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockedPlugin>,
}

/// One installed plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// Its name.
    pub name: String,
    /// Its exact version.
    pub version: String,
    /// Where it came from: `registry+LOCATION`, `path+DIR`, `git+URL#REV`, `crate+NAME`.
    pub source: String,
    /// What its library was built for.
    pub target: String,
    /// `sha256:HEX` of the archive (registry) or of the library (built from source).
    pub checksum: String,
    /// The plugins it depends on, `name version`.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

impl Lockfile {
    /// Reads the lockfile at `path`; a missing file is an empty lockfile.
    pub fn load(path: &Path) -> Result<Lockfile, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lockfile { version: LOCK_FORMAT, ..Lockfile::default() });
            }
            Err(error) => return Err(RegistryError::io(format!("cannot read {}", path.display()), error)),
        };
        let lock: Lockfile = toml::from_str(&text)
            .map_err(|error| RegistryError::Lock { message: format!("invalid {}: {error}", path.display()) })?;
        if lock.version != LOCK_FORMAT {
            return Err(RegistryError::Lock {
                message: format!(
                    "{} has format {} (this tusk reads format {LOCK_FORMAT})",
                    path.display(),
                    lock.version
                ),
            });
        }
        for plugin in &lock.plugins {
            crate::check_name(&plugin.name)
                .map_err(|error| RegistryError::Lock { message: format!("{}: {error}", path.display()) })?;
        }
        Ok(lock)
    }

    /// Writes the lockfile to `path` (all or nothing).
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let mut sorted = self.clone();
        sorted.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let body = toml::to_string(&sorted)
            .map_err(|error| RegistryError::Lock { message: format!("cannot write {}: {error}", path.display()) })?;
        let text = format!(
            "# Written by `tusk plugin install`; `tusk plugin install` with no argument installs exactly this.\n{body}"
        );
        write_atomically(path, text.as_bytes())
            .map_err(|error| RegistryError::io(format!("cannot write {}", path.display()), error))
    }

    /// The locked plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&LockedPlugin> {
        self.plugins.iter().find(|plugin| plugin.name == name)
    }

    /// Replaces (or adds) the entry of `plugin.name`.
    pub fn set(&mut self, plugin: LockedPlugin) {
        self.plugins.retain(|other| other.name != plugin.name);
        self.plugins.push(plugin);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        assert_eq!(Lockfile::load(&path).unwrap().plugins, []);
        let mut lock = Lockfile { version: LOCK_FORMAT, ..Lockfile::default() };
        lock.requirements.insert("app".into(), "^1".into());
        lock.set(LockedPlugin {
            name: "app".into(),
            version: "1.0.0".into(),
            source: "registry+/srv/reg".into(),
            target: "x86_64-linux".into(),
            checksum: "sha256:00".into(),
            dependencies: vec!["base 1.4.0".into()],
        });
        lock.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[[plugin]]\nname = \"app\""), "{text}");
        assert_eq!(Lockfile::load(&path).unwrap(), lock);
        std::fs::write(&path, text.replace("name = \"app\"", "name = \"../app\"")).unwrap();
        let error = Lockfile::load(&path).unwrap_err().to_string();
        assert!(error.ends_with("invalid plugin name `../app`: it contains a path separator"), "{error}");
    }
}
