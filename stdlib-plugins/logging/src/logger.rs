//! The plugin's logger: its settings, its file sinks and the tracing dispatcher built from
//! them, all owned by the plugin instance.
//!
//! No subscriber is ever installed globally (`set_global_default`, `init`): the plugin is a
//! cdylib with its own copy of tracing, whose global dispatcher would be invisible to the host
//! and would outlive the plugin. Each event is dispatched to the
//! logger's own `Dispatch` inside `dispatcher::with_default`. The dispatcher is rebuilt when
//! the level, the format or the sinks change (rare; events are not); the sinks' open files
//! are shared, not reopened. The logger starts no threads: writes happen on the calling
//! thread, so `shutdown` only has to flush files and drop the dispatcher (pitfall 10).

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::Dispatch;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::{Registry, fmt};

use crate::callsite::{self, OVERFLOW_FIELD};
use crate::config::{Format, Level, MinLevel, Settings, SinkConfig, Target};
use crate::error::LoggingError;
use crate::fields::{FieldValue, RawText};
use crate::json_format::JsonLines;
use crate::sink::{self, Sink};
use crate::syslog::SyslogSink;
use crate::text_format::TextFields;
use crate::timestamp;

type Base = tracing_subscriber::layer::Layered<tracing::level_filters::LevelFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Shared by the plugin (for `shutdown`) and its operators.
pub(crate) struct Logger {
    state: Mutex<State>,
}

struct State {
    settings: Settings,
    sinks: Vec<Sink>,
    /// Sent to after the dispatcher wrote the event (a syslog message is not a line).
    syslogs: Vec<SyslogSink>,
    /// `None` after `shutdown`.
    dispatch: Option<Dispatch>,
}

