//! The `encryption` plugin: authenticated encryption (AES-256-GCM, ChaCha20-Poly1305), RSA
//! (OAEP encryption, PSS signatures), Ed25519 signatures, hashes (SHA-2, SHA-3, BLAKE3),
//! HMAC, Argon2id password hashing and key derivation, random bytes and tokens, and key
//! generation.
//!
//! The mission's names work as written, `@encrypt(algorithm, data, key)` with `@decrypt`, and
//! the functions `hash` and `verify`; the same operations and the rest are also spelled
//! `@encryption.<verb>(…)`. Binary values are byte strings, or base64 or hex text; every
//! `@encrypt` ciphertext is a self-describing envelope,
//! `tsk1:<algorithm>:<base64url(nonce || ciphertext || tag)>`, and `@encryption.seal` returns
//! the raw `nonce || ciphertext || tag` as a byte string written in place.
//!
//! Every operation is a function of its arguments and the operating system's random numbers.
//! Between calls the plugin keeps only its configuration and, per thread, a nonce generator and
//! the cipher of the last symmetric key used (see `aead`).

mod aead;
mod args;
mod asym;
mod bytes;
mod digest;
mod error;
mod evp_aead;
mod ops;
mod password;

use std::sync::Arc;

use serde::Deserialize;
use tusk_plugin_sdk::{PluginContext, PluginError, SymbolDoc, TuskPlugin, Value, export_plugin};

/// The plugin's configuration (`[plugins.encryption]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    /// Whether RSA-OAEP decryption is allowed at all (off by default; see the README's
    /// security considerations on timing side channels).
    pub(crate) rsa_decryption: bool,
    /// Argon2id costs of `password_hash`, `hash(…, "argon2id")` and `derive_key`.
    pub(crate) password_hash: password::Costs,
}

/// The plugin.
#[derive(Default)]
pub struct EncryptionPlugin;

/// A key that the examples use (the bytes 0, 1, …, 31); never use a fixed key for real data.
const EXAMPLE_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn doc(signature: &str, summary: &str, examples: &[&str]) -> SymbolDoc {
    SymbolDoc {
        signature: signature.to_string(),
        summary: summary.to_string(),
        examples: examples.iter().map(|example| example.replace("KEY", EXAMPLE_KEY)).collect(),
        ..SymbolDoc::default()
    }
}

type Operation = fn(&Settings, &[Value]) -> error::Result<Value>;

