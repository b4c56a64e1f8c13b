//! The timestamp of JSON lines and syslog messages: RFC 3339 in UTC with microseconds
//! (`2026-03-01T10:00:00.123456Z`), as tracing-subscriber writes it in text lines, so every
//! sink of one event shows the same form.

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// Now.
pub(crate) fn now() -> String {
    let mut timestamp = String::with_capacity(27);
    // Writing into a String cannot fail.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    timestamp
}
