//! `tusk plugin list`: every plugin tusk finds, whether or not a script uses it, with its
//! version, folder, mode, operators, functions and permissions, the copies it shadows, the
//! problems of manifests that could not be used and of libraries that are gone (as warnings on
//! standard error), and the search path.

use std::path::Path;

use crate::commands::plugin::{functions_text, installed, mode_text, operators_text, origin_name, permissions_text};
use crate::commands::{Context, Status, absolute};
use crate::output;
use tusk_plugin_catalog::SearchPath;

/// Runs the command (exit 0 even when some manifests are invalid: they are warnings here).
pub fn list(context: &Context) -> anyhow::Result<Status> {
    let (mut engine, mut diagnostics) = match installed(context) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let grants = match context.grants(&absolute(Path::new(".")), &mut engine) {
        Ok(grants) => grants,
        Err(_) => return Ok(Status::UsageOrIo),
    };
    let mut text = String::new();
    if let Some(host) = engine.plugins().cloned() {
        for plugin in &host.catalog().plugins {
            // Discovery looked at manifests only: a library removed since the index was
            // written is listed as the manifest problem it is, like at start-up before it.
            if let Err(problems) = plugin.check_library(engine.sources_mut()) {
                diagnostics.extend(problems);
                continue;
            }
            let manifest = plugin.manifest();
            text.push_str(&format!("{} {}: {}\n", manifest.name, manifest.version, manifest.description));
            text.push_str(&format!("  folder:      {} ({})\n", manifest.dir.display(), origin_name(plugin.origin)));
            text.push_str(&format!("  mode:        {}\n", mode_text(&host, &grants, plugin)));
            text.push_str(&format!("  operators:   {}\n", operators_text(manifest)));
            text.push_str(&format!("  functions:   {}\n", functions_text(manifest)));
            text.push_str(&format!("  permissions: {}\n", permissions_text(&manifest.permissions)));
            for shadowed in &plugin.shadowed {
                text.push_str(&format!("  shadows:     {}\n", shadowed.display()));
            }
            text.push('\n');
        }
        if host.catalog().plugins.is_empty() {
            text.push_str("no plugins found\n\n");
        }
    }
    text.push_str("search path:\n");
    for root in SearchPath::standard(Some(&absolute(Path::new(".")))).roots {
        let missing = if root.dir.is_dir() { "" } else { ", not found" };
        text.push_str(&format!("  {} ({}{missing})\n", root.dir.display(), origin_name(root.origin)));
    }
    output::write_stdout(&text)?;
    context.report_discovery(&engine, &diagnostics);
    Ok(Status::Success)
}
