//! The operators and functions: argument reading and registration.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use tusk_plugin_sdk::{
    ErrorKind, Kind, OwnedValue, PluginContext, PluginError, RetainedFunction, SymbolDoc, Value, host,
};

use crate::app::{App, Cors, Middleware, Route, SharedApp, StaticDir};
use crate::client;
use crate::routes::Pattern;
use crate::server::Server;
use crate::{State, lock, seconds};

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];

/// The arguments of one call, with the spelling of the symbol for messages.
struct Args<'a> {
    values: &'a [Value],
    symbol: &'static str,
}

impl Args<'_> {
    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > count {
            return Err(PluginError::message(format!(
                "{} takes at most {count} arguments, got {}",
                self.symbol,
                self.values.len()
            ))
            .at_argument(count));
        }
        Ok(())
    }

    fn required(&self, index: usize, what: &str) -> Result<&Value, PluginError> {
        self.values
            .get(index)
            .ok_or_else(|| PluginError::missing_argument(format!("{what} (argument {} of {})", index + 1, self.symbol)))
    }

    fn optional(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|value| !value.is_null())
    }

    fn string(&self, index: usize, what: &str) -> Result<&str, PluginError> {
        let value = self.required(index, what)?;
        value.as_str().ok_or_else(|| {
            PluginError::message(format!("the {what} must be a string, got {}", value.type_name())).at_argument(index)
        })
    }

    fn function(&self, index: usize, what: &str) -> Result<RetainedFunction, PluginError> {
        let value = self.required(index, what)?;
        retain(value, what).map_err(|error| error.at_argument(index))
    }

    fn owned(&self, index: usize) -> Result<Option<OwnedValue>, PluginError> {
        self.optional(index).map(|value| value.to_owned_value().map_err(|error| error.at_argument(index))).transpose()
    }
}

fn retain(value: &Value, what: &str) -> Result<RetainedFunction, PluginError> {
    if value.kind() != Kind::Function {
        return Err(PluginError::message(format!("the {what} must be a function, got {}", value.type_name())));
    }
    RetainedFunction::new(value)
}

type Handler = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

struct Symbol {
    written: &'static str,
    signature: &'static str,
    summary: &'static str,
    examples: &'static [&'static str],
    side_effects: bool,
    handler: Handler,
}

