//! `@log(level, message[, fields])`: one event, with the fields as structured data.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::Level;
use crate::error::{LEVEL_NAMES, LoggingError};
use crate::fields;
use crate::logger::Logger;
use crate::ops::at_most;

/// `@log`.
pub(crate) struct Log(pub(crate) Arc<Logger>);

impl TuskOperator for Log {
    fn name(&self) -> &str {
        "log"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, "@log", 3)?;
        let level = args.first().ok_or(LoggingError::MissingArgument("level"))?;
        let level = match level.as_str() {
            Some(name) => Level::parse(name)?,
            None => {
                return Err(LoggingError::InvalidLevel { found: format!("{level:?}"), expected: LEVEL_NAMES }.into());
            }
        };
        let message = args.get(1).ok_or(LoggingError::MissingArgument("message"))?;
        let fields = match args.get(2) {
            Some(value) => fields::from_object(value)?,
            None => Vec::new(),
        };
        self.0.log(level, &fields::message_text(message), &fields);
        Ok(Value::null())
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@log(level, message[, fields])".to_string(),
            summary: "Writes an event at level trace, debug, info, warn or error; the entries of the `fields` object become structured fields."
                .to_string(),
            examples: [
                r#"@log("info", "user signed in", {user: 42, admin: false}) => null"#,
                r#"@log("debug", "cache warm") => null"#,
            ]
            .map(str::to_string)
            .to_vec(),
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
