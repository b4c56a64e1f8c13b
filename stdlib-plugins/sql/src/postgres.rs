//! PostgreSQL: pools per connection string, typed values, transactions and LISTEN.

mod pool;
mod time;
mod tls;
mod types;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use pool::{ConnectCheck, Connection, Pool, PoolSettings, PooledConnection, Pools};
pub use tls::TlsMode;

use crate::{SqlError, SqlErrorKind, SqlValue, StatementResult};

/// A notification received on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The channel it was sent on.
    pub channel: String,
    /// Its payload (empty when none was given).
    pub payload: String,
    /// The server process of the session that sent it.
    pub process_id: i32,
}

/// `"name"`: a channel or savepoint name quoted as an SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A transaction, or a savepoint inside one when nested. It holds its pool connection until
/// the outermost transaction ends; whatever is not committed is rolled back.
pub struct Transaction {
    connection: Arc<Mutex<Option<PooledConnection>>>,
    savepoint: Option<String>,
    depth: usize,
    finished: Mutex<bool>,
}

impl Transaction {
    /// `BEGIN` on a connection of `pool`.
    pub fn begin(pool: &Arc<Pool>) -> Result<Arc<Transaction>, SqlError> {
        let mut retried = false;
        loop {
            let mut connection = pool.get()?;
            match connection.batch("BEGIN") {
                Ok(()) => {
                    return Ok(Arc::new(Transaction {
                        connection: Arc::new(Mutex::new(Some(connection))),
                        savepoint: None,
                        depth: 0,
                        finished: Mutex::new(false),
                    }));
                }
                // The server ended the session before BEGIN ran: once more on a new connection.
                Err(error) if !retried && pool::is_session_ended(&error) => {
                    connection.mark_broken();
                    retried = true;
                }
                Err(error) => {
                    connection.mark_broken();
                    return Err(error);
                }
            }
        }
    }

    /// A savepoint inside this transaction.
    pub fn nested(self: &Arc<Transaction>) -> Result<Arc<Transaction>, SqlError> {
        let name = format!("tusk_savepoint_{}", self.depth + 1);
        self.with_connection(|connection| connection.batch(&format!("SAVEPOINT {}", quote_identifier(&name))))?;
        Ok(Arc::new(Transaction {
            connection: self.connection.clone(),
            savepoint: Some(name),
            depth: self.depth + 1,
            finished: Mutex::new(false),
        }))
    }

    fn with_connection<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T, SqlError>) -> Result<T, SqlError> {
        if *lock(&self.finished) {
            return Err(SqlError::new(SqlErrorKind::Usage, "postgres: this transaction has already finished")
                .with_help("use the transaction only inside the function given to @postgres.transaction"));
        }
        let mut guard = lock(&self.connection);
        let connection = guard.as_mut().ok_or_else(|| {
            SqlError::new(SqlErrorKind::Usage, "postgres: the enclosing transaction has already finished")
        })?;
        work(connection)
    }

    /// Runs a statement inside the transaction.
    pub fn run(&self, sql: &str, params: &[SqlValue]) -> Result<StatementResult, SqlError> {
        self.with_connection(|connection| connection.run(sql, params))
    }

    /// Runs a statement and returns its rows.
    pub fn query(&self, sql: &str, params: &[SqlValue]) -> Result<crate::Rows, SqlError> {
        self.with_connection(|connection| connection.query(sql, params))
    }

    /// Runs a statement and returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        self.with_connection(|connection| connection.execute(sql, params))
    }

    /// `COMMIT` (or `RELEASE SAVEPOINT`). A failed commit leaves the transaction rolled back.
    pub fn commit(&self) -> Result<(), SqlError> {
        let sql = match &self.savepoint {
            Some(name) => format!("RELEASE SAVEPOINT {}", quote_identifier(name)),
            None => "COMMIT".to_string(),
        };
        let result = self.with_connection(|connection| connection.batch(&sql));
        if result.is_err() {
            self.rollback();
        } else {
            self.finish();
        }
        result
    }

    /// `ROLLBACK` (or `ROLLBACK TO SAVEPOINT` and `RELEASE`). Rolling back cannot fail for the
    /// script: a connection that cannot roll back is closed, which rolls back on the server.
    pub fn rollback(&self) {
        if *lock(&self.finished) {
            return;
        }
        let sql = match &self.savepoint {
            Some(name) => format!("ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}", quote_identifier(name)),
            None => "ROLLBACK".to_string(),
        };
        let mut guard = lock(&self.connection);
        if let Some(connection) = guard.as_mut()
            && connection.batch(&sql).is_err()
        {
            connection.mark_broken();
            if self.savepoint.is_some() {
                // The outer transaction cannot go on without its savepoint: end it here.
                guard.take();
            }
        }
        drop(guard);
        self.finish();
    }

    fn finish(&self) {
        *lock(&self.finished) = true;
        if self.savepoint.is_none() {
            // The outermost transaction gives its connection back to the pool.
            lock(&self.connection).take();
        }
    }

    /// True once committed or rolled back.
    pub fn is_finished(&self) -> bool {
        *lock(&self.finished)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.rollback();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `body` inside `transaction`: commits when it returns a value, rolls back when it
/// returns an error or panics.
pub fn within<T, E: From<SqlError>>(
    transaction: Arc<Transaction>,
    body: impl FnOnce(&Arc<Transaction>) -> Result<T, E>,
) -> Result<T, E> {
    struct RollBackUnlessFinished<'a>(&'a Transaction);
    impl Drop for RollBackUnlessFinished<'_> {
        fn drop(&mut self) {
            self.0.rollback();
        }
    }
    let guard = RollBackUnlessFinished(&transaction);
    let result = body(&transaction);
    let outcome = match result {
        Ok(value) => transaction.commit().map(|()| value).map_err(E::from),
        Err(error) => {
            transaction.rollback();
            Err(error)
        }
    };
    drop(guard);
    outcome
}

