//! The operators and functions: argument reading, dispatch and registration.

use std::sync::Arc;

use serde_json::Value as Json;
use tusk_plugin_sdk::{OwnedValue, PluginContext, PluginError, SymbolDoc, Value};

use crate::State;
use crate::jwt::{self, SignOptions, VerifyOptions};
use crate::util::{Args, Options};
use crate::{apikey, keys, oauth};

/// One operation of the plugin.
type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

fn json_value(json: Json) -> Value {
    serde_json::from_value::<OwnedValue>(json).map(OwnedValue::into_value).unwrap_or_else(|_| Value::null())
}

fn owned(args: &Args<'_>, index: usize, name: &str) -> Result<OwnedValue, PluginError> {
    args.required(index, name)?.to_owned_value()
}

/// A failure of the operation itself (not of an argument's type): the operator's name and
/// the message.
fn failed(args: &Args<'_>, message: String) -> PluginError {
    PluginError::message(format!("{}: {message}", args.operator))
}

fn jwt_sign(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let payload = owned(args, 0, "payload")?;
    let key = owned(args, 1, "key")?;
    let options = SignOptions::read(&args.options(2, jwt::SIGN_OPTIONS)?)?;
    let token = jwt::sign(payload, &key, &options, &state.settings).map_err(|message| failed(args, message))?;
    Ok(Value::from(token))
}

fn verified(state: &State, args: &Args<'_>) -> Result<Result<jwt::Verified, String>, PluginError> {
    args.at_most(3)?;
    let token = args.string(0, "token")?;
    let key = owned(args, 1, "key")?;
    let options = VerifyOptions::read(&args.options(2, jwt::VERIFY_OPTIONS)?, &state.settings)?;
    Ok(jwt::verify(token, &key, &options))
}

fn jwt_verify(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    match verified(state, args)? {
        Ok(verified) => Ok(verified.claims.into_value()),
        Err(message) => Err(failed(args, message)),
    }
}

fn jwt_check(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    Ok(match verified(state, args)? {
        Ok(verified) => Value::object(vec![("valid", Value::from(true)), ("claims", verified.claims.into_value())]),
        Err(message) => Value::object(vec![("valid", Value::from(false)), ("error", Value::from(message))]),
    })
}

fn jwt_decode(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let token = args.string(0, "token")?;
    let (header, claims) = jwt::decode_unverified(token).map_err(|message| failed(args, message))?;
    Ok(Value::object(vec![("header", json_value(Json::Object(header))), ("claims", json_value(claims))]))
}

fn jwk(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let key = owned(args, 0, "key")?;
    let options = args.options(1, &["kid", "algorithm"])?;
    let algorithm = match options.string("algorithm")? {
        Some(name) => Some(keys::algorithm(name).map_err(|message| options.error(message))?),
        None => None,
    };
    let jwk = keys::public_jwk_of(&key, algorithm, options.string("kid")?).map_err(|message| failed(args, message))?;
    Ok(json_value(jwk))
}

fn jws_sign(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let payload = args.string(0, "payload")?;
    let key = owned(args, 1, "key")?;
    let options = args.options(2, jwt::JWS_SIGN_OPTIONS)?;
    let algorithm = match options.string("algorithm")? {
        Some(name) => Some(keys::algorithm(name).map_err(|message| options.error(message))?),
        None => None,
    };
    let token = jwt::jws_sign(payload, &key, algorithm, options.string("kid")?, options.string("typ")?)
        .map_err(|message| failed(args, message))?;
    Ok(Value::from(token))
}

fn jws_verify(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let token = args.string(0, "token")?;
    let key = owned(args, 1, "key")?;
    let options = args.options(2, &["algorithms"])?;
    let allowed = match options.strings("algorithms")? {
        Some(names) => Some(
            names
                .iter()
                .map(|name| keys::algorithm(name))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| options.error(message))?,
        ),
        None => None,
    };
    let (header, payload) =
        jwt::jws_verify(token, &key, allowed.as_deref()).map_err(|message| failed(args, message))?;
    Ok(Value::object(vec![("header", json_value(Json::Object(header))), ("payload", Value::from(payload))]))
}

