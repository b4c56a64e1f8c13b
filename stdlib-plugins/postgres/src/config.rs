//! `[plugins.postgres]`, already validated against `config.schema.json` with defaults filled.

use std::time::Duration;

use serde::Deserialize;
use tusk_plugin_sdk::PluginError;
use tusk_sql::postgres::{PoolSettings, TlsMode};

/// The settings as written; a missing key keeps the pool's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolOptions {
    pool_size: Option<usize>,
    connect_timeout: Option<f64>,
    acquire_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    statement_cache_size: Option<usize>,
    tls: Option<String>,
}

impl PoolOptions {
    /// `base` with these options applied.
    pub(crate) fn apply(&self, base: &PoolSettings) -> Result<PoolSettings, String> {
        let seconds = |name: &str, value: Option<f64>, default: Duration| match value {
            None => Ok(default),
            Some(seconds) if (0.0..1e9).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
            Some(seconds) => Err(format!("`{name}` must be a number of seconds, got {seconds}")),
        };
        let pool_size = self.pool_size.unwrap_or(base.max_size);
        if pool_size == 0 {
            return Err("`pool_size` must be at least 1".to_string());
        }
        Ok(PoolSettings {
            max_size: pool_size,
            connect_timeout: seconds("connect_timeout", self.connect_timeout, base.connect_timeout)?,
            acquire_timeout: seconds("acquire_timeout", self.acquire_timeout, base.acquire_timeout)?,
            idle_timeout: seconds("idle_timeout", self.idle_timeout, base.idle_timeout)?,
            statement_cache_size: self.statement_cache_size.unwrap_or(base.statement_cache_size),
            tls: match &self.tls {
                Some(mode) => TlsMode::parse(mode).map_err(|error| error.message)?,
                None => base.tls,
            },
        })
    }
}

/// The plugin's pool settings from its configuration.
pub(crate) fn settings(options: &PoolOptions) -> Result<PoolSettings, PluginError> {
    options.apply(&PoolSettings::default()).map_err(PluginError::configuration)
}
