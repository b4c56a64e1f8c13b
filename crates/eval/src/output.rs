//! Values going out: `Serialize` (JSON, TOML, YAML writers and embedders' serde), and the
//! display text that `str()`, interpolation and the REPL use.
//!
//! Functions are script-side only: they are left out of objects and arrays in output. A float
//! that is infinite or NaN cannot be serialized (an error, not `null`).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::function::Function;
use crate::value::{IntText, Value, with_stack};

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

/// The display text of a value, borrowed where the value is a string and formatted on the
/// stack where it is an integer: the text `str()` and string `+` need, without a `String` for
/// the two commonest cases.
pub(crate) enum DisplayText<'a> {
    Borrowed(&'a str),
    Int(IntText),
    Owned(String),
}

impl<'a> DisplayText<'a> {
    pub(crate) fn of(value: &'a Value) -> DisplayText<'a> {
        match value {
            Value::Str(s) => DisplayText::Borrowed(s.as_str()),
            Value::Int(n) => DisplayText::Int(IntText::new(*n)),
            other => DisplayText::Owned(to_display(other)),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            DisplayText::Borrowed(s) => s,
            DisplayText::Int(n) => n.as_str(),
            DisplayText::Owned(s) => s,
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
        for n in [0, 7, -7, 10, 99, 100, -100, 1234567890, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(to_display(&Value::Int(n)), n.to_string());
            assert_eq!(DisplayText::of(&Value::Int(n)).as_str(), n.to_string());
        }
        assert_eq!(DisplayText::of(&Value::string("é")).as_str(), "é");
        assert_eq!(DisplayText::of(&Value::Float(1.0)).as_str(), "1.0");
    }
}
