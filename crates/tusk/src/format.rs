//! Writing documents as JSON, YAML, TOML and flat `path = value` lines.
//!
//! Every format follows the same rules (the language reference's "result document"):
//! functions are left out of objects and arrays (a function on its own is `null`); a range is
//! the object `{"min": first, "max": last, "type": "range"}`; a plugin handle is the string
//! `"<type name>"`; a byte string is its standard base64 text (with padding), tagged `!!binary`
//! in YAML, and `from_base64("…")` in TuskLang source; and a float that is infinite or NaN is an error that names its path, in every
//! format: JSON has no such numbers, and writing `null` (or one format's own spelling) would
//! change the value without a word. Every string is written so that it reads back as the same
//! string, in YAML 1.1 and 1.2 readers alike.

use std::borrow::Cow;
use std::fmt;

use tusk_eval::path::Path;
use tusk_eval::{Object, Value, base64_text, format_float};

/// A value that a format cannot write, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// Where the value is (`parsed.manager`; empty for the whole value).
    pub path: String,
    /// What is wrong with it, as a sentence that names the path.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FormatError {}

/// `the value` for the root, else `` `path` ``.
fn describe(path: &Path) -> String {
    if path.is_empty() { "the value".to_string() } else { format!("`{path}`") }
}

/// True when no float in `value` is infinite or NaN. The walk that names the path of such a
/// float builds a string per key, which would cost more than writing a big document: it runs
/// only when this one found something.
fn all_finite(value: &Value) -> bool {
    // Items are looked at in the loop of their container; only containers are a call (most
    // values of a document are scalars).
    let item_finite = |item: &Value| match item {
        Value::Float(x) => x.is_finite(),
        Value::Object(_) | Value::Array(_) => all_finite(item),
        _ => true,
    };
    match value {
        Value::Float(x) => x.is_finite(),
        Value::Object(object) => object.values().all(item_finite),
        Value::Array(list) => list.iter().all(item_finite),
        _ => true,
    }
}

/// Fails on the first float that is infinite or NaN.
fn check_finite(value: &Value, path: &mut Path) -> Result<(), FormatError> {
    if all_finite(value) {
        return Ok(());
    }
    check_finite_at(value, path)
}

