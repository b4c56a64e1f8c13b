//! `tusk plugin new NAME [PATH]`: a plugin crate that builds, checks, installs and passes its
//! test as created: `Cargo.toml` (a `cdylib` + `rlib` depending on `tusk-plugin-sdk`),
//! `plugin.toml`, `src/lib.rs` with one operator and one function, `tests/plugin.rs` using
//! `tusk-plugin-testkit`, a README and a `.gitignore`.
//!
//! The SDK is not on crates.io yet, so the crate depends on it by path (with a comment on the
//! registry version that replaces it once published). The path is, in order: `TUSK_SDK_PATH`
//! (the `tusk-plugin-sdk` crate's folder), else the copy installed with this `tusk`
//! (`<prefix>/share/tusk/crates/plugin-sdk` for `<prefix>/bin/tusk`), else `crates/plugin-sdk`
//! of the source tree this `tusk` was built from, when it is still there. The test kit is the
//! SDK's sibling folder `plugin-testkit`. Without either, the dependencies are git
//! placeholders the user edits (the command says so). The `Cargo.lock` beside the SDK's
//! workspace (the installed copy's or the source tree's) is copied too, so the plugin builds
//! with the versions tusk was tested with and without resolving them afresh.
//!
//! A name whose operator another plugin already provides (`tusk plugin new log`, while the
//! bundled `logging` plugin provides `@log`) is created, with a warning at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tusk::{SourceMap, SymbolKind};
use tusk_plugin_abi::{ABI_MAJOR, ABI_MINOR};
use tusk_plugin_catalog::{SearchPath, discover};

use crate::cli::PluginNewArgs;
use crate::commands::plugin::{fail, is_plugin_name, origin_name};
use crate::commands::{Status, absolute};
use crate::output;

const CARGO_TOML: &str = include_str!("../../../templates/plugin/Cargo.toml.in");
const PLUGIN_TOML: &str = include_str!("../../../templates/plugin/plugin.toml.in");
const LIB_RS: &str = include_str!("../../../templates/plugin/lib.rs.in");
const TEST_RS: &str = include_str!("../../../templates/plugin/test.rs.in");
const README_MD: &str = include_str!("../../../templates/plugin/README.md.in");
const GITIGNORE: &str = include_str!("../../../templates/plugin/gitignore.in");

/// The SDK's version requirement once it is published: the SDK is versioned with tusk.
const SDK_VERSION: &str = concat!(env!("CARGO_PKG_VERSION_MAJOR"), ".", env!("CARGO_PKG_VERSION_MINOR"));

/// A placeholder for dependencies tusk cannot find on this machine.
const PLACEHOLDER_REPOSITORY: &str = "https://example.invalid/tusklang-rust";

/// Runs the command: exit 1 for a bad name or a folder that is not empty.
pub fn new(args: &PluginNewArgs) -> anyhow::Result<Status> {
    let name = args.name.as_str();
    if !is_plugin_name(name) {
        return Ok(fail(&format!(
            "invalid plugin name `{name}`: plugin names are lowercase letters, digits and `_`, starting with a letter, like `my_plugin`"
        )));
    }
    if let Some(warning) = operator_taken(name) {
        output::write_stderr(&format!("warning: {warning}\n"));
    }
    let target = args.path.clone().unwrap_or_else(|| PathBuf::from(name));
    if target.exists() && std::fs::read_dir(&target).map_or(true, |mut entries| entries.next().is_some()) {
        return Ok(fail(&format!("{} already exists and is not empty", target.display())));
    }
    let sdk = match locate_sdk() {
        Ok(sdk) => sdk,
        Err(message) => return Ok(fail(&message)),
    };
    let (sdk_dependency, testkit_dependency, sdk_note) = match &sdk {
        Some(sdk) => {
            let testkit = sdk.parent().map(|parent| parent.join("plugin-testkit")).filter(|dir| dir.is_dir());
            let testkit_dependency = match &testkit {
                Some(testkit) => format!("tusk-plugin-testkit = {{ path = {} }}", toml_string(testkit)),
                None => format!(
                    "# EDIT: the path of tusk-plugin-testkit (beside tusk-plugin-sdk in the tusk sources).\ntusk-plugin-testkit = {{ git = \"{PLACEHOLDER_REPOSITORY}\" }}"
                ),
            };
            (
                format!(
                    "# tusk-plugin-sdk is not on crates.io yet: this is the copy that came with tusk. Once it is\n\
                     # published, replace the path with the version: tusk-plugin-sdk = \"{SDK_VERSION}\" (and the\n\
                     # same for tusk-plugin-testkit below).\ntusk-plugin-sdk = {{ path = {} }}",
                    toml_string(sdk)
                ),
                testkit_dependency,
                format!(
                    "`tusk-plugin-sdk` comes from {} (set `TUSK_SDK_PATH` to use another copy when creating a plugin).",
                    sdk.display()
                ),
            )
        }
        None => (
            format!(
                "# EDIT: tusk-plugin-sdk is not on crates.io; point this at your copy of the tusk sources,\n# e.g. `{{ path = \"/src/tusk/crates/plugin-sdk\" }}` (or set TUSK_SDK_PATH and run `tusk plugin new` again).\ntusk-plugin-sdk = {{ git = \"{PLACEHOLDER_REPOSITORY}\" }}"
            ),
            format!(
                "# EDIT: as for tusk-plugin-sdk (the crate beside it in the tusk sources).\ntusk-plugin-testkit = {{ git = \"{PLACEHOLDER_REPOSITORY}\" }}"
            ),
            "Edit the `tusk-plugin-sdk` and `tusk-plugin-testkit` dependencies in `Cargo.toml`: they are placeholders."
                .to_string(),
        ),
    };
    let values = [
        ("name", name.to_string()),
        ("type_name", type_name(name)),
        ("abi", format!("{ABI_MAJOR}.{ABI_MINOR}")),
        ("sdk_dependency", sdk_dependency),
        ("testkit_dependency", testkit_dependency),
        ("sdk_note", sdk_note),
    ];
    let files = [
        ("Cargo.toml", CARGO_TOML),
        ("plugin.toml", PLUGIN_TOML),
        ("src/lib.rs", LIB_RS),
        ("tests/plugin.rs", TEST_RS),
        ("README.md", README_MD),
        (".gitignore", GITIGNORE),
    ];
    for (file, template) in files {
        let path = target.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, fill(template, &values))?;
    }
    let lock = sdk.as_deref().and_then(|sdk| sdk.parent()?.parent().map(|root| root.join("Cargo.lock")));
    if let Some(lock) = lock.filter(|lock| lock.is_file()) {
        // Cargo prunes what the plugin does not use on its first build.
        let _ = std::fs::copy(lock, target.join("Cargo.lock"));
    }
    let shown = target.display();
    // As a path (`./x`): to `tusk plugin check`, a bare word names an installed plugin.
    let path = if target.is_relative() && !target.starts_with(".") {
        Path::new(".").join(&target).display().to_string()
    } else {
        shown.to_string()
    };
    let mut text = format!(
        "created the plugin crate {name} in {shown}: @{name}(name) and {name}_shout(text)\n\
         next:\n  \
           tusk plugin check {path}      build it and check it\n  \
           tusk plugin install {path}    install it for your scripts\n  \
           tusk -e '@{name}(\"you\")'\n"
    );
    if sdk.is_none() {
        text.push_str(&format!(
            "note: tusk did not find tusk-plugin-sdk on this machine: edit the dependencies in {}\n",
            target.join("Cargo.toml").display()
        ));
    }
    output::write_stdout(&text)?;
    Ok(Status::Success)
}

