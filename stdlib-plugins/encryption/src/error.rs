//! The encryption plugin's errors, converted to the SDK's `PluginError` at the boundary (the
//! one `From` impl below), so every message is written in one place.
//!
//! No message contains a key, a plaintext, a password or any other argument value: they say
//! what was wrong (a length, a kind, an encoding) and never echo what was given; not even an
//! unknown algorithm name, since a plaintext passed in the wrong position would land there.
//! Identifiers that are code, not data (option names, an envelope's algorithm id, an encoding
//! name), are repeated when they look like names (see [`shown_name`]).

use tusk_plugin_sdk::PluginError;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CryptoError {
    /// A required argument is missing.
    #[error("{name} (the call is {signature})")]
    MissingArgument { name: &'static str, signature: &'static str },
    /// More arguments than the operator takes.
    #[error("{operator} takes at most {max} arguments, but {got} were given")]
    TooManyArguments { operator: &'static str, max: usize, got: usize },
    /// An argument of the wrong type.
    #[error("{what} must be {expected}, found {found}")]
    WrongType { what: &'static str, expected: &'static str, found: &'static str, argument: usize },
    /// An algorithm this operation does not know. The value given is never repeated: the
    /// algorithm comes first in every call, so a plaintext or key given in the wrong order
    /// would land here.
    #[error("not one that {operator} knows (the value given is not repeated here)")]
    UnknownAlgorithm { operator: &'static str, known: &'static str, argument: usize },
    /// An algorithm that exists but not for this operation (`@decrypt("hash", …)`).
    #[error("{message}")]
    WrongOperation { message: String, argument: usize },
    /// A key of the wrong size or form; says which, never what the key was.
    #[error("{0}")]
    BadKey(String, usize),
    /// A byte string argument that does not decode in its encoding.
    #[error("{what} is not valid {encoding}")]
    BadEncoding { what: &'static str, encoding: &'static str, argument: usize },
    /// An option object with an unknown key or a bad value.
    #[error("{0}")]
    BadOption(String, usize),
    /// A ciphertext that is not a `tsk1:` envelope, or whose envelope is cut short.
    #[error("{0}")]
    MalformedCiphertext(String),
    /// Authentication failed: wrong key, tampered or truncated ciphertext, other associated
    /// data. One message for all of them, on purpose: which one it was is not knowable (the
    /// tag check says only "no"), and telling them apart would help an attacker.
    #[error("decryption failed: the key is wrong, the ciphertext was changed or cut, or the associated data differs")]
    DecryptionFailed,
    /// A plaintext that is not UTF-8 text, asked for as text.
    #[error("the plaintext is binary, not UTF-8 text")]
    NotText,
    /// A value out of its allowed range (sizes, costs).
    #[error("{0}")]
    OutOfRange(String, usize),
    /// RSA decryption while the configuration does not allow it.
    #[error("RSA decryption is disabled")]
    RsaDecryptionDisabled,
    /// Data too long for one RSA-OAEP block.
    #[error("RSA-OAEP with this {bits}-bit key encrypts at most {max} bytes, and the data is {len} bytes")]
    RsaTooLong { bits: usize, max: usize, len: usize },
    /// A malformed stored hash (PHC string, digest) given to a verify call.
    #[error("{0}")]
    BadHash(String, usize),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A library failure that names nothing secret (key generation, PEM encoding).
    #[error("{0}")]
    Internal(String),
}

pub(crate) type Result<T> = std::result::Result<T, CryptoError>;

/// How a name the script gave is shown in a message: as it is when it looks like a name
/// (letters, digits, `_`, `-`, at most 32 characters), otherwise only by its length, since a
/// plaintext or a key given in the wrong position would otherwise end up in the error.
pub(crate) fn shown_name(name: &str) -> String {
    let looks_like_a_name = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if looks_like_a_name {
        name.to_string()
    } else {
        format!("(a {}-character string, not shown)", name.chars().count())
    }
}

impl From<CryptoError> for PluginError {
    fn from(error: CryptoError) -> PluginError {
        let message = error.to_string();
        match error {
            CryptoError::MissingArgument { .. } => PluginError::missing_argument(message),
            CryptoError::UnknownAlgorithm { known, argument, .. } => PluginError::invalid_algorithm(message)
                .with_help(format!("the algorithms are {known}"))
                .at_argument(argument),
            CryptoError::WrongOperation { argument, .. } => {
                PluginError::invalid_operation(message).at_argument(argument)
            }
            CryptoError::WrongType { argument, .. }
            | CryptoError::BadEncoding { argument, .. }
            | CryptoError::BadOption(_, argument)
            | CryptoError::OutOfRange(_, argument)
            | CryptoError::BadHash(_, argument) => PluginError::message(message).at_argument(argument),
            CryptoError::BadKey(_, argument) => PluginError::message(message)
                .with_help("make a key with @encryption.generate_key(algorithm), or one from a password with @encryption.derive_key(password, salt)")
                .at_argument(argument),
            CryptoError::NotText => PluginError::message(message)
                .with_help("ask for the bytes as base64 or hex with the option {encoding: \"base64\"}"),
            CryptoError::RsaDecryptionDisabled => PluginError::permission_denied(message).with_help(
                "set rsa_decryption = true in [plugins.encryption] to allow it where its timing cannot be observed (see the plugin's README, Security considerations)",
            ),
            CryptoError::RsaTooLong { .. } => PluginError::message(message).with_help(
                "encrypt the data with aes_256_gcm under a fresh key, and only that key with RSA",
            ),
            _ => PluginError::message(message),
        }
    }
}
