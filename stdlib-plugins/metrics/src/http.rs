//! Plain HTTP/1.1 on std sockets, both ways: the `/metrics` responder (one listener thread,
//! one connection at a time, each with a time limit) and the POST client of InfluxDB pushes
//! and alert webhooks. Small on purpose: the http plugin, when it is there, can serve the same
//! text through `@metrics.text()`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tusk_plugin_sdk::{PluginError, host};

use crate::exposition;
use crate::store::Store;

/// How long one connection may take to send its request or receive its answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at its stop flag.
const POLL: Duration = Duration::from_millis(20);
/// The largest request head the responder reads.
const MAX_HEAD: usize = 16 * 1024;

/// A `/metrics` listener: stops when dropped.
#[derive(Debug)]
pub struct MetricsListener {
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `host:port` → (host, port); `[::1]:9464` too. A bare port means 127.0.0.1.
pub fn split_address(address: &str) -> Result<(String, u16), String> {
    if let Ok(port) = address.parse::<u16>() {
        return Ok(("127.0.0.1".to_string(), port));
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(|| format!("`{address}` is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().map_err(|_| format!("`{address}`: `{port}` is not a port number"))?;
    if host.is_empty() {
        return Err(format!("`{address}` has no host"));
    }
    Ok((host.to_string(), port))
}

/// Starts serving the store's text at `http://address/metrics`. Loopback addresses need no
/// grant; any other address needs the network permission for it (`--allow-net=host:port`),
/// checked here on the interpreter's thread.
pub fn serve(address: &str, store: Arc<Store>) -> Result<MetricsListener, PluginError> {
    let (host_name, port) = split_address(address).map_err(|message| PluginError::message(message).at_argument(0))?;
    let socket_address = (host_name.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| PluginError::message(format!("cannot resolve `{host_name}`")).at_argument(0))?;
    if !socket_address.ip().is_loopback() {
        host::check_connect(&host_name, port).map_err(|error| {
            PluginError::permission_denied(format!(
                "listening on {address} (not a loopback address) needs the network permission for it: {}",
                error.message_text()
            ))
            .with_help(format!("grant it with --allow-net={host_name}:{port}, or listen on 127.0.0.1"))
        })?;
    }
    let listener = TcpListener::bind(socket_address).map_err(|error| {
        let mut message = format!("cannot listen on {socket_address}: {error}");
        if error.raw_os_error() == Some(1) {
            message.push_str("; a sandboxed plugin may listen only with --allow-net for every host (first-party plugins run in-process, where the grants alone decide)");
        }
        PluginError::message(message)
    })?;
    let bound = listener.local_addr().map_err(|error| PluginError::message(error.to_string()))?;
    listener.set_nonblocking(true).map_err(|error| PluginError::message(error.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("metrics-listener".to_string())
            .spawn(move || accept_loop(&listener, &store, &stop))
            .map_err(|error| PluginError::message(format!("cannot start the listener thread: {error}")))?
    };
    Ok(MetricsListener { address: bound, stop, thread: Some(thread) })
}

fn accept_loop(listener: &TcpListener, store: &Arc<Store>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A broken connection only ends that connection.
                let _ = answer(stream, store);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Reads one request and answers it: `GET /metrics` (or `HEAD`) gets the text, other paths
/// 404, other methods 405.
fn answer(mut stream: TcpStream, store: &Arc<Store>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request head too large\n",
                false,
            );
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    if method.is_empty() || !parts.next().is_some_and(|version| version.starts_with("HTTP/1.")) {
        return respond(&mut stream, "400 Bad Request", "text/plain", b"malformed request\n", false);
    }
    if path != "/metrics" {
        return respond(&mut stream, "404 Not Found", "text/plain", b"not found; metrics are at /metrics\n", false);
    }
    match method {
        "GET" | "HEAD" => {
            let text = exposition::text(store);
            respond(&mut stream, "200 OK", exposition::CONTENT_TYPE, text.as_bytes(), method == "HEAD")
        }
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", b"use GET\n", false),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    let mut bytes = response.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

/// An `http://` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// `/path?query` (at least `/`).
    pub target: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query]`. `https` is refused: this client has no TLS.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!(
                    "`{}`: https is not supported by the metrics plugin yet; send to an http:// address (a local agent or proxy)",
                    redact(text)
                ));
            }
            _ => return Err(format!("`{}` is not an http:// URL", redact(text))),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(index) if rest.as_bytes()[index] == b'/' => (&rest[..index], rest[index..].to_string()),
            Some(index) => (&rest[..index], format!("/{}", &rest[index..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported; use the token setting".to_string());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| format!("`{port}` is not a port number"))?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("`{}` has no host", redact(text)));
        }
        Ok(Url { host: host.to_string(), port, target })
    }

    /// `http://host:port/path` without the query (queries may carry tokens).
    pub fn display(&self) -> String {
        let path = self.target.split('?').next().unwrap_or("/");
        format!("http://{}:{}{path}", self.host, self.port)
    }
}

/// A URL with its query removed, for messages.
fn redact(text: &str) -> &str {
    text.split('?').next().unwrap_or(text)
}

/// POSTs `body`; Ok with the status when it is 2xx, else an error with the status and the
/// start of the answer. Header values are never put in errors.
pub fn post(
    url: &Url,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let place = url.display();
    let address = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|error| format!("{place}: cannot resolve {}: {error}", url.host))?
        .next()
        .ok_or_else(|| format!("{place}: {} has no address", url.host))?;
    let mut stream =
        TcpStream::connect_timeout(&address, timeout).map_err(|error| format!("{place}: cannot connect: {error}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|error| error.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|error| error.to_string())?;
    let host_header = if url.port == 80 { url.host.clone() } else { format!("{}:{}", url.host, url.port) };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: tusk-plugin-metrics\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.target,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).map_err(|error| format!("{place}: cannot send: {error}"))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => {
                answer.extend_from_slice(&chunk[..read]);
                if answer.len() > 64 * 1024 {
                    break;
                }
            }
            Err(error) if answer.is_empty() => return Err(format!("{place}: no answer: {error}")),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{place}: not an HTTP answer"))?;
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    let snippet: String = body.chars().take(200).collect();
    Err(format!("{place} answered {status}: {}", snippet.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_https_is_refused_without_leaking_the_query() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8086/api/v2/write?bucket=b&org=o").unwrap(),
            Url { host: "127.0.0.1".into(), port: 8086, target: "/api/v2/write?bucket=b&org=o".into() }
        );
        assert_eq!(Url::parse("http://example.com").unwrap().target, "/");
        assert_eq!(Url::parse("http://example.com?db=x").unwrap().target, "/?db=x");
        assert_eq!(Url::parse("http://[::1]:9000/hook").unwrap().host, "::1");
        let error = Url::parse("https://cloud.example/write?token=secret").unwrap_err();
        assert!(error.starts_with("`https://cloud.example/write`: https is not supported"), "{error}");
        assert!(!error.contains("secret"));
        assert_eq!(Url::parse("ftp://x").unwrap_err(), "`ftp://x` is not an http:// URL");
    }

    #[test]
    fn addresses_split() {
        assert_eq!(split_address("9464").unwrap(), ("127.0.0.1".to_string(), 9464));
        assert_eq!(split_address("0.0.0.0:80").unwrap(), ("0.0.0.0".to_string(), 80));
        assert_eq!(split_address("[::1]:80").unwrap(), ("::1".to_string(), 80));
        assert_eq!(split_address("host:x").unwrap_err(), "`host:x`: `x` is not a port number");
    }
}
