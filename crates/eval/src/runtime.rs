//! The runtime: registry, sources, options, and the entry points that take a source from text
//! to a document (parse, compile, run), for files, cross-file operators and the REPL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tusk_diagnostics::{Diagnostic, Location, Severity, SourceId, SourceMap, Span};
use tusk_parser::{Line, ParseOptions};

use crate::compile::{CompileState, Compiler, parse_document};
use crate::error::{RuntimeError, RuntimeErrorKind};
use crate::interp::Interpreter;
use crate::module::Module;
use crate::options::{Mode, Options};
use crate::registry::{Plugin, Registry, RegistryError};
use crate::value::{Key, Object, Value};

/// Where `print()` output goes.
pub type Printer = Rc<dyn Fn(&str)>;

/// Registry, sources and options shared by every evaluation of an engine.
pub struct Runtime {
    /// How files are evaluated.
    pub options: Options,
    registry: Registry,
    sources: SourceMap,
    files: HashMap<PathBuf, FileState>,
    files_in_progress: Vec<PathBuf>,
    printer: Option<Printer>,
    printed: Vec<String>,
    /// Every module this runtime created that may still be alive; see `impl Drop for Runtime`.
    modules: Vec<std::rc::Weak<Module>>,
    /// Tells this runtime's compiled programs from another's: a program refers to this
    /// runtime's sources and symbols.
    id: u64,
    /// Retained functions, timers and the queue of work from other threads.
    pub(crate) events: crate::events::EventLoop,
}

/// A source parsed and compiled once, to be run many times ([`Runtime::run`]), each run with
/// its own module (entries, globals, document). Cheap to clone.
#[derive(Clone)]
pub struct Compiled {
    program: Rc<crate::ir::Program>,
    source: SourceId,
    directory: Option<PathBuf>,
    /// The file it was read from: while it runs, a cross-file read that comes back to it is a
    /// cycle (`a -> b -> a`, each evaluated once), and so is a file that reads itself.
    file: Option<PathBuf>,
    warnings: Vec<Diagnostic>,
    runtime: u64,
}

impl Compiled {
    /// The source it was compiled from.
    pub fn source(&self) -> SourceId {
        self.source
    }

    /// The `$names` it reads without defining them (in order of first use): what a host
    /// supplies. `@variable("name", value)` may also set one while it runs.
    pub fn globals_read(&self) -> &[Key] {
        &self.program.globals_read
    }

    /// Warnings found while compiling (every run reports them too).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("source", &self.source)
            .field("directory", &self.directory)
            .field("globals_read", &self.program.globals_read)
            .finish_non_exhaustive()
    }
}

fn next_runtime_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

enum FileState {
    InProgress,
    Done(Object),
}

/// A successful evaluation.
#[derive(Debug)]
pub struct Evaluation {
    /// The document.
    pub document: Object,
    /// Warnings (duplicate keys, bare words, compat fallbacks).
    pub warnings: Vec<Diagnostic>,
}

