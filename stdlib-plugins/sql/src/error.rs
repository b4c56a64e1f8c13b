//! Errors of every adapter, with the database's own words kept.

use std::fmt;

/// What kind of failure a [`SqlError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlErrorKind {
    /// The database rejected the statement (syntax, missing table, constraint, …).
    Database,
    /// The connection could not be made, or was lost.
    Connection,
    /// A value could not be sent or read as the column's type.
    Conversion,
    /// The settings or the connection string are wrong.
    Configuration,
    /// The user did not grant what the connection needs.
    Permission,
    /// Every connection of the pool stayed busy for the whole wait.
    PoolExhausted,
    /// The statement and the arguments do not fit (placeholder count).
    Usage,
}

/// An error of a database adapter. The message never contains a password: connection strings
/// are shown redacted and driver messages are scrubbed (see `redact`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    /// What kind of failure.
    pub kind: SqlErrorKind,
    /// The message, starting with the database (`postgres: …`) where one was involved.
    pub message: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
    /// The database's error code (SQLSTATE for PostgreSQL and MySQL), if any.
    pub code: Option<String>,
}

impl SqlError {
    /// An error of `kind`.
    pub fn new(kind: SqlErrorKind, message: impl Into<String>) -> SqlError {
        SqlError { kind, message: message.into(), help: None, code: None }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> SqlError {
        self.help = Some(help.into());
        self
    }

    /// The statement has `expected` parameters but `given` values came with it.
    pub fn check_parameter_count(expected: usize, given: usize) -> Result<(), SqlError> {
        if expected == given {
            return Ok(());
        }
        let plural = |n: usize, one: &str, many: &str| if n == 1 { one.to_string() } else { many.to_string() };
        Err(SqlError::new(
            SqlErrorKind::Usage,
            format!(
                "the statement has {expected} {} but {given} {} given",
                plural(expected, "parameter", "parameters"),
                plural(given, "value was", "values were")
            ),
        ))
    }

    /// Adds the database's error code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> SqlError {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}
