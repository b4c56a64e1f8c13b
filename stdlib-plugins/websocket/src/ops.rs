//! The operators and functions: argument reading and registration.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tusk_plugin_sdk::{
    Kind, OwnedValue, PluginContext, PluginError, RetainedFunction, ServiceGuard, SymbolDoc, Value, host,
};

use crate::client::{Client, ClientOptions};
use crate::hub::{self, Audience, Endpoint, Handlers, Limits, PeerInfo};
use crate::server::Server;
use crate::{State, lock, message};

/// The type of a client connection value.
pub(crate) const CONNECTION_TYPE: &str = "websocket.connection";

/// What `receive` waits without a timeout argument.
const DEFAULT_RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection as scripts hold it.
pub(crate) struct Connection {
    client: Arc<Client>,
}

/// One operation of the plugin.
type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

/// The arguments of one call, with the operator's name for messages; `offset` skips the
/// action name of the `@websocket(action, …)` form.
pub(crate) struct Args<'a> {
    values: &'a [Value],
    offset: usize,
    operator: &'a str,
}

impl Args<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index)
    }

    fn len(&self) -> usize {
        self.values.len().saturating_sub(self.offset)
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    /// An error about argument `index`. The host puts the operator's name before it.
    fn bad(&self, index: usize, message: impl Into<String>) -> PluginError {
        PluginError::message(message).at_argument(self.offset + index)
    }

    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.len() > count {
            return Err(self.bad(count, format!("takes at most {count} arguments, got {}", self.len())));
        }
        Ok(())
    }

    fn string(&self, index: usize, name: &str) -> Result<String, PluginError> {
        let value = self.required(index, name)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.bad(index, format!("the {name} must be a string, got a {}", value.type_name())))
    }

    /// A message to send: its frame.
    fn message(&self, index: usize) -> Result<Message, PluginError> {
        let value = self.required(index, "message")?;
        let owned = value.to_owned_value().map_err(|error| self.bad(index, error.message_text()))?;
        message::outgoing(owned).map_err(|problem| self.bad(index, problem))
    }

    /// A server-side connection: its id, or the connection object handlers get.
    fn connection_id(&self, index: usize) -> Result<u64, PluginError> {
        let value = self.required(index, "connection")?;
        server_connection(value).ok_or_else(|| {
            self.bad(
                index,
                format!(
                    "expected a server connection (the `conn` a handler gets, or its id), got a {}",
                    value.type_name()
                ),
            )
        })
    }

    /// A timeout in seconds (a number, or a string like "500ms", "2s", "1m").
    fn duration(&self, index: usize, name: &str) -> Result<Duration, PluginError> {
        let value = self.required(index, name)?;
        duration(value).map_err(|problem| self.bad(index, format!("the {name} {problem}")))
    }
}

/// `conn` (an object with an integer `id`) or the id itself.
fn server_connection(value: &Value) -> Option<u64> {
    let id = match value.kind() {
        Kind::Int => value.as_int(),
        Kind::Object => value.as_object().and_then(|object| object.get("id")).and_then(|id| id.as_int()),
        _ => None,
    }?;
    u64::try_from(id).ok().filter(|id| *id > 0)
}

/// Seconds as a number, or a string with a unit (`ms`, `s`, `m`, `h`).
fn duration(value: &Value) -> Result<Duration, String> {
    let seconds = match value.kind() {
        Kind::Int | Kind::Float => value.as_float().unwrap_or(f64::NAN),
        Kind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let number: f64 = number.trim().parse().map_err(|_| format!("`{text}` is not a duration like \"2s\""))?;
            let scale = match unit {
                "ms" => 0.001,
                "" | "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                other => return Err(format!("`{text}`: unknown unit `{other}` (use ms, s, m or h)")),
            };
            number * scale
        }
        _ => return Err(format!("must be a number of seconds or a string like \"2s\", got a {}", value.type_name())),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("must be a non-negative number of seconds, got {seconds}"))
}

fn client_of(value: &Value) -> Option<Arc<Client>> {
    value.downcast::<Connection>().map(|connection| connection.client.clone())
}

