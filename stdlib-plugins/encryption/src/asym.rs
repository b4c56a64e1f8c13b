//! RSA (OAEP encryption, PSS signatures; SHA-256 throughout) and Ed25519: keys from PEM
//! (PKCS#8, SPKI, PKCS#1) and, for Ed25519, raw 32-byte keys in hex or base64.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use getrandom::SysRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::spki::{DecodePublicKey, EncodePublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{Oaep, PrivateKey, PublicKey, pss};
use sha2::Sha256;

use crate::bytes::{fixed_bytes, is_pem, pem_label};
use crate::error::{CryptoError, Result};

/// The smallest RSA modulus accepted, for keys given and keys made.
pub(crate) const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus made by key generation (and accepted: the rsa crate's limit is 8192).
pub(crate) const RSA_MAX_BITS: usize = 8192;
/// The RSA-OAEP envelope id: OAEP with SHA-256 and MGF1-SHA-256, empty label.
pub(crate) const RSA_OAEP_ID: &str = "rsaoaep256";
/// PSS salt length: the hash length, as RFC 8017 recommends.
const PSS_SALT_LEN: usize = 32;

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignAlg {
    Ed25519,
    RsaPss,
}

pub(crate) const SIGN_NAMES: &str = "ed25519 and rsa_pss (RSA-PSS with SHA-256)";

impl SignAlg {
    pub(crate) fn parse(name: &str) -> Option<SignAlg> {
        match crate::digest::normalize(name).as_str() {
            "ed25519" | "eddsa" => Some(SignAlg::Ed25519),
            "rsapss" | "ps256" | "rsapsssha256" => Some(SignAlg::RsaPss),
            _ => None,
        }
    }
}

fn rng() -> SysRng {
    SysRng
}

fn key_error(message: impl Into<String>, argument: usize) -> CryptoError {
    CryptoError::BadKey(message.into(), argument)
}

/// An RSA public key from SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM; a private key
/// is accepted too (its public half is used), so one key string works for both directions.
pub(crate) fn rsa_public_key(text: &str, argument: usize) -> Result<PublicKey> {
    let key = match pem_label(text) {
        Some("PUBLIC KEY") => PublicKey::from_public_key_pem(text.trim())
            .map_err(|_| key_error("the RSA public key (PEM) could not be read", argument))?,
        Some("RSA PUBLIC KEY") => PublicKey::from_pkcs1_pem(text.trim())
            .map_err(|_| key_error("the RSA public key (PKCS#1 PEM) could not be read", argument))?,
        Some("PRIVATE KEY" | "RSA PRIVATE KEY") => rsa_private_key(text, argument)?.to_public_key(),
        _ => return Err(key_error("an RSA key must be PEM text (-----BEGIN PUBLIC KEY----- …)", argument)),
    };
    check_rsa_size(key.size() * 8, argument)?;
    Ok(key)
}

/// An RSA private key from PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
pub(crate) fn rsa_private_key(text: &str, argument: usize) -> Result<PrivateKey> {
    let key = match pem_label(text) {
        Some("PRIVATE KEY") => PrivateKey::from_pkcs8_pem(text.trim())
            .map_err(|_| key_error("the RSA private key (PKCS#8 PEM) could not be read", argument))?,
        Some("RSA PRIVATE KEY") => PrivateKey::from_pkcs1_pem(text.trim())
            .map_err(|_| key_error("the RSA private key (PKCS#1 PEM) could not be read", argument))?,
        Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {
            return Err(key_error("this needs the RSA private key, and a public key was given", argument));
        }
        _ => return Err(key_error("an RSA private key must be PEM text (-----BEGIN PRIVATE KEY----- …)", argument)),
    };
    check_rsa_size(key.size() * 8, argument)?;
    Ok(key)
}

fn check_rsa_size(bits: usize, argument: usize) -> Result<()> {
    if bits < RSA_MIN_BITS {
        return Err(key_error(
            format!("RSA keys must have at least {RSA_MIN_BITS} bits; this one has {bits}"),
            argument,
        ));
    }
    Ok(())
}

/// OAEP with SHA-256 (hash and MGF1) and `label` (empty: none).
fn oaep(label: &[u8]) -> Oaep<Sha256> {
    if label.is_empty() { Oaep::<Sha256>::new() } else { Oaep::<Sha256>::new_with_label(label.to_vec()) }
}

/// The most bytes one RSA-OAEP-SHA-256 block carries under `key`.
fn oaep_capacity(key: &PublicKey) -> usize {
    key.size().saturating_sub(2 * 32 + 2)
}

/// RSA-OAEP (SHA-256) of `plaintext`, as a `tsk1:rsaoaep256:` envelope.
/// A non-empty `label` is OAEP's label, bound to the ciphertext like an AEAD's associated data.
pub(crate) fn rsa_encrypt(key: &PublicKey, label: &[u8], plaintext: &[u8]) -> Result<String> {
    let max = oaep_capacity(key);
    if plaintext.len() > max {
        return Err(CryptoError::RsaTooLong { bits: key.size() * 8, max, len: plaintext.len() });
    }
    let ciphertext = key
        .encrypt(&mut rng(), oaep(label), plaintext)
        .map_err(|_| CryptoError::Internal("RSA-OAEP encryption failed".into()))?;
    Ok(crate::aead::envelope(RSA_OAEP_ID, &ciphertext))
}

/// The plaintext of an RSA-OAEP payload, with blinding (the rsa crate blinds the base,
/// the exponent and the CRT moduli when given a random source), and one error for every failure.
pub(crate) fn rsa_decrypt(key: &PrivateKey, label: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.len() != key.size() {
        return Err(CryptoError::MalformedCiphertext(format!(
            "the RSA ciphertext is {} bytes, and this {}-bit key's are {}",
            ciphertext.len(),
            key.size() * 8,
            key.size()
        )));
    }
    key.decrypt_blinded(&mut rng(), oaep(label), ciphertext).map_err(|_| CryptoError::DecryptionFailed)
}

/// A new RSA key pair of `bits` bits (e = 65537) as PKCS#8 and SPKI PEM.
pub(crate) fn rsa_generate(bits: usize) -> Result<(String, String)> {
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(CryptoError::OutOfRange(
            format!("RSA keys are {RSA_MIN_BITS} to {RSA_MAX_BITS} bits, a multiple of 8; {bits} was asked for"),
            0,
        ));
    }
    let key =
        PrivateKey::new(&mut rng(), bits).map_err(|_| CryptoError::Internal("RSA key generation failed".into()))?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Internal("the RSA private key could not be written as PEM".into()))?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Internal("the RSA public key could not be written as PEM".into()))?;
    Ok((private.to_string(), public))
}

