//! Reading the script's arguments: strings, optional arguments and option objects, each
//! failure named by argument and never by content.

use std::borrow::Cow;

use tusk_plugin_sdk::{Kind, Value};

use crate::bytes::Encoding;
use crate::error::{CryptoError, Result};

/// The arguments of one call.
pub(crate) struct Args<'a> {
    pub(crate) values: &'a [Value],
    pub(crate) operator: &'static str,
    pub(crate) signature: &'static str,
}

impl<'a> Args<'a> {
    /// Checks the count against the most the call takes.
    pub(crate) fn new(
        values: &'a [Value],
        operator: &'static str,
        signature: &'static str,
        max: usize,
    ) -> Result<Args<'a>> {
        if values.len() > max {
            return Err(CryptoError::TooManyArguments { operator, max, got: values.len() });
        }
        Ok(Args { values, operator, signature })
    }

    /// Argument `index`, a string.
    pub(crate) fn string(&self, index: usize, what: &'static str) -> Result<&'a str> {
        let value =
            self.values.get(index).ok_or(CryptoError::MissingArgument { name: what, signature: self.signature })?;
        value.as_str().ok_or(CryptoError::WrongType {
            what,
            expected: "a string",
            found: value.type_name(),
            argument: index,
        })
    }

    /// Argument `index`, binary data: a byte string as it is (borrowed, no copy), or a string
    /// in `encoding` (text as its UTF-8 bytes, uncopied).
    pub(crate) fn data(
        &self,
        index: usize,
        name: &'static str,
        what: &'static str,
        encoding: Encoding,
    ) -> Result<Cow<'a, [u8]>> {
        let value = self.values.get(index).ok_or(CryptoError::MissingArgument { name, signature: self.signature })?;
        if let Some(bytes) = value.as_bytes() {
            return Ok(Cow::Borrowed(bytes));
        }
        let text = value.as_str().ok_or(CryptoError::WrongType {
            what: name,
            expected: "a string or bytes",
            found: value.type_name(),
            argument: index,
        })?;
        encoding.decode(text, what, index)
    }

    /// Argument `index`, a symmetric key of `len` bytes: a byte string of that length, or a
    /// string of base64 or hex text.
    pub(crate) fn key(&self, index: usize, len: usize) -> Result<Cow<'a, [u8]>> {
        let value =
            self.values.get(index).ok_or(CryptoError::MissingArgument { name: "key", signature: self.signature })?;
        match value.as_bytes() {
            Some(bytes) if bytes.len() == len => Ok(Cow::Borrowed(bytes)),
            Some(bytes) => Err(CryptoError::BadKey(
                format!("the key must be {len} bytes; this byte string has {}", bytes.len()),
                index,
            )),
            None => Ok(Cow::Owned(crate::bytes::fixed_bytes(self.string(index, "key")?, len, "the key", index)?)),
        }
    }

    /// Argument `index` if given and not null.
    pub(crate) fn present(&self, index: usize) -> Option<&'a Value> {
        self.values.get(index).filter(|value| !value.is_null())
    }

    /// Whether argument `index` is an object (an option object in an optional argument's place).
    pub(crate) fn is_object(&self, index: usize) -> bool {
        self.present(index).is_some_and(|value| value.as_object().is_some())
    }

    /// Argument `index`, a string, if given.
    pub(crate) fn optional_string(&self, index: usize, what: &'static str) -> Result<Option<&'a str>> {
        match self.present(index) {
            None => Ok(None),
            Some(_) => self.string(index, what).map(Some),
        }
    }

    /// Argument `index`, a non-negative integer, if given.
    pub(crate) fn optional_count(&self, index: usize, what: &'static str) -> Result<Option<usize>> {
        let Some(value) = self.present(index) else { return Ok(None) };
        let number = value.as_int().ok_or(CryptoError::WrongType {
            what,
            expected: "an integer",
            found: value.type_name(),
            argument: index,
        })?;
        usize::try_from(number)
            .map(Some)
            .map_err(|_| CryptoError::OutOfRange(format!("{what} must not be negative"), index))
    }

    /// The option object at `index` (absent or null: no options), keys limited to `allowed`.
    pub(crate) fn options(&self, index: usize, allowed: &'static [&'static str]) -> Result<Options> {
        let mut options = Options { argument: index, ..Options::default() };
        let Some(value) = self.present(index) else { return Ok(options) };
        let object = value.as_object().ok_or(CryptoError::WrongType {
            what: "the options",
            expected: "an object",
            found: value.type_name(),
            argument: index,
        })?;
        for (key, value) in object.entries() {
            if !allowed.contains(&key) {
                let shown = crate::error::shown_name(key);
                return Err(CryptoError::BadOption(
                    format!("{} has no option `{shown}`; its options are {}", self.operator, allowed.join(", ")),
                    index,
                ));
            }
            options.set(key, &value, index)?;
        }
        Ok(options)
    }
}

