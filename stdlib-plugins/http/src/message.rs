//! Requests as script values, and script values as responses.
//!
//! A handler gets one object: `method`, `path`, `url` (path and query as sent), `route` (the
//! pattern that matched), `params`, `query`, `headers` (lower-case names), `cookies`, `body`
//! (by content type: JSON parsed, forms as objects, text as a string, anything else a byte
//! string; without a content type text if it is UTF-8), `text` (the raw body as text when it
//! is UTF-8), `body_encoding` (`"bytes"` for a byte-string body, else `"utf-8"`), `ip`,
//! `user_agent`, `timestamp` (Unix seconds).
//!
//! It answers with a value: an object whose keys are all among `status`, `headers`, `body`,
//! `cookies` and that has `status` (an integer) or `body` is a response; any other value is the
//! body of a 200. A string body is `text/plain`, a byte string its bytes
//! (`application/octet-stream` unless the headers give a content type), an object or array
//! (or number, bool) JSON, `null` an empty body (204 when no status is given).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tusk_plugin_sdk::OwnedValue;

use crate::routes::Params;

/// What a request carries, read from hyper's request.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub ip: String,
    pub route: &'a str,
    pub params: Params,
}

/// A request refused before any script runs.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

fn string(text: impl Into<String>) -> OwnedValue {
    OwnedValue::String(text.into())
}

/// Adds `value` under `key`; a repeated key gathers its values in an array.
fn push_repeated(entries: &mut Vec<(String, OwnedValue)>, key: String, value: OwnedValue) {
    match entries.iter_mut().find(|(existing, _)| *existing == key) {
        Some((_, OwnedValue::Array(items))) => items.push(value),
        Some((_, existing)) => {
            let first = std::mem::replace(existing, OwnedValue::Null);
            *existing = OwnedValue::Array(vec![first, value]);
        }
        None => entries.push((key, value)),
    }
}

/// `a=1&b=x%20y&a=2` → `{a: ["1", "2"], b: "x y"}`.
pub fn form_object(text: &[u8]) -> OwnedValue {
    let mut entries = Vec::new();
    for (key, value) in form_urlencoded::parse(text) {
        push_repeated(&mut entries, key.into_owned(), string(value.into_owned()));
    }
    OwnedValue::Object(entries)
}

/// The `Cookie` header's pairs.
pub fn cookies(headers: &HeaderMap) -> OwnedValue {
    let mut entries = Vec::new();
    for header in headers.get_all(axum::http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.split_once('=') {
                let value = value.trim().trim_matches('"');
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
                entries.retain(|(existing, _): &(String, OwnedValue)| existing != name.trim());
                entries.push((name.trim().to_string(), string(value)));
            }
        }
    }
    OwnedValue::Object(entries)
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// True for `application/json` and `application/*+json`.
pub fn is_json(content_type: &str) -> bool {
    content_type == "application/json" || (content_type.starts_with("application/") && content_type.ends_with("+json"))
}

/// True for content types whose bodies are text: `text/*`, XML and JavaScript.
pub fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type == "application/xml"
        || (content_type.starts_with("application/") && content_type.ends_with("+xml"))
        || content_type == "application/javascript"
}

