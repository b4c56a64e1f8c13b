//! Long-lived plugins: script functions kept beyond the call that passed them, calls of them
//! posted from the plugin's own threads, and services that keep `tusk` running.
//!
//! A server's route handler, a subscription's callback or a timer's function is a script
//! lambda the plugin gets during one call (`@serve(8080, req => …)`) and calls much later,
//! from a thread of its own. The model:
//!
//! - [`RetainedFunction::new`] (during a call, on the interpreter's thread) keeps the lambda
//!   alive until the last clone of the handle is dropped. The handle is `Send + Sync + Clone`:
//!   give it to any thread.
//! - [`RetainedFunction::post`] (any thread) asks the host to call the lambda with plain
//!   arguments ([`OwnedValue`]s). The host runs it on the interpreter's thread, between the
//!   other handlers, and hands the result or the error to the `done` closure (on some thread:
//!   keep it short, e.g. send on a channel). [`RetainedFunction::call`] waits for the result
//!   instead (from the plugin's own threads only: the host's thread would wait for itself).
//! - A [`ServiceGuard`] (any thread) keeps `tusk` running after the script's document is
//!   built, until it is dropped: start one when a socket starts listening, drop it when it
//!   closes. Without services, `tusk` exits once the script is evaluated and posted calls have
//!   run.
//!
//! Ordering and threads: posted calls run one at a time, on the interpreter's thread, in the
//! order they were posted (a thread's posts run in its order). A handler may do whatever a
//! script may: call operators (this plugin's too), read the document's entries it captured.
//! An error in a handler is reported by the host with its script location, given to `done` as
//! an [`ErrorKind::Script`](crate::ErrorKind::Script) error, and does not stop anything.
//!
//! Shutdown: on Ctrl-C or SIGTERM the host stops accepting posts and services (they fail with
//! an error saying tusk is shutting down), runs the calls already posted within a grace period
//! (cancelling the rest: their `done` gets the error), then calls the plugin's
//! [`TuskPlugin::shutdown`](crate::TuskPlugin::shutdown), where it stops its threads.
//!
//! The same API works in-process and in the sandboxed runner.
//!
//! ```no_run
//! use tusk_plugin_sdk::{OwnedValue, PluginContext, PluginError, RetainedFunction, ServiceGuard, TuskPlugin, Value};
//!
//! #[derive(Default)]
//! struct Ticker;
//!
//! impl TuskPlugin for Ticker {
//!     fn name(&self) -> &str {
//!         "ticker"
//!     }
//!     fn version(&self) -> &str {
//!         "1.0.0"
//!     }
//!     fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
//!         // `@ticker(3, n => n * 10)`: calls the lambda with 1, 2, 3 from a thread, then stops.
//!         context.register_operator_fn("ticker", |args: &[Value]| {
//!             let times = args.first().and_then(Value::as_int).ok_or_else(|| PluginError::missing_argument("times"))?;
//!             let handler = RetainedFunction::new(args.get(1).ok_or_else(|| PluginError::missing_argument("handler"))?)?;
//!             let service = ServiceGuard::start("ticker")?;
//!             std::thread::spawn(move || {
//!                 for n in 1..=times {
//!                     match handler.call(vec![OwnedValue::Int(n)]) {
//!                         Ok(value) => eprintln!("handler returned {value:?}"),
//!                         Err(error) => eprintln!("handler failed: {error}"),
//!                     }
//!                 }
//!                 drop(service); // the last service ends: tusk exits
//!             });
//!             Ok(Value::null())
//!         })
//!     }
//! }
//! ```
//!
//! ## Subscription readers
//!
//! Handlers for the messages of a server's subscriptions (PostgreSQL `LISTEN`, Redis
//! `SUBSCRIBE`, any protocol where one connection receives what it asked for), kept across
//! lost connections.
//!
//! A plugin describes its protocol with two small traits and gets everything else from
//! [`SubscriptionReaders`]:
//!
//! - [`SubscriptionSource`]: how to connect (again) and how to start a session on a connection.
//! - [`SubscriptionSession`]: subscribe and unsubscribe topics, and read what arrived within a
//!   short wait.
//!
//! [`SubscriptionReaders::subscribe`] (on the interpreter's thread, during a call) registers a
//! [`RetainedFunction`] as the handler of some topics. The first subscription of a key (a
//! connection string, a server) makes the connection right there, so that the host checks the
//! plugin's network grant, then starts a named reader thread that owns it, and a
//! [`ServiceGuard`] that keeps `tusk` running while the key has handlers. The reader:
//!
//! - posts every message to its topic's handler through the host's event loop (handlers run on
//!   the interpreter's thread, one at a time, in the order the messages arrived); a handler's
//!   error is reported by the host with its script location and counted in the status;
//! - never waits for a handler, so a handler may subscribe and unsubscribe (itself too); it
//!   stops reading while too many messages wait for their handlers;
//! - when the connection is lost, connects again, pausing between attempts (0.1 s, doubling up
//!   to 5 s), and subscribes every topic that has a handler again; messages sent meanwhile are
//!   lost (pub/sub servers keep nothing for absent subscribers);
//! - stops when the key's last topic is unsubscribed (which also ends its service) and on
//!   [`SubscriptionReaders::close`], which the plugin calls from its
//!   [`TuskPlugin::shutdown`](crate::TuskPlugin::shutdown).
//!
//! Every text the traits return goes into errors and the status: it must not hold secrets
//! (scrub passwords first).
//!
//! ```no_run
//! use std::io::{BufRead, BufReader, ErrorKind, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use tusk_plugin_sdk::{OwnedValue, PluginError, RetainedFunction};
//! use tusk_plugin_sdk::retained::{Delivery, SessionError, SubscriptionReaders, SubscriptionSession, SubscriptionSource};
//!
//! /// A line server: `SUB topic` subscribes, and it sends `topic text` lines.
//! struct Lines {
//!     address: String,
//! }
//!
//! struct LineSession<'c> {
//!     reader: BufReader<&'c TcpStream>,
//! }
//!
//! impl SubscriptionSource for Lines {
//!     type Topic = String;
//!     type Connection = TcpStream;
//!     type Session<'c> = LineSession<'c>;
//!     const THREAD_NAME: &'static str = "lines-listen";
//!     const CONNECTION: &'static str = "subscribed connection";
//!     const REQUEST: &'static str = "subscription";
//!     const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
//!
//!     fn service_name(&self) -> String {
//!         format!("lines on {}", self.address)
//!     }
//!     fn connect(&self) -> Result<TcpStream, String> {
//!         TcpStream::connect(&self.address).map_err(|error| error.to_string())
//!     }
//!     fn open<'c>(&'c self, connection: &'c mut TcpStream) -> Result<LineSession<'c>, String> {
//!         Ok(LineSession { reader: BufReader::new(&*connection) })
//!     }
//! }
//!
//! impl SubscriptionSession for LineSession<'_> {
//!     type Topic = String;
//!     fn id(&self) -> i64 {
//!         0
//!     }
//!     fn subscribe(&mut self, topics: &[String]) -> Result<(), SessionError> {
//!         let lost = |error: std::io::Error| SessionError::Lost(error.to_string());
//!         let mut stream: &TcpStream = self.reader.get_ref();
//!         topics.iter().try_for_each(|topic| writeln!(stream, "SUB {topic}").map_err(lost))
//!     }
//!     fn unsubscribe(&mut self, topics: &[String]) -> Result<(), SessionError> {
//!         let lost = |error: std::io::Error| SessionError::Lost(error.to_string());
//!         let mut stream: &TcpStream = self.reader.get_ref();
//!         topics.iter().try_for_each(|topic| writeln!(stream, "UNSUB {topic}").map_err(lost))
//!     }
//!     fn read(&mut self, wait: Duration) -> Result<Vec<Delivery<String>>, String> {
//!         self.reader.get_ref().set_read_timeout(Some(wait)).map_err(|error| error.to_string())?;
//!         let mut line = String::new();
//!         match self.reader.read_line(&mut line) {
//!             Ok(0) => Err("the server closed the connection".into()),
//!             Ok(_) => {
//!                 let (topic, text) = line.trim_end().split_once(' ').unwrap_or((line.trim_end(), ""));
//!                 let argument = Ok(OwnedValue::String(text.to_string()));
//!                 Ok(vec![Delivery { topic: topic.to_string(), argument }])
//!             }
//!             Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(Vec::new()),
//!             Err(error) => Err(error.to_string()),
//!         }
//!     }
//! }
//!
//! /// `@lines.subscribe(topic, handler)`, on the interpreter's thread.
//! fn subscribe(readers: &SubscriptionReaders<Lines>, address: &str, topic: &str, handler: &RetainedFunction) -> Result<usize, PluginError> {
//!     let open = || {
//!         let source = Lines { address: address.to_string() };
//!         let connection = source.connect().map_err(|message| PluginError::message(format!("@lines.subscribe: {message}")))?;
//!         Ok((source, connection))
//!     };
//!     readers.subscribe(address, open, &[topic.to_string()], handler, "@lines.subscribe")
//! }
//! ```