fn default_client(state: &State) -> Result<Arc<Client>, PluginError> {
    lock(&state.default_client).clone().ok_or_else(|| {
        PluginError::message("there is no client connection")
            .with_help("connect first: @websocket(\"connect\", \"ws://127.0.0.1:8080/\")")
    })
}

/// The options of a server or an endpoint: where it listens (servers only), its handlers and
/// its limits.
struct Options {
    host_name: String,
    port: u16,
    path: String,
    handlers: Handlers,
    limits: Limits,
}

/// Reads the options object at `index`; `listening` is false for an endpoint, which takes its
/// connections from an HTTP server and so has no port, host or path of its own.
fn options(state: &State, args: &Args<'_>, index: usize, listening: bool) -> Result<Options, PluginError> {
    let value = args.required(index, "options")?;
    let object = value.as_object().ok_or_else(|| {
        args.bad(
            index,
            format!(
                "expected an object of options ({{{}on_message, …}}), got a {}",
                if listening { "port, path, " } else { "on_open, " },
                value.type_name()
            ),
        )
    })?;
    let mut options = Options {
        host_name: "127.0.0.1".to_string(),
        port: 0,
        path: "/".to_string(),
        handlers: Handlers::default(),
        limits: state.defaults.limits.clone(),
    };
    for (key, value) in object.entries() {
        let bad = |problem: String| args.bad(index, format!("`{key}` {problem}"));
        let count = |value: &Value| {
            value
                .as_int()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("must be a positive integer, got {}", describe(value))))
        };
        let function = |value: &Value| {
            if value.kind() != Kind::Function {
                return Err(bad(format!("must be a function, got a {}", value.type_name())));
            }
            RetainedFunction::new(value).map(Some)
        };
        match key {
            "port" | "host" | "path" if !listening => {
                return Err(bad(
                    "is an option of @websocket.serve: an endpoint takes its connections from the routes of an HTTP server (@http.websocket)"
                        .into(),
                ));
            }
            "port" => {
                options.port = value.as_int().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
                    bad(format!("must be a port number (0 picks a free one), got {}", describe(&value)))
                })?;
            }
            "host" => {
                options.host_name = value.as_str().map(str::to_string).ok_or_else(|| bad("must be a string".into()))?;
            }
            "path" => {
                options.path = value
                    .as_str()
                    .filter(|path| path.starts_with('/'))
                    .map(str::to_string)
                    .ok_or_else(|| bad("must be a string starting with `/`".into()))?;
            }
            "on_open" => options.handlers.on_open = function(&value)?,
            "on_message" => options.handlers.on_message = function(&value)?,
            "on_close" => options.handlers.on_close = function(&value)?,
            "max_message_size" => options.limits.max_message_size = count(&value)?,
            "max_queued_messages" => options.limits.max_queued_messages = count(&value)?,
            "ping_interval" | "ping_timeout" => {
                let duration = duration(&value).map_err(bad)?;
                if duration.is_zero() {
                    return Err(bad("must be more than zero".into()));
                }
                if key == "ping_interval" {
                    options.limits.ping_interval = duration;
                } else {
                    options.limits.ping_timeout = duration;
                }
            }
            other => {
                let listed = if listening { "port, host, path, " } else { "" };
                return Err(args.bad(index, format!("unknown option `{other}`")).with_help(format!(
                    "the options are {listed}on_open, on_message, on_close, max_message_size, \
                     max_queued_messages, ping_interval, ping_timeout"
                )));
            }
        }
    }
    Ok(options)
}

