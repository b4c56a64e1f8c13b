//! `[plugins.auth]`, already validated against `config.schema.json`; serde fills the defaults
//! again so that a partial `session` table keeps the others.

use serde::Deserialize;
use tusk_plugin_sdk::PluginError;

/// The plugin's settings.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    /// Seconds of clock skew allowed when checking `exp` and `nbf`.
    pub(crate) leeway: i64,
    /// Seconds a signed token lives when its payload has no `exp` and the call sets no
    /// `expires_in` (0: no `exp` unless asked for).
    pub(crate) token_ttl: i64,
    /// What generated API keys start with.
    pub(crate) api_key_prefix: String,
    /// Server-side sessions.
    pub(crate) session: SessionSettings,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { leeway: 60, token_ttl: 3600, api_key_prefix: "tsk_".into(), session: SessionSettings::default() }
    }
}

/// `[plugins.auth.session]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SessionSettings {
    /// `memory` or `redis`.
    pub(crate) store: String,
    /// The Redis server of the `redis` store.
    pub(crate) redis_url: String,
    /// What the store's keys start with in Redis.
    pub(crate) key_prefix: String,
    /// Seconds a session lives after it is created or last updated.
    pub(crate) ttl: i64,
    /// The key that signs session cookies; a random one per process when absent.
    pub(crate) secret: Option<String>,
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings {
            store: "memory".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "tusk:session:".into(),
            ttl: 86_400,
            secret: None,
        }
    }
}

impl Settings {
    /// What the schema cannot say (or says only when the host validated it).
    pub(crate) fn check(&self) -> Result<(), PluginError> {
        if !(0..=86_400).contains(&self.leeway) {
            return Err(PluginError::configuration("`leeway` must be between 0 and 86400 seconds"));
        }
        if self.token_ttl < 0 {
            return Err(PluginError::configuration("`token_ttl` must be 0 or more seconds"));
        }
        if !matches!(self.session.store.as_str(), "memory" | "redis") {
            return Err(PluginError::configuration(format!(
                "`session.store` must be \"memory\" or \"redis\", got \"{}\"",
                self.session.store
            )));
        }
        if self.session.ttl <= 0 {
            return Err(PluginError::configuration("`session.ttl` must be at least 1 second"));
        }
        if self.session.secret.as_ref().is_some_and(|secret| secret.len() < 32) {
            // The length only: the value is a secret.
            return Err(PluginError::configuration("`session.secret` must be at least 32 characters long"));
        }
        Ok(())
    }
}
