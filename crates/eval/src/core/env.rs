//! `@env(name, default)`.

use crate::context::{arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::registry::SymbolSpec;
use crate::value::Value;

pub(super) fn env() -> SymbolSpec {
    SymbolSpec::operator("env", |_ctx, args| {
        expect_arity("@env", args, 1, 2)?;
        let name = arg_str(args, 0)?;
        let default = args.get(1).cloned().unwrap_or(Value::Null);
        let Ok(text) = std::env::var(name) else { return Ok(default) };
        convert_like(&text, &default)
    })
    .signature("@env(name, default)")
    .summary("The environment variable `name`, or `default` when it is unset. When the default is a number or a bool, the variable's text is converted to that type.")
    .example("@env(\"TUSK_SURELY_UNSET\", 8080) => 8080")
}

/// Converts the variable's text to the default's type, so `@env("PORT", 8080)` is a number.
fn convert_like(text: &str, default: &Value) -> Result<Value, RuntimeError> {
    let convert_error = |what: &str| {
        RuntimeError::message(format!("the variable holds {text:?}, which is not {what} like its default"))
    };
    Ok(match default {
        Value::Int(_) => Value::Int(text.trim().parse().map_err(|_| convert_error("an integer"))?),
        Value::Float(_) => Value::Float(text.trim().parse().map_err(|_| convert_error("a number"))?),
        Value::Bool(_) => match text.trim() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" | "" => Value::Bool(false),
            _ => {
                return Err(convert_error("a bool").with_help(
                    "a bool variable is `true`, `1`, `yes` or `on`, or `false`, `0`, `no`, `off` or empty (lowercase)",
                ));
            }
        },
        _ => Value::string(text),
    })
}
