//! The `query` plugin: `@query(sql, args…)` and its shorthand `@q`, SQL with `?` placeholders
//! on SQLite (compiled in; an in-memory database unless configured), PostgreSQL or
//! MySQL/MariaDB, as `[plugins.query]` says. Every adapter gives the same shape: an array of
//! row objects for a statement with a result set, `{changes, last_id}` for any other.

mod adapters;
mod config;

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, SymbolDoc, TuskPlugin, Value, export_plugin};
use tusk_sql::script::{result_to_value, to_plugin_error, to_sql_value};

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
        let adapter: Arc<dyn Adapter> = Arc::from(config::adapter(context.config()?)?);
        for name in ["query", "q"] {
            let adapter = adapter.clone();
            context.register_operator_with(
                name,
                SymbolDoc {
                    signature: format!("@{name}(sql, args…)"),
                    summary: "Runs SQL with `?` placeholders on the configured database (SQLite by default): rows as objects, or {changes, last_id}.".into(),
                    examples: vec![format!(r#"@{name}("SELECT ? * ? AS product", 6, 7) => [{{"product": 42}}]"#)],
                    side_effects: true,
                    ..SymbolDoc::default()
                },
                move |args: &[Value]| query(name, adapter.as_ref(), args),
            )?;
        }
        Ok(())
    }
}

/// `@query(sql, args…)` and `@q(sql, args…)`; `name` is the operator's, for messages.
fn query(name: &str, adapter: &dyn Adapter, args: &[Value]) -> Result<Value, PluginError> {
    let sql = args.first().ok_or_else(|| PluginError::missing_argument(format!("sql (argument 1 of @{name})")))?;
    let sql = sql.as_str().ok_or_else(|| {
        PluginError::message(format!("@{name}: the SQL must be a string, got a {}", sql.type_name())).at_argument(0)
    })?;
    let params = args[1..]
        .iter()
        .enumerate()
        .map(|(index, value)| to_sql_value(value, &format!("argument {} of @{name}", index + 2)))
        .collect::<Result<Vec<_>, _>>()?;
    let result = adapter.run(sql, &params).map_err(to_plugin_error)?;
    Ok(result_to_value(&result))
}

export_plugin!(QueryPlugin);