/// `@websocket.serve({port, host, path, on_open, on_message, on_close, …})`.
fn serve(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let Options { host_name, port, path, handlers, limits } = options(state, args, 0, true)?;
    let address = (host_name.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| args.bad(0, format!("cannot resolve the host `{host_name}`")))?;
    if !address.ip().is_loopback() {
        host::check_connect(&host_name, port).map_err(|error| {
            PluginError::permission_denied(format!(
                "listening on {host_name}:{port} (not a loopback address) needs the network permission for it: {}",
                error.message_text()
            ))
            .with_help(format!("grant it with --allow-net={host_name}:{port}, or listen on 127.0.0.1"))
        })?;
    }
    let listener = std::net::TcpListener::bind(address).map_err(|error| {
        let mut message = format!("cannot listen on {address}: {error}");
        if error.raw_os_error() == Some(1) {
            // EPERM: the sandbox's Landlock rules allow binding only with every host granted.
            message.push_str(
                "; a sandboxed plugin may listen only with --allow-net for every host (first-party plugins run in-process, where the grants alone decide)",
            );
        }
        PluginError::message(message)
    })?;
    let runtime = state.runtime()?;
    let id = state.next_server_id();
    let endpoint = Arc::new(Endpoint { server: id, path, handlers, limits });
    let server = Server::start(&runtime, state.hub.clone(), endpoint, listener)?;
    let result = server_value(&server);
    lock(&state.servers).insert(id, server);
    Ok(result.into_value())
}

fn server_value(server: &Server) -> OwnedValue {
    let host = match server.address {
        std::net::SocketAddr::V4(address) => address.ip().to_string(),
        std::net::SocketAddr::V6(address) => format!("[{}]", address.ip()),
    };
    OwnedValue::Object(vec![
        ("id".into(), OwnedValue::Int(server.id as i64)),
        ("address".into(), OwnedValue::String(server.address.to_string())),
        ("port".into(), OwnedValue::Int(i64::from(server.address.port()))),
        ("path".into(), OwnedValue::String(server.path.clone())),
        ("url".into(), OwnedValue::String(format!("ws://{host}:{}{}", server.address.port(), server.path))),
    ])
}

fn describe(value: &Value) -> String {
    match value.kind() {
        Kind::Int | Kind::Float | Kind::Bool | Kind::String => format!("{value:?}"),
        _ => format!("a {}", value.type_name()),
    }
}

/// `@websocket.stop(server)`: the value `serve` returned, or its id.
fn stop(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let value = args.required(0, "server")?;
    let id = server_connection(value).ok_or_else(|| {
        args.bad(0, format!("expected the server `serve` returned (or its id), got a {}", value.type_name()))
    })?;
    let server = lock(&state.servers).remove(&id);
    Ok(Value::from(server.map(|server| server.stop()).is_some()))
}

/// `@websocket.servers()`.
fn servers(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    let list: Vec<OwnedValue> = lock(&state.servers).values().map(server_value).collect();
    Ok(OwnedValue::Array(list).into_value())
}

/// The type of an endpoint's value (`@websocket.endpoint`): a plain object with this `kind`.
const ENDPOINT_KIND: &str = "websocket endpoint";

/// `@websocket.endpoint({on_open, on_message, on_close, …})`: handlers and limits for the
/// connections an HTTP server's websocket routes hand over (`@websocket.accept`).
fn endpoint(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let Options { handlers, limits, .. } = options(state, args, 0, false)?;
    let id = state.next_server_id();
    let endpoint = Arc::new(Endpoint { server: id, path: String::new(), handlers, limits });
    lock(&state.endpoints).insert(id, endpoint);
    Ok(endpoint_value(id).into_value())
}

fn endpoint_value(id: u64) -> OwnedValue {
    OwnedValue::Object(vec![
        ("id".into(), OwnedValue::Int(id as i64)),
        ("kind".into(), OwnedValue::String(ENDPOINT_KIND.into())),
    ])
}

/// The endpoint at `index`: what `endpoint` returned, or an object of options made into one
/// for this connection.
fn endpoint_of(state: &State, args: &Args<'_>, index: usize) -> Result<Arc<Endpoint>, PluginError> {
    let value = args.required(index, "endpoint")?;
    let object = value.as_object();
    let kind = object.as_ref().and_then(|object| object.get("kind")).and_then(|kind| kind.as_str().map(str::to_string));
    if kind.as_deref() == Some(ENDPOINT_KIND) {
        let id = server_connection(value).ok_or_else(|| args.bad(index, "the endpoint has no valid `id`"))?;
        return lock(&state.endpoints)
            .get(&id)
            .cloned()
            .ok_or_else(|| args.bad(index, format!("there is no websocket endpoint {id}")));
    }
    if object.is_none() {
        return Err(args.bad(
            index,
            format!(
                "expected an endpoint from @websocket.endpoint({{…}}) or an object of options, got a {}",
                value.type_name()
            ),
        ));
    }
    let Options { handlers, limits, .. } = options(state, args, index, false)?;
    Ok(Arc::new(Endpoint { server: state.next_server_id(), path: String::new(), handlers, limits }))
}

