//! OAuth2 clients (RFC 6749, PKCE RFC 7636) with the `oauth2` crate over a blocking ureq agent.
//!
//! Every token request first asks the host whether the plugin may connect to the endpoint's
//! host and port, follows no redirect, and goes over HTTPS unless the endpoint is on the
//! loopback interface (a client secret or an authorization code is never sent in clear over a
//! network). Client secrets and codes never appear in errors.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::url::Url;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpClientError, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value as Json, json};
use tusk_plugin_sdk::{PluginError, host};

use crate::util::Options;

pub(crate) const AUTHORIZE_OPTIONS: &[&str] =
    &["client_id", "auth_url", "redirect_uri", "scopes", "state", "pkce", "extra"];
pub(crate) const EXCHANGE_OPTIONS: &[&str] =
    &["client_id", "client_secret", "token_url", "redirect_uri", "code", "code_verifier", "auth_style", "timeout"];
pub(crate) const CLIENT_CREDENTIALS_OPTIONS: &[&str] =
    &["client_id", "client_secret", "token_url", "scopes", "auth_style", "timeout"];
pub(crate) const REFRESH_OPTIONS: &[&str] =
    &["client_id", "client_secret", "token_url", "refresh_token", "scopes", "auth_style", "timeout"];

fn required<'o>(options: &'o Options, name: &str) -> Result<&'o str, PluginError> {
    options.string(name)?.ok_or_else(|| options.error(format!("option `{name}` is required")))
}

fn scopes(options: &Options) -> Result<Vec<Scope>, PluginError> {
    Ok(options
        .strings("scopes")?
        .unwrap_or_default()
        .into_iter()
        .flat_map(|scope| scope.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .map(Scope::new)
        .collect())
}

/// The authorization URL to send the user to, with a fresh `state` and PKCE (S256) pair.
pub(crate) fn authorize_url(options: &Options) -> Result<Json, PluginError> {
    let client_id = required(options, "client_id")?;
    let auth_url = AuthUrl::new(required(options, "auth_url")?.to_string())
        .map_err(|error| options.error(format!("option `auth_url` is not a URL: {error}")))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_string())).set_auth_uri(auth_url);
    if let Some(redirect) = options.string("redirect_uri")? {
        let redirect = RedirectUrl::new(redirect.to_string())
            .map_err(|error| options.error(format!("option `redirect_uri` is not a URL: {error}")))?;
        client = client.set_redirect_uri(redirect);
    }
    let state = options.string("state")?.map(str::to_string);
    let mut request = client.authorize_url(|| state.map(CsrfToken::new).unwrap_or_else(CsrfToken::new_random));
    request = request.add_scopes(scopes(options)?);
    let pkce = options.bool("pkce")?.unwrap_or(true);
    let verifier = if pkce {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        Some(verifier)
    } else {
        None
    };
    if let Some(extra) = options.value("extra") {
        let tusk_plugin_sdk::OwnedValue::Object(entries) = extra else {
            return Err(options.error("option `extra` must be an object of query parameters"));
        };
        for (name, value) in entries {
            let tusk_plugin_sdk::OwnedValue::String(value) = value else {
                return Err(options.error(format!("extra parameter `{name}` must be a string")));
            };
            request = request.add_extra_param(name.clone(), value.clone());
        }
    }
    let (url, state) = request.url();
    Ok(json!({
        "url": url.to_string(),
        "state": state.secret(),
        "code_verifier": verifier.as_ref().map(|verifier| verifier.secret().clone()),
    }))
}

/// The token endpoint: checked, permitted, and the agent that may talk to it.
struct Endpoint {
    url: TokenUrl,
    place: String,
    agent: oauth2::ureq::Agent,
}

fn endpoint(options: &Options) -> Result<Endpoint, PluginError> {
    let text = required(options, "token_url")?;
    let url = Url::parse(text).map_err(|error| options.error(format!("option `token_url` is not a URL: {error}")))?;
    let host = url.host_str().ok_or_else(|| options.error("option `token_url` has no host"))?.to_string();
    let bare = host.trim_matches(['[', ']']);
    let loopback = bare == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(options.error(format!(
                "the token endpoint {host} must use https (plain http is only for the loopback interface)"
            )));
        }
        other => return Err(options.error(format!("the token endpoint must be an https URL, not {other}:"))),
    }
    let port = url.port_or_known_default().unwrap_or(443);
    host::check_connect(bare, port)?;
    let timeout = match options.int("timeout")? {
        None => 30,
        Some(seconds) if (1..=600).contains(&seconds) => seconds,
        Some(_) => return Err(options.error("option `timeout` must be between 1 and 600 seconds")),
    };
    let agent = oauth2::ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(timeout as u64)).build();
    Ok(Endpoint { url: TokenUrl::from_url(url), place: format!("{host}:{port}"), agent })
}

