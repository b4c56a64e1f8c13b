//! `tusk check FILE...`: report every error and warning of each file without running operators
//! that have side effects (they evaluate to `null` in a dry run), and print nothing else.
//!
//! Each file gets a fresh engine, so a file's result never depends on which files were checked
//! before it (cross-file operators cache the documents they load). Problems of the installed
//! plugins (invalid manifests, shadowed or clashing plugins) are printed once, as warnings: they
//! do not make a script wrong unless it uses such a plugin, which then fails on its own.

use std::collections::HashSet;

use crate::cli::CheckArgs;
use crate::commands::{Context, Status, evaluate, script_dir};
use crate::interrupt;

/// Runs the command: exit 1 if any file has errors, 2 if any cannot be read.
pub fn check(context: &Context, args: &CheckArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    // Files in one folder see the same plugins; their problems are printed once.
    let mut reported = HashSet::new();
    for input in &args.inputs {
        let (mut engine, discovery) = match context.engine_with_diagnostics(&script_dir(input)) {
            Ok(engine) => engine,
            Err(failure) => return Ok(status.worst(failure)),
        };
        let new: Vec<_> = discovery.into_iter().filter(|d| reported.insert(format!("{d:?}"))).collect();
        context.report_discovery(&engine, &new);
        engine.options_mut().dry_run = true;
        let result = evaluate(&mut engine, input);
        if interrupt::interrupted() {
            return Ok(Status::Interrupted);
        }
        match result {
            Ok(document) => context.report_diagnostics(&engine, document.warnings()),
            Err(error) => status = status.worst(context.report(&engine, &error)),
        }
    }
    Ok(status)
}
