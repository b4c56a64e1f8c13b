//! The operators and functions scripts call. Each reads its arguments, calls one primitive and
//! shapes the result; the primitives live in `aead`, `asym`, `digest` and `password`.

use std::borrow::Cow;

use rsa::traits::PublicKeyParts as _;
use tusk_plugin_sdk::Value;

use crate::Settings;
use crate::aead::{self, Aead, KEY_LEN};
use crate::args::{Args, Options};
use crate::asym::{self, RSA_OAEP_ID, SIGN_NAMES, SignAlg};
use crate::bytes::{BASE64, BASE64_URL, Encoding, hex_decode};
use crate::digest::{HASH_NAMES, HMAC_NAMES, HashAlg, constant_time_eq, normalize};
use crate::error::{CryptoError, Result, shown_name};
use crate::password::{self, Costs, Derivation};
use base64::Engine as _;

/// What `@encrypt` and `@decrypt` take as their algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aead(Aead),
    RsaOaep,
    Hash,
}

const CIPHER_NAMES: &str = "aes_256_gcm, chacha20_poly1305, rsa_2048 (RSA-OAEP with SHA-256, any key of 2048 bits or more; also rsa_oaep) and hash";

impl Cipher {
    fn parse(name: &str, operator: &'static str, argument: usize) -> Result<Cipher> {
        // The names as the documentation writes them, without the allocation of `normalize`
        // (most of a small message's call otherwise).
        match name {
            "aes_256_gcm" => return Ok(Cipher::Aead(Aead::Aes256Gcm)),
            "chacha20_poly1305" => return Ok(Cipher::Aead(Aead::ChaCha20Poly1305)),
            _ => {}
        }
        Ok(match normalize(name).as_str() {
            "aes256gcm" => Cipher::Aead(Aead::Aes256Gcm),
            "chacha20poly1305" => Cipher::Aead(Aead::ChaCha20Poly1305),
            "rsa2048" | "rsa3072" | "rsa4096" | "rsa" | "rsaoaep" | "rsaoaep256" | "rsaoaepsha256" => Cipher::RsaOaep,
            "hash" => Cipher::Hash,
            _ => return Err(CryptoError::UnknownAlgorithm { operator, known: CIPHER_NAMES, argument }),
        })
    }

    fn id(self) -> &'static str {
        match self {
            Cipher::Aead(aead) => aead.id(),
            Cipher::RsaOaep => RSA_OAEP_ID,
            Cipher::Hash => "hash",
        }
    }

    fn script_name(self) -> &'static str {
        match self {
            Cipher::Aead(aead) => aead.script_name(),
            Cipher::RsaOaep => "rsa_oaep",
            Cipher::Hash => "hash",
        }
    }
}

const ENCRYPT_OPTIONS: &[&str] = &["aad", "encoding", "key_encoding"];
const DECRYPT_OPTIONS: &[&str] = &["aad", "encoding"];

/// `@encrypt(algorithm, data, key[, options])` and `@encryption.encrypt(…)`.
pub(crate) fn encrypt(values: &[Value], operator: &'static str) -> Result<Value> {
    let args = Args::new(values, operator, "@encrypt(algorithm, data, key[, options])", 4)?;
    let cipher = Cipher::parse(args.string(0, "algorithm")?, args.operator, 0)?;
    let options = args.options(3, ENCRYPT_OPTIONS)?;
    let plaintext = args.data(1, "data", "the data", options.data_encoding())?;
    let text = match cipher {
        Cipher::Aead(aead) => aead.encrypt(&args.key(2, KEY_LEN)?, &options.aad_bytes()?, &plaintext)?,
        Cipher::RsaOaep => {
            let key = asym::rsa_public_key(args.string(2, "key")?, 2)?;
            asym::rsa_encrypt(&key, &options.aad_bytes()?, &plaintext)?
        }
        Cipher::Hash => {
            // "Encryption" one way: SHA-256, or HMAC-SHA-256 when a key is given.
            match args.optional_string(2, "key")? {
                None => crate::bytes::hex_encode(&HashAlg::Sha256.digest(&plaintext)),
                Some(_) => {
                    let key = args.data(2, "key", "the key", options.key_encoding.unwrap_or(Encoding::Text))?;
                    crate::bytes::hex_encode(&HashAlg::Sha256.hmac(&key, &plaintext)?)
                }
            }
        }
    };
    Ok(Value::from(text))
}

