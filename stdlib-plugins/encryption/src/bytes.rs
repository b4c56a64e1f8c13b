//! Byte strings in scripts. TuskLang strings are UTF-8 text, so binary data (keys, nonces,
//! ciphertexts, signatures) travels as base64 or hex, and the plaintext, message or password
//! is text unless an option says it is written in base64 or hex.

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{CryptoError, Result};

/// Standard base64 with padding on output; padding optional on input.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe base64 without padding on output (ciphertext envelopes, tokens); padding optional on input.
pub(crate) const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a byte string is written in the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-8 text, as it is.
    Text,
    /// Lower-case hex on output; either case on input.
    Hex,
    /// Standard base64 (padded) on output; standard or URL-safe, padded or not, on input.
    Base64,
}

impl Encoding {
    /// `"text"`/`"utf8"`, `"hex"`, `"base64"`.
    pub(crate) fn parse(name: &str) -> Option<Encoding> {
        match name.to_ascii_lowercase().as_str() {
            "text" | "utf8" | "utf-8" => Some(Encoding::Text),
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Text => "UTF-8 text",
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }

    /// The bytes `text` stands for (text itself, uncopied, for [`Encoding::Text`]). `what` and
    /// `argument` name it in the error (never its content).
    pub(crate) fn decode<'a>(self, text: &'a str, what: &'static str, argument: usize) -> Result<Cow<'a, [u8]>> {
        let decoded = match self {
            Encoding::Text => return Ok(Cow::Borrowed(text.as_bytes())),
            Encoding::Hex => hex_decode(text),
            Encoding::Base64 => base64_decode(text),
        };
        decoded.map(Cow::Owned).ok_or(CryptoError::BadEncoding { what, encoding: self.name(), argument })
    }

    /// `bytes` written in this encoding; text must be UTF-8.
    pub(crate) fn encode(self, bytes: Vec<u8>) -> Result<String> {
        match self {
            Encoding::Text => String::from_utf8(bytes).map_err(|_| CryptoError::NotText),
            Encoding::Hex => Ok(hex_encode(&bytes)),
            Encoding::Base64 => Ok(BASE64.encode(bytes)),
        }
    }
}

/// Lower-case hex.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Hex of either case; `None` for an odd length or a non-hex character.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        out.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
    }
    Some(out)
}

/// Standard or URL-safe base64, padded or not. The decoder's own error is dropped on purpose:
/// it names the offending byte and its offset, which would leak part of a key.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    if text.contains(['-', '_']) { BASE64_URL.decode(text).ok() } else { BASE64.decode(text).ok() }
}

/// A fixed-size secret (a symmetric key, an Ed25519 seed, a signature) written as hex (exactly
/// `2 * len` hex digits) or base64. The error says how long it was, never what it was.
pub(crate) fn fixed_bytes(text: &str, len: usize, what: &str, argument: usize) -> Result<Vec<u8>> {
    let trimmed = text.trim();
    if trimmed.len() == 2 * len
        && let Some(bytes) = hex_decode(trimmed)
    {
        return Ok(bytes);
    }
    match base64_decode(trimmed) {
        Some(bytes) if bytes.len() == len => Ok(bytes),
        Some(bytes) => Err(CryptoError::BadKey(
            format!(
                "{what} must be {len} bytes, written as base64 or as {} hex digits; this one is {} bytes",
                2 * len,
                bytes.len()
            ),
            argument,
        )),
        None => Err(CryptoError::BadKey(
            format!("{what} must be {len} bytes written as base64 or as {} hex digits; this one is neither", 2 * len),
            argument,
        )),
    }
}

/// Whether `text` is a PEM document (`-----BEGIN …`).
pub(crate) fn is_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN ")
}

/// The label of a PEM document (`PRIVATE KEY` of `-----BEGIN PRIVATE KEY-----`).
pub(crate) fn pem_label(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix("-----BEGIN ")?;
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        // Every byte as a digit, against the plain definition.
        for byte in (0..=127u8).map(char::from) {
            let expected = byte.to_digit(16).map(|value| value as u8);
            assert_eq!(hex_decode(&format!("0{byte}")).map(|bytes| bytes[0]), expected, "{byte:?}");
        }
        assert_eq!(hex_decode("00ff0/"), None);
        assert_eq!(hex_decode(""), Some(vec![]));
    }

    #[test]
    fn base64_takes_both_alphabets_with_or_without_padding() {
        assert_eq!(base64_decode("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("+/8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("a b"), None);
    }

    #[test]
    fn fixed_size_values_say_their_length_never_their_content() {
        let key = "0".repeat(64);
        assert_eq!(fixed_bytes(&key, 32, "the key", 2).unwrap(), vec![0; 32]);
        let error = fixed_bytes("c2VjcmV0LXBhc3N3b3Jk", 32, "the key", 2).unwrap_err().to_string();
        assert_eq!(error, "the key must be 32 bytes, written as base64 or as 64 hex digits; this one is 15 bytes");
        let error = fixed_bytes("my secret password!", 32, "the key", 2).unwrap_err().to_string();
        assert_eq!(error, "the key must be 32 bytes written as base64 or as 64 hex digits; this one is neither");
        assert!(!error.contains("secret"));
    }

    #[test]
    fn pem_labels() {
        assert_eq!(pem_label("-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----"), Some("PUBLIC KEY"));
        assert_eq!(pem_label("AAAA"), None);
    }
}
