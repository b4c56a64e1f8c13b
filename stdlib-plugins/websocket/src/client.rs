//! The client: a connection to a websocket server, written from the interpreter's thread and
//! read by a task of the plugin's runtime into a bounded queue that `receive` takes from.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tusk_plugin_sdk::{OwnedValue, PluginError, host};

use crate::hub::code;
use crate::message;

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// How many received messages wait for `receive` before the reader stops reading (and the
/// server's writes wait on TCP).
const QUEUE: usize = 1024;

/// How long a `receive` waits before it looks at Ctrl-C again.
const SLICE: Duration = Duration::from_millis(50);

/// Options of `connect`.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The handshake must finish within this.
    pub connect_timeout: Duration,
    /// A send must be written within this.
    pub send_timeout: Duration,
    /// The largest message accepted from the server.
    pub max_message_size: usize,
}

/// What the reader hands to `receive`.
enum Incoming {
    Message(OwnedValue),
    Closed(u16, String),
}

/// One client connection.
pub struct Client {
    /// The URL it connected to.
    pub url: String,
    runtime: Handle,
    options: ClientOptions,
    sink: tokio::sync::Mutex<Sink>,
    incoming: Mutex<mpsc::Receiver<Incoming>>,
    /// Set once the connection is closed: the code and reason.
    closed: Mutex<Option<(u16, String)>>,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.url)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `ws://host:port/path` → (host, port); `wss://` is refused (this build has no TLS).