/// `@decrypt(algorithm, ciphertext, key[, options])`: the algorithm must be the envelope's.
pub(crate) fn decrypt_seed(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@decrypt", "@decrypt(algorithm, ciphertext, key[, options])", 4)?;
    let cipher = Cipher::parse(args.string(0, "algorithm")?, args.operator, 0)?;
    if cipher == Cipher::Hash {
        return Err(CryptoError::WrongOperation {
            message: "a hash cannot be decrypted; check a value against it with verify(data, hash)".into(),
            argument: 0,
        });
    }
    decrypt_common(settings, &args, 1, Some(cipher))
}

/// `@encryption.decrypt(ciphertext, key[, options])`: the algorithm comes from the envelope.
pub(crate) fn decrypt(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.decrypt", "@encryption.decrypt(ciphertext, key[, options])", 3)?;
    decrypt_common(settings, &args, 0, None)
}

fn decrypt_common(settings: &Settings, args: &Args<'_>, first: usize, expected: Option<Cipher>) -> Result<Value> {
    let text = args.string(first, "ciphertext")?;
    let options = args.options(first + 2, DECRYPT_OPTIONS)?;
    let (id, payload) = aead::parse_envelope(text)?;
    let cipher = match id {
        "aes256gcm" => Cipher::Aead(Aead::Aes256Gcm),
        "chacha20poly1305" => Cipher::Aead(Aead::ChaCha20Poly1305),
        RSA_OAEP_ID => Cipher::RsaOaep,
        _ => {
            return Err(CryptoError::MalformedCiphertext(format!(
                "the ciphertext names the algorithm {}, which this plugin does not know",
                shown_name(id)
            )));
        }
    };
    if let Some(expected) = expected
        && expected.id() != cipher.id()
    {
        return Err(CryptoError::WrongOperation {
            message: format!("the ciphertext was made with {}, not {}", cipher.script_name(), expected.script_name()),
            argument: 0,
        });
    }
    let aad = options.aad_bytes()?;
    let plaintext = match cipher {
        Cipher::Aead(aead) => aead.open(&args.key(first + 1, KEY_LEN)?, &aad, payload)?,
        Cipher::RsaOaep => {
            if !settings.rsa_decryption {
                return Err(CryptoError::RsaDecryptionDisabled);
            }
            let key = args.string(first + 1, "key")?;
            asym::rsa_decrypt(&asym::rsa_private_key(key, first + 1)?, &aad, &payload)?
        }
        Cipher::Hash => unreachable!("envelopes never name hash"),
    };
    Ok(Value::from(options.data_encoding().encode(plaintext)?))
}

const AEAD_NAMES: &str = "aes_256_gcm and chacha20_poly1305";

/// The authenticated cipher named at `index` (`seal` and `open` take no other).
fn aead_named(args: &Args<'_>, index: usize) -> Result<Aead> {
    match Cipher::parse(args.string(index, "algorithm")?, args.operator, index) {
        Ok(Cipher::Aead(aead)) => Ok(aead),
        _ => Err(CryptoError::UnknownAlgorithm { operator: args.operator, known: AEAD_NAMES, argument: index }),
    }
}

const SEAL_OPTIONS: &[&str] = &["aad", "encoding"];
const OPEN_OPTIONS: &[&str] = &["aad", "encoding", "output"];

/// `@encryption.seal(algorithm, data, key[, options])`: the byte string `nonce (12 bytes) ||
/// ciphertext || tag (16 bytes)`, the algorithm's standard layout, written once straight into
/// the script's new byte string (both AEADs read the plaintext argument where it lies and
/// write the ciphertext out of place; nothing is zeroed or copied first).
pub(crate) fn seal(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.seal", "@encryption.seal(algorithm, data, key[, options])", 4)?;
    let aead = aead_named(&args, 0)?;
    let options = args.options(3, SEAL_OPTIONS)?;
    let plaintext = args.data(1, "data", "the data", options.data_encoding())?;
    let key = args.key(2, KEY_LEN)?;
    let aad = options.aad_bytes()?;
    Value::bytes_uninit(aead::sealed_len(plaintext.len())?, |out| aead.seal_fresh(&key, &aad, &plaintext, out))
}