fn symbols() -> Vec<Symbol> {
    vec![
        Symbol {
            written: "@http_server",
            signature: "@http_server(port[, host])",
            summary: "Starts a server on host (default 127.0.0.1; port 0 picks a free one) that answers with the routes of @http_route; returns {host, port, address, url}. Other than loopback addresses need --allow-net for them.",
            examples: &["@http_server(0).host => \"127.0.0.1\""],
            side_effects: true,
            handler: http_server,
        },
        Symbol {
            written: "start_server",
            signature: "start_server([port[, host]])",
            summary: "The function form of @http_server (the port defaults to the configuration's `port`, 8080).",
            examples: &["start_server(0, \"127.0.0.1\").port > 0 => true"],
            side_effects: true,
            handler: http_server,
        },
        Symbol {
            written: "@http_route",
            signature: "@http_route(method, path, handler)",
            summary: "Answers method (GET, POST, …, or \"*\" for any) requests for path (`/users/:id`, `/files/*rest`) with handler(request); returns {method, path}.",
            examples: &[
                "@http_route(\"GET\", \"/users/:id\", req => {id: req.params.id}) => {\"method\": \"GET\", \"path\": \"/users/:id\"}",
            ],
            side_effects: true,
            handler: http_route,
        },
        Symbol {
            written: "add_route",
            signature: "add_route(method, path, handler)",
            summary: "The function form of @http_route.",
            examples: &[
                "add_route(\"post\", \"/items\", req => {status: 201, body: req.body}) => {\"method\": \"POST\", \"path\": \"/items\"}",
            ],
            side_effects: true,
            handler: http_route,
        },
        Symbol {
            written: "@http.route",
            signature: "@http.route(method, path, handler)",
            summary: "The same as @http_route.",
            examples: &[],
            side_effects: true,
            handler: http_route,
        },
        Symbol {
            written: "@http.websocket",
            signature: "@http.websocket(path, handler)",
            summary: "Takes websocket connections at path on the servers of @http_server: the server answers the upgrade and calls handler(request) with request.websocket, a ticket for the connection, which @websocket.accept(request, endpoint) takes (a GET without the upgrade gets 426). The same as @http_route(\"WEBSOCKET\", path, handler).",
            examples: &["@http.websocket(\"/chat\", req => null) => {\"method\": \"WEBSOCKET\", \"path\": \"/chat\"}"],
            side_effects: true,
            handler: http_websocket,
        },
        Symbol {
            written: "@http_middleware",
            signature: "@http_middleware(before | {before, after, path})",
            summary: "Runs before(request) ahead of every handler (null goes on, an object is added to the request, a {status, body} answers instead) and after(request, response) behind it (null keeps the response, another value replaces it), for the paths under `path`.",
            examples: &["@http_middleware(req => null) => true"],
            side_effects: true,
            handler: http_middleware,
        },
        Symbol {
            written: "@http.middleware",
            signature: "@http.middleware(before | {before, after, path})",
            summary: "The same as @http_middleware.",
            examples: &[],
            side_effects: true,
            handler: http_middleware,
        },
        Symbol {
            written: "@http.static",
            signature: "@http.static(prefix, folder)",
            summary: "Serves the files of folder under the URL prefix (index.html for folders; never `..`, hidden files or links out of it). The folder must be readable (--allow-read).",
            examples: &[],
            side_effects: true,
            handler: http_static,
        },
        Symbol {
            written: "@http.cors",
            signature: "@http.cors([options])",
            summary: "Answers CORS preflights and adds CORS headers: options origins (list, default any), methods, headers, expose, credentials, max_age.",
            examples: &[],
            side_effects: true,
            handler: http_cors,
        },
        Symbol {
            written: "@http.limits",
            signature: "@http.limits({max_body, timeout})",
            summary: "Sets the largest request body (bytes; 413 beyond) and the seconds middleware and handler may take (503 beyond); returns the limits.",
            examples: &[],
            side_effects: true,
            handler: http_limits,
        },
        Symbol {
            written: "@http.serve",
            signature: "@http.serve({port, host, routes, middleware, static, cors, limits})",
            summary: "Starts a server with its own routes (an object \"GET /path\": handler, or a list of {method, path, handler}), middleware, static folders, CORS and limits, all set before it listens; returns {host, port, address, url}.",
            examples: &[],
            side_effects: true,
            handler: http_serve,
        },
        Symbol {
            written: "@http.stop",
            signature: "@http.stop([port])",
            summary: "Stops the server on port (every server without one), letting requests in flight finish; returns how many stopped.",
            examples: &[],
            side_effects: true,
            handler: http_stop,
        },
        Symbol {
            written: "@http.servers",
            signature: "@http.servers()",
            summary: "The running servers: [{host, port, address, url}].",
            examples: &["type_of(@http.servers()) => \"array\""],
            side_effects: false,
            handler: http_servers,
        },
        Symbol {
            written: "@http.response",
            signature: "@http.response(status[, body[, headers]])",
            summary: "A response object {status, body, headers} for a handler to return.",
            examples: &["@http.response(201, {id: 1}) => {\"status\": 201, \"body\": {\"id\": 1}}"],
            side_effects: false,
            handler: http_response,
        },
        Symbol {
            written: "@http.get",
            signature: "@http.get(url[, options])",
            summary: "A GET request: {status, ok, headers, body, url, redirects}, body parsed when JSON. Options: headers, query, json, body, form, timeout (s), max_redirects, max_response. Needs --allow-net for the host.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, Some("GET")),
        },
        Symbol {
            written: "@http.post",
            signature: "@http.post(url[, options])",
            summary: "A POST request (body from options json, form or body); see @http.get.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, Some("POST")),
        },
        Symbol {
            written: "@http.put",
            signature: "@http.put(url[, options])",
            summary: "A PUT request; see @http.post.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, Some("PUT")),
        },
        Symbol {
            written: "@http.patch",
            signature: "@http.patch(url[, options])",
            summary: "A PATCH request; see @http.post.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, Some("PATCH")),
        },
        Symbol {
            written: "@http.delete",
            signature: "@http.delete(url[, options])",
            summary: "A DELETE request; see @http.get.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, Some("DELETE")),
        },
        Symbol {
            written: "@http.request",
            signature: "@http.request(method, url[, options])",
            summary: "A request with any method; see @http.get.",
            examples: &[],
            side_effects: true,
            handler: |state, args| request(state, args, None),
        },
    ]
}

