//! Conversions between script values and Rust types: the arguments and results of typed
//! functions ([`Engine::register_fn`](crate::Engine::register_fn)) and the values of a
//! [`Scope`](crate::Scope).
//!
//! | Rust | script value |
//! |---|---|
//! | `i64`, `i32`, `u8`, … | `int` (a float without fraction is accepted; the range is checked) |
//! | `f64`, `f32` | `float` or `int` |
//! | `bool` | `bool` |
//! | `String`, `&str` (argument only) | `string` |
//! | [`Bytes`], `&[u8]` (argument only) | `bytes` (`Bytes::from(vec)` makes one of a `Vec<u8>`) |
//! | `Vec<T>` | `array` (`Vec<u8>` too: an array of ints, as for every `T`) |
//! | `Option<T>` | `null` or a `T`; a trailing `Option` argument may be left out |
//! | `HashMap<String, T>`, `BTreeMap<String, T>` | `object` |
//! | [`Serde<T>`] | any value that fits `T` through serde |
//! | [`Value`], `&Value` (argument only), [`Object`] | as it is |

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tusk_eval::{Bytes, Key, Object, Value};

/// Why a value did not convert to or from a Rust type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionError {
    problem: Problem,
    /// Where inside the value, innermost first (`item 2`, ``key `port` ``).
    path: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Problem {
    /// A value of another type (or out of range).
    Mismatch { expected: String, found: String },
    /// A value that serde could not fit into `target`.
    DoesNotFit { target: String, reason: String },
}

impl ConversionError {
    /// `value` is not what `expected` describes ("an integer").
    pub fn mismatch(expected: impl Into<String>, value: &Value) -> ConversionError {
        ConversionError::found(expected, value.type_name())
    }

    fn found(expected: impl Into<String>, found: impl Into<String>) -> ConversionError {
        ConversionError {
            problem: Problem::Mismatch { expected: expected.into(), found: found.into() },
            path: Vec::new(),
        }
    }

    fn does_not_fit(target: impl Into<String>, reason: impl fmt::Display) -> ConversionError {
        ConversionError {
            problem: Problem::DoesNotFit { target: target.into(), reason: reason.to_string() },
            path: Vec::new(),
        }
    }

    /// The same problem, one level further out (`item 2` of an array, ``key `port` ``).
    fn inside(mut self, part: String) -> ConversionError {
        self.path.push(part);
        self
    }

    /// The message with `subject` naming the whole value: "item 2 of argument 1 must be an
    /// integer, not string".
    pub fn describe(&self, subject: &str) -> String {
        let mut whole = String::new();
        for part in &self.path {
            whole.push_str(part);
            whole.push_str(" of ");
        }
        whole.push_str(subject);
        match &self.problem {
            Problem::Mismatch { expected, found } => format!("{whole} must be {expected}, not {found}"),
            Problem::DoesNotFit { target, reason } => format!("{whole} does not fit `{target}`: {reason}"),
        }
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the value"))
    }
}

impl std::error::Error for ConversionError {}

/// A Rust type that a script value converts to (an owned copy).
pub trait FromValue: Sized {
    /// True for `Option<T>`: a missing trailing argument is `None`.
    const OPTIONAL: bool = false;

    /// What errors say was expected: "an integer", "an array (items: a string)".
    fn expected() -> String;

    /// Converts, or says what was wrong.
    fn from_value(value: &Value) -> Result<Self, ConversionError>;
}

/// A Rust type that becomes a script value without fail.
pub trait IntoValue {
    /// Converts.
    fn into_value(self) -> Value;
}

/// What a typed function may return: every [`IntoValue`] type, the integers that may not fit
/// (`u64`, `usize`), [`Serde<T>`], and `Result<T, E>` for any `E: Display` (the error
/// becomes the script's error, naming the function).
pub trait IntoReturn {
    /// Converts, or says why the result has no script value.
    fn into_return(self) -> Result<Value, String>;
}

