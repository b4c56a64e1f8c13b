//! The traits a plugin author implements, and the context through which a plugin registers
//! its operators, functions and types and talks to the host.

use std::cell::RefCell;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::PluginError;
use crate::value::Value;

/// A plugin: a named, versioned set of operators, functions and types.
///
/// The host creates the plugin (with `Default`, or the constructor given to
/// [`export_plugin!`](crate::export_plugin)), calls [`TuskPlugin::initialize`] once with its
/// configuration, dispatches calls to what it registered, and calls [`TuskPlugin::shutdown`]
/// when the engine is dropped, at exit or on Ctrl-C.
///
/// What the plugin is called, its version, its dependencies, permissions and configuration
/// schema are facts of its manifest (`plugin.toml`): the host needs them before any plugin
/// code runs. `name` and `version` repeat two of them so the host can check that the library
/// is the one the manifest describes.
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
}

/// An operator written as a type, called from scripts as `@name(args)`. Closures registered
/// with [`PluginContext::register_operator_fn`] and [`PluginContext::register_operator_with`]
/// do the same with less code.
pub trait TuskOperator: Send + Sync + 'static {
    /// The name without `@` (dotted names like `log.set_level` are fine).
    fn name(&self) -> &str;
    /// Runs the operator. Arguments are borrowed for the call.
    fn execute(&self, args: &[Value]) -> Result<Value, PluginError>;
    /// The documentation shown by `tusk plugin docs`, `:help` and run by `tusk plugin check`.
    fn doc(&self) -> SymbolDoc {
        SymbolDoc::default()
    }
}

impl TuskOperator for Box<dyn TuskOperator> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        (**self).execute(args)
    }
    fn doc(&self) -> SymbolDoc {
        (**self).doc()
    }
}

/// What a plugin tells about an operator or function: shown by `tusk plugin docs` and
/// `:help`, and its examples are run by `tusk plugin check`. Build it with struct update
/// syntax, so fields added later keep old code compiling:
///
/// ```
/// use tusk_plugin_sdk::SymbolDoc;
///
/// let doc = SymbolDoc {
///     signature: "@greet(name)".into(),
///     summary: "Says hello.".into(),
///     examples: vec![r#"@greet("tusk") => "hello, tusk""#.into()],
///     ..SymbolDoc::default()
/// };
/// # let _ = doc;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolDoc {
    /// e.g. `@log(level, message[, fields])`; empty means `@name(…)` (or `name(…)`).
    pub signature: String,
    /// One sentence.
    pub summary: String,
    /// Examples `expression => expected JSON` (or just an expression that must not fail).
    pub examples: Vec<String>,
    /// Bit `i` set: argument `i` arrives as a zero-argument function, called only if needed.
    pub lazy_arguments: u64,
    /// True if the symbol has effects outside the script (`tusk check` does not run it).
    pub side_effects: bool,
}

/// The implementation of a registered operator or function: its closure, kept for its entries
/// (which know its type) and dropped with the registration. Not a `dyn Fn`: its vtable's call
/// methods would be calls of the closure besides the lean entry's, which the compiler would
/// then not inline there.
pub(crate) type Callable = Arc<dyn std::any::Any + Send + Sync>;

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
    /// The implementation and the symbol's entries (ABI 1.5 and 1.6), made for its closure's type
    /// (`None` for a type).
    pub(crate) callable: Option<(Callable, Entries)>,
    pub(crate) doc: SymbolDoc,
}

/// The entries made for a registered closure's type: the ABI 1.5 entry (`symbol_call`) and the
/// ABI 1.6 lean one (`lean_call`).
#[derive(Clone, Copy)]
pub(crate) struct Entries {
    pub(crate) symbol: crate::abi::CallFn,
    pub(crate) lean: crate::abi::LeanCallFn,
}

