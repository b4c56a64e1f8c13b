//! Arguments and options of a call, time, random bytes and base64url.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tusk_plugin_sdk::{OwnedValue, PluginError, Value};

/// The arguments of one call, with the operator's name for messages; `offset` skips the
/// operation names of the `@auth(operation, …)` forms.
pub(crate) struct Args<'a> {
    pub(crate) values: &'a [Value],
    pub(crate) offset: usize,
    pub(crate) operator: &'a str,
}

impl Args<'_> {
    pub(crate) fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index)
    }

    /// An error about argument `index`.
    pub(crate) fn error(&self, index: usize, message: impl std::fmt::Display) -> PluginError {
        PluginError::message(format!("{}: {message}", self.operator)).at_argument(self.offset + index)
    }

    pub(crate) fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    pub(crate) fn string(&self, index: usize, name: &str) -> Result<&str, PluginError> {
        let value = self.required(index, name)?;
        value.as_str().ok_or_else(|| self.error(index, format!("{name} must be a string, got a {}", value.type_name())))
    }

    pub(crate) fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > self.offset + count {
            return Err(PluginError::message(format!(
                "{} takes at most {} arguments, got {}",
                self.operator,
                self.offset + count,
                self.values.len()
            ))
            .at_argument(self.offset + count));
        }
        Ok(())
    }

    /// The options object at `index` (absent or null: none), checked against `known`.
    pub(crate) fn options(&self, index: usize, known: &'static [&'static str]) -> Result<Options, PluginError> {
        let entries = match self.get(index) {
            None => Vec::new(),
            Some(value) if value.is_null() => Vec::new(),
            Some(value) => match value.to_owned_value()? {
                OwnedValue::Object(entries) => entries,
                _ => {
                    return Err(
                        self.error(index, format!("the options must be an object, got a {}", value.type_name()))
                    );
                }
            },
        };
        for (key, _) in &entries {
            if !known.contains(&key.as_str()) {
                return Err(self.error(index, format!("unknown option `{key}`")).with_help(format!(
                    "the options are {}",
                    known.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(Options { entries, operator: self.operator.to_string(), argument: self.offset + index })
    }
}

/// An options object, its keys already checked.
pub(crate) struct Options {
    entries: Vec<(String, OwnedValue)>,
    operator: String,
    argument: usize,
}

impl Options {
    pub(crate) fn error(&self, message: impl std::fmt::Display) -> PluginError {
        PluginError::message(format!("{}: {message}", self.operator)).at_argument(self.argument)
    }

    /// The value of `name`; `Some(Null)` when it was given as null.
    pub(crate) fn raw(&self, name: &str) -> Option<&OwnedValue> {
        self.entries.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// Present and not null.
    pub(crate) fn value(&self, name: &str) -> Option<&OwnedValue> {
        self.raw(name).filter(|value| !matches!(value, OwnedValue::Null))
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<&str>, PluginError> {
        match self.value(name) {
            None => Ok(None),
            Some(OwnedValue::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.error(format!("option `{name}` must be a string, got {}", kind_name(other)))),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, PluginError> {
        match self.value(name) {
            None => Ok(None),
            Some(OwnedValue::Int(n)) => Ok(Some(*n)),
            Some(OwnedValue::Float(x)) if x.fract() == 0.0 && x.abs() < 9e15 => Ok(Some(*x as i64)),
            Some(other) => Err(self.error(format!("option `{name}` must be an integer, got {}", kind_name(other)))),
        }
    }

    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, PluginError> {
        match self.value(name) {
            None => Ok(None),
            Some(OwnedValue::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(format!("option `{name}` must be true or false, got {}", kind_name(other)))),
        }
    }

    /// A string or a list of strings.
    pub(crate) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, PluginError> {
        match self.value(name) {
            None => Ok(None),
            Some(OwnedValue::String(text)) => Ok(Some(vec![text.clone()])),
            Some(OwnedValue::Array(items)) => items
                .iter()
                .map(|item| match item {
                    OwnedValue::String(text) => Ok(text.clone()),
                    other => Err(self.error(format!(
                        "option `{name}` must be a string or a list of strings, it holds {}",
                        kind_name(other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => {
                Err(self
                    .error(format!("option `{name}` must be a string or a list of strings, got {}", kind_name(other))))
            }
        }
    }
}

/// "a string", "an integer", … for messages about a plain value.
pub(crate) fn kind_name(value: &OwnedValue) -> &'static str {
    match value {
        OwnedValue::Null => "null",
        OwnedValue::Bool(_) => "a boolean",
        OwnedValue::Int(_) => "an integer",
        OwnedValue::Float(_) => "a float",
        OwnedValue::String(_) => "a string",
        OwnedValue::Array(_) => "an array",
        OwnedValue::Object(_) => "an object",
        OwnedValue::Range(..) => "a range",
        OwnedValue::Bytes(_) => "a byte string",
    }
}

/// Seconds since 1970 now.
pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or(0)
}

/// `2011-03-22T18:43:00Z` for seconds since 1970 (proleptic Gregorian, UTC).
pub(crate) fn iso(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// `count` bytes from the operating system's generator.
pub(crate) fn random_bytes(count: usize) -> Result<Vec<u8>, PluginError> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes)
        .map_err(|error| PluginError::message(format!("the system's random generator failed: {error}")))?;
    Ok(bytes)
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_300_819_380), "2011-03-22T18:43:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
    }
}