/// The request object a handler gets; a body that says it is JSON and is not is refused.
pub fn request_value(incoming: Incoming<'_>) -> Result<OwnedValue, Refusal> {
    let mut headers = Vec::with_capacity(incoming.headers.len());
    for (name, value) in incoming.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(existing, _): &&mut (String, OwnedValue)| existing == name.as_str()) {
            Some((_, OwnedValue::String(first))) => {
                first.push_str(", ");
                first.push_str(&value);
            }
            _ => headers.push((name.as_str().to_string(), string(value))),
        }
    }
    let content_type = content_type(incoming.headers);
    let text = std::str::from_utf8(incoming.body).ok();
    let body = if incoming.body.is_empty() {
        OwnedValue::Null
    } else if is_json(&content_type) {
        serde_json::from_slice::<OwnedValue>(incoming.body).map_err(|error| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!("the body is not valid JSON: {error}"),
        })?
    } else if content_type == "application/x-www-form-urlencoded" {
        form_object(incoming.body)
    } else {
        // Text when the content type says so, or when there is none and the body is UTF-8
        // (as before byte strings); a byte string otherwise.
        match text {
            Some(text) if content_type.is_empty() || is_text(&content_type) => string(text),
            _ => OwnedValue::Bytes(incoming.body.to_vec()),
        }
    };
    let encoding = if matches!(body, OwnedValue::Bytes(_)) { "bytes" } else { "utf-8" };
    let query = incoming.query.map_or_else(|| OwnedValue::Object(Vec::new()), |query| form_object(query.as_bytes()));
    let url = match incoming.query {
        Some(query) => format!("{}?{query}", incoming.path),
        None => incoming.path.to_string(),
    };
    let user_agent = incoming
        .headers
        .get(axum::http::header::USER_AGENT)
        .map_or(OwnedValue::Null, |agent| string(String::from_utf8_lossy(agent.as_bytes())));
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    Ok(OwnedValue::Object(vec![
        ("method".into(), string(incoming.method)),
        ("path".into(), string(incoming.path)),
        ("url".into(), string(url)),
        ("route".into(), string(incoming.route)),
        (
            "params".into(),
            OwnedValue::Object(incoming.params.into_iter().map(|(name, value)| (name, string(value))).collect()),
        ),
        ("query".into(), query),
        ("headers".into(), OwnedValue::Object(headers)),
        ("cookies".into(), cookies(incoming.headers)),
        ("body".into(), body),
        ("text".into(), text.map_or(OwnedValue::Null, string)),
        ("body_encoding".into(), string(encoding)),
        ("ip".into(), string(incoming.ip)),
        ("user_agent".into(), user_agent),
        ("timestamp".into(), OwnedValue::Int(i64::try_from(timestamp).unwrap_or(i64::MAX))),
    ]))
}

/// What a response's body is made of.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Empty,
    Text(String),
    Json(OwnedValue),
    /// Bytes with their content type (static files, a byte-string body).
    Bytes(Vec<u8>, String),
}

/// A response before it becomes hyper's.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

const RESPONSE_KEYS: [&str; 4] = ["status", "headers", "body", "cookies"];

impl Reply {
    /// A JSON error body `{"error": message}`.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        Reply {
            status: status.as_u16(),
            headers: Vec::new(),
            body: Body::Json(OwnedValue::Object(vec![("error".into(), string(message))])),
        }
    }

    /// True when `value` is written as a response object rather than as a body.
    pub fn is_response_object(value: &OwnedValue) -> bool {
        let OwnedValue::Object(entries) = value else { return false };
        !entries.is_empty()
            && entries.iter().all(|(key, _)| RESPONSE_KEYS.contains(&key.as_str()))
            && entries
                .iter()
                .any(|(key, value)| (key == "status" && matches!(value, OwnedValue::Int(_))) || key == "body")
    }

    /// A handler's result as a response (see the module's documentation).
    pub fn from_value(value: OwnedValue) -> Result<Reply, String> {
        if !Reply::is_response_object(&value) {
            return Ok(Reply::with_body(None, value));
        }
        let OwnedValue::Object(entries) = value else { unreachable!("checked by is_response_object") };
        let mut status = None;
        let mut body = OwnedValue::Null;
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        for (key, value) in entries {
            match key.as_str() {
                "status" => match value {
                    OwnedValue::Int(code) if (100..=999).contains(&code) => status = Some(code as u16),
                    other => {
                        return Err(format!("`status` must be an integer from 100 to 999, got {}", describe(&other)));
                    }
                },
                "body" => body = value,
                "headers" => headers = header_list(value)?,
                _ => cookies = cookie_list(value)?,
            }
        }
        let mut reply = Reply::with_body(status, body);
        reply.headers.extend(headers);
        reply.headers.extend(cookies.into_iter().map(|cookie| ("set-cookie".to_string(), cookie)));
        Ok(reply)
    }

    fn with_body(status: Option<u16>, body: OwnedValue) -> Reply {
        let (default_status, body) = match body {
            OwnedValue::Null => (204, Body::Empty),
            OwnedValue::String(text) => (200, Body::Text(text)),
            OwnedValue::Bytes(bytes) => (200, Body::Bytes(bytes, "application/octet-stream".to_string())),
            other => (200, Body::Json(other)),
        };
        Reply { status: status.unwrap_or(default_status), headers: Vec::new(), body }
    }

    /// The response as an after-middleware sees it: `{status, headers, body}`. A byte body
    /// comes with its content type among the headers, so that the response it gives back
    /// keeps it.
    pub fn to_value(&self) -> OwnedValue {
        let mut headers: Vec<(String, OwnedValue)> =
            self.headers.iter().map(|(name, value)| (name.clone(), string(value.clone()))).collect();
        let body = match &self.body {
            Body::Empty => OwnedValue::Null,
            Body::Text(text) => string(text.clone()),
            Body::Json(value) => value.clone(),
            Body::Bytes(bytes, content_type) => {
                if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
                    headers.push(("content-type".to_string(), string(content_type.clone())));
                }
                OwnedValue::Bytes(bytes.clone())
            }
        };
        OwnedValue::Object(vec![
            ("status".into(), OwnedValue::Int(i64::from(self.status))),
            ("headers".into(), OwnedValue::Object(headers)),
            ("body".into(), body),
        ])
    }

    /// The response for hyper; a header the script wrote that HTTP cannot carry is an error.
    pub fn into_response(self) -> Result<axum::response::Response, String> {
        let status = StatusCode::from_u16(self.status).map_err(|error| error.to_string())?;
        let mut builder = axum::http::Response::builder().status(status);
        let written_type = self.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        let (bytes, content_type) = match self.body {
            Body::Empty => (Vec::new(), None),
            Body::Text(text) => (text.into_bytes(), Some(HeaderValue::from_static("text/plain; charset=utf-8"))),
            Body::Json(value) => (
                serde_json::to_vec(&value).map_err(|error| format!("the body cannot be written as JSON: {error}"))?,
                Some(HeaderValue::from_static("application/json")),
            ),
            Body::Bytes(bytes, content_type) => (
                bytes,
                Some(
                    HeaderValue::from_str(&content_type)
                        .map_err(|_| format!("`{content_type}` is not a content type"))?,
                ),
            ),
        };
        if let Some(content_type) = content_type.filter(|_| !written_type) {
            builder = builder.header(axum::http::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the value of the header `{name}` has characters a header cannot carry"))?;
            builder = builder.header(name, value);
        }
        builder.body(axum::body::Body::from(bytes)).map_err(|error| error.to_string())
    }
}

