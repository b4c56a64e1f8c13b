//! `Value`: the plugin's view of a TuskLang value. Scalars are inline; strings, arrays,
//! objects and functions are references to values that live in the host, so nothing is
//! copied or serialized on the way in. A `Value` the plugin owns releases its reference
//! when dropped; arguments are borrowed (`&[Value]`) for the duration of the call.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::abi::{TValue, tag};
use crate::error::PluginError;
use crate::ffi::{self, UninitBytes};
use crate::owned::OwnedValue;

/// A TuskLang value as a plugin sees it.
///
/// Strings, arrays, objects and functions are references into the host's memory, valid on the
/// interpreter's thread only: a `Value` is neither `Send` nor `Sync`, so the compiler keeps it
/// on the thread that received or made it. To hand data to another thread, copy it into an
/// [`OwnedValue`] ([`Value::to_owned_value`]) and turn it back with [`OwnedValue::into_value`]
/// on the interpreter's thread (during a later call).
///
/// ```
/// use tusk_plugin_sdk::{PluginError, Value};
///
/// fn keep_for_later(value: &Value) -> Result<std::thread::JoinHandle<()>, PluginError> {
///     let owned = value.to_owned_value()?; // plain Rust data: Send + Sync
///     Ok(std::thread::spawn(move || drop(owned)))
/// }
/// ```
///
/// The value itself cannot go to another thread:
///
/// ```compile_fail,E0277
/// use tusk_plugin_sdk::Value;
///
/// fn keep_for_later(value: Value) {
///     std::thread::spawn(move || drop(value)); // `Value` cannot be sent between threads
/// }
/// ```
///
/// Arguments are borrowed for the call: a plugin that keeps one past the call keeps a copy
/// (a clone owns its own reference) …
///
/// ```
/// use std::cell::RefCell;
/// use tusk_plugin_sdk::{PluginContext, PluginError, Value};
///
/// thread_local!(static LAST: RefCell<Option<Value>> = const { RefCell::new(None) });
///
/// fn register(context: &PluginContext) -> Result<(), PluginError> {
///     context.register_function("remember", |args: &[Value]| {
///         LAST.with(|last| *last.borrow_mut() = args.first().cloned());
///         Ok(Value::null())
///     })
/// }
/// ```
///
/// … never the borrowed argument itself:
///
/// ```compile_fail,E0521
/// use std::cell::RefCell;
/// use tusk_plugin_sdk::{PluginContext, PluginError, Value};
///
/// thread_local!(static LAST: RefCell<Option<&'static Value>> = const { RefCell::new(None) });
///
/// fn register(context: &PluginContext) -> Result<(), PluginError> {
///     context.register_function("remember", |args: &[Value]| {
///         LAST.with(|last| *last.borrow_mut() = args.first()); // borrowed only for the call
///         Ok(Value::null())
///     })
/// }
/// ```
///
/// And no safe code makes a `Value` out of raw ABI words (a forged string would read any
/// memory); only the SDK does, in `unsafe` code that knows where the words came from:
///
/// ```compile_fail,E0133
/// use tusk_plugin_sdk::Value;
/// use tusk_plugin_sdk::abi::{TValue, tag};
///
/// let forged = Value::from_raw(TValue::new(tag::STR, 0x10, 8)); // needs `unsafe`
/// ```
///
/// ```no_run
/// use tusk_plugin_sdk::Value;
/// use tusk_plugin_sdk::abi::{TValue, tag};
///
/// // SAFETY: an integer has no pointer or handle to be valid.
/// let seven = unsafe { Value::from_raw(TValue::new(tag::INT, 7, 0)) };
/// assert_eq!(seven.as_int(), Some(7));
/// ```
#[repr(transparent)]
pub struct Value {
    raw: TValue,
    /// Host handles belong to the interpreter's thread: no `Send`, no `Sync`.
    _not_send: PhantomData<*const ()>,
}

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
    /// byte string (ABI 1.7)
    Bytes,
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
    /// A value over `raw`: a scalar, or (in the SDK's `ffi` module only) a handle whose
    /// reference it takes over.
    pub(crate) const fn inline(raw: TValue) -> Value {
        Value { raw, _not_send: PhantomData }
    }

    /// `null`.
    pub fn null() -> Value {
        Value::inline(TValue::NULL)
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        match self.raw.tag {
            tag::BOOL => Kind::Bool,
            tag::INT => Kind::Int,
            tag::FLOAT => Kind::Float,
            tag::STR | tag::STRING => Kind::String,
            tag::BYTES_REF | tag::BYTES => Kind::Bytes,
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
            Kind::Bytes => "bytes",
            Kind::Array => "array",
            Kind::Object => "object",
            Kind::Function => "function",
            Kind::Range => "range",
            Kind::PluginObject => "plugin object",
            Kind::Opaque => "value",
        }
    }

    /// True for `null`.
    #[inline]
    pub fn is_null(&self) -> bool {
        self.raw.tag == tag::NULL
    }

    /// The bool, if this is one.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        (self.raw.tag == tag::BOOL).then_some(self.raw.a != 0)
    }

    /// The integer, if this is one.
    #[inline]
    pub fn as_int(&self) -> Option<i64> {
        (self.raw.tag == tag::INT).then_some(self.raw.a as i64)
    }

    /// The number as a float (integers convert).
    #[inline]
    pub fn as_float(&self) -> Option<f64> {
        match self.raw.tag {
            tag::FLOAT => Some(f64::from_bits(self.raw.a)),
            tag::INT => Some(self.raw.a as i64 as f64),
            _ => None,
        }
    }

    /// The text, if this is a string. Borrowed from the host.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self.raw.tag {
            tag::STR | tag::STRING => Some(ffi::string_view(self)),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string. Borrowed from the host (no copy).
    #[inline]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self.raw.tag {
            tag::BYTES_REF | tag::BYTES => Some(ffi::bytes_view(self)),
            _ => None,
        }
    }

    /// A new byte string holding a copy of `data` (one copy, into the host's memory). A host
    /// older than ABI 1.7 has no byte strings: there it is an array of the bytes as ints.
    pub fn bytes(data: &[u8]) -> Value {
        ffi::make_bytes(data)
    }

    /// A new byte string of `len` bytes, written in place by `fill` into the host's memory, so
    /// that data made for the script (a ciphertext, a file) is never copied. `fill` gets `len`
    /// zero bytes. A host older than ABI 1.7 gets an array of ints, as with [`Value::bytes`].
    pub fn bytes_with(len: usize, fill: impl FnOnce(&mut [u8])) -> Value {
        ffi::make_bytes_with(len, fill)
    }

    /// A new byte string of `before` zero bytes, a copy of `data` and `after` zero bytes,
    /// which `fill` then writes in place, in the host's memory: for data transformed in place
    /// (encrypted, say) with room around it (a nonce before, a tag after). A host of ABI 1.9 or
    /// later writes each byte once, where `bytes_with` and a copy write the data's bytes twice;
    /// an older host gets [`Value::bytes_with`] with the copy.
    pub fn bytes_around(before: usize, data: &[u8], after: usize, fill: impl FnOnce(&mut [u8])) -> Value {
        ffi::make_bytes_around(before, data, after, fill)
    }

    /// A new byte string of at most `capacity` bytes that `fill` writes once, in the host's
    /// memory, with nothing zeroed or copied into it first: for output made from input in one
    /// pass (a cipher writing its ciphertext from the plaintext, say), where
    /// [`Value::bytes_around`] copies the input in and transforms it in place. `fill` gets a
    /// [`UninitBytes`] with nothing written, appends bytes to it (or writes its spare room
    /// through a pointer and declares them with `set_len`); the byte string is what it wrote,
    /// cut to that length. When `fill` fails its error is returned and no byte string is made;
    /// when it panics, the host's bytes are freed and the panic goes on. A host older than ABI
    /// 1.10 gets the same bytes written in the plugin's memory and copied.
    pub fn bytes_uninit<E>(
        capacity: usize,
        fill: impl FnOnce(&mut UninitBytes<'_>) -> Result<(), E>,
    ) -> Result<Value, E> {
        ffi::make_bytes_uninit(capacity, fill)
    }

    /// `start..end` (end excluded), if this is a range.
    pub fn as_range(&self) -> Option<(i64, i64)> {
        (self.raw.tag == tag::RANGE).then_some((self.raw.a as i64, self.raw.b as i64))
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<Array<'_>> {
        (self.raw.tag == tag::ARRAY).then_some(Array { value: self })
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<Object<'_>> {
        (self.raw.tag == tag::OBJECT).then_some(Object { value: self })
    }

    /// Truthiness as the language defines it.
    pub fn is_truthy(&self) -> bool {
        match self.kind() {
            Kind::Null => false,
            Kind::Bool => self.raw.a != 0,
            Kind::Int => self.raw.a != 0,
            Kind::Float => f64::from_bits(self.raw.a) != 0.0,
            Kind::String => !self.as_str().unwrap_or_default().is_empty(),
            Kind::Bytes => !self.as_bytes().unwrap_or_default().is_empty(),
            Kind::Array | Kind::Object => ffi::length(&self.raw) != 0,
            Kind::Range => (self.raw.a as i64) < (self.raw.b as i64),
            Kind::Function | Kind::PluginObject | Kind::Opaque => true,
        }
    }

    /// Calls this value, a script lambda or function, with arguments. A failure inside the
    /// lambda is a [`crate::ErrorKind::Script`] error carrying the script's message.
    pub fn call(&self, args: &[Value]) -> Result<Value, PluginError> {
        if self.raw.tag != tag::FUNCTION {
            return Err(PluginError::invalid_operation(format!("cannot call a {}", self.type_name())));
        }
        ffi::call_function(&self.raw, args)
    }

    /// A deep copy into plain Rust data ([`OwnedValue`], `Send + Sync`), for a thread of the
    /// plugin or for keeping past the call. Functions, plugin objects and other plugins'
    /// values live in the interpreter and cannot be copied: they are an error naming the kind.
    pub fn to_owned_value(&self) -> Result<OwnedValue, PluginError> {
        Ok(match self.kind() {
            Kind::Null => OwnedValue::Null,
            Kind::Bool => OwnedValue::Bool(self.raw.a != 0),
            Kind::Int => OwnedValue::Int(self.raw.a as i64),
            Kind::Float => OwnedValue::Float(f64::from_bits(self.raw.a)),
            Kind::String => OwnedValue::String(self.as_str().unwrap_or_default().to_string()),
            Kind::Range => OwnedValue::Range(self.raw.a as i64, self.raw.b as i64),
            Kind::Bytes => OwnedValue::Bytes(self.as_bytes().unwrap_or_default().to_vec()),
            Kind::Array => OwnedValue::Array(
                self.as_array()
                    .into_iter()
                    .flat_map(|array| array.iter())
                    .map(|item| item.to_owned_value())
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Object => OwnedValue::Object(
                self.as_object()
                    .into_iter()
                    .flat_map(|object| object.entries())
                    .map(|(key, value)| Ok((key.to_string(), value.to_owned_value()?)))
                    .collect::<Result<_, PluginError>>()?,
            ),
            Kind::Function | Kind::PluginObject | Kind::Opaque => {
                return Err(PluginError::message(format!(
                    "a {} cannot be copied out of the interpreter (only null, bool, int, float, string, bytes, array, object and range values can)",
                    self.type_name()
                )));
            }
        })
    }

    /// Wraps an object of the plugin (a connection, a model) so scripts can hold it. The
    /// plugin drops it when the script drops the last reference. `type_name` must be one of
    /// the types the plugin registered.
    pub fn plugin_object<T: Any + Send + Sync>(type_name: &str, object: T) -> Value {
        ffi::new_plugin_object(type_name, Arc::new(object))
    }

    /// The plugin object inside, if this is one of this plugin's objects of type `T`.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        if self.raw.tag != tag::PLUGIN_OBJECT {
            return None;
        }
        ffi::plugin_object(self.raw.b)?.downcast::<T>().ok()
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
        Value::inline(TValue::new(tag::RANGE, start as u64, end as u64))
    }

    /// The raw ABI value, whose host reference (if any) passes to the caller.
    #[doc(hidden)]
    pub fn into_raw(self) -> TValue {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The raw ABI value, borrowed.
    pub(crate) fn raw(&self) -> &TValue {
        &self.raw
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        match self.raw.tag {
            // A borrowed string is only valid for the call: a clone must own its text.
            tag::STR => Value::from(ffi::string_view(self)),
            // A borrowed byte string too.
            tag::BYTES_REF => Value::bytes(ffi::bytes_view(self)),
            _ if self.raw.is_handle() => {
                ffi::retain(&self.raw);
                Value::inline(self.raw)
            }
            _ => Value::inline(self.raw),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.raw.is_handle() {
            ffi::release(&self.raw);
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Null => f.write_str("null"),
            Kind::Bool => write!(f, "{}", self.raw.a != 0),
            Kind::Int => write!(f, "{}", self.raw.a as i64),
            Kind::Float => write!(f, "{:?}", f64::from_bits(self.raw.a)),
            Kind::String => write!(f, "{:?}", self.as_str().unwrap_or_default()),
            Kind::Bytes => write!(f, "b\"{}\"", self.as_bytes().unwrap_or_default().escape_ascii()),
            Kind::Range => write!(f, "{}..{}", self.raw.a as i64, self.raw.b as i64),
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
        Value::inline(TValue::new(tag::BOOL, u64::from(b), 0))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::inline(TValue::new(tag::INT, n as u64, 0))
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
        Value::inline(TValue::new(tag::FLOAT, x.to_bits(), 0))
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

/// A byte string (one copy; see [`Value::bytes`]).
impl From<&[u8]> for Value {
    fn from(data: &[u8]) -> Value {
        Value::bytes(data)
    }
}

/// A byte string (one copy; see [`Value::bytes`]).
impl From<Vec<u8>> for Value {
    fn from(data: Vec<u8>) -> Value {
        Value::bytes(&data)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::array(items)
    }
}

impl From<OwnedValue> for Value {
    fn from(value: OwnedValue) -> Value {
        value.into_value()
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
        ffi::length(&self.value.raw)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `index`.
    pub fn get(&self, index: usize) -> Option<Value> {
        ffi::array_get(&self.value.raw, index)
    }

    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = Value> + use<'a> {
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
        ffi::length(&self.value.raw)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        ffi::object_get(&self.value.raw, key)
    }

    /// Entries in order; keys are borrowed from the host.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, Value)> + use<'a> {
        let value = self.value;
        (0..self.len()).filter_map(move |index| ffi::object_entry(value, index))
    }
}
