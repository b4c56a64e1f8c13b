//! Where built files go: the build tree's bundled plugin folder, an installation prefix, and
//! the release archive (an installation prefix in a tarball).
//!
//! A standard plugin is laid out as a plugin folder like any other (`plugin.toml`, the library,
//! its configuration schema and README): the `tusk` next to it finds it as a bundled plugin
//! without anything built into the executable, and `tusk plugin info` shows its files.

use std::path::{Path, PathBuf};

use crate::workspace::{Built, Workspace};
use crate::{copy_file, copy_tree, licences};

/// Lays the standard plugins out beside the built `tusk`: `<target>/<profile>/plugins/NAME/`.
/// Folders of plugins not built this time (the ML plugins after a build without `--ml`) stay.
pub fn build_tree(built: &Built) -> Result<PathBuf, String> {
    let folder = built.tusk.parent().ok_or("tusk has no folder")?.join("plugins");
    for (crate_dir, library) in &built.plugins {
        plugin_folder(crate_dir, library, &folder)?;
    }
    Ok(folder)
}

/// Installs into `prefix`: `bin/`, `lib/tusk/plugins/`, `share/tusk/` and `share/doc/tusk/`.
pub fn install(workspace: &Workspace, built: &Built, prefix: &Path) -> Result<(), String> {
    let bin = prefix.join("bin");
    copy_file(&built.tusk, &bin.join(file_name(&built.tusk)?))?;
    copy_file(&built.runner, &bin.join(file_name(&built.runner)?))?;
    // The plugins of an earlier installation go: this folder is tusk's own.
    let plugins = prefix.join("lib").join("tusk").join("plugins");
    remove_dir(&plugins)?;
    for (crate_dir, library) in &built.plugins {
        plugin_folder(crate_dir, library, &plugins)?;
    }
    let share = prefix.join("share").join("tusk");
    remove_dir(&share)?;
    share_sources(workspace, &share)?;
    let doc = prefix.join("share").join("doc").join("tusk");
    copy_file(&workspace.root.join("README.md"), &doc.join("README.md"))?;
    copy_file(&workspace.root.join("LICENSE"), &doc.join("LICENSE"))?;
    let mut shipped: Vec<&str> = vec!["tusk-cli", "tusk-plugin-runner"];
    let plugin_packages: Vec<String> = built
        .plugins
        .iter()
        .filter_map(|(dir, _)| workspace.packages.values().find(|package| &package.dir == dir))
        .map(|package| package.name.clone())
        .collect();
    shipped.extend(plugin_packages.iter().map(String::as_str));
    licences::write(workspace, &shipped, &doc.join("THIRD-PARTY-LICENSES.md"))
}

/// Builds `out_dir/tusk-VERSION-TARGET.tar.gz`, whose one folder `tusk-VERSION-TARGET/` is an
/// installation prefix (with the licences and README also at its top).
pub fn dist(workspace: &Workspace, built: &Built, out_dir: &Path) -> Result<PathBuf, String> {
    let name = format!("tusk-{}-{}", workspace.version, workspace.host);
    let staging = out_dir.join(format!(".{name}.staging"));
    remove_dir(&staging)?;
    let top = staging.join(&name);
    install(workspace, built, &top)?;
    for file in ["README.md", "LICENSE"] {
        copy_file(&workspace.root.join(file), &top.join(file))?;
    }
    copy_file(&top.join("share/doc/tusk/THIRD-PARTY-LICENSES.md"), &top.join("THIRD-PARTY-LICENSES.md"))?;
    let archive = out_dir.join(format!("{name}.tar.gz"));
    let partial = out_dir.join(format!(".{name}.tar.gz.partial"));
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&staging)
        .arg("-czf")
        .arg(&partial)
        .arg(&name)
        .status()
        .map_err(|error| format!("cannot run tar: {error}"))?;
    if !status.success() {
        return Err(format!("tar failed to write {}", partial.display()));
    }
    std::fs::rename(&partial, &archive).map_err(|error| format!("cannot write {}: {error}", archive.display()))?;
    remove_dir(&staging)?;
    Ok(archive)
}

