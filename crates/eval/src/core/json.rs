//! `@json(value)` and `@json.parse(text)`.

use std::fmt;
use std::rc::Rc;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::context::{arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::object::Object;
use crate::registry::SymbolSpec;
use crate::value::{Key, Text, Value};

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
        let value =
            from_json_text(text).map_err(|error| RuntimeError::argument(0, format!("invalid JSON: {error}")))?;
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

/// Parses JSON text straight into a value: the same value as [`from_json`] of the parsed
/// `serde_json::Value` (key order kept, a repeated key's last value in its first place, an
/// integer beyond `i64` a float), without building that tree first. The event loop hands
/// plugins' posted arguments to script functions through it, once per request of a server.
pub fn from_json_text(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = ValueSeed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(i64::try_from(n).map_or(Value::Float(n as f64), Value::Int))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(Text::new(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(ValueSeed)? {
            items.push(item);
        }
        Ok(Value::Array(Rc::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Object::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ValueSeed)?;
            object.insert(key, value);
        }
        Ok(Value::object(object))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<Key, E> {
        Ok(Key::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parses_to_the_value_of_the_parsed_tree() {
        for text in [
            r#"{"b": 1, "a": [true, null, 2.5, -3, "x\u00e9"], "c": {"d": {}}, "e": []}"#,
            r#"{"k": 1, "other": 2, "k": 3}"#,
            "18446744073709551615",
            "-9223372036854775808",
            r#""plain""#,
            "[[[1]], {\"a\": [{}]}]",
        ] {
            let direct = from_json_text(text).unwrap();
            let through_tree = from_json(serde_json::from_str(text).unwrap());
            assert!(direct.deep_eq(&through_tree), "{text}: {direct:?} != {through_tree:?}");
            assert_eq!(serde_json::to_string(&direct).unwrap(), serde_json::to_string(&through_tree).unwrap());
        }
        assert!(
            matches!(from_json_text("18446744073709551615").unwrap(), Value::Float(x) if x == 18446744073709551615.0)
        );
        assert_eq!(
            serde_json::to_string(&from_json_text(r#"{"k": 1, "o": 2, "k": 3}"#).unwrap()).unwrap(),
            r#"{"k":3,"o":2}"#
        );
    }

    #[test]
    fn bad_text_gives_serde_json_errors() {
        assert_eq!(from_json_text("[1,").unwrap_err().to_string(), "EOF while parsing a value at line 1 column 3");
        assert_eq!(from_json_text("1 2").unwrap_err().to_string(), "trailing characters at line 1 column 3");
        assert_eq!(from_json_text("{1: 2}").unwrap_err().to_string(), "key must be a string at line 1 column 2");
    }
}
