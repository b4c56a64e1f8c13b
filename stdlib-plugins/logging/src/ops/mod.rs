//! One operator per file; `lib.rs` registers each of them.

pub(crate) mod log;
pub(crate) mod log_add_sink;
pub(crate) mod log_set_format;
pub(crate) mod log_set_level;

use tusk_plugin_sdk::Value;

use crate::error::LoggingError;

/// The text of string argument `index`, or the error naming `what` it should have been.
pub(crate) fn string_argument<'a>(
    args: &'a [Value],
    index: usize,
    what: &'static str,
) -> Result<&'a str, LoggingError> {
    let value = args.get(index).ok_or(LoggingError::MissingArgument(what))?;
    value.as_str().ok_or(LoggingError::NotAString { what, found: value.type_name(), argument: index })
}

/// Fails when more than `max` arguments were given.
pub(crate) fn at_most(args: &[Value], operator: &'static str, max: usize) -> Result<(), LoggingError> {
    if args.len() > max {
        return Err(LoggingError::TooManyArguments { operator, max, got: args.len() });
    }
    Ok(())
}
