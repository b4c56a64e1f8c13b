//! [`SubscriptionReaders`]: one reader thread per key, over a [`SubscriptionSource`]; the
//! model is described in the parent module.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::{RetainedFunction, ServiceGuard};
use crate::error::PluginError;
use crate::owned::OwnedValue;

/// How long [`SubscriptionSession::read`] is asked to wait: the reader looks at its requests
/// (subscribe, unsubscribe, stop) between two reads.
const READ_WAIT: Duration = Duration::from_millis(50);
/// The pauses between attempts to connect again.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Messages posted to handlers and not handled yet beyond which the reader stops reading.
const MAX_WAITING: usize = 1024;
/// How long [`SubscriptionReaders::close`] waits for each reader thread to end.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// How to reach the server of one key: connect, and start a session on a connection. Moved to
/// the reader thread.
pub trait SubscriptionSource: Send + 'static {
    /// What a handler is registered for (a channel's name; a channel or a pattern).
    type Topic: Ord + Clone + Send + 'static;
    /// A connection to the server.
    type Connection: Send + 'static;
    /// The subscriptions of one connection, while it lasts.
    type Session<'c>: SubscriptionSession<Topic = Self::Topic>
    where
        Self: 'c;

    /// The reader thread's name (`postgres-listen`).
    const THREAD_NAME: &'static str;
    /// What the connection is called in messages: `listening connection` gives "the listening
    /// connection was lost: …".
    const CONNECTION: &'static str;
    /// What a subscription is called in messages: `LISTEN` gives "the server did not confirm
    /// the LISTEN".
    const REQUEST: &'static str;
    /// How long a subscribe waits for the reader to confirm it.
    const CONFIRM_TIMEOUT: Duration;

    /// What the service is called in messages (`postgres LISTEN on host:5432/db`), no secrets.
    fn service_name(&self) -> String;

    /// Connects again after the connection was lost, on the reader thread.
    fn connect(&self) -> Result<Self::Connection, String>;

    /// Starts a session on a new connection (before anything is subscribed on it). An error
    /// counts as a lost connection.
    fn open<'c>(&'c self, connection: &'c mut Self::Connection) -> Result<Self::Session<'c>, String>;
}

/// One connection's subscriptions, used by the reader thread only.
pub trait SubscriptionSession {
    /// The topic type of its [`SubscriptionSource`].
    type Topic;

    /// The server's number of this connection, shown in the status (a process id, a client id).
    fn id(&self) -> i64;

    /// Subscribes `topics` (never empty).
    fn subscribe(&mut self, topics: &[Self::Topic]) -> Result<(), SessionError>;

    /// Unsubscribes `topics` (never empty); a [`SessionError::Refused`] is ignored.
    fn unsubscribe(&mut self, topics: &[Self::Topic]) -> Result<(), SessionError>;

    /// What arrived within about `wait` (nothing when nothing did); an error means the
    /// connection is lost.
    fn read(&mut self, wait: Duration) -> Result<Vec<Delivery<Self::Topic>>, String>;
}

/// A failed subscribe or unsubscribe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The connection failed: the reader connects again and subscribes every topic again (the
    /// subscribe that failed counts as done).
    Lost(String),
    /// The server refused it on a working connection: the subscribe fails with this message.
    Refused(String),
}

/// A message read by a session, for the handler of `topic`.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery<T> {
    /// Whose handler gets it.
    pub topic: T,
    /// The handler's argument, or why the message cannot be handed on (then it is dropped and
    /// the reason shown as the status's last error).
    pub argument: Result<OwnedValue, String>,
}

/// What a key's reader shows: its topics and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionStatus<T> {
    /// The topics with handlers, in order.
    pub topics: Vec<T>,
    /// Whether the connection is up now.
    pub connected: bool,
    /// [`SubscriptionSession::id`] of the latest connection (0 before the first).
    pub connection_id: i64,
    /// How often it connected again.
    pub reconnects: u64,
    /// Messages read.
    pub received: u64,
    /// Handler calls that failed.
    pub handler_errors: u64,
    /// The latest problem (a lost connection, a dropped message), if any.
    pub last_error: Option<String>,
}

/// The reader threads of one plugin instance, by key (one connection each). `Send + Sync`.
pub struct SubscriptionReaders<S: SubscriptionSource> {
    running: Mutex<Vec<(String, Running<S::Topic>)>>,
}

impl<S: SubscriptionSource> Default for SubscriptionReaders<S> {
    fn default() -> Self {
        SubscriptionReaders { running: Mutex::new(Vec::new()) }
    }
}

