//! File sinks: where the plugin's only file writes happen, and how they respect the user's
//! grants.
//!
//! A sink proves access once through the host, then appends through its own handle (each
//! event a single `write` of a whole line, no round trip through the host per event):
//! the path is resolved by the host (relative paths mean the script's folder), and an empty
//! `host::append_file` asks the host to check the write grant and create the file if needed,
//! without touching what is already in it. Only then does the plugin open the file.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use tusk_plugin_sdk::{ErrorKind, PluginError, host};

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
    let resolved = host::resolve_path(path);
    let file_path = Path::new(&resolved);
    if std::fs::metadata(file_path).is_ok_and(|metadata| !metadata.is_file()) {
        return Err(LoggingError::NotAFile(path.to_string()));
    }
    host::append_file(&resolved, "").map_err(|error| host_error(path, error))?;
    let file = OpenOptions::new()
        .append(true)
        .open(file_path)
        .map_err(|error| LoggingError::Io { path: path.to_string(), reason: error.to_string() })?;
    Ok(Sink { path: path.to_string(), format, file: Arc::new(file) })
}

fn host_error(path: &str, error: PluginError) -> LoggingError {
    match error.kind() {
        ErrorKind::PermissionDenied => LoggingError::PermissionDenied(error.message_text().to_string()),
        _ => LoggingError::Io { path: path.to_string(), reason: error.to_string() },
    }
}
