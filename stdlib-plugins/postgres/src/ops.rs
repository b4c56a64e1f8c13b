//! The operators and functions: argument reading and registration only.

use std::sync::Arc;
use std::time::Duration;

use tusk_plugin_sdk::{PluginContext, PluginError, RetainedFunction, SymbolDoc, Value, host};
use tusk_sql::postgres::{Notification, Pool, Transaction, run_all, within};
use tusk_sql::script::{check_connect, result_to_value, to_plugin_error, to_sql_value};
use tusk_sql::{SqlValue, StatementResult};

use crate::State;
use crate::config::PoolOptions;

/// A pool handle (`create_pool`), keyed like the pools of connection strings.
struct PoolHandle(Arc<Pool>);

/// A transaction handle (the argument of a transaction's function).
struct TransactionHandle(Arc<Transaction>);

const POOL_TYPE: &str = "postgres.pool";
const TRANSACTION_TYPE: &str = "postgres.transaction";

/// What a statement runs on.
enum Target {
    Pool(Arc<Pool>),
    Transaction(Arc<Transaction>),
}

impl Target {
    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, PluginError> {
        match self {
            Target::Pool(pool) => pool.run(|connection| connection.run(sql, params)),
            Target::Transaction(transaction) => transaction.run(sql, params),
        }
        .map_err(to_plugin_error)
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, PluginError> {
        match self {
            Target::Pool(pool) => pool.run(|connection| connection.execute(sql, params)),
            Target::Transaction(transaction) => transaction.execute(sql, params),
        }
        .map_err(to_plugin_error)
    }
}

/// One operation of the plugin, with the argument positions it reads from.
type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

/// The arguments of one call, with the operator's name for messages; `offset` skips the
/// operation name of the `@postgres(operation, …)` form.
struct Args<'a> {
    values: &'a [Value],
    offset: usize,
    operator: &'a str,
}

impl Args<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index)
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    fn string(&self, index: usize, name: &str) -> Result<&str, PluginError> {
        let value = self.required(index, name)?;
        value.as_str().ok_or_else(|| {
            PluginError::message(format!("{}: {name} must be a string, got a {}", self.operator, value.type_name()))
                .at_argument(self.offset + index)
        })
    }

    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > self.offset + count {
            return Err(PluginError::message(format!(
                "{} takes at most {} arguments, got {}",
                self.operator,
                self.offset + count,
                self.values.len()
            ))
            .at_argument(self.offset + count));
        }
        Ok(())
    }

    /// The `$1`, `$2`, … values: an array (or nothing).
    fn params(&self, index: usize) -> Result<Vec<SqlValue>, PluginError> {
        match self.get(index) {
            None => Ok(Vec::new()),
            Some(value) if value.is_null() => Ok(Vec::new()),
            Some(value) => match value.as_array() {
                Some(array) => array
                    .iter()
                    .enumerate()
                    .map(|(position, item)| to_sql_value(&item, &format!("parameter ${}", position + 1)))
                    .collect(),
                None => Err(PluginError::message(format!(
                    "{}: the parameters must be an array ([1, \"a\"] for $1 and $2), got a {}",
                    self.operator,
                    value.type_name()
                ))
                .at_argument(self.offset + index)),
            },
        }
    }

    fn target(&self, state: &State, index: usize) -> Result<Target, PluginError> {
        let value = self.required(index, "connection")?;
        if let Some(connection) = value.as_str() {
            return state
                .pools
                .get(connection, &state.settings, &check_connect)
                .map(Target::Pool)
                .map_err(to_plugin_error);
        }
        if let Some(handle) = value.downcast::<PoolHandle>() {
            return Ok(Target::Pool(handle.0.clone()));
        }
        if let Some(handle) = value.downcast::<TransactionHandle>() {
            return Ok(Target::Transaction(handle.0.clone()));
        }
        Err(PluginError::message(format!(
            "{}: the connection must be a connection string, a pool from create_pool or a transaction, got a {}",
            self.operator,
            value.type_name()
        ))
        .at_argument(self.offset + index))
    }
}

