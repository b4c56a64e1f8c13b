//! Script values as event fields: numbers and booleans stay typed (JSON lines keep them as
//! numbers and booleans), strings stay strings, and everything else (arrays, objects, null,
//! ranges) travels as its JSON text.

use std::fmt;

use tusk_plugin_sdk::{Kind, Value};

use crate::error::LoggingError;

/// At most this many fields per event (besides the message).
pub(crate) const MAX_FIELDS: usize = 32;
/// Nested values deeper than this print as `"…"` (the JSON text stays bounded).
const MAX_DEPTH: usize = 64;

/// One field's value, owned for the duration of the event.
pub(crate) enum FieldValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    /// JSON text, written without quotes in text lines and as a string in JSON lines.
    Json(tracing::field::DebugValue<RawText>),
}

impl FieldValue {
    pub(crate) fn from_value(value: &Value) -> FieldValue {
        match value.kind() {
            Kind::Int => FieldValue::Int(value.as_int().unwrap_or_default()),
            Kind::Float => FieldValue::Float(value.as_float().unwrap_or_default()),
            Kind::Bool => FieldValue::Bool(value.as_bool().unwrap_or_default()),
            Kind::String => FieldValue::Text(value.as_str().unwrap_or_default().to_string()),
            _ => FieldValue::Json(tracing::field::debug(RawText(json_text(value)))),
        }
    }

    /// The value as text: numbers as the text format writes them (`2.0`), JSON as its text.
    pub(crate) fn text(&self) -> String {
        match self {
            FieldValue::Int(n) => n.to_string(),
            FieldValue::Float(x) => format!("{x:?}"),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Text(text) => text.clone(),
            FieldValue::Json(json) => format!("{json:?}"),
        }
    }

    pub(crate) fn as_value(&self) -> &dyn tracing::Value {
        match self {
            FieldValue::Int(n) => n,
            FieldValue::Float(x) => x,
            FieldValue::Bool(b) => b,
            FieldValue::Text(text) => text,
            FieldValue::Json(json) => json,
        }
    }
}

/// Text whose `Debug` form is the text itself (no quotes, no escapes).
pub(crate) struct RawText(pub(crate) String);

impl fmt::Debug for RawText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fields of `@log`'s third argument, in the object's order.
pub(crate) fn from_object(fields: &Value) -> Result<Vec<(String, FieldValue)>, LoggingError> {
    if fields.is_null() {
        return Ok(Vec::new());
    }
    let Some(object) = fields.as_object() else {
        return Err(LoggingError::FieldsNotAnObject { found: fields.type_name() });
    };
    if object.len() > MAX_FIELDS {
        return Err(LoggingError::TooManyFields { max: MAX_FIELDS, found: object.len() });
    }
    object
        .entries()
        .map(|(key, value)| {
            if key == "message" {
                return Err(LoggingError::ReservedField(key.to_string()));
            }
            Ok((key.to_string(), FieldValue::from_value(&value)))
        })
        .collect()
}

/// The message text: strings as they are, other values as their JSON text.
pub(crate) fn message_text(message: &Value) -> String {
    match message.as_str() {
        Some(text) => text.to_string(),
        None => json_text(message),
    }
}

/// The JSON text of a script value (ranges as the language outputs them).
pub(crate) fn json_text(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out, 0);
    out
}

fn write_json(value: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("\"…\"");
        return;
    }
    match value.kind() {
        Kind::Null => out.push_str("null"),
        Kind::Bool => out.push_str(if value.as_bool().unwrap_or_default() { "true" } else { "false" }),
        Kind::Int => out.push_str(&value.as_int().unwrap_or_default().to_string()),
        Kind::Float => {
            let x = value.as_float().unwrap_or_default();
            // JSON has no NaN or infinity; the language prints them as these words.
            if x.is_finite() { out.push_str(&format!("{x:?}")) } else { push_string(out, &format!("{x}")) }
        }
        Kind::String => push_string(out, value.as_str().unwrap_or_default()),
        Kind::Array => {
            out.push('[');
            if let Some(array) = value.as_array() {
                for (index, item) in array.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write_json(&item, out, depth + 1);
                }
            }
            out.push(']');
        }
        Kind::Object => {
            out.push('{');
            if let Some(object) = value.as_object() {
                for (index, (key, item)) in object.entries().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    push_string(out, key);
                    out.push(':');
                    write_json(&item, out, depth + 1);
                }
            }
            out.push('}');
        }
        Kind::Range => {
            let (start, end) = value.as_range().unwrap_or_default();
            out.push_str(&format!("{{\"min\":{start},\"max\":{},\"type\":\"range\"}}", end.saturating_sub(1)));
        }
        Kind::Bytes => push_string(out, &format!("b\"{}\"", value.as_bytes().unwrap_or_default().escape_ascii())),
        Kind::Function | Kind::PluginObject | Kind::Opaque => push_string(out, &format!("<{}>", value.type_name())),
    }
}

fn push_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::from(text).to_string());
}