/// Runs `statements` (SQL with `$n` parameters, and their values) in one transaction: all or
/// none. Returns each statement's result.
pub fn run_all(pool: &Arc<Pool>, statements: &[(String, Vec<SqlValue>)]) -> Result<Vec<StatementResult>, SqlError> {
    let transaction = Transaction::begin(pool)?;
    within(transaction, |transaction| statements.iter().map(|(sql, params)| transaction.run(sql, params)).collect())
}

/// Listening connections of one pool, one per channel.
#[derive(Default)]
pub struct Listeners {
    connections: Mutex<Vec<(String, String, Connection)>>,
}

impl Listeners {
    /// Waits up to `timeout` for notifications on `channel` of `pool`'s database. The first
    /// call starts listening (and keeps listening: notifications sent between calls are kept
    /// for the next one); it returns as soon as one has arrived, with every one that has, or
    /// an empty list at the timeout.
    pub fn listen(
        &self,
        pool: &Arc<Pool>,
        key: &str,
        channel: &str,
        timeout: Duration,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Notification>, SqlError> {
        let mut connections = lock(&self.connections);
        let index = match connections.iter().position(|(k, c, _)| k == key && c == channel) {
            Some(index) => index,
            None => {
                let mut connection = pool.connect()?;
                connection.batch(&format!("LISTEN {}", quote_identifier(channel)))?;
                connections.push((key.to_string(), channel.to_string(), connection));
                connections.len() - 1
            }
        };
        let result = connections[index].2.wait_for_notifications(timeout, cancelled);
        if result.is_err() {
            // A lost listener is replaced on the next call (notifications in between are lost).
            connections.remove(index);
        }
        result
    }

    /// Stops every listener.
    pub fn close_all(&self) {
        lock(&self.connections).clear();
    }
}

/// A connection of its own that listens on channels, for a plugin's thread that hands the
/// notifications to handlers: it connects without asking the host (the pool's grant was
/// checked on the interpreter's thread when the pool was made).
pub struct Listening {
    connection: Connection,
    process_id: i32,
}

impl Listening {
    /// A new connection to `pool`'s database (outside the pool's count).
    pub fn open(pool: &Pool) -> Result<Listening, SqlError> {
        let mut connection = pool.connect()?;
        let rows = connection.query("SELECT pg_backend_pid()", &[])?;
        let process_id = match rows.rows.first().and_then(|row| row.first()) {
            Some(SqlValue::Int(pid)) => i32::try_from(*pid).unwrap_or_default(),
            _ => 0,
        };
        Ok(Listening { connection, process_id })
    }

    /// The server process of this session (what `pg_terminate_backend` takes).
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// `LISTEN channel`.
    pub fn listen(&mut self, channel: &str) -> Result<(), SqlError> {
        self.connection.batch(&format!("LISTEN {}", quote_identifier(channel)))
    }

    /// `UNLISTEN channel`.
    pub fn unlisten(&mut self, channel: &str) -> Result<(), SqlError> {
        self.connection.batch(&format!("UNLISTEN {}", quote_identifier(channel)))
    }

    /// Waits up to `timeout` for notifications: every one that has arrived, or none.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Notification>, SqlError> {
        self.connection.wait_for_notifications(timeout, &|| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("jobs"), "\"jobs\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
