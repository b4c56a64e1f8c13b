//! Subscriptions with handlers: `@redis.subscribe(channels, handler)`,
//! `@redis.psubscribe(patterns, handler)`, `@redis.unsubscribe(…)`, `@redis.punsubscribe(…)`
//! and `@redis.subscriptions()`.
//!
//! One connection of its own carries every handler subscription of the plugin instance. It is
//! made on the interpreter's thread (where the host checks the network grant), then owned by a
//! reader thread that posts each message to its handler through the host's event loop: handlers
//! run on the interpreter's thread, one at a time, in the order the messages arrived. While at
//! least one handler is subscribed a service keeps `tusk FILE` running; the last unsubscribe
//! ends it.
//!
//! When the connection is lost (a server restart, `CLIENT KILL`, a network failure) the reader
//! connects again, pausing between attempts (0.1 s, doubling up to 5 s), and subscribes
//! everything again. Messages published while it was disconnected are lost: Redis pub/sub
//! keeps nothing for absent subscribers.
//!
//! The reader never waits for a handler, so a handler may subscribe and unsubscribe (itself
//! too); it stops reading while too many messages wait for their handlers, and the server
//! buffers them meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction, ServiceGuard, Value};

use crate::codec;
use crate::pool::{Pool, is_connection_error};

/// How long a read waits before the reader looks at its controls again.
const SLICE: Duration = Duration::from_millis(50);
/// How long the server may take to answer a SUBSCRIBE, an UNSUBSCRIBE or a PING.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pauses between attempts to connect again.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Messages posted to handlers and not handled yet beyond which the reader stops reading.
const MAX_WAITING: usize = 1024;
/// A connection silent for this long is checked with a PING (a dead peer is noticed).
const PING_AFTER: Duration = Duration::from_secs(30);
/// How long shutdown waits for the reader thread to end.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Channels (`SUBSCRIBE`) or patterns (`PSUBSCRIBE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Channel,
    Pattern,
}

/// The handler of each channel and pattern (one each: subscribing again replaces it).
#[derive(Default)]
struct Handlers {
    channels: BTreeMap<String, RetainedFunction>,
    patterns: BTreeMap<String, RetainedFunction>,
}

impl Handlers {
    fn of(&mut self, target: Target) -> &mut BTreeMap<String, RetainedFunction> {
        match target {
            Target::Channel => &mut self.channels,
            Target::Pattern => &mut self.patterns,
        }
    }

