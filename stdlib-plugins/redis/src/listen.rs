//! Subscriptions with handlers: `@redis.subscribe(channels, handler)`,
//! `@redis.psubscribe(patterns, handler)`, `@redis.unsubscribe(…)`, `@redis.punsubscribe(…)`
//! and `@redis.subscriptions()`.
//!
//! One connection of its own carries every handler subscription of the plugin instance. It is
//! made on the interpreter's thread (where the host checks the network grant), then owned by
//! the SDK's subscription reader ([`SubscriptionReaders`]), which posts each message to its
//! handler through the host's event loop, keeps `tusk FILE` running while a handler is
//! subscribed, and after a lost connection (a server restart, `CLIENT KILL`, a network
//! failure) connects again and subscribes everything again. Messages published while it was
//! disconnected are lost: Redis pub/sub keeps nothing for absent subscribers. While too many
//! messages wait for their handlers the reader stops reading and the server buffers them. This
//! module says how to subscribe with the `redis` crate: a silent connection is checked with a
//! `PING`, so that a dead peer is noticed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::retained::{
    Delivery, SessionError, SubscriptionReaders, SubscriptionSession, SubscriptionSource, SubscriptionStatus,
};
use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction, Value};

use crate::codec;
use crate::pool::{Pool, is_connection_error};

/// How long the server may take to answer a SUBSCRIBE, an UNSUBSCRIBE or a PING.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent for this long is checked with a PING (a dead peer is noticed).
const PING_AFTER: Duration = Duration::from_secs(30);
/// The one reader of a plugin instance (its pool has one server).
const KEY: &str = "";

/// Channels (`SUBSCRIBE`) or patterns (`PSUBSCRIBE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Channel,
    Pattern,
}

/// The server, for the reader.
pub(crate) struct Source {
    pool: Arc<Pool>,
}

/// The subscriptions of one connection.
pub(crate) struct Session<'c> {
    pubsub: redis::PubSub<'c>,
    pool: &'c Pool,
    /// The server's `CLIENT ID` of the connection.
    client_id: i64,
    /// The read timeout set on the connection.
    read_timeout: Option<Duration>,
    last_heard: Instant,
}

impl SubscriptionSource for Source {
    type Topic = (Target, String);
    type Connection = redis::Connection;
    type Session<'c> = Session<'c>;
    const THREAD_NAME: &'static str = "redis-listen";
    const CONNECTION: &'static str = "subscribed connection";
    const REQUEST: &'static str = "subscription";
    const CONFIRM_TIMEOUT: Duration = Duration::from_millis(10_200);

    fn service_name(&self) -> String {
        format!("redis subscriptions on {}", self.pool.shown())
    }

    fn connect(&self) -> Result<redis::Connection, String> {
        self.pool.reconnect().map_err(|error| error.message_text().to_string())
    }

    fn open<'c>(&'c self, connection: &'c mut redis::Connection) -> Result<Session<'c>, String> {
        let client_id: i64 =
            redis::cmd("CLIENT").arg("ID").query(connection).map_err(|error| self.pool.scrub(error.to_string()))?;
        Ok(Session {
            pubsub: connection.as_pubsub(),
            pool: &self.pool,
            client_id,
            read_timeout: None,
            last_heard: Instant::now(),
        })
    }
}

impl Session<'_> {
    fn set_read_timeout(&mut self, timeout: Duration) -> redis::RedisResult<()> {
        if self.read_timeout != Some(timeout) {
            self.read_timeout = None;
            self.pubsub.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(())
    }

    /// Runs `command` (a SUBSCRIBE, an UNSUBSCRIBE) with the reply timeout.
    fn command(
        &mut self,
        command: impl FnOnce(&mut redis::PubSub<'_>) -> redis::RedisResult<()>,
    ) -> Result<(), SessionError> {
        let result = self.set_read_timeout(REPLY_TIMEOUT).and_then(|()| command(&mut self.pubsub));
        match result {
            Ok(()) => Ok(()),
            Err(error) if is_connection_error(&error) => Err(SessionError::Lost(self.pool.scrub(error.to_string()))),
            Err(error) => Err(SessionError::Refused(self.pool.scrub(error.to_string()))),
        }
    }

    /// The channels and the patterns of `topics`.
    fn split(topics: &[(Target, String)]) -> (Vec<&str>, Vec<&str>) {
        let names = |target: Target| {
            topics.iter().filter(|(of, _)| *of == target).map(|(_, name)| name.as_str()).collect::<Vec<_>>()
        };
        (names(Target::Channel), names(Target::Pattern))
    }
}

impl SubscriptionSession for Session<'_> {
    type Topic = (Target, String);

    fn id(&self) -> i64 {
        self.client_id
    }

    fn subscribe(&mut self, topics: &[(Target, String)]) -> Result<(), SessionError> {
        let (channels, patterns) = Session::split(topics);
        if !channels.is_empty() {
            self.command(|pubsub| pubsub.subscribe(&channels))?;
        }
        if !patterns.is_empty() {
            self.command(|pubsub| pubsub.psubscribe(&patterns))?;
        }
        Ok(())
    }

    fn unsubscribe(&mut self, topics: &[(Target, String)]) -> Result<(), SessionError> {
        let (channels, patterns) = Session::split(topics);
        if !channels.is_empty() {
            self.command(|pubsub| pubsub.unsubscribe(&channels))?;
        }
        if !patterns.is_empty() {
            self.command(|pubsub| pubsub.punsubscribe(&patterns))?;
        }
        Ok(())
    }

    /// A message as `{channel, message}`, with `pattern` for a pattern's.
    fn read(&mut self, wait: Duration) -> Result<Vec<Delivery<(Target, String)>>, String> {
        let lost = |pool: &Pool, error: redis::RedisError| pool.scrub(error.to_string());
        if let Err(error) = self.set_read_timeout(wait) {
            return Err(lost(self.pool, error));
        }
        match self.pubsub.get_message() {
            Ok(message) => {
                self.last_heard = Instant::now();
                Ok(vec![delivery(&message)])
            }
            Err(error) if error.is_timeout() => {
                if self.last_heard.elapsed() >= PING_AFTER {
                    let answered = self
                        .set_read_timeout(REPLY_TIMEOUT)
                        .and_then(|()| self.pubsub.ping::<redis::Value>().map(|_| ()));
                    if let Err(error) = answered {
                        return Err(lost(self.pool, error));
                    }
                    self.last_heard = Instant::now();
                }
                Ok(Vec::new())
            }
            Err(error) => Err(lost(self.pool, error)),
        }
    }
}