/// A registered closure with the entries made for its type: the host calls an entry, which
/// calls the closure without the dynamic call through `Callable`.
fn callable<F>(function: F) -> Option<(Callable, Entries)>
where
    F: Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static,
{
    use crate::ffi::ClosureEntries;
    let entries = Entries { symbol: F::symbol_entry, lean: F::lean_entry };
    Some((Arc::new(function), entries))
}

/// Handed to [`TuskPlugin::initialize`]: registration and configuration. The registrations are
/// the truth about what the plugin provides; the manifest's `[capabilities]` lists index them
/// (the host compares the two at load, and `tusk plugin check` says what differs).
pub struct PluginContext {
    pub(crate) registrations: RefCell<Vec<Registration>>,
    pub(crate) config_json: String,
    /// The plugin's name, for the key paths of configuration errors.
    pub(crate) plugin: String,
}

impl PluginContext {
    /// Starts a service that keeps `tusk` running until the guard is dropped (the same as
    /// [`ServiceGuard::start`](crate::ServiceGuard::start)).
    pub fn keep_alive(&self, name: &str) -> Result<crate::ServiceGuard, PluginError> {
        crate::ServiceGuard::start(name)
    }

    pub(crate) fn new(config_json: String, plugin: &str) -> PluginContext {
        PluginContext { registrations: RefCell::new(Vec::new()), config_json, plugin: plugin.to_string() }
    }

    fn add(
        &self,
        name: &str,
        kind: SymbolKind,
        callable: Option<(Callable, Entries)>,
        mut doc: SymbolDoc,
    ) -> Result<(), PluginError> {
        let mut registrations = self.registrations.borrow_mut();
        if registrations.iter().any(|r| r.name == name && r.kind == kind) {
            return Err(PluginError::message(format!("`{name}` is registered twice")));
        }
        if doc.signature.is_empty() {
            doc.signature = match kind {
                SymbolKind::Operator => format!("@{name}(…)"),
                SymbolKind::Function => format!("{name}(…)"),
                SymbolKind::Type => String::new(),
            };
        }
        registrations.push(Registration { name: name.to_string(), kind, callable, doc });
        Ok(())
    }

    /// Registers an operator (`@name(args)`) written as a closure.
    ///
    /// ```
    /// # use tusk_plugin_sdk::{PluginContext, PluginError, Value};
    /// # fn register(context: &PluginContext) -> Result<(), PluginError> {
    /// context.register_operator_fn("shout", |args: &[Value]| {
    ///     let text = args.first().and_then(Value::as_str).ok_or_else(|| PluginError::missing_argument("text"))?;
    ///     Ok(Value::from(text.to_uppercase()))
    /// })
    /// # }
    /// ```
    pub fn register_operator_fn(
        &self,
        name: &str,
        operator: impl Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.register_operator_with(name, SymbolDoc::default(), operator)
    }

    /// Registers an operator (`@name(args)`) written as a closure, with its documentation.
    pub fn register_operator_with(
        &self,
        name: &str,
        doc: SymbolDoc,
        operator: impl Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.add(name, SymbolKind::Operator, callable(operator), doc)
    }

    /// Registers an operator (`@name(args)`) written as a type.
    pub fn register_operator(&self, operator: impl TuskOperator) -> Result<(), PluginError> {
        let name = operator.name().to_string();
        let doc = operator.doc();
        self.register_operator_with(&name, doc, move |args: &[Value]| operator.execute(args))
    }

    /// Registers a function (`name(args)`).
    pub fn register_function(
        &self,
        name: &str,
        function: impl Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.register_function_with(name, SymbolDoc::default(), function)
    }

    /// Registers a function (`name(args)`) with its documentation.
    pub fn register_function_with(
        &self,
        name: &str,
        doc: SymbolDoc,
        function: impl Fn(&[Value]) -> Result<Value, PluginError> + Send + Sync + 'static,
    ) -> Result<(), PluginError> {
        self.add(name, SymbolKind::Function, callable(function), doc)
    }

