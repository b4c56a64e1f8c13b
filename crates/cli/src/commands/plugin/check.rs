//! `tusk plugin check NAME|PATH`: everything that can be checked about a plugin before users
//! run it, one line per check on standard output and the details on standard error. NAME is an
//! installed plugin, PATH (with a `/`) a plugin folder or crate; a crate is built first (debug
//! profile). Then the manifest is validated, the library's info record is read and checked
//! (without loading), the plugin is loaded through the real host (always in its sandbox, with
//! the user's grants and no more: what it declares and the user has not granted is noted, and
//! refused if it tries), what it registers is compared with the manifest, the examples of the
//! manifest and of every symbol are run, and the plugin is shut down.
//!
//! What the plugin registers is the truth about its symbols; the manifest's `[capabilities]`
//! lists index them (so that scripts can call a plugin that is not loaded yet). With
//! `--write-capabilities` the lists are rewritten from the registrations instead of compared.

use std::path::Path;

use tusk_plugin_catalog::{MANIFEST_FILE, Manifest};
use tusk_plugin_host::LoadedPlugin;

use serde_json::Value as Json;
use tusk_plugin_catalog::check as check_permissions;

use crate::commands::plugin::{
    Loading, NotPrepared, Profile, engine_for_prepared, folder_of, info_summary, list_or_dash, prepare,
};
use crate::commands::{Context, Status, absolute};
use crate::output;

/// The outcome lines, printed as they come.
#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn ok(&mut self, what: &str) -> anyhow::Result<()> {
        self.passed += 1;
        output::write_stdout(&format!("ok      {what}"))?;
        Ok(())
    }

    /// A line that is neither a pass nor a failure.
    fn note(&mut self, what: &str) -> anyhow::Result<()> {
        output::write_stdout(&format!("note    {what}"))?;
        Ok(())
    }

    fn failed(&mut self, what: &str) -> anyhow::Result<()> {
        self.failed += 1;
        output::write_stdout(&format!("FAILED  {what}"))?;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Status> {
        if self.failed == 0 {
            output::write_stdout(&format!("{} checks passed", self.passed))?;
            Ok(Status::Success)
        } else {
            output::write_stdout(&format!("{} of {} checks failed", self.failed, self.passed + self.failed))?;
            Ok(Status::ScriptError)
        }
    }
}

