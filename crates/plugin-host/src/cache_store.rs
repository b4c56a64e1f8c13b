//! `@cache` in a plugin's store: when the plugin that provides the functions `cache_get` and
//! `cache_set` (the redis plugin) is configured with `cache = true` — in the user's
//! `[plugins.NAME]` table or the script's `plugins.NAME` section, the script's winning —
//! `@cache` keeps its values through those two functions, so that every process running the
//! script shares them and the plugin's server expires them. Otherwise `@cache` stays in memory
//! and the plugin is not loaded for it.

use std::rc::{Rc, Weak};
use std::time::Duration;

use tusk_eval::{CacheStore, CallContext, RuntimeError, Symbol, Value};

use crate::host::{PluginHost, script_config};

/// The longest expiry handed to a store: beyond it, "never" for any script.
const LONGEST_TTL_SECONDS: f64 = 1e10;

pub(crate) struct PluginCacheStore {
    pub(crate) host: Weak<PluginHost>,
}

/// The registry's `cache_get` and `cache_set`, when one plugin provides both.
fn provider(ctx: &mut CallContext<'_, '_>) -> Option<(Rc<Symbol>, Rc<Symbol>)> {
    let registry = ctx.runtime().registry();
    let get = registry.function("cache_get")?.clone();
    let set = registry.function("cache_set")?.clone();
    (get.plugin == set.plugin).then_some((get, set))
}

impl CacheStore for PluginCacheStore {
    fn active(&self, ctx: &mut CallContext<'_, '_>) -> Result<bool, RuntimeError> {
        let Some(host) = self.host.upgrade() else { return Ok(false) };
        let Some((get, _)) = provider(ctx) else { return Ok(false) };
        let plugin = get.plugin.to_string();
        let script = script_config(&plugin, Some(ctx));
        let user = host.user_config.as_ref().and_then(|config| config.plugin(&plugin));
        match script.get("cache").or_else(|| user.and_then(|table| table.get("cache"))) {
            None => Ok(false),
            Some(serde_json::Value::Bool(on)) => Ok(*on),
            Some(other) => {
                Err(RuntimeError::message(format!("`cache` of plugin `{plugin}` must be true or false, found {other}")))
            }
        }
    }

    fn get(&self, ctx: &mut CallContext<'_, '_>, key: &str) -> Result<Option<Value>, RuntimeError> {
        let Some((get, _)) = provider(ctx) else { return Ok(None) };
        // Entries are stored as one-element arrays, so that a cached `null` is a hit.
        match &get.call(ctx, &[Value::string(key)])? {
            Value::Array(items) if items.len() == 1 => Ok(Some(items[0].clone())),
            _ => Ok(None),
        }
    }

    fn set(&self, ctx: &mut CallContext<'_, '_>, key: &str, value: &Value, ttl: Duration) -> Result<(), RuntimeError> {
        let Some((_, set)) = provider(ctx) else { return Ok(()) };
        let seconds = ttl.as_secs_f64().min(LONGEST_TTL_SECONDS);
        set.call(ctx, &[Value::string(key), Value::array(vec![value.clone()]), Value::Float(seconds)])?;
        Ok(())
    }
}
