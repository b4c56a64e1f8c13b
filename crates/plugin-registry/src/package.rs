//! Plugin packages: `NAME-VERSION-TARGET.tskpkg`, a gzip-compressed tar archive of a plugin
//! folder (manifest, library, configuration schema, README and licence files) plus
//! `tskpkg.json` (what the index needs: name, version, target, ABI, requirements) and
//! `CHECKSUMS` (the SHA-256 of every other file, in `sha256sum` format).
//!
//! Packing is deterministic (sorted entries, zero times and owners, fixed modes), so the same
//! files give the same archive and the same checksum. Unpacking trusts nothing in the archive:
//! only plain files and folders with relative, `..`-free paths are written, each file at most
//! once, with modes chosen here, within a size budget; links, devices and anything that would
//! land outside the destination are refused before anything is written outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::error::RegistryError;

/// The metadata file inside a package.
pub const META_FILE: &str = "tskpkg.json";
/// The checksum list inside a package.
pub const CHECKSUMS_FILE: &str = "CHECKSUMS";
/// The extension of package files.
pub const EXTENSION: &str = "tskpkg";
/// The package format this tusk writes and reads.
pub const FORMAT: u32 = 1;

/// The most bytes a package may unpack to: far above any plugin, far below a full disk
/// (a small archive of zeros can expand a thousandfold).
const MAX_UNPACKED_BYTES: u64 = 1 << 30;
/// The most entries a package may have.
const MAX_ENTRIES: usize = 4096;

/// What `tskpkg.json` says about the packaged plugin; the index entry is made from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMeta {
    /// The package format ([`FORMAT`]).
    pub format: u32,
    /// The plugin's name (its manifest's).
    pub name: String,
    /// The plugin's version (its manifest's).
    pub version: semver::Version,
    /// What the library was built for, as its info record says (`x86_64-linux`).
    pub target: String,
    /// The plugin ABI of the library, as its info record says (`1.2`).
    pub abi: String,
    /// The manifest's requirement on tusk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tusk: Option<semver::VersionReq>,
    /// The manifest's requirements on other plugins.
    #[serde(default)]
    pub dependencies: BTreeMap<String, semver::VersionReq>,
    /// The manifest's one-line description.
    #[serde(default)]
    pub description: String,
    /// The library's file name inside the package.
    pub library: String,
    /// The manifest's `[permissions]`, shown before installing.
    #[serde(default)]
    pub permissions: serde_json::Value,
}

impl PackageMeta {
    /// `NAME-VERSION-TARGET.tskpkg`.
    pub fn file_name(&self) -> String {
        file_name(&self.name, &self.version, &self.target)
    }
}

/// `NAME-VERSION-TARGET.tskpkg`.
pub fn file_name(name: &str, version: &semver::Version, target: &str) -> String {
    format!("{name}-{version}-{target}.{EXTENSION}")
}

/// Builds a package from `files`: `(path inside the package, file on disk)`, the library among
/// them under `meta.library`. Paths are relative with `/` separators.
pub fn pack(meta: &PackageMeta, files: &[(String, PathBuf)]) -> Result<Vec<u8>, RegistryError> {
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (inside, path) in files {
        check_entry_path(inside).map_err(|reason| RegistryError::UnsafeEntry {
            file: meta.file_name(),
            entry: inside.clone(),
            reason,
        })?;
        let bytes =
            std::fs::read(path).map_err(|error| RegistryError::io(format!("cannot read {}", path.display()), error))?;
        contents.insert(inside.clone(), bytes);
    }
    if !contents.contains_key(&meta.library) {
        return Err(RegistryError::CorruptPackage {
            file: meta.file_name(),
            message: format!("the library `{}` is not among the packed files", meta.library),
        });
    }
    let meta_text = serde_json::to_vec_pretty(meta)
        .map_err(|error| RegistryError::CorruptPackage { file: meta.file_name(), message: error.to_string() })?;
    contents.insert(META_FILE.to_string(), meta_text);
    let checksums: String = contents.iter().map(|(path, bytes)| format!("{}  {path}\n", sha256_hex(bytes))).collect();
    contents.insert(CHECKSUMS_FILE.to_string(), checksums.into_bytes());

    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in &contents {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(if *path == meta.library { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .map_err(|error| RegistryError::io(format!("cannot pack {path}"), error))?;
    }
    let encoder = builder.into_inner().map_err(|error| RegistryError::io("cannot finish the package", error))?;
    encoder.finish().map_err(|error| RegistryError::io("cannot compress the package", error))
}

/// Why a path inside a package is refused, if it is: it must be relative, made of plain
/// names (no `..`, `.`, root or drive), with `/` separators and no backslash.
fn check_entry_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("has an empty path".to_string());
    }
    if path.contains('\\') {
        return Err("contains a backslash".to_string());
    }
    if path.starts_with('/') {
        return Err("is an absolute path".to_string());
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => {}
            Component::ParentDir => return Err("would be written outside the plugin folder (`..`)".to_string()),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path".to_string()),
            Component::CurDir => return Err("contains `.`".to_string()),
        }
    }
    Ok(())
}

