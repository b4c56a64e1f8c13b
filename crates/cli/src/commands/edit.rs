//! `tusk set FILE PATH VALUE` and `tusk fmt [--check] FILE...`: rewrite `.tsk` files in place,
//! keeping their comments, layout and style (the edits themselves are `tusk::edit`'s), and
//! replacing each file atomically. Nothing is evaluated.

use std::path::Path;

use tusk::Engine;
use tusk::edit::EditError;

use crate::cli::{FmtArgs, SetArgs};
use crate::commands::{Context, Status};
use crate::output;

/// Reads a file as UTF-8 text; an unreadable file is reported (exit 2).
fn read(path: &Path) -> Result<String, Status> {
    std::fs::read_to_string(path).map_err(|error| {
        output::write_stderr(&format!("Error: cannot read {}: {error}\n", path.display()));
        Status::UsageOrIo
    })
}

/// Reports an edit that was not made: syntax errors rendered with their snippets (exit 1),
/// anything else as one line (exit 1).
fn report(context: &Context, engine: &Engine, error: &EditError) -> Status {
    match error {
        EditError::Syntax(diagnostics) => context.report_diagnostics(engine, diagnostics),
        EditError::Invalid(message) => output::write_stderr(&format!("Error: {message}\n")),
    }
    Status::ScriptError
}

fn write(path: &Path, text: &str) -> Result<(), Status> {
    output::write_file_atomically(path, text).map_err(|error| {
        output::write_stderr(&format!("Error: cannot write {}: {error}\n", path.display()));
        Status::UsageOrIo
    })
}

/// Runs `tusk set`.
pub fn set(context: &Context, args: &SetArgs) -> anyhow::Result<Status> {
    let path = match tusk::path::Path::parse(&args.path) {
        Ok(path) => path,
        Err(error) => {
            output::write_stderr(&format!("Error: {error}\n"));
            return Ok(Status::UsageOrIo);
        }
    };
    let source = match read(&args.file) {
        Ok(source) => source,
        Err(status) => return Ok(status),
    };
    let mut engine = context.plain_engine();
    let source_id = engine.sources_mut().add(args.file.display().to_string(), source.as_str());
    let value = if args.string { tusk::edit::quote_string(&args.value) } else { args.value.clone() };
    let edited = match tusk::edit::set(&source, source_id, &path, &value) {
        Ok(edited) => edited,
        Err(error) => return Ok(report(context, &engine, &error)),
    };
    if edited != source
        && let Err(status) = write(&args.file, &edited)
    {
        return Ok(status);
    }
    Ok(Status::Success)
}

/// Runs `tusk fmt`: every file is formatted (or checked) even when an earlier one fails.
pub fn fmt(context: &Context, args: &FmtArgs) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    let mut engine = context.plain_engine();
    for file in &args.files {
        let source = match read(file) {
            Ok(source) => source,
            Err(failure) => {
                status = status.worst(failure);
                continue;
            }
        };
        let source_id = engine.sources_mut().add(file.display().to_string(), source.as_str());
        let formatted = match tusk::edit::format(&source, source_id) {
            Ok(formatted) => formatted,
            Err(error) => {
                status = status.worst(report(context, &engine, &error));
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        if args.check {
            output::write_stdout(&format!("{} is not formatted", file.display()))?;
            status = status.worst(Status::ScriptError);
        } else if let Err(failure) = write(file, &formatted) {
            status = status.worst(failure);
        }
    }
    Ok(status)
}
