//! The registry part of the user configuration (`~/.config/tusk/config.toml`):
//!
//! ```toml
//! [registry]
//! default = "company"                    # used when a command names none
//! trusted_keys = ["RWTkIj5D…"]           # minisign public keys allowed to sign packages
//! auto_update = false                    # off unless set
//! auto_update_interval_hours = 24
//!
//! [registries.company]
//! url = "https://plugins.example.com/tusk"   # or a folder
//! ```
//!
//! Other tables of the file belong to other parts of tusk and are left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::error::RegistryError;
use crate::signing::TrustedKey;
use crate::source::Registry;

/// The `[registry]` and `[registries.NAME]` tables.
#[derive(Clone, Debug, Default)]
pub struct RegistrySettings {
    /// The configured registries, by name.
    pub registries: Vec<Registry>,
    /// The default registry's name.
    pub default: Option<String>,
    /// The keys whose signatures are accepted.
    pub trusted_keys: Vec<TrustedKey>,
    /// Automatic updates.
    pub auto_update: AutoUpdate,
}

/// `auto_update`: off by default; when on, the registries are checked at most once per
/// interval, and only signed, verified, compatible updates within the lockfile's requirements
/// are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoUpdate {
    /// Whether it is on.
    pub enabled: bool,
    /// The least time between two checks.
    pub interval: Duration,
}

impl Default for AutoUpdate {
    fn default() -> AutoUpdate {
        AutoUpdate { enabled: false, interval: Duration::from_secs(24 * 3600) }
    }
}

impl AutoUpdate {
    /// Whether a check is due, given when the last one happened (`None`: never) and now.
    pub fn due(&self, last_check: Option<SystemTime>, now: SystemTime) -> bool {
        self.enabled
            && match last_check {
                None => true,
                Some(last) => now.duration_since(last).map(|elapsed| elapsed >= self.interval).unwrap_or(true),
            }
    }

    /// Whether a check of the lockfile whose stamp file is `stamp` ([`stamp_file`]) is due
    /// now: one `stat`, no network.
    pub fn due_now(&self, stamp: &Path) -> bool {
        self.enabled && self.due(std::fs::metadata(stamp).and_then(|meta| meta.modified()).ok(), SystemTime::now())
    }

    /// Records that a check of the lockfile whose stamp file is `stamp` starts now. It is
    /// recorded before the check, so that a failing registry is not asked again on every
    /// start until the interval has passed.
    pub fn record_check(stamp: &Path) -> Result<(), RegistryError> {
        if let Some(dir) = stamp.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|error| RegistryError::io(format!("cannot create {}", dir.display()), error))?;
        }
        std::fs::write(stamp, b"")
            .map_err(|error| RegistryError::io(format!("cannot write {}", stamp.display()), error))
    }
}

