//! Websocket routes: the server answers the upgrade itself and hands the connection, through the
//! host, to whichever plugin the route's handler gives its ticket to.
//!
//! The websocket plugin is another library with its own runtime and connection hub, so the two
//! share no Rust object; they share the process's descriptors. After the `101` the TCP socket
//! is taken back from hyper, deposited with the host with the bytes hyper read ahead, and the
//! handler is called with the request and `websocket`, the deposit's ticket: the handler's
//! `@websocket.accept(req, endpoint)` takes the socket and serves it in the websocket plugin,
//! where `broadcast_message` and rooms reach it like the plugin's own connections. A ticket the
//! handler leaves is taken back here and the connection closed with a close frame saying why.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tusk_plugin_sdk::{ErrorKind, OwnedValue, RetainedFunction, host};

use crate::app::{App, Route};
use crate::message::{Incoming, Reply, request_value};
use crate::routes::Params;
use crate::server::{Before, call, internal_error, run_before, seconds};

/// Close codes of the connections no endpoint took (RFC 6455 §7.4.1).
const POLICY: u16 = 1008;
const INTERNAL: u16 = 1011;

/// True when the header's comma-separated tokens include `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

fn answer(reply: Reply) -> Response {
    reply.into_response().unwrap_or_else(|_| internal_error())
}

/// Answers a request for the websocket route `route`: `426` without the upgrade, `400` for a
/// broken handshake, the before-middleware's answer when one answers, else `101`, after which
/// the connection goes to the handler (on a task of its own).
pub async fn websocket(
    app: &Arc<App>,
    route: Route,
    params: Params,
    parts: &mut axum::http::request::Parts,
    peer: SocketAddr,
) -> Response {
    let path = parts.uri.path().to_string();
    let headers = &parts.headers;
    if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket") {
        let mut reply = Reply::error(
            StatusCode::UPGRADE_REQUIRED,
            format!(
                "{path} takes websocket connections only: connect with a websocket client (the request did not ask for `Upgrade: websocket`)"
            ),
        );
        reply.headers.push(("upgrade".into(), "websocket".into()));
        return answer(reply);
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|value| value.to_str().ok()).unwrap_or("");
    if version.trim() != "13" {
        let mut reply = Reply::error(
            StatusCode::UPGRADE_REQUIRED,
            format!("this server speaks websocket version 13, the request asked for `{version}`"),
        );
        reply.headers.push(("sec-websocket-version".into(), "13".into()));
        return answer(reply);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes).map(<[u8]>::to_vec) else {
        return answer(Reply::error(StatusCode::BAD_REQUEST, "the websocket handshake has no Sec-WebSocket-Key"));
    };
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return answer(Reply::error(StatusCode::BAD_REQUEST, "this connection cannot be upgraded"));
    };
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &[],
        ip: peer.ip().to_string(),
        route: route.pattern.text(),
        params,
    };
    let request = match request_value(incoming) {
        Ok(request) => request,
        Err(refusal) => return answer(Reply::error(refusal.status, refusal.message)),
    };
    let description = format!("{} {path}", parts.method);
    // The before-middleware decide before the upgrade (an authentication check answers 401 as
    // HTTP); the after-middleware do not apply: a connection has no response to rewrite.
    let request = match tokio::time::timeout(app.limits.timeout, run_before(app, request, &description)).await {
        Ok(Before::Continue(request)) => request,
        Ok(Before::Answered(_, reply) | Before::Failed(reply)) => return answer(reply),
        Err(_) => {
            return answer(Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the middleware did not answer within {}", seconds(app.limits.timeout)),
            ));
        }
    };
    tokio::spawn(hand_over(on_upgrade, route.handler, request, description, app.limits.timeout));
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(&key)) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Once the `101` is out: takes the socket from hyper, deposits it with the host and calls the
/// handler with the ticket; closes the connection if the handler did not take it.
async fn hand_over(
    on_upgrade: OnUpgrade,
    handler: RetainedFunction,
    request: OwnedValue,
    description: String,
    timeout: std::time::Duration,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            eprintln!("[http] {description}: the websocket upgrade failed: {error}");
            return;
        }
    };
    let Ok(hyper::upgrade::Parts { io, read_buf, .. }) = upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() else {
        // The server serves TCP streams only: this cannot happen short of a change there.
        eprintln!("[http] {description}: the upgraded connection is not a TCP stream; it is closed");
        return;
    };
    let stream = match io.into_inner().into_std() {
        Ok(stream) => stream,
        Err(error) => {
            eprintln!("[http] {description}: the upgraded connection cannot be handed over: {error}");
            return;
        }
    };
    // A second descriptor of the socket, to say goodbye with if the host refuses the deposit
    // (which then closes the one it was given).
    let spare = stream.try_clone().ok();
    let ticket = match host::deposit_socket(OwnedFd::from(stream), &read_buf) {
        Ok(ticket) => ticket,
        Err(error) => {
            let reason = error.message_text();
            eprintln!("[http] {description}: the websocket connection cannot be handed over: {reason}");
            if let Some(spare) = spare {
                close_with(OwnedFd::from(spare), INTERNAL, reason).await;
            }
            return;
        }
    };
    drop(spare);
    let mut request = request;
    if let OwnedValue::Object(entries) = &mut request {
        entries.push(("websocket".into(), OwnedValue::Int(i64::try_from(ticket).unwrap_or(i64::MAX))));
    }
    let outcome = tokio::time::timeout(timeout, call(&handler, vec![request])).await;
    // Taken: the handler handed the connection on. Else it is ours again, to close.
    let Ok((socket, _)) = host::take_socket(ticket) else { return };
    let (code, reason) = match outcome {
        Ok(Ok(_)) => (
            POLICY,
            "no websocket endpoint took the connection (the route's handler did not call @websocket.accept)"
                .to_string(),
        ),
        Ok(Err(error)) => {
            if error.kind() != ErrorKind::Script {
                eprintln!("[http] {description}: the websocket handler could not be called: {error}");
            }
            (INTERNAL, "the route's handler failed".to_string())
        }
        Err(_) => (INTERNAL, format!("the route's handler did not answer within {}", seconds(timeout))),
    };
    close_with(socket, code, &reason).await;
}

/// Sends a close frame with `code` and `reason` (cut to fit a control frame) and closes.
async fn close_with(socket: OwnedFd, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    // A server's frames are unmasked: FIN + close opcode, the length, the code, the reason.
    let mut frame = vec![0x88, (2 + reason.len()) as u8];
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    let stream = std::net::TcpStream::from(socket);
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut stream) = tokio::net::TcpStream::from_std(stream) else { return };
    let _ = stream.write_all(&frame).await;
    let _ = stream.shutdown().await;
}
