//! A small pool of PostgreSQL connections per connection string, without a thread of its own.
//!
//! Why not r2d2: calls come from the interpreter thread one at a time, so the pool needs no
//! reaper thread; what it needs is a cheap liveness check at checkout (a non-blocking poll of
//! the socket, which notices a connection the server closed, without a round trip), a
//! prepared-statement cache that lives with each connection, and one retry of a statement the
//! server refused because it was shutting the session down. That is less code here than the
//! glue around r2d2 would be.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement};

use super::tls::{self, TlsMode};
use super::types::{Param, RawCell, decode};
use crate::redact::{passwords_in, redact_connection_string, scrub};
use crate::{Rows, SqlError, SqlErrorKind, SqlValue, StatementResult};

/// How every pool is sized and how its connections are made.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// Connections open at most at once.
    pub max_size: usize,
    /// How long making a connection may take.
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection when all are in use.
    pub acquire_timeout: Duration,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// Prepared statements kept per connection (0: none kept).
    pub statement_cache_size: usize,
    /// TLS, unless the connection string sets `sslmode` itself.
    pub tls: TlsMode,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_size: 10,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            statement_cache_size: 100,
            tls: TlsMode::Prefer,
        }
    }
}

/// Checks that the user allowed connecting to a host and port (the host's permission check).
pub type ConnectCheck<'a> = &'a dyn Fn(&str, u16) -> Result<(), SqlError>;

/// The pools of one plugin instance, one per connection string.
#[derive(Default)]
pub struct Pools {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

impl Pools {
    /// The pool of `connection`, created with `settings` on first use. Every host the
    /// connection string names is checked with `check` before any connection is made.
    pub fn get(
        &self,
        connection: &str,
        settings: &PoolSettings,
        check: ConnectCheck<'_>,
    ) -> Result<Arc<Pool>, SqlError> {
        if let Some(pool) = lock(&self.pools).get(connection) {
            return Ok(pool.clone());
        }
        let pool = Arc::new(Pool::new(connection, settings.clone(), check)?);
        Ok(lock(&self.pools).entry(connection.to_string()).or_insert(pool).clone())
    }

    /// Creates (or replaces) the pool of `connection` with its own settings.
    pub fn create(
        &self,
        connection: &str,
        settings: PoolSettings,
        check: ConnectCheck<'_>,
    ) -> Result<Arc<Pool>, SqlError> {
        let pool = Arc::new(Pool::new(connection, settings, check)?);
        lock(&self.pools).insert(connection.to_string(), pool.clone());
        Ok(pool)
    }

