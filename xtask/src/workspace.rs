//! What cargo knows about the workspace (`cargo metadata`) and building what tusk ships.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::HEAVY_PLUGINS;

/// The cargo profile to build in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `--release`: what users get.
    Release,
    /// The `dev` profile: quicker to build (the tests' archives).
    Dev,
}

/// A package of the workspace's dependency graph.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Its folder (where its `Cargo.toml` is).
    pub dir: PathBuf,
    /// `None` for the workspace's own (path) packages.
    pub source: Option<String>,
    pub license: Option<String>,
}

/// The workspace as `cargo metadata` describes it.
pub struct Workspace {
    pub root: PathBuf,
    /// Where cargo builds (honours `CARGO_TARGET_DIR` and cargo's configuration).
    pub target_dir: PathBuf,
    /// The version of `tusk`.
    pub version: String,
    /// The host target triple (the archive's name says which machines it runs on).
    pub host: String,
    pub packages: BTreeMap<String, Package>,
    /// Normal (not dev, not build) dependencies of each package id, as package ids.
    dependencies: BTreeMap<String, Vec<String>>,
    /// Package id to name.
    names: BTreeMap<String, String>,
}

/// What one build made.
pub struct Built {
    pub tusk: PathBuf,
    pub runner: PathBuf,
    /// Each standard plugin: its crate folder (with `plugin.toml`) and its library.
    pub plugins: Vec<(PathBuf, PathBuf)>,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

impl Workspace {
    /// Reads the workspace this crate belongs to.
    pub fn load() -> Result<Workspace, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask has no parent folder")?.to_path_buf();
        let rustc = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .arg("-vV")
            .output()
            .map_err(|error| format!("cannot run rustc -vV: {error}"))?;
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
            .ok_or("rustc -vV names no host")?;
        // Only the dependencies of this machine's target: the licences of what is shipped.
        let output = cargo()
            .current_dir(&root)
            .args(["metadata", "--format-version", "1", "--filter-platform", &host])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
        if !output.status.success() {
            return Err("cargo metadata failed (its errors are above)".to_string());
        }
        let metadata: Value =
            serde_json::from_slice(&output.stdout).map_err(|error| format!("cargo metadata: {error}"))?;
        let mut packages = BTreeMap::new();
        let mut names = BTreeMap::new();
        for package in metadata["packages"].as_array().into_iter().flatten() {
            let text = |key: &str| package[key].as_str().map(str::to_string);
            let (Some(id), Some(name), Some(version), Some(manifest)) =
                (text("id"), text("name"), text("version"), text("manifest_path"))
            else {
                continue;
            };
            let dir = Path::new(&manifest).parent().map(Path::to_path_buf).unwrap_or_default();
            names.insert(id.clone(), name.clone());
            packages.insert(id, Package { name, version, dir, source: text("source"), license: text("license") });
        }
        let mut dependencies = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().into_iter().flatten() {
            let Some(id) = node["id"].as_str() else { continue };
            let normal = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| dep["dep_kinds"].as_array().into_iter().flatten().any(|kind| kind["kind"].is_null()))
                .filter_map(|dep| dep["pkg"].as_str().map(str::to_string))
                .collect();
            dependencies.insert(id.to_string(), normal);
        }
        let version = packages
            .values()
            .find(|package| package.name == "tusk-cli" && package.source.is_none())
            .map(|package| package.version.clone())
            .ok_or("the workspace has no tusk-cli package")?;
        let target_dir = metadata["target_directory"].as_str().map(PathBuf::from).ok_or("no target_directory")?;
        Ok(Workspace { root, target_dir, version, host, packages, dependencies, names })
    }

    /// The standard plugins: the folders of `stdlib-plugins/` with a `plugin.toml`, by plugin
    /// folder name, with their package names.
    pub fn standard_plugins(&self, ml: bool) -> Vec<(String, &Package)> {
        let stdlib = self.root.join("stdlib-plugins");
        let mut plugins: Vec<(String, &Package)> = self
            .packages
            .values()
            .filter(|package| package.source.is_none() && package.dir.parent() == Some(stdlib.as_path()))
            .filter(|package| package.dir.join("plugin.toml").is_file())
            .filter_map(|package| {
                let folder = package.dir.file_name()?.to_string_lossy().into_owned();
                (ml || !HEAVY_PLUGINS.contains(&folder.as_str())).then_some((folder, package))
            })
            .collect();
        plugins.sort_by(|a, b| a.0.cmp(&b.0));
        plugins
    }

    /// Builds tusk, the runner and the standard plugins in one cargo run.
    pub fn build(&self, profile: Profile, ml: bool) -> Result<Built, String> {
        let plugins = self.standard_plugins(ml);
        let mut command = cargo();
        command.current_dir(&self.root).args(["build", "--message-format=json-render-diagnostics"]);
        if profile == Profile::Release {
            command.arg("--release");
        }
        command.args(["-p", "tusk-cli", "-p", "tusk-plugin-runner"]);
        for (_, package) in &plugins {
            command.args(["-p", &package.name]);
        }
        let output =
            command.stderr(Stdio::inherit()).output().map_err(|error| format!("cannot run cargo build: {error}"))?;
        if !output.status.success() {
            return Err("cargo build failed (its errors are above)".to_string());
        }
        let mut libraries: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        let mut executables: BTreeMap<String, PathBuf> = BTreeMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            let kinds = message["target"]["kind"].as_array().cloned().unwrap_or_default();
            if kinds.iter().any(|kind| kind == "cdylib")
                && let Some(manifest) = message["manifest_path"].as_str()
            {
                let extension = format!(".{}", std::env::consts::DLL_EXTENSION);
                let library = message["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .find(|file| file.ends_with(&extension));
                if let (Some(dir), Some(library)) = (Path::new(manifest).parent(), library) {
                    libraries.insert(dir.to_path_buf(), PathBuf::from(library));
                }
            }
            if kinds.iter().any(|kind| kind == "bin")
                && let (Some(name), Some(executable)) =
                    (message["target"]["name"].as_str(), message["executable"].as_str())
            {
                executables.insert(name.to_string(), PathBuf::from(executable));
            }
        }
        let executable =
            |name: &str| executables.get(name).cloned().ok_or_else(|| format!("cargo built no `{name}` executable"));
        let plugins = plugins
            .iter()
            .map(|(_, package)| {
                let library = libraries
                    .get(&package.dir)
                    .cloned()
                    .ok_or_else(|| format!("cargo built no library for {}", package.name))?;
                Ok((package.dir.clone(), library))
            })
            .collect::<Result<_, String>>()?;
        Ok(Built { tusk: executable("tusk")?, runner: executable("tusk-plugin-runner")?, plugins })
    }

    /// The packages `roots` (by name, the workspace's own) need to build, themselves included:
    /// their normal dependencies, transitively.
    pub fn closure(&self, roots: &[&str]) -> Vec<&Package> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = self
            .packages
            .iter()
            .filter(|(_, package)| package.source.is_none() && roots.contains(&package.name.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            stack.extend(self.dependencies.get(&id).into_iter().flatten().cloned());
        }
        seen.iter().filter(|id| self.names.contains_key(*id)).filter_map(|id| self.packages.get(id)).collect()
    }
}
