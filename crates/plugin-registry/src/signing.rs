//! Detached package signatures in the minisign format, so that `minisign -Vm FILE -P KEY`
//! verifies a package as tusk does, and keys made by either tool work in both.
//!
//! The signature's trusted comment (signed together with the signature) is `file:` followed by
//! the package's file name, `NAME-VERSION-TARGET.tskpkg`: a validly signed package of one
//! plugin or version cannot be passed off as another. Keys are identified by minisign's key id,
//! 16 uppercase hexadecimal digits.

use std::io::Cursor;

use crate::error::RegistryError;

/// A new signing key pair, as the texts of minisign's `.pub` and `.key` files.
#[derive(Debug)]
pub struct KeyPair {
    /// The public key file (two lines: a comment and the base64 key).
    pub public_file: String,
    /// The public key alone (what goes into `trusted_keys`).
    pub public_base64: String,
    /// The secret key file, not encrypted (keep it private: it is written with mode 0600).
    pub secret_file: String,
    /// The key id.
    pub key_id: String,
}

/// Makes a new key pair.
pub fn generate_key_pair() -> Result<KeyPair, RegistryError> {
    let invalid = |error: minisign::PError| RegistryError::InvalidKey { message: error.to_string() };
    let pair = minisign::KeyPair::generate_unencrypted_keypair().map_err(invalid)?;
    let public_base64 = pair.pk.to_base64();
    let key_id = key_id(pair.pk.keynum());
    let public_file = format!("untrusted comment: minisign public key {key_id}\n{public_base64}\n");
    let secret_file =
        pair.sk.to_box(Some(&format!("tusk plugin signing key {key_id}"))).map_err(invalid)?.into_string();
    Ok(KeyPair { public_file, public_base64, secret_file, key_id })
}

/// minisign's spelling of a key number: the 8 bytes as a little-endian integer in hexadecimal.
fn key_id(keynum: &[u8]) -> String {
    let mut value = 0u64;
    for (index, byte) in keynum.iter().take(8).enumerate() {
        value |= u64::from(*byte) << (8 * index);
    }
    format!("{value:016X}")
}

/// The trusted comment that binds a signature to the package file `file_name`.
fn trusted_comment(file_name: &str) -> String {
    format!("file:{file_name}")
}

/// Signs the package `archive`, called `file_name`, with the secret key file's text; returns
/// the signature file's text.
pub fn sign(archive: &[u8], secret_key_file: &str, file_name: &str) -> Result<String, RegistryError> {
    let invalid = |error: minisign::PError| RegistryError::InvalidKey { message: error.to_string() };
    let secret_box = minisign::SecretKeyBox::from_string(secret_key_file).map_err(invalid)?;
    let secret = secret_box.into_unencrypted_secret_key().map_err(|error| RegistryError::InvalidKey {
        message: format!("{error} (tusk signs with unencrypted keys, as `tusk plugin keygen` writes them)"),
    })?;
    let comment = trusted_comment(file_name);
    let signature =
        minisign::sign(None, &secret, Cursor::new(archive), Some(&comment), Some("tusk plugin package signature"))
            .map_err(invalid)?;
    Ok(signature.into_string())
}

/// A public key the user trusts to sign packages.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// Its key id.
    pub id: String,
    key: minisign::PublicKey,
}

impl TrustedKey {
    /// Reads a public key: the base64 line, or a whole `.pub` file.
    pub fn parse(text: &str) -> Result<TrustedKey, RegistryError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("untrusted comment:"))
            .unwrap_or("");
        let key = minisign::PublicKey::from_base64(line).map_err(|error| RegistryError::InvalidKey {
            message: format!("`{line}` is not a minisign public key: {error}"),
        })?;
        Ok(TrustedKey { id: key_id(key.keynum()), key })
    }
}

/// The key id a signature file names (without checking the signature).
pub fn signature_key_id(signature_file: &str) -> Result<String, RegistryError> {
    let signature = minisign::SignatureBox::from_string(signature_file)
        .map_err(|error| RegistryError::InvalidKey { message: format!("unreadable signature: {error}") })?;
    Ok(key_id(signature.keynum()))
}

