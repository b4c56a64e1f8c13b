//! PostgreSQL through the shared pool of `tusk-sql`, with `?` numbered as `$1`, `$2`, ….

use std::sync::{Arc, OnceLock};

use tusk_sql::postgres::{Pool, PoolSettings, Pools};
use tusk_sql::script::check_connect;
use tusk_sql::{SqlError, SqlValue, StatementResult, placeholders};

use super::Adapter;

/// The pool, made on the first statement (that is when the network grant is checked).
pub(crate) struct Postgres {
    connection: String,
    settings: PoolSettings,
    pools: Pools,
    pool: OnceLock<Arc<Pool>>,
}

impl Postgres {
    pub(crate) fn new(connection: String, settings: PoolSettings) -> Postgres {
        Postgres { connection, settings, pools: Pools::default(), pool: OnceLock::new() }
    }

    fn pool(&self) -> Result<&Arc<Pool>, SqlError> {
        if let Some(pool) = self.pool.get() {
            return Ok(pool);
        }
        let pool = self.pools.get(&self.connection, &self.settings, &check_connect)?;
        Ok(self.pool.get_or_init(|| pool))
    }
}

impl Adapter for Postgres {
    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError> {
        let (numbered, count) = placeholders::numbered(sql);
        SqlError::check_parameter_count(count, params.len())?;
        self.pool()?.run(|connection| connection.run(&numbered, params))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.pools.close_all();
    }
}