    /// Registers a custom type of handle (a connection, a model) the plugin will create with
    /// [`Value::plugin_object`]. Scripts see its name in `type_of`.
    pub fn register_type(&self, name: &str) -> Result<(), PluginError> {
        self.add(name, SymbolKind::Type, None, SymbolDoc::default())
    }

    /// The plugin's configuration as JSON text: the user's settings, validated against the
    /// manifest's schema, with its defaults filled in (`{}` when the plugin takes none).
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// The plugin's configuration read into a type of the plugin.
    ///
    /// ```
    /// # use tusk_plugin_sdk::{PluginContext, PluginError};
    /// #[derive(serde::Deserialize)]
    /// struct Settings {
    ///     level: String,
    ///     #[serde(default)]
    ///     sinks: Vec<String>,
    /// }
    ///
    /// # fn read(context: &PluginContext) -> Result<(), PluginError> {
    /// let settings: Settings = context.config()?;
    /// # let _ = (settings.level, settings.sinks);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A mismatch is a [`crate::ErrorKind::Configuration`] error with serde's words and the
    /// place in the JSON text: `invalid configuration: missing field `level` at line 1
    /// column 2`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        let text = if self.config_json.trim().is_empty() { "{}" } else { self.config_json.as_str() };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            // The user wrote `[plugins.NAME]` in TOML, not the JSON the host passes on: the key
            // path says where, a line and column of that JSON would not.
            let path = error.path().to_string();
            let key = if path == "." {
                format!("plugins.{}", self.plugin)
            } else {
                format!("plugins.{}.{path}", self.plugin)
            };
            let message = error.into_inner().to_string();
            let message = message.rfind(" at line ").map_or(message.as_str(), |end| &message[..end]);
            PluginError::configuration(format!("{key}: {message}"))
        })
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
    use crate::error::PluginError;
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
    pub fn read_file(path: &str) -> Result<String, PluginError> {
        ffi::read_file(path)
    }

    /// Writes a text file (atomically) where the user allowed the plugin to write.
    pub fn write_file(path: &str, text: &str) -> Result<(), PluginError> {
        ffi::write_file(path, text)
    }

    /// Appends text to a file where the user allowed the plugin to write (created if missing).
    pub fn append_file(path: &str, text: &str) -> Result<(), PluginError> {
        ffi::append_file(path, text)
    }

    /// The absolute path `path` means: relative paths are relative to the running script's
    /// folder (the same path the file functions above use).
    pub fn resolve_path(path: &str) -> String {
        ffi::resolve_path(path)
    }

    /// Reads an environment variable the user allowed the plugin to read (`None` if unset).
    pub fn env(name: &str) -> Result<Option<String>, PluginError> {
        ffi::read_env(name)
    }

    /// Checks that the user allowed connecting to `host:port` (call before connecting).
    pub fn check_connect(host: &str, port: u16) -> Result<(), PluginError> {
        ffi::check_connect(host, port)
    }

    /// True when the host asks the running call to stop. A plugin that loops for long polls it
    /// and returns (an error, or what it has so far).
    ///
    /// It turns true when the user presses Ctrl-C (or the embedder raises the host's cancel
    /// flag) during the call, in-process and sandboxed alike; a sandboxed plugin sees it within
    /// about 20 ms. Once true, it stays true for the call. A sandboxed call that
    /// runs past its deadline (`--plugin-timeout`) is not asked: the host stops its runner.
    pub fn is_cancelled() -> bool {
        ffi::is_cancelled()
    }

    /// What [`map_parallel`] did.
    pub enum Parallel {
        /// The results, in item order.
        Done(Value),
        /// The host could not run the function on other threads; the text says why (the
        /// function holds a plugin's value, calls an operator, or the host is older than ABI
        /// 1.3; with `workers` 0, the plugin runs in-process). Nothing visible ran: call the
        /// function yourself.
        Unsupported(String),
    }

    /// Calls the script function `function` once per item of `items` (an array or a range)
    /// on up to `workers` interpreter isolates, threads with interpreters of their own, and
    /// returns the array of results in item order: what calling it item after item returns,
    /// computed on several cores. An error is the script's error of the first item that
    /// failed, in item order. Only during a call into the plugin, on its thread.
    ///
    /// `workers` 0 asks for the whole batch at once without isolates: a sandboxed plugin's
    /// host runs the function item after item on the interpreter's thread, in one round trip
    /// instead of one per item; an in-process plugin gets `Unsupported` (its own calls cost
    /// no more).
    pub fn map_parallel(function: &Value, items: &Value, workers: usize) -> Result<Parallel, PluginError> {
        ffi::map_parallel(function, items, workers)
    }

    /// Hands the open socket `socket`, and the bytes already read from it (`prefix`), to the
    /// host, which keeps it until another plugin (or this one) takes it with the returned
    /// ticket. That is how a connection moves between two plugin libraries, which share no
    /// Rust object: an HTTP server deposits a request it upgraded, the plugin that serves the
    /// protocol takes it. A ticket is good once and is not a descriptor number; a socket never
    /// taken is closed by the host. On an error the socket is closed. Any thread. The same
    /// in-process and sandboxed (the runner passes the socket to the host, and a taker gets
    /// it whichever mode either runs in); fails when the host is older than ABI 1.4.
    #[cfg(unix)]
    pub fn deposit_socket(socket: std::os::fd::OwnedFd, prefix: &[u8]) -> Result<u64, PluginError> {
        ffi::deposit_socket(socket, prefix)
    }

    /// Takes the socket deposited under `ticket` (see [`deposit_socket`]) and the bytes its
    /// depositor read ahead of the protocol. A ticket never issued or already taken is an
    /// error that says which. Any thread.
    #[cfg(unix)]
    pub fn take_socket(ticket: u64) -> Result<(std::os::fd::OwnedFd, Vec<u8>), PluginError> {
        ffi::take_socket(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Settings {
        level: String,
        #[serde(default)]
        sinks: Vec<String>,
    }

    #[test]
    fn configuration_reads_into_a_type() {
        let context = PluginContext::new(r#"{"level": "info", "sinks": ["a.log"]}"#.to_string(), "logging");
        assert_eq!(
            context.config::<Settings>().unwrap(),
            Settings { level: "info".into(), sinks: vec!["a.log".into()] }
        );
    }

    #[test]
    fn a_configuration_mismatch_says_what_and_where() {
        let error = PluginContext::new(r#"{"sinks": []}"#.to_string(), "logging").config::<Settings>().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration);
        assert_eq!(error.to_string(), "invalid configuration: plugins.logging: missing field `level`");
        let error = PluginContext::new(r#"{"level": "info", "sinks": ["a.log", 3]}"#.to_string(), "logging")
            .config::<Settings>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: plugins.logging.sinks[1]: invalid type: integer `3`, expected a string"
        );
        let error = PluginContext::new(r#"{"level": 3}"#.to_string(), "logging").config::<Settings>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: plugins.logging.level: invalid type: integer `3`, expected a string"
        );
        // No configuration at all reads as an empty object.
        let error = PluginContext::new(String::new(), "logging").config::<Settings>().unwrap_err();
        assert_eq!(error.to_string(), "invalid configuration: plugins.logging: missing field `level`");
    }

    #[test]
    fn a_name_registers_once_per_kind() {
        let context = PluginContext::new(String::new(), "test");
        context.register_operator_fn("twice", |_| Ok(Value::null())).unwrap();
        context.register_function("twice", |_| Ok(Value::null())).unwrap();
        let error = context.register_operator_fn("twice", |_| Ok(Value::null())).unwrap_err();
        assert_eq!(error.to_string(), "`twice` is registered twice");
        let signatures: Vec<String> =
            context.registrations.borrow().iter().map(|registration| registration.doc.signature.clone()).collect();
        assert_eq!(signatures, ["@twice(…)", "twice(…)"]);
    }
}
