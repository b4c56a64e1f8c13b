//! `tusk eval EXPR` (and `tusk -e EXPR`): evaluate one expression and print its value.

use crate::cli::OutputArgs;
use crate::commands::{Context, Status};
use crate::output;

/// Runs the command.
pub fn eval(context: &Context, expression: &str, output_args: &OutputArgs) -> anyhow::Result<Status> {
    let mut engine = context.engine();
    let value = match engine.eval_expression(expression) {
        Ok(value) => value,
        Err(error) => return Ok(context.report(&engine, &error)),
    };
    match output::format_value(&value, output_args, true) {
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
