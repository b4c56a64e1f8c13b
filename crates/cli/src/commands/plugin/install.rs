//! `tusk plugin install PATH` and `tusk plugin remove NAME`: the user's plugin folder
//! (`$XDG_DATA_HOME/tusk/plugins`, else `~/.local/share/tusk/plugins`).
//!
//! A crate is built with `cargo build --release` (`--debug` for the debug profile): installed
//! plugins run in real scripts, and a release build is what `cargo install` gives too. What is
//! installed is the plugin folder `tusk plugin check` loads: the manifest, the library under
//! the manifest's name, the configuration schema and the README and licence files, plus
//! `.tusk-install.toml` recording where it came from. Installing again from the same place
//! replaces the plugin's files inside its folder, as registry updates do (hot reload keeps
//! following it); a plugin of the same name from elsewhere, or one whose operators or
//! functions another plugin provides, is refused unless `--force` is given; one whose operators
//! or functions tusk itself provides is refused always (the built-in would win).

use std::path::{Path, PathBuf};

use tusk::SymbolKind;
use tusk_plugin_catalog::{DiscoveredPlugin, MANIFEST_FILE, Origin};
use tusk_plugin_registry::install::{Placed, RECORD_FILE, put_in_place};

use crate::cli::PluginInstallArgs;
use crate::commands::plugin::{
    Profile, fail, functions_text, installed, is_plugin_name, manifest_flags, operators_text, origin_name,
    permission_items, permissions_text, prepare, user_plugins_dir,
};
use crate::commands::{Context, Status};
use crate::output;

/// Runs `tusk plugin install`: exit 1 when the plugin is invalid, does not build, or conflicts.
pub fn install(context: &Context, args: &PluginInstallArgs, path: &Path) -> anyhow::Result<Status> {
    let Some(user_dir) = user_plugins_dir() else {
        return Ok(fail("cannot find the user's data folder: set HOME or XDG_DATA_HOME"));
    };
    let profile = if args.debug { Profile::Debug } else { Profile::Release };
    let mut plain = context.plain_engine();
    let Ok(prepared) = prepare(context, &mut plain, path, profile) else { return Ok(Status::ScriptError) };
    let manifest = &prepared.manifest;
    let destination = user_dir.join(&manifest.name);

    let (engine, _) = match installed(context) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let mut conflicts = Vec::new();
    // A built-in always wins over a plugin (scripts would never reach the plugin's symbol), so
    // these are refused even with --force.
    let mut builtins = Vec::new();
    if destination.join(MANIFEST_FILE).is_file() {
        match read_record(&destination) {
            Some(source) if source == prepared.source_dir => {}
            Some(source) => conflicts.push(format!(
                "plugin `{}` is already installed in {}, from {}",
                manifest.name,
                destination.display(),
                source.display()
            )),
            None => conflicts.push(format!(
                "plugin `{}` is already installed in {}, not by `tusk plugin install`",
                manifest.name,
                destination.display()
            )),
        }
    }
    let canonical_destination = destination.canonicalize().unwrap_or_else(|_| destination.clone());
    if let Some(host) = engine.plugins() {
        let catalog = host.catalog();
        if let Some(same) = catalog.plugin(&manifest.name) {
            let mut folders: Vec<(PathBuf, Option<Origin>)> = vec![(same.manifest().dir.clone(), Some(same.origin))];
            folders.extend(same.shadowed.iter().map(|dir| (dir.clone(), None)));
            for (dir, origin) in folders.into_iter().filter(|(dir, _)| *dir != canonical_destination) {
                let order = match origin {
                    Some(Origin::EnvPath | Origin::Project) => {
                        format!(
                            " ({}), which comes first on the search path and would hide this one",
                            origin_name(origin.unwrap_or(Origin::User))
                        )
                    }
                    Some(origin) => format!(" ({}), which this one would hide", origin_name(origin)),
                    None => String::new(),
                };
                conflicts.push(format!("plugin `{}` is also installed in {}{order}", manifest.name, dir.display()));
            }
        }
        let declared = manifest
            .operators
            .iter()
            .map(|name| (SymbolKind::Operator, name))
            .chain(manifest.functions.iter().map(|name| (SymbolKind::Function, name)));
        for (kind, symbol) in declared {
            let written = if kind == SymbolKind::Operator {
                format!("operator `@{symbol}`")
            } else {
                format!("function `{symbol}`")
            };
            let builtin = match kind {
                SymbolKind::Operator => plain.operator(symbol).is_some(),
                SymbolKind::Function => plain.function(symbol).is_some(),
            };
            if builtin {
                builtins.push(format!("{written} is built into tusk"));
            }
            for provider in catalog.providers(kind, symbol).into_iter().filter(|p| p.name() != manifest.name) {
                conflicts.push(format!(
                    "{written} is already provided by plugin `{}` in {}",
                    provider.name(),
                    describe(provider)
                ));
            }
        }
    }
    if !builtins.is_empty() {
        let list: String = builtins.iter().map(|conflict| format!("  - {conflict}\n")).collect();
        output::write_stderr(&format!(
            "Error: cannot install plugin `{}`:\n{list}Help: rename it in the plugin (its manifest and its code): \
             built-in operators and functions cannot be replaced, not even with --force\n",
            manifest.name
        ));
        return Ok(Status::ScriptError);
    }
    if !conflicts.is_empty() && !args.force {
        let list: String = conflicts.iter().map(|conflict| format!("  - {conflict}\n")).collect();
        output::write_stderr(&format!(
            "Error: cannot install plugin `{}`:\n{list}Help: remove the other plugin first (`tusk plugin remove NAME` for the user's plugins), or pass --force to install anyway (two plugins providing one operator then need a choice under [plugin_preferences] in ~/.config/tusk/config.toml)\n",
            manifest.name
        ));
        return Ok(Status::ScriptError);
    }

    if let Err(message) = copy_into_place(&manifest.dir, &user_dir, &destination, &prepared.source_dir, prepared.built)
    {
        return Ok(fail(&message));
    }
    let mut text = format!(
        "installed {} {} in {}\n  operators:   {}\n  functions:   {}\n  permissions: {}\n",
        manifest.name,
        manifest.version,
        destination.display(),
        operators_text(manifest),
        functions_text(manifest),
        permissions_text(&manifest.permissions)
    );
    if manifest.permissions.optional {
        text.push_str("  it runs without them and uses only what you grant of them\n");
    } else if !permission_items(&manifest.permissions).is_empty() {
        text.push_str(&format!(
            "  grant them with {} or under [{}] in ~/.config/tusk/grants.toml\n",
            manifest_flags(&manifest.permissions).join(" "),
            manifest.name
        ));
    }
    for conflict in conflicts {
        text.push_str(&format!("  warning: {conflict}\n"));
    }
    output::write_stdout(&text)?;
    Ok(Status::Success)
}

