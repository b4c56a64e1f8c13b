//! Building a plugin crate's library with cargo.
//!
//! The test kit's fixture builder (`tusk_plugin_testkit::build_packages`) reads cargo's messages
//! the same way; this copy (with a profile and quieter output) exists rather than a dependency
//! on the test kit, a dev-dependency crate: the `tusk` binary should not link a test harness for
//! forty lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::output;

/// The cargo profile a plugin is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build`: quick to build; what `tusk plugin check` uses.
    Debug,
    /// `cargo build --release`: what `tusk plugin install` uses, since installed plugins run
    /// in real scripts.
    Release,
}

impl Profile {
    /// How the profile is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Builds the `cdylib` of the crate at `package_dir` and returns the library's path. Cargo's
/// progress lines are dropped; its warnings and errors are shown.
pub fn build_cdylib(package_dir: &Path, name: &str, profile: Profile) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    command.arg("--manifest-path").arg(package_dir.join("Cargo.toml"));
    let release = if profile == Profile::Release { " --release" } else { "" };
    output::write_stderr(&format!("building {name}: cargo build{release} in {}\n", package_dir.display()));
    let output = command.stdin(Stdio::null()).output().map_err(|error| {
        format!("cannot run {}: {error} (is Rust installed? see https://rustup.rs)", cargo.to_string_lossy())
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        output::write_stderr(&stderr);
        return Err(format!("building the plugin at {} failed", package_dir.display()));
    }
    let messages: String = stderr.lines().filter(|line| !is_progress(line)).map(|line| format!("{line}\n")).collect();
    if !messages.trim().is_empty() {
        output::write_stderr(&messages);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let extension = std::env::consts::DLL_EXTENSION;
    for line in stdout.lines().rev() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact"
            || !message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"))
        {
            continue;
        }
        let manifest = message["manifest_path"].as_str().map(Path::new);
        if manifest.and_then(Path::parent).map(canonical) != Some(canonical(package_dir)) {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            for file in files.iter().filter_map(|file| file.as_str()) {
                if file.ends_with(&format!(".{extension}")) {
                    return Ok(PathBuf::from(file));
                }
            }
        }
    }
    Err(format!(
        "cargo built no library for {} (its Cargo.toml needs `crate-type = [\"cdylib\", \"rlib\"]` under [lib])",
        package_dir.display()
    ))
}

/// Cargo's status lines (`   Compiling x v1`, `    Finished …`): noise once the build worked.
fn is_progress(line: &str) -> bool {
    const WORDS: [&str; 10] = [
        "Compiling",
        "Finished",
        "Blocking",
        "Locking",
        "Adding",
        "Updating",
        "Downloading",
        "Downloaded",
        "Fresh",
        "Checking",
    ];
    let trimmed = line.trim_start();
    trimmed.is_empty() || WORDS.iter().any(|word| trimmed.strip_prefix(word).is_some_and(|rest| rest.starts_with(' ')))
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
