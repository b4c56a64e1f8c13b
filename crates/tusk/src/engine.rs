//! `Engine`: the embedding entry point.

use std::path::Path;
use std::rc::Rc;

use tusk_diagnostics::{Diagnostic, RenderOptions, SourceMap, render_all};
use tusk_eval::{
    CallContext, Key, Limits, LineOutcome, Mode, Object, Options, Plugin, RegistryError, Runtime, RuntimeError,
    Session, Symbol, SymbolSpec, Value,
};

use crate::convert::IntoValue;
use crate::typed::TypedFunction;
use crate::{Document, Program, Scope};

/// Why an evaluation failed.
#[derive(Clone, Debug)]
pub enum Error {
    /// The script has errors: every one found, each with its location (then the warnings).
    Script(Vec<Diagnostic>),
    /// The file could not be read.
    Io {
        /// The path.
        path: String,
        /// What the OS said.
        message: String,
    },
}

impl Error {
    /// The diagnostics of a script error (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Script(diagnostics) => diagnostics,
            Error::Io { .. } => &[],
        }
    }

    /// True when the only problem is that the input ended early (the REPL asks for more).
    pub fn is_incomplete(&self) -> bool {
        tusk_eval::Failure { diagnostics: self.diagnostics().to_vec() }.is_incomplete()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Script(diagnostics) => {
                let errors: Vec<&str> =
                    diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.as_str()).collect();
                write!(f, "{}", errors.join("; "))
            }
            Error::Io { path, message } => write!(f, "cannot read {path}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// What a REPL line produced.
#[derive(Debug)]
pub enum LineResult {
    /// Entries were defined (keys and values).
    Defined(Vec<(Key, Value)>),
    /// An expression's value.
    Value(Value),
}

/// A REPL session: each line sees the names earlier lines defined.
pub struct ReplSession {
    session: Session,
    lines: usize,
}

impl ReplSession {
    /// The document defined so far.
    pub fn document(&self) -> Document {
        Document::new(self.session.document(), Vec::new())
    }
}

/// Evaluates TuskLang. Not `Send`: values share memory without atomic reference counts.
pub struct Engine {
    runtime: Runtime,
    /// Where `print()` and plugin log lines go.
    printer: Rc<dyn Fn(&str)>,
    /// `$globals` every script this engine runs sees ([`Engine::set_global`]).
    globals: Scope,
    /// Dynamic plugins, once enabled. Dropped after the runtime, which shuts them down.
    #[cfg(feature = "plugins")]
    plugins: Option<std::rc::Rc<tusk_plugin_host::host::PluginHost>>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An engine with the `core` and `std` plugins and default options; `print()` writes to
    /// standard error.
    pub fn new() -> Engine {
        Engine::with_options(Options::default())
    }

    /// An engine with the given options.
    pub fn with_options(options: Options) -> Engine {
        let mut runtime = Runtime::new(options);
        let printer: Rc<dyn Fn(&str)> = Rc::new(|text: &str| eprintln!("{text}"));
        runtime.set_printer(Some(printer.clone()));
        let mut engine = Engine {
            runtime,
            printer,
            globals: Scope::new(),
            #[cfg(feature = "plugins")]
            plugins: None,
        };
        engine.on_handler_error(false, |text| eprint!("{text}"));
        engine
    }

    /// The options (mode, limits, dry run).
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.runtime.options
    }

    /// The flag that stops a running evaluation when raised from another thread (a Ctrl-C
    /// handler, a watchdog): the run ends with the error `R019` "interrupted". Lower it before
    /// the next run. With plugins enabled it is also the flag plugins read through
    /// `is_cancelled()`.
    pub fn interrupt_flag(&mut self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.runtime.options.interrupt.get_or_insert_with(Default::default).clone()
    }

    /// Sets the language mode.
    pub fn set_mode(&mut self, mode: Mode) -> &mut Engine {
        self.runtime.options.mode = mode;
        self
    }

    /// Sets the limits.
    pub fn set_limits(&mut self, limits: Limits) -> &mut Engine {
        self.runtime.options.limits = limits;
        self
    }

    /// Sends `print()` output to `printer` instead of standard error.
    pub fn on_print(&mut self, printer: impl Fn(&str) + 'static) -> &mut Engine {
        self.printer = Rc::new(printer);
        self.runtime.set_printer(Some(self.printer.clone()));
        self
    }

    /// Sets the global `$name` that every script this engine runs sees (until set again);
    /// a [`Scope`] given to [`Engine::run_with_scope`] overrides it for one run, and a script
    /// that defines `$name` itself only sees its own. Other files a script reads
    /// (`@other.tsk.get(…)`) do not see it: they are evaluated once per engine and cached.
    pub fn set_global(&mut self, name: &str, value: impl IntoValue) -> &mut Engine {
        self.globals.set(name, value);
        self
    }

    /// The globals set with [`Engine::set_global`].
    pub fn globals(&self) -> &Scope {
        &self.globals
    }

    /// Registers a Rust function or closure with typed arguments as the function `name(…)`:
    /// `engine.register_fn("double", |x: i64| x * 2)`.
    ///
    /// Each argument converts from the script's value (see [`crate::convert`] for the
    /// types); a wrong type or number of arguments is a script error that names the function,
    /// the argument and what it expected. The result converts back; a closure returning
    /// `Result<T, E>` fails the call with `E`'s message. A trailing `Option<T>` argument may be
    /// left out. For access to the interpreter (calling a lambda argument), use
    /// [`Engine::register_function`].
    pub fn register_fn<Args, Ret, F: TypedFunction<Args, Ret>>(
        &mut self,
        name: &str,
        function: F,
    ) -> Result<(), RegistryError> {
        // `:help double` shows `double(an integer)`.
        let signature = format!("{name}({})", F::parameters().join(", "));
        self.register_spec(SymbolSpec::function(name, function.into_native(name)).signature(&signature))
    }

    /// Registers a Rust closure as the function `name(args)`, with the arguments as they come
    /// (see [`crate::arg_int`] and friends) and the interpreter's call context.
    pub fn register_function(
        &mut self,
        name: &str,
        function: impl Fn(&mut CallContext<'_, '_>, &[Value]) -> Result<Value, RuntimeError> + 'static,
    ) -> Result<(), RegistryError> {
        self.register_spec(SymbolSpec::function(name, function))
    }

    /// Registers a Rust closure as the operator `@name(args)`.
    pub fn register_operator(
        &mut self,
        name: &str,
        function: impl Fn(&mut CallContext<'_, '_>, &[Value]) -> Result<Value, RuntimeError> + 'static,
    ) -> Result<(), RegistryError> {
        self.register_spec(SymbolSpec::operator(name, function))
    }

    fn register_spec(&mut self, spec: SymbolSpec) -> Result<(), RegistryError> {
        struct One(std::cell::RefCell<Option<SymbolSpec>>);
        impl Plugin for One {
            fn name(&self) -> &str {
                "embedder"
            }
            fn register(&self, registrar: &mut tusk_eval::Registrar<'_>) -> Result<(), RegistryError> {
                if let Some(spec) = self.0.borrow_mut().take() {
                    registrar.add(spec)?;
                }
                Ok(())
            }
        }
        self.runtime.register(&One(std::cell::RefCell::new(Some(spec))))
    }

    /// Finds the installed plugins (reading manifests only) and makes their operators and
    /// functions known to the registry, which makes a plugin's lazy stubs on the first look-up
    /// of one of its names: a plugin is loaded on the first call of one of them. Returns
    /// problems found (invalid manifests, clashing symbols) as diagnostics.
    #[cfg(feature = "plugins")]
    pub fn enable_plugins(&mut self, settings: tusk_plugin_host::host::HostSettings) -> Vec<Diagnostic> {
        let printer = self.printer.clone();
        let host = tusk_plugin_host::host::PluginHost::discover(settings, self.runtime.sources_mut(), printer);
        host.set_event_sender(self.runtime.event_sender());
        let mut diagnostics = host.setup_diagnostics().to_vec();
        diagnostics.extend(host.catalog().diagnostics.iter().cloned());
        diagnostics.extend(host.install(self.runtime.registry_mut()));
        // One flag stops both the script and the plugin calls it is in.
        self.runtime.options.interrupt = Some(host.cancel_flag());
        self.plugins = Some(host);
        diagnostics
    }

    /// The plugin host, when plugins are enabled.
    #[cfg(feature = "plugins")]
    pub fn plugins(&self) -> Option<&std::rc::Rc<tusk_plugin_host::host::PluginHost>> {
        self.plugins.as_ref()
    }

    /// Hot reload: watches the library and `plugin.toml` of every installed plugin that allows
    /// it (debounced, 50 ms). When one changes, the new build is checked, loaded next to the
    /// running one, initialised with the same configuration and swapped in between two calls;
    /// a build that fails any check or its `initialize` is refused and the running one keeps
    /// serving. Changes are applied before the next call of the changed plugin (and reported
    /// through the printer), or by [`Engine::poll_reloads`] and [`Engine::wait_for_changes`].
    /// Replaced in-process builds stay mapped until the process ends.
    #[cfg(feature = "plugins")]
    pub fn watch_plugins(&mut self) -> Result<(), tusk_plugin_host::reload::WatchError> {
        let host = self.plugins.as_ref().ok_or(tusk_plugin_host::reload::WatchError::NoPlugins)?;
        host.watch_plugins()
    }

    /// Applies the plugin changes the watcher has seen settle, now, and returns what each
    /// reload did (a REPL calls it between lines). Nothing is printed.
    #[cfg(feature = "plugins")]
    pub fn poll_reloads(&mut self) -> Vec<tusk_plugin_host::reload::Reload> {
        self.plugins.as_ref().map(|host| host.poll_reloads()).unwrap_or_default()
    }

    /// Checks the files of one loaded plugin (`Some(name)`) or of every loaded plugin (`None`)
    /// now, watched or not, and swaps in what changed: the REPL's `:reload`.
    #[cfg(feature = "plugins")]
    pub fn reload_plugins(&mut self, plugin: Option<&str>) -> Vec<tusk_plugin_host::reload::Reload> {
        match (self.plugins.as_ref(), plugin) {
            (Some(host), Some(name)) => vec![host.reload(name)],
            (Some(host), None) => host.reload_all(),
            (None, _) => Vec::new(),
        }
    }

    /// Also watches `file` (a script: `tusk run --watch`); its changes are reported by
    /// [`Engine::wait_for_changes`].
    #[cfg(feature = "plugins")]
    pub fn watch_file(&mut self, file: &Path) -> Result<(), tusk_plugin_host::reload::WatchError> {
        let host = self.plugins.as_ref().ok_or(tusk_plugin_host::reload::WatchError::NoPlugins)?;
        host.watch_file(file)
    }

    /// Waits until a watched file changes (or `timeout` passes), applies plugin reloads, and
    /// says what changed (`tusk run --watch` re-runs the script then).
    #[cfg(feature = "plugins")]
    pub fn wait_for_changes(&mut self, timeout: Option<std::time::Duration>) -> tusk_plugin_host::reload::Update {
        match self.plugins.as_ref() {
            Some(host) => host.wait_for_changes(timeout),
            None => tusk_plugin_host::reload::Update::default(),
        }
    }

    /// Registers every operator and function of a plugin.
    pub fn register(&mut self, plugin: &dyn Plugin) -> Result<(), RegistryError> {
        self.runtime.register(plugin)
    }

    /// Every registered operator and function, operators first, each group sorted by name.
    pub fn symbols(&self) -> Vec<&Rc<Symbol>> {
        self.runtime.registry().symbols()
    }

    /// The operator `@name` (without the `@`), if one is registered.
    pub fn operator(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.runtime.registry().operator(name)
    }

    /// The function `name`, if one is registered.
    pub fn function(&self, name: &str) -> Option<&Rc<Symbol>> {
        self.runtime.registry().function(name)
    }

    /// Every source text the engine has seen, which diagnostics point into.
    pub fn sources(&self) -> &SourceMap {
        self.runtime.sources()
    }

    /// The source texts, to add one whose diagnostics should render (a grants file, a
    /// manifest).
    pub fn sources_mut(&mut self) -> &mut SourceMap {
        self.runtime.sources_mut()
    }

    /// Parses and compiles source text (named `<string>` in diagnostics) once, for
    /// [`Engine::run`] to evaluate as often as needed.
    pub fn compile(&mut self, source: &str) -> Result<Program, Error> {
        self.compile_named("<string>", source, None)
    }

    /// As [`Engine::compile`], under a name; relative paths resolve against `directory`.
    pub fn compile_named(&mut self, name: &str, source: &str, directory: Option<&Path>) -> Result<Program, Error> {
        let id = self.runtime.add_source(name, source);
        self.runtime
            .compile(id, directory.map(Path::to_path_buf))
            .map(|compiled| Program { compiled })
            .map_err(|failure| Error::Script(failure.diagnostics))
    }

    /// Reads and compiles a file; relative paths in it resolve against its folder. A file that
    /// is not UTF-8 is the script error `L010`, located at its first invalid byte.
    pub fn compile_file(&mut self, path: impl AsRef<Path>) -> Result<Program, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|error| Error::Io { path: path.display().to_string(), message: error.to_string() })?;
        let id = self
            .runtime
            .add_source_bytes(path.display().to_string(), bytes)
            .map_err(|failure| Error::Script(failure.diagnostics))?;
        self.runtime
            .compile_file(id, path)
            .map(|compiled| Program { compiled })
            .map_err(|failure| Error::Script(failure.diagnostics))
    }

    /// Evaluates a compiled program into a document, with the engine's globals.
    pub fn run(&mut self, program: &Program) -> Result<Document, Error> {
        let globals = (!self.globals.is_empty()).then(|| self.globals.shared());
        self.run_program(program, globals)
    }

    /// Evaluates a compiled program with `scope`'s values as `$globals` (over the engine's
    /// own, [`Engine::set_global`]).
    pub fn run_with_scope(&mut self, program: &Program, scope: &Scope) -> Result<Document, Error> {
        let globals = scope.layered_over(&self.globals);
        self.run_program(program, Some(globals))
    }

    fn run_program(&mut self, program: &Program, globals: Option<Rc<Object>>) -> Result<Document, Error> {
        match self.runtime.run(&program.compiled, globals) {
            Ok(evaluation) => Ok(Document::new(evaluation.document, evaluation.warnings)),
            Err(failure) => Err(Error::Script(failure.diagnostics)),
        }
    }

    /// Evaluates source text (named `<string>` in diagnostics).
    pub fn eval_str(&mut self, source: &str) -> Result<Document, Error> {
        self.eval_named("<string>", source, None)
    }

    /// Evaluates source text under a name; relative paths resolve against `directory`.
    pub fn eval_named(&mut self, name: &str, source: &str, directory: Option<&Path>) -> Result<Document, Error> {
        let program = self.compile_named(name, source, directory)?;
        self.run(&program)
    }

    /// Reads and evaluates a file. A file that is not UTF-8 is the script error `L010`, located
    /// at its first invalid byte; a cross-file read that comes back to this file is a cycle.
    pub fn eval_file(&mut self, path: impl AsRef<Path>) -> Result<Document, Error> {
        let program = self.compile_file(path)?;
        self.run(&program)
    }

    /// Evaluates one expression (`1 + 2`, `map(range(3), x => x * x)`).
    pub fn eval_expression(&mut self, source: &str) -> Result<Value, Error> {
        self.eval_expression_with_warnings(source).map(|(value, _)| value)
    }

    /// Calls a function value (a lambda from a document) with arguments.
    pub fn call(&mut self, function: &Value, args: &[Value]) -> Result<Value, Error> {
        self.runtime
            .call(function, args)
            .map_err(|error| Error::Script(vec![error.to_diagnostic(self.runtime.sources())]))
    }

    /// Starts a REPL session (with the engine's globals).
    pub fn repl_session(&mut self) -> ReplSession {
        let globals = (!self.globals.is_empty()).then(|| self.globals.shared());
        ReplSession { session: self.runtime.new_session(globals), lines: 0 }
    }

    /// Evaluates a REPL line in a session.
    pub fn eval_line(&mut self, session: &mut ReplSession, line: &str) -> Result<(LineResult, Vec<Diagnostic>), Error> {
        session.lines += 1;
        let name = format!("<repl:{}>", session.lines);
        self.eval_line_named(session, &name, line)
    }

    /// Evaluates text in a session under a name of its own, so that diagnostics point into it:
    /// the REPL's `:load FILE` names the text after the file.
    pub fn eval_line_named(
        &mut self,
        session: &mut ReplSession,
        name: &str,
        line: &str,
    ) -> Result<(LineResult, Vec<Diagnostic>), Error> {
        let id = self.runtime.add_source(name, line);
        match self.runtime.eval_line(&mut session.session, id) {
            Ok((LineOutcome::Defined(values), warnings)) => Ok((LineResult::Defined(values), warnings)),
            Ok((LineOutcome::Value(value), warnings)) => Ok((LineResult::Value(value), warnings)),
            Err(failure) => Err(Error::Script(failure.diagnostics)),
        }
    }

    /// Renders an error as the CLI prints it.
    pub fn render(&self, error: &Error, color: bool) -> String {
        match error {
            Error::Script(diagnostics) => self.render_diagnostics(diagnostics, color),
            Error::Io { .. } => format!("Error: {error}\n"),
        }
    }

    /// Renders diagnostics (errors and warnings).
    pub fn render_diagnostics(&self, diagnostics: &[Diagnostic], color: bool) -> String {
        render_all(diagnostics, self.runtime.sources(), RenderOptions { color, unicode: color })
    }
}