impl Logger {
    /// A logger with `settings` and no sinks yet.
    pub(crate) fn new(settings: Settings) -> Logger {
        let dispatch = Some(build(&settings, &[]));
        Logger { state: Mutex::new(State { settings, sinks: Vec::new(), syslogs: Vec::new(), dispatch }) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while logging leaves nothing half-updated that matters more than logging on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes one event (if `level` passes the filter). Fails when a syslog sink could not
    /// send it (the console and the files have it by then).
    pub(crate) fn log(&self, level: Level, message: &str, fields: &[(String, FieldValue)]) -> Result<(), LoggingError> {
        let state = self.state();
        let Some(dispatch) = &state.dispatch else { return Ok(()) };
        // Filtered events cost no callsite lookup and no formatting.
        if !state.settings.level.allows(level) {
            return Ok(());
        }
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        let overflow;
        let (metadata, values): (_, Vec<Option<&dyn tracing::Value>>) =
            match callsite::metadata(level.to_tracing(), &names) {
                Some(metadata) => {
                    let values = std::iter::once(Some(&message as &dyn tracing::Value))
                        .chain(fields.iter().map(|(_, value)| Some(value.as_value())))
                        .collect();
                    (metadata, values)
                }
                None => {
                    overflow = tracing::field::debug(RawText(overflow_json(fields)));
                    let metadata = callsite::metadata(level.to_tracing(), &[OVERFLOW_FIELD])
                        .expect("the overflow shape is always available");
                    (metadata, vec![Some(&message as &dyn tracing::Value), Some(&overflow)])
                }
            };
        let value_set = metadata.fields().value_set_all(&values);
        tracing::dispatcher::with_default(dispatch, || {
            if dispatch.enabled(metadata) {
                tracing::Event::dispatch(metadata, &value_set);
            }
        });
        if state.syslogs.is_empty() {
            return Ok(());
        }
        let timestamp = state.settings.timestamps.then(timestamp::now);
        let mut failure = Ok(());
        for syslog in &state.syslogs {
            // Every sink gets the event even when an earlier one failed.
            if let Err(error) = syslog.send(level, timestamp.as_deref(), message, fields) {
                failure = failure.and(Err(error));
            }
        }
        failure
    }

    /// Sets the minimum level; returns the previous one.
    pub(crate) fn set_level(&self, level: MinLevel) -> MinLevel {
        let mut state = self.state();
        let previous = std::mem::replace(&mut state.settings.level, level);
        state.rebuild();
        previous
    }

    /// Sets the console format; returns the previous one.
    pub(crate) fn set_format(&self, format: Format) -> Format {
        let mut state = self.state();
        let previous = std::mem::replace(&mut state.settings.format, format);
        state.rebuild();
        previous
    }

    /// Adds a sink; returns its name (a file's path, `syslog udp 127.0.0.1:514`). A file sink
    /// without a format gets the console's. Adding a file that is already a sink changes its
    /// format; adding a syslog destination again replaces its settings.
    pub(crate) fn add_sink(&self, config: &SinkConfig) -> Result<String, LoggingError> {
        let mut state = self.state();
        match config {
            SinkConfig::File { path, format } => {
                let format = format.unwrap_or(state.settings.format);
                if let Some(existing) = state.sinks.iter_mut().find(|sink| &sink.path == path) {
                    existing.format = format;
                } else {
                    let sink = sink::open(path, format)?;
                    state.sinks.push(sink);
                }
                state.rebuild();
                Ok(path.clone())
            }
            SinkConfig::Syslog(settings) => {
                let syslog = SyslogSink::open(settings)?;
                let name = syslog.destination.name();
                state.syslogs.retain(|existing| existing.destination != syslog.destination);
                state.syslogs.push(syslog);
                Ok(name)
            }
        }
    }

    /// Drops the dispatcher and flushes and closes every sink. Later events are ignored.
    pub(crate) fn shutdown(&self) -> Result<(), LoggingError> {
        let mut state = self.state();
        state.dispatch = None;
        state.syslogs.clear();
        let mut failure = None;
        for sink in state.sinks.drain(..) {
            let mut file: &File = &sink.file;
            if let Err(error) = file.flush().and_then(|()| sink.file.sync_data()) {
                failure.get_or_insert(LoggingError::Io { path: sink.path.clone(), reason: error.to_string() });
            }
        }
        // Console streams are unbuffered for stderr; stdout may hold a partial buffer.
        let _ = std::io::stdout().flush();
        failure.map_or(Ok(()), Err)
    }
}

impl State {
    fn rebuild(&mut self) {
        if self.dispatch.is_some() {
            self.dispatch = Some(build(&self.settings, &self.sinks));
        }
    }
}

/// The fields of an event past the shape cap, as one JSON object.
fn overflow_json(fields: &[(String, FieldValue)]) -> String {
    let mut object = serde_json::Map::new();
    for (name, value) in fields {
        let json = match value {
            FieldValue::Int(n) => serde_json::Value::from(*n),
            FieldValue::Float(x) => serde_json::Value::from(*x),
            FieldValue::Bool(b) => serde_json::Value::from(*b),
            FieldValue::Text(text) => serde_json::Value::from(text.as_str()),
            FieldValue::Json(json) => {
                let text = format!("{json:?}");
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            }
        };
        object.insert(name.clone(), json);
    }
    serde_json::Value::Object(object).to_string()
}

/// The dispatcher for the current settings and sinks.
fn build(settings: &Settings, sinks: &[Sink]) -> Dispatch {
    let mut layers: Vec<BoxedLayer> = Vec::new();
    match settings.target {
        Target::Stderr => layers.push(layer(settings.format, settings.timestamps, std::io::stderr)),
        Target::Stdout => layers.push(layer(settings.format, settings.timestamps, std::io::stdout)),
        Target::None => {}
    }
    for sink in sinks {
        layers.push(layer(sink.format, settings.timestamps, SinkWriter(sink.file.clone())));
    }
    Dispatch::new(Registry::default().with(settings.level.to_tracing()).with(layers))
}

fn layer<W>(format: Format, timestamps: bool, writer: W) -> BoxedLayer
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let base = fmt::layer().with_writer(writer).with_ansi(false);
    match (format, timestamps) {
        (Format::Text, true) => Box::new(base.fmt_fields(TextFields)),
        (Format::Text, false) => Box::new(base.without_time().fmt_fields(TextFields)),
        (Format::Json, timestamps) => Box::new(base.event_format(JsonLines { timestamps })),
    }
}

/// Hands the fmt layer the sink's file; each event is written with one `write_all` of a
/// whole line to a file opened for appending.
struct SinkWriter(Arc<File>);

impl<'writer> MakeWriter<'writer> for SinkWriter {
    type Writer = &'writer File;

    fn make_writer(&'writer self) -> &'writer File {
        &self.0
    }
}
