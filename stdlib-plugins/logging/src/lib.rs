//! The `logging` plugin: `@log(level, message[, fields])` and `@log.set_level`,
//! `@log.set_format` and `@log.add_sink` (also the functions `set_level` and `add_sink`),
//! structured logging backed by `tracing` and `tracing-subscriber`, written as text or JSON
//! lines to standard error, standard output and permission-checked files, and as RFC 5424
//! messages to syslog over a Unix datagram socket or UDP.
//!
//! The plugin owns its subscriber; it never installs a global one (see `logger`).

mod callsite;
mod config;
mod error;
mod fields;
mod json_format;
mod logger;
mod ops;
mod sink;
mod syslog;
mod text_format;
mod timestamp;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskOperator, TuskPlugin, export_plugin};

use crate::logger::Logger;
use crate::ops::Spelling;
use crate::ops::log_add_sink::AddSink;
use crate::ops::log_set_level::SetLevel;

/// The plugin: one logger per instance, created from the configuration in `initialize`.
#[derive(Default)]
pub struct LoggingPlugin {
    logger: Option<Arc<Logger>>,
}

impl TuskPlugin for LoggingPlugin {
    fn name(&self) -> &str {
        "logging"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let (settings, sinks) = config::parse(context.config_json())?;
        let logger = Arc::new(Logger::new(settings));
        for sink in &sinks {
            logger.add_sink(sink)?;
        }
        // Every operator and function of the plugin: not in this list means not registered
        // (and the manifest's [capabilities] must list exactly these).
        context.register_operator(ops::log::Log(logger.clone()))?;
        context.register_operator(SetLevel { logger: logger.clone(), spelling: Spelling("@log.set_level") })?;
        context.register_operator(ops::log_set_format::LogSetFormat(logger.clone()))?;
        context.register_operator(AddSink { logger: logger.clone(), spelling: Spelling("@log.add_sink") })?;
        register_function(context, SetLevel { logger: logger.clone(), spelling: Spelling("set_level") })?;
        register_function(context, AddSink { logger: logger.clone(), spelling: Spelling("add_sink") })?;
        self.logger = Some(logger);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        match self.logger.take() {
            Some(logger) => Ok(logger.shutdown()?),
            None => Ok(()),
        }
    }
}

/// Registers an operator's implementation as a function (`set_level(…)` beside
/// `@log.set_level(…)`).
fn register_function(context: &PluginContext, function: impl TuskOperator) -> Result<(), PluginError> {
    let name = function.name().to_string();
    let doc = function.doc();
    context.register_function_with(&name, doc, move |args| function.execute(args))
}

export_plugin!(LoggingPlugin);