/// `@encryption.open(algorithm, sealed, key[, options])`: the plaintext of `seal`'s byte
/// string, as bytes (or as text in the `output` encoding), decrypted once straight into the
/// script's new byte string (no byte string is made when the tag does not match).
pub(crate) fn open(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.open", "@encryption.open(algorithm, sealed, key[, options])", 4)?;
    let aead = aead_named(&args, 0)?;
    let options = args.options(3, OPEN_OPTIONS)?;
    let sealed_value =
        args.values.get(1).ok_or(CryptoError::MissingArgument { name: "sealed", signature: args.signature })?;
    let sealed = sealed_value.as_bytes().ok_or(CryptoError::WrongType {
        what: "sealed",
        expected: "bytes (what @encryption.seal returns)",
        found: sealed_value.type_name(),
        argument: 1,
    })?;
    let key = args.key(2, KEY_LEN)?;
    let aad = options.aad_bytes()?;
    let plaintext_len = aead.opened_len(sealed)?;
    if let Some(encoding) = options.output {
        let mut plaintext = Vec::with_capacity(plaintext_len);
        aead.open_into(&key, &aad, sealed, &mut plaintext)?;
        return Ok(Value::from(encoding.encode(plaintext)?));
    }
    Value::bytes_uninit(plaintext_len, |out| aead.open_into(&key, &aad, sealed, out))
}

/// The hash algorithm named at `index`, or `argon2id` for a password hash.
enum HashChoice {
    Digest(HashAlg),
    Argon2id,
}

fn hash_choice(name: &str, operator: &'static str, argument: usize) -> Result<HashChoice> {
    if matches!(normalize(name).as_str(), "argon2id" | "argon2" | "password") {
        return Ok(HashChoice::Argon2id);
    }
    HashAlg::parse(name).map(HashChoice::Digest).ok_or(CryptoError::UnknownAlgorithm {
        operator,
        known: "sha256, sha384, sha512, sha3_256, sha3_384, sha3_512, blake3 and argon2id (a password hash)",
        argument,
    })
}

const HASH_OPTIONS: &[&str] = &["encoding", "output"];

fn hash_common(
    settings: &Settings,
    args: &Args<'_>,
    data: usize,
    choice: HashChoice,
    options: &Options,
) -> Result<Value> {
    let bytes = args.data(data, "data", "the data", options.data_encoding())?;
    match choice {
        HashChoice::Digest(alg) => shaped(options, Encoding::Hex, alg.digest(&bytes)),
        HashChoice::Argon2id => Ok(Value::from(password::hash(&bytes, settings.password_hash)?)),
    }
}

/// A binary result as the options ask: a byte string for `output: "bytes"`, else text in the
/// `output` encoding (`default` without one).
fn shaped(options: &Options, default: Encoding, bytes: Vec<u8>) -> Result<Value> {
    if options.output_bytes {
        return Ok(Value::bytes(&bytes));
    }
    Ok(Value::from(options.output.unwrap_or(default).encode(bytes)?))
}

/// `hash(data[, algorithm][, options])`: SHA-256 hex unless told otherwise.
pub(crate) fn hash_function(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "hash", "hash(data[, algorithm][, options])", 3)?;
    // `hash(data, {output: "base64"})`: options in the algorithm's place.
    if args.is_object(1) {
        if values.len() > 2 {
            return Err(CryptoError::TooManyArguments { operator: "hash", max: 2, got: values.len() });
        }
        return hash_common(settings, &args, 0, HashChoice::Digest(HashAlg::Sha256), &args.options(1, HASH_OPTIONS)?);
    }
    let choice = match args.optional_string(1, "algorithm")? {
        None => HashChoice::Digest(HashAlg::Sha256),
        Some(name) => hash_choice(name, args.operator, 1)?,
    };
    hash_common(settings, &args, 0, choice, &args.options(2, HASH_OPTIONS)?)
}

