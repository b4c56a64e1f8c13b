//! `@stem.tsk.get("a.b")` and `@stem.tsk.set("key", value)`: the compiler turns them into
//! `@tsk.get("stem", "a.b")` and `@tsk.set("stem", "key", value)`. The file `stem.tsk` next to
//! the running file is evaluated once per engine; cycles are errors that print the chain.
//! `set` changes the evaluated document for the rest of the run; it does not write the file.

use crate::context::{CallContext, arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::object::Object;
use crate::path::Path;
use crate::registry::SymbolSpec;
use crate::value::Value;

fn load(ctx: &mut CallContext<'_, '_>, stem: &str) -> Result<(std::path::PathBuf, Object), RuntimeError> {
    let path = ctx.resolve_path(&format!("{stem}.tsk"));
    let document = ctx.evaluate_file(&path)?;
    Ok((path, document))
}

/// `key` as a path, or an error that points at the argument.
fn parse_key(key: &str) -> Result<Path, RuntimeError> {
    Path::parse(key).map_err(|error| RuntimeError::argument(1, error.to_string()))
}

/// The compiler passes the stem as a hidden first argument: messages name the operator as
/// written (`@settings.tsk.get`) and count only the arguments the user wrote.
fn check_user_arity<'a>(args: &'a [Value], operation: &str, min: usize, max: usize) -> Result<&'a str, RuntimeError> {
    let stem = arg_str(args, 0)?;
    let name = format!("@{stem}.tsk.{operation}");
    expect_arity(&name, args.get(1..).unwrap_or_default(), min, max).map_err(|error| error.in_callable(&name))?;
    Ok(stem)
}

pub(super) fn get() -> SymbolSpec {
    SymbolSpec::operator(super::super::compile::CROSS_FILE_GET, |ctx, args| {
        let stem = check_user_arity(args, "get", 1, 2)?;
        let result = (|| -> Result<Value, RuntimeError> {
            let key = parse_key(arg_str(args, 1)?)?;
            let (path, document) = load(ctx, stem)?;
            match key.lookup(&Value::object(document)) {
                Ok(value) => Ok(value),
                Err(error) => match args.get(2) {
                    Some(default) => Ok(default.clone()),
                    None => Err(RuntimeError::message(format!("{}: {error}", path.display()))),
                },
            }
        })();
        result.map_err(|error| error.in_callable(&format!("@{stem}.tsk.get")))
    })
    .signature("@stem.tsk.get(key[, default])")
    .summary("The value at the dotted `key` of `stem.tsk`, evaluated next to the running file.")
}

pub(super) fn set() -> SymbolSpec {
    SymbolSpec::operator(super::super::compile::CROSS_FILE_SET, |ctx, args| {
        let stem = check_user_arity(args, "set", 2, 2)?;
        let result = (|| -> Result<Value, RuntimeError> {
            let key = parse_key(arg_str(args, 1)?)?;
            let (path, mut document) = load(ctx, stem)?;
            key.set(&mut document, args[2].clone()).map_err(|error| RuntimeError::message(format!("{}: {error}", path.display())))?;
            crate::runtime::store_file_document(ctx.runtime(), &path, document);
            Ok(args[2].clone())
        })();
        result.map_err(|error| error.in_callable(&format!("@{stem}.tsk.set")))
    })
    .signature("@stem.tsk.set(key, value)")
    .summary("Sets the dotted `key` of `stem.tsk`'s evaluated document for the rest of the run and returns `value`; the file itself is not written.")
}
