//! File sinks: where the plugin's only file writes happen, and how they respect the user's
//! grants.
//!
//! The host API can check and perform whole-file writes (`host::write_file`, atomic replace)
//! but cannot append, and it has no "may I write this path?" query. Appending each event by
//! replacing the whole file would cost the file's size per event, so a sink proves access
//! once through the host and then appends through its own handle:
//!
//! - a new file is created by the host (`host::write_file(path, "")`): the host checks the
//!   write grant and creates the file;
//! - an existing file is read and written back unchanged through the host
//!   (`host::read_file`, `host::write_file`): the host checks the read and the write grant,
//!   so an existing file needs `--allow-read` as well as `--allow-write`, and its permission
//!   bits are restored afterwards (the host's atomic replace makes a new file);
//! - only then does the plugin open the file for appending (never creating it itself).
//!
//! When the host grows an append call or a write-permission query, the probe goes away.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use tusk_plugin_sdk::{OperatorError, host};

use crate::config::Format;
use crate::error::LoggingError;

/// A file every event is appended to.
pub(crate) struct Sink {
    pub(crate) path: String,
    pub(crate) format: Format,
    /// Shared with the dispatcher's writer; appends are single `write` calls of whole lines.
    pub(crate) file: Arc<File>,
}

/// Opens `path` for appending after the host allowed the plugin to write it.
pub(crate) fn open(path: &str, format: Format) -> Result<Sink, LoggingError> {
    let file_path = Path::new(path);
    if !file_path.is_absolute() {
        // The SDK gives plugins no script directory to resolve against, and the host checks
        // relative paths against the script directory but opens them from the working
        // directory: only absolute paths mean the same thing to both.
        return Err(LoggingError::RelativeSinkPath(path.to_string()));
    }
    match std::fs::metadata(file_path) {
        Ok(metadata) if !metadata.is_file() => return Err(LoggingError::NotAFile(path.to_string())),
        Ok(metadata) => {
            let text = host::read_file(path).map_err(|error| host_error(path, error))?;
            host::write_file(path, &text).map_err(|error| host_error(path, error))?;
            // Best effort: the replaced file keeps the mode it had (a private log stays private).
            let _ = std::fs::set_permissions(file_path, metadata.permissions());
        }
        Err(_) => host::write_file(path, "").map_err(|error| host_error(path, error))?,
    }
    let file = OpenOptions::new()
        .append(true)
        .open(file_path)
        .map_err(|error| LoggingError::Io { path: path.to_string(), reason: error.to_string() })?;
    Ok(Sink { path: path.to_string(), format, file: Arc::new(file) })
}

fn host_error(path: &str, error: OperatorError) -> LoggingError {
    match error {
        OperatorError::PermissionDenied(message) => LoggingError::PermissionDenied(message),
        other => LoggingError::Io { path: path.to_string(), reason: other.to_string() },
    }
}