impl<T: IntoValue> IntoReturn for T {
    fn into_return(self) -> Result<Value, String> {
        Ok(self.into_value())
    }
}

impl<T: IntoReturn, E: fmt::Display> IntoReturn for Result<T, E> {
    fn into_return(self) -> Result<Value, String> {
        self.map_err(|error| error.to_string())?.into_return()
    }
}

/// Any serde type, as an argument (deserialized from the value) or a result (serialized into
/// one): `|Serde(server): Serde<Server>| server.port`.
///
/// Serializing goes through JSON's data model: a float that is NaN or infinite becomes
/// `null`, as in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Serde<T>(pub T);

impl<T: DeserializeOwned> FromValue for Serde<T> {
    fn expected() -> String {
        format!("`{}`", short_type_name::<T>())
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        tusk_eval::from_value(value)
            .map(Serde)
            .map_err(|error| ConversionError::does_not_fit(short_type_name::<T>(), error))
    }
}

impl<T: Serialize> IntoReturn for Serde<T> {
    fn into_return(self) -> Result<Value, String> {
        to_value(&self.0).map_err(|error| error.to_string())
    }
}

/// Serializes any serde type into a script value (the way back is [`crate::from_value`]).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConversionError> {
    let json =
        serde_json::to_value(value).map_err(|error| ConversionError::does_not_fit(short_type_name::<T>(), error))?;
    from_json(json)
}

/// JSON to a script value, refusing integers a script cannot hold (rather than rounding them
/// into floats).
fn from_json(json: serde_json::Value) -> Result<Value, ConversionError> {
    Ok(match json {
        serde_json::Value::Number(number) if number.is_u64() && number.as_i64().is_none() => {
            return Err(ConversionError::found("an integer a script can hold (64-bit signed)", number.to_string()));
        }
        serde_json::Value::Array(items) => {
            let items = items
                .into_iter()
                .enumerate()
                .map(|(index, item)| from_json(item).map_err(|error| error.inside(format!("item {}", index + 1))))
                .collect::<Result<Vec<Value>, _>>()?;
            Value::array(items)
        }
        serde_json::Value::Object(entries) => {
            let mut object = Object::with_capacity(entries.len());
            for (key, item) in entries {
                let value = from_json(item).map_err(|error| error.inside(format!("key `{key}`")))?;
                object.insert(Key::new(&key), value);
            }
            Value::object(object)
        }
        scalar => tusk_eval::from_json(scalar),
    })
}

/// `my_app::config::Server` as `Server`, `Vec<my_app::Item>` as `Vec<Item>`.
fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut short = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (index, character) in full.char_indices() {
        if character == ':' {
            segment_start = index + 1;
        } else if matches!(character, '<' | '>' | ',' | ' ' | '&' | '[' | ']' | ';' | '(' | ')') {
            short.push_str(&full[segment_start..index]);
            short.push(character);
            segment_start = index + 1;
        }
    }
    short.push_str(&full[segment_start..]);
    short
}

