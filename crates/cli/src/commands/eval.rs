//! `tusk eval EXPR` (and `tusk -e EXPR`): evaluate one expression and print its value.

use crate::cli::{Input, OutputArgs};
use crate::commands::{Context, Status, print_value, script_dir};
use crate::interrupt;

/// Runs the command.
pub fn eval(context: &Context, expression: &str, output_args: &OutputArgs) -> anyhow::Result<Status> {
    let mut engine = match context.engine(&script_dir(&Input::Stdin)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let result = engine.eval_expression_with_warnings(expression);
    if interrupt::interrupted() {
        return Ok(Status::Interrupted);
    }
    let value = match result {
        Ok((value, warnings)) => {
            if context.report_warnings(&engine, &warnings) {
                return Ok(Status::ScriptError);
            }
            value
        }
        Err(error) => return Ok(context.report(&engine, &error)),
    };
    print_value(&value, output_args, true)
}
