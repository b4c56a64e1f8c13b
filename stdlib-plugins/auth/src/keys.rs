//! Keys from what a script passes: an HMAC secret (a string), a PEM key (a string starting
//! with `-----BEGIN`), a JWK or a JWKS document (objects).
//!
//! A PEM string is never used as an HMAC secret: that is the key-confusion attack, where a
//! verifier that takes `alg` from the token would check an HS256 token against the bytes of
//! an RSA public key, which everybody knows.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use tusk_plugin_sdk::OwnedValue;

use crate::der;
use crate::util::{kind_name, unb64};

/// What a family's keys are called in messages.
pub(crate) fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "an HMAC secret",
        AlgorithmFamily::Rsa => "an RSA key",
        AlgorithmFamily::Ec => "an EC key",
        AlgorithmFamily::Ed => "an Ed25519 key",
    }
}

/// `HS256, HS384, HS512` for a family.
pub(crate) fn family_algorithms(family: AlgorithmFamily) -> String {
    family.algorithms().iter().map(|alg| format!("{alg:?}")).collect::<Vec<_>>().join(", ")
}

/// The algorithms the plugin knows, for messages.
pub(crate) const ALGORITHMS: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// An algorithm by its JOSE name; `none` is refused here already.
pub(crate) fn algorithm(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("unsigned tokens (alg \"none\") are never accepted".into());
    }
    name.parse::<Algorithm>().map_err(|_| format!("unsupported algorithm \"{name}\" (supported: {ALGORITHMS})"))
}

fn is_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN")
}

/// Whether a PEM's first block is a private key (its label says so: `PRIVATE KEY`,
/// `RSA PRIVATE KEY`, `EC PRIVATE KEY`). jsonwebtoken's PEM readers do not tell a public key
/// from a private one of the same algorithm, so the label decides which reader is asked.
fn is_private_pem(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.trim_start().lines().next().is_some_and(|line| line.contains("PRIVATE KEY"))
}

/// A key to sign with.
pub(crate) struct SigningKey {
    pub(crate) key: EncodingKey,
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<String>,
}

/// The signing key `value` is, for `wanted` (or the key's own algorithm).
pub(crate) fn signing_key(value: &OwnedValue, wanted: Option<Algorithm>) -> Result<SigningKey, String> {
    let (key, natural, kid) = match value {
        OwnedValue::String(text) if is_pem(text) => {
            let (key, natural) = private_pem(text.as_bytes(), wanted)?;
            (key, natural, None)
        }
        OwnedValue::String(secret) => {
            if secret.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|_| "the HMAC secret is not usable")?;
            (key, Algorithm::HS256, None)
        }
        OwnedValue::Object(entries) => {
            let json = object_json(entries);
            if json.get("keys").is_some() {
                return Err(
                    "a JWKS document holds public keys; sign with a private key (a PEM or a private JWK)".into()
                );
            }
            let (key, natural) = private_jwk(&json)?;
            (key, natural, json.get("kid").and_then(|kid| kid.as_str()).map(str::to_string))
        }
        other => {
            return Err(format!(
                "the key must be an HMAC secret or a PEM key (a string) or a JWK (an object), got {}",
                kind_name(other)
            ));
        }
    };
    let algorithm = wanted.unwrap_or(natural);
    if algorithm.family() != natural.family() {
        return Err(format!(
            "{algorithm:?} cannot sign with {} (it signs {})",
            family_name(natural.family()),
            family_algorithms(natural.family())
        ));
    }
    Ok(SigningKey { key, algorithm, kid })
}

/// A private key in PEM; its natural algorithm when none is asked for.
fn private_pem(pem: &[u8], wanted: Option<Algorithm>) -> Result<(EncodingKey, Algorithm), String> {
    let family = wanted.map(|alg| alg.family());
    if family == Some(AlgorithmFamily::Hmac) {
        return Err("a PEM key cannot be an HMAC secret".into());
    }
    if !is_private_pem(pem) {
        return Err("the PEM is a public key (or certificate); signing needs the private key".into());
    }
    if family.is_none_or(|family| family == AlgorithmFamily::Rsa)
        && let Ok(key) = EncodingKey::from_rsa_pem(pem)
    {
        return Ok((key, Algorithm::RS256));
    }
    if family.is_none_or(|family| family == AlgorithmFamily::Ed)
        && let Ok(key) = EncodingKey::from_ed_pem(pem)
    {
        return Ok((key, Algorithm::EdDSA));
    }
    if family.is_none_or(|family| family == AlgorithmFamily::Ec)
        && let Ok(key) = EncodingKey::from_ec_pem(pem)
    {
        // The PEM does not say its curve to us: a P-384 key cannot sign ES256.
        let natural = if jsonwebtoken::crypto::sign(b"", &key, Algorithm::ES256).is_ok() {
            Algorithm::ES256
        } else {
            Algorithm::ES384
        };
        return Ok((key, natural));
    }
    Err(match family {
        Some(family) => format!("the PEM is not a private {} key", &family_name(family)[3..]),
        None => "the PEM is not a private RSA, EC or Ed25519 key (PKCS#1, SEC1 or PKCS#8)".into(),
    })
}

