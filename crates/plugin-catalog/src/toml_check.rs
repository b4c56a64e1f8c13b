//! Strict, span-keeping reading of the TOML files the host owns (`plugin.toml`, `grants.toml`,
//! the `[plugins]` part of the user's config): every mistake becomes a [`Diagnostic`] pointing at
//! the key or value, and reading goes on so that one pass reports all of them.
//!
//! serde's derive stops at the first error and forgets spans, which is why the files are walked
//! by hand over toml's spanned `DeTable` instead.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use tusk_diagnostics::{Diagnostic, Location, SourceId, Span, closest_name};

/// A parsed TOML document: the root table and where it is.
pub(crate) type Document<'i> = Spanned<DeTable<'i>>;

/// Parses `text`; syntax errors become `X001` diagnostics.
///
/// toml's recovery reports later errors that are consequences of an earlier one on the same
/// line ("string values must be quoted" after a missing value), so only the first error of each
/// line is kept.
pub(crate) fn parse(text: &str, source: SourceId) -> Result<Document<'_>, Vec<Diagnostic>> {
    let (document, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Ok(document);
    }
    let mut diagnostics = Vec::new();
    let mut lines_seen = Vec::new();
    for error in errors {
        let range = error.span().unwrap_or(0..0);
        let line = text[..range.start.min(text.len())].matches('\n').count();
        if lines_seen.contains(&line) {
            continue;
        }
        lines_seen.push(line);
        // Example: `name = ` (no value).
        diagnostics.push(
            Diagnostic::error(format!("invalid TOML: {}", error.message()))
                .with_code("X001")
                .with_primary(Location::new(source, Span::from_range(range)), error.message())
                .with_help("fix the TOML syntax here (https://toml.io describes it)"),
        );
    }
    Err(diagnostics)
}

/// Strings with the byte ranges of their values.
pub(crate) type SpannedStrings<'a> = Vec<(&'a str, Range<usize>)>;

/// Walks tables and values of one file, collecting diagnostics.
pub(crate) struct Checker {
    pub(crate) source: SourceId,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Checker {
    pub(crate) fn new(source: SourceId) -> Checker {
        Checker { source, diagnostics: Vec::new() }
    }

    pub(crate) fn location(&self, range: Range<usize>) -> Location {
        Location::new(self.source, Span::from_range(range))
    }

    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reports every key of `table` that is not in `allowed`.
    pub(crate) fn unknown_keys(&mut self, table: &DeTable<'_>, table_name: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                continue;
            }
            let help = match closest_name(name, allowed.iter().copied()) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!("the keys of {table_name} are: {}", allowed.join(", ")),
            };
            // Example: `[plugin]` with `nmae = "x"`.
            self.push(
                Diagnostic::error(format!("unknown key `{name}` in {table_name}"))
                    .with_code("X002")
                    .with_primary(self.location(key.span()), "not a known key")
                    .with_help(help),
            );
        }
    }

    /// Reports a required key that is absent; `example` is a line the user could add.
    pub(crate) fn missing(&mut self, table_span: Range<usize>, table_name: &str, key: &str, example: &str) {
        // Example: `[plugin]` without `author`.
        self.push(
            Diagnostic::error(format!("missing required key `{key}` in {table_name}"))
                .with_code("X003")
                .with_primary(self.location(table_span), format!("this table needs `{key}`"))
                .with_help(format!("add `{example}` to {table_name}")),
        );
    }

    /// Reports a value of the wrong TOML type.
    pub(crate) fn wrong_type(&mut self, value: &Spanned<DeValue<'_>>, what: &str, expected: &str, example: &str) {
        let found = value.get_ref().type_str();
        // Example: `version = 1` (an integer, not a string).
        self.push(
            Diagnostic::error(format!("{what} must be {expected}, found {}", with_article(found)))
                .with_code("X004")
                .with_primary(self.location(value.span()), format!("expected {expected}"))
                .with_help(format!("write it like `{example}`")),
        );
    }

    /// The table in `value`, or a type error.
    pub(crate) fn table<'a, 'i>(
        &mut self,
        value: &'a Spanned<DeValue<'i>>,
        table_name: &str,
        example: &str,
    ) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, table_name, "a table", example);
                None
            }
        }
    }

    /// The string under `key`, or `None` (absent or wrongly typed; the latter is reported).
    pub(crate) fn string<'a>(
        &mut self,
        table: &'a DeTable<'_>,
        key: &str,
        table_name: &str,
        example: &str,
    ) -> Option<(&'a str, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::String(text) => Some((text.as_ref(), value.span())),
            _ => {
                self.wrong_type(value, &format!("`{key}` in {table_name}"), "a string", example);
                None
            }
        }
    }

    /// Like [`Checker::string`], reporting absence as a missing key.
    pub(crate) fn required_string<'a>(
        &mut self,
        table: &'a DeTable<'_>,
        table_span: Range<usize>,
        key: &str,
        table_name: &str,
        example: &str,
    ) -> Option<(&'a str, Range<usize>)> {
        if table.get(key).is_none() {
            self.missing(table_span, table_name, key, example);
            return None;
        }
        self.string(table, key, table_name, example)
    }

    /// The boolean under `key`.
    pub(crate) fn bool(&mut self, table: &DeTable<'_>, key: &str, table_name: &str, example: &str) -> Option<bool> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, &format!("`{key}` in {table_name}"), "a boolean", example);
                None
            }
        }
    }

    /// The array of strings under `key`; wrongly typed elements are reported and skipped.
    pub(crate) fn string_list<'a>(
        &mut self,
        table: &'a DeTable<'_>,
        key: &str,
        table_name: &str,
        example: &str,
    ) -> Option<(SpannedStrings<'a>, Range<usize>)> {
        let value = table.get(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(value, &format!("`{key}` in {table_name}"), "an array of strings", example);
            return None;
        };
        let mut strings = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(text) => strings.push((text.as_ref(), item.span())),
                _ => self.wrong_type(item, &format!("each entry of `{key}` in {table_name}"), "a string", example),
            }
        }
        Some((strings, value.span()))
    }
}