    fn len(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// What `@redis.subscriptions()` shows of the connection.
#[derive(Default)]
struct Status {
    connected: AtomicBool,
    /// The server's `CLIENT ID` of the current connection.
    client_id: AtomicI64,
    reconnects: AtomicU64,
    received: AtomicU64,
    handler_errors: AtomicU64,
    /// Messages posted to handlers that have not run yet.
    waiting: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl Status {
    fn set_error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(message);
    }
}

enum Control {
    Subscribe(Target, Vec<String>, Sender<Result<(), String>>),
    Unsubscribe(Target, Vec<String>),
    Stop,
}

/// The handler subscriptions of one plugin instance.
#[derive(Default)]
pub(crate) struct Listener {
    running: Mutex<Option<Running>>,
}

/// The reader thread and what it shares.
struct Running {
    control: Sender<Control>,
    handlers: Arc<Mutex<Handlers>>,
    status: Arc<Status>,
    /// Keeps `tusk` running while something is subscribed.
    _service: ServiceGuard,
    /// Disconnected when the reader thread has ended.
    ended: Receiver<()>,
}

impl Running {
    /// Stops the reader (which closes the connection) and releases the handlers.
    fn stop(self, wait: bool) {
        let _ = self.control.send(Control::Stop);
        std::mem::take(&mut *lock(&self.handlers));
        if wait {
            let _ = self.ended.recv_timeout(STOP_WAIT);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let mut running = lock(&self.running);
        if running.is_none() {
            let connection = pool.connect()?;
            *running = Some(start(pool.clone(), connection)?);
        }
        let Some(current) = running.as_ref() else { return Ok(0) };
        let new: Vec<String> = {
            let mut handlers = lock(&current.handlers);
            let map = handlers.of(target);
            let new = names.iter().filter(|name| !map.contains_key(*name)).cloned().collect();
            for name in names {
                map.insert(name.clone(), handler.clone());
            }
            new
        };
        if !new.is_empty() {
            let (done, confirmed) = mpsc::channel();
            let outcome = match current.control.send(Control::Subscribe(target, new.clone(), done)) {
                Err(_) => Err("the subscribed connection was closed".to_string()),
                Ok(()) => match confirmed.recv_timeout(REPLY_TIMEOUT + SLICE * 4) {
                    Ok(outcome) => outcome,
                    Err(_) => Err("the server did not confirm the subscription".to_string()),
                },
            };
            if let Err(message) = outcome {
                let left = {
                    let mut handlers = lock(&current.handlers);
                    for name in &new {
                        handlers.of(target).remove(name);
                    }
                    handlers.len()
                };
                if left == 0
                    && let Some(ended) = running.take()
                {
                    ended.stop(false);
                }
                return Err(PluginError::message(pool.scrub(format!("{operator}: {message}"))));
            }
        }
        Ok(lock(&current.handlers).len())
    }

    /// Unsubscribes `names` (every channel or pattern when `None`); returns how many channels
    /// and patterns have handlers now. The last one ends the service.
    pub(crate) fn unsubscribe(&self, target: Target, names: Option<&[String]>) -> usize {
        let mut running = lock(&self.running);
        let Some(current) = running.as_ref() else { return 0 };
        let (removed, left) = {
            let mut handlers = lock(&current.handlers);
            let map = handlers.of(target);
            let removed: Vec<String> = match names {
                Some(names) => names.iter().filter(|name| map.remove(*name).is_some()).cloned().collect(),
                None => std::mem::take(map).into_keys().collect(),
            };
            (removed, handlers.len())
        };
        if left == 0 {
            if let Some(ended) = running.take() {
                ended.stop(false);
            }
        } else if !removed.is_empty() {
            let _ = current.control.send(Control::Unsubscribe(target, removed));
        }
        left
    }

    /// `{channels, patterns, connected, client_id, reconnects, received, handler_errors,
    /// last_error}`.
    pub(crate) fn status(&self) -> Value {
        let running = lock(&self.running);
        let Some(current) = running.as_ref() else {
            return Value::object(vec![
                ("channels", Value::array(Vec::new())),
                ("patterns", Value::array(Vec::new())),
                ("connected", Value::from(false)),
            ]);
        };
        let (channels, patterns) = {
            let handlers = lock(&current.handlers);
            let names = |map: &BTreeMap<String, RetainedFunction>| {
                Value::array(map.keys().map(|name| Value::from(name.as_str())).collect())
            };
            (names(&handlers.channels), names(&handlers.patterns))
        };
        let status = &current.status;
        let count = |counter: &AtomicU64| Value::from(counter.load(Ordering::Relaxed).min(i64::MAX as u64) as i64);
        let last_error = lock(&status.last_error).clone();
        Value::object(vec![
            ("channels", channels),
            ("patterns", patterns),
            ("connected", Value::from(status.connected.load(Ordering::Relaxed))),
            ("client_id", Value::from(status.client_id.load(Ordering::Relaxed))),
            ("reconnects", count(&status.reconnects)),
            ("received", count(&status.received)),
            ("handler_errors", count(&status.handler_errors)),
            ("last_error", last_error.map(|text| Value::from(text.as_str())).unwrap_or_else(Value::null)),
        ])
    }

    /// Stops the reader thread and releases the handlers (the plugin's shutdown).
    pub(crate) fn close(&self) {
        if let Some(running) = lock(&self.running).take() {
            running.stop(true);
        }
    }
}

/// Starts the service and the reader thread that owns `connection`.
fn start(pool: Arc<Pool>, connection: redis::Connection) -> Result<Running, PluginError> {
    let service = ServiceGuard::start(&format!("redis subscriptions on {}", pool.shown()))?;
    let (control, controls) = mpsc::channel();
    let (ended_sender, ended) = mpsc::channel::<()>();
    let handlers = Arc::new(Mutex::new(Handlers::default()));
    let status = Arc::new(Status::default());
    let reader = Reader { pool, controls, handlers: handlers.clone(), status: status.clone() };
    thread::Builder::new()
        .name("redis-listen".into())
        .spawn(move || {
            let _ended = ended_sender;
            reader.run(connection);
        })
        .map_err(|error| PluginError::message(format!("@redis.subscribe: cannot start its reader: {error}")))?;
    Ok(Running { control, handlers, status, _service: service, ended })
}

/// How serving one connection ended.
enum Ended {
    Stopped,
    Lost(String),
}

struct Reader {
    pool: Arc<Pool>,
    controls: Receiver<Control>,
    handlers: Arc<Mutex<Handlers>>,
    status: Arc<Status>,
}

impl Reader {
    fn run(&self, first: redis::Connection) {
        let mut next = Some(first);
        let mut pause = FIRST_PAUSE;
        loop {
            let connection = match next.take() {
                Some(connection) => connection,
                None => match self.pool.reconnect() {
                    Ok(connection) => {
                        self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                        connection
                    }
                    Err(error) => {
                        self.status.set_error(error.message_text().to_string());
                        if self.pause(pause) {
                            return;
                        }
                        pause = (pause * 2).min(LONGEST_PAUSE);
                        continue;
                    }
                },
            };
            match self.serve(connection) {
                Ended::Stopped => return,
                Ended::Lost(message) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    self.status.set_error(self.pool.scrub(format!("the subscribed connection was lost: {message}")));
                    pause = FIRST_PAUSE;
                }
            }
        }
    }

    /// Waits `pause` between two connection attempts, answering controls meanwhile; true when
    /// asked to stop.
    fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.controls.recv_timeout(deadline - now) {
                // Subscribed when the connection is back, from the handlers' map.
                Ok(Control::Subscribe(_, _, done)) => {
                    let _ = done.send(Ok(()));
                }
                Ok(Control::Unsubscribe(..)) => {}
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Subscribes everything the handlers' map holds on `connection`, then reads messages and
    /// answers controls until stopped or the connection fails.
    fn serve(&self, mut connection: redis::Connection) -> Ended {
        let lost = |error: redis::RedisError| Ended::Lost(error.to_string());
        let client_id: i64 = match redis::cmd("CLIENT").arg("ID").query(&mut connection) {
            Ok(id) => id,
            Err(error) => return lost(error),
        };
        let mut pubsub = connection.as_pubsub();
        let (channels, patterns): (Vec<String>, Vec<String>) = {
            let handlers = lock(&self.handlers);
            (handlers.channels.keys().cloned().collect(), handlers.patterns.keys().cloned().collect())
        };
        let subscribed = pubsub
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .and_then(|()| if channels.is_empty() { Ok(()) } else { pubsub.subscribe(&channels) })
            .and_then(|()| if patterns.is_empty() { Ok(()) } else { pubsub.psubscribe(&patterns) })
            .and_then(|()| pubsub.set_read_timeout(Some(SLICE)));
        if let Err(error) = subscribed {
            return lost(error);
        }
        self.status.client_id.store(client_id, Ordering::Relaxed);
        self.status.connected.store(true, Ordering::Relaxed);
        let mut last_heard = Instant::now();
        loop {
            loop {
                let control = match self.controls.try_recv() {
                    Ok(control) => control,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ended::Stopped,
                };
                let (target, names, done) = match control {
                    Control::Stop => return Ended::Stopped,
                    Control::Subscribe(target, names, done) => (target, names, Some(done)),
                    Control::Unsubscribe(target, names) => (target, names, None),
                };
                let result = pubsub.set_read_timeout(Some(REPLY_TIMEOUT)).and_then(|()| match (target, &done) {
                    (Target::Channel, Some(_)) => pubsub.subscribe(&names),
                    (Target::Pattern, Some(_)) => pubsub.psubscribe(&names),
                    (Target::Channel, None) => pubsub.unsubscribe(&names),
                    (Target::Pattern, None) => pubsub.punsubscribe(&names),
                });
                let result = result.and_then(|()| pubsub.set_read_timeout(Some(SLICE)));
                match result {
                    Ok(()) => {
                        if let Some(done) = done {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Err(error) if is_connection_error(&error) => {
                        // Subscribed again, from the handlers' map, once connected again.
                        if let Some(done) = done {
                            let _ = done.send(Ok(()));
                        }
                        return lost(error);
                    }
                    Err(error) => {
                        if let Some(done) = done {
                            let _ = done.send(Err(error.to_string()));
                        }
                    }
                }
            }
            if self.status.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
                thread::sleep(SLICE / 10);
                continue;
            }
            match pubsub.get_message() {
                Ok(message) => {
                    last_heard = Instant::now();
                    self.deliver(&message);
                }
                Err(error) if error.is_timeout() => {
                    if last_heard.elapsed() >= PING_AFTER {
                        let answered = pubsub
                            .set_read_timeout(Some(REPLY_TIMEOUT))
                            .and_then(|()| pubsub.ping::<redis::Value>())
                            .and_then(|_| pubsub.set_read_timeout(Some(SLICE)));
                        if let Err(error) = answered {
                            return lost(error);
                        }
                        last_heard = Instant::now();
                    }
                }
                Err(error) => return lost(error),
            }
        }
    }

    /// Posts a message to its handler: `{channel, message}`, with `pattern` for a pattern's.
    fn deliver(&self, message: &redis::Msg) {
        self.status.received.fetch_add(1, Ordering::Relaxed);
        let channel = message.get_channel_name().to_string();
        let pattern: Option<String> = message.get_pattern().ok().flatten();
        let handler = {
            let handlers = lock(&self.handlers);
            match &pattern {
                Some(pattern) => handlers.patterns.get(pattern).cloned(),
                None => handlers.channels.get(&channel).cloned(),
            }
        };
        // Unsubscribed while the message was on its way.
        let Some(handler) = handler else { return };
        let payload = match codec::decode_owned(message.get_payload_bytes()) {
            Ok(payload) => payload,
            Err(length) => {
                self.status.set_error(format!(
                    "a message on {channel:?} was dropped: its {length} bytes are not UTF-8 text, which TuskLang strings cannot hold"
                ));
                return;
            }
        };
        let mut fields = vec![("channel".to_string(), OwnedValue::String(channel))];
        if let Some(pattern) = pattern {
            fields.push(("pattern".to_string(), OwnedValue::String(pattern)));
        }
        fields.push(("message".to_string(), payload));
        self.status.waiting.fetch_add(1, Ordering::Relaxed);
        let status = self.status.clone();
        let posted = handler.post(vec![OwnedValue::Object(fields)], move |outcome| {
            status.waiting.fetch_sub(1, Ordering::Relaxed);
            // The host reports the handler's error with its script location; counted here.
            if outcome.is_err() {
                status.handler_errors.fetch_add(1, Ordering::Relaxed);
            }
        });
        if let Err(error) = posted {
            self.status.waiting.fetch_sub(1, Ordering::Relaxed);
            self.status.set_error(format!("a message could not be handed to its handler: {}", error.message_text()));
        }
    }
}
