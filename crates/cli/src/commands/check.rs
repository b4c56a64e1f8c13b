//! `tusk check FILE...`: report every error and warning of each file without running operators
//! that have side effects (they evaluate to `null` in a dry run), then a one-line summary on
//! standard output (`--quiet` leaves out the warnings and the summary).
//!
//! Each file gets a fresh engine, so a file's result never depends on which files were checked
//! before it (cross-file operators cache the documents they load). Problems of the installed
//! plugins (invalid manifests, shadowed or clashing plugins) are printed once, as warnings: they
//! do not make a script wrong unless it uses such a plugin, which then fails on its own.

use std::collections::HashSet;

use tusk::{Diagnostic, Engine, Severity};

use crate::cli::{CheckArgs, CheckFormat, Input};
use crate::commands::{Context, Status, evaluate, script_dir, with_plugin_hints};
use crate::{interrupt, output};

/// Runs the command: exit 1 if any file has errors (or warnings, with `--deny-warnings`), 2 if
/// any cannot be read.
pub fn check(context: &Context, args: &CheckArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    let mut tally = Tally::default();
    // Files in one folder see the same plugins; their problems are printed once.
    let mut reported = HashSet::new();
    if args.format == CheckFormat::Json {
        return check_json(context, args);
    }
    for input in &args.inputs {
        let (mut engine, discovery) = match context.engine_with_diagnostics(&script_dir(input)) {
            Ok(engine) => engine,
            Err(failure) => return Ok(status.worst(failure)),
        };
        let new: Vec<_> = discovery.into_iter().filter(|d| reported.insert(format!("{d:?}"))).collect();
        if !context.global().quiet {
            context.report_discovery(&engine, &new);
        }
        engine.options_mut().dry_run = true;
        let result = evaluate(&mut engine, input);
        if interrupt::interrupted() {
            return Ok(Status::Interrupted);
        }
        tally.files += 1;
        match result {
            Ok(document) => {
                tally.warnings += document.warnings().len();
                if context.report_warnings(&engine, document.warnings()) {
                    status = status.worst(Status::ScriptError);
                }
            }
            Err(error) => status = status.worst(context.report(&engine, &error)),
        }
    }
    if status == Status::Success && !context.global().quiet {
        output::write_stdout(&tally.summary())?;
    }
    Ok(status)
}

/// `tusk check --format json`: the same checks, every diagnostic as one line of JSON on
/// standard output (warnings made errors by `--deny-warnings`, left out by `--quiet`), and
/// nothing on standard error. An unreadable file is an error without a place (exit 2).
fn check_json(context: &Context, args: &CheckArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    let mut reported = HashSet::new();
    for input in &args.inputs {
        let (mut engine, discovery) = match context.engine_with_diagnostics(&script_dir(input)) {
            Ok(engine) => engine,
            Err(failure) => return Ok(status.worst(failure)),
        };
        let mut diagnostics: Vec<Diagnostic> = discovery
            .into_iter()
            .filter(|d| reported.insert(format!("{d:?}")))
            .map(|diagnostic| Diagnostic { severity: Severity::Warning, ..diagnostic })
            .collect();
        engine.options_mut().dry_run = true;
        let result = evaluate(&mut engine, input);
        if interrupt::interrupted() {
            return Ok(Status::Interrupted);
        }
        match result {
            Ok(document) => diagnostics.extend(document.warnings().iter().cloned()),
            Err(tusk::Error::Script(found)) => {
                status = status.worst(Status::ScriptError);
                diagnostics.extend(with_plugin_hints(&engine, &found));
            }
            Err(tusk::Error::Io { path, message }) => {
                status = status.worst(Status::UsageOrIo);
                let name = match input {
                    Input::Path(_) => path.clone(),
                    Input::Stdin => "<stdin>".to_string(),
                };
                let mut object = output::diagnostic_json(
                    &Diagnostic::error(format!("cannot read {path}: {message}")),
                    engine.sources(),
                );
                object["file"] = serde_json::json!(name);
                output::write_stdout(&object.to_string())?;
            }
        }
        status = status.worst(write_json(context, &engine, diagnostics)?);
    }
    Ok(status)
}

/// Prints diagnostics as JSON lines; exit 1 when one of them is an error.
fn write_json(context: &Context, engine: &Engine, diagnostics: Vec<Diagnostic>) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    for mut diagnostic in diagnostics {
        if diagnostic.severity == Severity::Warning {
            if context.global().deny_warnings {
                diagnostic.severity = Severity::Error;
                diagnostic.notes.push("`--deny-warnings` makes warnings errors".to_string());
            } else if context.global().quiet {
                continue;
            }
        }
        if diagnostic.is_error() {
            status = Status::ScriptError;
        }
        output::write_stdout(&output::diagnostic_json(&diagnostic, engine.sources()).to_string())?;
    }
    Ok(status)
}

/// What the checked files had, for the summary line (printed only when none has errors).
#[derive(Default)]
struct Tally {
    files: usize,
    warnings: usize,
}

impl Tally {
    /// `checked 2 files: no errors, 1 warning`.
    fn summary(&self) -> String {
        let warnings = if self.warnings == 0 { "no warnings".to_string() } else { plural(self.warnings, "warning") };
        format!("checked {}: no errors, {warnings}", plural(self.files, "file"))
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}
