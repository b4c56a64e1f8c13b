//! `@log.set_level(level)`: the least severe level written from now on.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::MinLevel;
use crate::error::LoggingError;
use crate::logger::Logger;
use crate::ops::at_most;

/// `@log.set_level`.
pub(crate) struct LogSetLevel(pub(crate) Arc<Logger>);

impl TuskOperator for LogSetLevel {
    fn name(&self) -> &str {
        "log.set_level"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, "@log.set_level", 1)?;
        let level = args.first().ok_or(LoggingError::MissingArgument("level"))?;
        let level = match level.as_str() {
            Some(name) => MinLevel::parse(name)?,
            None => {
                return Err(
                    LoggingError::InvalidLevel { found: format!("{level:?}"), expected: MinLevel::NAMES }.into()
                );
            }
        };
        Ok(Value::from(self.0.set_level(level).name()))
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@log.set_level(level)".to_string(),
            summary: "Sets the least severe level written (trace, debug, info, warn, error or off); returns the previous one."
                .to_string(),
            examples: [r#"@log.set_level("warn") => "info""#, r#"@log.set_level("info") => "warn""#].map(str::to_string).to_vec(),
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