/// `@websocket.accept(request | ticket, endpoint | options)`: serves the connection an HTTP
/// server handed over (the `request` its websocket route's handler got, whose `websocket` is
/// the host's ticket for the connection) with the endpoint's handlers, in this plugin's hub.
fn accept(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let given = args.required(0, "request")?;
    let request = given.as_object();
    let ticket = match &request {
        Some(request) => request.get("websocket").and_then(|ticket| ticket.as_int()),
        None => given.as_int(),
    };
    let ticket = ticket.and_then(|ticket| u64::try_from(ticket).ok()).ok_or_else(|| {
        args.bad(
            0,
            format!(
                "expected the request of an @http.websocket route (with its `websocket` ticket) or the ticket, got {}",
                describe(given)
            ),
        )
    })?;
    let endpoint = endpoint_of(state, args, 1)?;
    let field = |name: &str| {
        request
            .as_ref()
            .and_then(|request| request.get(name))
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let (path, url) = (field("path"), field("url"));
    let query = url.split_once('?').map(|(_, query)| query.to_string()).unwrap_or_default();
    let runtime = state.runtime()?;
    let (socket, ahead) = host::take_socket(ticket).map_err(|error| args.bad(0, error.message_text()))?;
    let stream = std::net::TcpStream::from(socket);
    let remote = stream.peer_addr().map(|address| address.to_string()).unwrap_or_else(|_| field("ip"));
    stream
        .set_nonblocking(true)
        .map_err(|error| PluginError::message(format!("cannot serve the connection: {error}")))?;
    let stream = {
        let _context = runtime.enter();
        tokio::net::TcpStream::from_std(stream)
            .map_err(|error| PluginError::message(format!("cannot serve the connection: {error}")))?
    };
    let _ = stream.set_nodelay(true);
    // The connection keeps tusk running as long as it is open, like a server of this plugin.
    let service = ServiceGuard::start(&format!("websocket connection from {remote} at {path}"))?;
    let info = PeerInfo { path, query, remote };
    let (hub, shutdown) = (state.hub.clone(), state.stopping.subscribe());
    let config = endpoint.limits.config();
    runtime.spawn(async move {
        let socket =
            tokio_tungstenite::WebSocketStream::from_partially_read(stream, ahead, Role::Server, Some(config)).await;
        hub::drive(hub, endpoint, socket, info, shutdown).await;
        drop(service);
    });
    Ok(Value::from(true))
}

/// `@websocket.connect(url[, options])`.
fn connect(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let url = args.string(0, "url")?;
    let mut options: ClientOptions = state.defaults.client.clone();
    if let Some(value) = args.get(1) {
        let object = value
            .as_object()
            .ok_or_else(|| args.bad(1, format!("expected an object of options, got a {}", value.type_name())))?;
        for (key, value) in object.entries() {
            let bad = |problem: String| args.bad(1, format!("`{key}` {problem}"));
            match key {
                "timeout" | "connect_timeout" => options.connect_timeout = duration(&value).map_err(bad)?,
                "send_timeout" => options.send_timeout = duration(&value).map_err(bad)?,
                "max_message_size" => {
                    options.max_message_size = value
                        .as_int()
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("must be a positive integer, got {}", describe(&value))))?;
                }
                other => {
                    return Err(args
                        .bad(1, format!("unknown option `{other}`"))
                        .with_help("the options are timeout, send_timeout, max_message_size"));
                }
            }
        }
    }
    let runtime = state.runtime()?;
    let client = Arc::new(Client::connect(&runtime, &url, options)?);
    *lock(&state.default_client) = Some(client.clone());
    Ok(Value::plugin_object(CONNECTION_TYPE, Connection { client }))
}