fn query(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let target = args.target(state, 0)?;
    let sql = args.string(1, "sql")?;
    let params = args.params(2)?;
    Ok(result_to_value(&target.run(sql, &params)?))
}

fn execute(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let target = args.target(state, 0)?;
    let sql = args.string(1, "sql")?;
    let params = args.params(2)?;
    let changed = target.execute(sql, &params)?;
    Ok(Value::from(i64::try_from(changed).unwrap_or(i64::MAX)))
}

fn transaction(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let target = args.target(state, 0)?;
    let body = args.required(1, "function")?;
    if let Some(statements) = body.as_array() {
        let Target::Pool(pool) = target else {
            return Err(PluginError::message(format!(
                "{}: a list of statements needs a connection, not a transaction",
                args.operator
            ))
            .at_argument(args.offset + 1)
            .with_help("inside a transaction, run the statements one by one"));
        };
        let mut list = Vec::new();
        for (index, statement) in statements.iter().enumerate() {
            list.push(statement_of(&statement, index, args)?);
        }
        let results = run_all(&pool, &list).map_err(to_plugin_error)?;
        return Ok(Value::array(results.iter().map(result_to_value).collect()));
    }
    if body.kind() != tusk_plugin_sdk::Kind::Function {
        return Err(PluginError::message(format!(
            "{}: expected a function (tx => …) or a list of statements, got a {}",
            args.operator,
            body.type_name()
        ))
        .at_argument(args.offset + 1));
    }
    let transaction = match target {
        Target::Pool(pool) => Transaction::begin(&pool),
        Target::Transaction(outer) => outer.nested(),
    }
    .map_err(to_plugin_error)?;
    within(transaction, |transaction| {
        let handle = Value::plugin_object(TRANSACTION_TYPE, TransactionHandle(transaction.clone()));
        body.call(&[handle])
    })
}

/// One entry of a statement list: `"sql"` or `["sql", [params]]`.
fn statement_of(statement: &Value, index: usize, args: &Args<'_>) -> Result<(String, Vec<SqlValue>), PluginError> {
    let bad = || {
        PluginError::message(format!(
            "{}: statement {} must be \"sql\" or [\"sql\", [params]]",
            args.operator,
            index + 1
        ))
        .at_argument(args.offset + 1)
    };
    if let Some(sql) = statement.as_str() {
        return Ok((sql.to_string(), Vec::new()));
    }
    let array = statement.as_array().ok_or_else(bad)?;
    let sql = array.get(0).and_then(|sql| sql.as_str().map(str::to_string)).ok_or_else(bad)?;
    let params = match array.get(1) {
        None => Vec::new(),
        Some(params) => {
            let params = params.as_array().ok_or_else(bad)?;
            params
                .iter()
                .map(|param| to_sql_value(&param, &format!("statement {}", index + 1)))
                .collect::<Result<_, _>>()?
        }
    };
    if array.len() > 2 {
        return Err(bad());
    }
    Ok((sql, params))
}

/// The pool of a listening call's connection (a string or a pool from `create_pool`) and the
/// key its listeners are kept under.
fn listening_pool(state: &State, args: &Args<'_>) -> Result<(Arc<Pool>, String), PluginError> {
    let connection = args.required(0, "connection")?;
    match (connection.as_str(), connection.downcast::<PoolHandle>()) {
        (Some(text), _) => {
            Ok((state.pools.get(text, &state.settings, &check_connect).map_err(to_plugin_error)?, text.to_string()))
        }
        (None, Some(handle)) => Ok((handle.0.clone(), format!("pool:{:p}", Arc::as_ptr(&handle.0)))),
        _ => Err(PluginError::message(format!(
            "{}: the connection must be a connection string or a pool from create_pool",
            args.operator
        ))
        .at_argument(args.offset)),
    }
}