fn api_key_generate(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let options = args.options(0, &["prefix"])?;
    let prefix = options.string("prefix")?.unwrap_or(&state.settings.api_key_prefix);
    if prefix.len() > 32 || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(options.error("option `prefix` must be at most 32 letters, digits, `_` or `-`"));
    }
    let (key, hash) = apikey::generate(prefix).map_err(|message| failed(args, message))?;
    Ok(Value::object(vec![("key", Value::from(key)), ("hash", Value::from(hash))]))
}

fn api_key_hash(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    Ok(Value::from(apikey::hash(args.string(0, "key")?)))
}

fn api_key_verify(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    // A missing or non-string key (an absent header) is simply not a valid key.
    let key = args.required(0, "key")?.as_str().unwrap_or("").to_string();
    let stored = args.required(1, "hash")?;
    let hashes: Vec<String> = if let Some(one) = stored.as_str() {
        vec![one.to_string()]
    } else if let Some(list) = stored.as_array() {
        list.iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| args.error(1, "the hashes must be strings")))
            .collect::<Result<_, _>>()?
    } else {
        return Err(
            args.error(1, format!("the hash must be a string or a list of strings, got a {}", stored.type_name()))
        );
    };
    if key.is_empty() {
        return Ok(Value::from(false));
    }
    let hashes: Vec<&str> = hashes.iter().map(String::as_str).collect();
    apikey::verify(&key, &hashes).map(Value::from).map_err(|message| args.error(1, message))
}

fn secret_argument<'a>(args: &'a Args<'_>, index: usize) -> Result<&'a str, PluginError> {
    let secret = args.string(index, "secret")?;
    if secret.is_empty() {
        return Err(args.error(index, "the secret is empty"));
    }
    Ok(secret)
}

fn cookie_sign(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let value = args.string(0, "value")?;
    let secret = secret_argument(args, 1)?;
    Ok(Value::from(apikey::sign_value(value, secret.as_bytes())))
}

fn cookie_verify(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let signed = args.required(0, "signed value")?.as_str().unwrap_or("");
    let secret = secret_argument(args, 1)?;
    Ok(apikey::unsign_value(signed, secret.as_bytes()).map(Value::from).unwrap_or_else(Value::null))
}

/// Characters RFC 6265 allows in a cookie's name (a token) and value.
fn cookie_text_ok(text: &str, value: bool) -> bool {
    text.bytes().all(|byte| {
        byte.is_ascii_graphic()
            && !matches!(byte, b'"' | b',' | b';' | b'\\')
            && (value
                || !matches!(
                    byte,
                    b'(' | b')' | b'<' | b'>' | b'@' | b':' | b'/' | b'[' | b']' | b'?' | b'=' | b'{' | b'}'
                ))
    })
}

fn cookie_header(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let name = args.string(0, "name")?;
    let value = args.string(1, "value")?;
    if name.is_empty() || !cookie_text_ok(name, false) {
        return Err(args.error(0, "the cookie name must be a non-empty token (letters, digits, !#$%&'*+-.^_`|~)"));
    }
    if !cookie_text_ok(value, true) {
        return Err(args.error(1, "the cookie value may not hold spaces, quotes, commas, semicolons or backslashes"));
    }
    let options = args.options(2, &["max_age", "path", "domain", "secure", "http_only", "same_site"])?;
    let mut header = format!("{name}={value}; Path={}", options.string("path")?.unwrap_or("/"));
    if let Some(domain) = options.string("domain")? {
        header.push_str(&format!("; Domain={domain}"));
    }
    if let Some(age) = options.int("max_age")? {
        header.push_str(&format!("; Max-Age={age}"));
    }
    if options.bool("http_only")?.unwrap_or(true) {
        header.push_str("; HttpOnly");
    }
    let same_site = options.string("same_site")?.unwrap_or("Lax");
    let same_site = match same_site.to_ascii_lowercase().as_str() {
        "lax" => "Lax",
        "strict" => "Strict",
        "none" => "None",
        _ => return Err(options.error("option `same_site` must be \"Lax\", \"Strict\" or \"None\"")),
    };
    // SameSite=None is ignored by browsers unless the cookie is Secure.
    if options.bool("secure")?.unwrap_or(true) || same_site == "None" {
        header.push_str("; Secure");
    }
    header.push_str(&format!("; SameSite={same_site}"));
    Ok(Value::from(header))
}

fn ttl_option(options: &Options) -> Result<Option<i64>, PluginError> {
    match options.int("ttl")? {
        Some(seconds) if seconds <= 0 => Err(options.error("option `ttl` must be at least 1 second")),
        other => Ok(other),
    }
}