/// Checks that `signature_file` is a valid signature of `archive`, called `file_name`, by one
/// of the `trusted` keys, and returns that key's id.
pub fn verify(
    archive: &[u8],
    signature_file: &str,
    trusted: &[TrustedKey],
    file_name: &str,
) -> Result<String, RegistryError> {
    let bad = |message: String| RegistryError::BadSignature { file: file_name.to_string(), message };
    let signature = minisign::SignatureBox::from_string(signature_file)
        .map_err(|error| bad(format!("unreadable signature: {error}")))?;
    let id = key_id(signature.keynum());
    let Some(key) = trusted.iter().find(|key| key.id == id) else {
        return Err(RegistryError::Untrusted {
            message: format!(
                "package {file_name} is signed by key {id}, which is not among the trusted keys (trusted: {})",
                if trusted.is_empty() {
                    "none; add keys to `trusted_keys` under [registry] in the user configuration".to_string()
                } else {
                    trusted.iter().map(|key| key.id.as_str()).collect::<Vec<_>>().join(", ")
                }
            ),
        });
    };
    minisign::verify(&key.key, &signature, Cursor::new(archive), true, false, false)
        .map_err(|error| bad(error.to_string()))?;
    let comment = signature.trusted_comment().map_err(|error| bad(error.to_string()))?;
    if comment != trusted_comment(file_name) {
        return Err(bad(format!("the signature is for `{comment}`, not for file:{file_name}")));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by the minisign tool (0.11): `minisign -G -W`, then
    // `minisign -S -m msg.txt -t 'file:kat-1.0.0-x86_64-linux.tskpkg'` over MESSAGE.
    const KAT_PUBLIC: &str = "untrusted comment: minisign public key DE6D4CAA433E22E4\n\
                              RWTkIj5Dqkxt3oZiiT2mEQpMCZWhqTe50I1G7KiQjsiIJ8ozkq1Kx9Fp\n";
    const KAT_SIGNATURE: &str = "untrusted comment: signature from minisign secret key\n\
        RUTkIj5Dqkxt3syXkhBNHsWupf4b5xHpSdK3T8kdFwe6eceJt2ja61OvfURmJjy5G31XjPcP7KKJOsKUW2+V+URfU0w6Z4D3Xww=\n\
        trusted comment: file:kat-1.0.0-x86_64-linux.tskpkg\n\
        BSkI+WQow0S/+SCsboQPfHh9u58ACBYFV4cUxlAhoGzFHjYb+orYxJP7wwxyBMpG4SPcJOQv0mGJTBoDf1MNDg==\n";
    const KAT_MESSAGE: &[u8] = b"tusk registry known answer\n";
    const KAT_FILE: &str = "kat-1.0.0-x86_64-linux.tskpkg";

    #[test]
    fn known_answer_from_the_minisign_tool_verifies() {
        let key = TrustedKey::parse(KAT_PUBLIC).unwrap();
        assert_eq!(key.id, "DE6D4CAA433E22E4");
        assert_eq!(signature_key_id(KAT_SIGNATURE).unwrap(), "DE6D4CAA433E22E4");
        assert_eq!(verify(KAT_MESSAGE, KAT_SIGNATURE, &[key], KAT_FILE).unwrap(), "DE6D4CAA433E22E4");
    }

    #[test]
    fn known_answer_rejects_changed_message_comment_or_name() {
        let key = TrustedKey::parse(KAT_PUBLIC).unwrap();
        let changed = verify(b"tusk registry known answeR\n", KAT_SIGNATURE, std::slice::from_ref(&key), KAT_FILE);
        assert!(matches!(changed, Err(RegistryError::BadSignature { .. })), "{changed:?}");
        let forged_comment = KAT_SIGNATURE.replace("file:kat-1.0.0", "file:kat-9.0.0");
        let error = verify(KAT_MESSAGE, &forged_comment, std::slice::from_ref(&key), KAT_FILE).unwrap_err();
        assert!(error.to_string().contains("bad signature on kat-1.0.0-x86_64-linux.tskpkg"), "{error}");
        // A valid signature of one package file is refused for another.
        let error = verify(KAT_MESSAGE, KAT_SIGNATURE, &[key], "other-1.0.0-x86_64-linux.tskpkg").unwrap_err();
        assert!(error.to_string().contains("the signature is for `file:kat-1.0.0-x86_64-linux.tskpkg`"), "{error}");
    }

    #[test]
    fn own_signatures_verify_and_untrusted_keys_are_named() {
        let pair = generate_key_pair().unwrap();
        let signature = sign(b"archive bytes", &pair.secret_file, "a-1.0.0-x.tskpkg").unwrap();
        let trusted = TrustedKey::parse(&pair.public_file).unwrap();
        assert_eq!(TrustedKey::parse(&pair.public_base64).unwrap().id, pair.key_id);
        assert_eq!(verify(b"archive bytes", &signature, &[trusted], "a-1.0.0-x.tskpkg").unwrap(), pair.key_id);
        let other = TrustedKey::parse(KAT_PUBLIC).unwrap();
        let error = verify(b"archive bytes", &signature, &[other], "a-1.0.0-x.tskpkg").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "package a-1.0.0-x.tskpkg is signed by key {}, which is not among the trusted keys (trusted: DE6D4CAA433E22E4)",
                pair.key_id
            )
        );
    }
}
