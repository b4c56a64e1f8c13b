//! How TuskLang values are stored in Redis, and how stored text reads back.
//!
//! The rule, chosen so that other Redis clients see ordinary data and every value reads back
//! as it was written:
//! - A string is stored as its own text, unless that text would read back as something else
//!   (it is JSON: `42`, `true`, `[1]`, `"quoted"`, `null`); then it is stored as a JSON string
//!   (`"42"` with its quotes).
//! - Every other value (integers, floats, booleans, null, arrays, objects) is stored as JSON
//!   text: `42`, `2.5`, `true`, `{"a":[1]}`.
//! - Reading: text that is JSON is that JSON value; any other text is a string.
//!
//! So `INCR` works on integers a script stored, a number another client stored reads back as a
//! number, and a string that looks like a number stays a string.

use tusk_plugin_sdk::{Kind, OwnedValue, PluginError, Value};

/// The text stored for `value`; `what` names it in errors (`value`, `field "a"`).
pub(crate) fn encode(value: &Value, what: &str) -> Result<String, PluginError> {
    if let Some(text) = value.as_str() {
        return Ok(if may_be_json(text) && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            serde_json::to_string(text).unwrap_or_default()
        } else {
            text.to_string()
        });
    }
    let owned = storable(value, what)?;
    serde_json::to_string(&owned).map_err(|error| PluginError::message(format!("{what}: {error}")))
}

/// `value` as plain data that JSON carries exactly, or an error saying why not.
pub(crate) fn storable(value: &Value, what: &str) -> Result<OwnedValue, PluginError> {
    match value.kind() {
        Kind::Function | Kind::PluginObject | Kind::Opaque => {
            return Err(PluginError::message(format!("{what}: a {} cannot be stored in Redis", value.type_name()))
                .with_help("store data: strings, numbers, booleans, null, arrays and objects"));
        }
        _ => {}
    }
    let owned = value.to_owned_value().map_err(|error| {
        PluginError::message(format!("{what}: cannot be stored in Redis: {}", error.message_text()))
    })?;
    check(&owned, what)?;
    Ok(owned)
}

fn check(value: &OwnedValue, what: &str) -> Result<(), PluginError> {
    match value {
        OwnedValue::Float(x) if !x.is_finite() => Err(PluginError::message(format!(
            "{what}: the float {x} cannot be stored in Redis (JSON has no NaN or infinity)"
        ))),
        OwnedValue::Range(start, end) => {
            Err(PluginError::message(format!("{what}: the range {start}..{end} cannot be stored in Redis as a range"))
                .with_help("store an array instead: map(range, x => x)"))
        }
        // Stored values are JSON, where a byte string would be base64 text that reads back
        // as a string: refused rather than changed on the way.
        OwnedValue::Bytes(_) => Err(PluginError::message(format!("{what}: a byte string cannot be stored in Redis"))
            .with_help("store its text instead: base64(value) (from_base64 reads it back)")),
        OwnedValue::Array(items) => items.iter().try_for_each(|item| check(item, what)),
        OwnedValue::Object(entries) => entries.iter().try_for_each(|(_, item)| check(item, what)),
        _ => Ok(()),
    }
}

/// Whether `text` can be JSON at all: its first non-space character starts a JSON value. A
/// cheap test that spares parsing most ordinary strings.
fn may_be_json(text: &str) -> bool {
    matches!(
        text.trim_start_matches([' ', '\t', '\n', '\r']).as_bytes().first(),
        Some(b'{' | b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9')
    )
}

/// The value stored text reads back as.
pub(crate) fn decode_text(text: &str) -> Value {
    if may_be_json(text)
        && let Ok(owned) = serde_json::from_str::<OwnedValue>(text)
    {
        return owned.into_value();
    }
    Value::from(text)
}

/// The plain value stored bytes read back as (for a thread of the plugin, which cannot make
/// host values); bytes that are not UTF-8 are an error holding their length.
pub(crate) fn decode_owned(bytes: &[u8]) -> Result<OwnedValue, usize> {
    let text = std::str::from_utf8(bytes).map_err(|_| bytes.len())?;
    if may_be_json(text)
        && let Ok(owned) = serde_json::from_str::<OwnedValue>(text)
    {
        return Ok(owned);
    }
    Ok(OwnedValue::String(text.to_string()))
}

/// The value stored bytes read back as; bytes that are not UTF-8 are an error naming `what`.
pub(crate) fn decode_bytes(bytes: &[u8], what: &dyn Fn() -> String) -> Result<Value, PluginError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(decode_text(text)),
        Err(_) => Err(PluginError::message(format!(
            "{} holds {} bytes that are not UTF-8 text, which TuskLang strings cannot hold",
            what(),
            bytes.len()
        ))),
    }
}

