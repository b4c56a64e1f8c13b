//! `cargo xtask …`: the workspace's build tasks, in Rust so that they run wherever cargo does.
//!
//! - `build [--debug] [--ml]`: builds `tusk`, `tusk-plugin-runner` and the standard plugins, and
//!   lays each plugin out as `<target>/<profile>/plugins/NAME/` (manifest, library, schema,
//!   README), the bundled plugin folder of the `tusk` beside it.
//! - `run [--debug] [--ml] [ARGS…]`: `build`, then runs that `tusk` with `ARGS`.
//! - `install --prefix DIR [--debug] [--no-ml]`: `DIR/bin/{tusk,tusk-plugin-runner}`,
//!   `DIR/lib/tusk/plugins/NAME/`, `DIR/share/tusk/` (the sources of the plugin SDK and test
//!   kit, for `tusk plugin new`) and `DIR/share/doc/tusk/` (README and licences).
//! - `dist [--out-dir DIR] [--debug] [--no-ml]`: the same tree in `tusk-VERSION-TARGET.tar.gz`.
//!
//! The ML plugins (`tensorflow`, `nlp`) compile the tract inference engine and the tokenizers
//! crate, several minutes of release build on a small machine: `build` and `run` leave them out
//! unless asked (`--ml`), `install` and `dist` include them unless asked not to (`--no-ml`).

mod layout;
mod licences;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::workspace::{Profile, Workspace};

/// The standard plugins that compile an ML engine (see the module documentation).
pub const HEAVY_PLUGINS: [&str; 2] = ["tensorflow", "nlp"];

const USAGE: &str = "usage:
  cargo xtask build [--debug] [--ml]                  tusk, its runner and the standard plugins, in the target folder
  cargo xtask run [--debug] [--ml] [-- ARGS...]       build, then run that tusk with ARGS
  cargo xtask install --prefix DIR [--debug] [--no-ml] install into DIR/bin, DIR/lib/tusk, DIR/share/tusk
  cargo xtask dist [--out-dir DIR] [--debug] [--no-ml] tusk-VERSION-TARGET.tar.gz (in the target folder by default)";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match run(&arguments) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The options every task understands.
struct Options {
    profile: Profile,
    ml: bool,
    prefix: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    rest: Vec<String>,
}

fn parse(task: &str, arguments: &[String]) -> Result<Options, String> {
    let mut options = Options {
        profile: Profile::Release,
        // `build` and `run` are the quick ones; `install` and `dist` make the whole product.
        ml: matches!(task, "install" | "dist"),
        prefix: None,
        out_dir: None,
        rest: Vec::new(),
    };
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--debug" => options.profile = Profile::Dev,
            "--ml" => options.ml = true,
            "--no-ml" => options.ml = false,
            "--prefix" | "--out-dir" => {
                let value = arguments.next().ok_or_else(|| format!("{argument} needs a folder\n{USAGE}"))?;
                let folder = std::path::absolute(value).map_err(|error| format!("{value}: {error}"))?;
                if argument == "--prefix" {
                    options.prefix = Some(folder);
                } else {
                    options.out_dir = Some(folder);
                }
            }
            "--" if task == "run" => options.rest.extend(arguments.by_ref().cloned()),
            other if task == "run" => options.rest.push(other.to_string()),
            other => return Err(format!("unknown argument `{other}` for `{task}`\n{USAGE}")),
        }
    }
    Ok(options)
}

fn run(arguments: &[String]) -> Result<ExitCode, String> {
    let Some((task, rest)) = arguments.split_first() else {
        return Err(USAGE.to_string());
    };
    let options = parse(task, rest)?;
    let workspace = Workspace::load()?;
    match task.as_str() {
        "build" => {
            let built = workspace.build(options.profile, options.ml)?;
            let folder = layout::build_tree(&built)?;
            eprintln!(
                "built {} with {} standard plugins in {}",
                built.tusk.display(),
                built.plugins.len(),
                folder.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            let built = workspace.build(options.profile, options.ml)?;
            layout::build_tree(&built)?;
            let status = std::process::Command::new(&built.tusk)
                .args(&options.rest)
                .status()
                .map_err(|error| format!("cannot run {}: {error}", built.tusk.display()))?;
            Ok(ExitCode::from(status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(1)))
        }
        "install" => {
            let prefix = options.prefix.ok_or_else(|| format!("install needs --prefix DIR\n{USAGE}"))?;
            let built = workspace.build(options.profile, options.ml)?;
            layout::install(&workspace, &built, &prefix)?;
            eprintln!(
                "installed tusk {} into {} (add {} to PATH)",
                workspace.version,
                prefix.display(),
                prefix.join("bin").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        "dist" => {
            let out_dir = options.out_dir.unwrap_or_else(|| workspace.target_dir.join("dist"));
            let built = workspace.build(options.profile, options.ml)?;
            let archive = layout::dist(&workspace, &built, &out_dir)?;
            println!("{}", archive.display());
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown task `{other}`\n{USAGE}")),
    }
}

/// Copies `from` into `to` (created), recursively, leaving out `target` folders (build output)
/// and hidden files. Symbolic links are copied as the files they point at.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|error| format!("cannot create {}: {error}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|error| format!("cannot read {}: {error}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|error| format!("cannot read {}: {error}", from.display()))?;
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            copy_file(&path, &to.join(&name))?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    // A file being replaced may be in use (a running tusk maps its plugins): write a new file
    // and rename it over the old one rather than writing into it.
    let mut temporary = to.as_os_str().to_os_string();
    temporary.push(".xtask-new");
    std::fs::copy(from, &temporary)
        .and_then(|_| std::fs::rename(&temporary, to))
        .map_err(|error| format!("cannot copy {} to {}: {error}", from.display(), to.display()))?;
    Ok(())
}
