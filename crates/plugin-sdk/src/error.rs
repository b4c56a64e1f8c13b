//! The errors plugins report. Plain data: the host turns them into diagnostics located at the
//! `@operator` call (and at the argument, when `argument` names one).

/// Why an operator or function call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// `@log()`: a required argument is missing.
    #[error("missing argument: {0}")]
    MissingArgument(String),
    /// `@encrypt("rot13", …)` with no such operation.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// `@hash("md6", …)`: an unknown algorithm.
    #[error("invalid algorithm: {0}")]
    InvalidAlgorithm(String),
    /// `@metrics("name", 1, "histogramm")`: an unknown metric type.
    #[error("invalid metric type: {0}")]
    InvalidMetricType(String),
    /// `@log("loud", …)`: an unknown level.
    #[error("invalid level: {0}")]
    InvalidLevel(String),
    /// The user did not grant a permission the operation needs.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A script lambda the plugin called raised an error.
    #[error("{0}")]
    Script(String),
    /// A typed error with a hint (see [`OperatorError::with_help`]).
    #[error("{error}")]
    WithHelp {
        /// The error.
        error: Box<OperatorError>,
        /// How to fix it.
        help: String,
    },
    /// Anything else, with an optional hint and the argument it is about.
    #[error("{message}")]
    Message {
        /// What went wrong.
        message: String,
        /// How to fix it.
        help: Option<String>,
        /// The argument (0-based) it is about.
        argument: Option<usize>,
    },
}

impl OperatorError {
    /// A plain message.
    pub fn message(message: impl Into<String>) -> OperatorError {
        OperatorError::Message { message: message.into(), help: None, argument: None }
    }

    /// A message about argument `index` (0-based).
    pub fn argument(index: usize, message: impl Into<String>) -> OperatorError {
        OperatorError::Message { message: message.into(), help: None, argument: Some(index) }
    }

    /// Adds a hint. A typed error (`InvalidLevel`, …) keeps its kind.
    pub fn with_help(self, help: impl Into<String>) -> OperatorError {
        match self {
            OperatorError::Message { message, argument, .. } => {
                OperatorError::Message { message, help: Some(help.into()), argument }
            }
            OperatorError::WithHelp { error, .. } => OperatorError::WithHelp { error, help: help.into() },
            other => OperatorError::WithHelp { error: Box::new(other), help: help.into() },
        }
    }
}

/// Why a plugin could not start or stop.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A required setting is missing.
    #[error("missing argument: {0}")]
    MissingArgument(String),
    /// The requested operation does not exist or cannot be done.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// An unknown algorithm was configured.
    #[error("invalid algorithm: {0}")]
    InvalidAlgorithm(String),
    /// An unknown metric type was configured.
    #[error("invalid metric type: {0}")]
    InvalidMetricType(String),
    /// An unknown level was configured.
    #[error("invalid level: {0}")]
    InvalidLevel(String),
    /// The configuration was rejected.
    #[error("invalid configuration: {0}")]
    Configuration(String),
    /// Anything else.
    #[error("{0}")]
    Message(String),
}

impl From<OperatorError> for PluginError {
    fn from(error: OperatorError) -> PluginError {
        PluginError::Message(error.to_string())
    }
}