/// A command argument as written in `@redis.command` / pipelines: strings verbatim, numbers
/// as decimal text, other values as JSON.
pub(crate) fn argument(value: &Value, what: &str) -> Result<String, PluginError> {
    if let Some(text) = value.as_str() {
        return Ok(text.to_string());
    }
    if let Some(n) = value.as_int() {
        return Ok(n.to_string());
    }
    if value.kind() == Kind::Float {
        let x = value.as_float().unwrap_or_default();
        if !x.is_finite() {
            return Err(PluginError::message(format!("{what}: {x} is not a number Redis accepts")));
        }
        return Ok(x.to_string());
    }
    let owned = storable(value, what)?;
    Ok(serde_json::to_string(&owned).unwrap_or_default())
}

/// A TuskLang value for a reply; bulk strings are read by the rule above.
pub(crate) fn reply(value: redis::Value, what: &dyn Fn() -> String) -> Result<Value, PluginError> {
    Ok(match value {
        redis::Value::Nil => Value::null(),
        redis::Value::Int(n) => Value::from(n),
        redis::Value::BulkString(bytes) => decode_bytes(&bytes, what)?,
        redis::Value::SimpleString(text) => Value::from(text),
        redis::Value::Okay => Value::from("OK"),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Value::array(items.into_iter().map(|item| reply(item, what)).collect::<Result<_, _>>()?)
        }
        redis::Value::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                out.push((key_text(key, what)?, reply(value, what)?));
            }
            Value::object(out)
        }
        redis::Value::Attribute { data, .. } => reply(*data, what)?,
        redis::Value::Double(x) => Value::from(x),
        redis::Value::Boolean(b) => Value::from(b),
        redis::Value::VerbatimString { text, .. } => Value::from(text),
        redis::Value::ServerError(error) => return Err(PluginError::message(format!("{}: {error}", what()))),
        other => Value::from(format!("{other:?}")),
    })
}

/// A key or field name of a reply, as text.
pub(crate) fn key_text(value: redis::Value, what: &dyn Fn() -> String) -> Result<String, PluginError> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes)
            .map_err(|_| PluginError::message(format!("{}: a key or field name is not UTF-8 text", what()))),
        redis::Value::SimpleString(text) => Ok(text),
        redis::Value::Int(n) => Ok(n.to_string()),
        other => Err(PluginError::message(format!("{}: unexpected name {other:?}", what()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_detection_is_cheap_and_exact() {
        assert!(!may_be_json("hello"));
        assert!(!may_be_json(""));
        assert!(may_be_json(" 42"));
        assert!(may_be_json("true"));
        assert!(may_be_json("{\"a\":1}"));
        // `t` starts JSON but "tusk" is not JSON: it is stored as is.
        assert!(may_be_json("tusk") && serde_json::from_str::<serde_json::Value>("tusk").is_err());
    }

    #[test]
    fn byte_strings_are_refused_not_turned_into_text() {
        let nested = OwnedValue::Array(vec![OwnedValue::Int(1), OwnedValue::Bytes(vec![0, 255])]);
        let error = check(&nested, "set").unwrap_err();
        assert_eq!(error.message_text(), "set: a byte string cannot be stored in Redis");
    }
}