    /// Closes every idle connection (at shutdown).
    pub fn close_all(&self) {
        for pool in lock(&self.pools).drain().map(|(_, pool)| pool) {
            pool.close_idle();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind (lists and maps), still usable.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The connections of one connection string.
pub struct Pool {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The connection string with its password masked, for messages.
    display: String,
    /// Password texts to scrub from driver messages.
    secrets: Vec<String>,
    settings: PoolSettings,
    state: Mutex<PoolState>,
    available: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl Pool {
    fn new(connection: &str, settings: PoolSettings, check: ConnectCheck<'_>) -> Result<Pool, SqlError> {
        let display = redact_connection_string(connection);
        let mut secrets = passwords_in(connection);
        let mut config = postgres::Config::from_str(connection).map_err(|error| {
            SqlError::new(
                SqlErrorKind::Configuration,
                format!("postgres: invalid connection string `{display}`: {}", scrub(&error.to_string(), &secrets)),
            )
            .with_help("write `postgres://user:password@host:5432/database` or `host=… port=… user=… dbname=…`")
        })?;
        if let Some(password) = config.get_password() {
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
        check_hosts(&config, &display, check)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(settings.connect_timeout);
        }
        if !connection.contains("sslmode") {
            config.ssl_mode(settings.tls.ssl_mode());
        }
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Disable => None,
            _ => Some(tls::connector()?),
        };
        Ok(Pool {
            config,
            tls,
            display,
            secrets,
            settings,
            state: Mutex::new(PoolState::default()),
            available: Condvar::new(),
        })
    }

    /// The connection string with its password masked.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The pool's settings.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// A connection for one use; it goes back to the pool when dropped.
    pub fn get(self: &Arc<Pool>) -> Result<PooledConnection, SqlError> {
        let deadline = Instant::now() + self.settings.acquire_timeout;
        let mut state = lock(&self.state);
        loop {
            while let Some(mut connection) = state.idle.pop() {
                if connection.idle_since.elapsed() < self.settings.idle_timeout && connection.is_alive() {
                    return Ok(PooledConnection { pool: self.clone(), connection: Some(connection), broken: false });
                }
                state.open -= 1;
            }
            if state.open < self.settings.max_size {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(connection) => {
                        Ok(PooledConnection { pool: self.clone(), connection: Some(connection), broken: false })
                    }
                    Err(error) => {
                        lock(&self.state).open -= 1;
                        self.available.notify_one();
                        Err(error)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SqlError::new(
                    SqlErrorKind::PoolExhausted,
                    format!(
                        "postgres: all {} connections of the pool for `{}` stayed in use for {:?}",
                        self.settings.max_size, self.display, self.settings.acquire_timeout
                    ),
                )
                .with_help("raise `pool_size` in [plugins.postgres], or do not query the same database from inside a transaction's function through the connection string (use the transaction)"));
            }
            state = self
                .available
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// A new connection outside the pool's count (a listener's).
    pub(crate) fn connect(&self) -> Result<Connection, SqlError> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|error| {
            let message = error_text(&error, &self.secrets);
            SqlError::new(
                SqlErrorKind::Connection,
                format!("postgres: cannot connect to `{}`: {message}", self.display),
            )
            .with_code_opt(error.code().map(|code| code.code().to_string()))
        })?;
        Ok(Connection {
            client,
            statements: StatementCache::new(self.settings.statement_cache_size),
            idle_since: Instant::now(),
            secrets: self.secrets.clone(),
        })
    }

    /// Runs `work` on a pooled connection. When the server ended the session before it ran
    /// the statement (the session was terminated, or the server restarted), the dead
    /// connection is dropped and `work` runs once more on a new one.
    pub fn run<T>(
        self: &Arc<Pool>,
        mut work: impl FnMut(&mut Connection) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let mut connection = self.get()?;
        match work(&mut connection) {
            Err(error) if is_session_ended(&error) => {
                connection.mark_broken();
                drop(connection);
                let mut connection = self.get()?;
                let result = work(&mut connection);
                if result.is_err() && !connection.is_alive() {
                    connection.mark_broken();
                }
                result
            }
            Err(error) => {
                if !connection.is_alive() {
                    connection.mark_broken();
                }
                Err(error)
            }
            ok => ok,
        }
    }

    fn put_back(&self, mut connection: Connection) {
        connection.idle_since = Instant::now();
        lock(&self.state).idle.push(connection);
        self.available.notify_one();
    }

    fn forget(&self) {
        lock(&self.state).open -= 1;
        self.available.notify_one();
    }

    fn close_idle(&self) {
        let mut state = lock(&self.state);
        let idle = std::mem::take(&mut state.idle);
        state.open -= idle.len();
        drop(state);
        for connection in idle {
            let _ = connection.client.close();
        }
    }
}

/// True for errors that say the server ended the session without running the statement.
pub(crate) fn is_session_ended(error: &SqlError) -> bool {
    let ended = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW];
    error.code.as_deref().is_some_and(|code| ended.iter().any(|state| state.code() == code))
}

fn check_hosts(config: &postgres::Config, display: &str, check: ConnectCheck<'_>) -> Result<(), SqlError> {
    let hosts = config.get_hosts();
    if hosts.is_empty() && config.get_hostaddrs().is_empty() {
        return Err(SqlError::new(
            SqlErrorKind::Configuration,
            format!("postgres: the connection string `{display}` names no host"),
        )
        .with_help("add the server, e.g. `postgres://user@127.0.0.1:5432/db` or `host=127.0.0.1`"));
    }
    let ports = config.get_ports();
    let port_of = |index: usize| ports.get(index).or(ports.first()).copied().unwrap_or(5432);
    for (index, host) in hosts.iter().enumerate() {
        match host {
            Host::Tcp(name) => check(name, port_of(index))?,
            #[cfg(unix)]
            Host::Unix(path) => {
                return Err(SqlError::new(
                    SqlErrorKind::Configuration,
                    format!(
                        "postgres: `{display}` connects through the Unix socket {}, which the plugin does not support",
                        path.display()
                    ),
                )
                .with_help("connect over TCP, e.g. `host=127.0.0.1`"));
            }
        }
    }
    for (index, address) in config.get_hostaddrs().iter().enumerate() {
        check(&address.to_string(), port_of(index))?;
    }
    Ok(())
}

impl SqlError {
    fn with_code_opt(self, code: Option<String>) -> SqlError {
        match code {
            Some(code) => self.with_code(code),
            None => self,
        }
    }
}

/// A driver error in words, scrubbed of the password: the server's message (with its detail)
/// for database errors, the driver's otherwise.
fn error_text(error: &postgres::Error, secrets: &[String]) -> String {
    let text = match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            // The driver's own text names the step ("error serializing parameter 0"); the
            // cause is in the source.
            let text = error.to_string();
            let text = match text.strip_prefix("error serializing parameter ").and_then(|n| n.parse::<usize>().ok()) {
                Some(index) => format!("parameter ${}", index + 1),
                None => text,
            };
            match std::error::Error::source(error) {
                Some(source) => format!("{text}: {source}"),
                None => text,
            }
        }
    };
    scrub(&text, secrets)
}

/// One connection with its prepared statements.
pub struct Connection {
    client: Client,
    statements: StatementCache,
    idle_since: Instant,
    secrets: Vec<String>,
}

impl Connection {
    /// True unless the server closed the connection: polls the socket without blocking, so a
    /// termination message the server sent is seen.
    fn is_alive(&mut self) -> bool {
        if self.client.is_closed() {
            return false;
        }
        let polled = self.client.notifications().iter().next();
        polled.is_ok() && !self.client.is_closed()
    }

