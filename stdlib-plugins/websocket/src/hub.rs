//! The connection hub: every open server-side connection, its state and rooms, and the glue
//! that calls a script's `on_open`, `on_message` and `on_close` for it.
//!
//! The hub knows nothing of listening: [`drive`] takes a connection whose handshake is done
//! (any byte stream under a [`WebSocketStream`]), so the plugin's own listener
//! (`crate::server`) and, later, an HTTP server that upgrades a request both hand their
//! connections to it the same way.
//!
//! Threads: the hub's maps are behind one mutex, used briefly by the connection tasks (on the
//! plugin's tokio threads) and by the operators (on the interpreter's thread). Sending never
//! waits: a message goes into the connection's bounded queue, and a connection whose queue is
//! full (a peer that does not read) is closed instead of growing without bound.
//!
//! Handlers run on the interpreter's thread through [`RetainedFunction::post`]. A connection
//! waits for its `on_message` to finish before it reads its next message, so each
//! connection's messages are handled in order, one at a time; different connections'
//! handlers interleave in the order their messages arrived.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::CapacityError};
use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction};

use crate::message;

/// Close codes the plugin uses (RFC 6455 §7.4.1).
pub mod code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (it stops, or tusk shuts down).
    pub const GOING_AWAY: u16 = 1001;
    /// The connection ended without a close frame (reported, never sent).
    pub const ABNORMAL: u16 = 1006;
    /// A message broke a policy: here, a peer too slow to read what is sent to it.
    pub const POLICY: u16 = 1008;
    /// A message was larger than the endpoint accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The peer broke the protocol.
    pub const PROTOCOL: u16 = 1002;
}

/// How long a closing connection waits for the peer's close frame before it drops the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How many recent problems the hub keeps for `@websocket.stats()`.
const RECENT_PROBLEMS: usize = 16;

/// The script functions of an endpoint.
#[derive(Clone, Debug, Default)]
pub struct Handlers {
    /// `conn => …`, after the handshake; a non-null result is sent to the connection.
    pub on_open: Option<RetainedFunction>,
    /// `(conn, message) => …`, per text or binary message; a non-null result is sent back.
    pub on_message: Option<RetainedFunction>,
    /// `(conn, close) => …` with `close = {code, reason}`, once the connection is gone.
    pub on_close: Option<RetainedFunction>,
}

/// The limits of an endpoint's connections.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest message (and frame) accepted, in bytes; larger ones close the connection
    /// with 1009.
    pub max_message_size: usize,
    /// A ping is sent after this long without hearing from the peer.
    pub ping_interval: Duration,
    /// A peer that sends nothing (not even the pong) this long after a ping is dropped.
    pub ping_timeout: Duration,
    /// Messages waiting to be written to one connection; a peer that lets more pile up is
    /// closed with 1008.
    pub max_queued_messages: usize,
}

/// One endpoint: a path served with its handlers and limits.
#[derive(Debug)]
pub struct Endpoint {
    /// The server's id (connections say which server they came through).
    pub server: u64,
    /// The path it answers (`/ws`).
    pub path: String,
    /// The script's functions.
    pub handlers: Handlers,
    /// Its limits.
    pub limits: Limits,
}

/// What is known of a connection from its handshake.
#[derive(Clone, Debug, Default)]
pub struct PeerInfo {
    /// The request path.
    pub path: String,
    /// The query string (without `?`), empty if none.
    pub query: String,
    /// The peer's address.
    pub remote: String,
}

/// A command for a connection's task.
#[derive(Debug)]
enum Command {
    Send(Message),
    Close(u16, String),
}

struct Peer {
    server: u64,
    info: PeerInfo,
    state: OwnedValue,
    rooms: BTreeSet<String>,
    commands: mpsc::Sender<Command>,
    /// Woken when the queue overflowed (the task then closes the connection).
    overflow: Arc<Notify>,
}

#[derive(Default)]
struct Maps {
    peers: HashMap<u64, Peer>,
    rooms: BTreeMap<String, BTreeSet<u64>>,
    problems: VecDeque<String>,
}

/// Counters of the hub's life.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections opened.
    pub opened: AtomicU64,
    /// Data messages received.
    pub received: AtomicU64,
    /// Data messages written.
    pub sent: AtomicU64,
    /// Connections closed because their queue overflowed.
    pub dropped_slow: AtomicU64,
    /// Connections dropped because they stopped answering pings.
    pub dropped_dead: AtomicU64,
}

/// Whom a broadcast reaches.
#[derive(Clone, Debug)]
pub enum Audience {
    /// Every connection of every server.
    All,
    /// The members of a room.
    Room(String),
    /// Every connection of one server.
    Server(u64),
}

