//! `tusk check FILE...`: report every error and warning of each file without running operators
//! that have side effects (they evaluate to `null` in a dry run), and print nothing else.
//!
//! Each file gets a fresh engine, so a file's result never depends on which files were checked
//! before it (cross-file operators cache the documents they load).

use crate::cli::CheckArgs;
use crate::commands::{Context, Status, evaluate};

/// Runs the command: exit 1 if any file has errors, 2 if any cannot be read.
pub fn check(context: &Context, args: &CheckArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    for input in &args.inputs {
        let mut engine = context.engine();
        engine.options_mut().dry_run = true;
        match evaluate(&mut engine, input) {
            Ok(document) => context.report_diagnostics(&engine, document.warnings()),
            Err(error) => status = status.worst(context.report(&engine, &error)),
        }
    }
    Ok(status)
}