    fn error(&self, error: postgres::Error) -> SqlError {
        let message = error_text(&error, &self.secrets);
        match error.as_db_error() {
            Some(db) => {
                let mut sql_error = SqlError::new(SqlErrorKind::Database, format!("postgres: {message}"))
                    .with_code(db.code().code().to_string());
                if let Some(hint) = db.hint() {
                    sql_error = sql_error.with_help(scrub(hint, &self.secrets));
                }
                sql_error
            }
            None if error.is_closed() || self.client.is_closed() => {
                SqlError::new(SqlErrorKind::Connection, format!("postgres: the connection was lost: {message}"))
            }
            None if message.starts_with("parameter $") => {
                SqlError::new(SqlErrorKind::Conversion, format!("postgres: {message}"))
            }
            None => SqlError::new(SqlErrorKind::Connection, format!("postgres: {message}")),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).map_err(|error| self.error(error))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs one statement with `$1`, `$2`, … parameters: rows for a statement that has a
    /// result set, else the number of rows it changed.
    pub fn run(&mut self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError> {
        let statement = self.statement(sql)?;
        check_parameter_count(&statement, params)?;
        if statement.columns().is_empty() {
            let changes = self.execute_prepared(&statement, sql, params)?;
            Ok(StatementResult::Changed { changes, last_id: None })
        } else {
            Ok(StatementResult::Rows(self.query_prepared(&statement, sql, params)?))
        }
    }

    /// Runs a statement and returns its rows (none for a statement without a result set).
    pub fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Rows, SqlError> {
        let statement = self.statement(sql)?;
        check_parameter_count(&statement, params)?;
        self.query_prepared(&statement, sql, params)
    }

    /// Runs a statement and returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let statement = self.statement(sql)?;
        check_parameter_count(&statement, params)?;
        self.execute_prepared(&statement, sql, params)
    }

    /// Runs statements without parameters (`BEGIN`, `SAVEPOINT s1`, `LISTEN "c"`).
    pub fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.client.batch_execute(sql).map_err(|error| self.error(error))
    }

