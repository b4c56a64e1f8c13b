//! SQL support shared by the `postgres` and `query` plugins, in plain Rust; only [`script`]
//! knows the plugin SDK (the conversions between script values and [`SqlValue`], and errors).
//!
//! - [`SqlValue`]: what a parameter or a cell is (null, bool, integer, float, text, JSON,
//!   array, object), the one currency between scripts and every database adapter.
//! - [`postgres`]: a pool per connection string, typed parameters and results, a
//!   prepared-statement cache, transactions with savepoints, and LISTEN.
//! - [`placeholders`]: `?` placeholders found (and, for PostgreSQL, numbered `$1`, `$2`, …)
//!   outside string literals, quoted identifiers and comments.
//! - [`redact`]: connection strings with their password masked, and driver messages scrubbed
//!   of it, so that no password reaches an error or a log.
//! - [`script`]: the plugins' thin layer over the SDK.

mod error;
pub mod placeholders;
pub mod postgres;
pub mod redact;
pub mod script;
mod value;

pub use error::{SqlError, SqlErrorKind};
pub use value::{Rows, SqlValue, StatementResult};
