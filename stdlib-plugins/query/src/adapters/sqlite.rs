//! SQLite, compiled into the plugin: an in-memory database by default, or a file.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{Value as SqliteValue, ValueRef};
use tusk_sql::{Rows, SqlError, SqlErrorKind, SqlValue, StatementResult};

use super::Adapter;

/// Where the database is and how long a statement waits for another process's lock.
pub(crate) struct SqliteSettings {
    /// `:memory:` or a path (relative to the script's folder).
    pub(crate) filename: String,
    pub(crate) busy_timeout: Duration,
}

/// One connection, opened on the first statement.
pub(crate) struct Sqlite {
    settings: SqliteSettings,
    connection: Mutex<Option<rusqlite::Connection>>,
}

impl Sqlite {
    pub(crate) fn new(settings: SqliteSettings) -> Sqlite {
        Sqlite { settings, connection: Mutex::new(None) }
    }

    fn open(&self) -> Result<rusqlite::Connection, SqlError> {
        let connection = if self.settings.filename == ":memory:" {
            rusqlite::Connection::open_in_memory()
        } else {
            let path = tusk_plugin_sdk::host::resolve_path(&self.settings.filename);
            // The host's check that the user allowed writing this file, which also creates it
            // (an empty file is an empty SQLite database) when it is missing.
            tusk_plugin_sdk::host::append_file(&path, "").map_err(|error| {
                SqlError::new(SqlErrorKind::Permission, format!("sqlite: cannot use the database file {path}: {error}"))
                    .with_help(format!("grant it with --allow-write={path} (and --allow-read={path})"))
            })?;
            rusqlite::Connection::open(&path)
        }
        .map_err(error)?;
        connection.busy_timeout(self.settings.busy_timeout).map_err(error)?;
        connection.set_prepared_statement_cache_capacity(100);
        Ok(connection)
    }
}

fn error(error: rusqlite::Error) -> SqlError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let text = message.clone().unwrap_or_else(|| failure.to_string());
            SqlError::new(SqlErrorKind::Database, format!("sqlite: {text}"))
                .with_code(failure.extended_code.to_string())
        }
        rusqlite::Error::SqlInputError { msg, .. } => SqlError::new(SqlErrorKind::Database, format!("sqlite: {msg}")),
        other => SqlError::new(SqlErrorKind::Database, format!("sqlite: {other}")),
    }
}

fn parameter(value: &SqlValue) -> SqliteValue {
    match value {
        SqlValue::Null => SqliteValue::Null,
        SqlValue::Bool(b) => SqliteValue::Integer(i64::from(*b)),
        SqlValue::Int(n) => SqliteValue::Integer(*n),
        SqlValue::Float(x) => SqliteValue::Real(*x),
        SqlValue::Text(text) => SqliteValue::Text(text.clone()),
        SqlValue::Bytes(data) => SqliteValue::Blob(data.clone()),
        SqlValue::Json(_) | SqlValue::Array(_) | SqlValue::Object(_) => SqliteValue::Text(value.to_json().to_string()),
    }
}

fn cell(value: ValueRef<'_>) -> Result<SqlValue, SqlError> {
    Ok(match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Int(n),
        ValueRef::Real(x) => SqlValue::Float(x),
        ValueRef::Text(bytes) => SqlValue::Text(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| SqlError::new(SqlErrorKind::Conversion, "sqlite: a text value is not valid UTF-8"))?,
        ),
        ValueRef::Blob(bytes) => SqlValue::Bytes(bytes.to_vec()),
    })
}

impl Adapter for Sqlite {
    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError> {
        let mut guard = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let connection = guard.as_ref().expect("opened above");
        let mut statement = connection.prepare_cached(sql).map_err(error)?;
        SqlError::check_parameter_count(statement.parameter_count(), params.len())?;
        for (index, value) in params.iter().enumerate() {
            statement.raw_bind_parameter(index + 1, parameter(value)).map_err(error)?;
        }
        if statement.column_count() == 0 {
            // SQLite remembers the connection's last insert; only a new one is this statement's
            // (0 otherwise, as MySQL reports).
            let before = connection.last_insert_rowid();
            let changes = statement.raw_execute().map_err(error)? as u64;
            let after = connection.last_insert_rowid();
            return Ok(StatementResult::Changed { changes, last_id: Some(if after != before { after } else { 0 }) });
        }
        let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
        let count = columns.len();
        let mut rows = Vec::new();
        let mut cursor = statement.raw_query();
        while let Some(row) = cursor.next().map_err(error)? {
            let mut cells = Vec::with_capacity(count);
            for index in 0..count {
                cells.push(cell(row.get_ref(index).map_err(error)?)?);
            }
            rows.push(cells);
        }
        Ok(StatementResult::Rows(Rows { columns, rows }))
    }
}
