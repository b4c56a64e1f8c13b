//! The traits a plugin author implements, and the context through which a plugin registers
//! its operators, functions and types and talks to the host.

use std::cell::RefCell;
use std::sync::Arc;

use crate::error::{OperatorError, PluginError};
use crate::value::Value;

/// A plugin: a named, versioned set of operators and functions.
///
/// The host creates the plugin (with `Default`), calls [`TuskPlugin::initialize`] once with
/// its configuration, dispatches calls to what it registered, and calls
/// [`TuskPlugin::shutdown`] when the engine is dropped, at exit or on Ctrl-C.
pub trait TuskPlugin: Send + 'static {
    /// The plugin's name, equal to `name` in its `plugin.toml`.
    fn name(&self) -> &str;
    /// The plugin's version (semver), equal to `version` in its `plugin.toml`.
    fn version(&self) -> &str;
    /// Registers operators, functions and types; reads configuration.
    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError>;
    /// Releases resources (connections, threads, files). Called once.
    fn shutdown(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Other plugins this one needs, as `(name, semver requirement)`.
    fn dependencies(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Names of what the plugin provides (informational; the manifest is authoritative).
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }
    /// A JSON Schema for the plugin's configuration, if it takes any.
    fn configuration_schema(&self) -> Option<String> {
        None
    }
}

/// An operator, called from scripts as `@name(args)`.
pub trait TuskOperator: Send + Sync + 'static {
    /// The name without `@` (dotted names like `log.set_level` are fine).
    fn name(&self) -> &str;
    /// Runs the operator. Arguments are borrowed for the call.
    fn execute(&self, args: &[Value]) -> Result<Value, OperatorError>;
    /// The signature shown in docs, e.g. `@log(level, message, fields)`.
    fn signature(&self) -> String {
        format!("@{}(…)", self.name())
    }
    /// One sentence for docs and `:help`.
    fn summary(&self) -> String {
        String::new()
    }
    /// Examples `expression => expected JSON`, run by `tusk plugin check`.
    fn examples(&self) -> Vec<String> {
        Vec::new()
    }
    /// Bit `i` set: argument `i` arrives as a zero-argument function, called only if needed.
    fn lazy_arguments(&self) -> u64 {
        0
    }
    /// True if the operator has effects outside the script (`tusk check` skips it).
    fn side_effects(&self) -> bool {
        false
    }
}

impl TuskOperator for Box<dyn TuskOperator> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn execute(&self, args: &[Value]) -> Result<Value, OperatorError> {
        (**self).execute(args)
    }
    fn signature(&self) -> String {
        (**self).signature()
    }
    fn summary(&self) -> String {
        (**self).summary()
    }
    fn examples(&self) -> Vec<String> {
        (**self).examples()
    }
    fn lazy_arguments(&self) -> u64 {
        (**self).lazy_arguments()
    }
    fn side_effects(&self) -> bool {
        (**self).side_effects()
    }
}

/// The implementation of a registered operator or function.
pub(crate) type Callable = Arc<dyn Fn(&[Value]) -> Result<Value, OperatorError> + Send + Sync>;

/// What kind of symbol a registration made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SymbolKind {
    Operator,
    Function,
    Type,
}

/// One registration, kept by the SDK and described to the host.
pub(crate) struct Registration {
    pub(crate) name: String,
    pub(crate) kind: SymbolKind,
    pub(crate) callable: Option<Callable>,
    pub(crate) signature: String,
    pub(crate) summary: String,
    pub(crate) examples: Vec<String>,
    pub(crate) lazy_arguments: u64,
    pub(crate) side_effects: bool,
}

/// Documentation for a function registered with [`PluginContext::register_function_with`].
#[derive(Clone, Debug, Default)]
pub struct FunctionDoc {
    /// e.g. `my_function(x)`.
    pub signature: String,
    /// One sentence.
    pub summary: String,
    /// Examples `expression => expected JSON`.
    pub examples: Vec<String>,
}

/// Handed to [`TuskPlugin::initialize`]: registration, configuration, and the host services.
pub struct PluginContext {
    pub(crate) registrations: RefCell<Vec<Registration>>,
    pub(crate) config_json: String,
}

impl PluginContext {
    pub(crate) fn new(config_json: String) -> PluginContext {
        PluginContext { registrations: RefCell::new(Vec::new()), config_json }
    }

