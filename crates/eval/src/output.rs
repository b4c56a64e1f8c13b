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
            // Text formats have no byte strings: there the bytes are standard base64 text
            // (JSON, TOML); binary serializers take them as they are.
            Value::Bytes(bytes) if serializer.is_human_readable() => serializer.serialize_str(&base64_text(bytes)),
            Value::Bytes(bytes) => serializer.serialize_bytes(bytes),
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

/// Writes `value` as JSON, compact or pretty (two-space indents), exactly as serde_json writes
/// its `Serialize` form, but straight into a byte buffer that goes to `out` in large pieces,
/// and with strings copied whole once a few word-sized looks found nothing to escape in them
/// (see [`push_json_string`]). A float that is infinite or NaN is an error of `out`'s kind
/// (`InvalidData`); callers that name its path check for such floats first.
pub fn write_json(value: &Value, compact: bool, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut writer = JsonWriter { buffer: Vec::with_capacity(JsonWriter::FLUSH_AT * 2), indent: 0, compact };
    writer.value(value, out)?;
    out.write_all(&writer.buffer)
}

struct JsonWriter {
    buffer: Vec<u8>,
    /// The nesting depth, for pretty output.
    indent: usize,
    compact: bool,
}

impl JsonWriter {
    /// The buffer goes to the output once it holds this many bytes.
    const FLUSH_AT: usize = 1 << 16;

    fn value(&mut self, value: &Value, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match value {
            Value::Null | Value::Func(_) => self.buffer.extend_from_slice(b"null"),
            Value::Bool(true) => self.buffer.extend_from_slice(b"true"),
            Value::Bool(false) => self.buffer.extend_from_slice(b"false"),
            Value::Int(n) => self.buffer.extend_from_slice(IntText::new(*n).as_bytes()),
            Value::Float(x) if x.is_finite() => {
                serde_json::to_writer(&mut self.buffer, x).map_err(std::io::Error::from)?;
            }
            Value::Float(x) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} cannot be written: JSON has no infinite or NaN floats", format_float(*x)),
                ));
            }
            Value::Str(text) => push_json_string(&mut self.buffer, text),
            Value::Bytes(bytes) => {
                // Base64 needs no escaping.
                self.buffer.push(b'"');
                self.buffer.extend_from_slice(base64_text(bytes).as_bytes());
                self.buffer.push(b'"');
            }
            // The stack is checked once per container, not once per item.
            Value::Array(items) => with_stack(|| {
                self.buffer.push(b'[');
                let mut first = true;
                for item in items.iter().filter(|item| !item.is_function()) {
                    self.separator(&mut first);
                    self.value(item, out)?;
                }
                self.close(first, b']', out)
            })?,
            Value::Object(object) => {
                with_stack(|| self.object(object.iter().map(|(key, item)| (key.as_str(), item)), out))?;
            }
            Value::Range(start, end) => {
                let object = Value::range_object(*start, *end);
                self.object(object.iter().map(|(key, item)| (key.as_str(), item)), out)?;
            }
            Value::Foreign(foreign) => push_json_string(&mut self.buffer, &format!("<{}>", foreign.type_name)),
        }
        Ok(())
    }

    fn object<'v>(
        &mut self,
        entries: impl Iterator<Item = (&'v str, &'v Value)>,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        self.buffer.push(b'{');
        let mut first = true;
        for (key, item) in entries.filter(|(_, item)| !item.is_function()) {
            self.separator(&mut first);
            push_json_string(&mut self.buffer, key);
            self.buffer.extend_from_slice(if self.compact { b":" } else { b": " });
            self.value(item, out)?;
        }
        self.close(first, b'}', out)
    }

    /// Before an item: `,` after the first, and in pretty output a line break and the indent.
    #[inline]
    fn separator(&mut self, first: &mut bool) {
        if *first {
            self.indent += 1;
        } else {
            self.buffer.push(b',');
        }
        *first = false;
        if !self.compact {
            self.new_line();
        }
    }

    /// After the items: the closing bracket (on a line of its own in pretty output, unless
    /// there were no items), and the buffer to the output when it is full.
    #[inline]
    fn close(&mut self, empty: bool, bracket: u8, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if !empty {
            self.indent -= 1;
            if !self.compact {
                self.new_line();
            }
        }
        self.buffer.push(bracket);
        if self.buffer.len() >= Self::FLUSH_AT {
            out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    #[inline]
    fn new_line(&mut self) {
        self.buffer.push(b'\n');
        for _ in 0..self.indent {
            self.buffer.extend_from_slice(b"  ");
        }
    }
}

/// True when a byte of `word` may need escaping in JSON: a control character, `"` or `\`.
/// Exact for the lowest such byte; a byte above it may show up falsely (a borrow runs on),
/// which only sends the string to the careful path.
#[inline]
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero_in(quote) | zero_in(backslash)) & HIGH_BITS != 0
}

