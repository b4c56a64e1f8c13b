//! `LISTEN` with handlers: `@postgres.listen(connection, channel, handler)`,
//! `@postgres.unlisten(connection[, channel])` and `@postgres.listeners(connection)`.
//!
//! Each connection string (or pool) whose channels have handlers gets one listening
//! connection of its own, owned by the SDK's subscription reader
//! ([`SubscriptionReaders`]), which posts every notification to its channel's handler through
//! the host's event loop, keeps `tusk FILE` running while a channel has a handler, and after a
//! lost session (the server restarts, `pg_terminate_backend`) connects again and listens on
//! every channel again. Notifications sent while it was disconnected are lost: PostgreSQL
//! delivers them only to sessions listening when they are committed. This module says how to
//! listen with `tusk-sql`'s [`Listening`].

use std::sync::Arc;
use std::time::Duration;

use tusk_plugin_sdk::retained::{
    Delivery, SessionError, SubscriptionReaders, SubscriptionSession, SubscriptionSource, SubscriptionStatus,
};
use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction, Value};
use tusk_sql::SqlError;
use tusk_sql::postgres::{Listening, Pool};
use tusk_sql::redact::redact_connection_string;

/// The server of one connection string (or pool), for the reader.
pub(crate) struct Source {
    pool: Arc<Pool>,
    /// The connection string without its password.
    shown: String,
}

/// A listening session ([`Listening`] is `tusk-sql`'s, hence the wrapper).
pub(crate) struct Session<'c>(&'c mut Listening);

/// `SqlError` messages are already scrubbed of passwords.
fn session_error(error: SqlError) -> SessionError {
    if error.kind == tusk_sql::SqlErrorKind::Connection {
        SessionError::Lost(error.message)
    } else {
        SessionError::Refused(error.message)
    }
}

impl SubscriptionSource for Source {
    type Topic = String;
    type Connection = Listening;
    type Session<'c> = Session<'c>;
    const THREAD_NAME: &'static str = "postgres-listen";
    const CONNECTION: &'static str = "listening connection";
    const REQUEST: &'static str = "LISTEN";
    const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

    fn service_name(&self) -> String {
        format!("postgres LISTEN on {}", self.shown)
    }

    fn connect(&self) -> Result<Listening, String> {
        Listening::open(&self.pool).map_err(|error| error.message)
    }

    fn open<'c>(&'c self, connection: &'c mut Listening) -> Result<Session<'c>, String> {
        Ok(Session(connection))
    }
}

impl SubscriptionSession for Session<'_> {
    type Topic = String;

    fn id(&self) -> i64 {
        i64::from(self.0.process_id())
    }

    fn subscribe(&mut self, channels: &[String]) -> Result<(), SessionError> {
        channels.iter().try_for_each(|channel| self.0.listen(channel).map_err(session_error))
    }

    fn unsubscribe(&mut self, channels: &[String]) -> Result<(), SessionError> {
        channels.iter().try_for_each(|channel| self.0.unlisten(channel).map_err(session_error))
    }

    /// Each notification as `{channel, payload, process_id}`.
    fn read(&mut self, wait: Duration) -> Result<Vec<Delivery<String>>, String> {
        let notifications = self.0.wait(wait).map_err(|error| error.message)?;
        Ok(notifications
            .into_iter()
            .map(|notification| Delivery {
                topic: notification.channel.clone(),
                argument: Ok(OwnedValue::Object(vec![
                    ("channel".to_string(), OwnedValue::String(notification.channel)),
                    ("payload".to_string(), OwnedValue::String(notification.payload)),
                    ("process_id".to_string(), OwnedValue::Int(i64::from(notification.process_id))),
                ])),
            })
            .collect())
    }
}

/// The handler listeners of one plugin instance, by connection key.
#[derive(Default)]
pub(crate) struct HandlerListeners {
    readers: SubscriptionReaders<Source>,
}

impl HandlerListeners {
    /// Listens on `channel` with `handler` (replacing an earlier handler of the channel);
    /// returns how many channels of this connection have handlers. On the interpreter's thread.
    pub(crate) fn listen(
        &self,
        pool: &Arc<Pool>,
        key: &str,
        channel: &str,
        handler: &RetainedFunction,
        operator: &str,
    ) -> Result<usize, PluginError> {
        let open = || {
            let listening = Listening::open(pool)
                .map_err(|error| PluginError::message(format!("{operator}: {}", error.message)))?;
            Ok((Source { pool: pool.clone(), shown: redact_connection_string(key) }, listening))
        };
        self.readers.subscribe(key, open, &[channel.to_string()], handler, operator)
    }

    /// Stops listening on `channel` (on every channel of the connection when `None`);
    /// returns how many channels of this connection still have handlers.
    pub(crate) fn unlisten(&self, key: &str, channel: Option<&str>) -> usize {
        self.readers.unsubscribe(key, |listened| channel.is_none_or(|channel| channel == listened))
    }

    /// `{channels, connected, process_id, reconnects, received, handler_errors, last_error}`.
    pub(crate) fn status(&self, key: &str) -> Value {
        let Some(status) = self.readers.status(key) else {
            return Value::object(vec![("channels", Value::array(Vec::new())), ("connected", Value::from(false))]);
        };
        let SubscriptionStatus { topics, connected, connection_id, reconnects, received, handler_errors, last_error } =
            status;
        let count = |counter: u64| Value::from(counter.min(i64::MAX as u64) as i64);
        Value::object(vec![
            ("channels", Value::array(topics.iter().map(|name| Value::from(name.as_str())).collect())),
            ("connected", Value::from(connected)),
            ("process_id", Value::from(connection_id)),
            ("reconnects", count(reconnects)),
            ("received", count(received)),
            ("handler_errors", count(handler_errors)),
            ("last_error", last_error.map(|text| Value::from(text.as_str())).unwrap_or_else(Value::null)),
        ])
    }

    /// Stops every reader and releases the handlers (the plugin's shutdown).
    pub(crate) fn close_all(&self) {
        self.readers.close();
    }
}