/// A failed evaluation: every error found, then the warnings.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Errors first, then warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl Failure {
    fn from_runtime(error: &RuntimeError, sources: &SourceMap, warnings: Vec<Diagnostic>) -> Failure {
        let mut diagnostics = vec![error.to_diagnostic(sources)];
        diagnostics.extend(warnings);
        Failure { diagnostics }
    }

    /// True when every error is only "the input ended early" (the REPL reads another line).
    pub fn is_incomplete(&self) -> bool {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .all(|d| d.code == Some("P002") || matches!(d.code, Some("L003" | "L004" | "L005" | "L006")))
            && self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// What a REPL line did.
#[derive(Debug)]
pub enum LineOutcome {
    /// Entries were defined: their keys and values.
    Defined(Vec<(Key, Value)>),
    /// An expression was evaluated.
    Value(Value),
}

/// A REPL session: names defined by earlier lines stay visible to later ones.
pub struct Session {
    state: CompileState,
    module: Rc<Module>,
}

impl Session {
    /// The document defined so far.
    pub fn document(&self) -> Object {
        self.module.document()
    }
}

impl Runtime {
    /// A runtime with the `core` and `std` plugins registered.
    pub fn new(options: Options) -> Runtime {
        let mut runtime = Runtime::bare(options);
        runtime.register(&crate::core::Core).expect("core registers cleanly");
        runtime.register(&crate::stdlib::Std).expect("std registers cleanly");
        runtime
    }

    /// A runtime with an empty registry.
    pub fn bare(options: Options) -> Runtime {
        Runtime {
            options,
            registry: Registry::new(),
            sources: SourceMap::new(),
            files: HashMap::new(),
            files_in_progress: Vec::new(),
            printer: None,
            printed: Vec::new(),
            modules: Vec::new(),
            id: next_runtime_id(),
            events: crate::events::EventLoop::default(),
        }
    }

    /// A new module for `source`, remembered so that dropping the runtime can free it.
    fn new_module(
        &mut self,
        source: SourceId,
        directory: Option<PathBuf>,
        host_globals: Option<Rc<Object>>,
    ) -> Rc<Module> {
        // Forget modules that are gone whenever the list would grow, which keeps it as long as
        // the modules still alive (amortised: the capacity doubles in between).
        if self.modules.len() == self.modules.capacity() {
            self.modules.retain(|module| module.strong_count() > 0);
        }
        let module = Rc::new(Module::new(source, directory, host_globals));
        self.modules.push(Rc::downgrade(&module));
        module
    }

    /// Where `print()` output goes. Without a printer it is kept and can be taken with
    /// [`Runtime::take_printed`] (this crate never writes to the terminal itself).
    pub fn set_printer(&mut self, printer: Option<Printer>) {
        self.printer = printer;
    }

    /// Hands a line of `print()` output to the printer.
    pub fn print(&mut self, text: &str) {
        match &self.printer {
            Some(printer) => printer(text),
            None => self.printed.push(text.to_string()),
        }
    }

    /// `print()` output kept because no printer was set.
    pub fn take_printed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.printed)
    }

    /// Registers a plugin's operators and functions.
    pub fn register(&mut self, plugin: &dyn Plugin) -> Result<(), RegistryError> {
        self.registry.register(plugin)
    }

    /// The symbol table.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The symbol table, mutably (the plugin host hands it the installed plugins' symbols).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Every source text added so far.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// Every source text, mutably (the plugin host adds manifests to render their errors).
    pub fn sources_mut(&mut self) -> &mut SourceMap {
        &mut self.sources
    }

    /// Adds a source text and returns its id.
    pub fn add_source(&mut self, name: impl Into<String>, text: impl Into<std::sync::Arc<str>>) -> SourceId {
        self.sources.add(name, text)
    }

    fn parse_options(&self) -> ParseOptions {
        ParseOptions { max_depth: self.options.limits.max_nesting_depth }
    }

    /// Parses and compiles a source; errors and warnings come back as diagnostics.
    fn compile_source(
        &mut self,
        source: SourceId,
        state: &mut CompileState,
    ) -> Result<(crate::ir::Program, Vec<Diagnostic>), Failure> {
        let text = self.sources.get(source).text.clone();
        let parsed = parse_document(&text, self.parse_options());
        let compat = self.options.mode == Mode::Compat;
        let mut diagnostics: Vec<Diagnostic> =
            parsed.errors.iter().map(|error| downgrade(error.to_diagnostic(source), compat)).collect();
        let Some(document) = parsed.ast else {
            return Err(Failure { diagnostics: errors_first(diagnostics) });
        };
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Failure { diagnostics: errors_first(diagnostics) });
        }
        let compiler = Compiler::new(&self.registry, source, &text, self.options.mode, state)
            .recovered_from_errors(!parsed.errors.is_empty());
        let (program, compile_diagnostics) = compiler.compile_document(document);
        diagnostics.extend(compile_diagnostics);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Failure { diagnostics: errors_first(diagnostics) });
        }
        Ok((program, diagnostics))
    }

    /// Evaluates a source into a document. `directory` is where relative paths point.
    pub fn evaluate(&mut self, source: SourceId, directory: Option<PathBuf>) -> Result<Evaluation, Failure> {
        let compiled = self.compile(source, directory)?;
        self.run(&compiled, None)
    }

    /// Parses and compiles a source once; [`Runtime::run`] runs the result as often as needed.
    /// `directory` is where relative paths of the program point.
    pub fn compile(&mut self, source: SourceId, directory: Option<PathBuf>) -> Result<Compiled, Failure> {
        let mut state = CompileState::new();
        let (program, warnings) = self.compile_source(source, &mut state)?;
        Ok(Compiled { program: Rc::new(program), source, directory, file: None, warnings, runtime: self.id })
    }

    /// [`Runtime::compile`] for the file at `path`, whose text is `source`: relative paths point
    /// into its folder, and running it marks the file as being evaluated.
    pub fn compile_file(&mut self, source: SourceId, path: &Path) -> Result<Compiled, Failure> {
        let mut compiled = self.compile(source, Some(directory_of(path)))?;
        compiled.file = Some(path.to_path_buf());
        Ok(compiled)
    }

    /// Runs a compiled source into a document, in a fresh module. `globals` are `$names` the
    /// host supplies (a script that defines `$name` itself sees only its own).
    pub fn run(&mut self, compiled: &Compiled, globals: Option<Rc<Object>>) -> Result<Evaluation, Failure> {
        if compiled.runtime != self.id {
            // Its source ids and symbols belong to another runtime: running it would
            // render errors against the wrong sources.
            let message = "this program was compiled by another engine; compile it with the engine that runs it";
            return Err(Failure { diagnostics: vec![Diagnostic::error(message)] });
        }
        let module = self.new_module(compiled.source, compiled.directory.clone(), globals);
        let marked = compiled.file.as_deref().map(|path| {
            let key = file_key(path);
            let before = self.files.insert(key.clone(), FileState::InProgress);
            self.files_in_progress.push(key.clone());
            (key, before)
        });
        let result = Interpreter::new(self, module.clone()).run_program(&compiled.program);
        if let Some((key, before)) = marked {
            self.files_in_progress.pop();
            match before {
                Some(state) => self.files.insert(key, state),
                None => self.files.remove(&key),
            };
        }
        let mut warnings = compiled.warnings.clone();
        match result {
            Ok(_) => {
                warnings.append(&mut module.warnings.borrow_mut());
                Ok(Evaluation { document: without_plugin_configuration(module.document()), warnings })
            }
            Err(error) => Err(Failure::from_runtime(&error, &self.sources, warnings)),
        }
    }

    /// Adds a source read as bytes. Text that is not UTF-8 is added as far as it can be read
    /// (the invalid bytes shown as U+FFFD) and refused with `L010`, located at the first
    /// invalid byte.
    pub fn add_source_bytes(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> Result<SourceId, Failure> {
        match String::from_utf8(bytes) {
            Ok(text) => Ok(self.sources.add(name, text)),
            Err(error) => {
                let offset = error.utf8_error().valid_up_to();
                let byte = error.as_bytes()[offset];
                let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
                let id = self.sources.add(name, text);
                let location =
                    Location::new(id, Span::new(offset as u32, offset as u32 + '\u{fffd}'.len_utf8() as u32));
                let diagnostic = Diagnostic::error(format!(
                    "the file is not UTF-8 text: byte 0x{byte:02X} at offset {offset} is not valid UTF-8"
                ))
                .with_code("L010")
                .with_primary(location, "not UTF-8")
                .with_help("TuskLang files are UTF-8; convert the file (for example `iconv -f latin1 -t utf-8`)");
                Err(Failure { diagnostics: vec![diagnostic] })
            }
        }
    }

    /// Evaluates a lone expression (`tusk eval`); `globals` as for [`Runtime::run`].
    pub fn evaluate_expression(
        &mut self,
        source: SourceId,
        globals: Option<Rc<Object>>,
    ) -> Result<(Value, Vec<Diagnostic>), Failure> {
        let mut session = self.new_session(globals);
        match self.eval_line(&mut session, source)? {
            (LineOutcome::Value(value), warnings) => Ok((value, warnings)),
            (LineOutcome::Defined(_), warnings) => Ok((Value::object(session.document()), warnings)),
        }
    }

    /// Starts a REPL session; `globals` as for [`Runtime::run`].
    pub fn new_session(&mut self, globals: Option<Rc<Object>>) -> Session {
        let source = self.sources.add("<repl>", "");
        let module = self.new_module(source, std::env::current_dir().ok(), globals);
        Session { state: CompileState::new(), module }
    }

    /// Evaluates one REPL entry (one line, or several entered together). An entry that fails
    /// changes nothing: the names it would have defined stay undefined, as if it had not been
    /// entered.
    pub fn eval_line(
        &mut self,
        session: &mut Session,
        source: SourceId,
    ) -> Result<(LineOutcome, Vec<Diagnostic>), Failure> {
        let state = session.state.clone();
        let module = session.module.snapshot();
        let result = self.eval_line_unchecked(session, source);
        if result.is_err() {
            session.state = state;
            session.module.restore(module);
        }
        result
    }

    /// Defines `name` at the top level of a session as if an entry had set it (the REPL's
    /// `:load`, which evaluates a file on its own and hands its keys to the session).
    /// Later entries see it as defined before them; a name defined already gets the new value.
    pub fn define_in_session(&mut self, session: &mut Session, name: &str, value: Value) {
        session.state.begin_unit();
        let location = Location::new(session.module.source, Span::default());
        let slot = session.state.declare_top_level(name, location);
        session.module.ensure_slots(session.state.slots as usize, session.state.globals_count as usize);
        session.module.slots.borrow_mut()[slot as usize] = Some(value.clone());
        session.module.document.borrow_mut().insert(Key::new(name), value);
    }

    fn eval_line_unchecked(
        &mut self,
        session: &mut Session,
        source: SourceId,
    ) -> Result<(LineOutcome, Vec<Diagnostic>), Failure> {
        let text = self.sources.get(source).text.clone();
        let parsed = tusk_parser::parse_line(&text, self.parse_options());
        let mut diagnostics: Vec<Diagnostic> = parsed.errors.iter().map(|error| error.to_diagnostic(source)).collect();
        let Some(line) = parsed.ast.filter(|_| !diagnostics.iter().any(Diagnostic::is_error)) else {
            return Err(Failure { diagnostics: errors_first(diagnostics) });
        };
        let compiler = Compiler::new(&self.registry, source, &text, self.options.mode, &mut session.state);
        let (program, compile_diagnostics, defined) = match line {
            Line::Statements(document) => {
                let defined: Vec<Key> = document
                    .items
                    .iter()
                    .filter_map(|item| match &item.kind {
                        tusk_parser::ast::ItemKind::Entry { key, .. } => Some(Key::new(&key[0].name)),
                        _ => None,
                    })
                    .collect();
                let (program, diagnostics) = compiler.compile_document(document.into());
                (program, diagnostics, Some(defined))
            }
            Line::Expression(expr) => {
                let (program, diagnostics) = compiler.compile_expression(&expr);
                (program, diagnostics, None)
            }
        };
        diagnostics.extend(compile_diagnostics);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Failure { diagnostics: errors_first(diagnostics) });
        }
        let module = session.module.clone();
        let result = Interpreter::new(self, module.clone()).run_program(&program);
        match result {
            Ok(Some(value)) => Ok((LineOutcome::Value(value), diagnostics)),
            Ok(None) => {
                let document = module.document.borrow();
                let section = module.current_section.borrow();
                let mut scope = &*document;
                for key in section.iter() {
                    if let Some(Value::Object(inner)) = scope.get(key) {
                        scope = inner;
                    }
                }
                let values = defined
                    .unwrap_or_default()
                    .into_iter()
                    .map(|key| {
                        let value = scope.get(&key).cloned().unwrap_or_default();
                        (key, value)
                    })
                    .collect();
                Ok((LineOutcome::Defined(values), diagnostics))
            }
            Err(error) => Err(Failure::from_runtime(&error, &self.sources, diagnostics)),
        }
    }

    /// Calls a function value from the host (embedding, plugins serving requests).
    pub fn call(&mut self, function: &Value, args: &[Value]) -> Result<Value, RuntimeError> {
        let module = match function {
            Value::Func(f) => match &**f {
                crate::function::Function::Closure(closure) => closure.module.clone(),
                crate::function::Function::Native(_) => Rc::new(Module::default()),
            },
            _ => Rc::new(Module::default()),
        };
        let site = Location::new(module.source, Span::default());
        Interpreter::new(self, module).call_value(function, args, site)
    }
}

