//! bytes, utf8, hex, from_hex, base64, from_base64: byte strings and their text forms.

use base64::Engine as _;

use crate::context::{CallContext, arg_bytes, arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::output::base64_text;
use crate::registry::SymbolSpec;
use crate::value::{Bytes, Value};

/// A new byte-string value, within the string size limit.
fn new_bytes(ctx: &CallContext<'_, '_>, bytes: Vec<u8>) -> Result<Value, RuntimeError> {
    ctx.check_string_len(bytes.len())?;
    Ok(Value::Bytes(Bytes::from(bytes)))
}

fn bytes_function() -> SymbolSpec {
    SymbolSpec::function("bytes", |ctx, args| {
        expect_arity("bytes", args, 1, 1)?;
        match &args[0] {
            Value::Bytes(bytes) => Ok(Value::Bytes(bytes.clone())),
            Value::Str(text) => new_bytes(ctx, text.as_bytes().to_vec()),
            Value::Array(items) => {
                let mut bytes = Vec::with_capacity(items.len());
                for (position, item) in items.iter().enumerate() {
                    match item {
                        Value::Int(n) if (0..=255).contains(n) => bytes.push(*n as u8),
                        Value::Int(n) => {
                            return Err(RuntimeError::argument(
                                0,
                                format!("item {position} is {n}, not a byte (0 to 255)"),
                            ));
                        }
                        other => {
                            return Err(RuntimeError::argument(
                                0,
                                format!("item {position} is {}, not a byte (an int 0 to 255)", other.type_name()),
                            ));
                        }
                    }
                }
                new_bytes(ctx, bytes)
            }
            other => Err(RuntimeError::argument(
                0,
                format!("argument 1 must be a string, an array of ints 0 to 255, or bytes, not {}", other.type_name()),
            )),
        }
    })
    .signature("bytes(value)")
    .summary("A byte string: a string's UTF-8 encoding, or the bytes of an array of ints 0 to 255.")
    .example("len(bytes(\"hé\")) => 3")
    .example("hex(bytes([116, 117, 0])) => \"747500\"")
}

fn utf8() -> SymbolSpec {
    SymbolSpec::function("utf8", |_ctx, args| {
        expect_arity("utf8", args, 1, 1)?;
        let bytes = arg_bytes(args, 0)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Value::string(text)),
            Err(error) => Err(RuntimeError::argument(
                0,
                format!(
                    "the bytes are not UTF-8 text: byte {} (0x{:02x}) starts no valid character",
                    error.valid_up_to(),
                    bytes[error.valid_up_to()]
                ),
            )),
        }
    })
    .signature("utf8(bytes)")
    .summary("The UTF-8 text the bytes encode (an error if they are not UTF-8).")
    .example("utf8(bytes(\"tusk\")) => \"tusk\"")
}

fn hex() -> SymbolSpec {
    SymbolSpec::function("hex", |ctx, args| {
        expect_arity("hex", args, 1, 1)?;
        let bytes = arg_bytes(args, 0)?;
        ctx.check_string_len(bytes.len().saturating_mul(2))?;
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(bytes.len() * 2);
        for &byte in bytes {
            text.push(char::from(DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(DIGITS[usize::from(byte & 15)]));
        }
        Ok(Value::from(text))
    })
    .signature("hex(bytes)")
    .summary("The bytes as lower-case hexadecimal text, two digits a byte.")
    .example("hex(bytes([0, 171, 255])) => \"00abff\"")
}

fn hex_digit(text: &str, position: usize) -> Result<u8, RuntimeError> {
    let digit = text.as_bytes()[position];
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => {
            let character = text[position..].chars().next().unwrap_or_default();
            Err(RuntimeError::argument(0, format!("{character:?} at byte {position} is not a hexadecimal digit")))
        }
    }
}

fn from_hex() -> SymbolSpec {
    SymbolSpec::function("from_hex", |ctx, args| {
        expect_arity("from_hex", args, 1, 1)?;
        let text = arg_str(args, 0)?;
        if text.len() % 2 == 1 {
            return Err(RuntimeError::argument(
                0,
                format!("hexadecimal text has two digits a byte, but this one is {} bytes long (odd)", text.len()),
            ));
        }
        let mut bytes = Vec::with_capacity(text.len() / 2);
        for position in (0..text.len()).step_by(2) {
            bytes.push(hex_digit(text, position)? << 4 | hex_digit(text, position + 1)?);
        }
        new_bytes(ctx, bytes)
    })
    .signature("from_hex(text)")
    .summary("The bytes that hexadecimal text (either case) spells.")
    .example("bytes(from_hex(\"00abFF\")) == bytes([0, 171, 255]) => true")
}

fn base64_function() -> SymbolSpec {
    SymbolSpec::function("base64", |ctx, args| {
        expect_arity("base64", args, 1, 1)?;
        let bytes = arg_bytes(args, 0)?;
        ctx.check_string_len(bytes.len().div_ceil(3).saturating_mul(4))?;
        Ok(Value::from(base64_text(bytes)))
    })
    .signature("base64(bytes)")
    .summary("The bytes as standard base64 text, with padding.")
    .example("base64(bytes(\"tusk\")) => \"dHVzaw==\"")
}

/// Standard base64 with or without its padding (a text that has padding must have it right).
const BASE64_READER: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn from_base64() -> SymbolSpec {
    SymbolSpec::function("from_base64", |ctx, args| {
        expect_arity("from_base64", args, 1, 1)?;
        let text = arg_str(args, 0)?;
        let bytes = BASE64_READER.decode(text).map_err(|error| {
            let reason = match error {
                base64::DecodeError::InvalidByte(offset, byte) => {
                    format!("{:?} at byte {offset} is not a base64 character", char::from(byte))
                }
                base64::DecodeError::InvalidLength(length) => format!("{length} base64 characters cannot end a text"),
                base64::DecodeError::InvalidLastSymbol(offset, byte) => {
                    format!("the last character, {:?} at byte {offset}, has bits that encode nothing", char::from(byte))
                }
                base64::DecodeError::InvalidPadding => "its padding is wrong".to_string(),
            };
            RuntimeError::argument(0, format!("the text is not standard base64: {reason}"))
        })?;
        new_bytes(ctx, bytes)
    })
    .signature("from_base64(text)")
    .summary("The bytes that standard base64 text (padding optional) encodes.")
    .example("utf8(from_base64(\"dHVzaw\")) => \"tusk\"")
}

pub(super) fn specs() -> Vec<SymbolSpec> {
    vec![bytes_function(), utf8(), hex(), from_hex(), base64_function(), from_base64()]
}
