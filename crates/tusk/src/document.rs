//! An evaluated document: an ordered object, with lookups by dotted path and serde.

use serde::de::DeserializeOwned;
use tusk_eval::path::{LookupError, Path};
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

    /// The value stored at a path (`"server.port"`, `"routes[0].path"`, `"a.\"b.c\""`; the
    /// syntax of [`Path`]), or `None` when the path is invalid or names nothing. A range's
    /// `min` and `max` are computed, not stored: [`Document::lookup`] answers them.
    pub fn get(&self, path: &str) -> Option<&Value> {
        Path::parse(path).ok()?.get(&self.root)
    }

    /// The value at a path, as `tusk get` finds it (a range answers `min`, `max` and `type`),
    /// with an error that says which part is missing and what is there.
    pub fn lookup(&self, path: &Path) -> Result<Value, LookupError> {
        path.lookup(&self.root)
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
