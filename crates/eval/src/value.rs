//! Runtime values: 24 bytes each, cheap to clone (scalars inline, short strings inline,
//! everything else behind an `Rc`).

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use crate::function::Function;
pub use crate::object::Object;
/// Object keys: short ones are stored inline, so config keys never allocate.
pub type Key = smol_str::SmolStr;

/// String values: one shared allocation, cloned by a reference count. (Keeping them out of
/// `SmolStr` keeps `Value`'s tag a plain byte, which the interpreter's hot path needs.)
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Rc<str>);

impl Text {
    /// A string with this text.
    pub fn new(text: &str) -> Text {
        Text(Rc::from(text))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many values share this text (tests tell a lent value from a copy by it).
    #[cfg(test)]
    pub(crate) fn shared_by(&self) -> usize {
        Rc::strong_count(&self.0)
    }
}

/// Byte-string values: one shared, immutable allocation, cloned by a reference count.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(Rc<[u8]>);

impl Bytes {
    /// A byte string with these bytes (one copy).
    pub fn new(bytes: &[u8]) -> Bytes {
        Bytes(Rc::from(bytes))
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    /// Takes the vector's bytes (`Rc<[u8]>` needs its own allocation for the counts: one copy).
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(Rc::from(bytes))
    }
}

impl From<Rc<[u8]>> for Bytes {
    fn from(bytes: Rc<[u8]>) -> Bytes {
        Bytes(bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes::new(bytes)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::output::bytes_display(self))
    }
}

/// Two decimal digits for each number below 100: integers are formatted two digits a step.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The decimal text of an integer, formatted on the stack (no `fmt` machinery, no allocation).
pub(crate) struct IntText {
    bytes: [u8; 20],
    start: usize,
}

impl IntText {
    pub(crate) fn new(n: i64) -> IntText {
        let mut bytes = [0u8; 20];
        let mut start = bytes.len();
        let mut rest = n.unsigned_abs();
        while rest >= 100 {
            let pair = (rest % 100) as usize * 2;
            rest /= 100;
            start -= 2;
            bytes[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if rest >= 10 {
            let pair = rest as usize * 2;
            start -= 2;
            bytes[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            start -= 1;
            bytes[start] = b'0' + rest as u8;
        }
        if n < 0 {
            start -= 1;
            bytes[start] = b'-';
        }
        IntText { bytes, start }
    }

    /// The text's bytes (ASCII digits and '-'), without the check `as_str` makes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(Rc::from(text))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::new(text)
    }
}

impl From<&Key> for Text {
    fn from(text: &Key) -> Text {
        Text::new(text)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TuskLang value.
///
/// The tag is a full word on purpose: with a one-byte tag, copies of a value write and read
/// it in differently sized pieces, and the resulting store-forwarding stalls cost the
/// interpreter a third of its time on arithmetic loops.
#[derive(Clone, Default)]
#[repr(u64)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A 64-bit integer; arithmetic that overflows is an error.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(Text),
    /// A byte string (immutable): binary data, file contents, digests, ciphertexts.
    Bytes(Bytes),
    /// An array (copy on write).
    Array(Rc<Vec<Value>>),
    /// An ordered map with string keys (copy on write).
    Object(Rc<Object>),
    /// Integers `start..end` (end excluded). The literal `8000-9000` is `8000..9001`.
    Range(i64, i64),
    /// A lambda or a native function.
    Func(Rc<Function>),
    /// A value made outside the language: a plugin's object (a connection, a model).
    Foreign(Rc<Foreign>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// Values nest as deeply as a script makes them: `reduce(range(n), [], (a, x) => [a])` builds
/// an array `n` levels deep without any deep recursion in the script. The compiler's drop glue
/// recurses once per level, so freeing such a value overflowed the stack. A container freed
/// for good hands the containers inside it to a loop instead, once the stack runs low: until
/// then values are freed the usual way, which costs a container's drop one stack-pointer check
/// (scanning every freed container for nested ones cost container-heavy scripts 15-20 %).
impl Drop for Value {
    #[inline]
    fn drop(&mut self) {
        // Only the last reference to a container frees what is inside it.
        let last = match self {
            Value::Array(items) => Rc::strong_count(items) == 1,
            Value::Object(object) => Rc::strong_count(object) == 1,
            Value::Func(function) => Rc::strong_count(function) == 1,
            _ => false,
        };
        if last {
            free_container(self);
        }
    }
}

/// Frees what the last reference to a container holds (out of line: most drops are of
/// scalars and shared references, and every drop site inlines `Drop::drop`).
#[inline(never)]
fn free_container(value: &mut Value) {
    if stack_is_low() && frees_nested_containers(value) {
        drop_nested(value);
        return;
    }
    // The items are dropped here, in order, scalars without the out-of-line drop glue: an
    // array of numbers was freed with one call of the glue per number.
    match value {
        Value::Array(items) => {
            if let Some(items) = Rc::get_mut(items) {
                items.drain(..).for_each(Value::discard);
            }
        }
        Value::Object(object) => {
            if let Some(object) = Rc::get_mut(object) {
                object.discard_entries();
            }
        }
        _ => {}
    }
}

/// True when less stack is left than deep drops need (or when how much is left is unknown).
#[inline]
fn stack_is_low() -> bool {
    stacker::remaining_stack().is_none_or(|remaining| remaining < 256 * 1024)
}

/// True when dropping `value` frees a container that holds other containers: the only drop
/// that recurses.
#[inline]
fn frees_nested_containers(value: &Value) -> bool {
    match value {
        Value::Array(items) => Rc::strong_count(items) == 1 && items.iter().any(Value::is_container),
        Value::Object(object) => Rc::strong_count(object) == 1 && object.values().any(Value::is_container),
        Value::Func(function) => Rc::strong_count(function) == 1 && function.captured().iter().any(Value::is_container),
        _ => false,
    }
}

#[cold]
fn drop_nested(value: &mut Value) {
    let mut pending = vec![std::mem::take(value)];
    while let Some(mut container) = pending.pop() {
        let children: Option<&mut [Value]> = match &mut container {
            Value::Array(items) => Rc::get_mut(items).map(|items| items.as_mut_slice()),
            Value::Func(function) => match Rc::get_mut(function) {
                Some(Function::Closure(closure)) => Some(&mut closure.captures[..]),
                _ => None,
            },
            Value::Object(object) => {
                if let Some(object) = Rc::get_mut(object) {
                    pending.extend(object.values_mut().filter(|child| child.is_container()).map(std::mem::take));
                }
                None
            }
            _ => None,
        };
        if let Some(children) = children {
            pending.extend(children.iter_mut().filter(|child| child.is_container()).map(std::mem::take));
        }
        // `container` is dropped here. Every container child was moved to `pending` (the check
        // must match the one in `Drop`, or dropping `container` would come straight back here),
        // so what is left in it are scalars: no recursion.
    }
}

/// Runs `f`, first moving to a fresh stack segment if this one is nearly used up. Every walk
/// over a value's nesting goes through it, since values can nest arbitrarily deep.
#[inline]
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, f)
}

/// A value made outside the language (a plugin object, or an embedder's), opaque to scripts.
/// Dropped when the last script reference goes away.
pub struct Foreign {
    /// The type name shown by `type_of` and in errors, e.g. `postgres.connection`.
    pub type_name: Rc<str>,
    /// The object.
    pub data: Box<dyn Any>,
}

impl fmt::Debug for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.type_name)
    }
}

impl Value {
    /// The kind [`Value::number_bits`] gives an `Int`: the variant's discriminant.
    pub const INT_KIND: u64 = 2;
    /// The kind [`Value::number_bits`] gives a `Float`: the variant's discriminant.
    pub const FLOAT_KIND: u64 = 3;

