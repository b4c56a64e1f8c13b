//! JSON lines: one object per event, shaped like tracing-subscriber's JSON format
//! (`{"timestamp":…,"level":"INFO","fields":{"message":…,…},"target":"tusk"}`), except that
//! nested values stay nested.
//!
//! tracing-subscriber's own JSON formatter can only record a field it did not get as a number,
//! boolean or string as the string of its `Debug` form, so `{items: [1, 2]}` would become
//! `"items":"[1,2]"` and `null` would become `"null"`. Every such field of this plugin carries
//! JSON text already (`fields::FieldValue::Json`), which this formatter embeds as it is.
//! Keys keep the order of the script's object.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::timestamp;

/// The JSON lines event formatter.
pub(crate) struct JsonLines {
    pub(crate) timestamps: bool,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = String::with_capacity(128);
        line.push('{');
        if self.timestamps {
            line.push_str("\"timestamp\":");
            push_string(&mut line, &timestamp::now());
            line.push(',');
        }
        line.push_str("\"level\":");
        push_string(&mut line, metadata.level().as_str());
        line.push_str(",\"fields\":{");
        let mut visitor = JsonVisitor { line: &mut line, first: true };
        event.record(&mut visitor);
        line.push_str("},\"target\":");
        push_string(&mut line, metadata.target());
        line.push('}');
        writeln!(writer, "{line}")
    }
}

struct JsonVisitor<'line> {
    line: &'line mut String,
    first: bool,
}

impl JsonVisitor<'_> {
    fn key(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.line.push(',');
        }
        push_string(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.line.push_str(&value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.line.push_str(&value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // NaN and infinities have no JSON number; serde_json writes them as null.
        self.line.push_str(&serde_json::Value::from(value).to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_string(self.line, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        let text = format!("{value:?}");
        // The plugin's own non-scalar fields are JSON text; anything else becomes a string.
        if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() {
            self.line.push_str(&text);
        } else {
            push_string(self.line, &text);
        }
    }
}

fn push_string(line: &mut String, text: &str) {
    line.push_str(&serde_json::Value::from(text).to_string());
}