/// `send(message)` (the most recent client connection) or `send(conn, message)`.
fn send(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    if args.len() < 2 {
        let message = args.message(0)?;
        default_client(state)?.send(message)?;
        return Ok(Value::from(true));
    }
    let target = args.required(0, "connection")?;
    let message = args.message(1)?;
    if let Some(client) = client_of(target) {
        client.send(message)?;
        return Ok(Value::from(true));
    }
    let id = args.connection_id(0)?;
    state.hub.send(id, message).map_err(|problem| args.bad(0, problem))?;
    Ok(Value::from(true))
}

/// `receive([conn][, timeout])`: the next message from a client connection, or null.
fn receive(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let (client, timeout_index) = match args.get(0) {
        Some(value) if value.kind() == Kind::PluginObject => (
            client_of(value).ok_or_else(|| args.bad(0, "expected a connection from @websocket(\"connect\", url)"))?,
            1,
        ),
        Some(value) if matches!(value.kind(), Kind::Int | Kind::Float | Kind::String) && args.len() == 1 => {
            (default_client(state)?, 0)
        }
        Some(value) => {
            return Err(args.bad(
                0,
                format!(
                    "expected a client connection or a timeout, got a {} (server connections are read by on_message)",
                    value.type_name()
                ),
            ));
        }
        None => (default_client(state)?, 0),
    };
    let timeout = if args.get(timeout_index).is_some() {
        args.duration(timeout_index, "timeout")?
    } else {
        DEFAULT_RECEIVE_TIMEOUT
    };
    let received = client.receive(timeout)?;
    Ok(received.map_or_else(Value::null, OwnedValue::into_value))
}

/// `close([conn][, code[, reason]])`.
fn close(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let first_is_target = args.get(0).is_some_and(|value| value.kind() != Kind::Int || args.len() >= 2);
    let code_index = usize::from(first_is_target);
    let code = match args.get(code_index) {
        Some(value) => value
            .as_int()
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| *code == 1000 || (3000..5000).contains(code))
            .ok_or_else(|| {
                args.bad(code_index, format!("the close code must be 1000 or 3000-4999, got {}", describe(value)))
            })?,
        None => hub::code::NORMAL,
    };
    let reason = match args.get(code_index + 1) {
        Some(_) => args.string(code_index + 1, "reason")?,
        None => String::new(),
    };
    if !first_is_target {
        let client = default_client(state)?;
        return Ok(Value::from(client.close(code, &reason)?));
    }
    let target = args.required(0, "connection")?;
    if let Some(client) = client_of(target) {
        return Ok(Value::from(client.close(code, &reason)?));
    }
    let id = args.connection_id(0)?;
    Ok(Value::from(state.hub.close(id, code, &reason).is_ok()))
}

/// `broadcast(message[, room | {room, server, except}])`: how many connections it was queued to.
fn broadcast(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let message = args.message(0)?;
    let (mut audience, mut except) = (Audience::All, None);
    match args.get(1) {
        None => {}
        Some(value) if value.kind() == Kind::Null => {}
        Some(value) if value.kind() == Kind::String => audience = Audience::Room(args.string(1, "room")?),
        Some(value) if value.kind() == Kind::Object => {
            let object = value.as_object().ok_or_else(|| args.bad(1, "expected an object"))?;
            for (key, value) in object.entries() {
                match key {
                    "room" => {
                        audience = Audience::Room(
                            value.as_str().map(str::to_string).ok_or_else(|| args.bad(1, "`room` must be a string"))?,
                        );
                    }
                    "server" => {
                        audience = Audience::Server(
                            server_connection(&value)
                                .ok_or_else(|| args.bad(1, "`server` must be a server or its id"))?,
                        );
                    }
                    "except" => {
                        except = Some(
                            server_connection(&value)
                                .ok_or_else(|| args.bad(1, "`except` must be a connection or its id"))?,
                        );
                    }
                    other => {
                        return Err(args
                            .bad(1, format!("unknown option `{other}`"))
                            .with_help("the options are room, server, except"));
                    }
                }
            }
        }
        Some(value) => {
            return Err(
                args.bad(1, format!("expected a room name or {{room, server, except}}, got a {}", value.type_name()))
            );
        }
    }
    Ok(Value::from(state.hub.broadcast(&message, &audience, except)))
}

