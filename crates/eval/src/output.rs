//! Values going out: `Serialize` (JSON, TOML, YAML writers and embedders' serde), and the
//! display text that `str()`, interpolation and the REPL use.
//!
//! Functions are script-side only: they are left out of objects and arrays in output. A float
//! that is infinite or NaN cannot be serialized (an error, not `null`).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::function::Function;
use crate::value::{Value, with_stack};

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

/// Writes `value` as JSON into `out`, byte for byte what `serde_json::to_writer` (compact) or
/// `to_writer_pretty` (two-space indented) writes for the [`Serialize`] form above, without
/// going through serde: the text is gathered in a buffer of its own and handed to `out` in
/// large pieces, and strings are scanned for characters to escape eight bytes at a time
/// (most strings of a document have none). An infinite or NaN float is an `InvalidData` error;
/// callers that want it reported with its path check for it first.
pub fn write_json(value: &Value, pretty: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut writer = JsonWriter { buffer: Vec::with_capacity(JSON_CHUNK + 4096), out, pretty, indent: 0 };
    writer.value(value)?;
    writer.out.write_all(&writer.buffer)
}

/// How much JSON text is gathered before it is handed to the writer.
const JSON_CHUNK: usize = 1 << 16;

struct JsonWriter<'a> {
    buffer: Vec<u8>,
    out: &'a mut dyn std::io::Write,
    pretty: bool,
    /// Nesting of the open object or array (pretty output indents by it).
    indent: usize,
}

impl JsonWriter<'_> {
    fn value(&mut self, value: &Value) -> std::io::Result<()> {
        if self.buffer.len() >= JSON_CHUNK {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        match value {
            Value::Null | Value::Func(_) => self.buffer.extend_from_slice(b"null"),
            Value::Bool(true) => self.buffer.extend_from_slice(b"true"),
            Value::Bool(false) => self.buffer.extend_from_slice(b"false"),
            Value::Int(n) => {
                serde_json::ser::Formatter::write_i64(&mut serde_json::ser::CompactFormatter, &mut self.buffer, *n)?
            }
            Value::Float(x) if x.is_finite() => {
                serde_json::ser::Formatter::write_f64(&mut serde_json::ser::CompactFormatter, &mut self.buffer, *x)?
            }
            Value::Float(x) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} cannot be written: output formats do not write infinite or NaN floats", format_float(*x)),
                ));
            }
            Value::Str(text) => write_json_string(&mut self.buffer, text),
            Value::Array(items) => {
                self.open(b'[');
                let mut first = true;
                for item in items.iter().filter(|item| !item.is_function()) {
                    self.next_part(&mut first);
                    with_stack(|| self.value(item))?;
                }
                self.close(b']', first);
            }
            Value::Object(object) => {
                self.open(b'{');
                let mut first = true;
                for (key, item) in object.iter().filter(|(_, item)| !item.is_function()) {
                    self.next_part(&mut first);
                    write_json_string(&mut self.buffer, key.as_str());
                    self.buffer.extend_from_slice(if self.pretty { b": " } else { b":" });
                    with_stack(|| self.value(item))?;
                }
                self.close(b'}', first);
            }
            Value::Range(start, end) => self.value(&Value::Object(std::rc::Rc::new(Value::range_object(*start, *end))))?,
            Value::Foreign(foreign) => write_json_string(&mut self.buffer, &format!("<{}>", foreign.type_name)),
        }
        Ok(())
    }

    fn open(&mut self, bracket: u8) {
        self.buffer.push(bracket);
        self.indent += 1;
    }

    /// Before an item or entry: the comma after the one before, and in pretty output its line.
    fn next_part(&mut self, first: &mut bool) {
        if !std::mem::take(first) {
            self.buffer.push(b',');
        }
        if self.pretty {
            self.new_line();
        }
    }

    /// `empty` when nothing was written inside (`[]`, `{}` in both forms).
    fn close(&mut self, bracket: u8, empty: bool) {
        self.indent -= 1;
        if self.pretty && !empty {
            self.new_line();
        }
        self.buffer.push(bracket);
    }

    fn new_line(&mut self) {
        self.buffer.push(b'\n');
        self.buffer.resize(self.buffer.len() + 2 * self.indent, b' ');
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it: the quote and the backslash, the
/// control characters with their short forms where JSON has one (`\n`, `\t`, …) and `\u00xx`
/// otherwise; everything else as it is.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // True when a byte of `word` is a control character, a quote or a backslash: the usual
    // tests for a byte below a bound and for a zero byte, applied to the word and to its XOR
    // with the quote and the backslash in every byte. Each test is exact for the word as a
    // whole (a borrow can only mark bytes above a byte that really matches).
    fn needs_escape(word: u64) -> bool {
        let below_space = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        (below_space | quote | backslash) & HIGHS != 0
    }
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        if index + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[index..index + 8].try_into().expect("eight bytes"));
            if !needs_escape(word) {
                index += 8;
                continue;
            }
        }
        let byte = bytes[index];
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => {
                index += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
        } else {
            out.extend_from_slice(escape);
        }
        index += 1;
        start = index;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The display text of a value: JSON-like, with `", "` separators, functions as
