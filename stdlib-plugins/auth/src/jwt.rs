//! JSON Web Tokens (RFC 7519) and compact JWS (RFC 7515): signing, verification with precise
//! errors, claims checks, unverified decoding.
//!
//! Verification never trusts the token to choose how it is checked: the algorithm in its
//! header must belong to the key's family (and to `algorithms` when given), `none` is refused,
//! and jsonwebtoken then checks the signature with exactly that algorithm. The time and
//! audience claims are checked here rather than by jsonwebtoken, so that the messages can say
//! when a token expired or which audience it was for, and so that `now` can be set.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value as Json};
use tusk_plugin_sdk::{OwnedValue, PluginError};

use crate::config::Settings;
use crate::keys::{self, VerifyingKey, family_algorithms, family_name};
use crate::util::{Options, b64, iso, kind_name, random_bytes, unb64};

pub(crate) const SIGN_OPTIONS: &[&str] =
    &["algorithm", "expires_in", "not_before", "issuer", "subject", "audience", "kid", "jti", "iat", "now"];

/// How to sign: read from the options.
pub(crate) struct SignOptions {
    algorithm: Option<Algorithm>,
    /// `None`: the configured lifetime; `Some(None)`: no `exp`.
    expires_in: Option<Option<i64>>,
    not_before: Option<i64>,
    issuer: Option<String>,
    subject: Option<String>,
    audience: Option<OwnedValue>,
    kid: Option<String>,
    jti: bool,
    iat: bool,
    now: i64,
}

impl SignOptions {
    pub(crate) fn read(options: &Options) -> Result<SignOptions, PluginError> {
        let algorithm = match options.string("algorithm")? {
            Some(name) => Some(keys::algorithm(name).map_err(|message| options.error(message))?),
            None => None,
        };
        let expires_in = match options.raw("expires_in") {
            None => None,
            Some(OwnedValue::Null) => Some(None),
            Some(_) => match options.int("expires_in")? {
                Some(seconds) if seconds > 0 => Some(Some(seconds)),
                _ => {
                    return Err(
                        options.error("option `expires_in` must be a positive number of seconds (or null for no exp)")
                    );
                }
            },
        };
        let audience = match options.value("audience") {
            None => None,
            Some(value @ OwnedValue::String(_)) => Some(value.clone()),
            Some(_) => Some(OwnedValue::Array(
                options.strings("audience")?.unwrap_or_default().into_iter().map(OwnedValue::String).collect(),
            )),
        };
        Ok(SignOptions {
            algorithm,
            expires_in,
            not_before: options.int("not_before")?,
            issuer: options.string("issuer")?.map(str::to_string),
            subject: options.string("subject")?.map(str::to_string),
            audience,
            kid: options.string("kid")?.map(str::to_string),
            jti: options.bool("jti")?.unwrap_or(false),
            iat: options.bool("iat")?.unwrap_or(true),
            now: options.int("now")?.unwrap_or_else(crate::util::now),
        })
    }
}