    /// An `Int`'s or a `Float`'s kind ([`Value::INT_KIND`], [`Value::FLOAT_KIND`]) and its 64
    /// bits (the integer's two's complement, the float's IEEE bits); `None` for any other value.
    /// For callers that pass numbers on as words (the plugin host lends them to a plugin so):
    /// the kind is the value's tag word itself, read after one masked test, where a `match`
    /// that names a number per variant becomes a switch.
    #[inline]
    pub fn number_bits(&self) -> Option<(u64, u64)> {
        let bits = match *self {
            Value::Int(n) => n as u64,
            Value::Float(x) => x.to_bits(),
            _ => return None,
        };
        Some((self.discriminant(), bits))
    }

    /// The number [`Value::number_bits`] gave as `bits` with a kind that was
    /// [`Value::FLOAT_KIND`] when `float` is true, else [`Value::INT_KIND`]. Its tag word is
    /// made from `float` without a branch.
    #[inline]
    pub fn from_number_bits(float: bool, bits: u64) -> Value {
        if float { Value::Float(f64::from_bits(bits)) } else { Value::Int(bits as i64) }
    }

    /// The variant's discriminant (`Value` is `repr(u64)`, its variants numbered in order):
    /// each arm gives the number the tag word holds, so the compiler reads the tag instead of
    /// switching on it.
    #[inline(always)]
    fn discriminant(&self) -> u64 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => Value::INT_KIND,
            Value::Float(_) => Value::FLOAT_KIND,
            Value::Str(_) => 4,
            Value::Bytes(_) => 5,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
            Value::Range(..) => 8,
            Value::Func(_) => 9,
            Value::Foreign(_) => 10,
        }
    }
}

