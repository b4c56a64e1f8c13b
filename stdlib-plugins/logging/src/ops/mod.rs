//! One operator per file; `lib.rs` registers each of them. `@log.set_level` and
//! `@log.add_sink` are also registered as the functions `set_level` and `add_sink`: the same
//! code, spelled as the script calls it in errors and documentation.

pub(crate) mod log;
pub(crate) mod log_add_sink;
pub(crate) mod log_set_format;
pub(crate) mod log_set_level;

use tusk_plugin_sdk::Value;

use crate::error::LoggingError;

/// How a script calls a symbol: `@log.set_level` (an operator) or `set_level` (a function).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spelling(pub(crate) &'static str);

impl Spelling {
    /// As written in scripts and errors: `@log.set_level`, `set_level`.
    pub(crate) fn written(self) -> &'static str {
        self.0
    }

    /// As registered: `log.set_level`, `set_level`.
    pub(crate) fn name(self) -> &'static str {
        self.0.trim_start_matches('@')
    }
}

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