/// Runs the command: exit 1 if any check fails.
pub fn check(context: &Context, argument: &str, write_capabilities: bool) -> anyhow::Result<Status> {
    let path = match folder_of(context, argument) {
        Ok(path) => path,
        Err(status) => return Ok(status),
    };
    let mut report = Report::default();
    output::write_stdout(&format!("checking {argument}"))?;
    let mut plain = context.plain_engine();
    let prepared = match prepare(context, &mut plain, &path, Profile::Debug) {
        Ok(prepared) => prepared,
        Err(NotPrepared(step)) => {
            report.failed(step)?;
            return report.finish();
        }
    };
    let manifest = &prepared.manifest;
    if let Some(profile) = prepared.built {
        report.ok(&format!("build (cargo build, {} profile)", profile.name()))?;
    }
    report.ok(&format!("manifest: {} {}", manifest.name, manifest.version))?;
    let library_name = manifest.library.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    match info_summary(&prepared.library) {
        Ok(summary) if summary.incompatible.is_none() => {
            report.ok(&format!("library {library_name}: {}", summary.one_line()))?;
        }
        Ok(summary) => {
            report.failed(&format!("library {library_name}: {}", summary.incompatible.unwrap_or_default()))?;
            return report.finish();
        }
        Err(message) => {
            report.failed(&format!("library: {message}"))?;
            return report.finish();
        }
    }
    let (mut engine, discovery) = match engine_for_prepared(context, &prepared, Loading::Check, |settings| {
        settings.verify_capabilities = !write_capabilities
    }) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let grants = match context.grants(&absolute(Path::new(".")), &mut engine) {
        Ok(grants) => grants,
        Err(_) => return Ok(Status::UsageOrIo),
    };
    if let Err(missing) = check_permissions(&manifest.permissions, &grants, &manifest.name) {
        report.note(&format!("{}: not granted, so refused while checking", missing.headline()))?;
    }
    let errors: Vec<_> = discovery.into_iter().filter(|diagnostic| diagnostic.is_error()).collect();
    if !errors.is_empty() {
        report.failed("load: the plugin cannot be registered")?;
        context.report_diagnostics(&engine, &errors);
        return report.finish();
    }
    let Some(host) = engine.plugins().cloned() else { return report.finish() };
    let loaded = match host.load(&manifest.name, None) {
        Ok(loaded) => loaded,
        Err(error) => {
            report.failed(&format!("load: {error}"))?;
            let text = error.to_string();
            if text.contains("which the manifest does not declare")
                || text.contains("which the library does not register")
            {
                output::write_stderr(
                    "Help: `tusk plugin check --write-capabilities PATH` rewrites [capabilities] in plugin.toml from what the plugin registers\n",
                );
            }
            return report.finish();
        }
    };
    let registered: Vec<String> = loaded
        .symbols
        .iter()
        .filter_map(|symbol| match symbol.kind {
            Some(tusk::SymbolKind::Operator) => Some(format!("@{}", symbol.name)),
            Some(tusk::SymbolKind::Function) => Some(symbol.name.clone()),
            None => None,
        })
        .collect();
    if !write_capabilities {
        report.ok(&format!("load: registers {}, as the manifest declares", list_or_dash(registered)))?;
    } else {
        report.ok(&format!("load: registers {}", list_or_dash(registered)))?;
        let registered = Capabilities::registered_by(&loaded);
        if registered == Capabilities::listed_in(manifest) {
            report.ok("capabilities: plugin.toml lists what the plugin registers")?;
        } else {
            let manifest_path = prepared.source_dir.join(MANIFEST_FILE);
            match rewrite_capabilities(&manifest_path, &registered) {
                Ok(()) => report.ok(&format!(
                    "capabilities: wrote {} to {}; check again to run the examples",
                    registered.summary(),
                    manifest_path.display()
                ))?,
                Err(message) => report.failed(&format!("capabilities: {message}"))?,
            }
            drop(loaded);
            host.shutdown_all();
            return report.finish();
        }
    }

    let mut examples: Vec<(String, Option<Json>)> =
        manifest.examples.iter().map(|example| (example.code.clone(), example.result.clone())).collect();
    for symbol in &loaded.symbols {
        for example in &symbol.examples {
            match example.rsplit_once(" => ") {
                Some((code, expected)) => match serde_json::from_str(expected) {
                    Ok(expected) => examples.push((code.to_string(), Some(expected))),
                    Err(_) => {
                        report.failed(&format!(
                            "example {example}: the expected result of `{}` is not JSON",
                            symbol.name
                        ))?;
                    }
                },
                None => examples.push((example.clone(), None)),
            }
        }
    }
    for (code, expected) in examples {
        let shown = match &expected {
            Some(expected) => format!("{code} => {expected}"),
            None => code.clone(),
        };
        let result = engine.eval_expression(&code);
        match (result, expected) {
            (Ok(value), Some(expected)) => {
                let got = serde_json::to_value(&value).unwrap_or(Json::Null);
                if got == expected {
                    report.ok(&format!("example {shown}"))?;
                } else {
                    report.failed(&format!("example {shown}: got {got}"))?;
                }
            }
            (Ok(_), None) => report.ok(&format!("example {shown}"))?,
            (Err(error), _) => {
                report.failed(&format!("example {shown}: {error}"))?;
                context.report(&engine, &error);
            }
        }
    }
    drop(loaded);
    let failures = host.shutdown_all();
    if failures.is_empty() {
        report.ok("shutdown")?;
    } else {
        let messages: Vec<&str> = failures.iter().map(|(_, message)| message.as_str()).collect();
        report.failed(&format!("shutdown: {}", messages.join("; ")))?;
    }
    drop(host);
    drop(engine);
    report.finish()
}

/// The operators, functions and types of a plugin, in registration (or manifest) order.
#[derive(Debug, PartialEq, Eq)]
struct Capabilities {
    operators: Vec<String>,
    functions: Vec<String>,
    types: Vec<String>,
}

impl Capabilities {
    fn registered_by(loaded: &LoadedPlugin) -> Capabilities {
        let names = |kind: Option<tusk::SymbolKind>| -> Vec<String> {
            loaded.symbols.iter().filter(|symbol| symbol.kind == kind).map(|symbol| symbol.name.clone()).collect()
        };
        Capabilities {
            operators: names(Some(tusk::SymbolKind::Operator)),
            functions: names(Some(tusk::SymbolKind::Function)),
            types: names(None),
        }
    }

    fn listed_in(manifest: &Manifest) -> Capabilities {
        Capabilities {
            operators: manifest.operators.clone(),
            functions: manifest.functions.clone(),
            types: manifest.types.clone(),
        }
    }

    /// `operators @a, @b; functions f` for the report.
    fn summary(&self) -> String {
        let operators: Vec<String> = self.operators.iter().map(|name| format!("@{name}")).collect();
        let parts: Vec<String> =
            [("operators", operators), ("functions", self.functions.clone()), ("types", self.types.clone())]
                .into_iter()
                .filter(|(_, names)| !names.is_empty())
                .map(|(label, names)| format!("{label} {}", names.join(", ")))
                .collect();
        if parts.is_empty() { "no capabilities".to_string() } else { parts.join("; ") }
    }

