//! Building plugin libraries (and the sandbox runner) with cargo, from tests and benchmarks.
//!
//! Every package is built at most once per process, and the packages one call asks for are
//! built by a single cargo run: separate runs would each resolve the workspace again and wait
//! for each other on cargo's build lock. The build goes to the target folder of the running
//! test (where cargo put its executable, which honours `CARGO_TARGET_DIR`), never into the
//! source tree, and nothing is ever removed from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The cargo profile to build in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// `dev`: quick to build, what tests load.
    Debug,
    /// `release`: what a released plugin is, for benchmarks.
    Release,
}

impl Profile {
    /// The profile this code was built in: tests get debug plugins, benchmarks optimised ones.
    pub fn of_this_build() -> Profile {
        if cfg!(debug_assertions) { Profile::Debug } else { Profile::Release }
    }
}

/// What cargo built for one package.
#[derive(Clone, Debug, Default)]
struct Artifacts {
    /// The `cdylib`, if the package has one.
    library: Option<PathBuf>,
    /// Executables by target name.
    binaries: BTreeMap<String, PathBuf>,
}

/// The built packages of one [`build_packages`] call.
#[derive(Clone, Debug)]
pub struct Built {
    packages: BTreeMap<String, Artifacts>,
}

impl Built {
    /// The shared library of `package`. Panics when the package was not asked for or has no
    /// `cdylib` target: a test cannot go on without it.
    pub fn library(&self, package: &str) -> &Path {
        self.artifacts(package)
            .library
            .as_deref()
            .unwrap_or_else(|| panic!("`{package}` built no library (is its crate-type \"cdylib\"?)"))
    }

    /// The executable `name` of `package`. Panics as [`Built::library`] does.
    pub fn binary(&self, package: &str, name: &str) -> &Path {
        self.artifacts(package).binaries.get(name).unwrap_or_else(|| panic!("`{package}` built no executable `{name}`"))
    }

    fn artifacts(&self, package: &str) -> &Artifacts {
        self.packages.get(package).unwrap_or_else(|| panic!("`{package}` was not among the packages built"))
    }
}

/// Packages built by this process, by profile and name.
static BUILT: Mutex<BTreeMap<(Profile, String), Artifacts>> = Mutex::new(BTreeMap::new());

