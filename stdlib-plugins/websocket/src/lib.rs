//! The `websocket` plugin: websocket servers whose handlers are script lambdas, and a client.
//!
//! - Servers: `@websocket("serve", {port, host, path, on_open, on_message, on_close, …})` (also
//!   `@websocket.serve`) listens on a socket of the plugin's own; each connection has an id, a
//!   state the handlers read and replace, and rooms; `broadcast_message(message[, room])`
//!   reaches every connection (or a room's); `@websocket.send(conn, message)` one of them.
//! - The client: `@websocket("connect", url)` returns a connection; `@websocket("send",
//!   message)` sends on the most recent one (or `send(conn, message)` on a given one);
//!   `receive` waits with a timeout; `close` ends it.
//! - Messages: text frames are strings, binary frames byte strings; `{binary: "<base64>"}`
//!   sent is a binary frame too, the older form (module `message`).
//!
//! The connection hub (`hub`) is independent of the listener (`server`): it serves any
//! connection whose handshake is done, so an HTTP server can hand it upgraded requests. The
//! plugin's tokio runtime (started on first use) runs the listener, the connections and the
//! client readers; handlers run on the interpreter's thread, through the host's event loop.

mod client;
pub mod hub;
pub mod message;
mod ops;
mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use tokio::runtime::{Handle, Runtime};
use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::client::Client;
use crate::hub::Hub;
use crate::server::Server;

/// The plugin's configuration (`[plugins.websocket]`); every limit is the default of the
/// servers and clients, which their options may override.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_message_size: usize,
    ping_interval: f64,
    ping_timeout: f64,
    max_queued_messages: usize,
    connect_timeout: f64,
    send_timeout: f64,
    worker_threads: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_message_size: 1 << 20,
            ping_interval: 30.0,
            ping_timeout: 30.0,
            max_queued_messages: 1024,
            connect_timeout: 10.0,
            send_timeout: 10.0,
            worker_threads: 2,
        }
    }
}

/// The defaults the options of `serve` and `connect` start from.
#[derive(Clone, Debug)]
pub(crate) struct Defaults {
    limits: hub::Limits,
    client: client::ClientOptions,
}

impl Config {
    fn defaults(&self) -> Result<Defaults, PluginError> {
        let seconds = |name: &str, value: f64| {
            Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(|| {
                PluginError::configuration(format!("plugins.websocket.{name}: must be a positive number of seconds"))
            })
        };
        if self.max_message_size == 0 || self.max_queued_messages == 0 || self.worker_threads == 0 {
            return Err(PluginError::configuration(
                "plugins.websocket: max_message_size, max_queued_messages and worker_threads must be at least 1",
            ));
        }
        Ok(Defaults {
            limits: hub::Limits {
                max_message_size: self.max_message_size,
                ping_interval: seconds("ping_interval", self.ping_interval)?,
                ping_timeout: seconds("ping_timeout", self.ping_timeout)?,
                max_queued_messages: self.max_queued_messages,
            },
            client: client::ClientOptions {
                connect_timeout: seconds("connect_timeout", self.connect_timeout)?,
                send_timeout: seconds("send_timeout", self.send_timeout)?,
                max_message_size: self.max_message_size,
            },
        })
    }
}

/// What every call of one plugin instance shares.
pub(crate) struct State {
    hub: Arc<Hub>,
    /// Started on the first server or client; `None` again after shutdown.
    runtime: Mutex<Option<Runtime>>,
    shut_down: std::sync::atomic::AtomicBool,
    worker_threads: usize,
    servers: Mutex<BTreeMap<u64, Server>>,
    /// The endpoints of `@websocket.endpoint`, by id (ids shared with the servers').
    endpoints: Mutex<BTreeMap<u64, Arc<hub::Endpoint>>>,
    /// Turned true at shutdown: closes the connections HTTP servers handed over.
    stopping: tokio::sync::watch::Sender<bool>,
    next_server: AtomicU64,
    /// The most recent client connection: the seed's `@websocket("send", message)` uses it.
    default_client: Mutex<Option<Arc<Client>>>,
    defaults: Defaults,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// The runtime's handle, starting the runtime on first use.
    fn runtime(&self) -> Result<Handle, PluginError> {
        let mut runtime = lock(&self.runtime);
        if let Some(runtime) = runtime.as_ref() {
            return Ok(runtime.handle().clone());
        }
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(PluginError::message("the websocket plugin is shut down"));
        }
        let started = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("websocket")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| PluginError::message(format!("cannot start the websocket runtime: {error}")))?;
        let handle = started.handle().clone();
        *runtime = Some(started);
        Ok(handle)
    }

    fn next_server_id(&self) -> u64 {
        self.next_server.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The plugin.
#[derive(Default)]
pub struct WebsocketPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for WebsocketPlugin {
    fn name(&self) -> &str {
        "websocket"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let config: Config = context.config()?;
        let state = Arc::new(State {
            hub: Arc::new(Hub::default()),
            runtime: Mutex::new(None),
            shut_down: std::sync::atomic::AtomicBool::new(false),
            worker_threads: config.worker_threads,
            servers: Mutex::new(BTreeMap::new()),
            endpoints: Mutex::new(BTreeMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
            next_server: AtomicU64::new(0),
            default_client: Mutex::new(None),
            defaults: config.defaults()?,
        });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    /// Closes every connection (1001) and client, waits a little for the close handshakes,
    /// then stops the runtime (whose tasks hold the retained handlers, released here while
    /// the host is still there).
    fn shutdown(&mut self) -> Result<(), PluginError> {
        let Some(state) = self.state.take() else { return Ok(()) };
        state.shut_down.store(true, Ordering::SeqCst);
        let servers = std::mem::take(&mut *lock(&state.servers));
        for server in servers.values() {
            server.stop();
        }
        state.stopping.send_replace(true);
        if let Some(client) = lock(&state.default_client).take() {
            let _ = client.close(hub::code::GOING_AWAY, "tusk is shutting down");
        }
        drop(servers);
        let runtime = lock(&state.runtime).take();
        if let Some(runtime) = runtime {
            // Connections get a moment for their close frames; a handler posted now is
            // refused by the stopping host, so nothing waits for the interpreter here.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !state.hub.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        Ok(())
    }
}

export_plugin!(WebsocketPlugin);
