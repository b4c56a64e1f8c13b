//! MySQL and MariaDB through the `mysql` crate's pool (pure Rust, no TLS): the pool pings a
//! connection before handing it out, so one the server killed is replaced.

use std::sync::OnceLock;

use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::Queryable;
use tusk_sql::redact::{passwords_in, redact_connection_string, scrub};
use tusk_sql::script::check_connect;
use tusk_sql::{Rows, SqlError, SqlErrorKind, SqlValue, StatementResult};

use super::Adapter;

/// How to reach the server.
pub(crate) struct MySqlSettings {
    /// A `mysql://user:password@host:port/database` URL, or the parts below.
    pub(crate) url: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) pool_size: usize,
}

/// The pool, made on the first statement (that is when the network grant is checked).
pub(crate) struct MySql {
    settings: MySqlSettings,
    pool: OnceLock<mysql::Pool>,
}

impl MySql {
    pub(crate) fn new(settings: MySqlSettings) -> MySql {
        MySql { settings, pool: OnceLock::new() }
    }

    /// The server as messages show it, password masked.
    fn display(&self) -> String {
        match &self.settings.url {
            Some(url) => redact_connection_string(url),
            None => format!(
                "mysql://{}@{}:{}/{}",
                self.settings.user.as_deref().unwrap_or(""),
                self.settings.host,
                self.settings.port,
                self.settings.database.as_deref().unwrap_or("")
            ),
        }
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.settings.url.as_deref().map(passwords_in).unwrap_or_default();
        secrets.extend(self.settings.password.iter().filter(|p| !p.is_empty()).cloned());
        secrets
    }

    fn error(&self, error: mysql::Error) -> SqlError {
        let secrets = self.secrets();
        match &error {
            mysql::Error::MySqlError(server) => {
                SqlError::new(SqlErrorKind::Database, format!("mysql: {}", scrub(&server.message, &secrets)))
                    .with_code(server.state.clone())
            }
            mysql::Error::IoError(_) | mysql::Error::DriverError(_) => SqlError::new(
                SqlErrorKind::Connection,
                format!("mysql: {} ({})", scrub(&error.to_string(), &secrets), self.display()),
            ),
            _ => SqlError::new(SqlErrorKind::Database, format!("mysql: {}", scrub(&error.to_string(), &secrets))),
        }
    }

    fn pool(&self) -> Result<&mysql::Pool, SqlError> {
        if let Some(pool) = self.pool.get() {
            return Ok(pool);
        }
        let builder = match &self.settings.url {
            Some(url) => {
                let opts = mysql::Opts::from_url(url).map_err(|error| {
                    SqlError::new(
                        SqlErrorKind::Configuration,
                        format!(
                            "mysql: invalid URL `{}`: {}",
                            self.display(),
                            scrub(&error.to_string(), &self.secrets())
                        ),
                    )
                })?;
                mysql::OptsBuilder::from_opts(opts)
            }
            None => mysql::OptsBuilder::new()
                .ip_or_hostname(Some(self.settings.host.clone()))
                .tcp_port(self.settings.port)
                .user(self.settings.user.clone())
                .pass(self.settings.password.clone())
                .db_name(self.settings.database.clone()),
        };
        let constraints = mysql::PoolConstraints::new(0, self.settings.pool_size.max(1)).unwrap_or_default();
        // TCP only: with `prefer_socket` the driver would switch to the server's Unix socket,
        // which the network grant does not cover.
        let builder = builder.prefer_socket(false).pool_opts(mysql::PoolOpts::default().with_constraints(constraints));
        let opts = mysql::Opts::from(builder);
        if opts.get_socket().is_some() {
            return Err(SqlError::new(
                SqlErrorKind::Configuration,
                format!("mysql: `{}` names a Unix socket, which the plugin does not support", self.display()),
            )
            .with_help("connect over TCP (host and port)"));
        }
        check_connect(&opts.get_ip_or_hostname(), opts.get_tcp_port())?;
        let pool = mysql::Pool::new(opts).map_err(|error| {
            let error = self.error(error);
            SqlError { message: format!("{} (connecting to {})", error.message, self.display()), ..error }
        })?;
        Ok(self.pool.get_or_init(|| pool))
    }
}

