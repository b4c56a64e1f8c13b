//! The plugin's settings: levels, formats and targets by name, and the configuration the host
//! passes to `initialize` (already checked against `config.schema.json`; checked again here
//! so the plugin never runs on settings it does not understand).

use serde::Deserialize;
use tracing::level_filters::LevelFilter;

use crate::error::{LEVEL_NAMES, LoggingError};
use crate::syslog::SyslogConfig;

/// The level of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// `"info"` → `Info`.
    pub(crate) fn parse(name: &str) -> Result<Level, LoggingError> {
        match name {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(LoggingError::InvalidLevel { found: name.to_string(), expected: LEVEL_NAMES }),
        }
    }

    pub(crate) fn to_tracing(self) -> tracing::Level {
        match self {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        }
    }
}

/// The least severe level that is written; `off` writes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MinLevel(pub(crate) Option<Level>);

impl MinLevel {
    /// The names `@log.set_level` and `level` accept.
    pub(crate) const NAMES: &'static str = "trace, debug, info, warn, error or off";

    pub(crate) fn parse(name: &str) -> Result<MinLevel, LoggingError> {
        match name {
            "off" => Ok(MinLevel(None)),
            _ => Level::parse(name)
                .map(|level| MinLevel(Some(level)))
                .map_err(|_| LoggingError::InvalidLevel { found: name.to_string(), expected: MinLevel::NAMES }),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self.0 {
            None => "off",
            Some(Level::Trace) => "trace",
            Some(Level::Debug) => "debug",
            Some(Level::Info) => "info",
            Some(Level::Warn) => "warn",
            Some(Level::Error) => "error",
        }
    }

    /// Whether an event of `level` is written.
    pub(crate) fn allows(self, level: Level) -> bool {
        self.to_tracing() >= level.to_tracing()
    }

    pub(crate) fn to_tracing(self) -> LevelFilter {
        match self.0 {
            None => LevelFilter::OFF,
            Some(level) => LevelFilter::from_level(level.to_tracing()),
        }
    }
}

/// How events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `2026-01-02T03:04:05.000000Z  INFO tusk: message key=value`
    Text,
    /// One JSON object per line.
    Json,
}

impl Format {
    pub(crate) fn parse(name: &str, argument: usize) -> Result<Format, LoggingError> {
        match name {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err(LoggingError::InvalidFormat { found: name.to_string(), argument }),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// Where the console output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Stderr,
    Stdout,
    /// Only the file sinks.
    None,
}

/// The settings that shape every event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) level: MinLevel,
    pub(crate) format: Format,
    pub(crate) target: Target,
    pub(crate) timestamps: bool,
}

/// A sink from the configuration or `@log.add_sink`.
#[derive(Clone, Debug)]
pub(crate) enum SinkConfig {
    /// A file events are appended to, in its own format or the console's.
    File { path: String, format: Option<Format> },
    /// A syslog daemon events are sent to.
    Syslog(SyslogConfig),
}

/// The configuration as JSON (`config.schema.json` describes it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    level: String,
    format: String,
    target: String,
    timestamps: bool,
    sinks: Vec<RawSink>,
}

impl Default for RawConfig {
    fn default() -> RawConfig {
        RawConfig {
            level: "info".to_string(),
            format: "text".to_string(),
            target: "stderr".to_string(),
            timestamps: true,
            sinks: Vec::new(),
        }
    }
}

/// `{path, format}` or `{syslog: {…}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    path: Option<String>,
    format: Option<String>,
    syslog: Option<SyslogConfig>,
}

impl RawSink {
    fn check(self) -> Result<SinkConfig, LoggingError> {
        let format = self.format.as_deref().map(|name| Format::parse(name, 0)).transpose()?;
        match (self.path, self.syslog, format) {
            (Some(path), None, format) => Ok(SinkConfig::File { path, format }),
            (None, Some(syslog), None) => Ok(SinkConfig::Syslog(syslog)),
            (None, Some(_), Some(_)) => Err(LoggingError::InvalidSink(
                "`format` is for file sinks; syslog sinks send RFC 5424 messages".to_string(),
            )),
            _ => Err(LoggingError::InvalidSink(
                "a sink is either {path, format} (a file) or {syslog: {…}} (a syslog daemon)".to_string(),
            )),
        }
    }
}

/// A sink written as the configuration writes one (`@log.add_sink({syslog: {…}})`).
pub(crate) fn sink_from_json(json: serde_json::Value) -> Result<SinkConfig, LoggingError> {
    let raw: RawSink = serde_json::from_value(json).map_err(|error| LoggingError::InvalidSink(error.to_string()))?;
    raw.check()
}

/// Reads the configuration JSON the host passed to `initialize`.
pub(crate) fn parse(json: &str) -> Result<(Settings, Vec<SinkConfig>), LoggingError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let raw: RawConfig = serde_json::from_str(json).map_err(|error| LoggingError::Configuration(error.to_string()))?;
    let invalid = |error: LoggingError| LoggingError::Configuration(error.to_string());
    let level = MinLevel::parse(&raw.level).map_err(|_| {
        LoggingError::Configuration(format!("`level` must be one of {}, found `{}`", MinLevel::NAMES, raw.level))
    })?;
    let format = Format::parse(&raw.format, 0).map_err(invalid)?;
    let target = match raw.target.as_str() {
        "stderr" => Target::Stderr,
        "stdout" => Target::Stdout,
        "none" => Target::None,
        other => {
            return Err(LoggingError::Configuration(format!(
                "`target` must be stderr, stdout or none, found `{other}`"
            )));
        }
    };
    let sinks = raw.sinks.into_iter().map(|sink| sink.check().map_err(invalid)).collect::<Result<Vec<_>, _>>()?;
    Ok((Settings { level, format, target, timestamps: raw.timestamps }, sinks))
}