pub fn target(url: &str) -> Result<(String, u16), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("`{url}` is not a ws:// URL"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "ws" => {}
        "wss" => {
            return Err(format!(
                "`{url}`: wss:// (TLS) is not supported by this build of the websocket plugin; use ws://, or put a TLS-terminating proxy in front"
            ));
        }
        other => return Err(format!("`{url}`: the scheme must be ws://, not {other}://")),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("`{url}`: user information in the URL is not supported"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| format!("`{url}`: unclosed `[` in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| format!("`{url}`: `{port}` is not a port number"))?,
        None => 80,
    };
    Ok((host.to_string(), port))
}

impl Client {
    /// Connects (on the interpreter's thread, after the host agreed to `host:port`).
    pub fn connect(runtime: &Handle, url: &str, options: ClientOptions) -> Result<Client, PluginError> {
        let (host_name, port) = target(url).map_err(|message| PluginError::message(message).at_argument(0))?;
        host::check_connect(&host_name, port)?;
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(options.max_message_size))
            .max_frame_size(Some(options.max_message_size));
        let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (socket, _response) = runtime
            .block_on(async { tokio::time::timeout(options.connect_timeout, connecting).await })
            .map_err(|_| {
                PluginError::message(format!(
                    "cannot connect to {url}: no handshake within {} ms",
                    options.connect_timeout.as_millis()
                ))
            })?
            .map_err(|error| PluginError::message(format!("cannot connect to {url}: {}", describe_connect(&error))))?;
        let (sink, stream) = socket.split();
        let (sender, receiver) = mpsc::channel(QUEUE);
        let reader = runtime.spawn(read(stream, sender));
        Ok(Client {
            url: url.to_string(),
            runtime: runtime.clone(),
            options,
            sink: tokio::sync::Mutex::new(sink),
            incoming: Mutex::new(receiver),
            closed: Mutex::new(None),
            reader,
        })
    }

    /// Writes one message.
    pub fn send(&self, message: Message) -> Result<(), PluginError> {
        if let Some((code, reason)) = self.closed_with() {
            return Err(closed_error(&self.url, code, &reason));
        }
        let timeout = self.options.send_timeout;
        let written = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async { self.sink.lock().await.send(message).await }).await
        });
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(PluginError::message(format!("cannot send to {}: {error}", self.url))),
            Err(_) => Err(PluginError::message(format!(
                "cannot send to {}: not written within {} ms (the server does not read)",
                self.url,
                timeout.as_millis()
            ))),
        }
    }

    /// The next message, waiting up to `timeout`: `None` when none came. An error once the
    /// connection is closed and every message before the close was taken.
    pub fn receive(&self, timeout: Duration) -> Result<Option<OwnedValue>, PluginError> {
        let mut incoming = self.incoming.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((code, reason)) = self.closed_with() {
            // Messages that arrived before the close are still delivered.
            return match incoming.try_recv() {
                Ok(Incoming::Message(value)) => Ok(Some(value)),
                _ => Err(closed_error(&self.url, code, &reason)),
            };
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(SLICE);
            let next = self.runtime.block_on(async { tokio::time::timeout(slice, incoming.recv()).await });
            match next {
                Ok(Some(Incoming::Message(value))) => return Ok(Some(value)),
                Ok(Some(Incoming::Closed(code, reason))) => {
                    *self.closed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((code, reason.clone()));
                    return Err(closed_error(&self.url, code, &reason));
                }
                Ok(None) => {
                    let (code, reason) = self.closed_with().unwrap_or((code::ABNORMAL, String::new()));
                    return Err(closed_error(&self.url, code, &reason));
                }
                Err(_) if left <= slice || host::is_cancelled() => return Ok(None),
                Err(_) => {}
            }
        }
    }

    /// Sends a close frame and waits (briefly) for the server's answer. True if the
    /// connection was open.
    pub fn close(&self, code: u16, reason: &str) -> Result<bool, PluginError> {
        if self.closed_with().is_some() {
            return Ok(false);
        }
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_string().into() };
        let timeout = self.options.send_timeout;
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async { self.sink.lock().await.send(Message::Close(Some(frame))).await })
                .await
        });
        // The reader ends when the server's close frame (or the end of the stream) arrives.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.reader.abort();
        *self.closed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((code, reason.to_string()));
        Ok(true)
    }

    /// The code and reason, once closed.
    pub fn closed_with(&self) -> Option<(u16, String)> {
        self.closed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

fn closed_error(url: &str, code: u16, reason: &str) -> PluginError {
    let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    PluginError::message(format!("the connection to {url} is closed (code {code}{reason})"))
}

fn describe_connect(error: &WsError) -> String {
    match error {
        WsError::Http(response) => {
            format!("the server answered HTTP {} instead of switching to websocket", response.status())
        }
        other => other.to_string(),
    }
}

async fn read(
    mut stream: futures_util::stream::SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    queue: mpsc::Sender<Incoming>,
) {
    let (code, reason) = loop {
        match stream.next().await {
            Some(Ok(Message::Close(frame))) => {
                break frame.map_or((code::NORMAL, String::new()), |frame| {
                    (u16::from(frame.code), frame.reason.as_str().to_string())
                });
            }
            Some(Ok(frame)) => {
                if let Some(value) = message::incoming(&frame)
                    && queue.send(Incoming::Message(value)).await.is_err()
                {
                    return;
                }
            }
            Some(Err(error)) => break (code::ABNORMAL, error.to_string()),
            None => break (code::ABNORMAL, "the connection ended without a close frame".to_string()),
        }
    };
    let _ = queue.send(Incoming::Closed(code, reason)).await;
    // tungstenite queued the answer to a close frame; polling once more writes it out.
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.next()).await;
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn urls_name_their_host_and_port() {
        assert_eq!(target("ws://127.0.0.1:9001/chat?room=a").unwrap(), ("127.0.0.1".to_string(), 9001));
        assert_eq!(target("WS://example.com/x").unwrap(), ("example.com".to_string(), 80));
        assert_eq!(target("ws://[::1]:8080").unwrap(), ("::1".to_string(), 8080));
        assert!(target("wss://example.com").unwrap_err().contains("wss:// (TLS) is not supported"));
        assert_eq!(
            target("http://example.com").unwrap_err(),
            "`http://example.com`: the scheme must be ws://, not http://"
        );
        assert_eq!(target("ws://host:99999/").unwrap_err(), "`ws://host:99999/`: `99999` is not a port number");
        assert_eq!(target("localhost:80").unwrap_err(), "`localhost:80` is not a ws:// URL");
        assert_eq!(target("ws:///path").unwrap_err(), "`ws:///path` has no host");
    }
}