fn listen(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let (pool, key) = listening_pool(state, args)?;
    let channel = args.string(1, "channel")?;
    let timeout = match args.get(2) {
        None => Duration::ZERO,
        Some(value) if value.kind() == tusk_plugin_sdk::Kind::Function => {
            let handler = RetainedFunction::new(value)?;
            let count = state.handler_listeners.listen(&pool, &key, channel, &handler, args.operator)?;
            return Ok(Value::from(count as i64));
        }
        Some(value) => match value.as_float() {
            Some(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => {
                Duration::from_secs_f64(seconds)
            }
            _ => {
                return Err(PluginError::message(format!(
                    "{}: the timeout must be a number of seconds between 0 and 86400",
                    args.operator
                ))
                .at_argument(args.offset + 2)
                .with_help("or pass a handler function: n => … is called with {channel, payload, process_id}"));
            }
        },
    };
    let received =
        state.listeners.listen(&pool, &key, channel, timeout, &host::is_cancelled).map_err(to_plugin_error)?;
    Ok(Value::array(received.iter().map(notification_value).collect()))
}

fn unlisten(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let (_, key) = listening_pool(state, args)?;
    let channel = match args.get(1) {
        None => None,
        Some(_) => Some(args.string(1, "channel")?),
    };
    Ok(Value::from(state.handler_listeners.unlisten(&key, channel) as i64))
}

fn listeners(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let (_, key) = listening_pool(state, args)?;
    Ok(state.handler_listeners.status(&key))
}

fn notification_value(notification: &Notification) -> Value {
    Value::object(vec![
        ("channel", Value::from(notification.channel.as_str())),
        ("payload", Value::from(notification.payload.as_str())),
        ("process_id", Value::from(notification.process_id)),
    ])
}

fn notify(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let target = args.target(state, 0)?;
    let channel = args.string(1, "channel")?;
    let payload = match args.get(2) {
        None => String::new(),
        Some(value) => match value.as_str() {
            Some(text) => text.to_string(),
            None => to_sql_value(value, "payload")?.to_json().to_string(),
        },
    };
    target.run("SELECT pg_notify($1, $2)", &[SqlValue::Text(channel.to_string()), SqlValue::Text(payload)])?;
    Ok(Value::null())
}

fn create_pool(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let connection = args.string(0, "connection")?;
    let settings = match args.get(1) {
        None => state.settings.clone(),
        Some(options) => {
            let json = to_sql_value(options, "options")?.to_json();
            let options: PoolOptions = serde_json::from_value(json).map_err(|error| {
                PluginError::message(format!("create_pool: bad options: {error}")).at_argument(args.offset + 1)
            })?;
            options.apply(&state.settings).map_err(|message| {
                PluginError::message(format!("create_pool: {message}")).at_argument(args.offset + 1)
            })?
        }
    };
    let pool = state.pools.create(connection, settings, &check_connect).map_err(to_plugin_error)?;
    Ok(Value::plugin_object(POOL_TYPE, PoolHandle(pool)))
}

/// The operations of the `@postgres(operation, …)` form.
const OPERATIONS: &[(&str, Operation)] = &[
    ("query", query),
    ("execute", execute),
    ("transaction", transaction),
    ("listen", listen),
    ("unlisten", unlisten),
    ("listeners", listeners),
    ("notify", notify),
];

/// `@postgres(operation, …)`: the seed's form of every operation.
fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let operation = args.required(0, "operation")?;
    let name = operation.as_str().ok_or_else(|| {
        PluginError::message(format!("@postgres: the operation must be a string, got a {}", operation.type_name()))
            .at_argument(0)
    })?;
    let Some((_, run)) = OPERATIONS.iter().find(|(known, _)| *known == name) else {
        let known: Vec<&str> = OPERATIONS.iter().map(|(known, _)| *known).collect();
        return Err(PluginError::invalid_operation(format!("@postgres has no operation `{name}`"))
            .with_help(format!("use one of {}", known.join(", "))));
    };
    run(state, &Args { values: args.values, offset: 1, operator: &format!("@postgres(\"{name}\")") })
}