/// [`check_finite`] naming the path of the float.
fn check_finite_at(value: &Value, path: &mut Path) -> Result<(), FormatError> {
    match value {
        Value::Float(x) if !x.is_finite() => Err(FormatError {
            path: path.to_string(),
            message: format!(
                "{} is {}: output formats do not write infinite or NaN floats (make it a string with `str()` or a finite number first)",
                describe(path),
                format_float(*x)
            ),
        }),
        Value::Object(object) => {
            for (key, item) in entries(object) {
                path.push_key(key);
                check_finite_at(item, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(list) => {
            for (index, item) in items(list).enumerate() {
                path.push_index(index as i64);
                check_finite_at(item, path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What output shows for a value: a range as its object, everything else as it is.
fn output_form(value: &Value) -> Cow<'_, Value> {
    match value {
        Value::Range(start, end) => Cow::Owned(Value::object(Value::range_object(*start, *end))),
        other => Cow::Borrowed(other),
    }
}

/// The entries of an object that output shows (functions left out).
fn entries(object: &Object) -> impl Iterator<Item = (&str, &Value)> {
    object.iter().filter(|(_, value)| !value.is_function()).map(|(key, value)| (key.as_str(), value))
}

/// The items of an array that output shows (functions left out).
fn items(list: &[Value]) -> impl Iterator<Item = &Value> {
    list.iter().filter(|item| !item.is_function())
}

/// Pretty (two-space indented) or compact JSON.
pub fn to_json(value: &Value, compact: bool) -> Result<String, FormatError> {
    check_finite(value, &mut Path::new())?;
    let mut text = Vec::new();
    // Writing into a vector fails only on non-finite floats, refused above with their path.
    let written = tusk_eval::write_json(value, compact, &mut text)
        .map_err(|error| FormatError { path: String::new(), message: error.to_string() });
    written?;
    Ok(String::from_utf8(text).expect("JSON written from strings is UTF-8"))
}

/// [`to_json`] written into `out` as it is produced, without the whole text in memory first
/// (the CLI writes documents to standard output this way). A value JSON cannot hold is refused
/// before anything is written (the outer error); a failure of `out` itself is the inner one.
pub fn write_json(
    value: &Value,
    compact: bool,
    mut out: impl std::io::Write,
) -> Result<std::io::Result<()>, FormatError> {
    check_finite(value, &mut Path::new())?;
    // Writing fails only on non-finite floats, refused above: what is left is an error of `out`.
    Ok(tusk_eval::write_json(value, compact, &mut out))
}

/// One `path = json` line per leaf, in the path syntax of `tusk get` (`server.port`,
/// `hosts[0]`, `a."b.c"`), so that no two leaves print the same path. A scalar, or an empty
/// object or array, on its own is its JSON.
pub fn to_flat(value: &Value) -> Result<String, FormatError> {
    check_finite(value, &mut Path::new())?;
    let value = output_form(value);
    if !is_block(&value) {
        return to_json(&value, true).map(|json| format!("{json}\n"));
    }
    let mut out = String::new();
    flatten(&value, &mut Path::new(), &mut out)?;
    Ok(out)
}

fn flatten(value: &Value, path: &mut Path, out: &mut String) -> Result<(), FormatError> {
    let value = output_form(value);
    match &*value {
        Value::Object(object) if is_block(&value) => {
            for (key, item) in entries(object) {
                path.push_key(key);
                flatten(item, path, out)?;
                path.pop();
            }
        }
        Value::Array(list) if is_block(&value) => {
            for (index, item) in items(list).enumerate() {
                path.push_index(index as i64);
                flatten(item, path, out)?;
                path.pop();
            }
        }
        leaf => {
            out.push_str(&path.to_string());
            out.push_str(" = ");
            out.push_str(&to_json(leaf, true)?);
            out.push('\n');
        }
    }
    Ok(())
}

/// True for a value with parts: a non-empty object or array, or a range (YAML writes it over
/// several lines, flat output one line per part).
fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(object) => entries(object).next().is_some(),
        Value::Array(list) => items(list).next().is_some(),
        Value::Range(..) => true,
        _ => false,
    }
}

/// Block-style YAML that YAML 1.1 and 1.2 readers read back as the same document.
pub fn to_yaml(value: &Value) -> Result<String, FormatError> {
    check_finite(value, &mut Path::new())?;
    let mut out = String::new();
    let value = output_form(value);
    if is_block(&value) {
        yaml_block(&value, 0, &mut out);
    } else {
        out.push_str(&yaml_scalar(&value));
        out.push('\n');
    }
    Ok(out)
}

/// Writes a non-empty object or array, each line indented by `indent` spaces.
fn yaml_block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(object) => {
            for (key, item) in entries(object) {
                out.push_str(&pad);
                out.push_str(&yaml_string(key));
                out.push(':');
                yaml_child(item, indent, false, out);
            }
        }
        Value::Array(list) => {
            for item in items(list) {
                out.push_str(&pad);
                out.push('-');
                yaml_child(item, indent, true, out);
            }
        }
        _ => unreachable!("only objects and arrays are blocks"),
    }
}

/// Writes what follows `key:` or `-`: a scalar on the same line, or a block below. A block that
/// is an array item starts on the dash's line (`- name: a`), as people write it.
fn yaml_child(value: &Value, indent: usize, list_item: bool, out: &mut String) {
    let value = output_form(value);
    if !is_block(&value) {
        out.push(' ');
        out.push_str(&yaml_scalar(&value));
        out.push('\n');
        return;
    }
    let mut block = String::new();
    yaml_block(&value, indent + 2, &mut block);
    if list_item {
        out.push(' ');
        out.push_str(&block[indent + 2..]);
    } else {
        out.push('\n');
        out.push_str(&block);
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null | Value::Func(_) => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => yaml_float(*x),
        Value::Str(text) => yaml_string(text),
        // Base64 text is a plain scalar in every YAML reader: letters, digits, `+`, `/`, `=`.
        Value::Bytes(bytes) => format!("!!binary {}", base64_text(bytes)),
        Value::Foreign(foreign) => yaml_string(&format!("<{}>", foreign.type_name)),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) | Value::Range(..) => "{}".to_string(),
    }
}

/// A finite float in the form both YAML versions read as a float: YAML 1.1 needs a point in
/// the digits and a sign in the exponent (`1e300` is a string there), so `1e300` becomes
/// `1.0e+300`.
fn yaml_float(x: f64) -> String {
    let text = format_float(x);
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (text.as_str(), None),
    };
    let mut out = mantissa.to_string();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(exponent) = exponent {
        out.push('e');
        if !exponent.starts_with(['-', '+']) {
            out.push('+');
        }
        out.push_str(exponent);
    }
    out
}

/// Words that some YAML reader takes for a bool or null, compared without case: YAML 1.1 reads
/// `y`, `yes`, `on`, `off` … as bools, YAML 1.2 `true`, `false`, `null`.
const YAML_SPECIAL_WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// A string plain when that is certain to read back as the same string, double-quoted
/// otherwise. Plain needs a first character that is a letter, `_` or `/` (numbers, dates,
/// times, `.inf`, `~` and every indicator start otherwise), no special word, no `: ` or ` #`
/// and no `:` at the end, no leading or trailing space, and only printable characters.
fn yaml_string(text: &str) -> String {
    if is_plain_yaml(text) { text.to_string() } else { yaml_double_quoted(text) }
}

fn is_plain_yaml(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    (first.is_alphabetic() || first == '_' || first == '/')
        && !YAML_SPECIAL_WORDS.iter().any(|word| word.eq_ignore_ascii_case(text))
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && text.chars().all(|c| c.is_alphanumeric() || c == ' ' || "_-./:@+()',;=?&%*!~$^".contains(c))
}

/// A double-quoted YAML string: `"` and `\` escaped, line breaks and every character a YAML
/// reader might not keep as it is (control characters, NEL, the line and paragraph separators,
/// the byte order mark, non-characters) written as escapes.
fn yaml_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// TOML. The value must be a table (an object); `null` has no TOML form, so a document holding
/// one is refused with the key's path. Plain keys come first in each table, then its tables
/// and arrays of tables (TOML requires that order; the data is the same).
pub fn to_toml(value: &Value) -> Result<String, FormatError> {
    check_finite(value, &mut Path::new())?;
    let value = output_form(value);
    let Value::Object(root) = &*value else {
        return Err(FormatError {
            path: String::new(),
            message: format!(
                "TOML can only write a table of keys, and the value is {} (JSON and YAML can write it)",
                article_and_type(&value)
            ),
        });
    };
    let mut out = String::new();
    toml_table(root, &mut Path::new(), &mut Vec::new(), &mut out)?;
    Ok(out.trim_start_matches('\n').to_string())
}

fn article_and_type(value: &Value) -> String {
    let type_name = value.type_name();
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {type_name}")
}

/// True for a value written as a `[table]`.
fn is_toml_table(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Range(..))
}

