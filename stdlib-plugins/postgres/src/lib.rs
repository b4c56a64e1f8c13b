//! The `postgres` plugin: PostgreSQL from scripts.
//!
//! - `@postgres.query(connection, sql[, params])`: rows as objects (column order kept), or
//!   `{changes, last_id}` for a statement without a result set; `@postgres.execute(…)`: the
//!   number of rows changed. Parameters are `$1`, `$2`, … and are always sent separately from
//!   the SQL text.
//! - `@postgres.transaction(connection, tx => …)`: commits when the function returns, rolls back
//!   when it fails; inside, `tx` is the connection, and a nested transaction is a savepoint.
//! - `@postgres.listen(connection, channel, handler)`: the handler is called through the host's
//!   event loop for every notification (module `listen`), across reconnections;
//!   `@postgres.unlisten`, `@postgres.listeners`; the blocking `@postgres.listen(connection,
//!   channel, timeout)`; `@postgres.notify(connection, channel, payload)`.
//! - The seed's forms: `@postgres("query" | "execute" | "transaction" | "listen" | "notify",
//!   connection, …)`, `create_pool(connection[, options])`, `execute_query(connection, sql[,
//!   params])`.
//!
//! A connection is a connection string (a pool is made for each distinct string), a pool from
//! `create_pool`, or a transaction. The work is done by `tusk-sql`; this crate only reads
//! arguments and registers the symbols.

mod config;
mod listen;
mod ops;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};
use tusk_sql::postgres::{Listeners, Pools};

/// What every call of one plugin instance shares.
pub(crate) struct State {
    settings: tusk_sql::postgres::PoolSettings,
    pools: Pools,
    listeners: Listeners,
    handler_listeners: listen::HandlerListeners,
}

/// The plugin.
#[derive(Default)]
pub struct PostgresPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for PostgresPlugin {
    fn name(&self) -> &str {
        "postgres"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings = config::settings(&context.config()?)?;
        let state = Arc::new(State {
            settings,
            pools: Pools::default(),
            listeners: Listeners::default(),
            handler_listeners: listen::HandlerListeners::default(),
        });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        if let Some(state) = self.state.take() {
            state.handler_listeners.close_all();
            state.listeners.close_all();
            state.pools.close_all();
        }
        Ok(())
    }
}

export_plugin!(PostgresPlugin);
