//! `OwnedValue`: a value copied out of the host into plain Rust data, for the plugin's own
//! threads and for keeping past a call.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::value::Value;

/// A TuskLang value as plain Rust data: `Send + Sync + Clone`, no host references.
///
/// Made with [`Value::to_owned_value`] on the interpreter's thread; turned back into a
/// [`Value`] with [`OwnedValue::into_value`] (or `Value::from`), again on the interpreter's
/// thread, during a call or `initialize`.
///
/// With serde it reads and writes the shapes of a TuskLang document as JSON has them:
/// objects keep their key order, and a range is written as the document writes it,
/// `{"min": start, "max": end - 1, "type": "range"}` (it reads back as that object), and a
/// byte string is written as the document writes it too, as its standard base64 text with
/// padding (it reads back as that string: JSON has no byte strings).
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// 64-bit integer
    Int(i64),
    /// 64-bit float
    Float(f64),
    /// UTF-8 string
    String(String),
    /// array
    Array(Vec<OwnedValue>),
    /// object: entries in order, keys unique
    Object(Vec<(String, OwnedValue)>),
    /// the integer range `start..end` (end excluded)
    Range(i64, i64),
    /// a byte string: any bytes. With serde it is its standard base64 text with padding, as
    /// JSON output writes byte strings, and reads back as that text (a `String`).
    Bytes(Vec<u8>),
}

impl OwnedValue {
    /// Makes the host value (on the interpreter's thread: the host builds strings, arrays and
    /// objects).
    pub fn into_value(self) -> Value {
        match self {
            OwnedValue::Null => Value::null(),
            OwnedValue::Bool(b) => Value::from(b),
            OwnedValue::Int(n) => Value::from(n),
            OwnedValue::Float(x) => Value::from(x),
            OwnedValue::String(text) => Value::from(text),
            OwnedValue::Array(items) => Value::array(items.into_iter().map(OwnedValue::into_value).collect()),
            OwnedValue::Object(entries) => {
                Value::object(entries.into_iter().map(|(key, value)| (key, value.into_value())).collect())
            }
            OwnedValue::Range(start, end) => Value::range(start, end),
            OwnedValue::Bytes(data) => Value::bytes(&data),
        }
    }
}

impl Serialize for OwnedValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OwnedValue::Null => serializer.serialize_unit(),
            OwnedValue::Bool(b) => serializer.serialize_bool(*b),
            OwnedValue::Int(n) => serializer.serialize_i64(*n),
            OwnedValue::Float(x) => serializer.serialize_f64(*x),
            OwnedValue::String(text) => serializer.serialize_str(text),
            OwnedValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OwnedValue::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            OwnedValue::Range(start, end) => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("min", start)?;
                map.serialize_entry("max", &end.saturating_sub(1))?;
                map.serialize_entry("type", "range")?;
                map.end()
            }
            OwnedValue::Bytes(data) => serializer.serialize_str(&STANDARD.encode(data)),
        }
    }
}

impl<'de> Deserialize<'de> for OwnedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OwnedValue, D::Error> {
        deserializer.deserialize_any(OwnedValueVisitor)
    }
}

struct OwnedValueVisitor;

impl<'de> Visitor<'de> for OwnedValueVisitor {
    type Value = OwnedValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TuskLang value (null, bool, number, string, array or object)")
    }

    fn visit_unit<E>(self) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Null)
    }

    fn visit_none<E>(self) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<OwnedValue, D::Error> {
        OwnedValue::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Int(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<OwnedValue, E> {
        // Integers beyond i64 become floats, as TuskLang reads such numbers.
        Ok(i64::try_from(n).map_or(OwnedValue::Float(n as f64), OwnedValue::Int))
    }

    fn visit_f64<E>(self, x: f64) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Float(x))
    }

    fn visit_str<E>(self, text: &str) -> Result<OwnedValue, E> {
        Ok(OwnedValue::String(text.to_string()))
    }

    fn visit_string<E>(self, text: String) -> Result<OwnedValue, E> {
        Ok(OwnedValue::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OwnedValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OwnedValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OwnedValue, A::Error> {
        let mut entries: Vec<(String, OwnedValue)> = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some((key, value)) = map.next_entry::<String, OwnedValue>()? {
            // Later keys win, in the first key's position (as TuskLang objects do).
            match entries.iter_mut().find(|(existing, _)| *existing == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(OwnedValue::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn owned_values_cross_threads() {
        assert_send_sync_clone::<OwnedValue>();
        let value = OwnedValue::Array(vec![OwnedValue::Int(1), OwnedValue::String("two".into())]);
        let copy = value.clone();
        assert_eq!(std::thread::spawn(move || copy).join().unwrap(), value);
    }

    #[test]
    fn serde_writes_and_reads_document_shapes() {
        let value = OwnedValue::Object(vec![
            ("name".into(), OwnedValue::String("tusk".into())),
            ("ports".into(), OwnedValue::Array(vec![OwnedValue::Int(80), OwnedValue::Float(1.5)])),
            ("off".into(), OwnedValue::Null),
            ("on".into(), OwnedValue::Bool(true)),
            ("span".into(), OwnedValue::Range(1, 4)),
        ]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(
            json,
            r#"{"name":"tusk","ports":[80,1.5],"off":null,"on":true,"span":{"min":1,"max":3,"type":"range"}}"#
        );
        let back: OwnedValue = serde_json::from_str(&json).unwrap();
        let OwnedValue::Object(entries) = back else { panic!("not an object: {back:?}") };
        assert_eq!(entries[0], ("name".to_string(), OwnedValue::String("tusk".into())));
        assert_eq!(
            entries[4].1,
            OwnedValue::Object(vec![
                ("min".into(), OwnedValue::Int(1)),
                ("max".into(), OwnedValue::Int(3)),
                ("type".into(), OwnedValue::String("range".into())),
            ])
        );
    }

    #[test]
    fn serde_writes_bytes_as_base64_text() {
        let cases: [(&[u8], &str); 5] =
            [(b"", ""), (b"t", "dA=="), (b"tu", "dHU="), (b"tusk", "dHVzaw=="), (&[0, 255, 128, 10], "AP+ACg==")];
        for (data, text) in cases {
            assert_eq!(serde_json::to_string(&OwnedValue::Bytes(data.to_vec())).unwrap(), format!("\"{text}\""));
        }
        let back: OwnedValue = serde_json::from_str("\"dHVzaw==\"").unwrap();
        assert_eq!(back, OwnedValue::String("dHVzaw==".into()));
    }

    #[test]
    fn later_keys_win_in_the_first_position() {
        let back: OwnedValue = serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(back, OwnedValue::Object(vec![("a".into(), OwnedValue::Int(3)), ("b".into(), OwnedValue::Int(2))]));
    }
}
