//! `Value`: the plugin's view of a TuskLang value. Scalars are inline; strings, arrays,
//! objects and functions are references to values that live in the host, so nothing is
//! copied or serialized on the way in. A `Value` the plugin owns releases its reference
//! when dropped; arguments are borrowed (`&[Value]`) for the duration of the call.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::abi::{TValue, tag};
use crate::error::OperatorError;
use crate::ffi;

/// A TuskLang value as a plugin sees it.
#[repr(transparent)]
pub struct Value(pub(crate) TValue);

/// The kind of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool,
    /// 64-bit integer
    Int,
    /// 64-bit float
    Float,
    /// UTF-8 string
    String,
    /// array
    Array,
    /// object (ordered map with string keys)
    Object,
    /// a lambda or function
    Function,
    /// an integer range
    Range,
    /// an object created by a plugin (a connection, a model)
    PluginObject,
    /// something this SDK version does not know (another plugin's object)
    Opaque,
}

impl Value {
    /// `null`.
    pub fn null() -> Value {
        Value(TValue::NULL)
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        match self.0.tag {
            tag::BOOL => Kind::Bool,
            tag::INT => Kind::Int,
            tag::FLOAT => Kind::Float,
            tag::STR | tag::STRING => Kind::String,
            tag::ARRAY => Kind::Array,
            tag::OBJECT => Kind::Object,
            tag::FUNCTION => Kind::Function,
            tag::RANGE => Kind::Range,
            tag::PLUGIN_OBJECT => Kind::PluginObject,
            tag::NULL => Kind::Null,
            _ => Kind::Opaque,
        }
    }

    /// The type name as scripts see it (`int`, `string`, …).
    pub fn type_name(&self) -> &'static str {
        match self.kind() {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
            Kind::Function => "function",
            Kind::Range => "range",
            Kind::PluginObject => "plugin object",
            Kind::Opaque => "value",
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        self.0.tag == tag::NULL
    }