fn parameter(value: &SqlValue) -> mysql::Value {
    match value {
        SqlValue::Null => mysql::Value::NULL,
        SqlValue::Bool(b) => mysql::Value::Int(i64::from(*b)),
        SqlValue::Int(n) => mysql::Value::Int(*n),
        SqlValue::Float(x) => mysql::Value::Double(*x),
        SqlValue::Text(text) => mysql::Value::Bytes(text.clone().into_bytes()),
        SqlValue::Bytes(data) => mysql::Value::Bytes(data.clone()),
        SqlValue::Json(_) | SqlValue::Array(_) | SqlValue::Object(_) => {
            mysql::Value::Bytes(value.to_json().to_string().into_bytes())
        }
    }
}

/// The binary character set: a column of it holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

fn cell(value: mysql::Value, column: &mysql::Column) -> Result<SqlValue, SqlError> {
    Ok(match value {
        mysql::Value::NULL => SqlValue::Null,
        mysql::Value::Int(n) => SqlValue::Int(n),
        mysql::Value::UInt(n) => i64::try_from(n).map_or_else(|_| SqlValue::Text(n.to_string()), SqlValue::Int),
        // A float column's f32 as the decimal it was written as (0.1, not 0.100000001…).
        mysql::Value::Float(x) => SqlValue::Float(x.to_string().parse().unwrap_or(f64::from(x))),
        mysql::Value::Double(x) => SqlValue::Float(x),
        mysql::Value::Date(year, month, day, hour, minute, second, micros) => {
            let mut text = format!("{year:04}-{month:02}-{day:02}");
            if column.column_type() != ColumnType::MYSQL_TYPE_DATE {
                text.push_str(&format!("T{hour:02}:{minute:02}:{second:02}"));
                push_fraction(&mut text, micros);
            }
            SqlValue::Text(text)
        }
        mysql::Value::Time(negative, days, hours, minutes, seconds, micros) => {
            let mut text = format!(
                "{}{:02}:{minutes:02}:{seconds:02}",
                if negative { "-" } else { "" },
                days * 24 + u32::from(hours)
            );
            push_fraction(&mut text, micros);
            SqlValue::Text(text)
        }
        mysql::Value::Bytes(bytes) => match column.column_type() {
            ColumnType::MYSQL_TYPE_JSON => SqlValue::Json(
                serde_json::from_slice(&bytes)
                    .map_err(|_| SqlError::new(SqlErrorKind::Conversion, "mysql: malformed JSON from the server"))?,
            ),
            ColumnType::MYSQL_TYPE_BIT => SqlValue::Int(bytes.iter().fold(0i64, |n, byte| (n << 8) | i64::from(*byte))),
            _ if column.character_set() == BINARY_CHARSET && !column.flags().contains(ColumnFlags::NUM_FLAG) => {
                SqlValue::Bytes(bytes)
            }
            _ => SqlValue::Text(String::from_utf8(bytes).map_err(|_| {
                SqlError::new(
                    SqlErrorKind::Conversion,
                    format!("mysql: column `{}` is not valid UTF-8", column.name_str()),
                )
            })?),
        },
    })
}

fn push_fraction(text: &mut String, micros: u32) {
    if micros != 0 {
        text.push('.');
        text.push_str(format!("{micros:06}").trim_end_matches('0'));
    }
}

impl Adapter for MySql {
    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError> {
        let mut connection = self.pool()?.get_conn().map_err(|error| self.error(error))?;
        let statement = connection.prep(sql).map_err(|error| self.error(error))?;
        SqlError::check_parameter_count(usize::from(statement.num_params()), params.len())?;
        let values: Vec<mysql::Value> = params.iter().map(parameter).collect();
        let bound = if values.is_empty() { mysql::Params::Empty } else { mysql::Params::Positional(values) };
        let mut result = connection.exec_iter(&statement, bound).map_err(|error| self.error(error))?;
        let columns = result.columns();
        let columns: Vec<mysql::Column> = columns.as_ref().to_vec();
        if columns.is_empty() {
            let changes = result.affected_rows();
            let last_id = result.last_insert_id().and_then(|id| i64::try_from(id).ok());
            drop(result);
            return Ok(StatementResult::Changed { changes, last_id: Some(last_id.unwrap_or(0)) });
        }
        let mut rows = Vec::new();
        for row in result.by_ref() {
            let row = row.map_err(|error| self.error(error))?;
            let mut cells = Vec::with_capacity(columns.len());
            for (value, column) in row.unwrap().into_iter().zip(&columns) {
                cells.push(cell(value, column)?);
            }
            rows.push(cells);
        }
        Ok(StatementResult::Rows(Rows {
            columns: columns.iter().map(|column| column.name_str().into_owned()).collect(),
            rows,
        }))
    }
}
