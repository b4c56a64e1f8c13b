//! Everything the CLI writes: documents in the four formats, values for `get`, `eval` and the
//! REPL, and the terminal checks behind `--color`.
//!
//! Standard output is written with `write_all` rather than `println!`, so a closed pipe
//! (`tusk big.tsk | head`) comes back as an error that `main` turns into exit code 0 instead of
//! a panic.

use std::io::{IsTerminal, Write};

use tusk::Value;
use tusk::format::FormatError;

use crate::cli::{ColorChoice, Format, OutputArgs};

/// Writes `text` to standard output, ending it with a newline if it has none.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

/// Writes diagnostics and messages to standard error. A closed standard error is ignored:
/// there is nowhere left to report it.
pub fn write_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// Replaces the file at `path` with `text` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over it, so a reader never sees half a file and a crash
/// leaves the old one. The file keeps its permissions.
pub fn write_file_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    temporary.write_all(text.as_bytes())?;
    if let Ok(metadata) = std::fs::metadata(path) {
        temporary.as_file().set_permissions(metadata.permissions())?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// True when the error comes from writing into a pipe whose reader has gone.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Colour for a stream. `--color always` and `never` decide; `auto` follows the conventions,
/// in this order: `NO_COLOR` (set and not empty) means none; `CLICOLOR_FORCE` (set and not
/// `0`) means colour even into a pipe; `CLICOLOR=0` or `TERM=dumb` means none; else colour
/// when the stream is a terminal.
pub fn use_color(choice: ColorChoice, stream_is_terminal: bool) -> bool {
    let variable = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if variable("NO_COLOR").is_some() => false,
        ColorChoice::Auto if variable("CLICOLOR_FORCE").is_some_and(|value| value != "0") => true,
        ColorChoice::Auto => {
            stream_is_terminal
                && variable("CLICOLOR").is_none_or(|value| value != "0")
                && variable("TERM").is_none_or(|value| value != "dumb")
        }
    }
}

/// True when standard error is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A value in the requested format. With `raw_strings` and no explicit format, a string value
/// is its bare text, which is what shell scripts want from `tusk get` and `tusk eval`.
pub fn format_value(value: &Value, output: &OutputArgs, raw_strings: bool) -> Result<String, FormatError> {
    if let (Value::Str(text), None, true) = (value, output.format, raw_strings) {
        return Ok(text.to_string());
    }
    match output.format.unwrap_or(Format::Json) {
        Format::Json => tusk::format::to_json(value, output.compact),
        Format::Yaml => tusk::format::to_yaml(value),
        Format::Toml => tusk::format::to_toml(value),
        Format::Flat => tusk::format::to_flat(value),
        Format::Tusk => tusk::format::to_tusk(value),
    }
}

/// Writes a value as JSON straight to standard output, when JSON is what the arguments ask for
/// (`None` otherwise): a big document is not first built as one string. The outer error is a
/// value JSON cannot hold (nothing was written), the inner one a failure to write.
pub fn write_json_stdout(
    value: &Value,
    output: &OutputArgs,
    raw_strings: bool,
) -> Option<Result<std::io::Result<()>, FormatError>> {
    let raw_string = raw_strings && output.format.is_none() && matches!(value, Value::Str(_));
    if raw_string || output.format.unwrap_or(Format::Json) != Format::Json {
        return None;
    }
    // The writer hands over its text in 64 KiB pieces. Standard output is line-buffered, and
    // its line writer looks for the last line break of every piece it is given (a scan of the
    // whole piece when, as in compact JSON, there is none), so the pieces go to the same file
    // through a duplicate of its descriptor instead, with standard output locked meanwhile.
    let mut stdout = std::io::stdout().lock();
    let mut out: Box<dyn Write> = match stdout.flush().ok().and_then(|()| unbuffered_stdout(&stdout)) {
        Some(file) => Box::new(file),
        None => Box::new(std::io::BufWriter::with_capacity(1 << 16, &mut stdout)),
    };
    Some(tusk::format::write_json(value, output.compact, &mut out).map(|written| {
        written?;
        out.write_all(b"\n")?;
        out.flush()
    }))
}

/// Standard output's file, written without the line writer in front of it (`None` where the
/// descriptor cannot be duplicated).
#[cfg(unix)]
fn unbuffered_stdout(stdout: &std::io::StdoutLock<'_>) -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    stdout.as_fd().try_clone_to_owned().ok().map(std::fs::File::from)
}

#[cfg(not(unix))]
fn unbuffered_stdout(_: &std::io::StdoutLock<'_>) -> Option<std::fs::File> {
    None
}

/// A diagnostic as a JSON object (`tusk check --format json`): severity, code, message, the
/// primary label's place (`file`, 1-based `line` and `column` in characters, `end_line`,
/// `end_column`, byte `start` and `end`; all `null` for a diagnostic without a place), every
/// label with its place and message (`primary` true for the first), notes and help.
pub fn diagnostic_json(diagnostic: &tusk::Diagnostic, sources: &tusk::SourceMap) -> serde_json::Value {
    use serde_json::json;
    let place = |location: &tusk::Location| {
        let Some(file) = sources.try_get(location.source) else { return json!({}) };
        let (line, column) = file.line_col(location.span.start);
        let (end_line, end_column) = file.line_col(location.span.end);
        json!({
            "file": file.name, "line": line, "column": column, "end_line": end_line, "end_column": end_column,
            "start": location.span.start, "end": location.span.end,
        })
    };
    let mut labels = Vec::new();
    for (label, primary) in
        diagnostic.primary.iter().map(|l| (l, true)).chain(diagnostic.secondary.iter().map(|l| (l, false)))
    {
        let mut object = place(&label.location);
        object["message"] = json!(label.message);
        object["primary"] = json!(primary);
        labels.push(object);
    }
    let mut object = match &diagnostic.primary {
        Some(label) => place(&label.location),
        None => json!({"file": null, "line": null, "column": null, "end_line": null, "end_column": null,
                       "start": null, "end": null}),
    };
    let fields = [
        ("severity", json!(if diagnostic.is_error() { "error" } else { "warning" })),
        ("code", json!(diagnostic.code)),
        ("message", json!(diagnostic.message)),
        ("labels", json!(labels)),
        ("notes", json!(diagnostic.notes)),
        ("help", json!(diagnostic.help)),
    ];
    for (key, value) in fields {
        object[key] = value;
    }
    object
}

/// How the REPL shows a value: strings quoted as JSON (so `"1"` and `1` look different), every
/// other value in its display form (`[1, "a"]`, `{"a": 1}`, `<function f>`, `1-5`).
pub fn repl_display(value: &Value) -> String {
    match value {
        Value::Str(text) => serde_json::to_string(text.as_str()).unwrap_or_default(),
        other => other.to_string(),
    }
}