/// `@encryption.hash(algorithm, data[, options])`.
pub(crate) fn hash_operator(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.hash", "@encryption.hash(algorithm, data[, options])", 3)?;
    let choice = hash_choice(args.string(0, "algorithm")?, args.operator, 0)?;
    hash_common(settings, &args, 1, choice, &args.options(2, HASH_OPTIONS)?)
}

/// `verify(data, expected[, algorithm][, options])`: a password against a PHC string, or
/// data against a digest (hex or base64), compared in constant time.
pub(crate) fn verify_function(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "verify", "verify(data, expected_hash[, algorithm][, options])", 4)?;
    let expected = args.string(1, "expected_hash")?.trim();
    // `verify(data, hash, {encoding: "hex"})`: options in the algorithm's place.
    let options_at = if args.is_object(2) { 2 } else { 3 };
    if options_at == 2 && values.len() > 3 {
        return Err(CryptoError::TooManyArguments { operator: "verify", max: 3, got: values.len() });
    }
    let options = args.options(options_at, &["encoding"])?;
    let bytes = args.data(0, "data", "the data", options.data_encoding())?;
    if expected.starts_with("$argon2") {
        return Ok(Value::from(password::verify(&bytes, expected, 1)?));
    }
    let algorithm = if options_at == 2 { None } else { args.optional_string(2, "algorithm")? };
    let alg = match algorithm {
        None => HashAlg::Sha256,
        Some(name) => HashAlg::parse(name).ok_or(CryptoError::UnknownAlgorithm {
            operator: args.operator,
            known: HASH_NAMES,
            argument: 2,
        })?,
    };
    let len = alg.output_len();
    let stored = sized_bytes(expected, len).filter(|bytes| bytes.len() == len).ok_or_else(|| {
        CryptoError::BadHash(
            format!(
                "the expected hash is not a {} digest ({} hex digits or base64 of {len} bytes) nor an Argon2 PHC string",
                alg.name(),
                2 * len
            ),
            1,
        )
    })?;
    Ok(Value::from(constant_time_eq(&alg.digest(&bytes), &stored)))
}

/// Hex when `text` is exactly `2 * len` hex digits, base64 otherwise.
fn sized_bytes(text: &str, len: usize) -> Option<Vec<u8>> {
    if text.len() == 2 * len
        && let Some(bytes) = hex_decode(text)
    {
        return Some(bytes);
    }
    crate::bytes::base64_decode(text)
}

fn hmac_alg(name: &str, operator: &'static str) -> Result<HashAlg> {
    match HashAlg::parse(name) {
        Some(alg) if alg != HashAlg::Blake3 => Ok(alg),
        _ => Err(CryptoError::UnknownAlgorithm { operator, known: HMAC_NAMES, argument: 0 }),
    }
}

const HMAC_OPTIONS: &[&str] = &["encoding", "key_encoding", "output"];

fn hmac_of(args: &Args<'_>, options: &Options) -> Result<(HashAlg, Vec<u8>)> {
    let alg = hmac_alg(args.string(0, "algorithm")?, args.operator)?;
    let data = args.data(1, "data", "the data", options.data_encoding())?;
    let key = args.data(2, "key", "the key", options.key_encoding.unwrap_or(Encoding::Text))?;
    Ok((alg, alg.hmac(&key, &data)?))
}

/// `@encryption.hmac(algorithm, data, key[, options])`: hex unless `output` says otherwise.
pub(crate) fn hmac(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.hmac", "@encryption.hmac(algorithm, data, key[, options])", 4)?;
    let options = args.options(3, HMAC_OPTIONS)?;
    let (_, mac) = hmac_of(&args, &options)?;
    shaped(&options, Encoding::Hex, mac)
}

/// `@encryption.verify_hmac(algorithm, data, key, mac[, options])`: constant-time comparison.
pub(crate) fn verify_hmac(values: &[Value]) -> Result<Value> {
    let args = Args::new(
        values,
        "@encryption.verify_hmac",
        "@encryption.verify_hmac(algorithm, data, key, mac[, options])",
        5,
    )?;
    let options = args.options(4, &["encoding", "key_encoding"])?;
    let (alg, mac) = hmac_of(&args, &options)?;
    let expected = args.string(3, "mac")?.trim();
    let Some(expected) = sized_bytes(expected, alg.output_len()) else {
        return Err(CryptoError::BadHash("the mac is neither hex nor base64".into(), 3));
    };
    Ok(Value::from(constant_time_eq(&mac, &expected)))
}