/// `<function name>`.
pub fn to_display(value: &Value) -> String {
    let mut out = String::new();
    write_display(value, &mut out, false);
    out
}

fn write_display(value: &Value, out: &mut String, quoted: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
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
    use std::rc::Rc;

    use super::*;
    use crate::object::Object;
    use crate::value::Key;

    /// Every kind of value, and strings with each escape at every position of an eight-byte
    /// word, against serde_json writing the `Serialize` form.
    #[test]
    fn write_json_writes_what_serde_json_writes() {
        let mut strings: Vec<Value> = ["", "plain", "caf\u{e9} \u{2713}", "\u{7f}\u{80}", "x\u{1}y\u{1f}"]
            .iter()
            .map(|text| Value::string(text))
            .collect();
        for special in ["\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}", "\u{1b}", "\u{1f}", " ", "/", "\u{e9}"] {
            for position in 0..17 {
                let mut text = "abcdefghijklmnopq".to_string();
                text.insert_str(position, special);
                strings.push(Value::string(&text));
            }
        }
        let function = Value::Func(Rc::new(Function::Native(crate::function::NativeFunction {
            name: "f".into(),
            func: Rc::new(|_: &mut crate::CallContext<'_, '_>, _: &[Value]| -> Result<Value, crate::RuntimeError> {
                Ok(Value::Null)
            }),
        })));
        let mut inner = Object::new();
        inner.insert(Key::new("a \"quoted\" key\n"), Value::Int(-7));
        inner.insert(Key::new("hidden"), function.clone());
        inner.insert(Key::new("empty object"), Value::object(Object::new()));
        inner.insert(Key::new("empty array"), Value::array(vec![]));
        inner.insert(Key::new("only a function"), Value::array(vec![function.clone()]));
        let mut document = Object::new();
        document.insert(Key::new("strings"), Value::array(strings));
        document.insert(
            Key::new("numbers"),
            Value::array(vec![
                Value::Int(i64::MIN),
                Value::Int(0),
                Value::Float(1.0),
                Value::Float(-0.0),
                Value::Float(1e300),
                Value::Float(2.5e-8),
                Value::Float(0.1),
            ]),
        );
        document.insert(Key::new("other"), Value::array(vec![Value::Null, Value::Bool(true), Value::Bool(false)]));
        document.insert(Key::new("range"), Value::Range(1, 5));
        document.insert(Key::new("inner"), Value::object(inner));
        let document = Value::object(document);
        for value in [document, Value::Int(3), Value::string("\u{0}"), function, Value::array(vec![])] {
            for pretty in [false, true] {
                let mut written = Vec::new();
                write_json(&value, pretty, &mut written).unwrap();
                let expected =
                    if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
                assert_eq!(String::from_utf8(written).unwrap(), expected);
            }
        }
        let error = write_json(&Value::array(vec![Value::Float(f64::NAN)]), false, &mut Vec::<u8>::new()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(error.to_string().starts_with("NaN cannot be written"), "{error}");
    }

    #[test]
    fn floats_keep_their_point() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(to_display(&Value::array(vec![Value::Int(1), Value::string("a")])), "[1, \"a\"]");
    }
}