    fn add(&self, registration: Registration) -> Result<(), PluginError> {
        let mut registrations = self.registrations.borrow_mut();
        if registrations.iter().any(|r| r.name == registration.name && r.kind == registration.kind) {
            return Err(PluginError::Message(format!("`{}` is registered twice", registration.name)));
        }
        registrations.push(registration);
        Ok(())
    }

    /// Registers an operator (`@name(args)`).
    pub fn register_operator(&self, operator: impl TuskOperator) -> Result<(), PluginError> {
        let operator = Arc::new(operator);
        let registration = Registration {
            name: operator.name().to_string(),
            kind: SymbolKind::Operator,
            signature: operator.signature(),
            summary: operator.summary(),
            examples: operator.examples(),
            lazy_arguments: operator.lazy_arguments(),
            side_effects: operator.side_effects(),
            callable: Some(Arc::new(move |args: &[Value]| operator.execute(args))),
        };
        self.add(registration)
    }

    /// Registers a function (`name(args)`).
    pub fn register_function(
        &self,
        name: &str,
        function: impl Fn(&[Value]) -> Result<Value, OperatorError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.register_function_with(
            name,
            FunctionDoc { signature: format!("{name}(…)"), ..FunctionDoc::default() },
            function,
        )
    }

    /// Registers a function with its documentation.
    pub fn register_function_with(
        &self,
        name: &str,
        doc: FunctionDoc,
        function: impl Fn(&[Value]) -> Result<Value, OperatorError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.add(Registration {
            name: name.to_string(),
            kind: SymbolKind::Function,
            callable: Some(Arc::new(function)),
            signature: doc.signature,
            summary: doc.summary,
            examples: doc.examples,
            lazy_arguments: 0,
            side_effects: false,
        })
    }

    /// Registers a custom type of handle (a connection, a model) the plugin will create with
    /// [`Value::plugin_object`]. Scripts see its name in `type_of`.
    pub fn register_type(&self, name: &str) -> Result<(), PluginError> {
        self.add(Registration {
            name: name.to_string(),
            kind: SymbolKind::Type,
            callable: None,
            signature: String::new(),
            summary: String::new(),
            examples: Vec::new(),
            lazy_arguments: 0,
            side_effects: false,
        })
    }

    /// The plugin's configuration as JSON text (validated against its schema, defaults filled).
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// Logs through the host (which owns the terminal and the log sinks).
    pub fn log(&self, level: Level, message: &str) {
        host::log(level, message);
    }
}

/// Log levels the host understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed.
    Trace = 0,
    /// Detailed.
    Debug = 1,
    /// Normal.
    Info = 2,
    /// Something looks wrong.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

/// Host services available at any time (during `initialize` and during calls). Every one is
/// permission-checked by the host against what the user granted.
pub mod host {
    use super::Level;
    use crate::error::OperatorError;
    use crate::ffi;
    use crate::value::Value;

    /// Logs a message with optional structured fields (an object value, or null).
    pub fn log_with(level: Level, message: &str, fields: &Value) {
        ffi::log(level as u32, message, fields);
    }

    /// Logs a message.
    pub fn log(level: Level, message: &str) {
        ffi::log(level as u32, message, &Value::null());
    }

    /// Reads a text file the user allowed the plugin to read.
    pub fn read_file(path: &str) -> Result<String, OperatorError> {
        ffi::read_file(path)
    }

    /// Writes a text file (atomically) where the user allowed the plugin to write.
    pub fn write_file(path: &str, text: &str) -> Result<(), OperatorError> {
        ffi::write_file(path, text)
    }

    /// Appends text to a file where the user allowed the plugin to write (created if missing).
    pub fn append_file(path: &str, text: &str) -> Result<(), OperatorError> {
        ffi::append_file(path, text)
    }

    /// The absolute path `path` means: relative paths are relative to the running script's
    /// folder (the same path the file functions above use).
    pub fn resolve_path(path: &str) -> String {
        ffi::resolve_path(path)
    }

    /// Reads an environment variable the user allowed the plugin to read (`None` if unset).
    pub fn env(name: &str) -> Result<Option<String>, OperatorError> {
        ffi::read_env(name)
    }

    /// Checks that the user allowed connecting to `host:port` (call before connecting).
    pub fn check_connect(host: &str, port: u16) -> Result<(), OperatorError> {
        ffi::check_connect(host, port)
    }

    /// True when the host asks the running call to stop (a deadline passed, Ctrl-C).
    pub fn is_cancelled() -> bool {
        ffi::is_cancelled()
    }
}