/// "an integer", "a string": TOML's type names with an article.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {type_name}")
}

/// Converts a TOML value to JSON (datetimes become their TOML text), keeping the JSON pointer
/// and span of every value in `spans` so that configuration errors can point into the file.
pub(crate) fn to_json(
    value: &Spanned<DeValue<'_>>,
    pointer: &mut String,
    spans: &mut Vec<(String, Range<usize>)>,
) -> serde_json::Value {
    use serde_json::Value as Json;
    spans.push((pointer.clone(), value.span()));
    match value.get_ref() {
        DeValue::String(text) => Json::String(text.to_string()),
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
            .map(Json::from)
            // Out of i64 range: keep the digits rather than inventing a value.
            .unwrap_or_else(|_| Json::String(integer.to_string())),
        DeValue::Float(float) => float
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Json::String(float.as_str().to_string()), Json::Number),
        DeValue::Boolean(flag) => Json::Bool(*flag),
        DeValue::Datetime(datetime) => Json::String(datetime.to_string()),
        DeValue::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let length = pointer.len();
                    pointer.push_str(&format!("/{index}"));
                    let json = to_json(item, pointer, spans);
                    pointer.truncate(length);
                    json
                })
                .collect(),
        ),
        DeValue::Table(table) => {
            let mut object = serde_json::Map::new();
            for (key, item) in table.iter() {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.get_ref().replace('~', "~0").replace('/', "~1"));
                let json = to_json(item, pointer, spans);
                pointer.truncate(length);
                object.insert(key.get_ref().to_string(), json);
            }
            Json::Object(object)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_keep_one_per_line() {
        let errors = parse("a = \nb = 1\nb = 2\n", SourceId(0)).unwrap_err();
        let messages: Vec<_> =
            errors.iter().map(|d| (d.message.as_str(), d.primary.as_ref().unwrap().location.span)).collect();
        assert_eq!(
            messages,
            [
                ("invalid TOML: string values must be quoted, expected literal string", Span::new(4, 4)),
                ("invalid TOML: duplicate key", Span::new(11, 12)),
            ]
        );
    }

    #[test]
    fn toml_converts_to_json_with_pointers() {
        let document = parse("a = 1\nb = [true, 1.5]\n[c]\n'x/y' = 1979-05-27\n", SourceId(0)).unwrap();
        let value = Spanned::new(document.span(), DeValue::Table(document.into_inner()));
        let mut spans = Vec::new();
        let json = to_json(&value, &mut String::new(), &mut spans);
        assert_eq!(json, serde_json::json!({"a": 1, "b": [true, 1.5], "c": {"x/y": "1979-05-27"}}));
        let pointers: Vec<_> = spans.iter().map(|(pointer, _)| pointer.as_str()).collect();
        assert_eq!(pointers, ["", "/a", "/b", "/b/0", "/b/1", "/c", "/c/x~1y"]);
    }
}
