//! The fields of a text line: the message first, then `key=value` pairs.
//!
//! It replaces tracing-subscriber's default field formatter for one reason: the default writes
//! the message verbatim, so a message holding a newline would forge a second log line. Here
//! control characters in the message are escaped (`\n`), keeping one event per line; string
//! fields are quoted and escaped (`key="a\nb"`), and keys that are not plain names are quoted.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The text format's field formatter.
pub(crate) struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = TextVisitor { writer, result: Ok(()), first: true };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'writer> {
    writer: Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl TextVisitor<'_> {
    fn separator(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.first) { Ok(()) } else { self.writer.write_char(' ') }
    }

    fn message(&mut self, text: &str) {
        let result = self.separator().and_then(|()| {
            for character in text.chars() {
                if character.is_control() {
                    write!(self.writer, "{}", character.escape_debug())?;
                } else {
                    self.writer.write_char(character)?;
                }
            }
            Ok(())
        });
        self.result = self.result.and(result);
    }

    fn pair(&mut self, name: &str, value: fmt::Arguments<'_>) {
        let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        let result = self.separator().and_then(|()| {
            if plain { write!(self.writer, "{name}={value}") } else { write!(self.writer, "{name:?}={value}") }
        });
        self.result = self.result.and(result);
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message(value);
        } else {
            self.pair(field.name(), format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message(&format!("{value:?}"));
        } else {
            self.pair(field.name(), format_args!("{value:?}"));
        }
    }
}