/// The REPL's `:load FILE`.
impl Engine {
    /// Evaluates a file exactly as [`Engine::eval_file`] does (its sections, blocks, globals and
    /// cross-file reads), then defines each top-level key of its document in the session, where
    /// later entries can use it (`server.port`); a key the session has already gets the file's
    /// value. The file's globals stay its own, as they would for `tusk FILE`.
    pub fn load_into_session(&mut self, session: &mut ReplSession, path: impl AsRef<Path>) -> Result<Document, Error> {
        let document = self.eval_file(path)?;
        for (key, value) in document.object().iter() {
            self.runtime.define_in_session(&mut session.session, key, value.clone());
        }
        Ok(document)
    }
}

/// Expressions with their warnings, for the command line (`tusk eval` prints them).
impl Engine {
    /// [`Engine::eval_expression`], also returning the warnings (an object literal's duplicate
    /// key, a bare word in an array).
    pub fn eval_expression_with_warnings(&mut self, source: &str) -> Result<(Value, Vec<Diagnostic>), Error> {
        let id = self.runtime.add_source("<expression>", source);
        let globals = (!self.globals.is_empty()).then(|| self.globals.shared());
        self.runtime.evaluate_expression(id, globals).map_err(|failure| Error::Script(failure.diagnostics))
    }
}

