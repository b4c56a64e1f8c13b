//! PostgreSQL values to and from [`SqlValue`]: results arrive in the binary format and are
//! decoded by column type; parameters go binary where the value and the parameter's type match
//! exactly (bool, integers, floats, text, null) and as text otherwise, so that the server
//! parses them with its own input rules (numeric, timestamps, UUIDs, JSON, arrays, enums).

use std::error::Error as StdError;
use std::fmt::Write;

use postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::time;
use crate::{SqlError, SqlErrorKind, SqlValue};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A cell's bytes, undecoded: every column type is accepted, and decoded by [`decode`].
pub(crate) struct RawCell<'a>(pub(crate) &'a [u8]);

impl<'a> FromSql<'a> for RawCell<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<RawCell<'a>, BoxError> {
        Ok(RawCell(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A cell of type `ty` in the binary format.
pub(crate) fn decode(ty: &Type, raw: &[u8]) -> Result<SqlValue, SqlError> {
    let value = match *ty {
        Type::VOID => SqlValue::Null,
        Type::BOOL => SqlValue::Bool(fixed::<1>(ty, raw)?[0] != 0),
        Type::INT2 => SqlValue::Int(i64::from(i16::from_be_bytes(fixed(ty, raw)?))),
        Type::INT4 => SqlValue::Int(i64::from(i32::from_be_bytes(fixed(ty, raw)?))),
        Type::INT8 => SqlValue::Int(i64::from_be_bytes(fixed(ty, raw)?)),
        Type::OID | Type::XID | Type::CID | Type::REGCLASS | Type::REGPROC | Type::REGTYPE => {
            SqlValue::Int(i64::from(u32::from_be_bytes(fixed(ty, raw)?)))
        }
        Type::FLOAT4 => SqlValue::Float(f64::from(f32::from_be_bytes(fixed(ty, raw)?))),
        Type::FLOAT8 => SqlValue::Float(f64::from_be_bytes(fixed(ty, raw)?)),
        Type::NUMERIC => SqlValue::Text(numeric(raw).ok_or_else(|| malformed(ty))?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML | Type::CHAR => {
            SqlValue::Text(text(ty, raw)?)
        }
        Type::JSON => SqlValue::Json(json(ty, raw)?),
        Type::JSONB => match raw.split_first() {
            Some((1, document)) => SqlValue::Json(json(ty, document)?),
            _ => return Err(malformed(ty)),
        },
        Type::BYTEA => SqlValue::Bytes(raw.to_vec()),
        Type::DATE => SqlValue::Text(time::date(i32::from_be_bytes(fixed(ty, raw)?))),
        Type::TIMESTAMP => SqlValue::Text(time::timestamp(i64::from_be_bytes(fixed(ty, raw)?), false)),
        Type::TIMESTAMPTZ => SqlValue::Text(time::timestamp(i64::from_be_bytes(fixed(ty, raw)?), true)),
        Type::TIME => SqlValue::Text(time::time(i64::from_be_bytes(fixed(ty, raw)?))),
        Type::TIMETZ => {
            let bytes: [u8; 12] = fixed(ty, raw)?;
            let micros = i64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
            let zone = i32::from_be_bytes(bytes[8..].try_into().unwrap_or_default());
            SqlValue::Text(time::time_with_zone(micros, zone))
        }
        Type::INTERVAL => {
            let bytes: [u8; 16] = fixed(ty, raw)?;
            let micros = i64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
            let days = i32::from_be_bytes(bytes[8..12].try_into().unwrap_or_default());
            let months = i32::from_be_bytes(bytes[12..].try_into().unwrap_or_default());
            SqlValue::Text(time::interval(micros, days, months))
        }
        Type::UUID => SqlValue::Text(uuid(&fixed::<16>(ty, raw)?)),
        _ => match ty.kind() {
            Kind::Array(element) => array(element, raw).ok_or_else(|| malformed(ty))??,
            // An enum's binary form is its label.
            Kind::Enum(_) => SqlValue::Text(text(ty, raw)?),
            Kind::Domain(base) => decode(base, raw)?,
            // citext and other text-like extension types have the text binary form.
            _ if ty.name() == "citext" => SqlValue::Text(text(ty, raw)?),
            _ => {
                return Err(SqlError::new(
                    SqlErrorKind::Conversion,
                    format!("postgres: cannot read values of type {} yet", ty.name()),
                )
                .with_help("cast the column to text in the query, for example `SELECT value::text`"));
            }
        },
    };
    Ok(value)
}

fn malformed(ty: &Type) -> SqlError {
    SqlError::new(SqlErrorKind::Conversion, format!("postgres: malformed {} value from the server", ty.name()))
}

fn fixed<const N: usize>(ty: &Type, raw: &[u8]) -> Result<[u8; N], SqlError> {
    raw.try_into().map_err(|_| malformed(ty))
}

fn text(ty: &Type, raw: &[u8]) -> Result<String, SqlError> {
    String::from_utf8(raw.to_vec()).map_err(|_| malformed(ty))
}

fn json(ty: &Type, raw: &[u8]) -> Result<serde_json::Value, SqlError> {
    serde_json::from_slice(raw).map_err(|_| malformed(ty))
}

fn uuid(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `numeric` in its binary form (base-10000 digits, a weight, a sign, a display scale) as
/// exact decimal text; `NaN`, `Infinity` and `-Infinity` as PostgreSQL writes them.
fn numeric(raw: &[u8]) -> Option<String> {
    let word = |index: usize| raw.get(index * 2..index * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let count = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    match sign {
        0xC000 => return Some("NaN".to_string()),
        0xD000 => return Some("Infinity".to_string()),
        0xF000 => return Some("-Infinity".to_string()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..count).map(|index| word(4 + index)).collect::<Option<_>>()?;
    let digit = |index: i64| if index >= 0 { digits.get(index as usize).copied().unwrap_or(0) } else { 0 };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for index in 0..=weight {
            if index == 0 {
                let _ = write!(out, "{}", digit(index));
            } else {
                let _ = write!(out, "{:04}", digit(index));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut index = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(index));
            index += 1;
        }
        fraction.truncate(scale);
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

/// A binary array: dimensions, then the elements in row-major order. Nested dimensions become
/// nested arrays; an empty array has no dimensions.
fn array(element: &Type, raw: &[u8]) -> Option<Result<SqlValue, SqlError>> {
    let int = |at: usize| raw.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let dimensions = usize::try_from(int(0)?).ok()?;
    let mut lengths = Vec::with_capacity(dimensions);
    for dimension in 0..dimensions {
        lengths.push(usize::try_from(int(12 + dimension * 8)?).ok()?);
    }
    let mut at = 12 + dimensions * 8;
    let total: usize = if dimensions == 0 { 0 } else { lengths.iter().product() };
    let mut items = Vec::with_capacity(total);
    for _ in 0..total {
        let length = int(at)?;
        at += 4;
        if length < 0 {
            items.push(SqlValue::Null);
            continue;
        }
        let bytes = raw.get(at..at + length as usize)?;
        at += length as usize;
        match decode(element, bytes) {
            Ok(value) => items.push(value),
            Err(error) => return Some(Err(error)),
        }
    }
    Some(Ok(nest(&mut items.into_iter(), &lengths)))
}

fn nest(items: &mut impl Iterator<Item = SqlValue>, lengths: &[usize]) -> SqlValue {
    match lengths.split_first() {
        None => SqlValue::Array(Vec::new()),
        Some((&length, [])) => SqlValue::Array(items.take(length).collect()),
        Some((&length, inner)) => SqlValue::Array((0..length).map(|_| nest(items, inner)).collect()),
    }
}

/// A parameter for a statement, sent as the statement's parameter type asks.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a SqlValue);

impl Param<'_> {
    /// True when the value goes in the binary format: its kind maps exactly onto `ty`.
    fn is_binary(&self, ty: &Type) -> bool {
        matches!(
            (self.0, ty),
            (SqlValue::Null, _)
                | (SqlValue::Bool(_), &Type::BOOL)
                | (
                    SqlValue::Int(_),
                    &Type::INT2 | &Type::INT4 | &Type::INT8 | &Type::FLOAT4 | &Type::FLOAT8 | &Type::OID
                )
                | (SqlValue::Float(_), &Type::FLOAT4 | &Type::FLOAT8)
                | (SqlValue::Bytes(_), &Type::BYTEA)
        )
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut postgres::types::private::BytesMut) -> Result<IsNull, BoxError> {
        let out_of_range =
            || -> BoxError { format!("{} does not fit the parameter's type {}", describe(self.0), ty.name()).into() };
        match (self.0, ty) {
            (SqlValue::Null, _) => return Ok(IsNull::Yes),
            (SqlValue::Bool(b), &Type::BOOL) => out.extend_from_slice(&[u8::from(*b)]),
            (SqlValue::Int(n), &Type::INT2) => {
                out.extend_from_slice(&i16::try_from(*n).map_err(|_| out_of_range())?.to_be_bytes())
            }
            (SqlValue::Int(n), &Type::INT4) => {
                out.extend_from_slice(&i32::try_from(*n).map_err(|_| out_of_range())?.to_be_bytes())
            }
            (SqlValue::Int(n), &Type::INT8) => out.extend_from_slice(&n.to_be_bytes()),
            (SqlValue::Int(n), &Type::OID) => {
                out.extend_from_slice(&u32::try_from(*n).map_err(|_| out_of_range())?.to_be_bytes())
            }
            (SqlValue::Int(n), &Type::FLOAT4) => out.extend_from_slice(&(*n as f32).to_be_bytes()),
            (SqlValue::Int(n), &Type::FLOAT8) => out.extend_from_slice(&(*n as f64).to_be_bytes()),
            (SqlValue::Float(x), &Type::FLOAT4) => out.extend_from_slice(&(*x as f32).to_be_bytes()),
            (SqlValue::Float(x), &Type::FLOAT8) => out.extend_from_slice(&x.to_be_bytes()),
            (SqlValue::Bytes(data), &Type::BYTEA) => out.extend_from_slice(data),
            // Bytes read as text would be stored as their `\x` hex form without a word: a text
            // parameter takes a string.
            (SqlValue::Bytes(_), ty) if !matches!(ty.kind(), Kind::Array(_)) => {
                return Err(format!("a byte string cannot be sent as {}: only bytea takes bytes", ty.name()).into());
            }
            (value, ty) => out.extend_from_slice(text_form(value, ty).as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        if self.is_binary(ty) { Format::Binary } else { Format::Text }
    }

    to_sql_checked!();
}

fn describe(value: &SqlValue) -> String {
    match value {
        SqlValue::Int(n) => format!("the integer {n}"),
        other => format!("a {}", other.kind_name()),
    }
}

/// The text PostgreSQL's input function for `ty` reads as `value`.
fn text_form(value: &SqlValue, ty: &Type) -> String {
    match value {
        SqlValue::Null => String::new(),
        SqlValue::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        SqlValue::Int(n) => n.to_string(),
        SqlValue::Float(x) => float_text(*x),
        SqlValue::Text(text) => text.clone(),
        // bytea's text input form, for the items of a bytea array.
        SqlValue::Bytes(data) => {
            let mut text = String::with_capacity(2 + 2 * data.len());
            text.push_str("\\x");
            for byte in data {
                text.push_str(&format!("{byte:02x}"));
            }
            text
        }
        SqlValue::Json(_) | SqlValue::Object(_) => value.to_json().to_string(),
        SqlValue::Array(_) if matches!(ty.kind(), Kind::Array(_)) => {
            let mut out = String::new();
            push_array_literal(&mut out, value);
            out
        }
        SqlValue::Array(_) => value.to_json().to_string(),
    }
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        x.to_string()
    }
}

/// `{1,"a b",NULL,{2,3}}`: every non-null element quoted, with `"` and `\` escaped.
fn push_array_literal(out: &mut String, value: &SqlValue) {
    match value {
        SqlValue::Array(items) => {
            out.push('{');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                match item {
                    SqlValue::Null => out.push_str("NULL"),
                    SqlValue::Array(_) => push_array_literal(out, item),
                    other => {
                        out.push('"');
                        for c in text_form(other, &Type::TEXT).chars() {
                            if c == '"' || c == '\\' {
                                out.push('\\');
                            }
                            out.push(c);
                        }
                        out.push('"');
                    }
                }
            }
            out.push('}');
        }
        other => out.push_str(&text_form(other, &Type::TEXT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, scale] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        for digit in digits {
            raw.extend_from_slice(&digit.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_keep_every_digit() {
        assert_eq!(numeric(&numeric_bytes(0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(numeric(&numeric_bytes(1, 0x4000, 0, &[1, 2345])).unwrap(), "-12345");
        assert_eq!(numeric(&numeric_bytes(-2, 0, 8, &[12])).unwrap(), "0.00000012");
        assert_eq!(numeric(&numeric_bytes(-1, 0, 4, &[12])).unwrap(), "0.0012");
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&numeric_bytes(2, 0, 1, &[1])).unwrap(), "100000000.0");
        assert_eq!(numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(numeric(&[0, 1]), None);
    }

    #[test]
    fn array_literals_quote_and_escape() {
        let value = SqlValue::Array(vec![
            SqlValue::Int(1),
            SqlValue::Text("a \"b\" \\c".into()),
            SqlValue::Null,
            SqlValue::Array(vec![SqlValue::Bool(true)]),
        ]);
        let mut out = String::new();
        push_array_literal(&mut out, &value);
        assert_eq!(out, r#"{"1","a \"b\" \\c",NULL,{"t"}}"#);
    }

    #[test]
    fn uuids_are_hyphenated() {
        let bytes: [u8; 16] = core::array::from_fn(|index| index as u8 * 17);
        assert_eq!(uuid(&bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }
}