pub fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    for symbol in symbols() {
        let state = state.clone();
        let handler = symbol.handler;
        let written = symbol.written;
        let doc = SymbolDoc {
            signature: symbol.signature.into(),
            summary: symbol.summary.into(),
            examples: symbol.examples.iter().map(|example| example.to_string()).collect(),
            side_effects: symbol.side_effects,
            ..SymbolDoc::default()
        };
        let call = move |values: &[Value]| handler(&state, &Args { values, symbol: written });
        match written.strip_prefix('@') {
            Some(name) => context.register_operator_with(name, doc, call)?,
            None => context.register_function_with(written, doc, call)?,
        }
    }
    Ok(())
}

fn server_info(address: SocketAddr) -> Value {
    let host = address.ip().to_string();
    let url_host = if address.is_ipv6() { format!("[{host}]") } else { host.clone() };
    Value::object(vec![
        ("host", Value::from(host)),
        ("port", Value::from(i64::from(address.port()))),
        ("address", Value::from(address.to_string())),
        ("url", Value::from(format!("http://{url_host}:{}", address.port()))),
    ])
}

/// Binds `host:port` on the interpreter's thread (where grants are checked and a busy port is
/// an error at the call), then serves `app` there.
fn listen(state: &State, host_name: &str, port: u16, app: SharedApp) -> Result<Value, PluginError> {
    let address = (host_name, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| PluginError::message(format!("cannot resolve the host `{host_name}`")))?;
    if !address.ip().is_loopback() {
        host::check_connect(host_name, port).map_err(|error| {
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
            message.push_str("; a sandboxed plugin may listen only with --allow-net for every host");
        }
        PluginError::message(message)
    })?;
    let bound = listener.local_addr().map_err(|error| PluginError::message(error.to_string()))?;
    let service = host_service(bound)?;
    let server = state.with_runtime(|runtime| Server::start(runtime, listener, app, service))?;
    lock(&state.servers).push(server);
    Ok(server_info(bound))
}

fn host_service(address: SocketAddr) -> Result<tusk_plugin_sdk::ServiceGuard, PluginError> {
    tusk_plugin_sdk::ServiceGuard::start(&format!("http {address}"))
}

fn port_argument(args: &Args<'_>, index: usize, default: u16) -> Result<u16, PluginError> {
    let Some(value) = args.optional(index) else { return Ok(default) };
    value.as_int().and_then(|port| u16::try_from(port).ok()).ok_or_else(|| {
        PluginError::message(format!("the port must be an integer from 0 to 65535, got {value:?}")).at_argument(index)
    })
}

fn http_server(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let port = if args.symbol == "start_server" {
        port_argument(args, 0, state.settings.port)?
    } else {
        args.required(0, "port")?;
        port_argument(args, 0, 0)?
    };
    let host_name = match args.optional(1) {
        Some(_) => args.string(1, "host")?,
        None => "127.0.0.1",
    };
    listen(state, host_name, port, state.default_app.clone())
}

fn method_name(text: &str) -> Result<Option<String>, String> {
    let upper = text.trim().to_ascii_uppercase();
    if upper == "*" || upper == "ANY" {
        return Ok(None);
    }
    if METHODS.contains(&upper.as_str()) {
        return Ok(Some(upper));
    }
    Err(format!(
        "`{text}` is not an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, \"*\" for any, or WEBSOCKET)"
    ))
}

/// A route; the method `WEBSOCKET` makes a websocket route (GET requests that upgrade).
fn new_route(method: &str, path: &str, handler: RetainedFunction) -> Result<Route, String> {
    let websocket = method.trim().eq_ignore_ascii_case("websocket");
    let method = if websocket { Some("GET".to_string()) } else { method_name(method)? };
    Ok(Route { method, pattern: Pattern::parse(path)?, handler, websocket })
}

fn add_route(app: &mut App, route: Route) {
    // A route for the same method and pattern replaces the old one.
    app.routes.retain(|existing| !(existing.method == route.method && existing.pattern == route.pattern));
    app.routes.push(route);
}

