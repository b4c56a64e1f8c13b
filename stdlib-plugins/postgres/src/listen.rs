//! `LISTEN` with handlers: `@postgres.listen(connection, channel, handler)`,
//! `@postgres.unlisten(connection[, channel])` and `@postgres.listeners(connection)`.
//!
//! Each connection string (or pool) whose channels have handlers gets one listening
//! connection of its own, owned by a reader thread that posts every notification to its
//! channel's handler through the host's event loop: handlers run on the interpreter's thread,
//! one at a time, in the order the notifications arrived. While a channel has a handler a
//! service keeps `tusk FILE` running; the last `unlisten` ends it.
//!
//! When the session is lost (the server restarts, `pg_terminate_backend`) the reader connects
//! again, pausing between attempts (0.1 s, doubling up to 5 s), and listens on every channel
//! again. Notifications sent while it was disconnected are lost: PostgreSQL delivers them only
//! to sessions listening when they are committed.
//!
//! The reader never waits for a handler, so a handler may listen and unlisten itself; it stops
//! reading while too many notifications wait for their handlers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction, ServiceGuard, Value};
use tusk_sql::postgres::{Listening, Notification, Pool};
use tusk_sql::redact::redact_connection_string;

/// How long the reader waits for notifications before it looks at its controls again.
const SLICE: Duration = Duration::from_millis(50);
/// How long a `listen` waits for the reader to confirm the `LISTEN`.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// The pauses between attempts to connect again.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Notifications posted to handlers and not handled yet beyond which the reader stops reading.
const MAX_WAITING: usize = 1024;
/// How long shutdown waits for each reader thread to end.
const STOP_WAIT: Duration = Duration::from_secs(2);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What `@postgres.listeners(connection)` shows.
#[derive(Default)]
struct Status {
    connected: AtomicBool,
    process_id: AtomicI64,
    reconnects: AtomicU64,
    received: AtomicU64,
    handler_errors: AtomicU64,
    waiting: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl Status {
    fn set_error(&self, message: String) {
        *lock(&self.last_error) = Some(message);
    }
}

enum Control {
    Listen(String, Sender<Result<(), String>>),
    Unlisten(String),
    Stop,
}

type Handlers = Arc<Mutex<BTreeMap<String, RetainedFunction>>>;

/// The reader thread of one connection string (or pool) and what it shares.
struct Running {
    control: Sender<Control>,
    handlers: Handlers,
    status: Arc<Status>,
    /// Keeps `tusk` running while a channel has a handler.
    _service: ServiceGuard,
    /// Disconnected when the reader thread has ended.
    ended: Receiver<()>,
}

impl Running {
    fn stop(self, wait: bool) {
        let _ = self.control.send(Control::Stop);
        std::mem::take(&mut *lock(&self.handlers));
        if wait {
            let _ = self.ended.recv_timeout(STOP_WAIT);
        }
    }
}

/// The handler listeners of one plugin instance, by connection key.
#[derive(Default)]
pub(crate) struct HandlerListeners {
    running: Mutex<Vec<(String, Running)>>,
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
        // SqlError messages are already scrubbed of passwords.
        let failed = |message: String| PluginError::message(format!("{operator}: {message}"));
        let mut running = lock(&self.running);
        let index = match running.iter().position(|(known, _)| known == key) {
            Some(index) => index,
            None => {
                let listening = Listening::open(pool).map_err(|error| failed(error.message))?;
                running.push((key.to_string(), start(pool.clone(), listening, key)?));
                running.len() - 1
            }
        };
        let current = &running[index].1;
        let new = lock(&current.handlers).insert(channel.to_string(), handler.clone()).is_none();
        if new {
            let (done, confirmed) = mpsc::channel();
            let outcome = match current.control.send(Control::Listen(channel.to_string(), done)) {
                Err(_) => Err("the listening connection was closed".to_string()),
                Ok(()) => confirmed
                    .recv_timeout(CONFIRM_TIMEOUT)
                    .unwrap_or_else(|_| Err("the server did not confirm the LISTEN".to_string())),
            };
            if let Err(message) = outcome {
                let left = {
                    let mut handlers = lock(&current.handlers);
                    handlers.remove(channel);
                    handlers.len()
                };
                if left == 0 {
                    running.remove(index).1.stop(false);
                }
                return Err(failed(message));
            }
        }
        Ok(lock(&running[index].1.handlers).len())
    }