fn join(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let id = args.connection_id(0)?;
    let room = args.string(1, "room")?;
    state.hub.join(id, &room).map(Value::from).map_err(|problem| args.bad(0, problem))
}

fn leave(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let id = args.connection_id(0)?;
    let room = args.string(1, "room")?;
    state.hub.leave(id, &room).map(Value::from).map_err(|problem| args.bad(0, problem))
}

/// `room(name)`: the ids of its members.
fn room(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let room = args.string(0, "room")?;
    Ok(Value::array(state.hub.members(&room).into_iter().map(|id| Value::from(id as i64)).collect()))
}

/// `rooms()`: `{room: member count}`.
fn rooms(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    Ok(Value::object(state.hub.rooms().into_iter().map(|(room, count)| (room, Value::from(count))).collect()))
}

/// `connections([server])`: the open server-side connections.
fn connections(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let server = match args.get(0) {
        Some(value) => Some(
            server_connection(value)
                .ok_or_else(|| args.bad(0, format!("expected a server or its id, got a {}", value.type_name())))?,
        ),
        None => None,
    };
    Ok(OwnedValue::Array(state.hub.connections(server)).into_value())
}

fn get_state(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let id = args.connection_id(0)?;
    state.hub.state(id).map(OwnedValue::into_value).map_err(|problem| args.bad(0, problem))
}

fn set_state(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let id = args.connection_id(0)?;
    let value = args.required(1, "state")?;
    let owned = value.to_owned_value().map_err(|error| args.bad(1, error.message_text()))?;
    state.hub.set_state(id, owned.clone()).map_err(|problem| args.bad(0, problem))?;
    Ok(owned.into_value())
}

fn stats(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    let counters = &state.hub.counters;
    let count = |counter: &std::sync::atomic::AtomicU64| OwnedValue::Int(counter.load(Ordering::Relaxed) as i64);
    Ok(OwnedValue::Object(vec![
        ("servers".into(), OwnedValue::Int(lock(&state.servers).len() as i64)),
        ("connections".into(), OwnedValue::Int(state.hub.len() as i64)),
        ("opened".into(), count(&counters.opened)),
        ("received".into(), count(&counters.received)),
        ("sent".into(), count(&counters.sent)),
        ("dropped_slow".into(), count(&counters.dropped_slow)),
        ("dropped_dead".into(), count(&counters.dropped_dead)),
        ("problems".into(), OwnedValue::Array(state.hub.problems().into_iter().map(OwnedValue::String).collect())),
    ])
    .into_value())
}

