//! The plugin's own listener: accepts TCP connections, answers the websocket handshake for one
//! path, and hands each connection to the hub. One `ServiceGuard` per server keeps `tusk`
//! running while it listens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tusk_plugin_sdk::{PluginError, ServiceGuard};

use crate::hub::{self, Endpoint, Hub, PeerInfo};

/// How long a client has to complete its handshake after connecting.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stopping server waits for its connections' close handshakes (and `on_close`
/// handlers) before it ends its service anyway.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// A listening server.
#[derive(Debug)]
pub struct Server {
    /// Its id (`@websocket.stop(id)`).
    pub id: u64,
    /// Where it listens.
    pub address: SocketAddr,
    /// The path it answers.
    pub path: String,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Starts serving `endpoint` on `listener` (already bound, on the interpreter's thread,
    /// so that binding errors are the call's errors).
    pub fn start(
        runtime: &Handle,
        hub: Arc<Hub>,
        endpoint: Arc<Endpoint>,
        listener: std::net::TcpListener,
    ) -> Result<Server, PluginError> {
        let address = listener.local_addr().map_err(|error| PluginError::message(error.to_string()))?;
        listener.set_nonblocking(true).map_err(|error| PluginError::message(error.to_string()))?;
        let service = ServiceGuard::start(&format!("websocket ws://{address}{}", endpoint.path))?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(|error| PluginError::message(error.to_string()))?
        };
        let (stop, stopped) = watch::channel(false);
        let (id, path) = (endpoint.server, endpoint.path.clone());
        runtime.spawn(accept_loop(listener, hub, endpoint, stopped, service));
        Ok(Server { id, address, path, stop })
    }

    /// Stops accepting, closes every connection with 1001 and ends the service once they are
    /// closed (or after a few seconds).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    hub: Arc<Hub>,
    endpoint: Arc<Endpoint>,
    mut stopped: watch::Receiver<bool>,
    service: ServiceGuard,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(handshake(stream, remote, hub.clone(), endpoint.clone(), stopped.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: note it, breathe, go on.
                    hub.note_problem(format!("accepting a connection failed: {error}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set stays small on a long-running server.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(STOP_WAIT, async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
    drop(service);
}

async fn handshake(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    hub: Arc<Hub>,
    endpoint: Arc<Endpoint>,
    stopped: watch::Receiver<bool>,
) {
    let mut info = PeerInfo { remote: remote.to_string(), ..PeerInfo::default() };
    let wanted = endpoint.path.clone();
    // The callback's signature is tungstenite's: its error is the HTTP answer itself.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path();
        if path != wanted {
            let mut refusal = ErrorResponse::new(Some(format!("no websocket endpoint at {path}\n")));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        info.path = path.to_string();
        info.query = request.uri().query().unwrap_or_default().to_string();
        Ok(response)
    };
    let accepted = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(endpoint.limits.config())),
    )
    .await;
    // A failed handshake never became a connection: no handler runs for it.
    if let Ok(Ok(socket)) = accepted {
        hub::drive(hub, endpoint, socket, info, stopped).await;
    }
}