/// Signs `claims` (an object) into a compact JWT.
pub(crate) fn sign(
    claims: OwnedValue,
    key: &OwnedValue,
    options: &SignOptions,
    settings: &Settings,
) -> Result<String, String> {
    let OwnedValue::Object(mut claims) = claims else {
        return Err(format!("the payload must be an object of claims, got {}", kind_name(&claims)));
    };
    let key = keys::signing_key(key, options.algorithm)?;
    let has = |claims: &[(String, OwnedValue)], name: &str| claims.iter().any(|(key, _)| key == name);
    let set = |claims: &mut Vec<(String, OwnedValue)>, name: &str, value: OwnedValue| match claims
        .iter_mut()
        .find(|(key, _)| key == name)
    {
        Some(entry) => entry.1 = value,
        None => claims.push((name.to_string(), value)),
    };
    if options.iat && !has(&claims, "iat") {
        set(&mut claims, "iat", OwnedValue::Int(options.now));
    }
    let lifetime = match options.expires_in {
        Some(lifetime) => lifetime,
        None if has(&claims, "exp") || settings.token_ttl == 0 => None,
        None => Some(settings.token_ttl),
    };
    if let Some(seconds) = lifetime {
        set(&mut claims, "exp", OwnedValue::Int(options.now.saturating_add(seconds)));
    }
    if let Some(seconds) = options.not_before {
        set(&mut claims, "nbf", OwnedValue::Int(options.now.saturating_add(seconds)));
    }
    if let Some(issuer) = &options.issuer {
        set(&mut claims, "iss", OwnedValue::String(issuer.clone()));
    }
    if let Some(subject) = &options.subject {
        set(&mut claims, "sub", OwnedValue::String(subject.clone()));
    }
    if let Some(audience) = &options.audience {
        set(&mut claims, "aud", audience.clone());
    }
    if options.jti {
        set(&mut claims, "jti", OwnedValue::String(b64(&random_bytes(16).map_err(|error| error.to_string())?)));
    }
    let mut header = Header::new(key.algorithm);
    header.kid = options.kid.clone().or(key.kid);
    jsonwebtoken::encode(&header, &OwnedValue::Object(claims), &key.key)
        .map_err(|error| format!("cannot sign with {:?}: {}", key.algorithm, describe(&error)))
}

pub(crate) const VERIFY_OPTIONS: &[&str] = &["algorithms", "issuer", "audience", "subject", "leeway", "require", "now"];

/// How to verify: read from the options.
pub(crate) struct VerifyOptions {
    algorithms: Option<Vec<Algorithm>>,
    issuer: Option<Vec<String>>,
    audience: Option<Vec<String>>,
    subject: Option<String>,
    leeway: i64,
    require: Vec<String>,
    now: i64,
}

impl VerifyOptions {
    pub(crate) fn read(options: &Options, settings: &Settings) -> Result<VerifyOptions, PluginError> {
        let algorithms = match options.strings("algorithms")? {
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| keys::algorithm(name))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|message| options.error(message))?,
            ),
            None => None,
        };
        let leeway = options.int("leeway")?.unwrap_or(settings.leeway);
        if !(0..=86_400).contains(&leeway) {
            return Err(options.error("option `leeway` must be between 0 and 86400 seconds"));
        }
        Ok(VerifyOptions {
            algorithms,
            issuer: options.strings("issuer")?,
            audience: options.strings("audience")?,
            subject: options.string("subject")?.map(str::to_string),
            leeway,
            require: options.strings("require")?.unwrap_or_else(|| vec!["exp".to_string()]),
            now: options.int("now")?.unwrap_or_else(crate::util::now),
        })
    }
}

/// A compact token split and its header read, before any key is involved.
struct Parsed<'a> {
    header: Map<String, Json>,
    algorithm: Algorithm,
    kid: Option<String>,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn parse(token: &str) -> Result<Parsed<'_>, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(match parts.len() {
            1 => "malformed token: not a JWT (a JWT is three base64url parts separated by dots)".into(),
            5 => "malformed token: this is an encrypted JWT (JWE, five parts), which is not supported".into(),
            count => {
                format!("malformed token: a JWT has three base64url parts separated by dots, this one has {count}")
            }
        });
    }
    let header_bytes = unb64(parts[0]).ok_or("malformed token: the header is not base64url")?;
    let header: Map<String, Json> =
        serde_json::from_slice(&header_bytes).map_err(|_| "malformed token: the header is not a JSON object")?;
    let algorithm = match header.get("alg") {
        Some(Json::String(name)) => keys::algorithm(name)?,
        Some(_) => return Err("malformed token: the header's `alg` is not a string".into()),
        None => return Err("malformed token: the header has no `alg`".into()),
    };
    let kid = match header.get("kid") {
        None | Some(Json::Null) => None,
        Some(Json::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("malformed token: the header's `kid` is not a string".into()),
    };
    let signing_input = &token[..parts[0].len() + 1 + parts[1].len()];
    Ok(Parsed { header, algorithm, kid, signing_input, payload: parts[1], signature: parts[2] })
}

