//! API keys and signed values: random keys shown once and stored as SHA-256 hashes, and
//! HMAC-SHA256 signatures of cookie values. Every comparison of secrets is constant-time.
//!
//! A fast hash is right for API keys (unlike passwords): a key has 256 random bits, so there
//! is nothing to guess, and verification is on every request.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::util::{b64, random_bytes, unb64};

const HASH_PREFIX: &str = "sha256:";

/// A new key: `prefix` and 32 random bytes in base64url; and its hash.
pub(crate) fn generate(prefix: &str) -> Result<(String, String), String> {
    let key = format!("{prefix}{}", b64(&random_bytes(32).map_err(|error| error.to_string())?));
    let hash = hash(&key);
    Ok((key, hash))
}

/// `sha256:` and the hex SHA-256 of the key.
pub(crate) fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut text = String::with_capacity(HASH_PREFIX.len() + 64);
    text.push_str(HASH_PREFIX);
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// The digest in a stored hash.
fn parse_hash(stored: &str) -> Option<[u8; 32]> {
    let hex = stored.strip_prefix(HASH_PREFIX)?;
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// True when `key` hashes to one of `stored`; every stored hash is compared, in constant time.
pub(crate) fn verify(key: &str, stored: &[&str]) -> Result<bool, String> {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut found = subtle::Choice::from(0);
    for (index, text) in stored.iter().enumerate() {
        let expected = parse_hash(text).ok_or_else(|| {
            format!("stored hash {} is not an API-key hash (expected sha256: and 64 hex digits)", index + 1)
        })?;
        found |= digest.ct_eq(&expected);
    }
    Ok(bool::from(found))
}

fn mac(secret: &[u8], value: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `value.signature` with an HMAC-SHA256 signature in base64url.
pub(crate) fn sign_value(value: &str, secret: &[u8]) -> String {
    format!("{value}.{}", b64(&mac(secret, value)))
}

/// The value of a signed `value.signature`, or `None` when the signature does not match.
pub(crate) fn unsign_value<'a>(signed: &'a str, secret: &[u8]) -> Option<&'a str> {
    let (value, signature) = signed.rsplit_once('.')?;
    let signature = unb64(signature)?;
    let expected = mac(secret, value);
    bool::from(expected.as_slice().ct_eq(&signature)).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(hash("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(verify("abc", &["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]).unwrap());
        assert!(!verify("abd", &["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]).unwrap());
        assert!(verify("abc", &["sha256:zz"]).unwrap_err().contains("stored hash 1 is not an API-key hash"));
    }

    #[test]
    fn rfc_4231_case_2_through_the_cookie_signer() {
        // HMAC-SHA256 of "what do ya want for nothing?" under "Jefe".
        let signed = sign_value("what do ya want for nothing?", b"Jefe");
        let signature = unb64(signed.rsplit_once('.').unwrap().1).unwrap();
        let hex: String = signature.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(unsign_value(&signed, b"Jefe"), Some("what do ya want for nothing?"));
        assert_eq!(unsign_value(&signed, b"Jeff"), None);
        assert_eq!(unsign_value("no signature", b"Jefe"), None);
    }
}
