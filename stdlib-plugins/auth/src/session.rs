//! Server-side sessions: a random id in a signed cookie, the data in memory or in Redis.
//!
//! The cookie holds only `id.signature`; the signature (HMAC-SHA256 under the session secret)
//! lets a forged or altered cookie be refused without a store lookup. Data is stored as JSON.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tusk_plugin_sdk::{PluginError, host};

use crate::apikey::{sign_value, unsign_value};
use crate::config::SessionSettings;
use crate::util::{b64, random_bytes};

/// Where the data lives.
enum Store {
    Memory(Mutex<HashMap<String, (String, Instant)>>),
    Redis(RedisStore),
}

struct RedisStore {
    url: String,
    host: String,
    port: u16,
    prefix: String,
    connection: Mutex<Option<redis::Connection>>,
}

/// The sessions of one plugin instance.
pub(crate) struct Sessions {
    store: Store,
    secret: Vec<u8>,
    ttl: i64,
}

impl Sessions {
    pub(crate) fn new(settings: &SessionSettings) -> Result<Sessions, PluginError> {
        let secret = match &settings.secret {
            Some(secret) => secret.as_bytes().to_vec(),
            // Cookies then die with the process, as a memory store's sessions do.
            None => random_bytes(32)?,
        };
        let store = if settings.store == "redis" {
            let url = oauth2::url::Url::parse(&settings.redis_url)
                .map_err(|error| PluginError::configuration(format!("`session.redis_url` is not a URL: {error}")))?;
            if !matches!(url.scheme(), "redis" | "rediss") {
                return Err(PluginError::configuration("`session.redis_url` must be a redis:// URL"));
            }
            let host = url.host_str().unwrap_or("127.0.0.1").trim_matches(['[', ']']).to_string();
            let port = url.port().unwrap_or(6379);
            Store::Redis(RedisStore {
                url: settings.redis_url.clone(),
                host,
                port,
                prefix: settings.key_prefix.clone(),
                connection: Mutex::new(None),
            })
        } else {
            Store::Memory(Mutex::new(HashMap::new()))
        };
        Ok(Sessions { store, secret, ttl: settings.ttl })
    }

    /// The id in a cookie value, if its signature is right.
    fn id<'a>(&self, cookie: &'a str) -> Option<&'a str> {
        unsign_value(cookie, &self.secret)
    }

    /// A new session holding `data` (JSON); its cookie value.
    pub(crate) fn create(&self, data: &str, ttl: Option<i64>) -> Result<String, String> {
        let id = b64(&random_bytes(32).map_err(|error| error.to_string())?);
        self.put(&id, data, ttl.unwrap_or(self.ttl))?;
        Ok(sign_value(&id, &self.secret))
    }

    /// The data of the session of a cookie; `None` when the session is unknown or expired.
    /// Err when the cookie is forged or altered.
    pub(crate) fn get(&self, cookie: &str) -> Result<Option<String>, String> {
        let id = self.id(cookie).ok_or("the session cookie's signature does not match (forged or altered)")?;
        match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                match map.get(id) {
                    Some((data, expires)) if *expires > Instant::now() => Ok(Some(data.clone())),
                    Some(_) => {
                        map.remove(id);
                        Ok(None)
                    }
                    None => Ok(None),
                }
            }
            Store::Redis(redis) => redis.run(|connection| {
                redis::cmd("GET").arg(format!("{}{id}", redis.prefix)).query::<Option<String>>(connection)
            }),
        }
    }

    /// Replaces the data of a live session (and restarts its lifetime); false when it is gone.
    pub(crate) fn update(&self, cookie: &str, data: &str, ttl: Option<i64>) -> Result<bool, String> {
        let id = self.id(cookie).ok_or("the session cookie's signature does not match (forged or altered)")?;
        if self.get(cookie)?.is_none() {
            return Ok(false);
        }
        self.put(id, data, ttl.unwrap_or(self.ttl))?;
        Ok(true)
    }

    /// Ends a session; false when it was already gone.
    pub(crate) fn destroy(&self, cookie: &str) -> Result<bool, String> {
        let id = self.id(cookie).ok_or("the session cookie's signature does not match (forged or altered)")?;
        match &self.store {
            Store::Memory(map) => {
                let removed = map.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
                Ok(removed.is_some_and(|(_, expires)| expires > Instant::now()))
            }
            Store::Redis(redis) => redis
                .run(|connection| redis::cmd("DEL").arg(format!("{}{id}", redis.prefix)).query::<i64>(connection))
                .map(|removed| removed > 0),
        }
    }

    fn put(&self, id: &str, data: &str, ttl: i64) -> Result<(), String> {
        if ttl <= 0 {
            return Err("a session's ttl must be at least 1 second".into());
        }
        match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                // Expired sessions go when the map grows, so it holds at most twice the live ones.
                if map.len() >= 1024 && map.len().is_power_of_two() {
                    map.retain(|_, (_, expires)| *expires > now);
                }
                map.insert(id.to_string(), (data.to_string(), now + Duration::from_secs(ttl as u64)));
                Ok(())
            }
            Store::Redis(redis) => redis.run(|connection| {
                redis::cmd("SET")
                    .arg(format!("{}{id}", redis.prefix))
                    .arg(data)
                    .arg("EX")
                    .arg(ttl)
                    .query::<()>(connection)
            }),
        }
    }
}

impl RedisStore {
    /// Runs a command on the store's connection, connecting (once more after a failure) as
    /// needed. The URL's password never appears in errors.
    fn run<T>(&self, command: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, String> {
        let mut slot = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        for attempt in 0..2 {
            if slot.is_none() {
                host::check_connect(&self.host, self.port).map_err(|error| error.to_string())?;
                let client = redis::Client::open(self.url.as_str())
                    .map_err(|error| format!("the session store's Redis URL is not usable: {}", error.category()))?;
                let connection = client.get_connection_with_timeout(Duration::from_secs(5)).map_err(|error| {
                    format!("cannot reach the session store at {}:{} (Redis): {}", self.host, self.port, scrub(&error))
                })?;
                *slot = Some(connection);
            }
            let Some(connection) = slot.as_mut() else { continue };
            match command(connection) {
                Ok(value) => return Ok(value),
                Err(error) if attempt == 0 && (error.is_io_error() || error.is_connection_dropped()) => *slot = None,
                Err(error) => return Err(format!("the session store (Redis) failed: {}", scrub(&error))),
            }
        }
        Err("the session store (Redis) keeps dropping the connection".into())
    }
}

/// A Redis error's text: its kind and detail, which hold no URL.
fn scrub(error: &redis::RedisError) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.category()),
        None => error.category().to_string(),
    }
}