/// The key of `keys` that may check a token with `algorithm` and `kid`; the algorithm
/// confusion and the key-id mismatch are refused here, by name.
fn choose<'k>(
    keys: &'k [VerifyingKey],
    algorithm: Algorithm,
    kid: Option<&str>,
    allowed: Option<&[Algorithm]>,
) -> Result<Vec<&'k VerifyingKey>, String> {
    if let Some(allowed) = allowed
        && !allowed.contains(&algorithm)
    {
        let names: Vec<String> = allowed.iter().map(|alg| format!("{alg:?}")).collect();
        return Err(format!(
            "the token's algorithm {algorithm:?} is not among the allowed ones ({})",
            names.join(", ")
        ));
    }
    let set = keys.len() > 1 || keys.first().is_some_and(|key| key.kid.is_some());
    let candidates: Vec<&VerifyingKey> = match kid {
        Some(kid) if set => {
            let found: Vec<&VerifyingKey> = keys.iter().filter(|key| key.kid.as_deref() == Some(kid)).collect();
            if found.is_empty() {
                let known: Vec<String> =
                    keys.iter().filter_map(|key| key.kid.as_ref()).map(|kid| format!("\"{kid}\"")).collect();
                return Err(format!(
                    "no key has the token's key id \"{kid}\" (the keys' ids: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ));
            }
            found
        }
        _ => keys.iter().collect(),
    };
    let fitting: Vec<&VerifyingKey> = candidates
        .iter()
        .copied()
        .filter(|key| key.family == algorithm.family() && key.algorithm.is_none_or(|alg| alg == algorithm))
        .collect();
    if fitting.is_empty() {
        let key = candidates[0];
        if key.family != algorithm.family() {
            return Err(format!(
                "the token's algorithm {algorithm:?} does not fit the key: {} verifies only {}; refused (algorithm confusion)",
                family_name(key.family),
                family_algorithms(key.family)
            ));
        }
        return Err(format!(
            "the token's algorithm {algorithm:?} does not fit the key, which is for {:?} only",
            key.algorithm.unwrap_or(algorithm)
        ));
    }
    Ok(fitting)
}

/// A verified token: its claims.
pub(crate) struct Verified {
    pub(crate) claims: OwnedValue,
}

/// Verifies the signature and the claims of a JWT.
pub(crate) fn verify(token: &str, key: &OwnedValue, options: &VerifyOptions) -> Result<Verified, String> {
    let parsed = parse(token)?;
    let keys = keys::verifying_keys(key)?;
    let fitting = choose(&keys, parsed.algorithm, parsed.kid.as_deref(), options.algorithms.as_deref())?;
    let mut validation = Validation::new(parsed.algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let mut last = String::new();
    for key in fitting {
        match jsonwebtoken::decode::<OwnedValue>(token, &key.key, &validation) {
            Ok(data) => {
                check_claims(&data.claims, options)?;
                return Ok(Verified { claims: data.claims });
            }
            Err(error) => last = describe(&error),
        }
    }
    Err(last)
}

/// What went wrong, in words that never hold key material.
fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => "invalid signature: the token was altered or signed with another key".into(),
        ErrorKind::InvalidToken => {
            "malformed token: not a compact JWT, or a `crit` header this verifier does not know".into()
        }
        ErrorKind::Base64(_) => "malformed token: a part is not base64url".into(),
        ErrorKind::Json(_) => "malformed token: the claims are not JSON".into(),
        ErrorKind::Utf8(_) => "malformed token: a part is not UTF-8".into(),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::RsaFailedSigning => "the key is not a usable RSA key".into(),
        ErrorKind::InvalidEcdsaKey => {
            "the key is not a usable EC key for this algorithm (P-256 signs ES256, P-384 ES384)".into()
        }
        ErrorKind::InvalidEddsaKey => "the key is not a usable Ed25519 key".into(),
        ErrorKind::InvalidKeyFormat => "the key is not in a usable format".into(),
        ErrorKind::InvalidClaimFormat(claim) => format!("the `{claim}` claim has the wrong type"),
        ErrorKind::InvalidAlgorithm => "the key cannot be used with the token's algorithm".into(),
        _ => "the token was refused".into(),
    }
}