    /// Stops listening on `channel` (on every channel of the connection when `None`);
    /// returns how many channels of this connection still have handlers.
    pub(crate) fn unlisten(&self, key: &str, channel: Option<&str>) -> usize {
        let mut running = lock(&self.running);
        let Some(index) = running.iter().position(|(known, _)| known == key) else { return 0 };
        let current = &running[index].1;
        let (removed, left) = {
            let mut handlers = lock(&current.handlers);
            let removed = match channel {
                Some(channel) => handlers.remove(channel).is_some(),
                None => {
                    handlers.clear();
                    true
                }
            };
            (removed, handlers.len())
        };
        if left == 0 {
            running.remove(index).1.stop(false);
        } else if removed && let Some(channel) = channel {
            let _ = current.control.send(Control::Unlisten(channel.to_string()));
        }
        left
    }

    /// `{channels, connected, process_id, reconnects, received, handler_errors, last_error}`.
    pub(crate) fn status(&self, key: &str) -> Value {
        let running = lock(&self.running);
        let Some((_, current)) = running.iter().find(|(known, _)| known == key) else {
            return Value::object(vec![("channels", Value::array(Vec::new())), ("connected", Value::from(false))]);
        };
        let channels = Value::array(lock(&current.handlers).keys().map(|name| Value::from(name.as_str())).collect());
        let status = &current.status;
        let count = |counter: &AtomicU64| Value::from(counter.load(Ordering::Relaxed).min(i64::MAX as u64) as i64);
        let last_error = lock(&status.last_error).clone();
        Value::object(vec![
            ("channels", channels),
            ("connected", Value::from(status.connected.load(Ordering::Relaxed))),
            ("process_id", Value::from(status.process_id.load(Ordering::Relaxed))),
            ("reconnects", count(&status.reconnects)),
            ("received", count(&status.received)),
            ("handler_errors", count(&status.handler_errors)),
            ("last_error", last_error.map(|text| Value::from(text.as_str())).unwrap_or_else(Value::null)),
        ])
    }

    /// Stops every reader and releases the handlers (the plugin's shutdown).
    pub(crate) fn close_all(&self) {
        let running = std::mem::take(&mut *lock(&self.running));
        for (_, current) in running {
            current.stop(true);
        }
    }
}

fn start(pool: Arc<Pool>, listening: Listening, key: &str) -> Result<Running, PluginError> {
    let service = ServiceGuard::start(&format!("postgres LISTEN on {}", redact_connection_string(key)))?;
    let (control, controls) = mpsc::channel();
    let (ended_sender, ended) = mpsc::channel::<()>();
    let handlers = Handlers::default();
    let status = Arc::new(Status::default());
    let reader = Reader { pool, controls, handlers: handlers.clone(), status: status.clone() };
    thread::Builder::new()
        .name("postgres-listen".into())
        .spawn(move || {
            let _ended = ended_sender;
            reader.run(listening);
        })
        .map_err(|error| PluginError::message(format!("@postgres.listen: cannot start its reader: {error}")))?;
    Ok(Running { control, handlers, status, _service: service, ended })
}

enum Ended {
    Stopped,
    Lost(String),
}

struct Reader {
    pool: Arc<Pool>,
    controls: Receiver<Control>,
    handlers: Handlers,
    status: Arc<Status>,
}