impl<S: SubscriptionSource> SubscriptionReaders<S> {
    /// No readers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `handler` the handler of `topics` of `key` (replacing their earlier handler) and
    /// subscribes those that had none; returns how many topics of `key` have handlers. On the
    /// interpreter's thread. The key's first subscription calls `open` for the source and its
    /// first connection (its errors are returned as they are) and starts the reader; a refused
    /// or unconfirmed subscription fails as "`operator`: message".
    pub fn subscribe(
        &self,
        key: &str,
        open: impl FnOnce() -> Result<(S, S::Connection), PluginError>,
        topics: &[S::Topic],
        handler: &RetainedFunction,
        operator: &str,
    ) -> Result<usize, PluginError> {
        let mut running = lock(&self.running);
        let index = match running.iter().position(|(known, _)| known == key) {
            Some(index) => index,
            None => {
                let (source, connection) = open()?;
                running.push((key.to_string(), start(source, connection, operator)?));
                running.len() - 1
            }
        };
        let current = &running[index].1;
        let new: Vec<S::Topic> = {
            let mut handlers = lock(&current.handlers);
            let new = topics.iter().filter(|topic| !handlers.contains_key(*topic)).cloned().collect();
            for topic in topics {
                handlers.insert(topic.clone(), handler.clone());
            }
            new
        };
        if !new.is_empty() {
            let (done, confirmed) = mpsc::channel();
            let outcome = match current.control.send(Control::Subscribe(new.clone(), done)) {
                Err(_) => Err(format!("the {} was closed", S::CONNECTION)),
                Ok(()) => confirmed
                    .recv_timeout(S::CONFIRM_TIMEOUT)
                    .unwrap_or_else(|_| Err(format!("the server did not confirm the {}", S::REQUEST))),
            };
            if let Err(message) = outcome {
                let left = {
                    let mut handlers = lock(&current.handlers);
                    for topic in &new {
                        handlers.remove(topic);
                    }
                    handlers.len()
                };
                if left == 0 {
                    running.remove(index).1.stop(false);
                }
                return Err(PluginError::message(format!("{operator}: {message}")));
            }
        }
        Ok(lock(&running[index].1.handlers).len())
    }

    /// Unsubscribes the topics of `key` for which `which` is true; returns how many topics of
    /// `key` still have handlers. The last one stops the reader and ends its service.
    pub fn unsubscribe(&self, key: &str, mut which: impl FnMut(&S::Topic) -> bool) -> usize {
        let mut running = lock(&self.running);
        let Some(index) = running.iter().position(|(known, _)| known == key) else { return 0 };
        let current = &running[index].1;
        let (removed, left) = {
            let mut handlers = lock(&current.handlers);
            let removed: Vec<S::Topic> = handlers.keys().filter(|topic| which(topic)).cloned().collect();
            for topic in &removed {
                handlers.remove(topic);
            }
            (removed, handlers.len())
        };
        if left == 0 {
            running.remove(index).1.stop(false);
        } else if !removed.is_empty() {
            let _ = current.control.send(Control::Unsubscribe(removed));
        }
        left
    }

    /// The status of `key`'s reader; `None` when it has no handlers.
    pub fn status(&self, key: &str) -> Option<SubscriptionStatus<S::Topic>> {
        let running = lock(&self.running);
        let (_, current) = running.iter().find(|(known, _)| known == key)?;
        let status = &current.status;
        let topics = lock(&current.handlers).keys().cloned().collect();
        let last_error = lock(&status.last_error).clone();
        Some(SubscriptionStatus {
            topics,
            connected: status.connected.load(Ordering::Relaxed),
            connection_id: status.connection_id.load(Ordering::Relaxed),
            reconnects: status.reconnects.load(Ordering::Relaxed),
            received: status.received.load(Ordering::Relaxed),
            handler_errors: status.handler_errors.load(Ordering::Relaxed),
            last_error,
        })
    }