fn claim<'c>(claims: &'c [(String, OwnedValue)], name: &str) -> Option<&'c OwnedValue> {
    claims.iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

fn seconds_of(claims: &[(String, OwnedValue)], name: &str) -> Result<Option<i64>, String> {
    match claim(claims, name) {
        None => Ok(None),
        Some(OwnedValue::Int(n)) => Ok(Some(*n)),
        Some(OwnedValue::Float(x)) if x.is_finite() => Ok(Some(x.floor() as i64)),
        Some(other) => {
            Err(format!("the `{name}` claim must be a number of seconds since 1970, got {}", kind_name(other)))
        }
    }
}

fn quoted(items: &[String]) -> String {
    items.iter().map(|item| format!("\"{item}\"")).collect::<Vec<_>>().join(", ")
}

/// `exp`, `nbf`, `iss`, `aud`, `sub` and the required claims.
fn check_claims(claims: &OwnedValue, options: &VerifyOptions) -> Result<(), String> {
    let OwnedValue::Object(claims) = claims else {
        return Err(format!("the token's claims must be a JSON object, got {}", kind_name(claims)));
    };
    for name in &options.require {
        if claim(claims, name).is_none() {
            return Err(format!("the token has no `{name}` claim, which is required"));
        }
    }
    let now = options.now;
    let leeway = options.leeway;
    if let Some(exp) = seconds_of(claims, "exp")?
        && now >= exp.saturating_add(leeway)
    {
        return Err(format!("the token expired at {} ({} s ago, leeway {leeway} s)", iso(exp), now - exp));
    }
    if let Some(nbf) = seconds_of(claims, "nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(format!("the token is not valid before {} (in {} s, leeway {leeway} s)", iso(nbf), nbf - now));
    }
    if let Some(expected) = &options.issuer {
        match claim(claims, "iss") {
            Some(OwnedValue::String(issuer)) if expected.contains(issuer) => {}
            Some(OwnedValue::String(issuer)) => {
                return Err(format!("the token's issuer \"{issuer}\" is not the expected {}", quoted(expected)));
            }
            Some(other) => return Err(format!("the `iss` claim must be a string, got {}", kind_name(other))),
            None => return Err(format!("the token has no `iss` claim; the issuer {} is expected", quoted(expected))),
        }
    }
    let audience: Option<Vec<String>> = match claim(claims, "aud") {
        None => None,
        Some(OwnedValue::String(one)) => Some(vec![one.clone()]),
        Some(OwnedValue::Array(items)) => Some(
            items
                .iter()
                .map(|item| match item {
                    OwnedValue::String(text) => Ok(text.clone()),
                    other => Err(format!("the `aud` claim must hold strings, it holds {}", kind_name(other))),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => {
            return Err(format!("the `aud` claim must be a string or a list of strings, got {}", kind_name(other)));
        }
    };
    match (&options.audience, &audience) {
        (Some(expected), Some(audience)) if audience.iter().any(|item| expected.contains(item)) => {}
        (Some(expected), Some(audience)) => {
            return Err(format!("wrong audience: the token is for {}, not for {}", quoted(audience), quoted(expected)));
        }
        (Some(expected), None) => {
            return Err(format!("the token has no `aud` claim; the audience {} is expected", quoted(expected)));
        }
        // RFC 7519 4.1.3: a recipient that does not identify itself with the audience rejects the token.
        (None, Some(audience)) => {
            return Err(format!(
                "the token is meant for the audience {}; pass `audience` to accept it",
                quoted(audience)
            ));
        }
        (None, None) => {}
    }
    if let Some(expected) = &options.subject {
        match claim(claims, "sub") {
            Some(OwnedValue::String(subject)) if subject == expected => {}
            Some(OwnedValue::String(subject)) => {
                return Err(format!("the token's subject \"{subject}\" is not the expected \"{expected}\""));
            }
            _ => return Err(format!("the token has no string `sub` claim; the subject \"{expected}\" is expected")),
        }
    }
    Ok(())
}

/// The header and claims of a token, NOT verified.
pub(crate) fn decode_unverified(token: &str) -> Result<(Map<String, Json>, Json), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "malformed token: a JWT has three base64url parts separated by dots, this one has {}",
            parts.len()
        ));
    }
    let header_bytes = unb64(parts[0]).ok_or("malformed token: the header is not base64url")?;
    let header: Map<String, Json> =
        serde_json::from_slice(&header_bytes).map_err(|_| "malformed token: the header is not a JSON object")?;
    let payload = unb64(parts[1]).ok_or("malformed token: the claims are not base64url")?;
    let claims: Json = serde_json::from_slice(&payload).map_err(|_| "malformed token: the claims are not JSON")?;
    Ok((header, claims))
}