const COST_OPTIONS: &[&str] = &["memory_kib", "iterations", "parallelism", "encoding"];

fn costs(base: Costs, options: &Options) -> Costs {
    Costs {
        memory_kib: options.memory_kib.unwrap_or(base.memory_kib),
        iterations: options.iterations.unwrap_or(base.iterations),
        parallelism: options.parallelism.unwrap_or(base.parallelism),
    }
}

/// `@encryption.password_hash(password[, options])`: an Argon2id PHC string.
pub(crate) fn password_hash(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.password_hash", "@encryption.password_hash(password[, options])", 2)?;
    let options = args.options(1, COST_OPTIONS)?;
    let password = args.data(0, "password", "the password", options.data_encoding())?;
    Ok(Value::from(password::hash(&password, costs(settings.password_hash, &options))?))
}

/// `@encryption.password_verify(password, stored_hash)`.
pub(crate) fn password_verify(values: &[Value]) -> Result<Value> {
    let args = Args::new(
        values,
        "@encryption.password_verify",
        "@encryption.password_verify(password, stored_hash[, options])",
        3,
    )?;
    let options = args.options(2, &["encoding"])?;
    let password = args.data(0, "password", "the password", options.data_encoding())?;
    Ok(Value::from(password::verify(&password, args.string(1, "stored_hash")?, 1)?))
}

/// `@encryption.derive_key(password, salt[, options])`: a key (base64, 32 bytes by default)
/// from a password with Argon2id.
pub(crate) fn derive_key(settings: &Settings, values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.derive_key", "@encryption.derive_key(password, salt[, options])", 3)?;
    let options = args.options(
        2,
        &["memory_kib", "iterations", "parallelism", "length", "secret", "associated_data", "encoding", "output"],
    )?;
    let encoding = options.data_encoding();
    let password = args.data(0, "password", "the password", encoding)?;
    let salt = args.data(1, "salt", "the salt", encoding)?;
    let secret = match &options.secret {
        Some(text) => encoding.decode(text, "the option secret", 2)?,
        None => Cow::Borrowed(&[][..]),
    };
    let associated_data = match &options.associated_data {
        Some(text) => encoding.decode(text, "the option associated_data", 2)?,
        None => Cow::Borrowed(&[][..]),
    };
    let derivation = Derivation {
        costs: costs(settings.password_hash, &options),
        length: options.length.unwrap_or(KEY_LEN),
        secret: &secret,
        associated_data: &associated_data,
    };
    let key = password::derive(&password, &salt, &derivation, 2)?;
    shaped(&options, Encoding::Base64, key)
}

fn sign_alg(name: &str, operator: &'static str) -> Result<SignAlg> {
    SignAlg::parse(name).ok_or(CryptoError::UnknownAlgorithm { operator, known: SIGN_NAMES, argument: 0 })
}

/// `@encryption.sign(algorithm, data, private_key[, options])`: base64 unless `output` says.
pub(crate) fn sign(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.sign", "@encryption.sign(algorithm, data, private_key[, options])", 4)?;
    let alg = sign_alg(args.string(0, "algorithm")?, args.operator)?;
    let options = args.options(3, &["encoding", "output"])?;
    let message = args.data(1, "data", "the data", options.data_encoding())?;
    let signature = asym::sign(alg, args.string(2, "private_key")?, &message, 2)?;
    shaped(&options, Encoding::Base64, signature)
}

/// `@encryption.verify_signature(algorithm, data, signature, public_key[, options])`.
pub(crate) fn verify_signature(values: &[Value]) -> Result<Value> {
    let args = Args::new(
        values,
        "@encryption.verify_signature",
        "@encryption.verify_signature(algorithm, data, signature, public_key[, options])",
        5,
    )?;
    let alg = sign_alg(args.string(0, "algorithm")?, args.operator)?;
    let options = args.options(4, &["encoding"])?;
    let message = args.data(1, "data", "the data", options.data_encoding())?;
    let key = args.string(3, "public_key")?;
    let signature = match args.present(2).and_then(Value::as_bytes) {
        Some(bytes) => bytes.to_vec(),
        None => {
            let signature_text = args.string(2, "signature")?.trim();
            let expected_len = match alg {
                SignAlg::Ed25519 => 64,
                SignAlg::RsaPss => asym::rsa_public_key(key, 3)?.size(),
            };
            let Some(signature) = sized_bytes(signature_text, expected_len) else {
                return Err(CryptoError::BadEncoding { what: "the signature", encoding: "hex or base64", argument: 2 });
            };
            signature
        }
    };
    Ok(Value::from(asym::verify(alg, key, &message, &signature, 3)?))
}