fn session_data(args: &Args<'_>, index: usize) -> Result<String, PluginError> {
    let data = owned(args, index, "data")?;
    serde_json::to_string(&data)
        .map_err(|error| args.error(index, format!("the session data cannot be stored: {error}")))
}

fn session_create(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let data = session_data(args, 0)?;
    let ttl = ttl_option(&args.options(1, &["ttl"])?)?;
    state.sessions.create(&data, ttl).map(Value::from).map_err(|message| failed(args, message))
}

fn stored_value(args: &Args<'_>, stored: Option<String>) -> Result<Value, PluginError> {
    match stored {
        None => Ok(Value::null()),
        Some(text) => serde_json::from_str::<OwnedValue>(&text)
            .map(OwnedValue::into_value)
            .map_err(|_| failed(args, "the stored session data is not JSON (written by something else?)".into())),
    }
}

fn session_get(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let cookie = args.string(0, "cookie")?;
    let stored = state.sessions.get(cookie).map_err(|message| failed(args, message))?;
    stored_value(args, stored)
}

fn session_update(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let cookie = args.string(0, "cookie")?;
    let data = session_data(args, 1)?;
    let ttl = ttl_option(&args.options(2, &["ttl"])?)?;
    state.sessions.update(cookie, &data, ttl).map(Value::from).map_err(|message| failed(args, message))
}

fn session_destroy(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let cookie = args.string(0, "cookie")?;
    state.sessions.destroy(cookie).map(Value::from).map_err(|message| failed(args, message))
}

fn oauth_call(
    args: &Args<'_>,
    known: &'static [&'static str],
    run: fn(&Options) -> Result<Result<Json, String>, PluginError>,
) -> Result<Value, PluginError> {
    args.at_most(1)?;
    args.required(0, "options")?;
    let options = args.options(0, known)?;
    run(&options)?.map(json_value).map_err(|message| failed(args, message))
}

fn oauth2_authorize_url(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    args.required(0, "options")?;
    oauth::authorize_url(&args.options(0, oauth::AUTHORIZE_OPTIONS)?).map(json_value)
}

fn oauth2_exchange(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    oauth_call(args, oauth::EXCHANGE_OPTIONS, oauth::exchange)
}

fn oauth2_client_credentials(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    oauth_call(args, oauth::CLIENT_CREDENTIALS_OPTIONS, oauth::client_credentials)
}

fn oauth2_refresh(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    oauth_call(args, oauth::REFRESH_OPTIONS, oauth::refresh)
}

const REQUIRE_OPTIONS: &[&str] =
    &["key", "session", "scope", "algorithms", "issuer", "audience", "subject", "leeway", "require", "now"];

/// A header of a request object, by case-insensitive name.
fn header(request: &[(String, OwnedValue)], name: &str) -> Option<String> {
    let headers = request.iter().find(|(key, _)| key == "headers").map(|(_, value)| value)?;
    let OwnedValue::Object(headers) = headers else { return None };
    headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).and_then(|(_, value)| match value {
        OwnedValue::String(text) => Some(text.clone()),
        OwnedValue::Array(items) => items.iter().find_map(|item| match item {
            OwnedValue::String(text) => Some(text.clone()),
            _ => None,
        }),
        _ => None,
    })
}

/// A cookie of a request object: from its `cookies` object, else its Cookie header.
fn cookie(request: &[(String, OwnedValue)], name: &str) -> Option<String> {
    if let Some((_, OwnedValue::Object(cookies))) = request.iter().find(|(key, _)| key == "cookies")
        && let Some((_, OwnedValue::String(value))) = cookies.iter().find(|(key, _)| key == name)
    {
        return Some(value.clone());
    }
    header(request, "cookie")?.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.trim_matches('"').to_string())
    })
}

/// The scopes a token grants: `scope` (space-separated) or `scp` (a list or a string).
fn granted_scopes(claims: &OwnedValue) -> Vec<String> {
    let OwnedValue::Object(claims) = claims else { return Vec::new() };
    let mut scopes = Vec::new();
    for (name, value) in claims {
        if name == "scope" || name == "scp" {
            match value {
                OwnedValue::String(text) => scopes.extend(text.split_whitespace().map(str::to_string)),
                OwnedValue::Array(items) => scopes.extend(items.iter().filter_map(|item| match item {
                    OwnedValue::String(text) => Some(text.clone()),
                    _ => None,
                })),
                _ => {}
            }
        }
    }
    scopes
}

