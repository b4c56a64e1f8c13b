//! The logging plugin's errors, converted to the SDK's `PluginError` at the boundary (the one
//! `From` impl below), so every message is written in one place.

use tusk_plugin_sdk::PluginError;

/// The level names, as error messages list them.
pub(crate) const LEVEL_NAMES: &str = "trace, debug, info, warn or error";

/// Why a logging call or the plugin's start-up failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoggingError {
    /// `@log()`: a required argument is missing.
    #[error("{0}")]
    MissingArgument(&'static str),
    /// `@log("info", "m", {}, 1)`.
    #[error("{operator} takes at most {max} arguments, but {got} were given")]
    TooManyArguments { operator: &'static str, max: usize, got: usize },
    /// `@log("loud", "m")`, `@log.set_level(3)`.
    #[error("`{found}` (expected {expected})")]
    InvalidLevel { found: String, expected: &'static str },
    /// `@log.set_format("xml")`.
    #[error("unknown format `{found}`; the formats are text and json")]
    InvalidFormat { found: String, argument: usize },
    /// `@log.set_format(1)`, `@log.add_sink(1)`.
    #[error("the {what} must be a string, found {found}")]
    NotAString { what: &'static str, found: &'static str, argument: usize },
    /// `@log("info", "m", [1])`.
    #[error("the fields must be an object, found {found}")]
    FieldsNotAnObject { found: &'static str },
    /// `@log("info", "m", {message: 1})`.
    #[error("the field name `{0}` is reserved for the message")]
    ReservedField(String),
    /// `@log("info", "m", {f1: 1, …, f33: 33})`.
    #[error("an event has at most {max} fields, found {found}")]
    TooManyFields { max: usize, found: usize },
    /// `@log.add_sink("/tmp")`.
    #[error("the sink {0} is not a regular file")]
    NotAFile(String),
    /// The host refused to let the plugin write (or read) the sink's file.
    #[error("{0}")]
    PermissionDenied(String),
    /// The sink's file could not be created or opened.
    #[error("cannot open the sink {path}: {reason}")]
    Io { path: String, reason: String },
    /// The configuration does not match the plugin's schema.
    #[error("{0}")]
    Configuration(String),
}

impl From<LoggingError> for PluginError {
    fn from(error: LoggingError) -> PluginError {
        let message = error.to_string();
        match error {
            LoggingError::MissingArgument(_) => PluginError::missing_argument(message),
            LoggingError::InvalidLevel { .. } => PluginError::invalid_level(message),
            LoggingError::PermissionDenied(_) => PluginError::permission_denied(message),
            LoggingError::Configuration(message) => PluginError::configuration(message),
            LoggingError::InvalidFormat { argument, .. } | LoggingError::NotAString { argument, .. } => {
                PluginError::message(message).at_argument(argument)
            }
            LoggingError::FieldsNotAnObject { .. }
            | LoggingError::ReservedField(_)
            | LoggingError::TooManyFields { .. } => PluginError::message(message).at_argument(2),
            LoggingError::NotAFile(_) => PluginError::message(message).at_argument(0),
            _ => PluginError::message(message),
        }
    }
}