/// The associated data as the options give it.
#[derive(Debug)]
pub(crate) enum Aad {
    /// Text in the data encoding.
    Text(String),
    /// A byte string, as it is.
    Bytes(Vec<u8>),
}

/// Every option some operation takes; each operation allows its own subset.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) argument: usize,
    pub(crate) aad: Option<Aad>,
    pub(crate) encoding: Option<Encoding>,
    pub(crate) key_encoding: Option<Encoding>,
    pub(crate) output: Option<Encoding>,
    /// `output: "bytes"`: the result as a byte string.
    pub(crate) output_bytes: bool,
    pub(crate) memory_kib: Option<u32>,
    pub(crate) iterations: Option<u32>,
    pub(crate) parallelism: Option<u32>,
    pub(crate) length: Option<usize>,
    pub(crate) secret: Option<String>,
    pub(crate) associated_data: Option<String>,
    pub(crate) bits: Option<usize>,
}

impl Options {
    fn set(&mut self, key: &str, value: &Value, argument: usize) -> Result<()> {
        let text = |what: &'static str| -> Result<String> {
            value.as_str().map(str::to_string).ok_or(CryptoError::WrongType {
                what,
                expected: "a string",
                found: value.type_name(),
                argument,
            })
        };
        let encoding = |what: &'static str| -> Result<Encoding> {
            let name = value.as_str().ok_or(CryptoError::WrongType {
                what,
                expected: "\"text\", \"hex\" or \"base64\"",
                found: value.type_name(),
                argument,
            })?;
            Encoding::parse(name).ok_or_else(|| {
                CryptoError::BadOption(
                    format!("{what} must be \"text\", \"hex\" or \"base64\", not {}", crate::error::shown_name(name)),
                    argument,
                )
            })
        };
        let number = |what: &'static str| -> Result<u64> {
            match (value.kind(), value.as_int()) {
                (Kind::Int, Some(number)) if number >= 0 => Ok(number.unsigned_abs()),
                (Kind::Int, _) => {
                    Err(CryptoError::OutOfRange(format!("the option {what} must not be negative"), argument))
                }
                _ => Err(CryptoError::WrongType { what, expected: "an integer", found: value.type_name(), argument }),
            }
        };
        let small = |what: &'static str| -> Result<u32> {
            u32::try_from(number(what)?)
                .map_err(|_| CryptoError::OutOfRange(format!("the option {what} is too large"), argument))
        };
        match key {
            "aad" => {
                self.aad = Some(match value.as_bytes() {
                    Some(bytes) => Aad::Bytes(bytes.to_vec()),
                    None => Aad::Text(value.as_str().map(str::to_string).ok_or(CryptoError::WrongType {
                        what: "the option aad",
                        expected: "a string or bytes",
                        found: value.type_name(),
                        argument,
                    })?),
                })
            }
            "encoding" => self.encoding = Some(encoding("the option encoding")?),
            "key_encoding" => self.key_encoding = Some(encoding("the option key_encoding")?),
            "output" if value.as_str() == Some("bytes") => self.output_bytes = true,
            "output" => {
                self.output = Some(encoding("the option output").map_err(|error| match error {
                    CryptoError::BadOption(message, argument) => {
                        CryptoError::BadOption(message.replace("or \"base64\"", "\"base64\" or \"bytes\""), argument)
                    }
                    other => other,
                })?)
            }
            "memory_kib" => self.memory_kib = Some(small("memory_kib")?),
            "iterations" => self.iterations = Some(small("iterations")?),
            "parallelism" => self.parallelism = Some(small("parallelism")?),
            "length" => self.length = Some(small("length")? as usize),
            "bits" => self.bits = Some(small("bits")? as usize),
            "secret" => self.secret = Some(text("the option secret")?),
            "associated_data" => self.associated_data = Some(text("the option associated_data")?),
            _ => {}
        }
        Ok(())
    }

    /// How the data (plaintext, message, password, salt, aad) is written: text by default.
    pub(crate) fn data_encoding(&self) -> Encoding {
        self.encoding.unwrap_or(Encoding::Text)
    }

    /// The associated data's bytes (empty when not given), in the data encoding.
    pub(crate) fn aad_bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.aad {
            None => Ok(Cow::Borrowed(&[])),
            Some(Aad::Bytes(bytes)) => Ok(Cow::Borrowed(bytes)),
            Some(Aad::Text(text)) => self.data_encoding().decode(text, "the option aad", self.argument),
        }
    }
}