fn require(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let request = owned(args, 0, "request")?;
    let OwnedValue::Object(request) = request else {
        return Err(args.error(0, "the request must be an object ({headers: {…}, cookies: {…}})"));
    };
    let options = args.options(1, REQUIRE_OPTIONS)?;
    let needed_scopes = options.strings("scope")?.unwrap_or_default();
    let session_cookie = match options.value("session") {
        None | Some(OwnedValue::Bool(false)) => None,
        Some(OwnedValue::Bool(true)) => Some("session".to_string()),
        Some(OwnedValue::String(name)) => Some(name.clone()),
        Some(_) => return Err(options.error("option `session` must be true or the session cookie's name")),
    };
    if let Some(authorization) = header(&request, "authorization") {
        let Some((scheme, token)) = authorization.trim().split_once(' ') else {
            return Err(failed(args, "unauthorized: the Authorization header is not `Bearer <token>`".into()));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(failed(args, format!("unauthorized: the Authorization scheme is {scheme}, not Bearer")));
        }
        let key =
            options.value("key").ok_or_else(|| options.error("option `key` is required to check bearer tokens"))?;
        let verify = VerifyOptions::read(&options, &state.settings)?;
        let verified = jwt::verify(token.trim(), key, &verify)
            .map_err(|message| failed(args, format!("unauthorized: {message}")))?;
        let granted = granted_scopes(&verified.claims);
        if let Some(missing) = needed_scopes.iter().find(|scope| !granted.contains(scope)) {
            return Err(failed(args, format!("forbidden: the token does not grant the scope \"{missing}\"")));
        }
        return Ok(verified.claims.into_value());
    }
    if let Some(name) = &session_cookie
        && let Some(value) = cookie(&request, name)
    {
        let stored = state.sessions.get(&value).map_err(|message| failed(args, format!("unauthorized: {message}")))?;
        return match stored {
            Some(data) => stored_value(args, Some(data)),
            None => Err(failed(args, "unauthorized: the session has expired or was ended".into())),
        };
    }
    Err(failed(
        args,
        match &session_cookie {
            Some(name) => format!(
                "unauthorized: the request has no bearer token (Authorization: Bearer …) and no `{name}` session cookie"
            ),
            None => "unauthorized: the request has no bearer token (Authorization: Bearer …)".into(),
        },
    ))
}

/// `@auth(operation, …)` and its two-word groups (`@auth("oauth2", "exchange", {…})`).
const OPERATIONS: &[(&str, Operation)] = &[
    ("jwt", jwt_sign),
    ("sign", jwt_sign),
    ("verify", jwt_verify),
    ("validate", jwt_verify),
    ("check", jwt_check),
    ("decode", jwt_decode),
    ("jwk", jwk),
    ("require", require),
];

const GROUPS: &[(&str, &[(&str, Operation)])] = &[
    ("jws", &[("sign", jws_sign), ("verify", jws_verify)]),
    ("api_key", &[("generate", api_key_generate), ("hash", api_key_hash), ("verify", api_key_verify)]),
    ("cookie", &[("sign", cookie_sign), ("verify", cookie_verify), ("header", cookie_header)]),
    (
        "session",
        &[("create", session_create), ("get", session_get), ("update", session_update), ("destroy", session_destroy)],
    ),
    (
        "oauth2",
        &[
            ("authorize_url", oauth2_authorize_url),
            ("exchange", oauth2_exchange),
            ("client_credentials", oauth2_client_credentials),
            ("refresh", oauth2_refresh),
        ],
    ),
];

fn name_at<'a>(args: &'a Args<'_>, index: usize, what: &str) -> Result<&'a str, PluginError> {
    let value = args.required(index, what)?;
    value.as_str().ok_or_else(|| {
        PluginError::message(format!("@auth: the {what} must be a string, got a {}", value.type_name()))
            .at_argument(index)
    })
}

fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let name = name_at(args, 0, "operation")?;
    if let Some((_, run)) = OPERATIONS.iter().find(|(known, _)| *known == name) {
        return run(state, &Args { values: args.values, offset: 1, operator: &format!("@auth(\"{name}\")") });
    }
    if let Some((_, actions)) = GROUPS.iter().find(|(known, _)| *known == name) {
        let action = name_at(args, 1, "action")?;
        let Some((_, run)) = actions.iter().find(|(known, _)| *known == action) else {
            let known: Vec<&str> = actions.iter().map(|(known, _)| *known).collect();
            return Err(PluginError::invalid_operation(format!("@auth(\"{name}\") has no action `{action}`"))
                .at_argument(1)
                .with_help(format!("use one of {}", known.join(", "))));
        };
        return run(
            state,
            &Args { values: args.values, offset: 2, operator: &format!("@auth(\"{name}\", \"{action}\")") },
        );
    }
    let known: Vec<&str> =
        OPERATIONS.iter().map(|(known, _)| *known).chain(GROUPS.iter().map(|(known, _)| *known)).collect();
    Err(PluginError::invalid_operation(format!("@auth has no operation `{name}`"))
        .at_argument(0)
        .with_help(format!("use one of {}", known.join(", "))))
}

/// One registered symbol.
struct Symbol {
    name: &'static str,
    signature: &'static str,
    summary: &'static str,
    examples: &'static [&'static str],
    side_effects: bool,
    run: Operation,
}

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    let operators = [
        Symbol {
            name: "auth",
            signature: "@auth(operation, …)",
            summary: "The seed's form: @auth(\"jwt\", payload, secret[, options]) signs a token; also \"verify\", \"check\", \"decode\", \"jwk\", \"require\", and the groups \"jws\", \"api_key\", \"cookie\", \"session\", \"oauth2\" followed by their action (@auth(\"oauth2\", \"exchange\", {…})).",
            examples: &[
                "len(split(@auth(\"jwt\", {sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\"), \".\")) => 3",
                "@auth(\"verify\", @auth(\"jwt\", {sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\"), \"k3y-for-the-examples-only-0123456789\").sub => \"ada\"",
            ],
            side_effects: false,
            run: dispatch,
        },
        Symbol {
            name: "auth.jwt.sign",
            signature: "@auth.jwt.sign(claims, key[, options])",
            summary: "Signs claims into a JWT; `iat` and `exp` (token_ttl, 1 hour by default) are added; options: algorithm, expires_in, not_before, issuer, subject, audience, kid, jti, iat, now.",
            examples: &[
                "@auth.jwt.sign({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\", {now: 0, expires_in: 60}) => \"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJpYXQiOjAsImV4cCI6NjB9.ahIWRgC1Y2gsdnTS2mmE_zqXRoLRAMEf2J1cuE76-F8\"",
            ],
            side_effects: false,
            run: jwt_sign,
        },
        Symbol {
            name: "auth.jwt.verify",
            signature: "@auth.jwt.verify(token, key[, options])",
            summary: "The claims of a token whose signature and claims check out, else a precise error; options: algorithms, issuer, audience, subject, leeway, require (default [\"exp\"]), now.",
            examples: &[
                "@auth.jwt.verify(@auth.jwt.sign({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\"), \"k3y-for-the-examples-only-0123456789\").sub => \"ada\"",
            ],
            side_effects: false,
            run: jwt_verify,
        },
        Symbol {
            name: "auth.jwt.check",
            signature: "@auth.jwt.check(token, key[, options])",
            summary: "As @auth.jwt.verify, but never fails on a bad token: {valid: true, claims} or {valid: false, error}.",
            examples: &["@auth.jwt.check(\"a.b.c\", \"k3y-for-the-examples-only-0123456789\").valid => false"],
            side_effects: false,
            run: jwt_check,
        },
        Symbol {
            name: "auth.jwt.decode",
            signature: "@auth.jwt.decode(token)",
            summary: "The header and claims of a token WITHOUT checking anything ({header, claims}); never use them to decide access.",
            examples: &[
                "@auth.jwt.decode(@auth.jwt.sign({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\")).header.alg => \"HS256\"",
            ],
            side_effects: false,
            run: jwt_decode,
        },
        Symbol {
            name: "auth.jwk",
            signature: "@auth.jwk(key[, {kid, algorithm}])",
            summary: "The public JWK of an RSA, EC or Ed25519 key (PEM or private JWK), for a JWKS document ({keys: [@auth.jwk(…)]}).",
            examples: &[
                "@auth.jwk({kty: \"OKP\", crv: \"Ed25519\", x: \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}, {kid: \"k1\"}).kid => \"k1\"",
            ],
            side_effects: false,
            run: jwk,
        },
        Symbol {
            name: "auth.jws.sign",
            signature: "@auth.jws.sign(payload, key[, {algorithm, kid, typ}])",
            summary: "A compact JWS of any text payload (not only JSON claims), with the header {alg[, kid, typ]}.",
            examples: &[
                "@auth.jws.verify(@auth.jws.sign(\"hello\", \"k3y-for-the-examples-only-0123456789\"), \"k3y-for-the-examples-only-0123456789\").payload => \"hello\"",
            ],
            side_effects: false,
            run: jws_sign,
        },
        Symbol {
            name: "auth.jws.verify",
            signature: "@auth.jws.verify(token, key[, {algorithms}])",
            summary: "Checks a compact JWS's signature and returns {header, payload} (the payload as text).",
            examples: &[
                "@auth.jws.verify(@auth.jws.sign(\"hello\", \"k3y-for-the-examples-only-0123456789\"), \"k3y-for-the-examples-only-0123456789\").header.alg => \"HS256\"",
            ],
            side_effects: false,
            run: jws_verify,
        },
        Symbol {
            name: "auth.api_key.generate",
            signature: "@auth.api_key.generate([{prefix}])",
            summary: "A new random API key (prefix and 256 random bits) and the hash to store: {key, hash}; show the key once, keep only the hash.",
            examples: &["@auth.api_key.verify(@auth.api_key.generate().key, @auth.api_key.generate().hash) => false"],
            side_effects: false,
            run: api_key_generate,
        },
        Symbol {
            name: "auth.api_key.hash",
            signature: "@auth.api_key.hash(key)",
            summary: "The hash of an API key as stored (sha256: and 64 hex digits).",
            examples: &[
                "@auth.api_key.hash(\"abc\") => \"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
            ],
            side_effects: false,
            run: api_key_hash,
        },
        Symbol {
            name: "auth.api_key.verify",
            signature: "@auth.api_key.verify(key, hash_or_hashes)",
            summary: "True when the key matches the stored hash (or one of a list), compared in constant time.",
            examples: &[
                "@auth.api_key.verify(\"abc\", \"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\") => true",
            ],
            side_effects: false,
            run: api_key_verify,
        },
        Symbol {
            name: "auth.cookie.sign",
            signature: "@auth.cookie.sign(value, secret)",
            summary: "`value.signature` with an HMAC-SHA256 signature (base64url), for cookies the client must not alter.",
            examples: &[
                "@auth.cookie.sign(\"ada\", \"k3y-for-the-examples-only-0123456789\") => \"ada.RUUw8CvEXm1Spr_NxUxgpOAQ1W-moDz0D-6lpIfp5OE\"",
            ],
            side_effects: false,
            run: cookie_sign,
        },
        Symbol {
            name: "auth.cookie.verify",
            signature: "@auth.cookie.verify(signed, secret)",
            summary: "The value of a signed cookie, or null when the signature does not match.",
            examples: &["@auth.cookie.verify(\"ada.forged\", \"k3y-for-the-examples-only-0123456789\") => null"],
            side_effects: false,
            run: cookie_verify,
        },
        Symbol {
            name: "auth.cookie.header",
            signature: "@auth.cookie.header(name, value[, {max_age, path, domain, secure, http_only, same_site}])",
            summary: "A Set-Cookie header value with safe defaults (Path=/, HttpOnly, Secure, SameSite=Lax).",
            examples: &[
                "@auth.cookie.header(\"sid\", \"abc\", {max_age: 60}) => \"sid=abc; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax\"",
            ],
            side_effects: false,
            run: cookie_header,
        },
        Symbol {
            name: "auth.session.create",
            signature: "@auth.session.create(data[, {ttl}])",
            summary: "Stores data in a new server-side session (memory or Redis) and returns its signed cookie value.",
            examples: &["@auth.session.get(@auth.session.create({user: \"ada\"})).user => \"ada\""],
            side_effects: true,
            run: session_create,
        },
        Symbol {
            name: "auth.session.get",
            signature: "@auth.session.get(cookie)",
            summary: "The data of a session, or null when it expired or was ended; a forged cookie is an error.",
            examples: &["@auth.session.get(@auth.session.create([1, 2]))[1] => 2"],
            side_effects: true,
            run: session_get,
        },
        Symbol {
            name: "auth.session.update",
            signature: "@auth.session.update(cookie, data[, {ttl}])",
            summary: "Replaces a live session's data and restarts its lifetime; false when the session is gone.",
            examples: &["@auth.session.update(@auth.session.create(1), 2) => true"],
            side_effects: true,
            run: session_update,
        },
        Symbol {
            name: "auth.session.destroy",
            signature: "@auth.session.destroy(cookie)",
            summary: "Ends a session; false when it was already gone.",
            examples: &["@auth.session.destroy(@auth.session.create(1)) => true"],
            side_effects: true,
            run: session_destroy,
        },
        Symbol {
            name: "auth.oauth2.authorize_url",
            signature: "@auth.oauth2.authorize_url({client_id, auth_url, redirect_uri, scopes, state, pkce, extra})",
            summary: "The URL to send the user to, with a fresh state and a PKCE S256 challenge: {url, state, code_verifier}; keep state and code_verifier for the callback.",
            examples: &[
                "len(@auth.oauth2.authorize_url({client_id: \"app\", auth_url: \"https://id.example/authorize\"}).code_verifier) => 43",
            ],
            side_effects: false,
            run: oauth2_authorize_url,
        },
        Symbol {
            name: "auth.oauth2.exchange",
            signature: "@auth.oauth2.exchange({client_id, client_secret, token_url, redirect_uri, code, code_verifier, auth_style, timeout})",
            summary: "Trades the callback's authorization code (and the PKCE verifier) for tokens: {access_token, token_type, expires_in, refresh_token, scope}.",
            examples: &[],
            side_effects: true,
            run: oauth2_exchange,
        },
        Symbol {
            name: "auth.oauth2.client_credentials",
            signature: "@auth.oauth2.client_credentials({client_id, client_secret, token_url, scopes, auth_style, timeout})",
            summary: "A token for the client itself (the client credentials grant).",
            examples: &[],
            side_effects: true,
            run: oauth2_client_credentials,
        },
        Symbol {
            name: "auth.oauth2.refresh",
            signature: "@auth.oauth2.refresh({client_id, client_secret, token_url, refresh_token, scopes, auth_style, timeout})",
            summary: "New tokens for a refresh token.",
            examples: &[],
            side_effects: true,
            run: oauth2_refresh,
        },
        Symbol {
            name: "auth.require",
            signature: "@auth.require(request, {key, session, scope, algorithms, issuer, audience, subject, leeway, require, now})",
            summary: "What an HTTP middleware checks: the request's bearer token (or, with `session`, its session cookie); the claims (or session data), else an `unauthorized:` or `forbidden:` error.",
            examples: &[
                "@auth.require({headers: {Authorization: \"Bearer \" + @auth.jwt.sign({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\")}}, {key: \"k3y-for-the-examples-only-0123456789\"}).sub => \"ada\"",
            ],
            side_effects: false,
            run: require,
        },
    ];
    for symbol in operators {
        let state = state.clone();
        let operator = format!("@{}", symbol.name);
        let run = symbol.run;
        context.register_operator_with(
            symbol.name,
            SymbolDoc {
                signature: symbol.signature.into(),
                summary: symbol.summary.into(),
                examples: symbol.examples.iter().map(|example| example.to_string()).collect(),
                side_effects: symbol.side_effects,
                ..SymbolDoc::default()
            },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let sign_state = state.clone();
    context.register_function_with(
        "generate_token",
        SymbolDoc {
            signature: "generate_token(payload, secret[, options])".into(),
            summary: "The seed's name for @auth.jwt.sign: a signed JWT (HS256 with a string secret).".into(),
            examples: vec![
                "len(split(generate_token({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\"), \".\")) => 3"
                    .into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| jwt_sign(&sign_state, &Args { values: args, offset: 0, operator: "generate_token" }),
    )?;
    let verify_state = state.clone();
    context.register_function_with(
        "validate_token",
        SymbolDoc {
            signature: "validate_token(token, secret[, options])".into(),
            summary: "The seed's name for @auth.jwt.verify: the claims of a valid token, else a precise error.".into(),
            examples: vec!["validate_token(generate_token({sub: \"ada\"}, \"k3y-for-the-examples-only-0123456789\"), \"k3y-for-the-examples-only-0123456789\").sub => \"ada\"".into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| jwt_verify(&verify_state, &Args { values: args, offset: 0, operator: "validate_token" }),
    )?;
    Ok(())
}
