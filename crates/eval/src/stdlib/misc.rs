//! bool, type_of, assert, error, print.

use crate::context::expect_arity;
use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::registry::SymbolSpec;
use crate::value::Value;

fn bool_function() -> SymbolSpec {
    SymbolSpec::function("bool", |_ctx, args| {
        expect_arity("bool", args, 1, 1)?;
        Ok(Value::Bool(args[0].is_truthy()))
    })
    .signature("bool(value)")
    .summary("Truthiness: false, null, 0, \"\", [] and {} are false; everything else is true.")
    .example("bool([]) => false")
}

fn type_of() -> SymbolSpec {
    SymbolSpec::function("type_of", |_ctx, args| {
        expect_arity("type_of", args, 1, 1)?;
        Ok(Value::string(args[0].type_name()))
    })
    .signature("type_of(value)")
    .summary("The type's name: null, bool, int, float, string, array, object, range, function, or a plugin type.")
    .example("type_of(1.5) => \"float\"")
}

fn assert() -> SymbolSpec {
    SymbolSpec::function("assert", |_ctx, args| {
        expect_arity("assert", args, 1, 2)?;
        if args[0].is_truthy() {
            return Ok(Value::Bool(true));
        }
        let message = match args.get(1) {
            Some(Value::Str(s)) => s.to_string(),
            Some(other) => other.to_string(),
            None => "the condition is false".to_string(),
        };
        Err(RuntimeError::new(RuntimeErrorKind::AssertionFailed(message)))
    })
    .signature("assert(condition[, message])")
    .summary("Fails with the message unless the condition is truthy; returns true.")
    .example("assert(1 < 2) => true")
}

fn error() -> SymbolSpec {
    SymbolSpec::function("error", |_ctx, args| {
        expect_arity("error", args, 1, 1)?;
        let message = match &args[0] {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        };
        Err(RuntimeError::new(RuntimeErrorKind::Raised(message)))
    })
    .signature("error(message)")
    .summary("Stops evaluation with the message as an error.")
}

fn print() -> SymbolSpec {
    SymbolSpec::function("print", |ctx, args| {
        let text = args
            .iter()
            .map(|value| match value {
                Value::Str(s) => s.to_string(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        ctx.runtime().print(&text);
        Ok(Value::Null)
    })
    .side_effects()
    .signature("print(values…)")
    .summary("Writes the values, separated by spaces, to standard error; returns null.")
}

pub(super) fn specs() -> Vec<SymbolSpec> {
    vec![bool_function(), type_of(), assert(), error(), print()]
}
