//! Values going out: `Serialize` (JSON, TOML, YAML writers and embedders' serde), and the
//! display text that `str()`, interpolation and the REPL use.
//!
//! Functions are script-side only: they are left out of objects and arrays in output. A float
//! that is infinite or NaN cannot be serialized (an error, not `null`).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::function::Function;
use crate::value::{IntText, Text, Value, with_stack};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null | Value::Func(_) => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => serializer.serialize_i64(*n),
            Value::Float(x) if x.is_finite() => serializer.serialize_f64(*x),
            // No output format has a portable infinity or NaN; writing null would change the
            // value without a word.
            Value::Float(x) => Err(serde::ser::Error::custom(format!(
                "{} cannot be written: output formats do not write infinite or NaN floats",
                format_float(*x)
            ))),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Array(items) => with_stack(|| {
                let mut seq = serializer.serialize_seq(None)?;
                for item in items.iter().filter(|item| !item.is_function()) {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }),
            Value::Object(object) => with_stack(|| {
                let mut map = serializer.serialize_map(None)?;
                for (key, value) in object.iter().filter(|(_, value)| !value.is_function()) {
                    map.serialize_entry(key.as_str(), value)?;
                }
                map.end()
            }),
            Value::Range(start, end) => {
                Value::Object(std::rc::Rc::new(Value::range_object(*start, *end))).serialize(serializer)
            }
            Value::Foreign(foreign) => serializer.serialize_str(&format!("<{}>", foreign.type_name)),
        }
    }
}

/// The display text of a value: JSON-like, with `", "` separators, functions as
/// `<function name>`.
pub fn to_display(value: &Value) -> String {
    let mut out = String::new();
    write_display(value, &mut out, false);
    out
}

/// Joins the display texts of values into one new string: the one way string `+` builds its
/// result, for two operands and for a whole chain `a + b + c + …` alike. Strings are copied
/// as they are and integers formatted in place, and a short result is joined on the stack and
/// allocated once, as the shared string.
pub(crate) struct TextBuilder {
    stack: [u8; TextBuilder::ON_STACK],
    /// Bytes used in `stack`, while `heap` is `None`.
    len: usize,
    /// The text, once it outgrew `stack`.
    heap: Option<String>,
}

impl TextBuilder {
    /// Texts up to this many bytes are joined on the stack.
    const ON_STACK: usize = 128;

    /// An empty text that will hold about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> TextBuilder {
        let heap = (capacity > Self::ON_STACK).then(|| String::with_capacity(capacity));
        TextBuilder { stack: [0; Self::ON_STACK], len: 0, heap }
    }

    /// The length so far, in bytes.
    pub(crate) fn len(&self) -> usize {
        match &self.heap {
            Some(heap) => heap.len(),
            None => self.len,
        }
    }

    /// Appends `value`'s display text (what `str(value)` gives).
    pub(crate) fn push(&mut self, value: &Value) {
        match value {
            Value::Str(s) => self.push_str(s),
            Value::Int(n) => self.push_int(*n),
            other => self.push_str(&to_display(other)),
        }
    }

    fn push_int(&mut self, n: i64) {
        let text = IntText::new(n);
        let bytes = text.as_bytes();
        match &mut self.heap {
            // ASCII digits and '-': pushed as chars, without the UTF-8 check of a `str`.
            Some(heap) => heap.extend(bytes.iter().map(|&byte| char::from(byte))),
            None if self.len + bytes.len() <= Self::ON_STACK => {
                self.stack[self.len..self.len + bytes.len()].copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.push_str(text.as_str()),
        }
    }

    fn push_str(&mut self, text: &str) {
        match &mut self.heap {
            Some(heap) => heap.push_str(text),
            None if self.len + text.len() <= Self::ON_STACK => {
                self.stack[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
                self.len += text.len();
            }
            None => {
                let mut heap = String::with_capacity((self.len + text.len()).max(2 * Self::ON_STACK));
                heap.push_str(self.stack_text());
                heap.push_str(text);
                self.heap = Some(heap);
            }
        }
    }

    /// The text joined on the stack: whole UTF-8 texts one after the other.
    fn stack_text(&self) -> &str {
        std::str::from_utf8(&self.stack[..self.len]).expect("joined texts are UTF-8")
    }

    /// The joined text as a string value's text.
    pub(crate) fn finish(self) -> Text {
        match self.heap {
            Some(heap) => Text::from(heap),
            None => Text::new(self.stack_text()),
        }
    }
}

fn write_display(value: &Value, out: &mut String, quoted: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(IntText::new(*n).as_str()),
        Value::Float(x) => out.push_str(&format_float(*x)),
        Value::Str(s) if quoted => out.push_str(&serde_json::to_string(s.as_str()).unwrap_or_default()),
        Value::Str(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                with_stack(|| write_display(item, out, true));
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (i, (key, item)) in object.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(key.as_str()).unwrap_or_default());
                out.push_str(": ");
                with_stack(|| write_display(item, out, true));
            }
            out.push('}');
        }
        Value::Range(start, end) => out.push_str(&format!("{start}-{}", end.saturating_sub(1))),
        Value::Func(function) => match &**function {
            Function::Closure(_) | Function::Native(_) => out.push_str(&format!("<function {}>", function.name())),
        },
        Value::Foreign(foreign) => out.push_str(&format!("<{}>", foreign.type_name)),
    }
}

/// Floats print with a fraction or an exponent (`1.0`, `2.5`, `1e300`), never as integers.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    format!("{x:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_their_point() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(to_display(&Value::array(vec![Value::Int(1), Value::string("a")])), "[1, \"a\"]");
    }

    #[test]
    fn integers_display_like_to_string() {
        let every_length = (0..19).map(|digits| 10i64.pow(digits)).flat_map(|n| [n - 1, n, n + 1, -n, 7 * n]);
        let extremes = [0, 7, -7, 10, 99, 100, -100, 1234567890, i64::MAX, i64::MIN, i64::MIN + 1];
        for n in extremes.into_iter().chain(every_length) {
            assert_eq!(to_display(&Value::Int(n)), n.to_string());
            assert_eq!(IntText::new(n).as_str(), n.to_string());
        }
    }

    fn joined(values: &[Value]) -> String {
        let mut text = TextBuilder::with_capacity(0);
        for value in values {
            text.push(value);
        }
        let len = text.len();
        let joined = text.finish().to_string();
        assert_eq!(len, joined.len());
        joined
    }

    #[test]
    fn text_builder_joins_display_texts() {
        let values = [Value::string("é"), Value::Int(-42), Value::Float(1.0), Value::Null, Value::array(vec![])];
        assert_eq!(joined(&values), "é-421.0null[]");
        assert_eq!(joined(&[]), "");
    }

    #[test]
    fn text_builder_moves_long_texts_off_the_stack() {
        // Every way across the stack buffer's end: a string, an integer, and already past it.
        let long = "ü".repeat(63);
        for (values, expected) in [
            (vec![Value::string(&long), Value::string("abc")], format!("{long}abc")),
            (vec![Value::string(&long), Value::Int(123456)], format!("{long}123456")),
            (
                vec![Value::string(&long), Value::Int(7), Value::string(&long), Value::Int(-8)],
                format!("{long}7{long}-8"),
            ),
        ] {
            assert_eq!(joined(&values), expected);
        }
        let mut text = TextBuilder::with_capacity(1000);
        text.push(&Value::Int(5));
        text.push(&Value::string("x"));
        assert_eq!(text.finish().as_str(), "5x");
    }
}
