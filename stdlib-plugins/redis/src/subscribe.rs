//! `@redis.subscribe(channels, timeout)`: a dedicated connection that stays subscribed between
//! calls, so that messages published between two calls wait for the next one.
//!
//! The connection is made on the interpreter's thread (where the host checks the network
//! grant) and then owned by a reader thread, which keeps one `PubSub` for the connection's
//! life: the client crate unsubscribes when a `PubSub` is dropped, and only its reads skip
//! nothing after a read timeout.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use tusk_plugin_sdk::{PluginError, host};

use crate::pool::Pool;

/// One received message.
pub(crate) struct Message {
    pub(crate) channel: String,
    pub(crate) payload: Vec<u8>,
}

/// The reader thread of the subscribed connection (started on the first call) and the
/// messages received for channels no call has asked for yet.
#[derive(Default)]
pub(crate) struct Subscriber {
    state: Mutex<Option<Reader>>,
}

struct Reader {
    control: Sender<Control>,
    messages: Receiver<Result<Message, String>>,
    channels: Vec<String>,
    pending: VecDeque<Message>,
}

enum Control {
    Subscribe(Vec<String>, Sender<Result<(), String>>),
    Stop,
}

/// How long the reader waits for a message before looking at its controls again, and how
/// long a call waits before looking at Ctrl-C again.
const SLICE: Duration = Duration::from_millis(50);

impl Subscriber {
    /// Subscribes to `channels` (once per channel) and returns the messages of those channels:
    /// as soon as there is at least one, or an empty list after `timeout`.
    pub(crate) fn receive(
        &self,
        pool: &Pool,
        channels: &[String],
        timeout: Duration,
    ) -> Result<Vec<Message>, PluginError> {
        let mut guard = self.state.lock().map_err(|_| PluginError::message("redis: the subscriber failed earlier"))?;
        let result = receive_on(&mut guard, pool, channels, timeout);
        if result.is_err()
            && let Some(reader) = guard.take()
        {
            // A broken subscription is rebuilt on the next call.
            let _ = reader.control.send(Control::Stop);
        }
        result
    }

    /// Stops the reader thread, which closes the subscribed connection.
    pub(crate) fn close(&self) {
        if let Ok(mut guard) = self.state.lock()
            && let Some(reader) = guard.take()
        {
            let _ = reader.control.send(Control::Stop);
        }
    }
}

fn receive_on(
    guard: &mut Option<Reader>,
    pool: &Pool,
    channels: &[String],
    timeout: Duration,
) -> Result<Vec<Message>, PluginError> {
    let failed = |message: String| PluginError::message(pool.scrub(format!("@redis.subscribe: {message}")));
    if guard.is_none() {
        let connection = pool.connect()?;
        *guard = Some(start(connection)?);
    }
    let Some(reader) = guard.as_mut() else { return Ok(Vec::new()) };
    let new: Vec<String> = channels.iter().filter(|channel| !reader.channels.contains(channel)).cloned().collect();
    if !new.is_empty() {
        let (done, confirmed) = mpsc::channel();
        reader
            .control
            .send(Control::Subscribe(new.clone(), done))
            .map_err(|_| failed("the subscribed connection was closed".into()))?;
        match confirmed.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => reader.channels.extend(new),
            Ok(Err(message)) => return Err(failed(message)),
            Err(_) => return Err(failed("the server did not confirm the subscription".into())),
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        // Whatever has arrived, without waiting.
        loop {
            match reader.messages.try_recv() {
                Ok(Ok(message)) => reader.pending.push_back(message),
                Ok(Err(message)) => return Err(failed(message)),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(failed("the subscribed connection was closed".into()));
                }
            }
        }
        let (mine, others): (Vec<Message>, Vec<Message>) =
            reader.pending.drain(..).partition(|message| channels.contains(&message.channel));
        reader.pending.extend(others);
        if !mine.is_empty() {
            return Ok(mine);
        }
        let now = Instant::now();
        if now >= deadline || host::is_cancelled() {
            return Ok(Vec::new());
        }
        match reader.messages.recv_timeout((deadline - now).min(SLICE)) {
            Ok(Ok(message)) => reader.pending.push_back(message),
            Ok(Err(message)) => return Err(failed(message)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(failed("the subscribed connection was closed".into())),
        }
    }
}

/// Starts the reader thread that owns `connection`.
fn start(mut connection: redis::Connection) -> Result<Reader, PluginError> {
    let (control, controls) = mpsc::channel::<Control>();
    let (sender, messages) = mpsc::channel();
    connection
        .set_read_timeout(Some(SLICE))
        .map_err(|error| PluginError::message(format!("@redis.subscribe: {error}")))?;
    thread::Builder::new()
        .name("redis-subscribe".into())
        .spawn(move || {
            let mut pubsub = connection.as_pubsub();
            loop {
                match controls.try_recv() {
                    Ok(Control::Subscribe(channels, done)) => {
                        let result = pubsub.subscribe(&channels).map_err(|error| error.to_string());
                        let failed = result.is_err();
                        let _ = done.send(result);
                        if failed {
                            return;
                        }
                    }
                    Ok(Control::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                match pubsub.get_message() {
                    Ok(message) => {
                        let message = Message {
                            channel: message.get_channel_name().to_string(),
                            payload: message.get_payload_bytes().to_vec(),
                        };
                        if sender.send(Ok(message)).is_err() {
                            return;
                        }
                    }
                    Err(error) if error.is_timeout() => {}
                    Err(error) => {
                        let _ = sender.send(Err(error.to_string()));
                        return;
                    }
                }
            }
        })
        .map_err(|error| PluginError::message(format!("@redis.subscribe: cannot start its reader: {error}")))?;
    Ok(Reader { control, messages, channels: Vec::new(), pending: VecDeque::new() })
}