fn auth_type(options: &Options) -> Result<AuthType, PluginError> {
    match options.string("auth_style")? {
        None | Some("basic") => Ok(AuthType::BasicAuth),
        Some("request_body") => Ok(AuthType::RequestBody),
        Some(other) => {
            Err(options.error(format!("option `auth_style` must be \"basic\" or \"request_body\", got \"{other}\"")))
        }
    }
}

type TokenError = RequestTokenError<HttpClientError<oauth2::ureq::Error>, BasicErrorResponse>;

/// The token response as an object, or what went wrong in words without secrets.
fn answer(place: &str, result: Result<BasicTokenResponse, TokenError>) -> Result<Json, String> {
    match result {
        Ok(token) => Ok(json!({
            "access_token": token.access_token().secret(),
            "token_type": token.token_type().as_ref(),
            "expires_in": token.expires_in().map(|lifetime| lifetime.as_secs()),
            "refresh_token": token.refresh_token().map(|refresh| refresh.secret().clone()),
            "scope": token.scopes().map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect::<Vec<_>>()),
        })),
        Err(RequestTokenError::ServerResponse(response)) => {
            Err(refusal(place, None, response.error().as_ref(), response.error_description().map(String::as_str)))
        }
        Err(RequestTokenError::Request(HttpClientError::Reqwest(error))) => match *error {
            // ureq returns 4xx and 5xx answers as errors; the body still says why (RFC 6749 5.2).
            oauth2::ureq::Error::Status(status, response) => {
                let body = response.into_string().unwrap_or_default();
                let parsed: Map<String, Json> = serde_json::from_str(&body).unwrap_or_default();
                match parsed.get("error").and_then(Json::as_str) {
                    Some(code) => {
                        Err(refusal(place, Some(status), code, parsed.get("error_description").and_then(Json::as_str)))
                    }
                    None => Err(format!("the token endpoint {place} answered HTTP {status} without an OAuth2 error")),
                }
            }
            oauth2::ureq::Error::Transport(transport) => Err(format!(
                "cannot reach the token endpoint {place}: {}",
                transport.message().map(str::to_string).unwrap_or_else(|| transport.kind().to_string())
            )),
        },
        Err(RequestTokenError::Request(other)) => {
            Err(format!("the request to the token endpoint {place} failed: {other}"))
        }
        Err(RequestTokenError::Parse(error, _)) => {
            Err(format!("the token endpoint {place} did not answer with a token response ({})", error.path()))
        }
        Err(RequestTokenError::Other(message)) => Err(format!("the token endpoint {place}: {message}")),
    }
}

fn refusal(place: &str, status: Option<u16>, code: &str, description: Option<&str>) -> String {
    let status = status.map(|status| format!(" (HTTP {status})")).unwrap_or_default();
    match description {
        Some(description) => format!("the token endpoint {place} refused the request{status}: {code}: {description}"),
        None => format!("the token endpoint {place} refused the request{status}: {code}"),
    }
}

fn client(
    options: &Options,
    endpoint: &Endpoint,
) -> Result<
    oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    PluginError,
> {
    let mut client = BasicClient::new(ClientId::new(required(options, "client_id")?.to_string()))
        .set_token_uri(endpoint.url.clone())
        .set_auth_type(auth_type(options)?);
    if let Some(secret) = options.string("client_secret")? {
        client = client.set_client_secret(ClientSecret::new(secret.to_string()));
    }
    Ok(client)
}

/// Authorization code (with the PKCE verifier of `authorize_url`) for tokens.
pub(crate) fn exchange(options: &Options) -> Result<Result<Json, String>, PluginError> {
    let endpoint = endpoint(options)?;
    let mut client = client(options, &endpoint)?;
    if let Some(redirect) = options.string("redirect_uri")? {
        let redirect = RedirectUrl::new(redirect.to_string())
            .map_err(|error| options.error(format!("option `redirect_uri` is not a URL: {error}")))?;
        client = client.set_redirect_uri(redirect);
    }
    let mut request = client.exchange_code(AuthorizationCode::new(required(options, "code")?.to_string()));
    if let Some(verifier) = options.string("code_verifier")? {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
    }
    Ok(answer(&endpoint.place, request.request(&endpoint.agent)))
}

/// Client credentials for a token.
pub(crate) fn client_credentials(options: &Options) -> Result<Result<Json, String>, PluginError> {
    let endpoint = endpoint(options)?;
    required(options, "client_secret")?;
    let client = client(options, &endpoint)?;
    let request = client.exchange_client_credentials().add_scopes(scopes(options)?);
    Ok(answer(&endpoint.place, request.request(&endpoint.agent)))
}

/// A refresh token for new tokens.
pub(crate) fn refresh(options: &Options) -> Result<Result<Json, String>, PluginError> {
    let endpoint = endpoint(options)?;
    let client = client(options, &endpoint)?;
    let refresh = RefreshToken::new(required(options, "refresh_token")?.to_string());
    let request = client.exchange_refresh_token(&refresh).add_scopes(scopes(options)?);
    Ok(answer(&endpoint.place, request.request(&endpoint.agent)))
}