    fn query_prepared(&mut self, statement: &Statement, sql: &str, params: &[SqlValue]) -> Result<Rows, SqlError> {
        let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
        let references: Vec<&(dyn postgres::types::ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
        let rows = match self.client.query(statement, &references) {
            Ok(rows) => rows,
            Err(error) => return Err(self.stale_or(error, sql)),
        };
        let columns: Vec<String> = statement.columns().iter().map(|column| column.name().to_string()).collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut cells = Vec::with_capacity(columns.len());
            for (index, column) in statement.columns().iter().enumerate() {
                let raw: Option<RawCell<'_>> = row.try_get(index).map_err(|error| self.error(error))?;
                cells.push(match raw {
                    Some(RawCell(bytes)) => decode(column.type_(), bytes).map_err(|error| SqlError {
                        message: format!("{} (column `{}`)", error.message, column.name()),
                        ..error
                    })?,
                    None => SqlValue::Null,
                });
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }

    fn execute_prepared(&mut self, statement: &Statement, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
        let references: Vec<&(dyn postgres::types::ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
        self.client.execute(statement, &references).map_err(|error| self.stale_or(error, sql))
    }

    /// The error of running a cached statement; a statement the server no longer knows in
    /// this form (the table changed under it) is dropped from the cache so the next call
    /// prepares it afresh.
    fn stale_or(&mut self, error: postgres::Error, sql: &str) -> SqlError {
        if error.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED)
            || error.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME)
        {
            self.statements.remove(sql);
        }
        self.error(error)
    }

    /// Waits up to `timeout` for a notification on the channels this connection listens to,
    /// then takes whatever else has arrived; `cancelled` is asked every 100 ms.
    pub(crate) fn wait_for_notifications(
        &mut self,
        timeout: Duration,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<super::Notification>, SqlError> {
        let deadline = Instant::now() + timeout;
        let mut received = Vec::new();
        loop {
            let now = Instant::now();
            let slice = (deadline.saturating_duration_since(now)).min(Duration::from_millis(100));
            let first = self.client.notifications().timeout_iter(slice).next();
            if let Some(notification) = first.map_err(|error| self.error(error))? {
                received.push(notification);
                break;
            }
            if self.client.is_closed() {
                return Err(SqlError::new(
                    SqlErrorKind::Connection,
                    "postgres: the listening connection was closed by the server",
                ));
            }
            if Instant::now() >= deadline || cancelled() {
                return Ok(Vec::new());
            }
        }
        let mut pending = self.client.notifications();
        let mut rest = pending.iter();
        while let Some(notification) = rest
            .next()
            .map_err(|_| SqlError::new(SqlErrorKind::Connection, "postgres: the listening connection was lost"))?
        {
            received.push(notification);
        }
        Ok(received
            .into_iter()
            .map(|n| super::Notification {
                channel: n.channel().to_string(),
                payload: n.payload().to_string(),
                process_id: n.process_id(),
            })
            .collect())
    }
}

fn check_parameter_count(statement: &Statement, params: &[SqlValue]) -> Result<(), SqlError> {
    SqlError::check_parameter_count(statement.params().len(), params.len())
}

/// A connection checked out of its pool. It goes back when dropped, unless it broke; one
/// dropped inside an unfinished transaction is rolled back first.
pub struct PooledConnection {
    pool: Arc<Pool>,
    connection: Option<Connection>,
    broken: bool,
}

impl PooledConnection {
    /// Drops the connection instead of returning it to the pool.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// The pool it came from.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        match self.connection.take() {
            Some(connection) if !self.broken && !connection.client.is_closed() => self.pool.put_back(connection),
            _ => self.pool.forget(),
        }
    }
}

/// Prepared statements by SQL text; the oldest goes when it is full.
struct StatementCache {
    capacity: usize,
    statements: HashMap<String, Statement>,
    order: VecDeque<String>,
}

impl StatementCache {
    fn new(capacity: usize) -> StatementCache {
        StatementCache { capacity, statements: HashMap::new(), order: VecDeque::new() }
    }

    fn get(&self, sql: &str) -> Option<Statement> {
        self.statements.get(sql).cloned()
    }

    fn insert(&mut self, sql: &str, statement: Statement) {
        if self.capacity == 0 {
            return;
        }
        if self.statements.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.statements.remove(&oldest);
        }
        self.statements.insert(sql.to_string(), statement);
        self.order.push_back(sql.to_string());
    }

    fn remove(&mut self, sql: &str) {
        self.statements.remove(sql);
        self.order.retain(|cached| cached != sql);
    }
}