impl Reader {
    fn run(&self, first: Listening) {
        let mut next = Some(first);
        let mut pause = FIRST_PAUSE;
        loop {
            let listening = match next.take() {
                Some(listening) => listening,
                None => match Listening::open(&self.pool) {
                    Ok(listening) => {
                        self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                        listening
                    }
                    Err(error) => {
                        self.status.set_error(error.message);
                        if self.pause(pause) {
                            return;
                        }
                        pause = (pause * 2).min(LONGEST_PAUSE);
                        continue;
                    }
                },
            };
            match self.serve(listening) {
                Ended::Stopped => return,
                Ended::Lost(message) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    self.status.set_error(format!("the listening connection was lost: {message}"));
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
                // Listened to once connected again, from the handlers' map.
                Ok(Control::Listen(_, done)) => {
                    let _ = done.send(Ok(()));
                }
                Ok(Control::Unlisten(_)) => {}
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    fn serve(&self, mut listening: Listening) -> Ended {
        let channels: Vec<String> = lock(&self.handlers).keys().cloned().collect();
        for channel in &channels {
            if let Err(error) = listening.listen(channel) {
                return Ended::Lost(error.message);
            }
        }
        self.status.process_id.store(i64::from(listening.process_id()), Ordering::Relaxed);
        self.status.connected.store(true, Ordering::Relaxed);
        loop {
            loop {
                match self.controls.try_recv() {
                    Ok(Control::Listen(channel, done)) => {
                        let result = listening.listen(&channel);
                        match result {
                            Ok(()) => {
                                let _ = done.send(Ok(()));
                            }
                            Err(error) if error.kind == tusk_sql::SqlErrorKind::Connection => {
                                // Listened to again, from the handlers' map, once connected.
                                let _ = done.send(Ok(()));
                                return Ended::Lost(error.message);
                            }
                            Err(error) => {
                                let _ = done.send(Err(error.message));
                            }
                        }
                    }
                    Ok(Control::Unlisten(channel)) => {
                        if let Err(error) = listening.unlisten(&channel)
                            && error.kind == tusk_sql::SqlErrorKind::Connection
                        {
                            return Ended::Lost(error.message);
                        }
                    }
                    Ok(Control::Stop) | Err(TryRecvError::Disconnected) => return Ended::Stopped,
                    Err(TryRecvError::Empty) => break,
                }
            }
            if self.status.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
                thread::sleep(SLICE / 10);
                continue;
            }
            match listening.wait(SLICE) {
                Ok(notifications) => {
                    for notification in notifications {
                        self.deliver(notification);
                    }
                }
                Err(error) => return Ended::Lost(error.message),
            }
        }
    }

    /// Posts a notification to its channel's handler: `{channel, payload, process_id}`.
    fn deliver(&self, notification: Notification) {
        self.status.received.fetch_add(1, Ordering::Relaxed);
        // None: unlistened while the notification was on its way.
        let Some(handler) = lock(&self.handlers).get(&notification.channel).cloned() else { return };
        let argument = OwnedValue::Object(vec![
            ("channel".to_string(), OwnedValue::String(notification.channel)),
            ("payload".to_string(), OwnedValue::String(notification.payload)),
            ("process_id".to_string(), OwnedValue::Int(i64::from(notification.process_id))),
        ]);
        self.status.waiting.fetch_add(1, Ordering::Relaxed);
        let status = self.status.clone();
        let posted = handler.post(vec![argument], move |outcome| {
            status.waiting.fetch_sub(1, Ordering::Relaxed);
            // The host reports the handler's error with its script location; counted here.
            if outcome.is_err() {
                status.handler_errors.fetch_add(1, Ordering::Relaxed);
            }
        });
        if let Err(error) = posted {
            self.status.waiting.fetch_sub(1, Ordering::Relaxed);
            self.status
                .set_error(format!("a notification could not be handed to its handler: {}", error.message_text()));
        }
    }
}
