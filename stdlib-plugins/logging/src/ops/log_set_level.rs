//! `@log.set_level(level)` and `set_level(level)`: the least severe level written from now on.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::MinLevel;
use crate::error::LoggingError;
use crate::logger::Logger;
use crate::ops::{Spelling, at_most};

/// `@log.set_level` or `set_level`.
pub(crate) struct SetLevel {
    pub(crate) logger: Arc<Logger>,
    pub(crate) spelling: Spelling,
}

impl TuskOperator for SetLevel {
    fn name(&self) -> &str {
        self.spelling.name()
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, self.spelling.written(), 1)?;
        let level = args.first().ok_or(LoggingError::MissingArgument("level"))?;
        let level = match level.as_str() {
            Some(name) => MinLevel::parse(name)?,
            None => {
                return Err(
                    LoggingError::InvalidLevel { found: format!("{level:?}"), expected: MinLevel::NAMES }.into()
                );
            }
        };
        Ok(Value::from(self.logger.set_level(level).name()))
    }

    fn doc(&self) -> SymbolDoc {
        let written = self.spelling.written();
        SymbolDoc {
            signature: format!("{written}(level)"),
            summary: "Sets the least severe level written (trace, debug, info, warn, error or off); returns the previous one."
                .to_string(),
            examples: vec![format!(r#"{written}("warn") => "info""#), format!(r#"{written}("info") => "warn""#)],
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