/// Source text that arrives as bytes (the command line's standard input).
impl Engine {
    /// [`Engine::eval_named`] for bytes: text that is not UTF-8 is the script error `L010`,
    /// located at its first invalid byte.
    pub fn eval_named_bytes(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        directory: Option<&Path>,
    ) -> Result<Document, Error> {
        let id = self.runtime.add_source_bytes(name, bytes).map_err(|failure| Error::Script(failure.diagnostics))?;
        let compiled = self
            .runtime
            .compile(id, directory.map(Path::to_path_buf))
            .map_err(|failure| Error::Script(failure.diagnostics))?;
        self.run(&Program { compiled })
    }
}

/// Services: what runs after a script is evaluated (timers, plugins' sockets and subscriptions).
impl Engine {
    /// Runs the event loop on this thread until no service, timer or posted call is left
    /// ([`ServicesEnd::Idle`]) or a stop is asked for through [`Engine::services`]
    /// ([`ServicesEnd::Stopped`]: posted calls finished or cancelled within the grace period).
    /// Handlers run one at a time, here; their errors go to [`Engine::on_handler_error`] and do
    /// not end the loop. After a stop, dropping the engine shuts the plugins down.
    pub fn run_services(&mut self) -> ServicesEnd {
        self.runtime.run_events(None)
    }