/// The SDK crate's folder: `TUSK_SDK_PATH`, else the copy installed with this `tusk`, else the
/// source tree tusk was built from; `None` when none exists.
fn locate_sdk() -> Result<Option<PathBuf>, String> {
    if let Some(path) = std::env::var_os("TUSK_SDK_PATH").filter(|path| !path.is_empty()) {
        let path = absolute(Path::new(&path));
        if !path.join("Cargo.toml").is_file() {
            return Err(format!(
                "TUSK_SDK_PATH is {}, which has no Cargo.toml: it must be the folder of the tusk-plugin-sdk crate",
                path.display()
            ));
        }
        return Ok(Some(path.canonicalize().unwrap_or(path)));
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/tusk/crates/plugin-sdk")))
        .filter(|sdk| sdk.join("Cargo.toml").is_file());
    if let Some(installed) = installed {
        return Ok(Some(installed.canonicalize().unwrap_or(installed)));
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
    Ok(built_from.join("Cargo.toml").is_file().then(|| built_from.canonicalize().unwrap_or(built_from)))
}

/// A warning when a plugin scripts in the working directory would see already provides
/// `@name` (for example the bundled `logging` plugin's `@log`): the new plugin's operator
/// would conflict with it.
fn operator_taken(name: &str) -> Option<String> {
    let search = SearchPath::standard(Some(&absolute(Path::new("."))));
    let catalog = discover(&search, None, &HashMap::new(), &mut SourceMap::new());
    let plugin = catalog.providers(SymbolKind::Operator, name).into_iter().next()?;
    Some(format!(
        "`@{name}` is taken: the {} plugin `{}` in {} provides it; scripts would have two providers of `@{name}` \
         (an error until one is chosen under [plugin_preferences]), so consider another name",
        origin_name(plugin.origin),
        plugin.name(),
        plugin.manifest().dir.display()
    ))
}

/// `my_plugin` → `MyPlugin`.
fn type_name(name: &str) -> String {
    let mut camel: String = name
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    camel.push_str("Plugin");
    camel
}

/// A path as a TOML string (quoted and escaped).
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// Replaces every `{{key}}` of `template`.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_string();
    for (key, value) in values {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("greeter"), "GreeterPlugin");
        assert_eq!(type_name("my_plugin2"), "MyPlugin2Plugin");
    }

    #[test]
    fn templates_leave_no_placeholder() {
        let values = [
            ("name", "x".to_string()),
            ("type_name", "XPlugin".to_string()),
            ("abi", "1.0".to_string()),
            ("sdk_dependency", String::new()),
            ("testkit_dependency", String::new()),
            ("sdk_note", String::new()),
        ];
        for template in [CARGO_TOML, PLUGIN_TOML, LIB_RS, TEST_RS, README_MD, GITIGNORE] {
            assert!(!fill(template, &values).contains("{{"), "{template}");
        }
    }
}
