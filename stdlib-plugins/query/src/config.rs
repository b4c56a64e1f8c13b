//! `[plugins.query]`: which database `@query` uses and how to reach it. The shape follows the
//! reference SDKs' `database` section (`default`, `sqlite.filename`, `postgresql.host`, …).

use std::time::Duration;

use serde::Deserialize;
use tusk_plugin_sdk::PluginError;
use tusk_sql::postgres::{PoolSettings, TlsMode};

use crate::adapters::Adapter;
use crate::adapters::mysql::{MySql, MySqlSettings};
use crate::adapters::postgres::Postgres;
use crate::adapters::sqlite::{Sqlite, SqliteSettings};

/// The settings as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    default: Option<String>,
    #[serde(default)]
    sqlite: SqliteConfig,
    postgresql: Option<ServerConfig>,
    postgres: Option<ServerConfig>,
    mysql: Option<ServerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteConfig {
    filename: Option<String>,
    timeout: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerConfig {
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    pool_size: Option<usize>,
    tls: Option<String>,
    connect_timeout: Option<f64>,
}

fn seconds(name: &str, value: Option<f64>, default: Duration) -> Result<Duration, PluginError> {
    match value {
        None => Ok(default),
        Some(seconds) if (0.0..1e9).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        Some(seconds) => {
            Err(PluginError::configuration(format!("`{name}` must be a number of seconds, got {seconds}")))
        }
    }
}

/// A libpq `key=value` value, quoted when it needs to be.
fn libpq_value(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The adapter the configuration names (SQLite unless `default` says otherwise).
pub(crate) fn adapter(config: Config) -> Result<Box<dyn Adapter>, PluginError> {
    let kind = config.default.as_deref().unwrap_or("sqlite");
    match kind {
        "sqlite" => Ok(Box::new(Sqlite::new(SqliteSettings {
            filename: config.sqlite.filename.clone().unwrap_or_else(|| ":memory:".to_string()),
            busy_timeout: seconds("sqlite.timeout", config.sqlite.timeout, Duration::from_secs(5))?,
        }))),
        "postgresql" | "postgres" => {
            let server = config.postgresql.or(config.postgres).unwrap_or_default();
            let connection = match &server.url {
                Some(url) => url.clone(),
                None => {
                    let mut parts = vec![
                        format!("host={}", libpq_value(server.host.as_deref().unwrap_or("127.0.0.1"))),
                        format!("port={}", server.port.unwrap_or(5432)),
                    ];
                    for (key, value) in
                        [("dbname", &server.database), ("user", &server.user), ("password", &server.password)]
                    {
                        if let Some(value) = value {
                            parts.push(format!("{key}={}", libpq_value(value)));
                        }
                    }
                    parts.join(" ")
                }
            };
            let defaults = PoolSettings::default();
            let settings = PoolSettings {
                max_size: server.pool_size.unwrap_or(defaults.max_size).max(1),
                connect_timeout: seconds(
                    "postgresql.connect_timeout",
                    server.connect_timeout,
                    defaults.connect_timeout,
                )?,
                tls: match &server.tls {
                    Some(mode) => TlsMode::parse(mode).map_err(|error| PluginError::configuration(error.message))?,
                    None => defaults.tls,
                },
                ..defaults
            };
            Ok(Box::new(Postgres::new(connection, settings)))
        }
        "mysql" | "mariadb" => {
            let server = config.mysql.unwrap_or_default();
            if server.tls.is_some() {
                return Err(PluginError::configuration("mysql.tls: TLS to MySQL is not supported yet"));
            }
            Ok(Box::new(MySql::new(MySqlSettings {
                url: server.url,
                host: server.host.unwrap_or_else(|| "127.0.0.1".to_string()),
                port: server.port.unwrap_or(3306),
                user: server.user,
                password: server.password,
                database: server.database,
                pool_size: server.pool_size.unwrap_or(10),
            })))
        }
        other => Err(PluginError::configuration(format!(
            "unknown database `{other}` in `default`: use \"sqlite\", \"postgresql\" or \"mysql\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::libpq_value;

    #[test]
    fn libpq_values_are_quoted_when_needed() {
        assert_eq!(libpq_value("plain"), "plain");
        assert_eq!(libpq_value("two words"), "'two words'");
        assert_eq!(libpq_value(r"it's\"), r"'it\'s\\'");
        assert_eq!(libpq_value(""), "''");
    }
}
