//! `@log.set_format(format)`: text or JSON lines on the console from now on.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::Format;
use crate::logger::Logger;
use crate::ops::{at_most, string_argument};

/// `@log.set_format`.
pub(crate) struct LogSetFormat(pub(crate) Arc<Logger>);

impl TuskOperator for LogSetFormat {
    fn name(&self) -> &str {
        "log.set_format"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, "@log.set_format", 1)?;
        let format = Format::parse(string_argument(args, 0, "format")?, 0)?;
        Ok(Value::from(self.0.set_format(format).name()))
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@log.set_format(format)".to_string(),
            summary: "Sets the console format, \"text\" or \"json\" (one JSON object per line), and the default of sinks added later; returns the previous one."
                .to_string(),
            examples: [r#"@log.set_format("json") => "text""#, r#"@log.set_format("text") => "json""#].map(str::to_string).to_vec(),
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
