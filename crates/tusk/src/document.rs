//! An evaluated document: an ordered object, with lookups by dotted path and serde.

use serde::de::DeserializeOwned;
use tusk_eval::{DeError, Object, Value};

/// The result of evaluating a file: its top-level object and the warnings.
#[derive(Clone, Debug)]
pub struct Document {
    root: Value,
    warnings: Vec<tusk_diagnostics::Diagnostic>,
}

impl Document {
    pub(crate) fn new(object: Object, warnings: Vec<tusk_diagnostics::Diagnostic>) -> Document {
        Document { root: Value::object(object), warnings }
    }

    /// The whole document as a value (an object).
    pub fn value(&self) -> &Value {
        &self.root
    }

    /// The top-level object.
    pub fn object(&self) -> &Object {
        self.root.as_object().expect("a document is an object")
    }

    /// The value at a dotted path (`"server.port"`; array items by index, `"routes.0.path"`).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut value = &self.root;
        for part in path.split('.').filter(|part| !part.is_empty()) {
            value = match value {
                Value::Object(object) => object.get(part)?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// Deserializes the whole document into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, DeError> {
        tusk_eval::from_value(&self.root)
    }

    /// Warnings found while evaluating (duplicate keys, bare words, compat fallbacks).
    pub fn warnings(&self) -> &[tusk_diagnostics::Diagnostic] {
        &self.warnings
    }
}

/// Deserializing a single value: `document.get("server")?.deserialize::<Server>()`.
pub trait DeserializeValue {
    /// Deserializes the value into `T`.
    fn deserialize<T: DeserializeOwned>(&self) -> Result<T, DeError>;
}

impl DeserializeValue for Value {
    fn deserialize<T: DeserializeOwned>(&self) -> Result<T, DeError> {
        tusk_eval::from_value(self)
    }
}