/// An Ed25519 signing key: PKCS#8 PEM, or the 32-byte seed in hex or base64.
pub(crate) fn ed25519_signing_key(text: &str, argument: usize) -> Result<SigningKey> {
    if is_pem(text) {
        return match pem_label(text) {
            Some("PRIVATE KEY") => SigningKey::from_pkcs8_pem(text.trim())
                .map_err(|_| key_error("the Ed25519 private key (PKCS#8 PEM) could not be read", argument)),
            Some("PUBLIC KEY") => Err(key_error("signing needs the private key, and a public key was given", argument)),
            _ => Err(key_error("an Ed25519 private key in PEM is a PKCS#8 PRIVATE KEY", argument)),
        };
    }
    let seed: [u8; 32] = fixed_bytes(text, 32, "an Ed25519 private key", argument)?
        .try_into()
        .map_err(|_| key_error("an Ed25519 private key is 32 bytes", argument))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// An Ed25519 verifying key: SPKI PEM, a PKCS#8 private key (its public half), or the
/// 32-byte key in hex or base64.
pub(crate) fn ed25519_verifying_key(text: &str, argument: usize) -> Result<VerifyingKey> {
    if is_pem(text) {
        return match pem_label(text) {
            Some("PUBLIC KEY") => VerifyingKey::from_public_key_pem(text.trim())
                .map_err(|_| key_error("the Ed25519 public key (SPKI PEM) could not be read", argument)),
            Some("PRIVATE KEY") => Ok(ed25519_signing_key(text, argument)?.verifying_key()),
            _ => Err(key_error("an Ed25519 public key in PEM is a PUBLIC KEY", argument)),
        };
    }
    let bytes: [u8; 32] = fixed_bytes(text, 32, "an Ed25519 public key", argument)?
        .try_into()
        .map_err(|_| key_error("an Ed25519 public key is 32 bytes", argument))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| key_error("the Ed25519 public key is not a valid curve point", argument))
}

/// A new Ed25519 key pair as PKCS#8 and SPKI PEM.
pub(crate) fn ed25519_generate() -> Result<(String, String)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| CryptoError::Random)?;
    let key = SigningKey::from_bytes(&seed);
    ed25519_pem(&key)
}