/// Unpacks the package `bytes` (named `file` in errors) into the folder `destination`, which
/// must not exist yet, and checks it: every file listed in `CHECKSUMS` with its checksum and no
/// file unlisted, `tskpkg.json` readable. On an error the caller removes `destination`.
pub fn unpack(bytes: &[u8], file: &str, destination: &Path) -> Result<PackageMeta, RegistryError> {
    let corrupt = |message: String| RegistryError::CorruptPackage { file: file.to_string(), message };
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(corrupt("not a gzip-compressed archive".to_string()));
    }
    std::fs::create_dir(destination)
        .map_err(|error| RegistryError::io(format!("cannot create {}", destination.display()), error))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|error| corrupt(format!("cannot read the archive: {error}")))?;
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for (count, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|error| corrupt(format!("cannot read the archive: {error}")))?;
        if count >= MAX_ENTRIES {
            return Err(corrupt(format!("more than {MAX_ENTRIES} entries")));
        }
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason: &str| RegistryError::UnsafeEntry {
            file: file.to_string(),
            entry: raw_path.clone(),
            reason: reason.to_string(),
        };
        let path = raw_path.trim_end_matches('/').to_string();
        check_entry_path(&path).map_err(|reason| unsafe_entry(&reason))?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => {
                std::fs::create_dir_all(destination.join(&path))
                    .map_err(|error| RegistryError::io(format!("cannot create {path}"), error))?;
                continue;
            }
            tar::EntryType::Symlink => return Err(unsafe_entry("is a symbolic link")),
            tar::EntryType::Link => return Err(unsafe_entry("is a hard link")),
            other => return Err(unsafe_entry(&format!("is not a plain file ({other:?})"))),
        }
        let size = entry.header().size().map_err(|error| corrupt(format!("entry `{path}`: {error}")))?;
        if size > budget {
            return Err(corrupt(format!("it unpacks to more than {} MiB", MAX_UNPACKED_BYTES >> 20)));
        }
        budget -= size;
        let target = destination.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| RegistryError::io(format!("cannot create {path}"), error))?;
        }
        let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size)
            .read_to_end(&mut contents)
            .map_err(|error| corrupt(format!("cannot read entry `{path}`: {error}")))?;
        if contents.len() as u64 != size {
            return Err(corrupt(format!("entry `{path}` is cut short")));
        }
        // `create_new`: an entry that appears twice, or a path some earlier entry made a
        // folder, is an error rather than a silent overwrite.
        let mut output = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|error| corrupt(format!("cannot write entry `{path}` (written twice?): {error}")))?;
        output.write_all(&contents).map_err(|error| RegistryError::io(format!("cannot write {path}"), error))?;
        written.insert(path, sha256_hex(&contents));
    }
    // A clean end of the archive: a truncated gzip stream shows up here at the latest.
    let mut rest = Vec::new();
    archive
        .into_inner()
        .read_to_end(&mut rest)
        .map_err(|error| corrupt(format!("cannot read the archive: {error}")))?;

    let listed_text = std::fs::read_to_string(destination.join(CHECKSUMS_FILE))
        .map_err(|_| corrupt(format!("it has no {CHECKSUMS_FILE} list")))?;
    let mut listed = BTreeSet::new();
    for (number, line) in listed_text.lines().enumerate() {
        let Some((digest, path)) = line.split_once("  ") else {
            return Err(corrupt(format!("{CHECKSUMS_FILE} line {}: expected `SHA256  PATH`", number + 1)));
        };
        match written.get(path) {
            Some(found) if found == digest => {}
            Some(found) => {
                return Err(corrupt(format!(
                    "`{path}` does not match {CHECKSUMS_FILE}: expected sha256 {digest}, got {found}"
                )));
            }
            None => return Err(corrupt(format!("`{path}` is listed in {CHECKSUMS_FILE} but missing"))),
        }
        listed.insert(path.to_string());
    }
    if let Some(unlisted) = written.keys().find(|path| *path != CHECKSUMS_FILE && !listed.contains(*path)) {
        return Err(corrupt(format!("`{unlisted}` is not listed in {CHECKSUMS_FILE}")));
    }
    let meta_text =
        std::fs::read(destination.join(META_FILE)).map_err(|_| corrupt(format!("it has no {META_FILE}")))?;
    let meta: PackageMeta =
        serde_json::from_slice(&meta_text).map_err(|error| corrupt(format!("{META_FILE}: {error}")))?;
    if meta.format != FORMAT {
        return Err(corrupt(format!("package format {} (this tusk reads format {FORMAT})", meta.format)));
    }
    crate::check_name(&meta.name)?;
    if !written.contains_key(&meta.library) {
        return Err(corrupt(format!("the library `{}` named in {META_FILE} is missing", meta.library)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let library = destination.join(&meta.library);
        std::fs::set_permissions(&library, std::fs::Permissions::from_mode(0o755))
            .map_err(|error| RegistryError::io(format!("cannot set the mode of {}", library.display()), error))?;
    }
    Ok(meta)
}

/// Packs the plugin folder `dir` (a validated `plugin.toml` and its library, as `tusk plugin
/// install` leaves it): the manifest, the library, the configuration schema, and the README and
/// licence files at the top. `check` reads the library's ABI and target.
pub fn pack_folder(
    dir: &Path,
    check: &dyn crate::install::LibraryCheck,
) -> Result<(PackageMeta, Vec<u8>), RegistryError> {
    let mut sources = tusk_diagnostics::SourceMap::new();
    let manifest =
        tusk_plugin_catalog::load_manifest(dir, &mut sources).map_err(|diagnostics| RegistryError::CorruptPackage {
            file: dir.join(tusk_plugin_catalog::MANIFEST_FILE).display().to_string(),
            message: diagnostics.iter().map(|diagnostic| diagnostic.message.as_str()).collect::<Vec<_>>().join("; "),
        })?;
    let facts = check
        .facts(&manifest.library)
        .map_err(|message| RegistryError::CorruptPackage { file: manifest.library.display().to_string(), message })?;
    let relative = |path: &Path| -> Result<String, RegistryError> {
        let inside = path.strip_prefix(&manifest.dir).map_err(|_| RegistryError::CorruptPackage {
            file: path.display().to_string(),
            message: format!("it is outside the plugin folder {}", manifest.dir.display()),
        })?;
        Ok(inside.components().map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
    };
    let library = relative(&manifest.library)?;
    let mut files = vec![
        (tusk_plugin_catalog::MANIFEST_FILE.to_string(), manifest.manifest_path()),
        (library.clone(), manifest.library.clone()),
    ];
    if let Some(schema) = &manifest.config_schema {
        files.push((relative(schema)?, schema.clone()));
    }
    let entries = std::fs::read_dir(&manifest.dir)
        .map_err(|error| RegistryError::io(format!("cannot read {}", manifest.dir.display()), error))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let upper = name.to_ascii_uppercase();
        let documentation = upper.starts_with("README") || upper.starts_with("LICENSE") || upper.starts_with("LICENCE");
        if documentation && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            files.push((name, entry.path()));
        }
    }
    let (tusk, dependencies) = split_dependencies(&manifest.dependencies);
    let meta = PackageMeta {
        format: FORMAT,
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        target: facts.target,
        abi: format!("{}.{}", facts.abi.0, facts.abi.1),
        tusk,
        dependencies,
        description: manifest.description.clone(),
        library,
        permissions: serde_json::to_value(&manifest.permissions).unwrap_or_default(),
    };
    let archive = pack(&meta, &files)?;
    Ok((meta, archive))
}

/// A manifest's requirements split into the one on tusk and those on other plugins (the
/// built-in `core` and `std` sets are released with tusk, so the tusk requirement covers them).
fn split_dependencies(
    dependencies: &[(String, semver::VersionReq)],
) -> (Option<semver::VersionReq>, BTreeMap<String, semver::VersionReq>) {
    let mut tusk = None;
    let mut plugins = BTreeMap::new();
    for (name, requirement) in dependencies {
        match name.as_str() {
            "tusk" => tusk = Some(requirement.clone()),
            "core" | "std" => {}
            _ => {
                plugins.insert(name.clone(), requirement.clone());
            }
        }
    }
    (tusk, plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_stay_inside() {
        assert!(check_entry_path("plugin.toml").is_ok());
        assert!(check_entry_path("schema/config.json").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "a\\b"] {
            assert!(check_entry_path(bad).is_err(), "{bad}");
        }
    }
}