/// Builds the packages named `packages` (their library and executables) of the workspace
/// `dir` belongs to, in `profile`: those this process has not built yet, in one cargo run.
/// Concurrent callers wait for each other. Errors are cargo's, on standard error, and a
/// summary returned.
pub fn build_packages(dir: &Path, packages: &[&str], profile: Profile) -> Result<Built, String> {
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let missing: Vec<&str> =
        packages.iter().copied().filter(|package| !built.contains_key(&(profile, package.to_string()))).collect();
    if !missing.is_empty() {
        for (package, artifacts) in cargo_build(dir, &missing, profile)? {
            built.insert((profile, package), artifacts);
        }
    }
    let packages = packages
        .iter()
        .map(|package| {
            let artifacts = built.get(&(profile, package.to_string())).cloned();
            artifacts.map(|artifacts| (package.to_string(), artifacts)).ok_or_else(|| {
                format!("cargo built nothing for `{package}` (is it a package of the workspace at {}?)", dir.display())
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Built { packages })
}

/// The shared library of the plugin crate at `package_dir` (with its `Cargo.toml`), built
/// once per process in this build's profile.
pub fn build_plugin(package_dir: &Path) -> Result<PathBuf, String> {
    let package = package_name(&package_dir.join("Cargo.toml"))?;
    let built = build_packages(package_dir, &[&package], Profile::of_this_build())?;
    built.packages[&package]
        .library
        .clone()
        .ok_or_else(|| format!("cargo built no library for {} (is its crate-type \"cdylib\"?)", package_dir.display()))
}

/// The sandbox runner executable, the first of:
/// - `TUSK_PLUGIN_RUNNER`, when set;
/// - built (once per process) from the sources this test kit belongs to, when it is part of
///   the tusk source tree (the workspace's own tests);
/// - the runner of the `tusk` installation this test kit was installed with (`<prefix>/bin`,
///   for the copy under `<prefix>/share/tusk/crates/plugin-testkit` that `tusk plugin new`
///   points a plugin crate at);
/// - `tusk-plugin-runner` on `PATH`, or beside a `tusk` on `PATH`.
pub fn runner() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("TUSK_PLUGIN_RUNNER") {
        return Ok(PathBuf::from(path));
    }
    const RUNNER: &str = "tusk-plugin-runner";
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    if kit.join("../plugin-runner/Cargo.toml").is_file() {
        let built = build_packages(kit, &[RUNNER], Profile::of_this_build())?;
        return Ok(built.binary(RUNNER, RUNNER).to_path_buf());
    }
    let runner_name = format!("{RUNNER}{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Some(prefix) = kit.ancestors().nth(4) {
        candidates.push(prefix.join("bin").join(&runner_name));
    }
    for dir in std::env::var_os("PATH").map(|path| std::env::split_paths(&path).collect::<Vec<_>>()).unwrap_or_default()
    {
        candidates.push(dir.join(&runner_name));
        // A `tusk` on PATH may be a link to an installation elsewhere.
        if let Ok(tusk) = dir.join(format!("tusk{}", std::env::consts::EXE_SUFFIX)).canonicalize()
            && let Some(tusk_dir) = tusk.parent()
        {
            candidates.push(tusk_dir.join(&runner_name));
        }
    }
    if let Some(found) = candidates.iter().find(|candidate| candidate.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|candidate| candidate.display().to_string()).collect();
    Err(format!(
        "cannot find the plugin runner `{RUNNER}` of an installed tusk (looked at {}); put tusk's `bin` folder on PATH or set TUSK_PLUGIN_RUNNER",
        looked.join(", ")
    ))
}

/// The target folder the running test or benchmark was built in: cargo puts executables in
/// `<target>/<profile>/deps` (or `<target>/<triple>/<profile>/deps`).
fn target_dir_of_this_process() -> Option<PathBuf> {
    let executable = std::env::current_exe().ok()?;
    let deps = executable.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.parent()?.to_path_buf())
}

fn cargo_build(dir: &Path, packages: &[&str], profile: Profile) -> Result<Vec<(String, Artifacts)>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.current_dir(dir).args(["build", "--message-format=json-render-diagnostics"]);
    for package in packages {
        command.args(["-p", package]);
    }
    if profile == Profile::Release {
        command.arg("--release");
    }
    // Without this, a package outside the test's workspace would build into its own.
    if let Some(target_dir) = target_dir_of_this_process() {
        command.arg("--target-dir").arg(target_dir);
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!("building {} in {} failed (cargo's errors are above)", packages.join(", "), dir.display()));
    }
    let mut built: BTreeMap<String, Artifacts> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(manifest) = message["manifest_path"].as_str() else { continue };
        let package = match names.get(manifest) {
            Some(name) => name.clone(),
            None => {
                let name = package_name(Path::new(manifest))?;
                names.insert(manifest.to_string(), name.clone());
                name
            }
        };
        if !packages.contains(&package.as_str()) {
            continue;
        }
        let kinds = message["target"]["kind"].as_array().cloned().unwrap_or_default();
        let artifacts = built.entry(package).or_default();
        if kinds.iter().any(|kind| kind == "cdylib") {
            let extension = format!(".{}", std::env::consts::DLL_EXTENSION);
            let files = message["filenames"].as_array().cloned().unwrap_or_default();
            artifacts.library = files
                .iter()
                .filter_map(|file| file.as_str())
                .find(|file| file.ends_with(&extension))
                .map(PathBuf::from);
        }
        if kinds.iter().any(|kind| kind == "bin")
            && let (Some(name), Some(executable)) = (message["target"]["name"].as_str(), message["executable"].as_str())
        {
            artifacts.binaries.insert(name.to_string(), PathBuf::from(executable));
        }
    }
    Ok(built.into_iter().collect())
}

/// The `[package] name` of a `Cargo.toml`.
fn package_name(manifest: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let table: toml::Table = text.parse().map_err(|error| format!("{}: {error}", manifest.display()))?;
    table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(|name| name.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{} has no [package] name", manifest.display()))
}
