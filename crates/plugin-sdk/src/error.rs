//! The one error type of plugin code. Plain data: the host turns it into a diagnostic located
//! at the `@operator` call (and at the argument, when it names one), with the hint as help.

use std::fmt;

use crate::abi::error_kind;

/// What kind of failure a [`PluginError`] reports. Scripts and tests see the kind through the
/// message's prefix (`invalid level: loud`); the host receives it as an ABI error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Anything the other kinds do not name; the message is shown as it is.
    Message,
    /// A required argument or setting is missing (`@log()`).
    MissingArgument,
    /// The requested operation does not exist or cannot be done (`@websocket("teleport")`).
    InvalidOperation,
    /// An unknown algorithm was requested (`@encrypt("rot13", …)`).
    InvalidAlgorithm,
    /// An unknown metric type was requested (`@metrics("histogramm", …)`).
    InvalidMetricType,
    /// An unknown level was requested (`@log("loud", …)`).
    InvalidLevel,
    /// The user did not grant a permission the operation needs.
    PermissionDenied,
    /// The plugin's configuration was rejected.
    Configuration,
    /// A script lambda the plugin called raised an error (the message is the script's).
    Script,
}

impl ErrorKind {
    /// The words a message of this kind starts with (`invalid level`), if any.
    fn prefix(self) -> Option<&'static str> {
        match self {
            ErrorKind::Message | ErrorKind::Script => None,
            ErrorKind::MissingArgument => Some("missing argument"),
            ErrorKind::InvalidOperation => Some("invalid operation"),
            ErrorKind::InvalidAlgorithm => Some("invalid algorithm"),
            ErrorKind::InvalidMetricType => Some("invalid metric type"),
            ErrorKind::InvalidLevel => Some("invalid level"),
            ErrorKind::PermissionDenied => Some("permission denied"),
            ErrorKind::Configuration => Some("invalid configuration"),
        }
    }

    /// The ABI code (`tusk_plugin_abi::error_kind`) the host receives.
    pub(crate) fn code(self) -> u32 {
        match self {
            ErrorKind::Message => error_kind::MESSAGE,
            ErrorKind::MissingArgument => error_kind::MISSING_ARGUMENT,
            ErrorKind::InvalidOperation => error_kind::INVALID_OPERATION,
            ErrorKind::InvalidAlgorithm => error_kind::INVALID_ALGORITHM,
            ErrorKind::InvalidMetricType => error_kind::INVALID_METRIC_TYPE,
            ErrorKind::InvalidLevel => error_kind::INVALID_LEVEL,
            ErrorKind::PermissionDenied => error_kind::PERMISSION_DENIED,
            ErrorKind::Configuration => error_kind::CONFIGURATION,
            ErrorKind::Script => error_kind::SCRIPT,
        }
    }
}

/// Why an operator, a function, `initialize` or `shutdown` failed: a kind, a message, an
/// optional hint and, for a bad argument, its index.
///
/// ```
/// use tusk_plugin_sdk::{ErrorKind, PluginError};
///
/// let error = PluginError::invalid_level("loud").with_help("the levels are info and debug");
/// assert_eq!(error.to_string(), "invalid level: loud");
/// assert_eq!(error.kind(), ErrorKind::InvalidLevel);
/// assert_eq!(error.help(), Some("the levels are info and debug"));
///
/// let error = PluginError::message("expected a port").at_argument(0);
/// assert_eq!((error.to_string().as_str(), error.argument()), ("expected a port", Some(0)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    kind: ErrorKind,
    message: String,
    help: Option<String>,
    argument: Option<usize>,
}

impl PluginError {
    /// An error of `kind`; `message` follows the kind's prefix (`invalid level: {message}`).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PluginError {
        PluginError { kind, message: message.into(), help: None, argument: None }
    }

    /// A free-form message, shown as it is.
    pub fn message(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Message, message)
    }

    /// `missing argument: {name}`.
    pub fn missing_argument(name: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::MissingArgument, name)
    }

    /// `invalid operation: {message}`.
    pub fn invalid_operation(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::InvalidOperation, message)
    }

    /// `invalid algorithm: {name}`.
    pub fn invalid_algorithm(name: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::InvalidAlgorithm, name)
    }

    /// `invalid metric type: {name}`.
    pub fn invalid_metric_type(name: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::InvalidMetricType, name)
    }

    /// `invalid level: {name}`.
    pub fn invalid_level(name: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::InvalidLevel, name)
    }

    /// `permission denied: {message}`.
    pub fn permission_denied(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::PermissionDenied, message)
    }

    /// `invalid configuration: {message}`.
    pub fn configuration(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Configuration, message)
    }

    /// Adds a hint: how to fix it.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> PluginError {
        self.help = Some(help.into());
        self
    }

    /// Says which argument (0-based) is wrong; the host points the diagnostic at it.
    #[must_use]
    pub fn at_argument(mut self, index: usize) -> PluginError {
        self.argument = Some(index);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind's prefix (`loud` of `invalid level: loud`).
    pub fn message_text(&self) -> &str {
        &self.message
    }

    /// The hint, if any.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The argument (0-based) the error is about, if any.
    pub fn argument(&self) -> Option<usize> {
        self.argument
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.prefix() {
            Some(prefix) => write!(f, "{prefix}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PluginError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_its_wording_and_code() {
        let cases = [
            (PluginError::message("plain"), "plain", error_kind::MESSAGE),
            (PluginError::missing_argument("level"), "missing argument: level", error_kind::MISSING_ARGUMENT),
            (PluginError::invalid_operation("teleport"), "invalid operation: teleport", error_kind::INVALID_OPERATION),
            (PluginError::invalid_algorithm("md6"), "invalid algorithm: md6", error_kind::INVALID_ALGORITHM),
            (
                PluginError::invalid_metric_type("histogramm"),
                "invalid metric type: histogramm",
                error_kind::INVALID_METRIC_TYPE,
            ),
            (PluginError::invalid_level("loud"), "invalid level: loud", error_kind::INVALID_LEVEL),
            (PluginError::permission_denied("no"), "permission denied: no", error_kind::PERMISSION_DENIED),
            (PluginError::configuration("bad"), "invalid configuration: bad", error_kind::CONFIGURATION),
            (PluginError::new(ErrorKind::Script, "x is null"), "x is null", error_kind::SCRIPT),
        ];
        for (error, text, code) in cases {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.kind().code(), code);
            assert_eq!((error.help(), error.argument()), (None, None));
        }
    }

    #[test]
    fn builders_keep_the_kind() {
        let error = PluginError::invalid_level("loud").with_help("use info").at_argument(0);
        assert_eq!(error.kind(), ErrorKind::InvalidLevel);
        assert_eq!(error.message_text(), "loud");
        assert_eq!(error.help(), Some("use info"));
        assert_eq!(error.argument(), Some(0));
        assert_eq!(error.to_string(), "invalid level: loud");
    }
}