/// True for a non-empty array of tables, written as `[[name]]` blocks.
fn is_toml_array_of_tables(value: &Value) -> bool {
    match value {
        Value::Array(list) => items(list).next().is_some() && items(list).all(is_toml_table),
        _ => false,
    }
}

/// Writes the body of a table: its plain keys, then its tables. `path` is where it is (for
/// errors, with array indexes), `header` the keys of its `[header]`.
fn toml_table(object: &Object, path: &mut Path, header: &mut Vec<String>, out: &mut String) -> Result<(), FormatError> {
    for (key, item) in entries(object).filter(|(_, item)| !is_toml_table(item) && !is_toml_array_of_tables(item)) {
        path.push_key(key);
        let written = toml_value(item, path, Layout::Indented(0))?;
        path.pop();
        out.push_str(&toml_key(key));
        out.push_str(" = ");
        out.push_str(&written);
        out.push('\n');
    }
    for (key, item) in entries(object) {
        path.push_key(key);
        header.push(toml_key(key));
        if is_toml_table(item) {
            out.push_str(&format!("\n[{}]\n", header.join(".")));
            let item = output_form(item);
            let Value::Object(table) = &*item else { unreachable!("a table is an object") };
            toml_table(table, path, header, out)?;
        } else if let Value::Array(list) = item
            && is_toml_array_of_tables(item)
        {
            for (index, table) in items(list).enumerate() {
                out.push_str(&format!("\n[[{}]]\n", header.join(".")));
                path.push_index(index as i64);
                let table = output_form(table);
                let Value::Object(table) = &*table else { unreachable!("an array of tables holds tables") };
                toml_table(table, path, header, out)?;
                path.pop();
            }
        }
        header.pop();
        path.pop();
    }
    Ok(())
}

/// Arrays that fit in this many characters stay on one line.
const TOML_LINE_WIDTH: usize = 80;

/// How an inline value may be laid out.
#[derive(Clone, Copy)]
enum Layout {
    /// Starting on a line indented this far: an array too long for one line gets one item per
    /// line, each nesting level four spaces further in.
    Indented(usize),
    /// On one line, whatever its length (inside an inline table, which TOML keeps on one line).
    OneLine,
}

