//! `@log.add_sink(sink)` and `add_sink(sink)`: also send every event to a file or a syslog
//! daemon. `sink` is a file path (with an optional format as the second argument) or an
//! object written as the configuration's `sinks` entries are.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::config::{self, Format, SinkConfig};
use crate::error::LoggingError;
use crate::logger::Logger;
use crate::ops::{Spelling, at_most, string_argument};

/// `@log.add_sink` or `add_sink`.
pub(crate) struct AddSink {
    pub(crate) logger: Arc<Logger>,
    pub(crate) spelling: Spelling,
}

impl TuskOperator for AddSink {
    fn name(&self) -> &str {
        self.spelling.name()
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        at_most(args, self.spelling.written(), 2)?;
        let sink = args.first().ok_or(LoggingError::MissingArgument("sink"))?;
        let config = if let Some(path) = sink.as_str() {
            let format = match args.get(1) {
                Some(_) => Some(Format::parse(string_argument(args, 1, "format")?, 1)?),
                None => None,
            };
            SinkConfig::File { path: path.to_string(), format }
        } else if sink.as_object().is_some() {
            if args.len() > 1 {
                return Err(LoggingError::InvalidSink(
                    "a sink object takes no second argument; a file sink's format goes inside it ({path, format})"
                        .to_string(),
                )
                .into());
            }
            let owned = sink.to_owned_value()?;
            let json = serde_json::to_value(&owned).map_err(|error| LoggingError::InvalidSink(error.to_string()))?;
            config::sink_from_json(json)?
        } else {
            return Err(LoggingError::InvalidSink(format!(
                "the sink must be a file path or a sink object ({{path, format}} or {{syslog: {{…}}}}), found {}",
                sink.type_name()
            ))
            .into());
        };
        Ok(Value::from(self.logger.add_sink(&config)?))
    }

    fn doc(&self) -> SymbolDoc {
        let written = self.spelling.written();
        SymbolDoc {
            signature: format!("{written}(path[, format]) or {written}({{syslog: {{…}}}})"),
            summary: "Sends every later event to a file too (`path`, as \"text\" or \"json\", default: the console format; needs --allow-write for it), or to a syslog daemon as RFC 5424 messages (`{syslog: {transport, path, address, facility, app_name, hostname, msgid, sd_id}}`; the Unix socket /dev/log by default, needs --allow-write for the socket, or --allow-net for a UDP address). Returns the sink's name."
                .to_string(),
            examples: vec![format!(
                r#"{written}("/tmp/tusk-logging-example.log", "json") => "/tmp/tusk-logging-example.log""#
            )],
            side_effects: true,
            ..SymbolDoc::default()
        }
    }
}