fn describe(value: &OwnedValue) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "a value".to_string())
}

/// Header values as text: strings as they are, numbers and bools written, arrays repeated.
fn header_text(name: &str, value: OwnedValue) -> Result<Vec<String>, String> {
    Ok(match value {
        OwnedValue::String(text) => vec![text],
        OwnedValue::Int(number) => vec![number.to_string()],
        OwnedValue::Float(number) => vec![number.to_string()],
        OwnedValue::Bool(flag) => vec![flag.to_string()],
        OwnedValue::Array(items) => {
            items.into_iter().map(|item| header_text(name, item)).collect::<Result<Vec<_>, _>>()?.concat()
        }
        OwnedValue::Null => Vec::new(),
        other => return Err(format!("the header `{name}` must be text, got {}", describe(&other))),
    })
}

fn header_list(value: OwnedValue) -> Result<Vec<(String, String)>, String> {
    match value {
        OwnedValue::Object(entries) => {
            let mut headers = Vec::new();
            for (name, value) in entries {
                for text in header_text(&name, value)? {
                    headers.push((name.to_ascii_lowercase(), text));
                }
            }
            Ok(headers)
        }
        OwnedValue::Null => Ok(Vec::new()),
        other => Err(format!("`headers` must be an object, got {}", describe(&other))),
    }
}

fn cookie_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn cookie_value(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic() && !b"\",;\\".contains(&b))
}