fn object_json(entries: &[(String, OwnedValue)]) -> serde_json::Value {
    serde_json::to_value(OwnedValue::Object(entries.to_vec())).unwrap_or(serde_json::Value::Null)
}

/// One base64url member of a JWK.
fn member(json: &serde_json::Value, name: &str, kty: &str) -> Result<Vec<u8>, String> {
    match json.get(name).and_then(|value| value.as_str()) {
        Some(text) => unb64(text).ok_or_else(|| format!("the {kty} JWK's `{name}` is not base64url")),
        None => Err(format!("the {kty} JWK has no `{name}`")),
    }
}

/// A private JWK (with its `d`) or a symmetric one.
fn private_jwk(json: &serde_json::Value) -> Result<(EncodingKey, Algorithm), String> {
    let kty = json.get("kty").and_then(|kty| kty.as_str()).ok_or("the JWK has no `kty`")?;
    let declared = match json.get("alg").and_then(|alg| alg.as_str()) {
        Some(name) => Some(algorithm(name)?),
        None => None,
    };
    let public_only = || format!("the {kty} JWK is a public key; signing needs the private key (its `d`)");
    let (key, natural) = match kty {
        "oct" => {
            let secret = member(json, "k", kty)?;
            if secret.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            (EncodingKey::from_secret(&secret).map_err(|_| "the HMAC secret is not usable")?, Algorithm::HS256)
        }
        "RSA" => {
            if json.get("d").is_none() {
                return Err(public_only());
            }
            let mut parts: [Vec<u8>; 8] = Default::default();
            for (slot, name) in parts.iter_mut().zip(["n", "e", "d", "p", "q", "dp", "dq", "qi"]) {
                *slot = member(json, name, kty)?;
            }
            (EncodingKey::from_rsa_der(&der::rsa_private_key(&parts)), Algorithm::RS256)
        }
        "EC" => {
            if json.get("d").is_none() {
                return Err(public_only());
            }
            let d = member(json, "d", kty)?;
            match json.get("crv").and_then(|crv| crv.as_str()) {
                Some("P-256") if d.len() == 32 => {
                    (EncodingKey::from_ec_der(&der::ec_private_key(&d, false)), Algorithm::ES256)
                }
                Some("P-384") if d.len() == 48 => {
                    (EncodingKey::from_ec_der(&der::ec_private_key(&d, true)), Algorithm::ES384)
                }
                Some(curve @ ("P-256" | "P-384")) => {
                    return Err(format!("the EC JWK's `d` has the wrong length for {curve}"));
                }
                Some(curve) => return Err(format!("unsupported EC curve \"{curve}\" (supported: P-256, P-384)")),
                None => return Err("the EC JWK has no `crv`".into()),
            }
        }
        "OKP" => {
            if json.get("d").is_none() {
                return Err(public_only());
            }
            match json.get("crv").and_then(|crv| crv.as_str()) {
                Some("Ed25519") => {}
                Some(curve) => return Err(format!("unsupported OKP curve \"{curve}\" (supported: Ed25519)")),
                None => return Err("the OKP JWK has no `crv`".into()),
            }
            let d = member(json, "d", kty)?;
            if d.len() != 32 {
                return Err("the Ed25519 JWK's `d` must be 32 bytes".into());
            }
            (EncodingKey::from_ed_der(&der::ed25519_private_key(&d)), Algorithm::EdDSA)
        }
        other => return Err(format!("unsupported JWK key type \"{other}\" (supported: oct, RSA, EC, OKP)")),
    };
    match declared {
        Some(alg) if alg.family() != natural.family() => {
            Err(format!("the JWK says alg {alg:?}, which {} cannot be used for", family_name(natural.family())))
        }
        Some(alg) => Ok((key, alg)),
        None => Ok((key, natural)),
    }
}

/// A key to verify with.
pub(crate) struct VerifyingKey {
    pub(crate) key: DecodingKey,
    pub(crate) family: AlgorithmFamily,
    /// The one algorithm the key is for, when it says (a JWK's `alg`).
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) kid: Option<String>,
}

/// The keys `value` holds: one, or a JWKS document's.
pub(crate) fn verifying_keys(value: &OwnedValue) -> Result<Vec<VerifyingKey>, String> {
    match value {
        OwnedValue::String(text) if is_pem(text) => Ok(vec![public_pem(text.as_bytes())?]),
        OwnedValue::String(secret) => {
            if secret.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| "the HMAC secret is not usable")?;
            Ok(vec![VerifyingKey { key, family: AlgorithmFamily::Hmac, algorithm: None, kid: None }])
        }
        OwnedValue::Object(entries) => {
            let json = object_json(entries);
            if let Some(keys) = json.get("keys") {
                let keys = keys.as_array().ok_or("the JWKS document's `keys` must be an array")?;
                let mut found = Vec::new();
                for (index, jwk) in keys.iter().enumerate() {
                    match public_jwk(jwk) {
                        Ok(Some(key)) => found.push(key),
                        Ok(None) => {}
                        Err(message) => return Err(format!("key {} of the JWKS: {message}", index + 1)),
                    }
                }
                if found.is_empty() {
                    return Err("the JWKS document has no signature key".into());
                }
                Ok(found)
            } else {
                public_jwk(&json)?
                    .map(|key| vec![key])
                    .ok_or_else(|| "the JWK is an encryption key (`use: enc`)".into())
            }
        }
        other => Err(format!(
            "the key must be an HMAC secret or a PEM key (a string), a JWK or a JWKS document (an object), got {}",
            kind_name(other)
        )),
    }
}

