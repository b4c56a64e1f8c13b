//! Connections to the configured server: a small pool that replaces connections the server
//! closed (a restart, `CLIENT KILL`, an idle timeout), and the redaction of the URL's password.

use std::sync::Mutex;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionLike, IntoConnectionInfo};
use tusk_plugin_sdk::{PluginError, host};

/// How the pool connects.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) pool_size: usize,
    pub(crate) connect_timeout: Duration,
    /// `None`: no limit.
    pub(crate) command_timeout: Option<Duration>,
}

/// The server of one URL and the connections to it that wait for the next call.
pub(crate) struct Pool {
    client: redis::Client,
    /// The URL with its password masked, for messages.
    shown: String,
    /// The password, scrubbed from every message that leaves the plugin.
    secret: Option<String>,
    host: String,
    port: u16,
    settings: Settings,
    idle: Mutex<Vec<redis::Connection>>,
}

/// A failed call: the error, and whether the connection failed (rather than the server
/// answering with an error).
pub(crate) struct Failure {
    pub(crate) error: redis::RedisError,
    /// How many replies had arrived when it failed (a pipeline's progress).
    pub(crate) replies: usize,
}

impl From<redis::RedisError> for Failure {
    fn from(error: redis::RedisError) -> Failure {
        Failure { error, replies: 0 }
    }
}

/// True for errors of the connection itself (the server never answered, or went away).
pub(crate) fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error() || error.is_timeout()
}

impl Pool {
    /// A pool for `url`; nothing connects until the first call.
    pub(crate) fn new(url: &str, settings: Settings) -> Result<Pool, PluginError> {
        let (shown, secret) = redact(url);
        let scrub = |text: String| match &secret {
            Some(secret) if !secret.is_empty() => text.replace(secret.as_str(), "***"),
            _ => text,
        };
        if url.starts_with("rediss://") {
            return Err(PluginError::configuration(format!(
                "redis: TLS connections ({shown}) are not supported by this build of the plugin"
            ))
            .with_help("connect with redis:// to a server on a trusted network, or through a TLS tunnel"));
        }
        let info = url.into_connection_info().map_err(|error| {
            PluginError::configuration(scrub(format!("redis: cannot read the URL {shown}: {error}")))
                .with_help("write it as redis://[user:password@]host[:port][/db]")
        })?;
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            _ => {
                return Err(PluginError::configuration(format!(
                    "redis: {shown} is not a TCP address; Unix sockets and TLS are not supported"
                )));
            }
        };
        let client = redis::Client::open(info)
            .map_err(|error| PluginError::configuration(scrub(format!("redis: {shown}: {error}"))))?;
        Ok(Pool { client, shown, secret, host, port, settings, idle: Mutex::new(Vec::new()) })
    }

    /// The server's URL with its password masked.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` with the password replaced by `***`.
    pub(crate) fn scrub(&self, text: String) -> String {
        match &self.secret {
            Some(secret) if !secret.is_empty() => text.replace(secret.as_str(), "***"),
            _ => text,
        }
    }

    /// A new connection, after the host agreed that the plugin may connect to the server.
    pub(crate) fn connect(&self) -> Result<redis::Connection, PluginError> {
        host::check_connect(&self.host, self.port)?;
        self.reconnect()
    }

    /// A new connection without asking the host: for a subscription's own thread, which
    /// reconnects to a server the host allowed when the subscription started (host calls are
    /// refused off the interpreter's thread; sandboxed, the host's broker checks the grant on
    /// every connection anyway).
    pub(crate) fn reconnect(&self) -> Result<redis::Connection, PluginError> {
        let connection = self
            .client
            .get_connection_with_timeout(self.settings.connect_timeout)
            .map_err(|error| self.error(&format!("cannot connect to {}", self.shown), &error))?;
        connection
            .set_read_timeout(self.settings.command_timeout)
            .and_then(|()| connection.set_write_timeout(self.settings.command_timeout))
            .map_err(|error| self.error("cannot set the command timeout", &error))?;
        Ok(connection)
    }

    /// Runs `job` on a connection of the pool. A connection that waited in the pool and fails
    /// before any reply arrived was closed by the server while idle (a restart, `CLIENT
    /// KILL`, a timeout): the other idle ones are dropped too and `job` runs once more on a
    /// new connection. A connection that fails after a reply is not retried (part of the work
    /// may have been done); the error says so and the next call connects anew.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        job: impl Fn(&mut redis::Connection) -> Result<T, Failure>,
    ) -> Result<T, PluginError> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let reused = pooled.is_some();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect()?,
        };
        match job(&mut connection) {
            Ok(value) => {
                self.give_back(connection);
                Ok(value)
            }
            Err(failure) if !is_connection_error(&failure.error) => {
                self.give_back(connection);
                Err(self.error(what, &failure.error))
            }
            Err(failure) => {
                drop(connection);
                if !failure.error.is_timeout() {
                    self.drop_idle();
                }
                if reused && failure.replies == 0 && !failure.error.is_timeout() {
                    let mut fresh = self.connect()?;
                    return match job(&mut fresh) {
                        Ok(value) => {
                            self.give_back(fresh);
                            Ok(value)
                        }
                        Err(failure) => {
                            if !is_connection_error(&failure.error) {
                                self.give_back(fresh);
                            }
                            Err(self.failure(what, &failure))
                        }
                    };
                }
                Err(self.failure(what, &failure))
            }
        }
    }

    fn give_back(&self, connection: redis::Connection) {
        if !connection.is_open() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.settings.pool_size
        {
            idle.push(connection);
        }
    }

    /// Closes the connections waiting in the pool (after one of them turned out dead).
    pub(crate) fn drop_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    fn failure(&self, what: &str, failure: &Failure) -> PluginError {
        let error = self.error(what, &failure.error);
        if failure.replies > 0 && is_connection_error(&failure.error) {
            let message = format!(
                "{} (the connection was lost after {} of the replies had arrived: the commands before it ran, the others may have)",
                error.message_text(),
                failure.replies
            );
            return PluginError::message(message).with_help("the next call connects again");
        }
        error
    }

    /// A plugin error for a Redis error, scrubbed of the password.
    pub(crate) fn error(&self, what: &str, error: &redis::RedisError) -> PluginError {
        let text = describe(error);
        let message = self.scrub(format!("{what}: {text}"));
        if error.is_timeout() {
            PluginError::message(message).with_help("the command_timeout setting of [plugins.redis] sets the limit")
        } else if error.is_connection_refusal() {
            PluginError::message(message).with_help(format!("is a Redis server running at {}?", self.shown))
        } else {
            PluginError::message(message)
        }
    }

    /// A single command (one round trip).
    pub(crate) fn query(&self, what: &str, command: &redis::Cmd) -> Result<redis::Value, PluginError> {
        let packed = command.get_packed_command();
        self.run(what, |connection| Ok(connection.req_packed_command(&packed)?))
    }
}