/// A value in inline form.
fn toml_value(value: &Value, path: &mut Path, layout: Layout) -> Result<String, FormatError> {
    Ok(match value {
        Value::Null | Value::Func(_) => {
            return Err(FormatError {
                path: path.to_string(),
                message: format!("TOML has no null: {} (leave the key out, or use JSON or YAML)", describe(path)),
            });
        }
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        // `format_float` always writes a point or an exponent (`1.0`, `1e300`): TOML floats.
        Value::Float(x) => format_float(*x),
        Value::Str(text) => toml_string(text),
        Value::Bytes(bytes) => toml_string(&base64_text(bytes)),
        Value::Foreign(foreign) => toml_string(&format!("<{}>", foreign.type_name)),
        Value::Range(start, end) => toml_inline_table(&Value::range_object(*start, *end), path)?,
        Value::Object(object) => toml_inline_table(object, path)?,
        Value::Array(list) => {
            let item_layout = match layout {
                Layout::Indented(indent) => Layout::Indented(indent + 4),
                Layout::OneLine => Layout::OneLine,
            };
            let mut written = Vec::new();
            for (index, item) in items(list).enumerate() {
                path.push_index(index as i64);
                written.push(toml_value(item, path, item_layout)?);
                path.pop();
            }
            let one_line = format!("[{}]", written.join(", "));
            let indent = match layout {
                Layout::Indented(indent) if indent + one_line.len() > TOML_LINE_WIDTH || one_line.contains('\n') => {
                    indent
                }
                _ => return Ok(one_line),
            };
            let pad = " ".repeat(indent + 4);
            let mut lines = String::from("[\n");
            for item in written {
                lines.push_str(&format!("{pad}{item},\n"));
            }
            lines.push_str(&" ".repeat(indent));
            lines.push(']');
            lines
        }
    })
}

/// `{ a = 1, b = "x" }`: TOML inline tables are one line, so their arrays are too.
fn toml_inline_table(object: &Object, path: &mut Path) -> Result<String, FormatError> {
    let mut parts = Vec::new();
    for (key, item) in entries(object) {
        path.push_key(key);
        let written = toml_value(item, path, Layout::OneLine)?;
        path.pop();
        parts.push(format!("{} = {}", toml_key(key), written));
    }
    Ok(if parts.is_empty() { "{}".to_string() } else { format!("{{ {} }}", parts.join(", ")) })
}