/// What `message` gives its handler; text that is not UTF-8 cannot be handed on.
fn delivery(message: &redis::Msg) -> Delivery<(Target, String)> {
    let channel = message.get_channel_name().to_string();
    let pattern: Option<String> = message.get_pattern().ok().flatten();
    let topic = match &pattern {
        Some(pattern) => (Target::Pattern, pattern.clone()),
        None => (Target::Channel, channel.clone()),
    };
    let argument = match codec::decode_owned(message.get_payload_bytes()) {
        Ok(payload) => {
            let mut fields = vec![("channel".to_string(), OwnedValue::String(channel))];
            if let Some(pattern) = pattern {
                fields.push(("pattern".to_string(), OwnedValue::String(pattern)));
            }
            fields.push(("message".to_string(), payload));
            Ok(OwnedValue::Object(fields))
        }
        Err(length) => Err(format!(
            "a message on {channel:?} was dropped: its {length} bytes are not UTF-8 text, which TuskLang strings cannot hold"
        )),
    };
    Delivery { topic, argument }
}

/// The handler subscriptions of one plugin instance.
#[derive(Default)]
pub(crate) struct Listener {
    readers: SubscriptionReaders<Source>,
}

impl Listener {
    /// Subscribes `names` with `handler` (replacing the handler of names already subscribed);
    /// returns how many channels and patterns have handlers now. On the interpreter's thread.
    pub(crate) fn subscribe(
        &self,
        pool: &Arc<Pool>,
        target: Target,
        names: &[String],
        handler: &RetainedFunction,
        operator: &str,
    ) -> Result<usize, PluginError> {
        let open = || Ok((Source { pool: pool.clone() }, pool.connect()?));
        let topics: Vec<(Target, String)> = names.iter().map(|name| (target, name.clone())).collect();
        self.readers.subscribe(KEY, open, &topics, handler, operator)
    }

    /// Unsubscribes `names` (every channel or pattern when `None`); returns how many channels
    /// and patterns have handlers now. The last one ends the service.
    pub(crate) fn unsubscribe(&self, target: Target, names: Option<&[String]>) -> usize {
        self.readers.unsubscribe(KEY, |(of, name)| {
            *of == target && names.is_none_or(|names| names.iter().any(|known| known == name))
        })
    }

    /// `{channels, patterns, connected, client_id, reconnects, received, handler_errors,
    /// last_error}`.
    pub(crate) fn status(&self) -> Value {
        let Some(status) = self.readers.status(KEY) else {
            return Value::object(vec![
                ("channels", Value::array(Vec::new())),
                ("patterns", Value::array(Vec::new())),
                ("connected", Value::from(false)),
            ]);
        };
        let SubscriptionStatus { topics, connected, connection_id, reconnects, received, handler_errors, last_error } =
            status;
        let names = |target: Target| {
            Value::array(
                topics.iter().filter(|(of, _)| *of == target).map(|(_, name)| Value::from(name.as_str())).collect(),
            )
        };
        let count = |counter: u64| Value::from(counter.min(i64::MAX as u64) as i64);
        Value::object(vec![
            ("channels", names(Target::Channel)),
            ("patterns", names(Target::Pattern)),
            ("connected", Value::from(connected)),
            ("client_id", Value::from(connection_id)),
            ("reconnects", count(reconnects)),
            ("received", count(received)),
            ("handler_errors", count(handler_errors)),
            ("last_error", last_error.map(|text| Value::from(text.as_str())).unwrap_or_else(Value::null)),
        ])
    }

    /// Stops the reader thread and releases the handlers (the plugin's shutdown).
    pub(crate) fn close(&self) {
        self.readers.close();
    }
}