fn http_route(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let method = args.string(0, "method")?;
    let path = args.string(1, "path")?;
    let handler = args.function(2, "handler")?;
    let route = new_route(method, path, handler).map_err(|message| {
        let index = if message.contains("HTTP method") { 0 } else { 1 };
        PluginError::message(message).at_argument(index)
    })?;
    let method = match &route.method {
        _ if route.websocket => "WEBSOCKET".to_string(),
        Some(method) => method.clone(),
        None => "*".to_string(),
    };
    let info = Value::object(vec![("method", Value::from(method)), ("path", Value::from(path))]);
    state.default_app.update(|app| add_route(app, route));
    Ok(info)
}

/// `@http.websocket(path, handler)`: `@http_route("WEBSOCKET", path, handler)`.
fn http_websocket(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let path = args.string(0, "path")?;
    let handler = args.function(1, "handler")?;
    let route =
        new_route("WEBSOCKET", path, handler).map_err(|message| PluginError::message(message).at_argument(0))?;
    state.default_app.update(|app| add_route(app, route));
    Ok(Value::object(vec![("method", Value::from("WEBSOCKET")), ("path", Value::from(path))]))
}

fn middleware_from(value: &Value) -> Result<Middleware, PluginError> {
    if value.kind() == Kind::Function {
        return Ok(Middleware { before: Some(retain(value, "middleware")?), after: None, prefix: String::new() });
    }
    let Some(object) = value.as_object() else {
        return Err(PluginError::message(format!(
            "a middleware is a function or an object {{before, after, path}}, got {}",
            value.type_name()
        )));
    };
    let mut middleware = Middleware { before: None, after: None, prefix: String::new() };
    for (key, entry) in object.entries() {
        match key {
            "before" => middleware.before = Some(retain(&entry, "`before` middleware")?),
            "after" => middleware.after = Some(retain(&entry, "`after` middleware")?),
            "path" => {
                let prefix = entry
                    .as_str()
                    .filter(|prefix| prefix.starts_with('/'))
                    .ok_or_else(|| PluginError::message("the middleware's `path` must be a path starting with `/`"))?;
                middleware.prefix = prefix.to_string();
            }
            other => {
                return Err(PluginError::message(format!(
                    "a middleware object has no `{other}` (it has before, after and path)"
                )));
            }
        }
    }
    if middleware.before.is_none() && middleware.after.is_none() {
        return Err(PluginError::missing_argument("the middleware needs `before` or `after`"));
    }
    Ok(middleware)
}

fn http_middleware(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let middleware = middleware_from(args.required(0, "middleware")?).map_err(|error| error.at_argument(0))?;
    state.default_app.update(|app| app.middleware.push(middleware));
    Ok(Value::from(true))
}

/// A static folder, after checking that the user lets plugins read it.
fn static_dir(prefix: &str, folder: &str) -> Result<StaticDir, PluginError> {
    if !prefix.starts_with('/') {
        return Err(PluginError::message(format!("the URL prefix `{prefix}` must start with `/`")).at_argument(0));
    }
    let resolved = PathBuf::from(host::resolve_path(folder));
    if !resolved.is_dir() {
        return Err(PluginError::message(format!("`{folder}` is not a folder")).at_argument(1));
    }
    // The host checks the read grant before anything else; reading a folder as a file then
    // fails, which is expected: only a refusal matters here.
    if let Err(error) = host::read_file(&resolved.to_string_lossy())
        && error.kind() == ErrorKind::PermissionDenied
    {
        return Err(PluginError::permission_denied(format!("serving {folder}: {}", error.message_text()))
            .with_help(format!("grant it with --allow-read={}", resolved.display()))
            .at_argument(1));
    }
    Ok(StaticDir { prefix: prefix.to_string(), folder: resolved })
}

fn http_static(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let dir = static_dir(args.string(0, "URL prefix")?, args.string(1, "folder")?)?;
    let folder = dir.folder.to_string_lossy().to_string();
    state.default_app.update(|app| app.statics.push(dir));
    Ok(Value::from(folder))
}