/// Every open connection of the plugin's servers.
#[derive(Default)]
pub struct Hub {
    maps: Mutex<Maps>,
    next_id: AtomicU64,
    /// Life counters, for `@websocket.stats()`.
    pub counters: Counters,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hub({} connections)", self.lock().peers.len())
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Maps> {
        // A panic while the lock was held left plain maps behind: still usable.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, endpoint: &Endpoint, info: PeerInfo, commands: mpsc::Sender<Command>) -> (u64, Arc<Notify>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let overflow = Arc::new(Notify::new());
        let peer = Peer {
            server: endpoint.server,
            info,
            state: OwnedValue::Null,
            rooms: BTreeSet::new(),
            commands,
            overflow: overflow.clone(),
        };
        self.lock().peers.insert(id, peer);
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        (id, overflow)
    }

    /// Forgets a connection (and its rooms); returns its last value for `on_close`.
    fn remove(&self, id: u64) -> Option<OwnedValue> {
        let mut maps = self.lock();
        let peer = maps.peers.remove(&id)?;
        for room in &peer.rooms {
            if let Some(members) = maps.rooms.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    maps.rooms.remove(room);
                }
            }
        }
        Some(value_of(id, &peer))
    }

    /// Notes a problem no script call is waiting for (a reply that cannot be sent).
    pub fn note_problem(&self, problem: String) {
        let mut maps = self.lock();
        if maps.problems.len() == RECENT_PROBLEMS {
            maps.problems.pop_front();
        }
        maps.problems.push_back(problem);
    }

    /// The recent problems, oldest first.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.iter().cloned().collect()
    }

    /// The script's value of connection `id`: `{id, server, path, query, remote, state, rooms}`.
    pub fn connection(&self, id: u64) -> Option<OwnedValue> {
        self.lock().peers.get(&id).map(|peer| value_of(id, peer))
    }

    /// The open connections (of one server, or all), by id.
    pub fn connections(&self, server: Option<u64>) -> Vec<OwnedValue> {
        let maps = self.lock();
        let mut ids: Vec<u64> = maps
            .peers
            .iter()
            .filter(|(_, peer)| server.is_none_or(|server| peer.server == server))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| maps.peers.get(&id).map(|peer| value_of(id, peer))).collect()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().peers.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `message` for connection `id`.
    pub fn send(&self, id: u64, message: Message) -> Result<(), String> {
        let maps = self.lock();
        let peer = maps.peers.get(&id).ok_or_else(|| format!("connection {id} is not open"))?;
        queue(peer, Command::Send(message), &self.counters).map_err(|()| {
            format!("connection {id} does not read what is sent to it (its queue is full): it is being closed")
        })
    }

    /// Queues `message` for every connection of `audience` (but `except`); returns how many
    /// got it.
    pub fn broadcast(&self, message: &Message, audience: &Audience, except: Option<u64>) -> usize {
        let maps = self.lock();
        let ids: Vec<u64> = match audience {
            Audience::All => maps.peers.keys().copied().collect(),
            Audience::Server(server) => {
                maps.peers.iter().filter(|(_, peer)| peer.server == *server).map(|(id, _)| *id).collect()
            }
            Audience::Room(room) => maps.rooms.get(room).map(|ids| ids.iter().copied().collect()).unwrap_or_default(),
        };
        ids.into_iter()
            .filter(|id| Some(*id) != except)
            .filter_map(|id| maps.peers.get(&id))
            .filter(|peer| queue(peer, Command::Send(message.clone()), &self.counters).is_ok())
            .count()
    }

    /// Asks connection `id` to close with `code` and `reason`.
    pub fn close(&self, id: u64, code: u16, reason: &str) -> Result<(), String> {
        let maps = self.lock();
        let peer = maps.peers.get(&id).ok_or_else(|| format!("connection {id} is not open"))?;
        // A full queue cannot take the close: the overflow closes the connection anyway.
        let _ = queue(peer, Command::Close(code, reason.to_string()), &self.counters);
        Ok(())
    }

    /// Puts connection `id` into `room`; false if it was in it already.
    pub fn join(&self, id: u64, room: &str) -> Result<bool, String> {
        let mut maps = self.lock();
        let peer = maps.peers.get_mut(&id).ok_or_else(|| format!("connection {id} is not open"))?;
        let added = peer.rooms.insert(room.to_string());
        maps.rooms.entry(room.to_string()).or_default().insert(id);
        Ok(added)
    }

    /// Takes connection `id` out of `room`; false if it was not in it.
    pub fn leave(&self, id: u64, room: &str) -> Result<bool, String> {
        let mut maps = self.lock();
        let peer = maps.peers.get_mut(&id).ok_or_else(|| format!("connection {id} is not open"))?;
        let removed = peer.rooms.remove(room);
        if let Some(members) = maps.rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                maps.rooms.remove(room);
            }
        }
        Ok(removed)
    }

    /// The ids of a room's members, ascending.
    pub fn members(&self, room: &str) -> Vec<u64> {
        self.lock().rooms.get(room).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// The rooms with at least one member, and how many each has.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        self.lock().rooms.iter().map(|(room, ids)| (room.clone(), ids.len())).collect()
    }

    /// The state the handlers keep for connection `id`.
    pub fn state(&self, id: u64) -> Result<OwnedValue, String> {
        self.lock().peers.get(&id).map(|peer| peer.state.clone()).ok_or_else(|| format!("connection {id} is not open"))
    }

    /// Replaces the state of connection `id`.
    pub fn set_state(&self, id: u64, state: OwnedValue) -> Result<(), String> {
        let mut maps = self.lock();
        let peer = maps.peers.get_mut(&id).ok_or_else(|| format!("connection {id} is not open"))?;
        peer.state = state;
        Ok(())
    }
}