    /// [`Engine::run_services`] for at most `timeout` ([`ServicesEnd::TimedOut`] when services
    /// are still running then): the REPL and tests run the loop a while at a time.
    pub fn run_services_for(&mut self, timeout: std::time::Duration) -> ServicesEnd {
        self.runtime.run_events(Some(std::time::Instant::now() + timeout))
    }

    /// The thread-safe handle of the event loop: stop it gracefully (a signal handler),
    /// set the grace period, list the running services, post work.
    pub fn services(&self) -> Services {
        self.runtime.event_sender()
    }

    /// True while a timer or a plugin's service is running: [`Engine::run_services`] would wait
    /// for them. (Calls posted without a service are run by it too, then it returns.)
    pub fn has_services(&mut self) -> bool {
        !self.services().services().is_empty() || self.runtime.events().timer_count() > 0
    }

    /// Where the errors of handlers (timer functions, script functions plugins call from the
    /// loop) go: each as a rendered diagnostic with its script location, coloured if `color`.
    /// By default they are written to standard error without colour.
    pub fn on_handler_error(&mut self, color: bool, report: impl Fn(&str) + 'static) -> &mut Engine {
        self.runtime.events().set_reporter(Some(Rc::new(move |diagnostic: &Diagnostic, sources: &SourceMap| {
            report(&render_all(std::slice::from_ref(diagnostic), sources, RenderOptions { color, unicode: color }))
        })));
        self
    }
}

/// The thread-safe handle of an engine's event loop ([`Engine::services`]).
pub type Services = tusk_eval::events::EventSender;
/// How [`Engine::run_services`] ended.
pub type ServicesEnd = tusk_eval::events::LoopEnd;
