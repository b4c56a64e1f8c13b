//! `tusk check FILE...`: report every error and warning of each file without running operators
//! that have side effects (they evaluate to `null` in a dry run), then a one-line summary on
//! standard output (`--quiet` leaves out the warnings and the summary).
//!
//! Each file gets a fresh engine, so a file's result never depends on which files were checked
//! before it (cross-file operators cache the documents they load). Problems of the installed
//! plugins (invalid manifests, shadowed or clashing plugins) are printed once, as warnings: they
//! do not make a script wrong unless it uses such a plugin, which then fails on its own.

use std::collections::HashSet;

use crate::cli::CheckArgs;
use crate::commands::{Context, Status, evaluate, script_dir};
use crate::{interrupt, output};

/// Runs the command: exit 1 if any file has errors (or warnings, with `--deny-warnings`), 2 if
/// any cannot be read.
pub fn check(context: &Context, args: &CheckArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    let mut tally = Tally::default();
    // Files in one folder see the same plugins; their problems are printed once.
    let mut reported = HashSet::new();
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