/// True when `bytes` may hold a byte that JSON escapes. Every byte is looked at inside a
/// word-sized piece, never one at a time: whole words, then the last eight bytes (overlapping
/// the words), and a short text as two overlapping halves (or its first, middle and last byte)
/// packed into one word. Most keys and values of a config are shorter than a word, where a
/// byte-by-byte loop cost more than the copy.
#[inline]
fn may_need_escaping(bytes: &[u8]) -> bool {
    let word = match bytes.len() {
        0 => return false,
        1..=3 => {
            u64::from_le_bytes([bytes[0], bytes[bytes.len() / 2], bytes[bytes.len() - 1], 0x20, 0x20, 0x20, 0x20, 0x20])
        }
        4..=7 => {
            let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) else { return true };
            u64::from(u32::from_le_bytes(*first)) | (u64::from(u32::from_le_bytes(*last)) << 32)
        }
        _ => {
            let (words, _) = bytes.as_chunks::<8>();
            if words.iter().any(|word| may_need_escape(u64::from_le_bytes(*word))) {
                return true;
            }
            let Some(last) = bytes.last_chunk::<8>() else { return true };
            u64::from_le_bytes(*last)
        }
    };
    may_need_escape(word)
}

/// Appends `text` as a quoted JSON string: copied whole when nothing in it needs escaping,
/// else escaped by serde_json itself (so the rare escaped string is written exactly as
/// serde_json writes it).
#[inline]
fn push_json_string(buffer: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if may_need_escaping(bytes) {
        return push_escaped_json_string(buffer, text);
    }
    buffer.reserve(bytes.len() + 2);
    buffer.push(b'"');
    buffer.extend_from_slice(bytes);
    buffer.push(b'"');
}

/// [`push_json_string`] for a text that may need escaping: out of line, so that the common
/// path stays small.
#[cold]
#[inline(never)]
fn push_escaped_json_string(buffer: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *buffer, text).expect("a string is written into a vector");
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

    pub(crate) fn push_int(&mut self, n: i64) {
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

    pub(crate) fn push_str(&mut self, text: &str) {
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

    /// The joined text as a string value's text. Inlined: the builder is not moved (its
    /// buffer copied) into a call.
    #[inline(always)]
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
        Value::Bytes(bytes) => out.push_str(&bytes_display(bytes)),
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

/// The standard base64 text (with padding) of `bytes`: how documents write byte strings.
pub fn base64_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a byte string displays: `b"…"` with printable ASCII as it is and every other byte as
/// an escape (`\n`, `\r`, `\t`, `\\`, `\"`, `\xNN`), so that binary data stays readable
/// and never disturbs a terminal.
pub fn bytes_display(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("b\"");
    for &byte in bytes {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
        }
    }
    out.push('"');
    out
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
    use crate::value::Key;

    #[test]
    fn floats_keep_their_point() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(to_display(&Value::array(vec![Value::Int(1), Value::string("a")])), "[1, \"a\"]");
    }

    /// Every value form, nested, and strings with every kind of byte, against serde_json.
    #[test]
    fn json_is_written_as_serde_json_writes_it() {
        let mut strings: Vec<String> = (0u8..0x80).map(|byte| format!("a{}b", char::from(byte))).collect();
        strings.extend(
            ["", "plain", "exactly8", "sixteen bytes ok", "é ✓ 🐘 long enough to take words", "tab\there \"q\" \\ end"]
                .map(String::from),
        );
        strings.push("x\u{1}".repeat(9));
        // Each byte that needs escaping at every place of texts of every length up to three
        // words: the short texts' halves and the last word overlap differently at each length.
        for length in 1..=24 {
            for at in 0..length {
                for special in ['"', '\\', '\n', '\u{1f}', '\u{0}'] {
                    let mut text: Vec<char> = vec!['x'; length];
                    text[at] = special;
                    strings.push(text.into_iter().collect());
                }
            }
        }
        strings.push(format!("{}\"{}", "w".repeat(15), "\u{7f}".repeat(8)));
        let function = crate::function::Function::Native(crate::function::NativeFunction {
            name: Key::new("f"),
            func: std::rc::Rc::new(|_, _| Ok(Value::Null)),
        });
        let function = Value::Func(std::rc::Rc::new(function));
        let mut object = crate::value::Object::new();
        for (index, text) in strings.iter().enumerate() {
            object.insert(Key::new(text), Value::string(text));
            object.insert(Key::new(format!("n{index}")), Value::Int(index as i64 * -7919));
        }
        object.insert(
            Key::new("floats"),
            Value::array([0.0, -0.0, 1.0, 2.5, 1e300, 1.5e-7, -3.25].map(Value::Float).to_vec()),
        );
        object.insert(Key::new("ints"), Value::array([0, i64::MIN, i64::MAX, 42].map(Value::Int).to_vec()));
        object.insert(Key::new("scalars"), Value::array(vec![Value::Null, Value::Bool(true), Value::Bool(false)]));
        object.insert(Key::new("function"), function.clone());
        object.insert(Key::new("only functions"), Value::array(vec![function.clone(), function.clone()]));
        object.insert(Key::new("empty"), Value::object(crate::value::Object::new()));
        object.insert(Key::new("range"), Value::Range(3, 8));
        object.insert(
            Key::new("nested"),
            Value::array(vec![Value::array(vec![]), Value::array(vec![Value::Int(1), function.clone()])]),
        );
        let document = Value::object(object);
        for value in [document, Value::Null, function, Value::Int(-5), Value::string("top"), Value::array(vec![])] {
            for compact in [true, false] {
                let mut written = Vec::new();
                write_json(&value, compact, &mut written).expect("written");
                let expected = if compact { serde_json::to_vec(&value) } else { serde_json::to_vec_pretty(&value) };
                assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(expected.unwrap()).unwrap());
            }
        }
        let mut written = Vec::new();
        let error = write_json(&Value::array(vec![Value::Float(f64::NAN)]), true, &mut written).unwrap_err();
        assert_eq!(error.to_string(), "NaN cannot be written: JSON has no infinite or NaN floats");
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
