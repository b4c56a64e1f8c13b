//! `tusk get FILE PATH`: print one value of a document. Strings print as their raw text (for
//! shell scripts), everything else as JSON unless `--format` says otherwise. The path has the
//! syntax the flat format prints: `server.port`, `hosts[0]`, `hosts[-1]`, `a."b.c"`, and a
//! range's `min` and `max`.

use tusk::path::Path;

use crate::cli::GetArgs;
use crate::commands::{Context, Status, evaluate, print_value, script_dir};
use crate::{interrupt, output};

/// Runs the command: exit 1 when the path names no value, 2 when it is not a path.
pub fn get(context: &Context, args: &GetArgs) -> anyhow::Result<Status> {
    let path = match Path::parse(&args.path) {
        Ok(path) => path,
        Err(error) => {
            output::write_stderr(&format!("Error: {error}\n"));
            return Ok(Status::UsageOrIo);
        }
    };
    let mut engine = match context.engine(&script_dir(&args.input)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    let result = evaluate(&mut engine, &args.input);
    if interrupt::interrupted() {
        return Ok(Status::Interrupted);
    }
    let document = match result {
        Ok(document) => document,
        Err(error) => return Ok(context.report(&engine, &error)),
    };
    if context.report_warnings(&engine, document.warnings()) {
        return Ok(Status::ScriptError);
    }
    let value = match document.lookup(&path) {
        Ok(value) if value.is_function() => {
            output::write_stderr(&format!("Error: `{path}` is a function, which output leaves out\n"));
            return Ok(Status::ScriptError);
        }
        Ok(value) => value,
        Err(error) => {
            output::write_stderr(&format!("Error: {error}\n"));
            return Ok(Status::ScriptError);
        }
    };
    print_value(&value, &args.output, true)
}