/// A key bare when TOML allows it (letters, digits, `_`, `-`), quoted otherwise.
fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_string()
    } else {
        toml_string(key)
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{0}'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// How wide a line of [`to_tusk`] output may grow before an array or object is written over
/// several lines.
const TUSK_LINE_WIDTH: usize = 80;

/// A document as idiomatic TuskLang source (what `tusk convert` writes): `key: value` lines,
/// a `[section]` per top-level object when they all follow the other top-level entries (as in
/// TOML; else `name { … }` blocks), blocks for nested objects, short arrays and objects inline
/// and long ones over several lines, four spaces of indentation. Evaluating the text gives back
/// the same document. The value must be an object; `plugins` at the top level is refused,
/// because TuskLang reads it as plugin configuration rather than data.
pub fn to_tusk(value: &Value) -> Result<String, FormatError> {
    check_finite(value, &mut Path::new())?;
    let Value::Object(object) = value else {
        return Err(FormatError {
            path: String::new(),
            message: format!("a TuskLang document is an object (key: value entries), not {}", article_and_type(value)),
        });
    };
    if let Some(Value::Object(_)) = object.get("plugins") {
        return Err(FormatError {
            path: "plugins".to_string(),
            message: "`plugins` at the top level is plugin configuration in TuskLang, not data; rename the key \
                      or nest it"
                .to_string(),
        });
    }
    let entries: Vec<(&str, &Value)> = entries(object).collect();
    let is_table = |value: &&Value| matches!(value, Value::Object(_));
    let first_table = entries.iter().position(|(_, value)| is_table(value));
    let sections = first_table.is_some_and(|first| entries[first..].iter().all(|(_, value)| is_table(value)));
    let mut out = String::new();
    for (position, (key, value)) in entries.iter().enumerate() {
        match (sections, value) {
            (true, Value::Object(table)) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("[{}]\n", crate::edit::key_text(key)));
                tusk_entries(table, 0, &mut out);
            }
            _ => {
                let is_block = matches!(value, Value::Object(table) if entries_len(table) > 0);
                if is_block && position > 0 && !out.ends_with("\n\n") {
                    out.push('\n');
                }
                tusk_entry(key, value, 0, &mut out);
                let next_is_plain =
                    entries.get(position + 1).is_some_and(|(_, next)| !matches!(next, Value::Object(_)));
                if is_block && next_is_plain {
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

fn entries_len(object: &Object) -> usize {
    entries(object).count()
}

fn tusk_entries(object: &Object, indent: usize, out: &mut String) {
    for (key, value) in entries(object) {
        tusk_entry(key, value, indent, out);
    }
}

/// One entry: `key: value`, or a block `key {` … `}` for a non-empty object.
fn tusk_entry(key: &str, value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let key_text = crate::edit::key_text(key);
    match output_form(value).as_ref() {
        Value::Object(object) if entries_len(object) > 0 => {
            // Blocks take a plain name; a quoted key opens an object literal over lines.
            if key_text.starts_with('"') {
                out.push_str(&format!("{pad}{key_text}: {{\n"));
            } else {
                out.push_str(&format!("{pad}{key_text} {{\n"));
            }
            tusk_entries(object, indent + 4, out);
            out.push_str(&format!("{pad}}}\n"));
        }
        other => {
            let prefix = format!("{pad}{key_text}: ");
            let text = tusk_value(other, indent, prefix.len());
            out.push_str(&prefix);
            out.push_str(&text);
            out.push('\n');
        }
    }
}

/// A value in expression position, starting `column` characters into a line indented by
/// `indent`: inline when it fits, else over lines.
fn tusk_value(value: &Value, indent: usize, column: usize) -> String {
    if let Some(inline) = tusk_inline(value)
        && column + inline.len() <= TUSK_LINE_WIDTH
    {
        return inline;
    }
    let pad = " ".repeat(indent);
    let inner = " ".repeat(indent + 4);
    match output_form(value).as_ref() {
        Value::Array(list) => {
            let mut out = String::from("[\n");
            for item in items(list) {
                out.push_str(&inner);
                out.push_str(&tusk_value(item, indent + 4, indent + 4));
                out.push_str(",\n");
            }
            out.push_str(&pad);
            out.push(']');
            out
        }
        Value::Object(object) => {
            let mut out = String::from("{\n");
            for (key, item) in entries(object) {
                let prefix = format!("{inner}{}: ", crate::edit::key_text(key));
                out.push_str(&prefix);
                out.push_str(&tusk_value(item, indent + 4, prefix.len()));
                out.push('\n');
            }
            out.push_str(&pad);
            out.push('}');
            out
        }
        other => tusk_inline(other).unwrap_or_default(),
    }
}

/// A value on one line, if it has no string with a line break (those are written with `\n`
/// escapes anyway, so every value has an inline form).
fn tusk_inline(value: &Value) -> Option<String> {
    Some(match output_form(value).as_ref() {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        // The smallest integer has no literal: its digits overflow before the minus applies.
        Value::Int(i64::MIN) => "-9223372036854775807 - 1".to_string(),
        Value::Int(n) => n.to_string(),
        // `{:?}` always writes a point or an exponent (`2.0`, `1e300`), which TuskLang reads as
        // the same float.
        Value::Float(x) => format!("{x:?}"),
        Value::Str(text) => crate::edit::quote_string(text),
        Value::Bytes(bytes) => format!("from_base64(\"{}\")", base64_text(bytes)),
        Value::Array(list) => {
            let parts: Vec<String> = items(list).map(tusk_inline).collect::<Option<_>>()?;
            format!("[{}]", parts.join(", "))
        }
        Value::Object(object) if entries_len(object) == 0 => "{}".to_string(),
        Value::Object(object) => {
            let parts: Vec<String> = entries(object)
                .map(|(key, item)| Some(format!("{}: {}", crate::edit::key_text(key), tusk_inline(item)?)))
                .collect::<Option<_>>()?;
            format!("{{ {} }}", parts.join(", "))
        }
        other => serde_json::to_string(other).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(source: &str) -> Value {
        crate::Engine::new().eval_str(source).unwrap().value().clone()
    }

    #[test]
    fn writes_every_format() {
        let value = doc("a: 1\nb {\n  c: [true, \"x: y\"]\n  d: 2.0\n}\nf: x => x\n");
        assert_eq!(to_json(&value, true).unwrap(), r#"{"a":1,"b":{"c":[true,"x: y"],"d":2.0}}"#);
        assert_eq!(to_flat(&value).unwrap(), "a = 1\nb.c[0] = true\nb.c[1] = \"x: y\"\nb.d = 2.0\n");
        assert_eq!(to_yaml(&value).unwrap(), "a: 1\nb:\n  c:\n    - true\n    - \"x: y\"\n  d: 2.0\n");
        assert_eq!(to_toml(&value).unwrap(), "a = 1\n\n[b]\nc = [true, \"x: y\"]\nd = 2.0\n");
    }
}