use std::sync::{Arc, mpsc};

use crate::error::PluginError;
use crate::ffi;
use crate::owned::OwnedValue;
use crate::value::{Kind, Value};

mod posted;
mod subscription;

pub use subscription::{
    Delivery, SessionError, SubscriptionReaders, SubscriptionSession, SubscriptionSource, SubscriptionStatus,
};

/// The host ABI minor from which posted calls carry byte strings (see `posted`).
const POSTED_BYTES_MINOR: u32 = 8;

/// A script function the plugin keeps beyond the call that passed it. `Send + Sync`; clones
/// share one retention, released when the last clone is dropped.
#[derive(Clone)]
pub struct RetainedFunction {
    inner: Arc<Retained>,
}

struct Retained {
    id: u64,
}

impl Drop for Retained {
    fn drop(&mut self) {
        ffi::release_function(self.id);
    }
}

impl std::fmt::Debug for RetainedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RetainedFunction({})", self.inner.id)
    }
}

impl RetainedFunction {
    /// Keeps `function` (a script lambda given to this call) alive beyond the call. Only during
    /// a call into the plugin, on the thread of that call.
    pub fn new(function: &Value) -> Result<RetainedFunction, PluginError> {
        if function.kind() != Kind::Function {
            return Err(PluginError::message(format!("expected a function, not {:?}", function.kind()).to_lowercase()));
        }
        let id = ffi::retain_function(function.raw())?;
        Ok(RetainedFunction { inner: Arc::new(Retained { id }) })
    }