fn string_list(value: &OwnedValue, what: &str) -> Result<Vec<String>, PluginError> {
    match value {
        OwnedValue::String(text) => Ok(vec![text.clone()]),
        OwnedValue::Array(items) => items
            .iter()
            .map(|item| match item {
                OwnedValue::String(text) => Ok(text.clone()),
                _ => Err(PluginError::message(format!("`{what}` must be a list of strings"))),
            })
            .collect(),
        _ => Err(PluginError::message(format!("`{what}` must be a string or a list of strings"))),
    }
}

fn cors_from(value: Option<OwnedValue>) -> Result<Option<Cors>, PluginError> {
    let entries = match value {
        None | Some(OwnedValue::Bool(true)) => return Ok(Some(Cors::default())),
        Some(OwnedValue::Bool(false)) => return Ok(None),
        Some(OwnedValue::Object(entries)) => entries,
        Some(_) => return Err(PluginError::message("CORS options must be an object (or true / false)")),
    };
    let mut cors = Cors::default();
    for (key, value) in entries {
        match key.as_str() {
            "origins" => {
                let origins = string_list(&value, "origins")?;
                cors.origins = (!origins.iter().any(|origin| origin == "*")).then_some(origins);
            }
            "methods" => {
                cors.methods = string_list(&value, "methods")?.iter().map(|m| m.to_ascii_uppercase()).collect()
            }
            "headers" => cors.headers = Some(string_list(&value, "headers")?),
            "expose" => cors.expose = string_list(&value, "expose")?,
            "credentials" => {
                cors.credentials = matches!(value, OwnedValue::Bool(true));
            }
            "max_age" => match value {
                OwnedValue::Int(seconds) if seconds >= 0 => cors.max_age = Some(seconds as u64),
                OwnedValue::Null => cors.max_age = None,
                _ => return Err(PluginError::message("`max_age` must be a number of seconds")),
            },
            other => {
                return Err(PluginError::message(format!(
                    "CORS has no option `{other}` (origins, methods, headers, expose, credentials, max_age)"
                )));
            }
        }
    }
    Ok(Some(cors))
}

fn http_cors(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let cors = cors_from(args.owned(0)?).map_err(|error| error.at_argument(0))?;
    let enabled = cors.is_some();
    state.default_app.update(|app| app.cors = cors);
    Ok(Value::from(enabled))
}

fn limits_from(app: &mut App, value: OwnedValue) -> Result<(), PluginError> {
    let OwnedValue::Object(entries) = value else {
        return Err(PluginError::message("the limits must be an object {max_body, timeout}"));
    };
    for (key, value) in entries {
        match (key.as_str(), value) {
            ("max_body", OwnedValue::Int(bytes)) if bytes >= 0 => app.limits.max_body = bytes as usize,
            ("timeout", OwnedValue::Int(n)) => app.limits.timeout = seconds("timeout", n as f64)?,
            ("timeout", OwnedValue::Float(n)) => app.limits.timeout = seconds("timeout", n)?,
            (key, _) if key == "max_body" || key == "timeout" => {
                return Err(PluginError::message(format!("`{key}` must be a positive number")));
            }
            (other, _) => return Err(PluginError::message(format!("there is no limit `{other}` (max_body, timeout)"))),
        }
    }
    Ok(())
}

fn limits_value(app: &App) -> Value {
    Value::object(vec![
        ("max_body", Value::from(app.limits.max_body)),
        ("timeout", Value::from(app.limits.timeout.as_secs_f64())),
    ])
}

fn http_limits(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    if let Some(value) = args.owned(0)? {
        let mut updated = App::clone(&state.default_app.current());
        limits_from(&mut updated, value).map_err(|error| error.at_argument(0))?;
        state.default_app.update(|app| app.limits = updated.limits);
    }
    Ok(limits_value(&state.default_app.current()))
}

