//! `@file(path)`, `@file.read(path)`, `@file.exists(path)`, `@file.write(path, text)`.
//! Relative paths are relative to the running file's directory. Writes are atomic: a
//! temporary file in the same directory, then a rename.

use std::io::{Read, Write};

use crate::context::{CallContext, arg_str, expect_arity};
use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::registry::SymbolSpec;
use crate::value::Value;

fn read(ctx: &mut CallContext<'_, '_>, args: &[Value], name: &str) -> Result<Value, RuntimeError> {
    expect_arity(name, args, 1, 1)?;
    let path = ctx.resolve_path(arg_str(args, 0)?);
    let io_error = |error: std::io::Error| {
        RuntimeError::new(RuntimeErrorKind::Io(format!("cannot read {}: {error}", path.display())))
    };
    // Read one byte past the string limit and no further: a path may name something endless
    // (`/dev/zero`, a pipe), which would otherwise be read until memory runs out.
    let limit = ctx.limits().max_string_bytes;
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|file| file.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(io_error)?;
    // The size first: the cut may have split a character.
    ctx.check_string_len(bytes.len())?;
    let text = String::from_utf8(bytes)
        .map_err(|_| io_error(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text")))?;
    Ok(Value::from(text))
}

pub(super) fn file() -> SymbolSpec {
    SymbolSpec::operator("file", |ctx, args| read(ctx, args, "@file"))
        .signature("@file(path)")
        .summary("The text of a file (same as `@file.read`).")
}

pub(super) fn file_read() -> SymbolSpec {
    SymbolSpec::operator("file.read", |ctx, args| read(ctx, args, "@file.read"))
        .signature("@file.read(path)")
        .summary("The text of a file, relative to the script's directory.")
}

pub(super) fn file_exists() -> SymbolSpec {
    SymbolSpec::operator("file.exists", |ctx, args| {
        expect_arity("@file.exists", args, 1, 1)?;
        Ok(Value::Bool(ctx.resolve_path(arg_str(args, 0)?).exists()))
    })
    .signature("@file.exists(path)")
    .summary("True if the path exists.")
    .example("@file.exists(\"/surely/not/here\") => false")
}

pub(super) fn file_write() -> SymbolSpec {
    SymbolSpec::operator("file.write", |ctx, args| {
        expect_arity("@file.write", args, 2, 2)?;
        let path = ctx.resolve_path(arg_str(args, 0)?);
        let text = match &args[1] {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        };
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let io_error = |error: std::io::Error| {
            RuntimeError::new(RuntimeErrorKind::Io(format!("cannot write {}: {error}", path.display())))
        };
        let mut temp = tempfile::NamedTempFile::new_in(&directory).map_err(io_error)?;
        temp.write_all(text.as_bytes()).map_err(io_error)?;
        temp.as_file().sync_all().map_err(io_error)?;
        temp.persist(&path).map_err(|error| io_error(error.error))?;
        Ok(Value::Int(text.len() as i64))
    })
    .side_effects()
    .signature("@file.write(path, text)")
    .summary("Writes `text` to the file atomically (temporary file, then rename); returns the number of bytes.")
}
