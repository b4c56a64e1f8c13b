//! `tusk plugin publish`: adds a package to a folder registry. The package is unpacked and
//! checked first; a version already published for that target is refused (published builds
//! are immutable); the archive and its signature are written before the index line, so a
//! reader never sees a line whose archive is missing.
//!
//! `tusk plugin yank`: sets (or clears) the `yanked` flag of a published version, the only
//! change an index line ever sees. A yanked version is never chosen by a new resolution but
//! stays downloadable, so lockfiles that name it still install.

use std::path::Path;

use tusk_plugin_boundary::fs::write_atomically;

use crate::digest::sha256_hex;
use crate::error::RegistryError;
use crate::index::{self, INDEX_FORMAT, IndexEntry, SearchEntry};
use crate::package;
use crate::signing;

/// Publishes the package `archive` (with its signature file's text, if signed) into the
/// folder registry `root`, creating the registry if the folder is empty or missing. Returns
/// the new index entry.
pub fn publish(root: &Path, archive: &[u8], signature: Option<&str>) -> Result<IndexEntry, RegistryError> {
    let staging = tempfile::Builder::new()
        .prefix("tusk-publish-")
        .tempdir()
        .map_err(|error| RegistryError::io("cannot create a temporary folder", error))?;
    let meta = package::unpack(archive, "the package", &staging.path().join("package"))?;
    let file_name = meta.file_name();
    let key_id = match signature {
        Some(text) => Some(signing::signature_key_id(text)?),
        None => None,
    };
    let entry = IndexEntry {
        v: INDEX_FORMAT,
        name: meta.name.clone(),
        vers: meta.version.clone(),
        target: meta.target.clone(),
        abi: meta.abi.clone(),
        tusk: meta.tusk.clone(),
        deps: meta.dependencies.clone(),
        cksum: sha256_hex(archive),
        size: archive.len() as u64,
        file: index::archive_path(&meta.name, &file_name),
        description: meta.description.clone(),
        permissions: meta.permissions.clone(),
        key_id,
        signature: signature.map(str::to_string),
        yanked: false,
    };

    let config = root.join(index::CONFIG_FILE);
    if !config.is_file() {
        if root.is_dir() && std::fs::read_dir(root).map(|mut entries| entries.next().is_some()).unwrap_or(false) {
            return Err(RegistryError::Publish {
                message: format!(
                    "{} is not a registry (it has no {}) and is not empty",
                    root.display(),
                    index::CONFIG_FILE
                ),
            });
        }
        create_dir(root)?;
        write(&config, format!("{{\"v\": {INDEX_FORMAT}}}\n").as_bytes())?;
    }
    let index_relative = index::index_path(&meta.name)?;
    let index_file = root.join(&index_relative);
    let existing_text = match std::fs::read_to_string(&index_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(RegistryError::io(format!("cannot read {}", index_file.display()), error)),
    };
    let existing = index::parse_index(&existing_text, &meta.name, &index_file.display().to_string())?;
    if existing.iter().any(|other| other.vers == entry.vers && other.target == entry.target) {
        return Err(RegistryError::Publish {
            message: format!(
                "{} {} for {} is already published in {} (published versions are immutable: publish a new version)",
                meta.name,
                meta.version,
                meta.target,
                root.display()
            ),
        });
    }

    let archive_file = root.join(&entry.file);
    if let Some(parent) = archive_file.parent() {
        create_dir(parent)?;
    }
    write(&archive_file, archive)?;
    if let Some(signature) = signature {
        write(&root.join(format!("{}.minisig", entry.file)), signature.as_bytes())?;
    }
    let line = serde_json::to_string(&entry)
        .map_err(|error| RegistryError::Publish { message: format!("cannot write the index entry: {error}") })?;
    let mut text = existing_text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    if let Some(parent) = index_file.parent() {
        create_dir(parent)?;
    }
    write(&index_file, text.as_bytes())?;
    let mut all = existing;
    all.push(entry.clone());
    update_search_list(root, &meta.name, &all)?;
    Ok(entry)
}

