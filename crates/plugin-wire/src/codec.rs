//! The encoding: a tag byte per value or message, LEB128 varints for lengths, counts, ids and
//! (zigzag) integers, eight little-endian bytes for floats, raw UTF-8 for text.
//!
//! The decoder trusts nothing: every count is checked against the bytes left before anything is
//! allocated (each item takes at least one byte), text must be UTF-8, varints at most ten bytes
//! without overflow, nesting at most [`MAX_DEPTH`] levels, and a message must use its frame
//! exactly.

use std::fmt;

use crate::value::WireValue;

/// How deeply values may nest on the wire. Deeper values are refused by the sender (with an
/// error at the call) and by the decoder, so neither side recurses without bound.
pub const MAX_DEPTH: usize = 512;

/// Bytes that are not a valid message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset in the frame where decoding stopped.
    pub offset: usize,
    /// What was wrong.
    pub problem: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.problem, self.offset)
    }
}

impl std::error::Error for DecodeError {}

mod value_tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const STR: u8 = 5;
    pub const ARRAY: u8 = 6;
    pub const OBJECT: u8 = 7;
    pub const RANGE: u8 = 8;
    pub const FUNCTION: u8 = 9;
    pub const PLUGIN_OBJECT: u8 = 10;
    pub const OPAQUE: u8 = 11;
    pub const BYTES: u8 = 12;
}