/// The file whose modification time says when the lockfile at `lock_path` was last checked
/// for automatic updates: one file per lockfile (a project's and the user's are checked
/// apart), under `state_dir/auto-update/`, named after a digest of the lockfile's path.
pub fn stamp_file(state_dir: &Path, lock_path: &Path) -> PathBuf {
    // `components` drops `.` and repeated separators: `/p/./tusk.lock` is `/p/tusk.lock`.
    let path: PathBuf = lock_path.components().collect();
    let digest = crate::sha256_hex(path.to_string_lossy().as_bytes());
    state_dir.join("auto-update").join(format!("{}.stamp", &digest[..16]))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegistryTable {
    default: Option<String>,
    #[serde(default)]
    trusted_keys: Vec<String>,
    #[serde(default)]
    auto_update: bool,
    auto_update_interval_hours: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryEntry {
    url: String,
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    registry: RegistryTable,
    #[serde(default)]
    registries: BTreeMap<String, RegistryEntry>,
}

impl RegistrySettings {
    /// Reads the settings from the configuration file at `path` (missing: no registries).
    pub fn load(path: &Path) -> Result<RegistrySettings, RegistryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => RegistrySettings::parse(&text, &path.display().to_string()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(RegistrySettings::default()),
            Err(error) => Err(RegistryError::io(format!("cannot read {}", path.display()), error)),
        }
    }

    /// Reads the settings from configuration `text` (from `file`, for messages).
    pub fn parse(text: &str, file: &str) -> Result<RegistrySettings, RegistryError> {
        let config: ConfigFile = toml::from_str(text)
            .map_err(|error| RegistryError::Config { message: format!("{file}: {}", error.to_string().trim_end()) })?;
        let config_error = |message: String| RegistryError::Config { message: format!("{file}: {message}") };
        let registries: Vec<Registry> =
            config.registries.iter().map(|(name, entry)| Registry::new(name, &entry.url)).collect();
        if let Some(default) = &config.registry.default
            && !registries.iter().any(|registry| &registry.name == default)
        {
            return Err(config_error(format!(
                "[registry] default = \"{default}\", but there is no [registries.{default}]"
            )));
        }
        let mut trusted_keys = Vec::new();
        for key in &config.registry.trusted_keys {
            trusted_keys.push(TrustedKey::parse(key).map_err(|error| config_error(format!("trusted_keys: {error}")))?);
        }
        let hours = config.registry.auto_update_interval_hours.unwrap_or(24);
        if hours == 0 {
            return Err(config_error("auto_update_interval_hours must be at least 1".to_string()));
        }
        Ok(RegistrySettings {
            registries,
            default: config.registry.default,
            trusted_keys,
            auto_update: AutoUpdate {
                enabled: config.registry.auto_update,
                interval: Duration::from_secs(hours * 3600),
            },
        })
    }

    /// The registry a command uses: the one named (a configured name, else a folder or URL),
    /// else the default, else the only one configured.
    pub fn pick(&self, named: Option<&str>) -> Result<Registry, RegistryError> {
        if let Some(named) = named {
            if let Some(registry) = self.registries.iter().find(|registry| registry.name == named) {
                return Ok(registry.clone());
            }
            if named.contains('/') || named.contains(':') || named.starts_with('.') {
                return Ok(Registry::new(named, named));
            }
            return Err(RegistryError::Config {
                message: format!("no registry named `{named}` is configured ({})", self.names_text()),
            });
        }
        if let Some(default) = &self.default {
            return self.pick(Some(default));
        }
        match self.registries.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(RegistryError::Config {
                message: "no registry is configured: add [registries.NAME] with `url = \"…\"` to the user configuration, or pass --registry DIR|URL".to_string(),
            }),
            _ => Err(RegistryError::Config {
                message: format!(
                    "several registries are configured and none is the default: set `default` under [registry] or pass --registry ({})",
                    self.names_text()
                ),
            }),
        }
    }

    /// The registry whose lockfile source text is `source` (`registry+LOCATION`), configured
    /// or not.
    pub fn for_source(&self, source: &str) -> Option<Registry> {
        let location = source.strip_prefix("registry+")?;
        Some(
            self.registries
                .iter()
                .find(|registry| registry.location_text() == location)
                .cloned()
                .unwrap_or_else(|| Registry::new(location, location)),
        )
    }

    fn names_text(&self) -> String {
        if self.registries.is_empty() {
            return "none are configured".to_string();
        }
        let names: Vec<&str> = self.registries.iter().map(|registry| registry.name.as_str()).collect();
        format!("configured: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_default_and_keys() {
        let text = r#"
[plugins.logging]
level = "info"

[registry]
default = "local"
trusted_keys = ["RWTkIj5Dqkxt3oZiiT2mEQpMCZWhqTe50I1G7KiQjsiIJ8ozkq1Kx9Fp"]

[registries.local]
url = "/srv/reg"

[registries.web]
url = "https://plugins.example/reg"
"#;
        let settings = RegistrySettings::parse(text, "config.toml").unwrap();
        assert_eq!(settings.pick(None).unwrap().name, "local");
        assert_eq!(settings.pick(Some("web")).unwrap().location_text(), "https://plugins.example/reg");
        assert_eq!(settings.pick(Some("./reg")).unwrap().location_text(), "./reg");
        assert_eq!(settings.trusted_keys[0].id, "DE6D4CAA433E22E4");
        assert!(!settings.auto_update.enabled);
        let error = settings.pick(Some("nope")).unwrap_err().to_string();
        assert_eq!(error, "no registry named `nope` is configured (configured: local, web)");
        let error = RegistrySettings::parse("[registry]\ndefault = \"x\"\n", "c.toml").unwrap_err().to_string();
        assert_eq!(error, "c.toml: [registry] default = \"x\", but there is no [registries.x]");
    }

    #[test]
    fn auto_update_is_off_by_default_and_respects_its_interval() {
        let settings = RegistrySettings::parse("", "c.toml").unwrap();
        let now = SystemTime::now();
        assert!(!settings.auto_update.due(None, now));
        let on =
            RegistrySettings::parse("[registry]\nauto_update = true\nauto_update_interval_hours = 2\n", "c").unwrap();
        assert!(on.auto_update.due(None, now));
        assert!(!on.auto_update.due(Some(now - Duration::from_secs(3600)), now));
        assert!(on.auto_update.due(Some(now - Duration::from_secs(7200)), now));
    }

    #[test]
    fn each_lockfile_has_its_own_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let project = stamp_file(dir.path(), Path::new("/p/tusk.lock"));
        let user = stamp_file(dir.path(), Path::new("/home/u/.local/share/tusk/tusk.lock"));
        assert_ne!(project, user);
        assert_eq!(project, stamp_file(dir.path(), Path::new("/p/./tusk.lock")));
        assert_eq!(project.parent().unwrap(), dir.path().join("auto-update"));
        let on = RegistrySettings::parse("[registry]\nauto_update = true\n", "c").unwrap().auto_update;
        let off = RegistrySettings::default().auto_update;
        assert!(on.due_now(&project) && !off.due_now(&project));
        AutoUpdate::record_check(&project).unwrap();
        assert!(!on.due_now(&project), "checked a moment ago");
        assert!(on.due_now(&user), "another lockfile is due all the same");
    }
}