/// `into/NAME/`: the plugin's `plugin.toml`, library, JSON files (its configuration schema) and
/// Markdown files (its README), the way `tusk plugin install` lays a plugin out.
fn plugin_folder(crate_dir: &Path, library: &Path, into: &Path) -> Result<(), String> {
    let manifest_path = crate_dir.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|error| format!("cannot read {}: {error}", manifest_path.display()))?;
    let manifest: toml::Table = text.parse().map_err(|error| format!("{}: {error}", manifest_path.display()))?;
    let plugin = manifest.get("plugin").and_then(toml::Value::as_table);
    let name = plugin
        .and_then(|plugin| plugin.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("{} has no [plugin] name", manifest_path.display()))?;
    let library_name = match plugin.and_then(|plugin| plugin.get("library")).and_then(toml::Value::as_str) {
        Some(library_name) => library_name.to_string(),
        None => file_name(library)?,
    };
    let folder = into.join(name);
    remove_dir(&folder)?;
    let entries =
        std::fs::read_dir(crate_dir).map_err(|error| format!("cannot read {}: {error}", crate_dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let wanted = path.file_name().is_some_and(|file| file == "plugin.toml")
            || path.extension().is_some_and(|extension| extension == "json" || extension == "md");
        if wanted && path.is_file() {
            copy_file(&path, &folder.join(entry.file_name()))?;
        }
    }
    copy_file(library, &folder.join(library_name))
}

/// The sources a plugin author's crate builds against: the SDK and the test kit with every
/// crate of this workspace they depend on, under a workspace manifest of their own (they
/// inherit versions, lints and dependency versions from it) and this workspace's `Cargo.lock`
/// (`tusk plugin new` copies it, so a new plugin builds with the versions tusk was tested with).
fn share_sources(workspace: &Workspace, share: &Path) -> Result<(), String> {
    let crates: Vec<PathBuf> = workspace
        .closure(&["tusk-plugin-sdk", "tusk-plugin-testkit"])
        .into_iter()
        .filter(|package| package.source.is_none())
        .filter_map(|package| package.dir.strip_prefix(&workspace.root).ok().map(Path::to_path_buf))
        .collect();
    for relative in &crates {
        copy_tree(&workspace.root.join(relative), &share.join(relative))?;
    }
    let root_manifest = workspace.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&root_manifest)
        .map_err(|error| format!("cannot read {}: {error}", root_manifest.display()))?;
    let mut manifest: toml::Table = text.parse().map_err(|error| format!("{}: {error}", root_manifest.display()))?;
    let members: Vec<String> = crates.iter().map(|relative| relative.to_string_lossy().into_owned()).collect();
    if let Some(toml::Value::Table(section)) = manifest.get_mut("workspace") {
        section.insert("members".into(), toml::Value::Array(members.iter().cloned().map(toml::Value::from).collect()));
        section.remove("exclude");
        section.remove("default-members");
        // `[workspace.dependencies]` stays whole: the shipped crates' dev-dependencies inherit
        // from it (cargo reads them with the manifest), and entries on crates that are not
        // shipped are never loaded, since nothing builds those crates' tests here.
    }
    let body = toml::to_string(&manifest).map_err(|error| format!("cannot write the shipped Cargo.toml: {error}"))?;
    let header = "# The TuskLang plugin SDK and test kit with the tusk crates they depend on, installed with\n\
                  # tusk for `tusk plugin new` (generated by `cargo xtask install` / `cargo xtask dist`).\n\n";
    write(&share.join("Cargo.toml"), &format!("{header}{body}"))?;
    copy_file(&workspace.root.join("Cargo.lock"), &share.join("Cargo.lock"))
}

pub(crate) fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

fn remove_dir(path: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {error}", path.display()))
        }
        _ => Ok(()),
    }
}

fn file_name(path: &Path) -> Result<String, String> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} has no file name", path.display()))
}
