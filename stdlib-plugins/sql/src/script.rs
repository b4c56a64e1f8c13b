//! The plugins' thin layer over the SDK: script values to [`SqlValue`] parameters and back,
//! results as script values, and [`SqlError`] as the SDK's error. Everything else in this
//! crate is plain Rust.

use tusk_plugin_sdk::{ErrorKind, Kind, PluginError, Value, host};

use crate::{Rows, SqlError, SqlErrorKind, SqlValue, StatementResult};

/// A script value as a parameter. `what` names it in errors (`argument 2`).
pub fn to_sql_value(value: &Value, what: &str) -> Result<SqlValue, PluginError> {
    Ok(match value.kind() {
        Kind::Null => SqlValue::Null,
        Kind::Bool => SqlValue::Bool(value.as_bool().unwrap_or_default()),
        Kind::Int => SqlValue::Int(value.as_int().unwrap_or_default()),
        Kind::Float => SqlValue::Float(value.as_float().unwrap_or_default()),
        Kind::String => SqlValue::Text(value.as_str().unwrap_or_default().to_string()),
        Kind::Bytes => SqlValue::Bytes(value.as_bytes().unwrap_or_default().to_vec()),
        Kind::Array => {
            let items = value.as_array().map(|array| array.iter().collect::<Vec<_>>()).unwrap_or_default();
            SqlValue::Array(items.iter().map(|item| to_sql_value(item, what)).collect::<Result<_, _>>()?)
        }
        Kind::Object => {
            let object = value.as_object();
            let mut entries = Vec::new();
            for (key, item) in object.iter().flat_map(|object| object.entries()) {
                entries.push((key.to_string(), to_sql_value(&item, what)?));
            }
            SqlValue::Object(entries)
        }
        Kind::Range => {
            let (start, end) = value.as_range().unwrap_or_default();
            if end.saturating_sub(start) > 1_000_000 {
                return Err(PluginError::message(format!(
                    "{what}: a range of more than a million values cannot be a parameter"
                )));
            }
            SqlValue::Array((start..end).map(SqlValue::Int).collect())
        }
        Kind::Function | Kind::PluginObject | Kind::Opaque => {
            return Err(PluginError::message(format!("{what}: a {} cannot be sent to a database", value.type_name()))
                .with_help("pass null, a bool, a number, a string, a byte string, an array or an object"));
        }
    })
}

/// A cell as a script value: JSON documents become objects and arrays.
pub fn to_script_value(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::null(),
        SqlValue::Bool(b) => Value::from(*b),
        SqlValue::Int(n) => Value::from(*n),
        SqlValue::Float(x) => Value::from(*x),
        SqlValue::Text(text) => Value::from(text.as_str()),
        SqlValue::Bytes(data) => Value::bytes(data),
        SqlValue::Json(json) => json_to_script_value(json),
        SqlValue::Array(items) => Value::array(items.iter().map(to_script_value).collect()),
        SqlValue::Object(entries) => {
            Value::object(entries.iter().map(|(key, item)| (key.as_str(), to_script_value(item))).collect())
        }
    }
}

fn json_to_script_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::null(),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(n) => Value::from(n),
            None => Value::from(number.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(text) => Value::from(text.as_str()),
        serde_json::Value::Array(items) => Value::array(items.iter().map(json_to_script_value).collect()),
        serde_json::Value::Object(entries) => {
            Value::object(entries.iter().map(|(key, item)| (key.as_str(), json_to_script_value(item))).collect())
        }
    }
}

/// Rows as an array of objects whose keys are the column names, in column order.
pub fn rows_to_value(rows: &Rows) -> Value {
    Value::array(
        rows.rows
            .iter()
            .map(|row| {
                Value::object(rows.columns.iter().map(String::as_str).zip(row.iter().map(to_script_value)).collect())
            })
            .collect(),
    )
}

/// Rows as an array of objects; any other statement as `{changes, last_id}`.
pub fn result_to_value(result: &StatementResult) -> Value {
    match result {
        StatementResult::Rows(rows) => rows_to_value(rows),
        StatementResult::Changed { changes, last_id } => Value::object(vec![
            ("changes", Value::from(i64::try_from(*changes).unwrap_or(i64::MAX))),
            ("last_id", Value::from(*last_id)),
        ]),
    }
}

/// The SDK's error for an adapter error, with its hint: a missing grant is a permission error,
/// anything else the message as the adapter wrote it (the database's own words kept).
pub fn to_plugin_error(error: SqlError) -> PluginError {
    let base = match error.kind {
        SqlErrorKind::Permission => PluginError::permission_denied(error.message),
        _ => PluginError::message(error.message),
    };
    match error.help {
        Some(help) => base.with_help(help),
        None => base,
    }
}

/// The host's permission check for connecting to `host:port`, as an adapter error.
pub fn check_connect(host_name: &str, port: u16) -> Result<(), SqlError> {
    host::check_connect(host_name, port).map_err(|error| {
        let message = match error.kind() {
            ErrorKind::PermissionDenied => error.message_text().to_string(),
            _ => error.to_string(),
        };
        SqlError::new(SqlErrorKind::Permission, message)
    })
}

impl From<SqlError> for PluginError {
    fn from(error: SqlError) -> PluginError {
        to_plugin_error(error)
    }
}
