//! The server: axum on a tokio runtime of the plugin's own threads, handing each request to
//! the script's functions through the host's event loop.
//!
//! A request goes through, in order: CORS preflight (answered here), the body limit (413),
//! static folders, the route table (404, 405), the request object (400 for a JSON body that
//! is not JSON), the before-middleware, the handler, the after-middleware (under the time
//! limit: 503 past it), then CORS headers. Script functions run on the interpreter's thread,
//! one at a time, through [`RetainedFunction::post`]; the tokio task waits for the answer
//! without holding a thread.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use tusk_plugin_sdk::{ErrorKind, OwnedValue, PluginError, RetainedFunction, ServiceGuard};

use crate::app::{App, Cors, Route, SharedApp, StaticDir, under};
use crate::message::{Body, Incoming, Reply, request_value};
use crate::routes::{self, decoded_segments};

/// How long stopping a server waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A listening server. Stops when [`Server::stop`] is called or it is dropped.
pub struct Server {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _service: ServiceGuard,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `app` on `listener` (bound already, on the interpreter's thread) from now on.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        listener: std::net::TcpListener,
        app: SharedApp,
        service: ServiceGuard,
    ) -> Result<Server, PluginError> {
        let address = listener.local_addr().map_err(|error| PluginError::message(error.to_string()))?;
        listener.set_nonblocking(true).map_err(|error| PluginError::message(error.to_string()))?;
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|error| PluginError::message(format!("cannot serve on {address}: {error}")))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(accept_loop(listener, app, stopped));
        Ok(Server { address, stop: Some(stop), task: Some(task), _service: service })
    }

    /// Stops accepting, lets requests in flight finish (for a few seconds at most), then ends
    /// the service.
    pub fn stop(mut self, runtime: &tokio::runtime::Runtime) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            let _ = runtime.block_on(async { tokio::time::timeout(STOP_GRACE, task).await });
        }
    }

    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Accepts connections until `stopped`, then lets the requests in flight finish.
///
/// Each connection is served by hyper's HTTP/1 connection directly, over the TCP stream
/// itself (`axum::serve` would wrap it in a type of its own): a websocket upgrade then gets
/// the socket back from hyper and can hand it to the websocket plugin (`crate::upgrade`).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: SharedApp,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    // Turned true at the stop: each connection finishes its request in flight, then closes.
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: breathe and go on (as `axum::serve` does).
                    eprintln!("[http] accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
            // Reap finished connections so the set stays small on a long-running server.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.current();
            async move { Ok::<_, std::convert::Infallible>(handle(app, peer, request.map(axum::body::Body::new)).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .with_upgrades();
        let mut closed = closing.subscribe();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // A client that goes away mid-request is its own business, not the server's.
            let stop = async move {
                // The guard `wait_for` returns is not `Send`: only whether it came matters.
                let _ = closed.wait_for(|closing| *closing).await.is_ok();
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    closing.send_replace(true);
    while connections.join_next().await.is_some() {}
}

/// Calls a script function on the interpreter's thread and waits (asynchronously) for it.
pub async fn call(function: &RetainedFunction, args: Vec<OwnedValue>) -> Result<OwnedValue, PluginError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    function.post(args, move |outcome| {
        let _ = sender.send(outcome);
    })?;
    receiver.await.unwrap_or_else(|_| Err(PluginError::message("the host dropped the call without an answer")))
}

async fn handle(app: Arc<App>, peer: SocketAddr, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let origin = parts.headers.get(header::ORIGIN).and_then(|origin| origin.to_str().ok()).map(str::to_string);
    if let (Some(cors), Some(origin)) = (&app.cors, &origin)
        && parts.method == axum::http::Method::OPTIONS
        && parts.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(cors, origin, &parts.headers);
    }
    if let Some(segments) = decoded_segments(parts.uri.path()) {
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some((route, params)) = choose(&app, parts.method.as_str(), &segments)
            && route.websocket
        {
            let (route, params) = (route.clone(), params);
            let mut response = crate::upgrade::websocket(&app, route, params, &mut parts, peer).await;
            if let (Some(cors), Some(origin)) = (&app.cors, &origin) {
                add_cors_headers(cors, origin, response.headers_mut());
            }
            return response;
        }
    }
    let reply = match read_body(&parts.headers, body, app.limits.max_body).await {
        Ok(bytes) => respond(&app, &parts, &bytes, peer).await,
        Err(reply) => reply,
    };
    let mut response = reply.into_response().unwrap_or_else(|message| {
        eprintln!("[http] {} {}: the script's response cannot be sent: {message}", parts.method, parts.uri.path());
        internal_error()
    });
    if let (Some(cors), Some(origin)) = (&app.cors, &origin) {
        add_cors_headers(cors, origin, response.headers_mut());
    }
    response
}

pub(crate) fn internal_error() -> Response {
    Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        .into_response()
        .unwrap_or_else(|_| Response::new(axum::body::Body::empty()))
}

/// The body, up to `limit` bytes; 413 beyond (told by `Content-Length` before reading).
async fn read_body(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Result<Vec<u8>, Reply> {
    let too_large =
        || Reply::error(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {limit} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => {
            Err(Reply::error(StatusCode::BAD_REQUEST, format!("the request body could not be read: {error}")))
        }
    }
}

async fn respond(app: &App, parts: &axum::http::request::Parts, body: &[u8], peer: SocketAddr) -> Reply {
    let path = parts.uri.path();
    let Some(segments) = decoded_segments(path) else {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "the path is not valid (bad percent-encoding, or an encoded `/`)",
        );
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = parts.method.as_str();
    let Some((route, params)) = choose(app, method, &segments) else {
        if matches!(method, "GET" | "HEAD")
            && let Some(reply) = static_file(&app.statics, path, &segments).await
        {
            return reply;
        }
        let allowed: Vec<&str> = app
            .routes
            .iter()
            .filter(|route| route.pattern.matches(&segments).is_some())
            .filter_map(|route| route.method.as_deref())
            .collect();
        if allowed.is_empty() {
            return Reply::error(StatusCode::NOT_FOUND, format!("no route for {method} {path}"));
        }
        let mut reply = Reply::error(StatusCode::METHOD_NOT_ALLOWED, format!("{path} does not answer {method}"));
        let mut allowed: Vec<String> = allowed.into_iter().map(str::to_string).collect();
        allowed.sort();
        allowed.dedup();
        reply.headers.push(("allow".into(), allowed.join(", ")));
        return reply;
    };
    let incoming = Incoming {
        method,
        path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
        ip: peer.ip().to_string(),
        route: route.pattern.text(),
        params,
    };
    let request = match request_value(incoming) {
        Ok(request) => request,
        Err(refusal) => return Reply::error(refusal.status, refusal.message),
    };
    let description = format!("{method} {path}");
    match tokio::time::timeout(app.limits.timeout, run_scripts(app, route, request, &description)).await {
        Ok(reply) => reply,
        Err(_) => Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the handler did not answer within {}", seconds(app.limits.timeout)),
        ),
    }
}

/// The route that answers `method` for the path `segments`, and the parameters it captured.
pub(crate) fn choose<'a>(app: &'a App, method: &str, segments: &[&str]) -> Option<(&'a Route, routes::Params)> {
    let fits = |route: &&Route| match &route.method {
        None => true,
        Some(wanted) => wanted == method || (method == "HEAD" && wanted == "GET"),
    };
    let (index, params) = routes::best(app.routes.iter().filter(fits).map(|route| &route.pattern), segments)?;
    let route = app.routes.iter().filter(fits).nth(index)?;
    Some((route, params))
}

