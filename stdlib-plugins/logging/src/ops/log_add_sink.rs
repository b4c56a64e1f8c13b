//! `@log.add_sink(path[, format])`: also append every event to a file.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::Format;
use crate::logger::Logger;
use crate::ops::{at_most, string_argument};

/// `@log.add_sink`.
pub(crate) struct LogAddSink(pub(crate) Arc<Logger>);

impl TuskOperator for LogAddSink {
    fn name(&self) -> &str {
        "log.add_sink"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, "@log.add_sink", 2)?;
        let path = string_argument(args, 0, "path")?;
        let format = match args.get(1) {
            Some(_) => Format::parse(string_argument(args, 1, "format")?, 1)?,
            None => self.0.format(),
        };
        self.0.add_sink(path, format)?;
        Ok(Value::from(path))
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@log.add_sink(path[, format])".to_string(),
            summary: "Appends every later event to the file at the absolute `path` too, as \"text\" or \"json\" (default: the console format); needs --allow-write for the file (and --allow-read if it exists). Returns the path."
                .to_string(),
            examples: vec![r#"@log.add_sink("/tmp/tusk-logging-example.log", "json") => "/tmp/tusk-logging-example.log""#.to_string()],
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
