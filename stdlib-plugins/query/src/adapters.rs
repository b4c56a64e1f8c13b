//! The databases behind `@query`: one adapter per kind, each taking `?` placeholders and giving
//! the same result shape (rows, or `{changes, last_id}`).

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use tusk_sql::{SqlError, SqlValue, StatementResult};

/// A database `@query` runs statements on.
pub(crate) trait Adapter: Send + Sync {
    /// Runs `sql` (with `?` placeholders) with one value per placeholder.
    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError>;
}
