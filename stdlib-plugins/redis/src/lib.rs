//! The `redis` plugin: Redis from scripts, on the synchronous `redis` crate.
//!
//! - Strings (`@redis.get`, `.set` with an expiry, `.incr`, `.mget`, `.mset`), hashes, lists,
//!   sets, sorted sets, expiry (`.expire`, `.ttl`, `.persist`) and `.scan`.
//! - `@redis.pipeline([...])` (one round trip) and `@redis.transaction([...])` (MULTI/EXEC),
//!   `@redis.command(name, …)` for anything else.
//! - `@redis.publish(channel, message)`; `@redis.subscribe(channel, handler)` and
//!   `@redis.psubscribe(pattern, handler)` (handlers called through the host's event loop, the
//!   subscription kept across reconnections), `@redis.unsubscribe`, `@redis.punsubscribe`,
//!   `@redis.subscriptions()`, and a blocking `@redis.subscribe(channel, timeout)`.
//! - The seed's forms: `@redis("get", key)`, `@redis("set", key, value)` (every operation by
//!   name), `cache_get(key)`, `cache_set(key, value, ttl)`.
//!
//! Values are stored by one rule (module `codec`): strings as their own text, other values as
//! JSON, so that everything reads back exactly as written. The server comes from the
//! configuration (`[plugins.redis] url`); connections are pooled and replaced when the server
//! closed them.

mod codec;
mod config;
mod listen;
mod ops;
mod pool;
mod subscribe;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::listen::Listener;
use crate::pool::Pool;
use crate::subscribe::Subscriber;

/// What every call of one plugin instance shares.
pub(crate) struct State {
    pool: Arc<Pool>,
    subscriber: Subscriber,
    listener: Listener,
}

impl State {
    fn pool(&self) -> Result<Arc<Pool>, PluginError> {
        Ok(self.pool.clone())
    }
}

/// The plugin.
#[derive(Default)]
pub struct RedisPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for RedisPlugin {
    fn name(&self) -> &str {
        "redis"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let config: config::Config = context.config()?;
        let pool = Pool::new(&config.url, config.settings()?)?;
        let state =
            Arc::new(State { pool: Arc::new(pool), subscriber: Subscriber::default(), listener: Listener::default() });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        if let Some(state) = self.state.take() {
            state.listener.close();
            state.subscriber.close();
            state.pool.drop_idle();
        }
        Ok(())
    }
}

export_plugin!(RedisPlugin);