fn queue(peer: &Peer, command: Command, counters: &Counters) -> Result<(), ()> {
    match peer.commands.try_send(command) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            counters.dropped_slow.fetch_add(1, Ordering::Relaxed);
            peer.overflow.notify_one();
            Err(())
        }
        // The task is finishing: the connection is as good as closed.
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

fn value_of(id: u64, peer: &Peer) -> OwnedValue {
    OwnedValue::Object(vec![
        ("id".into(), OwnedValue::Int(id as i64)),
        ("server".into(), OwnedValue::Int(peer.server as i64)),
        ("path".into(), OwnedValue::String(peer.info.path.clone())),
        ("query".into(), OwnedValue::String(peer.info.query.clone())),
        ("remote".into(), OwnedValue::String(peer.info.remote.clone())),
        ("state".into(), peer.state.clone()),
        ("rooms".into(), OwnedValue::Array(peer.rooms.iter().cloned().map(OwnedValue::String).collect())),
    ])
}

/// Calls a retained function on the interpreter's thread and waits (asynchronously) for its
/// result. A handler's error has been reported by the host already (with its script
/// location); it comes back here so the caller can go on.
pub async fn call(function: &RetainedFunction, args: Vec<OwnedValue>) -> Result<OwnedValue, PluginError> {
    let (sender, receiver) = oneshot::channel();
    function.post(args, move |outcome| {
        let _ = sender.send(outcome);
    })?;
    receiver.await.unwrap_or_else(|_| Err(PluginError::message("the host dropped the call without an answer")))
}

/// Why a connection ended: what `on_close` is told.
struct Ending {
    code: u16,
    reason: String,
}

impl Ending {
    fn new(code: u16, reason: impl Into<String>) -> Ending {
        Ending { code, reason: reason.into() }
    }
}