impl FromValue for Value {
    fn expected() -> String {
        "any value".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        Ok(value.clone())
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl FromValue for bool {
    fn expected() -> String {
        "a bool".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(ConversionError::mismatch(Self::expected(), other)),
        }
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

/// An integer, as `arg_int` reads one: a float with no fraction counts.
fn integer(value: &Value, expected: impl FnOnce() -> String) -> Result<i64, ConversionError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => Ok(*x as i64),
        other => Err(ConversionError::mismatch(expected(), other)),
    }
}

impl FromValue for i64 {
    fn expected() -> String {
        "an integer".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        integer(value, Self::expected)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}

macro_rules! narrow_integer {
    ($($int:ty),* $(,)?) => {$(
        impl FromValue for $int {
            fn expected() -> String {
                format!("an integer from {} to {}", <$int>::MIN, <$int>::MAX)
            }

            fn from_value(value: &Value) -> Result<Self, ConversionError> {
                let wide = integer(value, Self::expected)?;
                <$int>::try_from(wide).map_err(|_| ConversionError::found(Self::expected(), wide.to_string()))
            }
        }
    )*};
}

narrow_integer!(i8, i16, i32, u8, u16, u32, u64, usize);

macro_rules! lossless_integer {
    ($($int:ty),* $(,)?) => {$(
        impl IntoValue for $int {
            fn into_value(self) -> Value {
                Value::Int(i64::from(self))
            }
        }
    )*};
}

lossless_integer!(i8, i16, i32, u8, u16, u32);

macro_rules! wide_integer_result {
    ($($int:ty),* $(,)?) => {$(
        impl IntoReturn for $int {
            fn into_return(self) -> Result<Value, String> {
                i64::try_from(self)
                    .map(Value::Int)
                    .map_err(|_| format!("the result {self} does not fit a script integer (64-bit signed)"))
            }
        }
    )*};
}

wide_integer_result!(u64, usize);

impl FromValue for f64 {
    fn expected() -> String {
        "a number".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        value.as_f64().ok_or_else(|| ConversionError::mismatch(Self::expected(), value))
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Float(self)
    }
}

impl FromValue for f32 {
    fn expected() -> String {
        "a number".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        f64::from_value(value).map(|x| x as f32)
    }
}

impl IntoValue for f32 {
    fn into_value(self) -> Value {
        Value::Float(f64::from(self))
    }
}

impl FromValue for String {
    fn expected() -> String {
        "a string".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        value.as_str().map(str::to_string).ok_or_else(|| ConversionError::mismatch(Self::expected(), value))
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::from(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::from(self)
    }
}

impl IntoValue for Key {
    fn into_value(self) -> Value {
        Value::string(&self)
    }
}

impl IntoValue for () {
    fn into_value(self) -> Value {
        Value::Null
    }
}

impl FromValue for Bytes {
    fn expected() -> String {
        "bytes".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        match value {
            Value::Bytes(bytes) => Ok(bytes.clone()),
            other => Err(ConversionError::mismatch(Self::expected(), other)),
        }
    }
}

impl IntoValue for Bytes {
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
}

impl FromValue for Object {
    fn expected() -> String {
        "an object".to_string()
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        value.as_object().cloned().ok_or_else(|| ConversionError::mismatch(Self::expected(), value))
    }
}

impl IntoValue for Object {
    fn into_value(self) -> Value {
        Value::object(self)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const OPTIONAL: bool = true;

    fn expected() -> String {
        format!("{} or null", T::expected())
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some).map_err(|mut error| {
                if let (true, Problem::Mismatch { expected, .. }) = (error.path.is_empty(), &mut error.problem) {
                    expected.push_str(" or null");
                }
                error
            }),
        }
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn expected() -> String {
        format!("an array (items: {})", T::expected())
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        let items = value.as_array().ok_or_else(|| ConversionError::mismatch(Self::expected(), value))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| T::from_value(item).map_err(|error| error.inside(format!("item {}", index + 1))))
            .collect()
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::array(self.into_iter().map(IntoValue::into_value).collect())
    }
}

fn object_entries<T: FromValue>(value: &Value) -> Result<impl Iterator<Item = (String, T)>, ConversionError> {
    let object = value
        .as_object()
        .ok_or_else(|| ConversionError::mismatch(format!("an object (values: {})", T::expected()), value))?;
    let entries = object
        .iter()
        .map(|(key, item)| {
            T::from_value(item)
                .map(|item| (key.to_string(), item))
                .map_err(|error| error.inside(format!("key `{key}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries.into_iter())
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn expected() -> String {
        format!("an object (values: {})", T::expected())
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        object_entries(value).map(Iterator::collect)
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        let mut object = Object::with_capacity(self.len());
        for (key, item) in self {
            object.insert(Key::new(&key), item.into_value());
        }
        Value::object(object)
    }
}

impl<T: FromValue, S: std::hash::BuildHasher + Default> FromValue for HashMap<String, T, S> {
    fn expected() -> String {
        format!("an object (values: {})", T::expected())
    }

    fn from_value(value: &Value) -> Result<Self, ConversionError> {
        object_entries(value).map(Iterator::collect)
    }
}

/// Keys are sorted: a hash map has no order of its own, and documents must come out the same
/// on every run.
impl<T: IntoValue, S: std::hash::BuildHasher> IntoValue for HashMap<String, T, S> {
    fn into_value(self) -> Value {
        self.into_iter().collect::<BTreeMap<String, T>>().into_value()
    }
}

/// An argument type of a typed function: every [`FromValue`] type (an owned copy), and the
/// borrowed `&str` and `&Value`, which copy nothing.
pub trait Arg {
    /// The type the function receives, borrowing from the call's arguments.
    type Item<'a>;

    /// True when a missing trailing argument is allowed (`Option<T>`).
    const OPTIONAL: bool;

    /// What errors say was expected.
    fn expected_type() -> String;

    /// Converts one argument.
    fn convert(value: &Value) -> Result<Self::Item<'_>, ConversionError>;
}

impl<T: FromValue> Arg for T {
    type Item<'a> = T;
    const OPTIONAL: bool = T::OPTIONAL;

    fn expected_type() -> String {
        <T as FromValue>::expected()
    }

    fn convert(value: &Value) -> Result<T, ConversionError> {
        T::from_value(value)
    }
}

impl Arg for &str {
    type Item<'a> = &'a str;
    const OPTIONAL: bool = false;

    fn expected_type() -> String {
        <String as FromValue>::expected()
    }

    fn convert(value: &Value) -> Result<&str, ConversionError> {
        value.as_str().ok_or_else(|| ConversionError::mismatch(Self::expected_type(), value))
    }
}

impl Arg for &[u8] {
    type Item<'a> = &'a [u8];
    const OPTIONAL: bool = false;

    fn expected_type() -> String {
        <Bytes as FromValue>::expected()
    }

    fn convert(value: &Value) -> Result<&[u8], ConversionError> {
        value.as_bytes().ok_or_else(|| ConversionError::mismatch(Self::expected_type(), value))
    }
}

impl Arg for &Value {
    type Item<'a> = &'a Value;
    const OPTIONAL: bool = false;

    fn expected_type() -> String {
        <Value as FromValue>::expected()
    }

    fn convert(value: &Value) -> Result<&Value, ConversionError> {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(short_type_name::<Vec<std::collections::BTreeMap<String, Value>>>(), "Vec<BTreeMap<String, Value>>");
        assert_eq!(short_type_name::<(i64, &str)>(), "(i64, &str)");
    }

    #[test]
    fn nested_mismatches_say_where_they_are() {
        let value = Value::array(vec![Value::array(vec![Value::Int(1)]), Value::Int(2)]);
        let error = Vec::<Vec<i64>>::from_value(&value).unwrap_err();
        assert_eq!(error.to_string(), "item 2 of the value must be an array (items: an integer), not int");
        let value = Value::array(vec![Value::array(vec![Value::Int(1), Value::from("x")])]);
        let error = Vec::<Vec<i64>>::from_value(&value).unwrap_err();
        assert_eq!(error.describe("argument 1"), "item 2 of item 1 of argument 1 must be an integer, not string");
    }

    #[test]
    fn integers_are_range_checked_both_ways() {
        assert_eq!(u8::from_value(&Value::Int(255)), Ok(255));
        assert_eq!(u8::from_value(&Value::Float(7.0)), Ok(7));
        let error = u8::from_value(&Value::Int(256)).unwrap_err();
        assert_eq!(error.to_string(), "the value must be an integer from 0 to 255, not 256");
        assert_eq!(
            u64::MAX.into_return().unwrap_err(),
            ("the result 18446744073709551615 does not fit a script integer (64-bit signed)".to_string())
        );
        assert_eq!(
            to_value(&u64::MAX).unwrap_err().to_string(),
            "the value must be an integer a script can hold (64-bit signed), not 18446744073709551615"
        );
    }
}