    /// The bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        (self.0.tag == tag::BOOL).then_some(self.0.a != 0)
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        (self.0.tag == tag::INT).then_some(self.0.a as i64)
    }

    /// The number as a float (integers convert).
    pub fn as_float(&self) -> Option<f64> {
        match self.0.tag {
            tag::FLOAT => Some(f64::from_bits(self.0.a)),
            tag::INT => Some(self.0.a as i64 as f64),
            _ => None,
        }
    }

    /// The text, if this is a string. Borrowed from the host.
    pub fn as_str(&self) -> Option<&str> {
        match self.0.tag {
            tag::STR | tag::STRING => Some(ffi::string_view(&self.0)),
            _ => None,
        }
    }

    /// `start..end` (end excluded), if this is a range.
    pub fn as_range(&self) -> Option<(i64, i64)> {
        (self.0.tag == tag::RANGE).then_some((self.0.a as i64, self.0.b as i64))
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<Array<'_>> {
        (self.0.tag == tag::ARRAY).then_some(Array { value: self })
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<Object<'_>> {
        (self.0.tag == tag::OBJECT).then_some(Object { value: self })
    }

    /// Truthiness as the language defines it.
    pub fn is_truthy(&self) -> bool {
        match self.kind() {
            Kind::Null => false,
            Kind::Bool => self.0.a != 0,
            Kind::Int => self.0.a != 0,
            Kind::Float => f64::from_bits(self.0.a) != 0.0,
            Kind::String => !self.as_str().unwrap_or_default().is_empty(),
            Kind::Array | Kind::Object => ffi::length(&self.0) != 0,
            Kind::Range => (self.0.a as i64) < (self.0.b as i64),
            Kind::Function | Kind::PluginObject | Kind::Opaque => true,
        }
    }

    /// Calls this value, a script lambda or function, with arguments.
    pub fn call(&self, args: &[Value]) -> Result<Value, OperatorError> {
        if self.0.tag != tag::FUNCTION {
            return Err(OperatorError::InvalidOperation(format!("cannot call a {}", self.type_name())));
        }
        ffi::call_function(&self.0, args)
    }

    /// Wraps an object of the plugin (a connection, a model) so scripts can hold it. The
    /// plugin drops it when the script drops the last reference. `type_name` must be one of
    /// the types the plugin registered.
    pub fn plugin_object<T: Any + Send + Sync>(type_name: &str, object: T) -> Value {
        ffi::new_plugin_object(type_name, Arc::new(object))
    }

    /// The plugin object inside, if this is one of this plugin's objects of type `T`.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        if self.0.tag != tag::PLUGIN_OBJECT {
            return None;
        }
        ffi::plugin_object(self.0.b)?.downcast::<T>().ok()
    }

    /// A new array.
    pub fn array(items: Vec<Value>) -> Value {
        ffi::make_array(items)
    }

    /// A new object from key–value pairs (later keys win).
    pub fn object<K: AsRef<str>>(entries: Vec<(K, Value)>) -> Value {
        ffi::make_object(entries)
    }

    /// A range `start..end` (end excluded).
    pub fn range(start: i64, end: i64) -> Value {
        Value(TValue { tag: tag::RANGE, flags: 0, a: start as u64, b: end as u64 })
    }

    /// The raw ABI value (for the plugin host and tests).
    #[doc(hidden)]
    pub fn into_raw(self) -> TValue {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }

    /// Takes ownership of a raw ABI value.
    #[doc(hidden)]
    pub fn from_raw(raw: TValue) -> Value {
        Value(raw)
    }

    /// Borrows a slice of raw ABI values as values.
    #[doc(hidden)]
    pub fn slice_from_raw(raw: &[TValue]) -> &[Value] {
        ffi::values_from_raw(raw)
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        match self.0.tag {
            // A borrowed string is only valid for the call: a clone must own its text.
            tag::STR => Value::from(ffi::string_view(&self.0)),
            _ if self.0.is_handle() => {
                ffi::retain(&self.0);
                Value(self.0)
            }
            _ => Value(self.0),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.0.is_handle() {
            ffi::release(&self.0);
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Null => f.write_str("null"),
            Kind::Bool => write!(f, "{}", self.0.a != 0),
            Kind::Int => write!(f, "{}", self.0.a as i64),
            Kind::Float => write!(f, "{:?}", f64::from_bits(self.0.a)),
            Kind::String => write!(f, "{:?}", self.as_str().unwrap_or_default()),
            Kind::Range => write!(f, "{}..{}", self.0.a as i64, self.0.b as i64),
            Kind::Array => match self.as_array() {
                Some(array) => f.debug_list().entries(array.iter()).finish(),
                None => f.write_str("[]"),
            },
            Kind::Object => match self.as_object() {
                Some(object) => f.debug_map().entries(object.entries()).finish(),
                None => f.write_str("{}"),
            },
            other => write!(f, "<{other:?}>"),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value(TValue { tag: tag::BOOL, flags: 0, a: u64::from(b), b: 0 })
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value(TValue { tag: tag::INT, flags: 0, a: n as u64, b: 0 })
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::from(i64::from(n))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::from(n as i64)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value(TValue { tag: tag::FLOAT, flags: 0, a: x.to_bits(), b: 0 })
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        ffi::make_string(text)
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        ffi::make_string(&text)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::array(items)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or_else(Value::null, Into::into)
    }
}

/// An array value, borrowed.
#[derive(Clone, Copy)]
pub struct Array<'a> {
    value: &'a Value,
}

impl<'a> Array<'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        ffi::length(&self.value.0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `index`.
    pub fn get(&self, index: usize) -> Option<Value> {
        ffi::array_get(&self.value.0, index)
    }

    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = Value> + 'a {
        let array = *self;
        (0..self.len()).filter_map(move |index| array.get(index))
    }
}

/// An object value, borrowed.
#[derive(Clone, Copy)]
pub struct Object<'a> {
    value: &'a Value,
}

impl<'a> Object<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        ffi::length(&self.value.0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        ffi::object_get(&self.value.0, key)
    }

    /// Entries in order; keys are borrowed from the host.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, Value)> + 'a {
        let value = self.value;
        (0..self.len()).filter_map(move |index| ffi::object_entry(&value.0, index))
    }
}
