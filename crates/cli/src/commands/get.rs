//! `tusk get FILE PATH`: print one value of a document. Strings print as their raw text (for
//! shell scripts), everything else as JSON unless `--format` says otherwise.

use tusk::{Document, Value};

use crate::cli::GetArgs;
use crate::commands::{Context, Status, evaluate, script_dir};
use crate::{interrupt, output};

/// Runs the command: exit 1 when the path names no value.
pub fn get(context: &Context, args: &GetArgs) -> anyhow::Result<Status> {
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
    let Some(value) = document.get(&args.path).filter(|value| !value.is_function()) else {
        output::write_stderr(&format!("Error: {}\n", describe_missing(&document, &args.path)));
        return Ok(Status::ScriptError);
    };
    match output::format_value(value, &args.output, true) {
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

/// Says which part of the path is missing and what is there instead, so a typo is easy to see:
/// "no value at `server.prt`: `server` has no key `prt` (its keys: host, port)".
fn describe_missing(document: &Document, path: &str) -> String {
    let parts: Vec<&str> = path.split('.').filter(|part| !part.is_empty()).collect();
    let found = (1..=parts.len()).take_while(|&n| document.get(&parts[..n].join(".")).is_some()).last().unwrap_or(0);
    let parent_path = parts[..found].join(".");
    let Some(missing) = parts.get(found) else {
        return format!("no value at `{path}`: `{parent_path}` is a function");
    };
    let parent_name = if parent_path.is_empty() { "the document".to_string() } else { format!("`{parent_path}`") };
    let detail = match document.get(&parent_path) {
        Some(Value::Object(object)) => {
            let keys: Vec<&str> =
                object.iter().filter(|(_, value)| !value.is_function()).map(|(key, _)| key.as_str()).collect();
            if keys.is_empty() {
                format!("{parent_name} has no key `{missing}` (it is empty)")
            } else {
                format!("{parent_name} has no key `{missing}` (its keys: {})", keys.join(", "))
            }
        }
        Some(Value::Array(items)) => format!("{parent_name} has no item `{missing}` (it has {} items)", items.len()),
        Some(other) => {
            let type_name = other.type_name();
            let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            format!("{parent_name} is {article} {type_name}, not an object")
        }
        None => format!("{parent_name} does not exist"),
    };
    format!("no value at `{path}`: {detail}")
}
