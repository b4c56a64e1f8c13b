//! The client: `@http.get/post/put/patch/delete/request`, blocking on the interpreter's thread
//! (ureq over rustls). Redirects are followed here, not by ureq, so that every hop's host is
//! checked against the user's network grants before anything is sent to it.

use std::io::Read;
use std::time::Duration;

use tusk_plugin_sdk::{OwnedValue, PluginError, host};

use crate::message::is_json;

/// What one request asks for.
#[derive(Debug)]
pub struct Options {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<(Vec<u8>, Option<&'static str>)>,
    pub timeout: Duration,
    pub max_redirects: u32,
    pub max_response: usize,
}

/// Sends the request and reads the answer: `{status, ok, headers, body, url, redirects}`;
/// `body` is parsed when the content type says JSON. HTTP error statuses are answers, not
/// errors; failures to connect, time-outs and refused grants are errors.
pub fn send(options: Options) -> Result<OwnedValue, PluginError> {
    let agent = ureq::AgentBuilder::new().timeout(options.timeout).redirects(0).build();
    let mut url = with_query(&options.url, &options.query)?;
    let mut method = options.method.clone();
    let mut body = options.body.clone();
    let mut redirects = 0;
    loop {
        let parsed =
            url::Url::parse(&url).map_err(|error| PluginError::message(format!("`{url}` is not a URL: {error}")))?;
        let scheme = parsed.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(PluginError::message(format!("`{url}`: only http and https URLs can be requested")));
        }
        let host_name = parsed.host_str().ok_or_else(|| PluginError::message(format!("`{url}` has no host")))?;
        let host_name = host_name.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = parsed.port_or_known_default().unwrap_or(80);
        host::check_connect(&host_name, port).map_err(|error| {
            PluginError::permission_denied(format!("connecting to {host_name}:{port}: {}", error.message_text()))
                .with_help(format!("grant it with --allow-net={host_name}:{port}"))
        })?;
        let mut request = agent.request(&method, &url);
        for (name, value) in &options.headers {
            request = request.set(name, value);
        }
        let outcome = match &body {
            Some((bytes, content_type)) => {
                if let Some(content_type) = content_type
                    && !options.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                {
                    request = request.set("content-type", content_type);
                }
                request.send_bytes(bytes)
            }
            None => request.call(),
        };
        let response = match outcome {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(transport)) => {
                return Err(PluginError::message(format!(
                    "{method} {url} failed: {}",
                    transport_text(&transport, options.timeout)
                )));
            }
        };
        let status = response.status();
        if matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = response.header("location")
        {
            if redirects >= options.max_redirects {
                return Err(PluginError::message(format!(
                    "{method} {url}: more than {} redirects (the limit; raise it with `max_redirects`)",
                    options.max_redirects
                )));
            }
            let next = parsed.join(location).map_err(|error| {
                PluginError::message(format!("{url} redirected to `{location}`, which is not a URL: {error}"))
            })?;
            redirects += 1;
            url = next.to_string();
            // 303, and 301/302 after a POST (as browsers do), continue as a GET without body.
            if status == 303 || (matches!(status, 301 | 302) && method == "POST") {
                method = "GET".to_string();
                body = None;
            }
            continue;
        }
        return read_answer(response, &url, redirects, options.max_response);
    }
}

fn transport_text(transport: &ureq::Transport, timeout: Duration) -> String {
    let text = transport.to_string();
    if text.contains("timed out") || text.contains("Timeout") {
        format!("no answer within {}s ({text})", timeout.as_secs_f64())
    } else {
        text
    }
}

fn read_answer(response: ureq::Response, url: &str, redirects: u32, limit: usize) -> Result<OwnedValue, PluginError> {
    let status = response.status();
    let mut headers: Vec<(String, OwnedValue)> = Vec::new();
    for name in response.headers_names() {
        let values: Vec<&str> = response.all(&name);
        let lower = name.to_ascii_lowercase();
        if headers.iter().any(|(existing, _)| *existing == lower) {
            continue;
        }
        headers.push((lower, OwnedValue::String(values.join(", "))));
    }
    let content_type = response.content_type().to_ascii_lowercase();
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| PluginError::message(format!("reading the answer of {url} failed: {error}")))?;
    if bytes.len() > limit {
        return Err(PluginError::message(format!(
            "the answer of {url} is larger than {limit} bytes (the limit; raise it with `max_response`)"
        )));
    }
    let body = if bytes.is_empty() {
        OwnedValue::Null
    } else if is_json(&content_type) {
        serde_json::from_slice::<OwnedValue>(&bytes)
            .map_err(|error| PluginError::message(format!("{url} answered with invalid JSON: {error}")))?
    } else {
        // Valid UTF-8 (nearly every body) is taken without a copy and checked at `from_utf8`'s
        // speed, which `from_utf8_lossy` does not have.
        OwnedValue::String(
            String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
        )
    };
    Ok(OwnedValue::Object(vec![
        ("status".into(), OwnedValue::Int(i64::from(status))),
        ("ok".into(), OwnedValue::Bool((200..300).contains(&status))),
        ("headers".into(), OwnedValue::Object(headers)),
        ("body".into(), body),
        ("url".into(), OwnedValue::String(url.to_string())),
        ("redirects".into(), OwnedValue::Int(i64::from(redirects))),
    ]))
}

fn with_query(url: &str, query: &[(String, String)]) -> Result<String, PluginError> {
    if query.is_empty() {
        return Ok(url.to_string());
    }
    let mut parsed =
        url::Url::parse(url).map_err(|error| PluginError::message(format!("`{url}` is not a URL: {error}")))?;
    parsed.query_pairs_mut().extend_pairs(query);
    Ok(parsed.to_string())
}