    /// Stops every reader (waiting a moment for each thread to end) and releases the handlers:
    /// the plugin's shutdown.
    pub fn close(&self) {
        let running = std::mem::take(&mut *lock(&self.running));
        for (_, current) in running {
            current.stop(true);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The counters a reader shares with [`SubscriptionReaders::status`].
#[derive(Default)]
struct Status {
    connected: AtomicBool,
    connection_id: AtomicI64,
    reconnects: AtomicU64,
    received: AtomicU64,
    handler_errors: AtomicU64,
    /// Messages posted to handlers that have not run yet.
    waiting: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl Status {
    fn set_error(&self, message: String) {
        *lock(&self.last_error) = Some(message);
    }
}

enum Control<T> {
    Subscribe(Vec<T>, Sender<Result<(), String>>),
    Unsubscribe(Vec<T>),
    Stop,
}

type Handlers<T> = Arc<Mutex<BTreeMap<T, RetainedFunction>>>;

/// One key's reader thread and what it shares.
struct Running<T> {
    control: Sender<Control<T>>,
    handlers: Handlers<T>,
    status: Arc<Status>,
    /// Keeps `tusk` running while the key has handlers.
    _service: ServiceGuard,
    /// Disconnected when the reader thread has ended.
    ended: Receiver<()>,
}

impl<T> Running<T> {
    /// Stops the reader (which closes the connection) and releases the handlers.
    fn stop(self, wait: bool) {
        let _ = self.control.send(Control::Stop);
        std::mem::take(&mut *lock(&self.handlers));
        if wait {
            let _ = self.ended.recv_timeout(STOP_WAIT);
        }
    }
}

/// Starts the service and the reader thread that owns `connection`.
fn start<S: SubscriptionSource>(
    source: S,
    connection: S::Connection,
    operator: &str,
) -> Result<Running<S::Topic>, PluginError> {
    let service = ServiceGuard::start(&source.service_name())?;
    let (control, controls) = mpsc::channel();
    let (ended_sender, ended) = mpsc::channel::<()>();
    let handlers = Handlers::default();
    let status = Arc::new(Status::default());
    let reader = Reader { source, controls, handlers: handlers.clone(), status: status.clone() };
    thread::Builder::new()
        .name(S::THREAD_NAME.into())
        .spawn(move || {
            let _ended = ended_sender;
            reader.run(connection);
        })
        .map_err(|error| PluginError::message(format!("{operator}: cannot start its reader: {error}")))?;
    Ok(Running { control, handlers, status, _service: service, ended })
}

/// How serving one connection ended.
enum Ended {
    Stopped,
    Lost(String),
}

/// The reader thread's state.
struct Reader<S: SubscriptionSource> {
    source: S,
    controls: Receiver<Control<S::Topic>>,
    handlers: Handlers<S::Topic>,
    status: Arc<Status>,
}

impl<S: SubscriptionSource> Reader<S> {
    fn run(&self, first: S::Connection) {
        let mut next = Some(first);
        let mut pause = FIRST_PAUSE;
        loop {
            let mut connection = match next.take() {
                Some(connection) => connection,
                None => match self.source.connect() {
                    Ok(connection) => {
                        self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                        connection
                    }
                    Err(message) => {
                        self.status.set_error(message);
                        if self.pause(pause) {
                            return;
                        }
                        pause = (pause * 2).min(LONGEST_PAUSE);
                        continue;
                    }
                },
            };
            match self.serve(&mut connection) {
                Ended::Stopped => return,
                Ended::Lost(message) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    self.status.set_error(format!("the {} was lost: {message}", S::CONNECTION));
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
                // Subscribed once connected again, from the handlers' map.
                Ok(Control::Subscribe(_, done)) => {
                    let _ = done.send(Ok(()));
                }
                Ok(Control::Unsubscribe(_)) => {}
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Subscribes every topic of the handlers' map on `connection`, then reads messages and
    /// answers controls until stopped or the connection fails.
    fn serve(&self, connection: &mut S::Connection) -> Ended {
        let mut session = match self.source.open(connection) {
            Ok(session) => session,
            Err(message) => return Ended::Lost(message),
        };
        let topics: Vec<S::Topic> = lock(&self.handlers).keys().cloned().collect();
        if !topics.is_empty()
            && let Err(SessionError::Lost(message) | SessionError::Refused(message)) = session.subscribe(&topics)
        {
            return Ended::Lost(message);
        }
        self.status.connection_id.store(session.id(), Ordering::Relaxed);
        self.status.connected.store(true, Ordering::Relaxed);
        loop {
            loop {
                match self.controls.try_recv() {
                    Ok(Control::Subscribe(topics, done)) => match session.subscribe(&topics) {
                        Ok(()) => {
                            let _ = done.send(Ok(()));
                        }
                        Err(SessionError::Lost(message)) => {
                            // Subscribed again, from the handlers' map, once connected again.
                            let _ = done.send(Ok(()));
                            return Ended::Lost(message);
                        }
                        Err(SessionError::Refused(message)) => {
                            let _ = done.send(Err(message));
                        }
                    },
                    Ok(Control::Unsubscribe(topics)) => {
                        if let Err(SessionError::Lost(message)) = session.unsubscribe(&topics) {
                            return Ended::Lost(message);
                        }
                    }
                    Ok(Control::Stop) | Err(TryRecvError::Disconnected) => return Ended::Stopped,
                    Err(TryRecvError::Empty) => break,
                }
            }
            if self.status.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
                thread::sleep(READ_WAIT / 10);
                continue;
            }
            match session.read(READ_WAIT) {
                Ok(deliveries) => {
                    for delivery in deliveries {
                        self.deliver(delivery);
                    }
                }
                Err(message) => return Ended::Lost(message),
            }
        }
    }

    /// Posts a message to its topic's handler.
    fn deliver(&self, delivery: Delivery<S::Topic>) {
        self.status.received.fetch_add(1, Ordering::Relaxed);
        // None: unsubscribed while the message was on its way.
        let Some(handler) = lock(&self.handlers).get(&delivery.topic).cloned() else { return };
        let argument = match delivery.argument {
            Ok(argument) => argument,
            Err(message) => {
                self.status.set_error(message);
                return;
            }
        };
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
            self.status.set_error(format!("a message could not be handed to its handler: {}", error.message_text()));
        }
    }
}