    /// Asks the host to call the function with `args` on the interpreter's thread, from any
    /// thread; `done` gets the result or the error, once, on some thread (keep it short).
    /// Fails at once (and `done` is never called) when tusk is shutting down. The arguments
    /// and the result cross as JSON. With a host of ABI 1.8 or later byte strings cross intact
    /// both ways: an [`OwnedValue::Bytes`] argument reaches the function as a byte string, and
    /// a byte string it returns (anywhere in the result) comes back as [`OwnedValue::Bytes`].
    /// An older host gets the plain JSON array it knows: there a byte string argument reaches
    /// the function as its base64 text, and one it returns comes back as that text.
    pub fn post(
        &self,
        args: Vec<OwnedValue>,
        done: impl FnOnce(Result<OwnedValue, PluginError>) + Send + 'static,
    ) -> Result<(), PluginError> {
        let wrapped = ffi::host_abi_minor() >= POSTED_BYTES_MINOR;
        let json = if wrapped { posted::wrap_args(args) } else { serde_json::to_string(&OwnedValue::Array(args)) }
            .map_err(|error| PluginError::message(format!("the arguments cannot be posted: {error}")))?;
        // The call holds the function until it has run: a thread may post and drop its handle.
        let keep = self.clone();
        ffi::post(
            self.inner.id,
            &json,
            Box::new(move |outcome: Result<&str, PluginError>| {
                let _keep = keep;
                done(outcome.and_then(|json| {
                    let result = if wrapped {
                        posted::unwrap_result(json)
                    } else {
                        serde_json::from_str::<OwnedValue>(json).map_err(|error| error.to_string())
                    };
                    result.map_err(|error| {
                        PluginError::message(format!("the host's result is not a plain value: {error}"))
                    })
                }))
            }),
        )
    }

    /// Calls the function on the interpreter's thread and waits for its result: for the
    /// plugin's own threads. On the thread the host calls the plugin on it fails at once
    /// (that thread runs the call, so it cannot wait for it); use [`Value::call`] there.
    pub fn call(&self, args: Vec<OwnedValue>) -> Result<OwnedValue, PluginError> {
        if ffi::on_host_thread() {
            return Err(PluginError::message(
                "RetainedFunction::call waits for the interpreter's thread, so it cannot be used on it; \
                 call the function directly during a call, or post from another thread",
            ));
        }
        let (sender, receiver) = mpsc::sync_channel(1);
        self.post(args, move |outcome| {
            let _ = sender.send(outcome);
        })?;
        receiver.recv().unwrap_or_else(|_| Err(PluginError::message("the host dropped the call without an answer")))
    }
}

/// A running service: while one is alive, `tusk` keeps running after the script is evaluated
/// (serving the calls the plugin posts). Ends when dropped (or with [`ServiceGuard::end`]).
/// `Send + Sync`.
#[derive(Debug)]
pub struct ServiceGuard {
    id: u64,
}

impl ServiceGuard {
    /// Starts a service; `name` says what it is in messages (`http 127.0.0.1:8080`). Any
    /// thread. Fails when tusk is shutting down.
    pub fn start(name: &str) -> Result<ServiceGuard, PluginError> {
        ffi::start_service(name).map(|id| ServiceGuard { id })
    }

    /// Ends the service now.
    pub fn end(self) {}
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        ffi::end_service(self.id);
    }
}
