//! `tusk run FILE` (and plain `tusk FILE`): evaluate a script and print its document.
//!
//! Warnings are not printed here: a bare word used as a string is normal in real
//! configuration files, and `tusk check` is where warnings are asked for. Plugin discovery
//! problems are not printed either, unless the script fails on an operator nobody provides.

use crate::cli::{Input, OutputArgs};
use crate::commands::{Context, Status, evaluate, script_dir};
use crate::{interrupt, output};

/// Runs the command.
pub fn run(context: &Context, input: &Input, output_args: &OutputArgs) -> anyhow::Result<Status> {
    let mut engine = match context.engine(&script_dir(input)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let result = evaluate(&mut engine, input);
    if interrupt::interrupted() {
        return Ok(Status::Interrupted);
    }
    let document = match result {
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