fn ed25519_pem(key: &SigningKey) -> Result<(String, String)> {
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Internal("the Ed25519 private key could not be written as PEM".into()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Internal("the Ed25519 public key could not be written as PEM".into()))?;
    Ok((private.to_string(), public))
}

/// The public key (SPKI PEM) of a private key in PEM, RSA or Ed25519.
pub(crate) fn public_key_of(text: &str, argument: usize) -> Result<String> {
    match pem_label(text) {
        Some("RSA PRIVATE KEY") => rsa_public_pem(&rsa_private_key(text, argument)?),
        Some("PRIVATE KEY") => {
            // PKCS#8 names its algorithm inside; try Ed25519 first (cheap), then RSA.
            if let Ok(key) = SigningKey::from_pkcs8_pem(text.trim()) {
                return Ok(ed25519_pem(&key)?.1);
            }
            rsa_public_pem(&rsa_private_key(text, argument)?)
        }
        Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {
            Err(key_error("this is already a public key; give the private key", argument))
        }
        _ => Err(key_error("the private key must be PEM text (-----BEGIN PRIVATE KEY----- …)", argument)),
    }
}

fn rsa_public_pem(key: &PrivateKey) -> Result<String> {
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Internal("the RSA public key could not be written as PEM".into()))
}

/// The signature of `message` under the private key `key`.
pub(crate) fn sign(alg: SignAlg, key: &str, message: &[u8], argument: usize) -> Result<Vec<u8>> {
    match alg {
        SignAlg::Ed25519 => Ok(ed25519_signing_key(key, argument)?.sign(message).to_bytes().to_vec()),
        SignAlg::RsaPss => {
            let key = pss::SigningKey::<Sha256>::new_with_salt_len(rsa_private_key(key, argument)?, PSS_SALT_LEN);
            let signature = key
                .try_sign_with_rng(&mut rng(), message)
                .map_err(|_| CryptoError::Internal("RSA-PSS signing failed".into()))?;
            Ok(signature.to_vec())
        }
    }
}

/// Whether `signature` is a valid signature of `message` under the public key `key`. A
/// signature of the wrong length is simply not valid; a key that cannot be read is an error.
pub(crate) fn verify(alg: SignAlg, key: &str, message: &[u8], signature: &[u8], argument: usize) -> Result<bool> {
    match alg {
        SignAlg::Ed25519 => {
            let key = ed25519_verifying_key(key, argument)?;
            let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                return Ok(false);
            };
            // Strict verification: no small-order keys, no malleable (non-canonical) signatures.
            Ok(key.verify_strict(message, &signature).is_ok())
        }
        SignAlg::RsaPss => {
            let key = rsa_public_key(key, argument)?;
            if signature.len() != key.size() {
                return Ok(false);
            }
            let Ok(signature) = pss::Signature::try_from(signature) else {
                return Ok(false);
            };
            // Salt length as signed by this plugin and by most others (the hash length); a
            // verifier that guessed it would accept weaker signatures.
            let key = pss::VerifyingKey::<Sha256>::new_with_salt_len(key, PSS_SALT_LEN);
            Ok(key.verify(message, &signature).is_ok())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::{hex_decode, hex_encode};

    /// RFC 8032 §7.1, TEST 1, 2, 3 and SHA(abc): secret key, public key, message, signature.
    const RFC_8032: &[[&str; 4]] = &[
        [
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ],
        [
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ],
        [
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ],
    ];

    #[test]
    fn ed25519_matches_rfc_8032() {
        for [secret, public, message, signature] in RFC_8032 {
            let key = ed25519_signing_key(secret, 2).unwrap();
            assert_eq!(hex_encode(key.verifying_key().as_bytes()), *public);
            let message = hex_decode(message).unwrap();
            let signed = sign(SignAlg::Ed25519, secret, &message, 2).unwrap();
            assert_eq!(hex_encode(&signed), *signature);
            assert!(verify(SignAlg::Ed25519, public, &message, &signed, 3).unwrap());
            let mut changed = signed.clone();
            changed[0] ^= 1;
            assert!(!verify(SignAlg::Ed25519, public, &message, &changed, 3).unwrap());
            assert!(!verify(SignAlg::Ed25519, public, b"other", &signed, 3).unwrap());
        }
    }

    #[test]
    fn ed25519_keys_round_trip_through_pem() {
        let (private, public) = ed25519_generate().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let signature = sign(SignAlg::Ed25519, &private, b"hello", 2).unwrap();
        assert!(verify(SignAlg::Ed25519, &public, b"hello", &signature, 3).unwrap());
        assert_eq!(public_key_of(&private, 0).unwrap(), public);
    }
}