/// `cookies: {sid: "abc", theme: {value: "dark", max_age: 3600, http_only: true}}` as
/// `Set-Cookie` values.
fn cookie_list(value: OwnedValue) -> Result<Vec<String>, String> {
    let OwnedValue::Object(entries) = value else {
        return Err(format!("`cookies` must be an object, got {}", describe(&value)));
    };
    let mut cookies = Vec::new();
    for (name, value) in entries {
        if !cookie_token(&name) {
            return Err(format!("`{name}` is not a cookie name"));
        }
        let (text, options) = match value {
            OwnedValue::String(text) => (text, Vec::new()),
            OwnedValue::Object(options) => {
                let text = options
                    .iter()
                    .find(|(key, _)| key == "value")
                    .and_then(|(_, value)| if let OwnedValue::String(text) = value { Some(text.clone()) } else { None })
                    .ok_or_else(|| format!("the cookie `{name}` needs a string `value`"))?;
                (text, options)
            }
            other => {
                return Err(format!("the cookie `{name}` must be a string or an object, got {}", describe(&other)));
            }
        };
        if !cookie_value(&text) {
            return Err(format!("the value of the cookie `{name}` has characters a cookie cannot carry"));
        }
        let mut cookie = format!("{name}={text}");
        let mut path_given = false;
        for (option, value) in options {
            match (option.as_str(), value) {
                ("value", _) => {}
                ("path", OwnedValue::String(path)) if cookie_value(&path) => {
                    path_given = true;
                    cookie.push_str(&format!("; Path={path}"));
                }
                ("domain", OwnedValue::String(domain)) if cookie_value(&domain) => {
                    cookie.push_str(&format!("; Domain={domain}"));
                }
                ("max_age", OwnedValue::Int(seconds)) => cookie.push_str(&format!("; Max-Age={seconds}")),
                ("http_only", OwnedValue::Bool(true)) => cookie.push_str("; HttpOnly"),
                ("secure", OwnedValue::Bool(true)) => cookie.push_str("; Secure"),
                ("http_only" | "secure", OwnedValue::Bool(false)) => {}
                ("same_site", OwnedValue::String(mode)) if ["Strict", "Lax", "None"].contains(&mode.as_str()) => {
                    cookie.push_str(&format!("; SameSite={mode}"));
                }
                (option, value) => {
                    return Err(format!(
                        "the cookie `{name}` has an invalid option `{option}`: {} (the options are value, path, domain, max_age, http_only, secure and same_site: Strict, Lax or None)",
                        describe(&value)
                    ));
                }
            }
        }
        if !path_given {
            cookie.push_str("; Path=/");
        }
        cookies.push(cookie);
    }
    Ok(cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(entries: &[(&str, OwnedValue)]) -> OwnedValue {
        OwnedValue::Object(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn forms_gather_repeated_keys() {
        assert_eq!(
            form_object(b"a=1&b=x%20y&a=2&c=+"),
            object(&[
                ("a", OwnedValue::Array(vec![string("1"), string("2")])),
                ("b", string("x y")),
                ("c", string(" ")),
            ])
        );
    }

    #[test]
    fn values_become_responses() {
        let plain = Reply::from_value(object(&[("id", OwnedValue::Int(1))])).unwrap();
        assert_eq!((plain.status, &plain.body), (200, &Body::Json(object(&[("id", OwnedValue::Int(1))]))));
        // An object with other keys is a body, even with `status` among them.
        let payload = object(&[("status", string("ok")), ("n", OwnedValue::Int(2))]);
        assert_eq!(Reply::from_value(payload.clone()).unwrap().body, Body::Json(payload));
        let text = Reply::from_value(string("hi")).unwrap();
        assert_eq!((text.status, text.body), (200, Body::Text("hi".into())));
        assert_eq!(Reply::from_value(OwnedValue::Null).unwrap().status, 204);
        let full = Reply::from_value(object(&[
            ("status", OwnedValue::Int(201)),
            (
                "headers",
                object(&[("X-Id", OwnedValue::Int(7)), ("Vary", OwnedValue::Array(vec![string("a"), string("b")]))]),
            ),
            (
                "cookies",
                object(&[
                    ("sid", string("abc")),
                    (
                        "t",
                        object(&[
                            ("value", string("d")),
                            ("max_age", OwnedValue::Int(60)),
                            ("http_only", OwnedValue::Bool(true)),
                        ]),
                    ),
                ]),
            ),
            ("body", OwnedValue::Array(vec![])),
        ]))
        .unwrap();
        assert_eq!(full.status, 201);
        assert_eq!(
            full.headers,
            [
                ("x-id", "7"),
                ("vary", "a"),
                ("vary", "b"),
                ("set-cookie", "sid=abc; Path=/"),
                ("set-cookie", "t=d; Max-Age=60; HttpOnly; Path=/")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(full.body, Body::Json(OwnedValue::Array(vec![])));
    }

    #[test]
    fn bad_responses_say_what_is_wrong() {
        let error = |value| Reply::from_value(value).unwrap_err();
        assert_eq!(
            error(object(&[("status", OwnedValue::Int(42))])),
            "`status` must be an integer from 100 to 999, got 42"
        );
        assert_eq!(
            error(object(&[("body", string("x")), ("headers", string("x"))])),
            "`headers` must be an object, got \"x\""
        );
        assert_eq!(
            error(object(&[("body", string("x")), ("cookies", object(&[("a b", string("x"))]))])),
            "`a b` is not a cookie name"
        );
        let reply =
            Reply::from_value(object(&[("body", string("x")), ("headers", object(&[("x", string("a\nb"))]))])).unwrap();
        assert_eq!(
            reply.into_response().unwrap_err(),
            "the value of the header `x` has characters a header cannot carry"
        );
    }
}