/// Serves one connection whose handshake is done, until it closes or `shutdown` turns true:
/// registers it in the hub, calls the endpoint's handlers, writes what is queued for it,
/// keeps it alive with pings, and enforces the limits (the size limit itself is the
/// stream's configuration: build it with [`Limits::config`]).
pub async fn drive<S>(
    hub: Arc<Hub>,
    endpoint: Arc<Endpoint>,
    socket: WebSocketStream<S>,
    info: PeerInfo,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &endpoint.limits;
    let (sender, mut commands) = mpsc::channel(limits.max_queued_messages.max(1));
    let (id, overflow) = hub.register(&endpoint, info, sender);
    let (mut sink, mut stream) = socket.split();
    let reply = |value: OwnedValue, handler: &str| -> Option<Message> {
        if value == OwnedValue::Null {
            return None;
        }
        match message::outgoing(value) {
            Ok(message) => Some(message),
            Err(problem) => {
                hub.note_problem(format!("the result of {handler} for connection {id} was not sent: {problem}"));
                None
            }
        }
    };
    let mut ending: Option<Ending> = None;
    if let Some(on_open) = &endpoint.handlers.on_open
        && let Some(value) = hub.connection(id)
        && let Ok(result) = call(on_open, vec![value]).await
        && let Some(message) = reply(result, "on_open")
        && sink.send(message).await.is_ok()
    {
        hub.counters.sent.fetch_add(1, Ordering::Relaxed);
    }
    let mut last_heard = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    // Set when the plugin sent a close frame (when, and the code and reason it sent, which
    // `on_close` is told rather than the peer's echo): then only the peer's answer is awaited.
    let mut closing: Option<(Instant, u16, String)> = None;
    while ending.is_none() {
        let wake = match (&closing, ping_sent) {
            (Some((since, ..)), _) => *since + CLOSE_WAIT,
            (None, Some(sent)) => sent + limits.ping_timeout,
            (None, None) => last_heard + limits.ping_interval,
        };
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    ping_sent = None;
                    match frame {
                        Message::Close(frame) => {
                            // tungstenite answers the close itself; the stream ends after it.
                            let (code, reason) = frame.map_or((code::NORMAL, String::new()), |frame| {
                                (u16::from(frame.code), frame.reason.as_str().to_string())
                            });
                            ending = Some(Ending::new(code, reason));
                            let _ = sink.flush().await;
                        }
                        data @ (Message::Text(_) | Message::Binary(_)) if closing.is_none() => {
                            hub.counters.received.fetch_add(1, Ordering::Relaxed);
                            if let (Some(on_message), Some(value), Some(connection)) =
                                (&endpoint.handlers.on_message, message::incoming(&data), hub.connection(id))
                                && let Ok(result) = call(on_message, vec![connection, value]).await
                                && let Some(message) = reply(result, "on_message")
                            {
                                if sink.send(message).await.is_err() {
                                    ending = Some(Ending::new(code::ABNORMAL, "the connection broke while writing"));
                                } else {
                                    hub.counters.sent.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        // Pings are answered by tungstenite; pongs only prove the peer lives.
                        _ => {}
                    }
                }
                Some(Err(error)) => {
                    let (code, reason) = describe(&error);
                    if code != code::ABNORMAL && closing.is_none() {
                        let _ = sink.send(close_frame(code, &reason)).await;
                    }
                    ending = Some(Ending::new(code, reason));
                }
                None => {
                    ending = Some(Ending::new(code::ABNORMAL, "the connection ended without a close frame"));
                }
            },
            command = commands.recv(), if closing.is_none() => match command {
                Some(Command::Send(message)) => {
                    if sink.send(message).await.is_err() {
                        ending = Some(Ending::new(code::ABNORMAL, "the connection broke while writing"));
                    } else {
                        hub.counters.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Command::Close(code, reason)) => {
                    let _ = sink.send(close_frame(code, &reason)).await;
                    closing = Some((Instant::now(), code, reason));
                }
                None => {}
            },
            () = overflow.notified(), if closing.is_none() => {
                let reason = format!("the client does not read: {} messages were waiting", limits.max_queued_messages);
                let _ = sink.send(close_frame(code::POLICY, &reason)).await;
                closing = Some((Instant::now(), code::POLICY, reason));
            }
            changed = shutdown.changed(), if closing.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    let reason = "the server is shutting down";
                    let _ = sink.send(close_frame(code::GOING_AWAY, reason)).await;
                    closing = Some((Instant::now(), code::GOING_AWAY, reason.to_string()));
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    ending = Some(Ending::new(code::ABNORMAL, "the peer did not answer the close frame"));
                } else if let Some(sent) = ping_sent {
                    hub.counters.dropped_dead.fetch_add(1, Ordering::Relaxed);
                    let waited = Instant::now().saturating_duration_since(sent);
                    ending = Some(Ending::new(
                        code::ABNORMAL,
                        format!("no answer to a ping within {} ms: the peer is gone", waited.as_millis()),
                    ));
                } else {
                    ping_sent = Some(Instant::now());
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        ending = Some(Ending::new(code::ABNORMAL, "the connection broke while writing"));
                    }
                }
            }
        }
    }
    // A close the plugin started is what `on_close` is told, not how the peer answered it.
    let ending = match (closing, ending) {
        (Some((_, code, reason)), _) => Ending::new(code, reason),
        (None, Some(ending)) => ending,
        (None, None) => Ending::new(code::ABNORMAL, ""),
    };
    let _ = sink.close().await;
    if let Some(connection) = hub.remove(id)
        && let Some(on_close) = &endpoint.handlers.on_close
    {
        let close = OwnedValue::Object(vec![
            ("code".into(), OwnedValue::Int(i64::from(ending.code))),
            ("reason".into(), OwnedValue::String(ending.reason)),
        ]);
        let _ = call(on_close, vec![connection, close]).await;
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes (a control frame's 125 less the code).
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason[..end].to_string().into() }))
}

/// The close code and reason an error of the stream means.
fn describe(error: &WsError) -> (u16, String) {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            (code::TOO_BIG, format!("message of {size} bytes is larger than the limit of {max_size} bytes"))
        }
        WsError::Capacity(other) => (code::TOO_BIG, other.to_string()),
        WsError::Protocol(problem) => {
            use tokio_tungstenite::tungstenite::error::ProtocolError;
            match problem {
                ProtocolError::ResetWithoutClosingHandshake => {
                    (code::ABNORMAL, "the peer reset the connection without a close frame".to_string())
                }
                other => (code::PROTOCOL, other.to_string()),
            }
        }
        WsError::Utf8(_) => (1007, "a text message was not valid UTF-8".to_string()),
        WsError::Io(error) => (code::ABNORMAL, format!("the connection broke: {error}")),
        other => (code::ABNORMAL, other.to_string()),
    }
}

impl Limits {
    /// The stream configuration that enforces the size limit.
    pub fn config(&self) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}
