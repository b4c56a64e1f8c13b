//! `tusk run FILE` (and plain `tusk FILE`): evaluate a script and print its document.
//!
//! Warnings are not printed here: a bare word used as a string is normal in real
//! configuration files, and `tusk check` is where warnings are asked for.

use crate::cli::{Input, OutputArgs};
use crate::commands::{Context, Status, evaluate};
use crate::output;

/// Runs the command.
pub fn run(context: &Context, input: &Input, output_args: &OutputArgs) -> anyhow::Result<Status> {
    let mut engine = context.engine();
    let document = match evaluate(&mut engine, input) {
        Ok(document) => document,
        Err(error) => return Ok(context.report(&engine, &error)),
    };
    match output::format_value(document.value(), output_args, false) {
        Ok(text) => {
            output::write_stdout(&text)?;
            Ok(Status::Success)
        }
        Err(message) => {
            output::write_stderr(&format!("Error: {message}\n"));
            Ok(Status::ScriptError)
        }
    }
}