/// `FOLDER (origin)`.
fn describe(plugin: &DiscoveredPlugin) -> String {
    format!("{} ({})", plugin.manifest().dir.display(), origin_name(plugin.origin))
}

/// Copies the staged plugin folder next to its destination, records where it came from, and
/// puts it in place the way registry installs do ([`put_in_place`]): an installed plugin keeps
/// its folder (which hot reload watches) and gets the new files renamed over the old ones, so
/// that a script starting meanwhile sees the old plugin or the new one, and a failure puts the
/// old files back.
fn copy_into_place(
    staged: &Path,
    user_dir: &Path,
    destination: &Path,
    source: &Path,
    profile: Option<Profile>,
) -> Result<(), String> {
    let name = destination.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    // A dot folder: discovery skips it while it is being filled.
    let temporary = user_dir.join(format!(".{name}.installing-{}", std::process::id()));
    let result = (|| {
        copy_dir(staged, &temporary)?;
        let mut record = format!("source = {}\n", toml::Value::String(source.display().to_string()));
        if let Some(profile) = profile {
            record.push_str(&format!("profile = \"{}\"\n", profile.name()));
        }
        std::fs::write(temporary.join(RECORD_FILE), record)
            .map_err(|error| format!("cannot write {}: {error}", temporary.join(RECORD_FILE).display()))?;
        put_in_place(&temporary, destination).map(Placed::finish).map_err(|error| error.to_string())
    })();
    // Emptied or renamed into place when it worked.
    let _ = std::fs::remove_dir_all(&temporary);
    result
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|error| format!("cannot create {}: {error}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|error| format!("cannot read {}: {error}", from.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|error| format!("cannot copy {}: {error}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The source an installed plugin came from, if `tusk plugin install` put it there.
fn read_record(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    let table: toml::Table = text.parse().ok()?;
    table.get("source")?.as_str().map(PathBuf::from)
}

/// Runs `tusk plugin remove`: exit 1 when the user's plugin folder has no such plugin.
pub fn remove(context: &Context, name: &str) -> anyhow::Result<Status> {
    if !is_plugin_name(name) {
        return Ok(fail(&format!("invalid plugin name `{name}`")));
    }
    let Some(user_dir) = user_plugins_dir() else {
        return Ok(fail("cannot find the user's data folder: set HOME or XDG_DATA_HOME"));
    };
    let folder = user_dir.join(name);
    if !folder.join(MANIFEST_FILE).is_file() {
        let (engine, _) = match installed(context) {
            Ok(engine) => engine,
            Err(status) => return Ok(status),
        };
        let elsewhere = engine.plugins().and_then(|host| host.catalog().plugin(name).map(describe));
        return Ok(fail(&match elsewhere {
            Some(place) => format!(
                "plugin `{name}` is not in the user's plugin folder {}: it is in {place}, which `tusk plugin remove` leaves alone",
                user_dir.display()
            ),
            None => format!("no plugin named `{name}` is installed in {}", user_dir.display()),
        }));
    }
    std::fs::remove_dir_all(&folder).map_err(|error| anyhow::anyhow!("cannot remove {}: {error}", folder.display()))?;
    output::write_stdout(&format!("removed {name} from {}", folder.display()))?;
    Ok(Status::Success)
}
