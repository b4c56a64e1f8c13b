//! `@if(condition, then, else)` and `@variable(name[, value])`.

use crate::context::{arg_str, expect_arity};
use crate::registry::SymbolSpec;
use crate::value::Value;

pub(super) fn if_operator() -> SymbolSpec {
    SymbolSpec::operator("if", |ctx, args| {
        expect_arity("@if", args, 1, 3)?;
        if args.len() == 1 {
            // `@if(c ? a : b)`, the reference SDKs' form: the ternary did the work.
            return ctx.call(&args[0], &[]);
        }
        let condition = ctx.call(&args[0], &[])?;
        if condition.is_truthy() {
            ctx.call(&args[1], &[])
        } else if let Some(otherwise) = args.get(2) {
            ctx.call(otherwise, &[])
        } else {
            Ok(Value::Null)
        }
    })
    .lazy_argument(0)
    .lazy_argument(1)
    .lazy_argument(2)
    .signature("@if(condition, then, else)")
    .summary("`then` if the condition is truthy, else `else` (or null); only the chosen branch is evaluated.")
    .example("@if(1 < 2, \"yes\", \"no\") => \"yes\"")
}

pub(super) fn variable() -> SymbolSpec {
    SymbolSpec::operator("variable", |ctx, args| {
        expect_arity("@variable", args, 1, 2)?;
        let name = arg_str(args, 0)?;
        let name = name.strip_prefix('$').unwrap_or(name);
        match args.get(1) {
            Some(value) => {
                ctx.module().set_global(name, value.clone());
                Ok(value.clone())
            }
            None => Ok(ctx.module().global(name).unwrap_or(Value::Null)),
        }
    })
    .signature("@variable(name[, value])")
    .summary("Reads the global variable `$name`, or sets it to `value` and returns the value.")
    .example("@variable(\"answer\", 42) => 42")
}
