//! `@stem.tsk.get("a.b")` and `@stem.tsk.set("key", value)`, and their direct forms
//! `@tsk.get("stem", "a.b")` and `@tsk.set("stem", "key", value)`. The file `stem.tsk` next to
//! the running file is evaluated once per engine; cycles are errors that print the chain.
//! `set` changes the evaluated document for the rest of the run; it does not write the file.
//!
//! The compiler turns `@stem.tsk.get(…)` into a call of [`written_form`], which knows the stem:
//! messages name the operator as written and count (and number) only the arguments written.

use std::rc::Rc;

use crate::context::{CallContext, arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::function::NativeFunction;
use crate::object::Object;
use crate::path::Path;
use crate::registry::SymbolSpec;
use crate::value::{Key, Value};

/// Which of the two operators.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Get,
    Set,
}

impl Operation {
    fn word(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Set => "set",
        }
    }

    /// The arguments after the stem: `key[, default]` or `key, value`.
    fn arity(self) -> (usize, usize) {
        match self {
            Operation::Get => (1, 2),
            Operation::Set => (2, 2),
        }
    }
}

/// The function `@stem.tsk.get(…)` or `@stem.tsk.set(…)` compiles to.
pub(crate) fn written_form(stem: &str, operation: Operation) -> NativeFunction {
    let name = format!("@{stem}.tsk.{}", operation.word());
    let stem = stem.to_string();
    let function_name = name.clone();
    NativeFunction {
        name: Key::new(&name),
        func: Rc::new(move |ctx, args| {
            let (min, max) = operation.arity();
            expect_arity(&function_name, args, min, max).map_err(|error| error.in_callable(&function_name))?;
            run(ctx, &stem, operation, args, 0).map_err(|error| error.in_callable(&function_name))
        }),
    }
}

/// `@tsk.get(stem, key[, default])` and `@tsk.set(stem, key, value)`.
fn direct_form(operation: Operation) -> SymbolSpec {
    let symbol = format!("tsk.{}", operation.word());
    let name = format!("@{symbol}");
    SymbolSpec::operator(&symbol, move |ctx, args| {
        let (min, max) = operation.arity();
        expect_arity(&name, args, min + 1, max + 1).map_err(|error| error.in_callable(&name))?;
        let stem = arg_str(args, 0).map_err(|error| error.in_callable(&name))?;
        run(ctx, stem, operation, args, 1)
            .map_err(|error| error.in_callable(&format!("@{stem}.tsk.{}", operation.word())))
    })
}

/// Does the work; the key is `args[first]` (argument numbers in errors are those of the call).
fn run(
    ctx: &mut CallContext<'_, '_>,
    stem: &str,
    operation: Operation,
    args: &[Value],
    first: usize,
) -> Result<Value, RuntimeError> {
    let key = Path::parse(arg_str(args, first)?).map_err(|error| RuntimeError::argument(first, error.to_string()))?;
    let (path, mut document) = load(ctx, stem)?;
    match operation {
        Operation::Get => match key.lookup(&Value::object(document)) {
            Ok(value) => Ok(value),
            Err(error) => match args.get(first + 1) {
                Some(default) => Ok(default.clone()),
                None => Err(RuntimeError::message(format!("{}: {error}", path.display()))),
            },
        },
        Operation::Set => {
            let value = args[first + 1].clone();
            key.set(&mut document, value.clone())
                .map_err(|error| RuntimeError::message(format!("{}: {error}", path.display())))?;
            crate::runtime::store_file_document(ctx.runtime(), &path, document);
            Ok(value)
        }
    }
}

fn load(ctx: &mut CallContext<'_, '_>, stem: &str) -> Result<(std::path::PathBuf, Object), RuntimeError> {
    let path = ctx.resolve_path(&format!("{stem}.tsk"));
    let document = ctx.evaluate_file(&path)?;
    Ok((path, document))
}

pub(super) fn get() -> SymbolSpec {
    direct_form(Operation::Get)
        .signature("@stem.tsk.get(key[, default])")
        .summary("The value at the path `key` (`a.b`, `list[0]`) of `stem.tsk`, evaluated next to the running file; `@tsk.get(stem, key[, default])` is the same.")
}

pub(super) fn set() -> SymbolSpec {
    direct_form(Operation::Set)
        .signature("@stem.tsk.set(key, value)")
        .summary("Sets the path `key` of `stem.tsk`'s evaluated document for the rest of the run and returns `value`; the file itself is not written. `@tsk.set(stem, key, value)` is the same.")
}
