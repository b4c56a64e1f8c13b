//! Deserializing a document into the embedder's own types (`from_value::<Config>()`).
//! Errors say where in the document they happened (`at server.port: …`).

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::value::{Object, Value, with_stack};

/// Why a document did not fit the requested type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeError {
    message: String,
    path: Vec<String>,
}

impl DeError {
    fn within(mut self, part: String) -> DeError {
        self.path.insert(0, part);
        self
    }

    /// The key path (`["server", "port"]`, array items as `[3]`).
    pub fn path(&self) -> &[String] {
        &self.path
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            return f.write_str(&self.message);
        }
        let mut path = String::new();
        for part in &self.path {
            if !part.starts_with('[') && !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
        }
        write!(f, "at {path}: {}", self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> DeError {
        DeError { message: message.to_string(), path: Vec::new() }
    }
}

/// Deserializes a value into `T`.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, DeError> {
    T::deserialize(ValueDeserializer(value))
}

struct ValueDeserializer<'a>(&'a Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null | Value::Func(_) => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visitor.visit_i64(*n),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_borrowed_str(s.as_str()),
            Value::Bytes(bytes) => visitor.visit_borrowed_bytes(bytes.as_slice()),
            Value::Array(items) => with_stack(|| {
                visitor.visit_seq(Items { items: items.iter().filter(|item| !item.is_function()).collect(), index: 0 })
            }),
            Value::Object(object) => with_stack(|| visitor.visit_map(Entries::new(object))),
            Value::Range(start, end) => visitor
                .visit_map(OwnedRange { fields: vec![("min", *start), ("max", end.saturating_sub(1))], index: 0 }),
            Value::Foreign(foreign) => {
                Err(de::Error::custom(format!("cannot deserialize a {} object", foreign.type_name)))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Object(object) if object.len() == 1 => {
                let (key, value) = object.iter().next().expect("one entry");
                visitor.visit_enum(EnumAccess { variant: key.as_str(), value })
            }
            other => Err(de::Error::custom(format!(
                "expected a string or a one-key object for an enum, found {}",
                other.type_name()
            ))),
        }
    }

    /// A byte string read as a sequence gives its bytes as numbers (`Vec<u8>`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Bytes(bytes) => visitor.visit_seq(de::value::SeqDeserializer::new(bytes.iter().copied())),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Items<'de> {
    items: Vec<&'de Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(item) = self.items.get(self.index) else { return Ok(None) };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(item)).map(Some).map_err(|error| error.within(format!("[{index}]")))
    }
}

struct Entries<'de> {
    entries: Vec<(&'de str, &'de Value)>,
    index: usize,
}

impl<'de> Entries<'de> {
    fn new(object: &'de Object) -> Entries<'de> {
        Entries {
            entries: object.iter().filter(|(_, v)| !v.is_function()).map(|(k, v)| (k.as_str(), v)).collect(),
            index: 0,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.index) else { return Ok(None) };
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = self.entries[self.index];
        self.index += 1;
        seed.deserialize(ValueDeserializer(value)).map_err(|error| error.within(key.to_string()))
    }
}

struct OwnedRange {
    fields: Vec<(&'static str, i64)>,
    index: usize,
}

impl<'de> MapAccess<'de> for OwnedRange {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.fields.get(self.index) else { return Ok(None) };
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (_, value) = self.fields[self.index];
        self.index += 1;
        seed.deserialize(value.into_deserializer())
    }
}

struct EnumAccess<'de> {
    variant: &'de str,
    value: &'de Value,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantAccess<'de>), DeError> {
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::new(self.variant))?;
        Ok((variant, VariantAccess { value: self.value }))
    }
}

struct VariantAccess<'de> {
    value: &'de Value,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(ValueDeserializer(self.value))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(ValueDeserializer(self.value), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(ValueDeserializer(self.value), visitor)
    }
}
