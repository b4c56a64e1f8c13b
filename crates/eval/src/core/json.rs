//! `@json(value)` and `@json.parse(text)`.

use std::rc::Rc;

use crate::context::{arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::object::Object;
use crate::registry::SymbolSpec;
use crate::value::{Key, Value};

pub(super) fn json() -> SymbolSpec {
    SymbolSpec::operator("json", |_ctx, args| {
        expect_arity("@json", args, 1, 1)?;
        serde_json::to_string(&args[0]).map(Value::from).map_err(|error| RuntimeError::message(error.to_string()))
    })
    .signature("@json(value)")
    .summary("The value as compact JSON text.")
    .example("@json({a: [1, true]}) => \"{\\\"a\\\":[1,true]}\"")
}

pub(super) fn json_parse() -> SymbolSpec {
    SymbolSpec::operator("json.parse", |ctx, args| {
        expect_arity("@json.parse", args, 1, 1)?;
        let text = arg_str(args, 0)?;
        let parsed: serde_json::Value =
            serde_json::from_str(text).map_err(|error| RuntimeError::argument(0, format!("invalid JSON: {error}")))?;
        let value = from_json(parsed);
        if let Value::Array(items) = &value {
            ctx.check_collection_len(items.len())?;
        }
        Ok(value)
    })
    .signature("@json.parse(text)")
    .summary("Parses JSON text into a value.")
    .example("@json.parse(\"[1, 2.5, null]\") => [1, 2.5, null]")
}

/// Converts parsed JSON into a value (used by `@json.parse` and embedders).
pub fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(items) => Value::Array(Rc::new(items.into_iter().map(from_json).collect())),
        serde_json::Value::Object(map) => {
            let object: Object = map.into_iter().map(|(k, v)| (Key::from(k), from_json(v))).collect();
            Value::object(object)
        }
    }
}
