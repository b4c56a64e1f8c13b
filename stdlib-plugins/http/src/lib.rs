//! The `http` plugin: an HTTP server whose handlers are script functions, and an HTTP client.
//!
//! - Server: axum (over hyper) on a tokio runtime of the plugin's own threads, started with
//!   the first server. Each request is matched, read and checked on those threads; the script
//!   functions (middleware and handler) run on the interpreter's thread through the host's
//!   event loop ([`tusk_plugin_sdk::RetainedFunction::post`]); a
//!   [`tusk_plugin_sdk::ServiceGuard`] per listening server keeps `tusk FILE` running.
//! - The seed's forms: `@http_server(port[, host])`, `@http_route(method, path, handler)`,
//!   `@http_middleware(fn)`, `start_server([port[, host]])`, `add_route(method, path,
//!   handler)`; and `@http.serve({...})`, `@http.route`, `@http.middleware`, `@http.static`,
//!   `@http.cors`, `@http.limits`, `@http.stop`, `@http.response`.
//! - Client: `@http.get/post/put/patch/delete(url[, options])`, `@http.request(method, url[,
//!   options])` (ureq, rustls), checked against the network grants hop by hop.

mod app;
mod client;
mod message;
mod ops;
pub mod routes;
mod server;
mod upgrade;

use std::sync::{Arc, Mutex, MutexGuard};

/// The server's threads allocate per request (hyper's buffers, the request's plain data, its
/// posted copy); mimalloc does that faster than the system allocator. The plugin's memory is
/// its own: nothing it allocates is freed by the host, nor the reverse. mimalloc's
/// `local_dynamic_tls` feature is what lets a library loaded with `dlopen` use it: its default
/// thread-local model takes static TLS room that a process may not have left ("dlopen failed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use serde::Deserialize;
use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::app::{App, Limits, SharedApp};
use crate::server::Server;

/// The plugin's configuration (`[plugins.http]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Threads of the server's runtime.
    pub workers: usize,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// Seconds the middleware and handler of one request may take.
    pub timeout: f64,
    /// The port of `start_server()` without arguments.
    pub port: u16,
    /// Seconds a client request may take.
    pub client_timeout: f64,
    /// Redirects a client request follows.
    pub max_redirects: u32,
    /// The largest answer body a client request reads, in bytes.
    pub max_response: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            workers: 2,
            max_body: 1 << 20,
            timeout: 30.0,
            port: 8080,
            client_timeout: 30.0,
            max_redirects: 5,
            max_response: 16 << 20,
        }
    }
}

impl Settings {
    fn limits(&self) -> Result<Limits, PluginError> {
        Ok(Limits { max_body: self.max_body, timeout: seconds("timeout", self.timeout)? })
    }
}

/// A positive number of seconds as a duration.
pub(crate) fn seconds(what: &str, value: f64) -> Result<Duration, PluginError> {
    if value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(PluginError::message(format!("`{what}` must be a number of seconds > 0, got {value}")))
    }
}

/// What every call of one plugin instance shares.
pub(crate) struct State {
    settings: Settings,
    /// The app of `@http_server`, `@http_route` and friends.
    default_app: SharedApp,
    /// Started with the first server.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    servers: Mutex<Vec<Server>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    fn new(settings: Settings) -> Result<State, PluginError> {
        let limits = settings.limits()?;
        Ok(State {
            settings,
            default_app: SharedApp::new(App::new(limits)),
            runtime: Mutex::new(None),
            servers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `start` with the runtime, made on first use.
    fn with_runtime<T>(
        &self,
        start: impl FnOnce(&tokio::runtime::Runtime) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let mut runtime = lock(&self.runtime);
        if runtime.is_none() {
            *runtime = Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(self.settings.workers.max(1))
                    .thread_name("http-worker")
                    .enable_all()
                    .build()
                    .map_err(|error| PluginError::message(format!("cannot start the server's threads: {error}")))?,
            );
        }
        start(runtime.as_ref().expect("made above"))
    }

    /// Stops every server, then the runtime.
    fn stop_all(&self) {
        let servers = std::mem::take(&mut *lock(&self.servers));
        let runtime = lock(&self.runtime).take();
        if let Some(runtime) = runtime {
            for server in servers {
                server.stop(&runtime);
            }
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// The plugin.
#[derive(Default)]
pub struct HttpPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for HttpPlugin {
    fn name(&self) -> &str {
        "http"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = context.config()?;
        let state = Arc::new(State::new(settings)?);
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        if let Some(state) = self.state.take() {
            state.stop_all();
        }
        Ok(())
    }
}

export_plugin!(HttpPlugin);
