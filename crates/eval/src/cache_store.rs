//! Where `@cache` keeps its values when they are to be shared between processes: a store an
//! embedder (the plugin host) installs in the [`Registry`](crate::Registry). Without one, or
//! when the installed one says it is not in use for the running script, `@cache` keeps values
//! in memory for the life of the engine.

use std::time::Duration;

use crate::context::CallContext;
use crate::error::RuntimeError;
use crate::value::Value;

/// A shared store for `@cache`. Keys are built by `@cache` from the call site (file, line,
/// column and the text of the call) and the values the cached expression captured, so they
/// are the same in every process that runs the same script.
pub trait CacheStore {
    /// Whether the store serves the running script (its configuration may turn it off).
    fn active(&self, ctx: &mut CallContext<'_, '_>) -> Result<bool, RuntimeError>;
    /// The value stored under `key`, or `None` when it is missing or expired.
    fn get(&self, ctx: &mut CallContext<'_, '_>, key: &str) -> Result<Option<Value>, RuntimeError>;
    /// Stores `value` under `key`, to expire after `ttl` (the store expires it, not `@cache`).
    fn set(&self, ctx: &mut CallContext<'_, '_>, key: &str, value: &Value, ttl: Duration) -> Result<(), RuntimeError>;
}