/// `@http.serve({...})`: a server with its own app, complete before it listens.
fn http_serve(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let options = args.required(0, "options")?;
    let object = options
        .as_object()
        .ok_or_else(|| PluginError::message("the options must be an object {port, host, routes, …}").at_argument(0))?;
    let mut app = App::new(state.settings.limits()?);
    let mut port = state.settings.port;
    let mut host_name = "127.0.0.1".to_string();
    let fail = |error: PluginError| error.at_argument(0);
    for (key, value) in object.entries() {
        match key {
            "port" => {
                port = value
                    .as_int()
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| fail(PluginError::message("`port` must be an integer from 0 to 65535")))?;
            }
            "host" => {
                host_name =
                    value.as_str().ok_or_else(|| fail(PluginError::message("`host` must be a string")))?.to_string();
            }
            "routes" => add_routes(&mut app, &value).map_err(fail)?,
            "middleware" => match value.as_array() {
                Some(list) => {
                    for item in list.iter() {
                        app.middleware.push(middleware_from(&item).map_err(fail)?);
                    }
                }
                None => app.middleware.push(middleware_from(&value).map_err(fail)?),
            },
            "static" => {
                let entries = value.as_object().ok_or_else(|| {
                    fail(PluginError::message("`static` must be an object {\"/prefix\": \"folder\"}"))
                })?;
                for (prefix, folder) in entries.entries() {
                    let folder = folder
                        .as_str()
                        .ok_or_else(|| fail(PluginError::message("a static folder must be a string")))?;
                    app.statics.push(static_dir(prefix, folder).map_err(fail)?);
                }
            }
            "cors" => app.cors = cors_from(Some(value.to_owned_value()?)).map_err(fail)?,
            "limits" => limits_from(&mut app, value.to_owned_value()?).map_err(fail)?,
            other => {
                return Err(fail(PluginError::message(format!(
                    "@http.serve has no option `{other}` (port, host, routes, middleware, static, cors, limits)"
                ))));
            }
        }
    }
    listen(state, &host_name, port, SharedApp::new(app))
}

/// `routes: {"GET /users/:id": fn, "/health": fn}` or `[{method, path, handler}]`.
fn add_routes(app: &mut App, value: &Value) -> Result<(), PluginError> {
    if let Some(object) = value.as_object() {
        for (key, handler) in object.entries() {
            let (method, path) = match key.split_once(' ') {
                Some((method, path)) => (method, path.trim()),
                None => ("*", key),
            };
            let handler = retain(&handler, &format!("handler of `{key}`"))?;
            add_route(app, new_route(method, path, handler).map_err(PluginError::message)?);
        }
        return Ok(());
    }
    let list = value.as_array().ok_or_else(|| {
        PluginError::message("`routes` must be an object {\"GET /path\": handler} or a list of {method, path, handler}")
    })?;
    for item in list.iter() {
        let entry = item
            .as_object()
            .ok_or_else(|| PluginError::message("each route must be an object {method, path, handler}"))?;
        let method =
            entry.get("method").and_then(|m| m.as_str().map(str::to_string)).unwrap_or_else(|| "*".to_string());
        let path = entry
            .get("path")
            .and_then(|p| p.as_str().map(str::to_string))
            .ok_or_else(|| PluginError::missing_argument("a route's `path`"))?;
        let handler = entry.get("handler").ok_or_else(|| PluginError::missing_argument("a route's `handler`"))?;
        let handler = retain(&handler, &format!("handler of `{path}`"))?;
        add_route(app, new_route(&method, &path, handler).map_err(PluginError::message)?);
    }
    Ok(())
}

fn http_stop(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let port = args.optional(0).map(|_| port_argument(args, 0, 0)).transpose()?;
    let stopping: Vec<Server> = {
        let mut servers = lock(&state.servers);
        let (stop, keep): (Vec<Server>, Vec<Server>) = std::mem::take(&mut *servers)
            .into_iter()
            .partition(|server| port.is_none_or(|port| server.address.port() == port));
        *servers = keep;
        stop
    };
    let count = stopping.len();
    let runtime = lock(&state.runtime);
    if let Some(runtime) = runtime.as_ref() {
        for server in stopping {
            server.stop(runtime);
        }
    }
    Ok(Value::from(count))
}

fn http_servers(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(0)?;
    Ok(Value::array(lock(&state.servers).iter().map(|server| server_info(server.address)).collect()))
}

fn http_response(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let status = args.required(0, "status")?;
    let code = status
        .as_int()
        .filter(|code| (100..=999).contains(code))
        .ok_or_else(|| PluginError::message("the status must be an integer from 100 to 999").at_argument(0))?;
    let mut entries = vec![("status", Value::from(code))];
    if let Some(body) = args.optional(1) {
        entries.push(("body", body.clone()));
    }
    if let Some(headers) = args.optional(2) {
        if headers.kind() != Kind::Object {
            return Err(PluginError::message("the headers must be an object").at_argument(2));
        }
        entries.push(("headers", headers.clone()));
    }
    Ok(Value::object(entries))
}