/// Appends encoded data to a buffer.
pub(crate) struct Encoder<'a> {
    pub(crate) out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    pub(crate) fn byte(&mut self, byte: u8) {
        self.out.push(byte);
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.out.push(u8::from(value));
    }

    pub(crate) fn u64(&mut self, mut value: u64) {
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.out.push(low);
                return;
            }
            self.out.push(low | 0x80);
        }
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.u64(u64::from(value));
    }

    pub(crate) fn i64(&mut self, value: i64) {
        // Zigzag, so that small negative numbers stay short.
        self.u64(((value << 1) ^ (value >> 63)) as u64);
    }

    pub(crate) fn f64(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    pub(crate) fn str(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    pub(crate) fn strs(&mut self, texts: &[String]) {
        self.u64(texts.len() as u64);
        for text in texts {
            self.str(text);
        }
    }

    pub(crate) fn option_str(&mut self, text: Option<&str>) {
        match text {
            None => self.byte(0),
            Some(text) => {
                self.byte(1);
                self.str(text);
            }
        }
    }

    /// Encodes a value. Values deeper than [`MAX_DEPTH`] are the sender's bug (both sides
    /// check depth when they build wire values); the excess is written as `null` so that the
    /// encoder itself never recurses without bound.
    pub(crate) fn value(&mut self, value: &WireValue) {
        self.value_at(value, 0);
    }

    fn value_at(&mut self, value: &WireValue, depth: usize) {
        if depth > MAX_DEPTH {
            self.byte(value_tag::NULL);
            return;
        }
        match value {
            WireValue::Null => self.byte(value_tag::NULL),
            WireValue::Bool(false) => self.byte(value_tag::FALSE),
            WireValue::Bool(true) => self.byte(value_tag::TRUE),
            WireValue::Int(n) => {
                self.byte(value_tag::INT);
                self.i64(*n);
            }
            WireValue::Float(x) => {
                self.byte(value_tag::FLOAT);
                self.f64(*x);
            }
            WireValue::Str(text) => {
                self.byte(value_tag::STR);
                self.str(text);
            }
            WireValue::Bytes(bytes) => {
                self.byte(value_tag::BYTES);
                self.bytes(bytes);
            }
            WireValue::Array(items) => {
                self.byte(value_tag::ARRAY);
                self.u64(items.len() as u64);
                for item in items {
                    self.value_at(item, depth + 1);
                }
            }
            WireValue::Object(entries) => {
                self.byte(value_tag::OBJECT);
                self.u64(entries.len() as u64);
                for (key, item) in entries {
                    self.str(key);
                    self.value_at(item, depth + 1);
                }
            }
            WireValue::Range(start, end) => {
                self.byte(value_tag::RANGE);
                self.i64(*start);
                self.i64(*end);
            }
            WireValue::Function(id) => {
                self.byte(value_tag::FUNCTION);
                self.u64(*id);
            }
            WireValue::PluginObject { id, type_name } => {
                self.byte(value_tag::PLUGIN_OBJECT);
                self.u64(*id);
                self.str(type_name);
            }
            WireValue::Opaque(id) => {
                self.byte(value_tag::OPAQUE);
                self.u64(*id);
            }
        }
    }

    pub(crate) fn values(&mut self, values: &[WireValue]) {
        self.u64(values.len() as u64);
        for value in values {
            self.value(value);
        }
    }
}

/// Reads encoded data from a frame.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

impl<'a> Decoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes, at: 0 }
    }

    pub(crate) fn fail<T>(&self, problem: &'static str) -> Decoded<T> {
        Err(DecodeError { offset: self.at, problem })
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// Succeeds when every byte was used.
    pub(crate) fn finish(&self) -> Decoded<()> {
        if self.at == self.bytes.len() { Ok(()) } else { self.fail("trailing bytes after the message") }
    }

    pub(crate) fn byte(&mut self) -> Decoded<u8> {
        let Some(&byte) = self.bytes.get(self.at) else { return self.fail("unexpected end of frame") };
        self.at += 1;
        Ok(byte)
    }

    pub(crate) fn bool(&mut self) -> Decoded<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => self.fail("invalid boolean"),
        }
    }

    pub(crate) fn u64(&mut self) -> Decoded<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            // The tenth byte may only carry the top bit of a u64.
            if shift == 63 && byte > 1 {
                return self.fail("varint overflows 64 bits");
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.fail("varint longer than ten bytes")
    }

    pub(crate) fn u32(&mut self) -> Decoded<u32> {
        let value = self.u64()?;
        u32::try_from(value).or_else(|_| self.fail("number does not fit 32 bits"))
    }

    pub(crate) fn u16(&mut self) -> Decoded<u16> {
        let value = self.u64()?;
        u16::try_from(value).or_else(|_| self.fail("number does not fit 16 bits"))
    }

    pub(crate) fn i64(&mut self) -> Decoded<i64> {
        let raw = self.u64()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    pub(crate) fn f64(&mut self) -> Decoded<f64> {
        let Some(bytes) = self.bytes.get(self.at..self.at + 8) else { return self.fail("unexpected end of frame") };
        self.at += 8;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        Ok(f64::from_bits(u64::from_le_bytes(raw)))
    }

    /// A count of items that take at least `min_size` bytes each, checked against the bytes
    /// left, so a hostile count never makes the decoder reserve memory.
    pub(crate) fn count(&mut self, min_size: usize) -> Decoded<usize> {
        let count = self.u64()?;
        match usize::try_from(count) {
            Ok(count) if count.checked_mul(min_size).is_some_and(|bytes| bytes <= self.left()) => Ok(count),
            _ => self.fail("count larger than the frame"),
        }
    }

    pub(crate) fn str(&mut self) -> Decoded<String> {
        let length = self.count(1)?;
        let bytes = &self.bytes[self.at..self.at + length];
        let text = std::str::from_utf8(bytes).or_else(|_| self.fail("text is not UTF-8"))?;
        self.at += length;
        Ok(text.to_string())
    }

    pub(crate) fn bytes(&mut self) -> Decoded<Vec<u8>> {
        let length = self.count(1)?;
        let bytes = self.bytes[self.at..self.at + length].to_vec();
        self.at += length;
        Ok(bytes)
    }

    pub(crate) fn strs(&mut self) -> Decoded<Vec<String>> {
        let count = self.count(1)?;
        let mut texts = Vec::with_capacity(count);
        for _ in 0..count {
            texts.push(self.str()?);
        }
        Ok(texts)
    }

    pub(crate) fn option_str(&mut self) -> Decoded<Option<String>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => self.fail("invalid option tag"),
        }
    }

    pub(crate) fn value(&mut self) -> Decoded<WireValue> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Decoded<WireValue> {
        if depth > MAX_DEPTH {
            return self.fail("value nested too deeply");
        }
        Ok(match self.byte()? {
            value_tag::NULL => WireValue::Null,
            value_tag::FALSE => WireValue::Bool(false),
            value_tag::TRUE => WireValue::Bool(true),
            value_tag::INT => WireValue::Int(self.i64()?),
            value_tag::FLOAT => WireValue::Float(self.f64()?),
            value_tag::STR => WireValue::Str(self.str()?),
            value_tag::BYTES => WireValue::Bytes(self.bytes()?),
            value_tag::ARRAY => {
                let count = self.count(1)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value_at(depth + 1)?);
                }
                WireValue::Array(items)
            }
            value_tag::OBJECT => {
                // An entry is at least a key length and a value tag.
                let count = self.count(2)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = self.str()?;
                    entries.push((key, self.value_at(depth + 1)?));
                }
                WireValue::Object(entries)
            }
            value_tag::RANGE => WireValue::Range(self.i64()?, self.i64()?),
            value_tag::FUNCTION => WireValue::Function(self.u64()?),
            value_tag::PLUGIN_OBJECT => WireValue::PluginObject { id: self.u64()?, type_name: self.str()? },
            value_tag::OPAQUE => WireValue::Opaque(self.u64()?),
            _ => {
                self.at -= 1;
                return self.fail("unknown value tag");
            }
        })
    }

    pub(crate) fn values(&mut self) -> Decoded<Vec<WireValue>> {
        let count = self.count(1)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.value()?);
        }
        Ok(values)
    }
}