    /// The lines of the `[capabilities]` table (empty lists are left out).
    fn toml_lines(&self) -> Vec<String> {
        [("operators", &self.operators), ("functions", &self.functions), ("types", &self.types)]
            .into_iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(key, names)| {
                let items: Vec<String> =
                    names.iter().map(|name| toml::Value::String(name.clone()).to_string()).collect();
                let line = format!("{key} = [{}]", items.join(", "));
                if line.len() <= 100 {
                    line
                } else {
                    format!(
                        "{key} = [\n{}\n]",
                        items.iter().map(|item| format!("    {item},")).collect::<Vec<_>>().join("\n")
                    )
                }
            })
            .collect()
    }
}

/// Replaces the `operators`, `functions` and `types` keys of the manifest's `[capabilities]`
/// table (adding the table when there is none), keeping every other line and comment as it is.
/// The new file replaces the old one in one rename.
fn rewrite_capabilities(manifest_path: &Path, capabilities: &Capabilities) -> Result<(), String> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|error| format!("cannot read {}: {error}", manifest_path.display()))?;
    let rewritten = with_capabilities(&text, capabilities);
    let folder = manifest_path.parent().unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(folder)?;
        std::io::Write::write_all(&mut file, rewritten.as_bytes())?;
        file.persist(manifest_path).map_err(|error| error.error)?;
        Ok(())
    };
    write().map_err(|error| format!("cannot write {}: {error}", manifest_path.display()))
}

/// `text` with its `[capabilities]` keys replaced by `capabilities`.
fn with_capabilities(text: &str, capabilities: &Capabilities) -> String {
    const KEYS: [&str; 3] = ["operators", "functions", "types"];
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut in_capabilities = false;
    let mut found = false;
    let mut skipping = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let at_top = depth == 0;
        depth += bracket_change(line);
        if at_top && trimmed.starts_with('[') {
            in_capabilities = trimmed.trim_end().trim_end_matches(|c: char| c != ']') == "[capabilities]";
            out.push(line.to_string());
            if in_capabilities {
                found = true;
                out.extend(capabilities.toml_lines());
            }
            continue;
        }
        let key = trimmed.split(['=', ' ']).next().unwrap_or_default();
        if in_capabilities && at_top && KEYS.contains(&key) {
            skipping = depth > 0;
            continue;
        }
        if skipping {
            skipping = depth > 0;
            continue;
        }
        out.push(line.to_string());
    }
    if !found {
        if out.last().is_some_and(|line| !line.trim().is_empty()) {
            out.push(String::new());
        }
        out.push("[capabilities]".to_string());
        out.extend(capabilities.toml_lines());
    }
    let mut rewritten = out.join("\n");
    rewritten.push('\n');
    rewritten
}

/// How many more `[` than `]` a TOML line opens, outside strings and comments.
fn bracket_change(line: &str) -> i32 {
    let mut change = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => break,
                '[' => change += 1,
                ']' => change -= 1,
                _ => {}
            },
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capabilities(operators: &[&str], functions: &[&str], types: &[&str]) -> Capabilities {
        let owned = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        Capabilities { operators: owned(operators), functions: owned(functions), types: owned(types) }
    }

    #[test]
    fn the_capability_keys_are_replaced_and_everything_else_kept() {
        let text = "[plugin]\nname = \"x\" # [not a table]\n\n[capabilities]\n# what x provides\noperators = [\n  \"old\",\n  \"older\",\n]\nfunctions = [\"f\"]\n\n[[examples]]\ncode = \"@x()\"\n";
        assert_eq!(
            with_capabilities(text, &capabilities(&["x", "x.more"], &[], &["x.handle"])),
            "[plugin]\nname = \"x\" # [not a table]\n\n[capabilities]\noperators = [\"x\", \"x.more\"]\ntypes = [\"x.handle\"]\n# what x provides\n\n[[examples]]\ncode = \"@x()\"\n"
        );
    }

    #[test]
    fn a_manifest_without_capabilities_gets_the_table() {
        assert_eq!(
            with_capabilities("[plugin]\nname = \"x\"\n", &capabilities(&["x"], &["x_twice"], &[])),
            "[plugin]\nname = \"x\"\n\n[capabilities]\noperators = [\"x\"]\nfunctions = [\"x_twice\"]\n"
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        assert_eq!(bracket_change(r#"a = ["[", ']', "\"]"] # ]]"#), 0);
        assert_eq!(bracket_change("operators = ["), 1);
        assert_eq!(bracket_change("]"), -1);
    }
}