/// A public key (or certificate-less public part of a private key) in PEM.
fn public_pem(pem: &[u8]) -> Result<VerifyingKey, String> {
    let one = |key: DecodingKey, family| Ok(VerifyingKey { key, family, algorithm: None, kid: None });
    // A private key verifies too, through its public part.
    if is_private_pem(pem) {
        let (key, natural) = private_pem(pem, None)?;
        let jwk = Jwk::from_encoding_key(&key, natural).map_err(|_| "the PEM private key is not usable")?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the PEM private key is not usable")?;
        return one(key, natural.family());
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return one(key, AlgorithmFamily::Rsa);
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return one(key, AlgorithmFamily::Ec);
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return one(key, AlgorithmFamily::Ed);
    }
    Err("the PEM is not an RSA, EC or Ed25519 public key (SubjectPublicKeyInfo or PKCS#1)".into())
}

/// A public JWK (private members are ignored); `None` for an encryption key.
fn public_jwk(json: &serde_json::Value) -> Result<Option<VerifyingKey>, String> {
    let kty = json.get("kty").and_then(|kty| kty.as_str()).ok_or("the JWK has no `kty`")?;
    if !matches!(kty, "oct" | "RSA" | "EC" | "OKP") {
        return Err(format!("unsupported JWK key type \"{kty}\" (supported: oct, RSA, EC, OKP)"));
    }
    let jwk: Jwk = serde_json::from_value(json.clone()).map_err(|error| format!("not a valid {kty} JWK: {error}"))?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let (family, curve_alg) = match &jwk.algorithm {
        AlgorithmParameters::OctetKey(_) => (AlgorithmFamily::Hmac, None),
        AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, None),
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => (AlgorithmFamily::Ec, Some(Algorithm::ES256)),
            EllipticCurve::P384 => (AlgorithmFamily::Ec, Some(Algorithm::ES384)),
            _ => return Err("unsupported EC curve (supported: P-256, P-384)".into()),
        },
        AlgorithmParameters::OctetKeyPair(params) => match params.curve {
            EllipticCurve::Ed25519 => (AlgorithmFamily::Ed, Some(Algorithm::EdDSA)),
            _ => return Err("unsupported OKP curve (supported: Ed25519)".into()),
        },
        _ => return Err(format!("unsupported JWK key type \"{kty}\"")),
    };
    let declared = match json.get("alg").and_then(|alg| alg.as_str()) {
        Some(name) => {
            let alg = algorithm(name)?;
            if alg.family() != family {
                return Err(format!("the JWK says alg {alg:?}, which {} cannot be used for", family_name(family)));
            }
            Some(alg)
        }
        None => curve_alg,
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|error| format!("not a valid {kty} JWK: {error}"))?;
    Ok(Some(VerifyingKey { key, family, algorithm: declared, kid: jwk.common.key_id.clone() }))
}

/// The public JWK of a key (for publishing in a JWKS document).
pub(crate) fn public_jwk_of(
    value: &OwnedValue,
    wanted: Option<Algorithm>,
    kid: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut jwk = match value {
        OwnedValue::String(text) if !is_pem(text) => {
            return Err("an HMAC secret has no public part to publish".into());
        }
        _ => match signing_key(value, wanted) {
            Ok(signing) if signing.algorithm.family() == AlgorithmFamily::Hmac => {
                return Err("an HMAC secret has no public part to publish".into());
            }
            Ok(signing) => {
                Jwk::from_encoding_key(&signing.key, signing.algorithm).map_err(|error| error.to_string())?
            }
            Err(_) => {
                let mut keys = verifying_keys(value)?;
                if keys.len() != 1 {
                    return Err("give one key, not a JWKS document".into());
                }
                let key = keys.remove(0);
                if key.family == AlgorithmFamily::Hmac {
                    return Err("an HMAC secret has no public part to publish".into());
                }
                Jwk::from_decoding_key(&key.key, wanted.or(key.algorithm)).map_err(|error| error.to_string())?
            }
        },
    };
    if jwk.common.key_id.is_none() {
        jwk.common.key_id = kid.map(str::to_string);
    } else if let Some(kid) = kid {
        jwk.common.key_id = Some(kid.to_string());
    }
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(&jwk).map_err(|error| error.to_string())
}
