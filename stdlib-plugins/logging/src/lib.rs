//! The `logging` plugin: `@log(level, message[, fields])` and `@log.set_level`,
//! `@log.set_format` and `@log.add_sink`, structured logging backed by `tracing` and
//! `tracing-subscriber`, written as text or JSON lines to standard error, standard output
//! and permission-checked files.
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
mod text_format;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::logger::Logger;

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
        for sink in sinks {
            let format = sink.format.unwrap_or(settings.format);
            logger.add_sink(&sink.path, format)?;
        }
        // Every operator of the plugin: not in this list means not registered (and the
        // manifest's [capabilities] must list exactly these).
        context.register_operator(ops::log::Log(logger.clone()))?;
        context.register_operator(ops::log_set_level::LogSetLevel(logger.clone()))?;
        context.register_operator(ops::log_set_format::LogSetFormat(logger.clone()))?;
        context.register_operator(ops::log_add_sink::LogAddSink(logger.clone()))?;
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

export_plugin!(LoggingPlugin);