/// An operator: name, signature, summary, whether it has side effects, examples, implementation.
type OperatorEntry = (&'static str, &'static str, &'static str, bool, &'static [&'static str], Operation);

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    context.register_type(POOL_TYPE)?;
    context.register_type(TRANSACTION_TYPE)?;
    let operators: [OperatorEntry; 8] = [
        (
            "postgres",
            "@postgres(operation, connection, …)",
            "Runs `query`, `execute`, `transaction`, `listen`, `unlisten`, `listeners` or `notify`; the arguments after the operation are those of @postgres.OPERATION.",
            true,
            &[
                r#"@postgres("query", "postgres://postgres@127.0.0.1:5432/test", "SELECT $1::int * 2 AS doubled", [21]) => [{"doubled": 42}]"#,
            ],
            dispatch,
        ),
        (
            "postgres.query",
            "@postgres.query(connection, sql[, params])",
            "Runs a statement with $1, $2, … parameters: its rows as objects, or {changes, last_id} for a statement without rows.",
            true,
            &[],
            query,
        ),
        (
            "postgres.execute",
            "@postgres.execute(connection, sql[, params])",
            "Runs a statement with $1, $2, … parameters and returns how many rows it changed.",
            true,
            &[],
            execute,
        ),
        (
            "postgres.transaction",
            "@postgres.transaction(connection, tx => …)",
            "Runs the function in a transaction (a savepoint when nested): commits when it returns, rolls back when it fails. A list of statements instead of the function runs them all or none.",
            true,
            &[],
            transaction,
        ),
        (
            "postgres.listen",
            "@postgres.listen(connection, channel, handler | timeout)",
            "With a handler: calls it with {channel, payload, process_id} for every notification, from the event loop (tusk keeps running while listening), and returns how many channels of the connection have handlers. With a timeout: waits up to `timeout` seconds and returns [{channel, payload, process_id}], empty at the timeout.",
            true,
            &[],
            listen,
        ),
        (
            "postgres.unlisten",
            "@postgres.unlisten(connection[, channel])",
            "Removes the handler of a channel (of every channel without one); how many channels of the connection still have handlers (at 0 tusk may exit).",
            true,
            &[],
            unlisten,
        ),
        (
            "postgres.listeners",
            "@postgres.listeners(connection)",
            "The handler listeners of a connection: {channels, connected, process_id, reconnects, received, handler_errors, last_error}.",
            false,
            &[],
            listeners,
        ),
        (
            "postgres.notify",
            "@postgres.notify(connection, channel[, payload])",
            "Sends a notification on a channel (pg_notify).",
            true,
            &[],
            notify,
        ),
    ];
    for (name, signature, summary, side_effects, examples, run) in operators {
        let state = state.clone();
        let operator = format!("@{name}");
        context.register_operator_with(
            name,
            SymbolDoc {
                signature: signature.into(),
                summary: summary.into(),
                side_effects,
                examples: examples.iter().map(|example| example.to_string()).collect(),
                ..SymbolDoc::default()
            },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let pool_state = state.clone();
    context.register_function_with(
        "create_pool",
        SymbolDoc {
            signature: "create_pool(connection[, options])".into(),
            summary: "A pool for a connection string, with its own settings ({pool_size, connect_timeout, acquire_timeout, idle_timeout, statement_cache_size, tls}); usable wherever a connection is.".into(),
            side_effects: true,
            examples: vec![
                r#"execute_query(create_pool("postgres://postgres@127.0.0.1:5432/test", {pool_size: 2}), "SELECT 'pooled' AS via") => [{"via": "pooled"}]"#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| create_pool(&pool_state, &Args { values: args, offset: 0, operator: "create_pool" }),
    )?;
    let query_state = state.clone();
    context.register_function_with(
        "execute_query",
        SymbolDoc {
            signature: "execute_query(connection, sql[, params])".into(),
            summary: "The same as @postgres.query.".into(),
            side_effects: true,
            examples: vec![
                r#"execute_query("postgres://postgres@127.0.0.1:5432/test", "SELECT $1::text AS name, $2::int AS n", ["ada", 7]) => [{"name": "ada", "n": 7}]"#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| query(&query_state, &Args { values: args, offset: 0, operator: "execute_query" }),
    )?;
    Ok(())
}