/// What [`yank`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YankOutcome {
    /// The targets the version was published for.
    pub targets: Vec<String>,
    /// False when every build of the version already had the requested flag.
    pub changed: bool,
}

/// Sets the `yanked` flag of every build of `name` `version` in the folder registry `root` to
/// `yanked` (false: un-yanks). Other lines of the index file are left byte for byte.
pub fn yank(root: &Path, name: &str, version: &semver::Version, yanked: bool) -> Result<YankOutcome, RegistryError> {
    if !root.join(index::CONFIG_FILE).is_file() {
        return Err(RegistryError::Publish {
            message: format!("{} is not a folder registry (it has no {})", root.display(), index::CONFIG_FILE),
        });
    }
    let index_file = root.join(index::index_path(name)?);
    let text = match std::fs::read_to_string(&index_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(RegistryError::Publish {
                message: format!("there is no plugin named `{name}` in {}", root.display()),
            });
        }
        Err(error) => return Err(RegistryError::io(format!("cannot read {}", index_file.display()), error)),
    };
    let location = index_file.display().to_string();
    // Every line is checked first: a registry whose index does not read is not edited.
    index::parse_index(&text, name, &location)?;
    let mut lines = Vec::new();
    let mut targets = Vec::new();
    let mut changed = false;
    for line in text.lines() {
        let mut value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) if !line.trim().is_empty() => value,
            _ => {
                lines.push(line.to_string());
                continue;
            }
        };
        let same_version =
            value.get("vers").and_then(serde_json::Value::as_str).and_then(|text| text.parse().ok()).as_ref()
                == Some(version);
        if !same_version {
            lines.push(line.to_string());
            continue;
        }
        targets.push(value.get("target").and_then(serde_json::Value::as_str).unwrap_or("?").to_string());
        let was = value.get("yanked").and_then(serde_json::Value::as_bool).unwrap_or(false);
        if was == yanked {
            lines.push(line.to_string());
            continue;
        }
        value["yanked"] = serde_json::Value::Bool(yanked);
        changed = true;
        lines.push(value.to_string());
    }
    if targets.is_empty() {
        let entries = index::parse_index(&text, name, &location)?;
        let mut versions: Vec<String> = entries.iter().map(|entry| entry.vers.to_string()).collect();
        versions.dedup();
        return Err(RegistryError::Publish {
            message: format!(
                "{name} {version} is not published in {} (published: {})",
                root.display(),
                versions.join(", ")
            ),
        });
    }
    if changed {
        let mut new_text = lines.join("\n");
        new_text.push('\n');
        write(&index_file, new_text.as_bytes())?;
        let entries = index::parse_index(&new_text, name, &location)?;
        update_search_list(root, name, &entries)?;
    }
    Ok(YankOutcome { targets, changed })
}

/// Records the plugin's newest version that is not yanked, with its description, in the
/// search list (a plugin whose every version is yanked is left out of it).
fn update_search_list(root: &Path, name: &str, entries: &[IndexEntry]) -> Result<(), RegistryError> {
    let path = root.join(index::SEARCH_FILE);
    let mut list: Vec<SearchEntry> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|error| RegistryError::Index { message: format!("{}: {error}", path.display()) })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(RegistryError::io(format!("cannot read {}", path.display()), error)),
    };
    list.retain(|known| known.name != name);
    if let Some(newest) = entries.iter().filter(|entry| !entry.yanked).max_by(|a, b| a.vers.cmp(&b.vers)) {
        list.push(SearchEntry {
            name: name.to_string(),
            version: newest.vers.clone(),
            description: newest.description.clone(),
        });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let text = serde_json::to_vec_pretty(&list)
        .map_err(|error| RegistryError::Publish { message: format!("cannot write the search list: {error}") })?;
    write(&path, &text)
}

fn create_dir(dir: &Path) -> Result<(), RegistryError> {
    std::fs::create_dir_all(dir).map_err(|error| RegistryError::io(format!("cannot create {}", dir.display()), error))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    write_atomically(path, bytes).map_err(|error| RegistryError::io(format!("cannot write {}", path.display()), error))
}
