//! The `query` plugin: `@query(sql, args…)` and its shorthand `@q`, SQL with `?` placeholders
//! on SQLite (compiled in; an in-memory database unless configured), PostgreSQL or
//! MySQL/MariaDB, as `[plugins.query]` says. Every adapter gives the same shape: an array of
//! row objects for a statement with a result set, `{changes, last_id}` for any other.

mod adapters;
mod config;

use std::sync::Arc;

use tusk_plugin_sdk::{OperatorError, PluginContext, PluginError, TuskOperator, TuskPlugin, Value, export_plugin};
use tusk_sql::script::{result_to_value, to_operator_error, to_sql_value};

use crate::adapters::Adapter;

/// The plugin: one adapter per instance.
#[derive(Default)]
pub struct QueryPlugin;

impl TuskPlugin for QueryPlugin {
    fn name(&self) -> &str {
        "query"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let adapter: Arc<dyn Adapter> = Arc::from(config::adapter(context.config_json())?);
        context.register_operator(Query { name: "query", adapter: adapter.clone() })?;
        context.register_operator(Query { name: "q", adapter })?;
        Ok(())
    }

    fn configuration_schema(&self) -> Option<String> {
        Some(include_str!("../config.schema.json").to_string())
    }
}

/// `@query(sql, args…)` and `@q(sql, args…)`.
struct Query {
    name: &'static str,
    adapter: Arc<dyn Adapter>,
}

impl TuskOperator for Query {
    fn name(&self) -> &str {
        self.name
    }

    fn execute(&self, args: &[Value]) -> Result<Value, OperatorError> {
        let sql = args
            .first()
            .ok_or_else(|| OperatorError::MissingArgument(format!("sql (argument 1 of @{})", self.name)))?;
        let sql = sql.as_str().ok_or_else(|| {
            OperatorError::argument(0, format!("@{}: the SQL must be a string, got a {}", self.name, sql.type_name()))
        })?;
        let params = args[1..]
            .iter()
            .enumerate()
            .map(|(index, value)| to_sql_value(value, &format!("argument {} of @{}", index + 2, self.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self.adapter.run(sql, &params).map_err(to_operator_error)?;
        Ok(result_to_value(&result))
    }

    fn signature(&self) -> String {
        format!("@{}(sql, args…)", self.name)
    }

    fn summary(&self) -> String {
        "Runs SQL with `?` placeholders on the configured database (SQLite by default): rows as objects, or {changes, last_id}.".to_string()
    }

    fn examples(&self) -> Vec<String> {
        vec![format!(r#"@{}("SELECT ? * ? AS product", 6, 7) => [{{"product": 42}}]"#, self.name)]
    }

    fn side_effects(&self) -> bool {
        true
    }
}

export_plugin!(QueryPlugin);
