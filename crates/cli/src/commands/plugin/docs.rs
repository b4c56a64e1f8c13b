//! `tusk plugin docs NAME|PATH`: a plugin's documentation as Markdown, from its manifest
//! (summary, permissions, configuration schema, dependencies, examples), from the plugin
//! itself (signatures, summaries and examples of its operators and functions) and from its
//! README.md (the sections on performance characteristics and security considerations).
//! Asking the plugin means starting it: always in its sandbox, with nothing granted, whatever
//! its manifest asks for and whoever trusts it, so that reading documentation lets a plugin
//! touch nothing. NAME is an
//! installed plugin; PATH (with a `/`) a plugin folder or crate (handy while writing one).

use std::path::Path;

use serde_json::Value as Json;
use tusk::{Engine, SymbolKind};
use tusk_plugin_catalog::{FileAccess, Manifest, NetworkAccess};
use tusk_plugin_host::LoadedPlugin;

use crate::commands::plugin::{
    Loading, Profile, Target, engine_for_prepared, fail, find, installed, manifest_flags, prepare, target,
};
use crate::commands::{Context, Status};
use crate::output;

/// Runs the command: exit 1 when there is no such plugin.
pub fn docs(context: &Context, argument: &str) -> anyhow::Result<Status> {
    let mut _prepared = None;
    let (engine, manifest) = match target(argument) {
        Target::Folder(path) => {
            let mut plain = context.plain_engine();
            let Ok(prepared) = prepare(context, &mut plain, &path, Profile::Debug) else {
                return Ok(Status::ScriptError);
            };
            let engine = match engine_for_prepared(context, &prepared, Loading::Docs, |_| {}) {
                Ok((engine, _)) => engine,
                Err(status) => return Ok(status),
            };
            let manifest = prepared.manifest.clone();
            _prepared = Some(prepared);
            (engine, manifest)
        }
        Target::Installed(name) => {
            let (engine, _) = match installed(context) {
                Ok(engine) => engine,
                Err(status) => return Ok(status),
            };
            let Some(host) = engine.plugins() else { return Ok(fail("plugins are not available in this build")) };
            let manifest = match find(host.catalog(), &name) {
                Ok(plugin) => plugin.manifest().clone(),
                Err(message) => return Ok(fail(&message)),
            };
            drop(engine);
            match context.engine_with_settings(Path::new("."), |settings| Loading::Docs.adjust(settings)) {
                Ok((engine, _)) => (engine, manifest),
                Err(status) => return Ok(status),
            }
        }
    };
    let loaded = load(&engine, &manifest);
    output::write_stdout(&markdown(&manifest, loaded.as_deref()))?;
    drop(loaded);
    drop(engine);
    Ok(Status::Success)
}

/// Loads the plugin for its symbol docs; without them the page lists names only (and says why
/// on standard error).
fn load(engine: &Engine, manifest: &Manifest) -> Option<std::rc::Rc<LoadedPlugin>> {
    let host = engine.plugins()?;
    match host.load(&manifest.name, None) {
        Ok(loaded) => Some(loaded),
        Err(error) => {
            output::write_stderr(&format!(
                "warning: plugin `{}` did not load, so its operators are listed without their documentation: {error}\n",
                manifest.name
            ));
            None
        }
    }
}

/// The whole page.
fn markdown(manifest: &Manifest, loaded: Option<&LoadedPlugin>) -> String {
    let mut page = format!("# {} {}\n\n{}\n\n", manifest.name, manifest.version, manifest.description);
    page.push_str("| | |\n|---|---|\n");
    page.push_str(&format!("| Author | {} |\n", manifest.author));
    page.push_str(&format!("| License | {} |\n", manifest.license));
    page.push_str(&format!("| Repository | {} |\n", manifest.repository));
    page.push_str(&format!("| Plugin ABI | {}.{} |\n\n", manifest.abi.0, manifest.abi.1));
    for (kind, heading, names) in [
        (SymbolKind::Operator, "Operators", &manifest.operators),
        (SymbolKind::Function, "Functions", &manifest.functions),
    ] {
        if names.is_empty() {
            continue;
        }
        page.push_str(&format!("## {heading}\n\n"));
        for name in names {
            let symbol = loaded.and_then(|plugin| plugin.symbol(kind, name));
            let written = if kind == SymbolKind::Operator { format!("@{name}") } else { name.clone() };
            let signature = symbol.map(|symbol| symbol.signature.clone()).filter(|signature| !signature.is_empty());
            page.push_str(&format!("### `{}`\n\n", signature.unwrap_or(written)));
            if let Some(symbol) = symbol {
                if !symbol.summary.is_empty() {
                    page.push_str(&format!("{}\n\n", symbol.summary));
                }
                if symbol.side_effects {
                    page.push_str("Has effects outside the script (`tusk check` skips it).\n\n");
                }
                if !symbol.examples.is_empty() {
                    page.push_str("```tusk\n");
                    for example in &symbol.examples {
                        page.push_str(&example_line(example));
                    }
                    page.push_str("```\n\n");
                }
            }
        }
    }
    page.push_str("## Permissions\n\n");
    page.push_str(&permissions_section(manifest));
    page.push_str("## Configuration\n\n");
    page.push_str(&configuration_section(manifest));
    page.push_str("## Dependencies\n\n");
    if manifest.dependencies.is_empty() {
        page.push_str("None.\n\n");
    } else {
        for (name, requirement) in &manifest.dependencies {
            page.push_str(&format!("- `{name}` `{requirement}`\n"));
        }
        page.push('\n');
    }
    for title in README_SECTIONS {
        page.push_str(&format!("## {title}\n\n"));
        match readme_section(&manifest.dir, title) {
            Some(text) => page.push_str(&format!("{text}\n\n")),
            None => page.push_str(&format!("Not documented: the plugin's README.md has no `## {title}` section.\n\n")),
        }
    }
    if !manifest.examples.is_empty() {
        page.push_str("## Examples\n\n```tusk\n");
        for example in &manifest.examples {
            match &example.result {
                Some(result) => page.push_str(&format!("{}  # => {result}\n", example.code)),
                None => page.push_str(&format!("{}\n", example.code)),
            }
        }
        page.push_str("```\n");
    }
    page
}