pub(crate) fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

/// What the before-middleware made of a request.
pub(crate) enum Before {
    /// Go on to the handler with the request as they left it.
    Continue(OwnedValue),
    /// One of them answered instead (the after-middleware still runs, with the request).
    Answered(OwnedValue, Reply),
    /// One of them failed: the answer, as it is.
    Failed(Reply),
}

/// The before-middleware of the path of `description` (`METHOD /path`).
pub(crate) async fn run_before(app: &App, mut request: OwnedValue, description: &str) -> Before {
    let path = description.split_once(' ').map_or("", |(_, path)| path);
    for before in app.middleware.iter().filter(|m| m.applies_to(path)).filter_map(|m| m.before.as_ref()) {
        match call(before, vec![request.clone()]).await {
            Err(error) => return Before::Failed(failure(&error, "a middleware", description)),
            Ok(OwnedValue::Null | OwnedValue::Bool(true)) => {}
            Ok(value) if Reply::is_response_object(&value) => {
                let reply = script_reply(value, "a middleware", description);
                return Before::Answered(request, reply);
            }
            Ok(OwnedValue::Object(extra)) => {
                if let OwnedValue::Object(entries) = &mut request {
                    for (key, value) in extra {
                        match entries.iter_mut().find(|(existing, _)| *existing == key) {
                            Some(entry) => entry.1 = value,
                            None => entries.push((key, value)),
                        }
                    }
                }
            }
            Ok(other) => {
                eprintln!(
                    "[http] {description}: a middleware returned {}; it must return null (go on), an object to add to the request, or a response ({{status, body}})",
                    serde_json::to_string(&other).unwrap_or_default()
                );
                return Before::Failed(Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"));
            }
        }
    }
    Before::Continue(request)
}

/// Before-middleware, handler, after-middleware.
async fn run_scripts(app: &App, route: &Route, request: OwnedValue, description: &str) -> Reply {
    let path = description.split_once(' ').map_or("", |(_, path)| path);
    let middleware: Vec<_> = app.middleware.iter().filter(|m| m.applies_to(path)).collect();
    let (mut request, reply) = match run_before(app, request, description).await {
        Before::Continue(request) => (request, None),
        Before::Answered(request, reply) => (request, Some(reply)),
        Before::Failed(reply) => return reply,
    };
    let has_after = middleware.iter().any(|m| m.after.is_some());
    let mut reply = match reply {
        Some(reply) => reply,
        // The request goes to the handler as it is unless an after-middleware needs it too.
        None => match call(
            &route.handler,
            vec![if has_after { request.clone() } else { std::mem::replace(&mut request, OwnedValue::Null) }],
        )
        .await
        {
            Ok(value) => script_reply(value, "the handler", description),
            Err(error) => failure(&error, "the handler", description),
        },
    };
    for after in middleware.iter().rev().filter_map(|m| m.after.as_ref()) {
        match call(after, vec![request.clone(), reply.to_value()]).await {
            Ok(OwnedValue::Null) => {}
            Ok(value) => reply = script_reply(value, "an after-middleware", description),
            Err(error) => return failure(&error, "an after-middleware", description),
        }
    }
    reply
}

fn script_reply(value: OwnedValue, who: &str, description: &str) -> Reply {
    Reply::from_value(value).unwrap_or_else(|message| {
        eprintln!("[http] {description}: {who} returned an invalid response: {message}");
        Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    })
}

/// The answer to a script function that failed: 401 and 403 for the auth plugin's refusals
/// (their text is meant for the client), 503 while tusk shuts down, else 500 (the host has
/// written the script's error, with its location, to the log).
pub(crate) fn failure(error: &PluginError, who: &str, description: &str) -> Reply {
    let text = error.to_string();
    for (marker, status) in [("unauthorized:", StatusCode::UNAUTHORIZED), ("forbidden:", StatusCode::FORBIDDEN)] {
        if let Some(at) = text.find(marker) {
            return Reply::error(status, text[at..].to_string());
        }
    }
    if text.contains("tusk is shutting down") {
        return Reply::error(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down");
    }
    if error.kind() != ErrorKind::Script {
        eprintln!("[http] {description}: {who} could not be called: {text}");
    }
    Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

fn preflight(cors: &Cors, origin: &str, headers: &HeaderMap) -> Response {
    let Some(allowed) = cors.allow_origin(origin) else {
        let mut response = Reply::error(StatusCode::FORBIDDEN, format!("the origin {origin} may not call this server"))
            .into_response()
            .unwrap_or_else(|_| internal_error());
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    };
    let mut reply = Reply { status: 204, headers: Vec::new(), body: Body::Empty };
    reply.headers.push(("access-control-allow-origin".into(), allowed));
    reply.headers.push(("access-control-allow-methods".into(), cors.methods.join(", ")));
    let requested =
        headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(|value| value.to_str().ok()).map(str::to_string);
    let allowed_headers = match &cors.headers {
        Some(list) => Some(list.join(", ")),
        None => requested,
    };
    if let Some(allowed_headers) = allowed_headers.filter(|text| !text.is_empty()) {
        reply.headers.push(("access-control-allow-headers".into(), allowed_headers));
    }
    if cors.credentials {
        reply.headers.push(("access-control-allow-credentials".into(), "true".into()));
    }
    if let Some(max_age) = cors.max_age {
        reply.headers.push(("access-control-max-age".into(), max_age.to_string()));
    }
    reply.headers.push(("vary".into(), "Origin".into()));
    reply.into_response().unwrap_or_else(|_| internal_error())
}

fn add_cors_headers(cors: &Cors, origin: &str, headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(allowed) = cors.allow_origin(origin).and_then(|allowed| HeaderValue::from_str(&allowed).ok()) else {
        return;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if cors.credentials {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    if !cors.expose.is_empty()
        && let Ok(expose) = HeaderValue::from_str(&cors.expose.join(", "))
    {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose);
    }
}

/// A file of a static folder, if the path is under one and names a file in it (`index.html`
/// for a folder). `..`, hidden files (a segment starting with `.`) and links leading out of
/// the folder are never served.
async fn static_file(statics: &[StaticDir], path: &str, segments: &[&str]) -> Option<Reply> {
    for dir in statics.iter().filter(|dir| under(path, &dir.prefix)) {
        let depth = dir.prefix.split('/').filter(|segment| !segment.is_empty()).count();
        let rest = segments.get(depth..).unwrap_or_default();
        if rest.iter().any(|segment| segment.is_empty() || segment.starts_with('.') || segment.contains('\\')) {
            continue;
        }
        let mut file: PathBuf = dir.folder.clone();
        file.extend(rest);
        if !file.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_) | Component::Prefix(_))) {
            continue;
        }
        if let Some(reply) = read_inside(&dir.folder, &file).await {
            return Some(reply);
        }
    }
    None
}

async fn read_inside(folder: &Path, file: &Path) -> Option<Reply> {
    let root = tokio::fs::canonicalize(folder).await.ok()?;
    let mut resolved = tokio::fs::canonicalize(file).await.ok()?;
    if !resolved.starts_with(&root) {
        return None;
    }
    if tokio::fs::metadata(&resolved).await.ok()?.is_dir() {
        resolved = tokio::fs::canonicalize(resolved.join("index.html")).await.ok()?;
        if !resolved.starts_with(&root) {
            return None;
        }
    }
    let bytes = tokio::fs::read(&resolved).await.ok()?;
    let content_type = content_type_of(&resolved);
    Some(Reply { status: 200, headers: Vec::new(), body: Body::Bytes(bytes, content_type.to_string()) })
}

/// The content type by extension (the common web types; anything else is bytes).
pub fn content_type_of(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "tsk" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