/// A lambda keeps its module alive (it may run after the file is done), and the module's
/// entries hold the lambda: a reference cycle that would leak every file that defines a lambda.
/// The runtime breaks those cycles when it goes, since nothing can run a lambda without one.
impl Drop for Runtime {
    fn drop(&mut self) {
        for module in std::mem::take(&mut self.modules) {
            if let Some(module) = module.upgrade() {
                module.release();
            }
        }
    }
}

fn downgrade(diagnostic: Diagnostic, compat: bool) -> Diagnostic {
    if compat { Diagnostic { severity: Severity::Warning, ..diagnostic } } else { diagnostic }
}

fn errors_first(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|diagnostic| !diagnostic.is_error());
    diagnostics
}

/// The top-level `plugins` object configures plugins (each reads `plugins.NAME` when it is
/// loaded); it is not data, so the document a file evaluates to leaves it out. A `plugins`
/// entry that is not an object is ordinary data.
fn without_plugin_configuration(mut document: Object) -> Object {
    if matches!(document.get("plugins"), Some(Value::Object(_))) {
        document.remove("plugins");
    }
    document
}

/// The key of a file in the runtime's table: its canonical path when it has one.
fn file_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The directory relative paths in the file at `path` resolve against.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Evaluates `path` for a cross-file operator, once per runtime, refusing cycles.
pub(crate) fn evaluate_file_from(interp: &mut Interpreter<'_>, path: &Path) -> Result<Object, RuntimeError> {
    let key = file_key(path);
    match interp.runtime.files.get(&key) {
        Some(FileState::Done(document)) => return Ok(document.clone()),
        Some(FileState::InProgress) => {
            let mut chain: Vec<String> =
                interp.runtime.files_in_progress.iter().map(|p| p.display().to_string()).collect();
            chain.push(key.display().to_string());
            return Err(RuntimeError::message(format!("cross-file cycle: {}", chain.join(" -> "))));
        }
        None => {}
    }
    let bytes = std::fs::read(path)
        .map_err(|error| RuntimeError::new(RuntimeErrorKind::Io(format!("cannot read {}: {error}", path.display()))))?;
    let runtime = &mut *interp.runtime;
    let source = match runtime.add_source_bytes(path.display().to_string(), bytes) {
        Ok(source) => source,
        Err(failure) => {
            let first = &failure.diagnostics[0];
            let place =
                first.primary.as_ref().map(|label| runtime.sources.describe(label.location)).unwrap_or_default();
            return Err(RuntimeError::new(RuntimeErrorKind::Io(format!("{place}: {}", first.message))));
        }
    };
    runtime.files.insert(key.clone(), FileState::InProgress);
    runtime.files_in_progress.push(key.clone());
    let mut state = CompileState::new();
    let compiled = runtime.compile_source(source, &mut state);
    let result = match compiled {
        Ok((program, _warnings)) => {
            // Another file sees no host globals: its document is cached for the runtime's
            // lifetime, while host globals may differ from one run to the next.
            let module = runtime.new_module(source, Some(directory_of(path)), None);
            interp.run_in_module(module.clone(), &program).map(|_| without_plugin_configuration(module.document()))
        }
        Err(failure) => {
            let first = failure.diagnostics.into_iter().find(Diagnostic::is_error);
            let message = first.map(|d| {
                let place =
                    d.primary.as_ref().map(|label| interp.runtime.sources.describe(label.location)).unwrap_or_default();
                format!("{} has errors: {place}: {}", path.display(), d.message)
            });
            Err(RuntimeError::message(message.unwrap_or_else(|| format!("{} has errors", path.display()))))
        }
    };
    let runtime = &mut *interp.runtime;
    runtime.files_in_progress.pop();
    match &result {
        Ok(document) => {
            runtime.files.insert(key, FileState::Done(document.clone()));
        }
        Err(_) => {
            runtime.files.remove(&key);
        }
    }
    result
}

/// Replaces the cached document of a file (for `@stem.tsk.set`).
pub(crate) fn store_file_document(runtime: &mut Runtime, path: &Path, document: Object) {
    runtime.files.insert(file_key(path), FileState::Done(document));
}