/// The sections of a plugin's README.md every docs page shows: what a user needs to know before
/// relying on a plugin, which only its author can say.
const README_SECTIONS: [&str; 2] = ["Performance characteristics", "Security considerations"];

/// The text of the `## {title}` section of the README.md in `dir` (up to the next heading of
/// level 1 or 2 outside a code block), if there is one with text.
fn readme_section(dir: &Path, title: &str) -> Option<String> {
    let readme = std::fs::read_to_string(dir.join("README.md")).ok()?;
    let mut lines = readme.lines();
    let mut in_code = false;
    lines.find(|line| {
        in_code ^= line.starts_with("```");
        !in_code && line.strip_prefix("## ").is_some_and(|heading| heading.trim() == title)
    })?;
    let mut section = Vec::new();
    for line in lines {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && (line.starts_with("# ") || line.starts_with("## ")) {
            break;
        }
        section.push(line);
    }
    let text = section.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `code => result` as a line of TuskLang with the result in a comment.
fn example_line(example: &str) -> String {
    match example.rsplit_once(" => ") {
        Some((code, result)) => format!("{code}  # => {result}\n"),
        None => format!("{example}\n"),
    }
}

fn permissions_section(manifest: &Manifest) -> String {
    let permissions = &manifest.permissions;
    let quoted = |items: &[String]| items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    match permissions.file_system {
        FileAccess::None => {}
        FileAccess::Read => lines.push(format!("- Reads files: {}", quoted(&permissions.paths))),
        FileAccess::ReadWrite => lines.push(format!("- Reads and writes files: {}", quoted(&permissions.paths))),
    }
    match permissions.network {
        NetworkAccess::None => {}
        NetworkAccess::Outbound => lines.push(format!("- Connects to: {}", quoted(&permissions.hosts))),
        NetworkAccess::Inbound => lines.push(format!("- Listens on and connects to: {}", quoted(&permissions.hosts))),
    }
    if !permissions.env.is_empty() {
        lines.push(format!("- Reads environment variables: {}", quoted(&permissions.env)));
    }
    if permissions.database {
        lines.push("- Uses databases".to_string());
    }
    if lines.is_empty() {
        return "None: the plugin only computes values.\n\n".to_string();
    }
    if permissions.optional {
        return format!(
            "{}\n\nOptional: the plugin works without them and uses only what you grant of them (`--allow-…` \
             flags, or under `[{}]` in `~/.config/tusk/grants.toml`).\n\n",
            lines.join("\n"),
            manifest.name
        );
    }
    format!(
        "{}\n\nGrant them with `{}`, or under `[{}]` in `~/.config/tusk/grants.toml`.\n\n",
        lines.join("\n"),
        manifest_flags(permissions).join(" "),
        manifest.name
    )
}

/// A table of the schema's top-level properties (or the schema itself when it has none).
fn configuration_section(manifest: &Manifest) -> String {
    let Some(path) = &manifest.config_schema else {
        return "None.\n\n".to_string();
    };
    let relative = path.strip_prefix(&manifest.dir).unwrap_or(path).display().to_string();
    let schema: Json = match std::fs::read_to_string(path).map(|text| serde_json::from_str(&text)) {
        Ok(Ok(schema)) => schema,
        _ => return format!("Schema `{relative}` (unreadable).\n\n"),
    };
    let mut text = format!(
        "Under `[plugins.{}]` in `~/.config/tusk/config.toml` or in the script; schema `{relative}`.\n\n",
        manifest.name
    );
    let Some(properties) = schema.get("properties").and_then(Json::as_object) else {
        text.push_str(&format!("```json\n{}\n```\n\n", serde_json::to_string_pretty(&schema).unwrap_or_default()));
        return text;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Json::as_array)
        .map(|keys| keys.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    text.push_str("| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for (key, property) in properties {
        let kind = match property.get("type") {
            Some(Json::String(kind)) => kind.clone(),
            Some(Json::Array(kinds)) => kinds.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(" or "),
            _ => String::new(),
        };
        let default = match property.get("default") {
            Some(value) => format!("`{value}`"),
            None if required.contains(&key.as_str()) => "required".to_string(),
            None => String::new(),
        };
        let description = property.get("description").and_then(Json::as_str).unwrap_or_default().replace('|', "\\|");
        text.push_str(&format!("| `{key}` | {kind} | {default} | {description} |\n"));
    }
    text.push('\n');
    text
}