pub(crate) const JWS_SIGN_OPTIONS: &[&str] = &["algorithm", "kid", "typ"];

/// A compact JWS of any payload text, with a minimal header (`alg`, then `kid` and `typ` when
/// given), as the RFC examples write them.
pub(crate) fn jws_sign(
    payload: &str,
    key: &OwnedValue,
    algorithm: Option<Algorithm>,
    kid: Option<&str>,
    typ: Option<&str>,
) -> Result<String, String> {
    let key = keys::signing_key(key, algorithm)?;
    let mut header = Map::new();
    header.insert("alg".into(), Json::String(format!("{:?}", key.algorithm)));
    if let Some(kid) = kid.map(str::to_string).or(key.kid) {
        header.insert("kid".into(), Json::String(kid));
    }
    if let Some(typ) = typ {
        header.insert("typ".into(), Json::String(typ.to_string()));
    }
    let input = format!("{}.{}", b64(Json::Object(header).to_string().as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.key, key.algorithm)
        .map_err(|error| format!("cannot sign with {:?}: {}", key.algorithm, describe(&error)))?;
    Ok(format!("{input}.{signature}"))
}

/// Verifies a compact JWS and returns its header and payload text.
pub(crate) fn jws_verify(
    token: &str,
    key: &OwnedValue,
    allowed: Option<&[Algorithm]>,
) -> Result<(Map<String, Json>, String), String> {
    let parsed = parse(token)?;
    if parsed.header.contains_key("crit") {
        return Err("the token has a `crit` header, which this verifier does not support".into());
    }
    let keys = keys::verifying_keys(key)?;
    let fitting = choose(&keys, parsed.algorithm, parsed.kid.as_deref(), allowed)?;
    let mut valid = false;
    for key in fitting {
        match jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key.key,
            parsed.algorithm,
        ) {
            Ok(true) => {
                valid = true;
                break;
            }
            Ok(false) => {}
            Err(error) => {
                if matches!(error.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) {
                    return Err("malformed token: the signature is not base64url".into());
                }
            }
        }
    }
    if !valid {
        return Err("invalid signature: the token was altered or signed with another key".into());
    }
    let payload = unb64(parsed.payload).ok_or("malformed token: the payload is not base64url")?;
    let payload = String::from_utf8(payload).map_err(|_| "the payload is not UTF-8 text")?;
    Ok((parsed.header, payload))
}
