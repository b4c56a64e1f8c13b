//! Building a plugin crate's library with cargo, from a test.

use std::path::{Path, PathBuf};

/// Builds the `cdylib` of the crate at `package_dir` (in the profile this code was built with:
/// benchmarks get an optimized plugin, tests a debug one) and returns the library's path.
pub fn build_cdylib(package_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "--lib", "--message-format=json-render-diagnostics", "--manifest-path"]);
    command.arg(package_dir.join("Cargo.toml"));
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!("building the plugin at {} failed", package_dir.display()));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let extension = std::env::consts::DLL_EXTENSION;
    for line in stdout.lines().rev() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact"
            || !message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        {
            continue;
        }
        let manifest = message["manifest_path"].as_str().map(Path::new);
        if manifest.and_then(Path::parent).map(canonical) != Some(canonical(package_dir)) {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            for file in files.iter().filter_map(|f| f.as_str()) {
                if file.ends_with(&format!(".{extension}")) {
                    return Ok(PathBuf::from(file));
                }
            }
        }
    }
    Err(format!("cargo built no library for {} (is its crate-type \"cdylib\"?)", package_dir.display()))
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