/// The client's operators.
fn request(state: &State, args: &Args<'_>, method: Option<&str>) -> Result<Value, PluginError> {
    let offset = usize::from(method.is_none());
    args.at_most(2 + offset)?;
    let method = match method {
        Some(method) => method.to_string(),
        None => {
            let text = args.string(0, "method")?;
            method_name(text)
                .map_err(|message| PluginError::message(message).at_argument(0))?
                .ok_or_else(|| PluginError::message("a request needs one method, not \"*\"").at_argument(0))?
        }
    };
    let url = args.string(offset, "URL")?.to_string();
    let settings = &state.settings;
    let mut options = client::Options {
        method,
        url,
        headers: Vec::new(),
        query: Vec::new(),
        body: None,
        timeout: seconds("client_timeout", settings.client_timeout)?,
        max_redirects: settings.max_redirects,
        max_response: settings.max_response,
    };
    if let Some(given) = args.owned(offset + 1)? {
        client_options(&mut options, given).map_err(|error| error.at_argument(offset + 1))?;
    }
    client::send(options).map(OwnedValue::into_value)
}

fn text_pairs(value: OwnedValue, what: &str) -> Result<Vec<(String, String)>, PluginError> {
    let OwnedValue::Object(entries) = value else {
        return Err(PluginError::message(format!("`{what}` must be an object")));
    };
    entries
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                OwnedValue::String(text) => text,
                OwnedValue::Int(n) => n.to_string(),
                OwnedValue::Float(n) => n.to_string(),
                OwnedValue::Bool(b) => b.to_string(),
                _ => return Err(PluginError::message(format!("`{what}.{name}` must be text or a number"))),
            };
            Ok((name, text))
        })
        .collect()
}

fn client_options(options: &mut client::Options, given: OwnedValue) -> Result<(), PluginError> {
    let OwnedValue::Object(entries) = given else {
        return Err(PluginError::message(
            "the options must be an object {headers, query, json, body, form, timeout, max_redirects}",
        ));
    };
    for (key, value) in entries {
        match key.as_str() {
            "headers" => options.headers = text_pairs(value, "headers")?,
            "query" => options.query = text_pairs(value, "query")?,
            "json" => {
                let bytes = serde_json::to_vec(&value).map_err(|error| PluginError::message(error.to_string()))?;
                options.body = Some((bytes, Some("application/json")));
            }
            "form" => {
                let pairs = text_pairs(value, "form")?;
                let text = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
                options.body = Some((text.into_bytes(), Some("application/x-www-form-urlencoded")));
            }
            "body" => match value {
                OwnedValue::String(text) => options.body = Some((text.into_bytes(), Some("text/plain; charset=utf-8"))),
                // A byte string is sent as its bytes, not as JSON's base64 text of them.
                OwnedValue::Bytes(data) => options.body = Some((data, Some("application/octet-stream"))),
                OwnedValue::Null => options.body = None,
                other => {
                    let bytes = serde_json::to_vec(&other).map_err(|error| PluginError::message(error.to_string()))?;
                    options.body = Some((bytes, Some("application/json")));
                }
            },
            "timeout" => {
                let seconds_given = match value {
                    OwnedValue::Int(n) => n as f64,
                    OwnedValue::Float(n) => n,
                    _ => return Err(PluginError::message("`timeout` must be a number of seconds")),
                };
                options.timeout = seconds("timeout", seconds_given)?;
            }
            "max_redirects" => match value {
                OwnedValue::Int(n) if n >= 0 => options.max_redirects = u32::try_from(n).unwrap_or(u32::MAX),
                _ => return Err(PluginError::message("`max_redirects` must be an integer ≥ 0")),
            },
            "max_response" => match value {
                OwnedValue::Int(n) if n > 0 => options.max_response = n as usize,
                _ => return Err(PluginError::message("`max_response` must be a number of bytes > 0")),
            },
            other => {
                return Err(PluginError::message(format!(
                    "a request has no option `{other}` (headers, query, json, body, form, timeout, max_redirects, max_response)"
                )));
            }
        }
    }
    Ok(())
}
