//! `tusk plugin info NAME|PATH`: everything about one plugin: its manifest, where it was found,
//! its mode, what it asks for and whether the current grants cover it, its dependencies, and the
//! info record of its library, read from the file without loading it. NAME is an installed
//! plugin, PATH (with a `/`) a plugin folder or crate (a crate is built first). A plugin that
//! runs sandboxed is then started in its sandbox (with the current grants), since the layers
//! the kernel enforces are only known once a runner has applied them; an in-process plugin is
//! never loaded here.

use std::path::Path;

use tusk_plugin_catalog::{ExecutionMode, check as check_permissions};

use crate::commands::plugin::{
    Loading, Profile, Target, engine_for_prepared, fail, find, functions_text, info_summary, installed, list_or_dash,
    mode_text, operators_text, origin_name, permissions_text, prepare, target,
};
use crate::commands::{Context, Status, absolute};
use crate::output;

/// Runs the command: exit 1 when no such plugin is installed.
pub fn info(context: &Context, argument: &str) -> anyhow::Result<Status> {
    let mut _prepared = None;
    let (mut engine, name) = match target(argument) {
        Target::Installed(name) => match installed(context) {
            Ok((engine, _)) => (engine, name),
            Err(status) => return Ok(status),
        },
        Target::Folder(path) => {
            let mut plain = context.plain_engine();
            let Ok(prepared) = prepare(context, &mut plain, &path, Profile::Debug) else {
                return Ok(Status::ScriptError);
            };
            let name = prepared.manifest.name.clone();
            let engine = match engine_for_prepared(context, &prepared, Loading::AsScripts, |_| {}) {
                Ok((engine, _)) => engine,
                Err(status) => return Ok(status),
            };
            _prepared = Some(prepared);
            (engine, name)
        }
    };
    let grants = match context.grants(&absolute(Path::new(".")), &mut engine) {
        Ok(grants) => grants,
        Err(_) => return Ok(Status::UsageOrIo),
    };
    let Some(host) = engine.plugins() else { return Ok(fail("plugins are not available in this build")) };
    let plugin = match find(host.catalog(), &name) {
        Ok(plugin) => plugin,
        Err(message) => return Ok(fail(&message)),
    };
    let manifest = plugin.manifest();
    let mut text = String::new();
    let mut line = |label: &str, value: &str| text.push_str(&format!("{label:<13} {value}\n"));
    line("name:", &manifest.name);
    line("version:", &manifest.version.to_string());
    line("description:", &manifest.description);
    line("author:", &manifest.author);
    line("license:", &manifest.license);
    line("repository:", &manifest.repository);
    line("folder:", &format!("{} ({})", manifest.dir.display(), origin_name(plugin.origin)));
    line("manifest:", &manifest.manifest_path().display().to_string());
    line("library:", &manifest.library.display().to_string());
    // One ABI: the one the library was built for (its info record); the manifest's, when it
    // says something else, in brackets.
    let summary = info_summary(&manifest.library);
    let declared_abi = format!("{}.{}", manifest.abi.0, manifest.abi.1);
    let abi = match &summary {
        Ok(summary) if summary.abi != declared_abi => format!("{} (plugin.toml says {declared_abi})", summary.abi),
        Ok(summary) => summary.abi.clone(),
        Err(_) => format!("{declared_abi} (plugin.toml; the library is unreadable)"),
    };
    line("plugin ABI:", &abi);
    line("mode:", &mode_text(host, &grants, plugin));
    line("hot reload:", if manifest.hot_reload { "yes" } else { "no" });
    line("operators:", &operators_text(manifest));
    line("functions:", &functions_text(manifest));
    line("types:", &list_or_dash(manifest.types.clone()));
    line("permissions:", &permissions_text(&manifest.permissions));
    let granted = match check_permissions(&manifest.permissions, &grants, &manifest.name) {
        Ok(()) => "yes".to_string(),
        Err(error) if manifest.permissions.optional => {
            format!("not all (it runs without them): {}; {}", error.headline(), error.fix())
        }
        Err(error) => format!("no: {}; {}", error.headline(), error.fix()),
    };
    line("granted:", &granted);
    let dependencies: Vec<String> =
        manifest.dependencies.iter().map(|(name, requirement)| format!("{name} {requirement}")).collect();
    line("dependencies:", &list_or_dash(dependencies));
    line(
        "config schema:",
        &manifest.config_schema.as_ref().map_or_else(|| "-".to_string(), |schema| schema.display().to_string()),
    );
    line("examples:", &manifest.examples.len().to_string());
    for shadowed in &plugin.shadowed {
        line("shadows:", &shadowed.display().to_string());
    }
    text.push_str("library info record (read from the file, not loaded):\n");
    match summary {
        Ok(summary) => {
            let mut line = |label: &str, value: &str| text.push_str(&format!("  {label:<11} {value}\n"));
            line("package:", &format!("{} {}", summary.package, summary.version));
            line("SDK:", &format!("tusk-plugin-sdk {}", summary.sdk_version));
            line("target:", &summary.target);
            line("panics:", summary.panic);
            line("loadable:", &summary.incompatible.map_or_else(|| "yes".to_string(), |why| format!("no: {why}")));
        }
        Err(message) => text.push_str(&format!("  unreadable: {message}\n")),
    }
    if host.execution_mode(plugin) == ExecutionMode::Sandboxed {
        match host.load(&name, None) {
            Ok(_) => match host.sandbox_report(&name) {
                Some(report) => text.push_str(&report.to_string()),
                None => text.push_str("sandbox: none (the plugin runs in-process)\n"),
            },
            Err(error) => text.push_str(&format!("sandbox: not started: {error}\n")),
        }
    }
    output::write_stdout(&text)?;
    Ok(Status::Success)
}