/// Every action: name, signature, summary, implementation.
const ACTIONS: &[(&str, &str, &str, Operation)] = &[
    (
        "serve",
        "@websocket.serve({port, host, path, on_open, on_message, on_close, max_message_size, max_queued_messages, ping_interval, ping_timeout})",
        "Serves websocket connections on a listener of the plugin's own (127.0.0.1 unless `host` says otherwise; other addresses need --allow-net); returns {id, address, port, path, url}.",
        serve,
    ),
    (
        "stop",
        "@websocket.stop(server)",
        "Stops a server: its connections are closed with 1001; true if it was running.",
        stop,
    ),
    ("servers", "@websocket.servers()", "The running servers: [{id, address, port, path, url}].", servers),
    (
        "endpoint",
        "@websocket.endpoint({on_open, on_message, on_close, max_message_size, max_queued_messages, ping_interval, ping_timeout})",
        "Handlers and limits for connections an HTTP server takes (@http.websocket routes hand them over with @websocket.accept); returns {id, kind}.",
        endpoint,
    ),
    (
        "accept",
        "@websocket.accept(request, endpoint)",
        "Serves the connection of an @http.websocket route's request (its `websocket` ticket, good once) with an endpoint (or an object of its options), in the same hub as the plugin's own servers: rooms and broadcast_message reach it; true once taken.",
        accept,
    ),
    (
        "connect",
        "@websocket.connect(url[, {timeout, send_timeout, max_message_size}])",
        "Connects to a ws:// URL (needs --allow-net for its host and port) and returns the connection, which also becomes the default one.",
        connect,
    ),
    (
        "send",
        "@websocket.send([conn, ]message)",
        "Sends a message: a string as a text frame, a byte string or {binary: base64} as a binary frame, anything else as JSON text; to a server connection (a handler's `conn` or its id), a client connection, or the most recent client connection.",
        send,
    ),
    (
        "receive",
        "@websocket.receive([conn][, timeout])",
        "The next message of a client connection, waiting up to `timeout` (seconds or \"500ms\"; default 5 s): a string, a byte string for a binary frame, or null when none came.",
        receive,
    ),
    (
        "close",
        "@websocket.close([conn][, code[, reason]])",
        "Closes a server or client connection (the most recent client connection without one) with a code (1000, or 3000-4999) and reason; true if it was open.",
        close,
    ),
    (
        "broadcast",
        "@websocket.broadcast(message[, room | {room, server, except}])",
        "Sends a message to every server connection, or a room's, one server's, all but one; returns how many it was queued to.",
        broadcast,
    ),
    ("join", "@websocket.join(conn, room)", "Puts a server connection into a room; false if it was in it.", join),
    (
        "leave",
        "@websocket.leave(conn, room)",
        "Takes a server connection out of a room; false if it was not in it.",
        leave,
    ),
    ("room", "@websocket.room(name)", "The ids of a room's connections.", room),
    ("rooms", "@websocket.rooms()", "The rooms with members: {room: count}.", rooms),
    (
        "connections",
        "@websocket.connections([server])",
        "The open server connections: [{id, server, path, query, remote, state, rooms}].",
        connections,
    ),
    (
        "state",
        "@websocket.state(conn)",
        "The state the handlers keep for a server connection (null at first).",
        get_state,
    ),
    ("set_state", "@websocket.set_state(conn, value)", "Replaces a server connection's state; returns it.", set_state),
    (
        "stats",
        "@websocket.stats()",
        "Counters: servers, connections, opened, received, sent, dropped_slow, dropped_dead, and recent problems.",
        stats,
    ),
];

/// `@websocket(action, …)`: the seed's form of every action.
fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let action = args.required(0, "action")?;
    let name = action.as_str().ok_or_else(|| {
        PluginError::message(format!("the action must be a string, got a {}", action.type_name())).at_argument(0)
    })?;
    let Some((_, _, _, run)) = ACTIONS.iter().find(|(known, ..)| known.eq_ignore_ascii_case(name)) else {
        let known: Vec<&str> = ACTIONS.iter().map(|(known, ..)| *known).collect();
        return Err(PluginError::invalid_operation(format!("unknown action `{name}`"))
            .at_argument(0)
            .with_help(format!("use one of {}", known.join(", "))));
    };
    run(state, &Args { values: args.values, offset: 1, operator: &format!("@websocket(\"{name}\")") })
}

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    context.register_type(CONNECTION_TYPE)?;
    let dispatch_state = state.clone();
    context.register_operator_with(
        "websocket",
        SymbolDoc {
            signature: "@websocket(action, …)".into(),
            summary: "Runs one action by name: @websocket(\"connect\", url), @websocket(\"send\", message), @websocket(\"serve\", {…}), and every @websocket.ACTION.".into(),
            side_effects: true,
            examples: vec![r#"@websocket("rooms") => {}"#.into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| dispatch(&dispatch_state, &Args { values: args, offset: 0, operator: "@websocket" }),
    )?;
    for (name, signature, summary, run) in ACTIONS {
        let state = state.clone();
        let operator = format!("@websocket.{name}");
        let run = *run;
        context.register_operator_with(
            &format!("websocket.{name}"),
            SymbolDoc {
                signature: (*signature).into(),
                summary: (*summary).into(),
                side_effects: true,
                ..SymbolDoc::default()
            },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let broadcast_state = state.clone();
    context.register_function_with(
        "broadcast_message",
        SymbolDoc {
            signature: "broadcast_message(message[, room | {room, server, except}])".into(),
            summary: "Sends a message to every connection of the plugin's servers (or a room's); returns how many it was queued to.".into(),
            side_effects: true,
            examples: vec![r#"broadcast_message("nobody is connected") => 0"#.into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| broadcast(&broadcast_state, &Args { values: args, offset: 0, operator: "broadcast_message" }),
    )?;
    Ok(())
}