impl Value {
    /// The name of the value's type as `type_of` reports it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Range(..) => "range",
            Value::Func(_) => "function",
            Value::Foreign(foreign) => &foreign.type_name,
        }
    }

    /// A string value.
    pub fn string(text: &str) -> Value {
        Value::Str(Text::new(text))
    }

    /// A byte-string value (one copy of `bytes`).
    pub fn bytes(bytes: &[u8]) -> Value {
        Value::Bytes(Bytes::new(bytes))
    }

    /// The bytes of a byte-string value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes.as_slice()),
            _ => None,
        }
    }

    /// An array value.
    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(items))
    }

    /// An object value.
    pub fn object(object: Object) -> Value {
        Value::Object(Rc::new(object))
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a float (ints convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }

    /// The array items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Truthiness: `false`, `null`, `0`, `0.0`, `""`, empty bytes, `[]` and `{}` are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(x) => *x != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(bytes) => !bytes.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(object) => !object.is_empty(),
            Value::Range(start, end) => start < end,
            Value::Func(_) | Value::Foreign(_) => true,
        }
    }

    /// True for values that own nothing on the heap (dropping them does nothing).
    #[inline(always)]
    pub(crate) fn is_scalar(&self) -> bool {
        matches!(self, Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Range(..))
    }

    /// Drops the value, skipping the (out-of-line) drop glue for scalars: the arguments of a
    /// native call are dropped after every call, and are mostly numbers.
    #[inline(always)]
    pub(crate) fn discard(self) {
        if self.is_scalar() {
            std::mem::forget(self);
        } else {
            drop(self);
        }
    }

    /// True for values that hold other values (arrays, objects, functions with captures).
    #[inline]
    pub(crate) fn is_container(&self) -> bool {
        matches!(self, Value::Array(_) | Value::Object(_) | Value::Func(_))
    }

    /// True when the value holds containers more than `limit` levels deep (functions are not
    /// looked into: they are left out of documents). The walk itself never goes deeper.
    pub(crate) fn nests_deeper_than(&self, limit: usize) -> bool {
        match self {
            Value::Array(items) => limit == 0 || items.iter().any(|item| item.nests_deeper_than(limit - 1)),
            Value::Object(object) => limit == 0 || object.values().any(|value| value.nests_deeper_than(limit - 1)),
            _ => false,
        }
    }

    /// True for functions (left out of output documents).
    pub fn is_function(&self) -> bool {
        matches!(self, Value::Func(_))
    }

    /// Deep equality: numbers compare by value across int and float, collections by content.
    pub fn deep_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => (*a as f64) == *b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => {
                Rc::ptr_eq(a, b)
                    || (a.len() == b.len() && with_stack(|| a.iter().zip(b.iter()).all(|(x, y)| x.deep_eq(y))))
            }
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b) || with_stack(|| a.deep_eq(b)),
            (Value::Range(a0, a1), Value::Range(b0, b1)) => a0 == b0 && a1 == b1,
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(a, b),
            (Value::Foreign(a), Value::Foreign(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The range as an object, the way documents show it.
    pub fn range_object(start: i64, end: i64) -> Object {
        let mut object = Object::with_capacity(3);
        object.insert(Key::new("min"), Value::Int(start));
        object.insert(Key::new("max"), Value::Int(end.saturating_sub(1)));
        object.insert(Key::new("type"), Value::string("range"));
        object
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::output::to_display(self))
    }
}

/// `Display` gives the text `str()` and interpolation produce: strings raw, the rest as JSON.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s.as_str()),
            other => f.write_str(&crate::output::to_display(other)),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Text::from(s))
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::array(items)
    }
}

impl From<Bytes> for Value {
    fn from(bytes: Bytes) -> Value {
        Value::Bytes(bytes)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Value {
        Value::object(object)
    }
}

#[cfg(test)]
mod number_bits_tests {
    use super::*;

    #[test]
    fn numbers_give_their_kind_and_bits_and_come_back_from_them() {
        assert_eq!(Value::Int(-5).number_bits(), Some((Value::INT_KIND, (-5i64) as u64)));
        assert_eq!(Value::Float(1.5).number_bits(), Some((Value::FLOAT_KIND, 1.5f64.to_bits())));
        for value in [Value::Int(i64::MIN), Value::Int(7), Value::Float(-0.0), Value::Float(f64::INFINITY)] {
            let (kind, bits) = value.number_bits().expect("a number");
            assert!(Value::from_number_bits(kind == Value::FLOAT_KIND, bits).deep_eq(&value));
        }
        let others = [Value::Null, Value::Bool(true), Value::Str("2".into()), Value::Range(2, 3), Value::bytes(&[2])];
        for value in others {
            assert_eq!(value.number_bits(), None, "{}", value.type_name());
        }
    }
}
