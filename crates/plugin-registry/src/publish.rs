//! `tusk plugin publish`: adds a package to a folder registry. The package is unpacked and
//! checked first; a version already published for that target is refused (published builds
//! are immutable); the archive and its signature are written before the index line, so a
//! reader never sees a line whose archive is missing.

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
    update_search_list(root, &entry)?;
    Ok(entry)
}

/// Records the plugin's newest version and description in the search list.
fn update_search_list(root: &Path, entry: &IndexEntry) -> Result<(), RegistryError> {
    let path = root.join(index::SEARCH_FILE);
    let mut list: Vec<SearchEntry> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|error| RegistryError::Index { message: format!("{}: {error}", path.display()) })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(RegistryError::io(format!("cannot read {}", path.display()), error)),
    };
    match list.iter_mut().find(|known| known.name == entry.name) {
        Some(known) if known.version >= entry.vers => {}
        Some(known) => {
            known.version = entry.vers.clone();
            known.description = entry.description.clone();
        }
        None => list.push(SearchEntry {
            name: entry.name.clone(),
            version: entry.vers.clone(),
            description: entry.description.clone(),
        }),
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
