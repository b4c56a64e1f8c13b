//! `[plugins.redis]`, already validated against `config.schema.json` with defaults filled.

use std::time::Duration;

use serde::Deserialize;
use tusk_plugin_sdk::PluginError;

use crate::pool::Settings;

/// The settings as written; a missing key keeps its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) url: String,
    pool_size: usize,
    connect_timeout: f64,
    command_timeout: f64,
    /// Read by the host's `@cache` (whether its values live in this server); the plugin itself
    /// only accepts the key.
    #[allow(dead_code)]
    cache: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            url: "redis://127.0.0.1:6379".to_string(),
            pool_size: 8,
            connect_timeout: 5.0,
            command_timeout: 30.0,
            cache: false,
        }
    }
}

impl Config {
    /// The pool's settings.
    pub(crate) fn settings(&self) -> Result<Settings, PluginError> {
        let seconds = |name: &str, value: f64| {
            if value.is_finite() && (0.0..1e9).contains(&value) {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(PluginError::configuration(format!("redis: `{name}` must be a number of seconds, got {value}")))
            }
        };
        if self.pool_size == 0 {
            return Err(PluginError::configuration("redis: `pool_size` must be at least 1"));
        }
        let connect_timeout = seconds("connect_timeout", self.connect_timeout)?;
        if connect_timeout.is_zero() {
            return Err(PluginError::configuration("redis: `connect_timeout` must be more than 0 seconds"));
        }
        let command_timeout = seconds("command_timeout", self.command_timeout)?;
        Ok(Settings {
            pool_size: self.pool_size,
            connect_timeout,
            command_timeout: (!command_timeout.is_zero()).then_some(command_timeout),
        })
    }
}
