//! `tusk plugin check NAME|PATH`: everything that can be checked about a plugin before users
//! run it, one line per check on standard output and the details on standard error. NAME is an
//! installed plugin, PATH (with a `/`) a plugin folder or crate; a crate is built first (debug
//! profile). Then the manifest is validated, the library's info record is read and checked
//! (without loading), the plugin is loaded through the real host (always in its sandbox, with
//! the user's grants and no more: what it declares and the user has not granted is noted, and
//! refused if it tries), what it registers is compared with the manifest, the examples of the
//! manifest and of every symbol are run, and the plugin is shut down.

use serde_json::Value as Json;
use tusk::plugins::check_permissions;

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
pub fn check(context: &Context, argument: &str) -> anyhow::Result<Status> {
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
    let (mut engine, discovery) = match engine_for_prepared(context, &prepared, Loading::Check) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let grants = match context.grants(&absolute(std::path::Path::new(".")), &mut engine) {
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
    report.ok(&format!("load: registers {}, as the manifest declares", list_or_dash(registered)))?;

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
