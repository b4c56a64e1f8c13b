//! OAuth2 against a small provider this test runs on 127.0.0.1: the authorization code flow
//! with PKCE (the provider checks S256 of the verifier against the challenge of the
//! authorization URL), client credentials with HTTP Basic client authentication, refresh, and
//! the refusals, all through the real host.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{error, eval, lit};
use oauth2::url::{Url, form_urlencoded};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

const CLIENT_SECRET: &str = "svc-Secret-value-0123456789";

/// What the provider knows and saw.
#[derive(Default)]
struct Provider {
    /// Issued codes: code -> (client id, redirect URI, PKCE challenge).
    codes: HashMap<String, (String, String, String)>,
    /// The form bodies and Authorization headers of the token requests.
    requests: Vec<(HashMap<String, String>, Option<String>)>,
}

/// Starts the provider; its address.
fn start(provider: Arc<Mutex<Provider>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let provider = provider.clone();
            thread::spawn(move || serve(stream, &provider));
        }
    });
    address
}

fn serve(mut stream: TcpStream, provider: &Mutex<Provider>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|length| length.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let (status, answer) = if request_line.starts_with("POST /token ") {
        token(provider, &form, headers.get("authorization"))
    } else {
        (404, json!({"error": "not_found"}))
    };
    let text = answer.to_string();
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// The client id and secret of an HTTP Basic header (RFC 6749 2.3.1: form-encoded, then base64).
fn basic(header: Option<&String>) -> Option<(String, String)> {
    let encoded = header?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |text: &str| form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

fn token(provider: &Mutex<Provider>, form: &HashMap<String, String>, authorization: Option<&String>) -> (u16, Json) {
    let mut provider = provider.lock().unwrap();
    provider.requests.push((form.clone(), authorization.cloned()));
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    match field("grant_type").as_str() {
        "authorization_code" => {
            let Some((client, redirect, challenge)) = provider.codes.remove(&field("code")) else {
                return (400, json!({"error": "invalid_grant", "error_description": "unknown or used code"}));
            };
            if client != field("client_id") || redirect != field("redirect_uri") {
                return (
                    400,
                    json!({"error": "invalid_grant", "error_description": "client or redirect_uri mismatch"}),
                );
            }
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
            if computed != challenge {
                return (400, json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}));
            }
            (
                200,
                json!({"access_token": "at-code", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "read write"}),
            )
        }
        "client_credentials" => match basic(authorization) {
            Some((id, secret)) if id == "svc" && secret == CLIENT_SECRET => (
                200,
                json!({"access_token": "at-svc", "token_type": "bearer", "expires_in": 600, "scope": field("scope")}),
            ),
            _ => (401, json!({"error": "invalid_client", "error_description": "client authentication failed"})),
        },
        "refresh_token" if field("refresh_token") == "rt-1" => {
            (200, json!({"access_token": "at-refreshed", "token_type": "Bearer", "expires_in": 60}))
        }
        "refresh_token" => (400, json!({"error": "invalid_grant"})),
        _ => (400, json!({"error": "unsupported_grant_type"})),
    }
}

fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[test]
fn authorization_code_with_pkce() {
    let provider = Arc::new(Mutex::new(Provider::default()));
    let address = start(provider.clone());
    let mut plugin = common::plugin(&[&format!("--allow-net={address}")]);
    let authorize = eval(
        &mut plugin,
        &format!(
            "@auth.oauth2.authorize_url({{client_id: \"web\", auth_url: \"http://{address}/authorize\", redirect_uri: \"http://127.0.0.1:9/callback\", scopes: [\"read\", \"write\"], extra: {{prompt: \"consent\"}}}})"
        ),
    );
    let url = authorize["url"].as_str().unwrap();
    let params = query(url);
    assert!(url.starts_with(&format!("http://{address}/authorize?")), "{url}");
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "web");
    assert_eq!(params["redirect_uri"], "http://127.0.0.1:9/callback");
    assert_eq!(params["scope"], "read write");
    assert_eq!(params["prompt"], "consent");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["state"], authorize["state"].as_str().unwrap());
    let verifier = authorize["code_verifier"].as_str().unwrap().to_string();
    assert_eq!(params["code_challenge"], URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())));
    // The user signs in; the provider issues a code for this challenge.
    provider.lock().unwrap().codes.insert(
        "code-1".into(),
        ("web".into(), "http://127.0.0.1:9/callback".into(), params["code_challenge"].clone()),
    );
    let exchange = |code: &str, verifier: &str| {
        format!(
            "@auth.oauth2.exchange({{client_id: \"web\", token_url: \"http://{address}/token\", redirect_uri: \"http://127.0.0.1:9/callback\", code: \"{code}\", code_verifier: \"{verifier}\"}})"
        )
    };
    assert_eq!(
        eval(&mut plugin, &exchange("code-1", &verifier)),
        json!({"access_token": "at-code", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": ["read", "write"]})
    );
    // The code is spent; another verifier for a fresh code is refused by the provider.
    let refused = error(&mut plugin, &exchange("code-1", &verifier));
    assert!(
        refused.contains(&format!(
            "the token endpoint {address} refused the request (HTTP 400): invalid_grant: unknown or used code"
        )),
        "{refused}"
    );
    provider.lock().unwrap().codes.insert(
        "code-2".into(),
        ("web".into(), "http://127.0.0.1:9/callback".into(), params["code_challenge"].clone()),
    );
    let refused = error(&mut plugin, &exchange("code-2", "a-verifier-an-attacker-guessed-0123456789abcdef"));
    assert!(refused.contains("invalid_grant: PKCE verification failed"), "{refused}");
    // Refresh.
    assert_eq!(
        eval(
            &mut plugin,
            &format!(
                "@auth.oauth2.refresh({{client_id: \"web\", token_url: \"http://{address}/token\", refresh_token: \"rt-1\"}}).access_token"
            )
        ),
        json!("at-refreshed")
    );
    // The seed's form reaches the same code.
    let seed = eval(
        &mut plugin,
        &format!(
            "@auth(\"oauth2\", \"refresh\", {{client_id: \"web\", token_url: \"http://{address}/token\", refresh_token: \"rt-1\"}}).expires_in"
        ),
    );
    assert_eq!(seed, json!(60));
}

#[test]
fn client_credentials_authenticate_with_basic_and_never_leak_the_secret() {
    let provider = Arc::new(Mutex::new(Provider::default()));
    let address = start(provider.clone());
    let mut plugin = common::plugin(&[&format!("--allow-net={address}")]);
    let call = |secret: &str| {
        format!(
            "@auth.oauth2.client_credentials({{client_id: \"svc\", client_secret: {}, token_url: \"http://{address}/token\", scopes: [\"reports:read\"]}})",
            lit(secret)
        )
    };
    assert_eq!(
        eval(&mut plugin, &call(CLIENT_SECRET)),
        json!({"access_token": "at-svc", "token_type": "bearer", "expires_in": 600, "refresh_token": null, "scope": ["reports:read"]})
    );
    {
        let provider = provider.lock().unwrap();
        let (form, authorization) = provider.requests.last().unwrap();
        assert_eq!(form.get("grant_type").map(String::as_str), Some("client_credentials"));
        assert!(!form.contains_key("client_secret"), "the secret goes in the Authorization header: {form:?}");
        assert!(authorization.as_deref().unwrap_or("").starts_with("Basic "));
    }
    let wrong = "Wrong-secret-value-9876543210";
    let refused = error(&mut plugin, &call(wrong));
    let message = refused.lines().next().unwrap();
    assert!(
        message.contains(&format!(
            "@auth.oauth2.client_credentials: the token endpoint {address} refused the request (HTTP 401): invalid_client: client authentication failed"
        )),
        "{refused}"
    );
    assert!(!message.contains(wrong) && !message.contains(CLIENT_SECRET), "{message}");
}

#[test]
fn endpoints_need_a_grant_https_and_a_live_server() {
    let provider = Arc::new(Mutex::new(Provider::default()));
    let address = start(provider);
    // No network grant.
    let mut plugin = common::plugin(&[]);
    let call = |token_url: &str| {
        format!(
            "@auth.oauth2.client_credentials({{client_id: \"svc\", client_secret: \"s\", token_url: \"{token_url}\"}})"
        )
    };
    let refused = error(&mut plugin, &call(&format!("http://{address}/token")));
    assert!(refused.contains(&format!("permission denied: plugin `auth` may not connect to {address}")), "{refused}");
    // Plain http only on the loopback interface.
    let refused = error(&mut plugin, &call("http://id.example/token"));
    assert!(
        refused
            .contains("the token endpoint id.example must use https (plain http is only for the loopback interface)"),
        "{refused}"
    );
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut plugin = common::plugin(&[&format!("--allow-net={closed}")]);
    let refused = error(&mut plugin, &call(&format!("http://{closed}/token")));
    assert!(refused.contains(&format!("cannot reach the token endpoint {closed}")), "{refused}");
    // Options are checked.
    let refused = error(
        &mut plugin,
        "@auth.oauth2.exchange({client_id: \"a\", token_url: \"http://127.0.0.1:1/t\", code: \"c\", colour: 1})",
    );
    assert!(refused.contains("@auth.oauth2.exchange: unknown option `colour`"), "{refused}");
    let refused = error(&mut plugin, "@auth.oauth2.authorize_url({client_id: \"a\"})");
    assert!(refused.contains("option `auth_url` is required"), "{refused}");
}