/// The error's text without the crate's debug decorations.
fn describe(error: &redis::RedisError) -> String {
    let text = error.to_string();
    if error.is_timeout() {
        return format!("no reply within the command timeout ({text})");
    }
    text
}

/// `url` with its password masked, and the password.
pub(crate) fn redact(url: &str) -> (String, Option<String>) {
    // redis://[user[:password]@]host…: the password sits between the first ':' after the
    // scheme and the last '@' of the authority.
    let Some(scheme_end) = url.find("://") else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_string(), None);
    };
    let user_info = &authority[..at];
    let (user, password) = match user_info.find(':') {
        Some(colon) => (&user_info[..colon], Some(&user_info[colon + 1..])),
        // redis://secret@host: a lone user part is often meant as the password; masked too.
        None => ("", Some(user_info)),
    };
    let Some(password) = password.filter(|password| !password.is_empty()) else {
        return (url.to_string(), None);
    };
    let shown = format!("{}://{}:***@{}", &url[..scheme_end], user, &rest[at + 1..]);
    (shown, Some(password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("redis://127.0.0.1:6379"), ("redis://127.0.0.1:6379".to_string(), None));
        assert_eq!(
            redact("redis://app:s3cr@t@10.0.0.1:6379/2"),
            ("redis://app:***@10.0.0.1:6379/2".to_string(), Some("s3cr@t".to_string()))
        );
        assert_eq!(redact("redis://:pw@h"), ("redis://:***@h".to_string(), Some("pw".to_string())));
    }
}