impl TuskPlugin for EncryptionPlugin {
    fn name(&self) -> &str {
        "encryption"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = context.config()?;
        settings
            .password_hash
            .check(0)
            .map_err(|error| PluginError::configuration(format!("password_hash: {error}")))?;
        let settings = Arc::new(settings);
        // Every operator and function of the plugin: not in this list means not registered
        // (and the manifest's [capabilities] must list exactly these).
        let operators: [(&str, SymbolDoc, Operation); 18] = [
            (
                "encrypt",
                doc(
                    "@encrypt(algorithm, data, key[, options])",
                    "Encrypts text with aes_256_gcm or chacha20_poly1305 (a 32-byte key as base64 or hex) or rsa_2048 (RSA-OAEP-SHA-256, a public key in PEM) into a tsk1:<algorithm>:<base64url> envelope with a random nonce; \"hash\" gives the SHA-256 hex digest, or HMAC-SHA-256 when a key is given. Options: aad (associated data), encoding (\"text\", \"hex\", \"base64\": how data and aad are written), key_encoding (for hash).",
                    &[
                        r#"len(@encrypt("aes_256_gcm", "secret", "KEY")) => 61"#,
                        r#"@encrypt("hash", "abc") => "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#,
                    ],
                ),
                |_, args| ops::encrypt(args, "@encrypt"),
            ),
            (
                "decrypt",
                doc(
                    "@decrypt(algorithm, ciphertext, key[, options])",
                    "Decrypts a tsk1 envelope made with `algorithm` (which must be the envelope's); a wrong key, a changed or cut ciphertext or other associated data is an error. Options: aad, encoding (how to return the plaintext; text by default).",
                    &[r#"@decrypt("aes_256_gcm", @encrypt("aes_256_gcm", "secret", "KEY"), "KEY") => "secret""#],
                ),
                ops::decrypt_seed,
            ),
            (
                "encryption.encrypt",
                doc(
                    "@encryption.encrypt(algorithm, data, key[, options])",
                    "The same as @encrypt.",
                    &[
                        r#"@encryption.decrypt(@encryption.encrypt("chacha20_poly1305", "hi", "KEY", {aad: "v1"}), "KEY", {aad: "v1"}) => "hi""#,
                    ],
                ),
                |_, args| ops::encrypt(args, "@encryption.encrypt"),
            ),
            (
                "encryption.decrypt",
                doc(
                    "@encryption.decrypt(ciphertext, key[, options])",
                    "Decrypts a tsk1 envelope with the algorithm it names. Options: aad, encoding.",
                    &[r#"@encryption.decrypt(@encrypt("aes_256_gcm", "hi", "KEY"), "KEY") => "hi""#],
                ),
                ops::decrypt,
            ),
            (
                "encryption.seal",
                doc(
                    "@encryption.seal(algorithm, data, key[, options])",
                    "Encrypts data (bytes, or text) with aes_256_gcm or chacha20_poly1305 under a 32-byte key (bytes, or base64 or hex text) and a random nonce into bytes: nonce (12 bytes) || ciphertext || tag (16 bytes), the algorithm's standard layout, without the base64 of an envelope. Options: aad (bytes or text), encoding (how text data and aad are written).",
                    &[
                        r#"len(@encryption.seal("aes_256_gcm", "secret", "KEY")) => 34"#,
                        r#"type_of(@encryption.seal("chacha20_poly1305", bytes([0, 255]), from_hex("KEY"))) => "bytes""#,
                    ],
                ),
                |_, args| ops::seal(args),
            ),
            (
                "encryption.open",
                doc(
                    "@encryption.open(algorithm, sealed, key[, options])",
                    "Decrypts the bytes @encryption.seal made into bytes; a wrong key, changed or cut bytes or other associated data is an error. Options: aad, encoding (of a text aad), output (\"text\", \"hex\" or \"base64\": a string instead of bytes).",
                    &[
                        r#"utf8(@encryption.open("aes_256_gcm", @encryption.seal("aes_256_gcm", "hi", "KEY"), "KEY")) => "hi""#,
                        r#"@encryption.open("aes_256_gcm", @encryption.seal("aes_256_gcm", "hi", "KEY", {aad: bytes([1])}), "KEY", {aad: bytes([1]), output: "text"}) => "hi""#,
                    ],
                ),
                |_, args| ops::open(args),
            ),
            (
                "encryption.hash",
                doc(
                    "@encryption.hash(algorithm, data[, options])",
                    "The digest of data with sha256, sha384, sha512, sha3_256, sha3_384, sha3_512 or blake3 (hex, or output: \"base64\"), or an Argon2id PHC string with argon2id.",
                    &[
                        r#"@encryption.hash("sha3_256", "") => "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a""#,
                        r#"@encryption.hash("blake3", "") => "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262""#,
                    ],
                ),
                ops::hash_operator,
            ),
            (
                "encryption.hmac",
                doc(
                    "@encryption.hmac(algorithm, data, key[, options])",
                    "HMAC of data under key (text unless key_encoding says \"hex\" or \"base64\") with sha256, sha384, sha512 or SHA-3; hex unless output says base64.",
                    &[
                        r#"@encryption.hmac("sha256", "what do ya want for nothing?", "Jefe") => "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843""#,
                    ],
                ),
                |_, args| ops::hmac(args),
            ),
            (
                "encryption.verify_hmac",
                doc(
                    "@encryption.verify_hmac(algorithm, data, key, mac[, options])",
                    "Whether mac (hex or base64) is the HMAC of data under key, compared in constant time.",
                    &[
                        r#"@encryption.verify_hmac("sha256", "what do ya want for nothing?", "Jefe", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") => true"#,
                    ],
                ),
                |_, args| ops::verify_hmac(args),
            ),
            (
                "encryption.password_hash",
                doc(
                    "@encryption.password_hash(password[, options])",
                    "An Argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with a fresh salt; options memory_kib, iterations, parallelism (defaults: the configuration's, else 19456, 2, 1).",
                    &[
                        r#"@encryption.password_verify("hunter2", @encryption.password_hash("hunter2", {memory_kib: 64, iterations: 1})) => true"#,
                    ],
                ),
                ops::password_hash,
            ),
            (
                "encryption.password_verify",
                doc(
                    "@encryption.password_verify(password, stored_hash[, options])",
                    "Whether password matches an Argon2 PHC string.",
                    &[
                        r#"@encryption.password_verify("wrong", @encryption.password_hash("hunter2", {memory_kib: 64, iterations: 1})) => false"#,
                    ],
                ),
                |_, args| ops::password_verify(args),
            ),
            (
                "encryption.derive_key",
                doc(
                    "@encryption.derive_key(password, salt[, options])",
                    "A key (32 bytes as base64 unless length and output say otherwise) derived from a password and a salt of at least 8 bytes with Argon2id; options memory_kib, iterations, parallelism, secret, associated_data, encoding.",
                    &[
                        r#"len(@encryption.derive_key("hunter2", "per-user-salt", {memory_kib: 64, iterations: 1})) => 44"#,
                    ],
                ),
                ops::derive_key,
            ),
            (
                "encryption.sign",
                doc(
                    "@encryption.sign(algorithm, data, private_key[, options])",
                    "The signature (base64, or output: \"hex\") of data with ed25519 (PKCS#8 PEM or a 32-byte seed as hex or base64) or rsa_pss (RSA-PSS-SHA-256, a private key in PEM).",
                    &[
                        r#"@encryption.sign("ed25519", "72", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", {encoding: "hex", output: "hex"}) => "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00""#,
                    ],
                ),
                |_, args| ops::sign(args),
            ),
            (
                "encryption.verify_signature",
                doc(
                    "@encryption.verify_signature(algorithm, data, signature, public_key[, options])",
                    "Whether signature (hex or base64) is a valid ed25519 or rsa_pss signature of data under public_key (PEM; for ed25519 also 32 bytes as hex or base64).",
                    &[
                        r#"@encryption.verify_signature("ed25519", "72", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", {encoding: "hex"}) => true"#,
                    ],
                ),
                |_, args| ops::verify_signature(args),
            ),
            (
                "encryption.random_bytes",
                doc(
                    "@encryption.random_bytes(count[, encoding])",
                    "count bytes (at most 1 MiB) from the operating system's random number generator, as base64 or hex.",
                    &[r#"len(@encryption.random_bytes(16, "hex")) => 32"#],
                ),
                |_, args| ops::random_bytes(args),
            ),
            (
                "encryption.random_token",
                doc(
                    "@encryption.random_token([bytes])",
                    "A URL-safe token: 32 random bytes (or bytes, 1 to 1024) as base64url without padding.",
                    &[r#"len(@encryption.random_token()) => 43"#],
                ),
                |_, args| ops::random_token(args),
            ),
            (
                "encryption.generate_key",
                doc(
                    "@encryption.generate_key(algorithm[, options])",
                    "A new key: 32 random bytes as base64 for aes_256_gcm, chacha20_poly1305 and hmac; {algorithm, private_key, public_key} (PKCS#8 and SPKI PEM) for ed25519 and rsa_2048, rsa_3072, rsa_4096 (or rsa with the option bits).",
                    &[
                        r#"len(@encryption.generate_key("aes_256_gcm")) => 44"#,
                        r#"@encryption.generate_key("ed25519").algorithm => "ed25519""#,
                    ],
                ),
                |_, args| ops::generate_key(args),
            ),
            (
                "encryption.public_key",
                doc(
                    "@encryption.public_key(private_key)",
                    "The public key (SPKI PEM) of an RSA or Ed25519 private key in PEM.",
                    &[],
                ),
                |_, args| ops::public_key(args),
            ),
        ];
        for (name, doc, operation) in operators {
            let settings = Arc::clone(&settings);
            context.register_operator_with(name, doc, move |args: &[Value]| Ok(operation(&settings, args)?))?;
        }
        let functions: [(&str, SymbolDoc, Operation); 2] = [
            (
                "hash",
                doc(
                    "hash(data[, algorithm][, options])",
                    "The SHA-256 digest of data as hex, or another algorithm's (sha384, sha512, sha3_256, sha3_384, sha3_512, blake3), or an Argon2id PHC string with \"argon2id\".",
                    &[
                        r#"hash("abc") => "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#,
                        r#"hash("abc", "sha512", {output: "base64"}) => "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==""#,
                    ],
                ),
                ops::hash_function,
            ),
            (
                "verify",
                doc(
                    "verify(data, expected_hash[, algorithm][, options])",
                    "Whether data matches a stored hash: an Argon2 PHC string (a password hash), or a digest as hex or base64 (sha256 unless algorithm says otherwise), compared in constant time.",
                    &[
                        r#"verify("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") => true"#,
                        r#"verify("abd", hash("abc")) => false"#,
                        r#"verify("hunter2", hash("hunter2", "argon2id")) => true"#,
                    ],
                ),
                |_, args| ops::verify_function(args),
            ),
        ];
        for (name, doc, operation) in functions {
            let settings = Arc::clone(&settings);
            context.register_function_with(name, doc, move |args: &[Value]| Ok(operation(&settings, args)?))?;
        }
        Ok(())
    }
}

export_plugin!(EncryptionPlugin);