/// The most random bytes one call returns.
const MAX_RANDOM: usize = 1 << 20;

fn random(len: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

/// `@encryption.random_bytes(count[, encoding])`: base64 by default.
pub(crate) fn random_bytes(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.random_bytes", "@encryption.random_bytes(count[, encoding])", 2)?;
    let count = args
        .optional_count(0, "count")?
        .ok_or(CryptoError::MissingArgument { name: "count", signature: args.signature })?;
    if count > MAX_RANDOM {
        return Err(CryptoError::OutOfRange(format!("count must be at most {MAX_RANDOM}, and is {count}"), 0));
    }
    let encoding = match args.optional_string(1, "encoding")? {
        None => Encoding::Base64,
        Some(name) => match Encoding::parse(name) {
            Some(Encoding::Text) | None => {
                return Err(CryptoError::BadOption(
                    format!("random bytes are written as \"hex\" or \"base64\", not {}", shown_name(name)),
                    1,
                ));
            }
            Some(encoding) => encoding,
        },
    };
    Ok(Value::from(encoding.encode(random(count)?)?))
}

/// `@encryption.random_token([bytes])`: URL-safe base64 without padding of 32 random bytes
/// (or `bytes`).
pub(crate) fn random_token(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.random_token", "@encryption.random_token([bytes])", 1)?;
    let count = args.optional_count(0, "bytes")?.unwrap_or(32);
    if !(1..=1024).contains(&count) {
        return Err(CryptoError::OutOfRange(format!("a token has 1 to 1024 random bytes, not {count}"), 0));
    }
    Ok(Value::from(BASE64_URL.encode(random(count)?)))
}

/// `@encryption.generate_key(algorithm[, options])`.
pub(crate) fn generate_key(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.generate_key", "@encryption.generate_key(algorithm[, options])", 2)?;
    let name = args.string(0, "algorithm")?;
    let options = args.options(1, &["bits"])?;
    let rsa_bits = |default: usize| options.bits.unwrap_or(default);
    let pair = |algorithm: &str, (private, public): (String, String)| {
        Value::object(vec![
            ("algorithm", Value::from(algorithm)),
            ("private_key", Value::from(private)),
            ("public_key", Value::from(public)),
        ])
    };
    Ok(match normalize(name).as_str() {
        "aes256gcm" | "chacha20poly1305" | "hmac" | "hmacsha256" => Value::from(BASE64.encode(random(KEY_LEN)?)),
        "ed25519" => pair("ed25519", asym::ed25519_generate()?),
        "rsa" | "rsaoaep" | "rsapss" => pair("rsa", asym::rsa_generate(rsa_bits(2048))?),
        "rsa2048" => pair("rsa", asym::rsa_generate(rsa_bits(2048))?),
        "rsa3072" => pair("rsa", asym::rsa_generate(rsa_bits(3072))?),
        "rsa4096" => pair("rsa", asym::rsa_generate(rsa_bits(4096))?),
        _ => {
            return Err(CryptoError::UnknownAlgorithm {
                operator: args.operator,
                known: "aes_256_gcm, chacha20_poly1305, hmac (32 random bytes, base64), ed25519, rsa_2048, rsa_3072 and rsa_4096",
                argument: 0,
            });
        }
    })
}

/// `@encryption.public_key(private_key)`: the SPKI PEM of an RSA or Ed25519 private key.
pub(crate) fn public_key(values: &[Value]) -> Result<Value> {
    let args = Args::new(values, "@encryption.public_key", "@encryption.public_key(private_key)", 1)?;
    Ok(Value::from(asym::public_key_of(args.string(0, "private_key")?, 0)?))
}
