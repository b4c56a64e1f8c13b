//! Dispatch from the parsed command line to one module per subcommand, and what they share:
//! building an engine from the global options (mode, limits, plugins and their grants), reading
//! a script from a file or standard input, and reporting script errors on standard error.
//!
//! Engines are local to the command functions, so they are dropped (and their plugins shut
//! down) before `main` returns its exit code; nothing here calls `std::process::exit`.

mod check;
mod convert;
mod docs;
mod edit;
mod eval;
mod get;
mod lsp;
mod plugin;
mod repl;
mod run;
mod serve;

use std::io::{IsTerminal, Read};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tusk::plugins::HostSettings;
use tusk::{Diagnostic, Document, Engine, Limits, Mode, Severity, SymbolKind};
use tusk_plugin_catalog::{GrantSet, Grants};

use crate::cli::{Cli, Command, GlobalArgs, Input, OutputArgs};
use crate::{interrupt, output};

/// How a command ended; `main` turns it into the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit code 0.
    Success,
    /// Exit code 1: the script has errors (or its document cannot be written as asked).
    ScriptError,
    /// Exit code 2: bad arguments, or a file that cannot be read.
    UsageOrIo,
    /// Exit code 130 (128 + SIGINT): stopped by Ctrl-C, plugins shut down.
    Interrupted,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::ScriptError => 1,
            Status::UsageOrIo => 2,
            Status::Interrupted => 130,
        }
    }

    /// The more serious of two outcomes (for commands that handle several files).
    pub fn worst(self, other: Status) -> Status {
        if other.code() > self.code() { other } else { self }
    }
}

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<Status> {
    let context = match Context::new(cli.global) {
        Ok(context) => context,
        Err(message) => {
            output::write_stderr(&format!("Error: {message}\n"));
            return Ok(Status::UsageOrIo);
        }
    };
    match cli.command {
        Some(Command::Run(args)) if args.watch => run::watch(&context, &args.input, &args.output),
        Some(Command::Run(args)) => run::run(&context, &args.input, &args.output),
        Some(Command::Get(args)) => get::get(&context, &args),
        Some(Command::Check(args)) => check::check(&context, &args),
        Some(Command::Eval(args)) => eval::eval(&context, &args.expression, &args.output),
        Some(Command::Repl) => repl::repl(&context),
        Some(Command::Set(args)) => edit::set(&context, &args),
        Some(Command::Fmt(args)) => edit::fmt(&context, &args),
        Some(Command::Convert(args)) => convert::convert(&args),
        Some(Command::Lsp) => lsp::lsp(&context),
        Some(Command::Serve(args)) => serve::serve(&context, &args),
        Some(Command::Completions(args)) => docs::completions(args.shell),
        Some(Command::Man(args)) => docs::man(args.command.as_deref()),
        Some(Command::Plugin(command)) => plugin::plugin(&context, command),
        None => match (cli.input, cli.expression) {
            (Some(input), _) => run::run(&context, &input, &cli.output),
            (None, Some(expression)) => eval::eval(&context, &expression, &cli.output),
            (None, None) if std::io::stdin().is_terminal() => repl::repl(&context),
            (None, None) => run::run(&context, &Input::Stdin, &cli.output),
        },
    }
}

/// The global options, resolved once.
pub struct Context {
    global: GlobalArgs,
    /// Whether diagnostics on standard error are coloured.
    pub stderr_color: bool,
    /// What `--allow-…` grants to every plugin.
    pub grant_flags: GrantSet,
    /// `--arg` and `--argjson`: the globals every script of the command sees, in order.
    script_args: Vec<(String, serde_json::Value)>,
}

impl Context {
    fn new(global: GlobalArgs) -> Result<Context, String> {
        let stderr_color = output::use_color(global.color, output::stderr_is_terminal());
        let grant_flags = global.permissions.grant_set()?;
        if let Some(path) = &global.permissions.grants
            && !path.is_file()
        {
            return Err(format!("cannot read the grants file {}: no such file", path.display()));
        }
        let script_args = script_args(&global)?;
        Ok(Context { global, stderr_color, grant_flags, script_args })
    }

    /// The global options as given.
    pub fn global(&self) -> &GlobalArgs {
        &self.global
    }

    /// An engine for scripts in `script_dir`: the mode and limits of the command line, and
    /// every installed plugin known to the registry (nothing is loaded until a script calls
    /// one of its operators). Discovery problems are dropped: only `tusk check` and
    /// `tusk plugin list` show them (see [`Context::engine_with_diagnostics`]). An unreadable
    /// or invalid grants file is reported here and ends the command with exit code 2.
    pub fn engine(&self, script_dir: &Path) -> Result<CommandEngine, Status> {
        self.engine_with_diagnostics(script_dir).map(|(engine, _)| engine)
    }

    /// [`Context::engine`], with the problems plugin discovery found (invalid manifests,
    /// shadowed plugins, symbol conflicts, an invalid user configuration file).
    pub fn engine_with_diagnostics(&self, script_dir: &Path) -> Result<(CommandEngine, Vec<Diagnostic>), Status> {
        self.engine_with_settings(script_dir, |_| {})
    }

    /// [`Context::engine_with_diagnostics`] with settings adjusted by `adjust` (the plugin
    /// subcommands search one folder, or grant what a manifest asks for).
    pub fn engine_with_settings(
        &self,
        script_dir: &Path,
        adjust: impl FnOnce(&mut HostSettings),
    ) -> Result<(CommandEngine, Vec<Diagnostic>), Status> {
        let mut engine = self.plain_engine();
        let script_dir = absolute(script_dir);
        let mut settings = HostSettings::standard(&script_dir);
        match self.grants(&script_dir, &mut engine) {
            Ok(grants) => settings.grants = grants,
            Err(diagnostics) => {
                self.report_diagnostics(&engine, &diagnostics);
                return Err(Status::UsageOrIo);
            }
        }
        self.global.sandbox.apply(&mut settings);
        adjust(&mut settings);
        let diagnostics = engine.enable_plugins(settings);
        if let Some(host) = engine.plugins()
            && !host.catalog().plugins.is_empty()
        {
            // Until a plugin loads, Ctrl-C has nothing to shut down and keeps its default.
            let (cancel, started) = (host.cancel_flag(), host.load_started());
            host.on_first_load(move || interrupt::watch(cancel, started));
        }
        Ok((CommandEngine(Some(engine)), diagnostics))
    }

    /// The flags' grants plus the grants file (`--grants FILE`, else the standard one, which
    /// may be missing).
    pub fn grants(&self, script_dir: &Path, engine: &mut Engine) -> Result<Grants, Vec<Diagnostic>> {
        let mut grants = Grants::new(script_dir);
        grants.flags = self.grant_flags.clone();
        let file = self.global.permissions.grants.clone().unwrap_or_else(|| grants.grants_file.clone());
        grants.load_file(&file, engine.sources_mut())?;
        Ok(grants)
    }

    /// An engine with the mode and limits of the command line, without plugins.
    pub fn plain_engine(&self) -> Engine {
        let mut engine = Engine::new();
        let options = engine.options_mut();
        options.mode = match (self.global.strict, self.global.compat) {
            (true, _) => Mode::Strict,
            (_, true) => Mode::Compat,
            _ => Mode::Default,
        };
        options.limits = self.limits();
        for (name, value) in &self.script_args {
            // The JSON was read (and its integers checked) when the arguments were parsed.
            if let Ok(value) = tusk::to_value(value) {
                engine.set_global(name, value);
            }
        }
        engine
    }

    fn limits(&self) -> Limits {
        let defaults = Limits::default();
        let flags = &self.global.limits;
        Limits {
            max_call_depth: flags.max_call_depth.unwrap_or(defaults.max_call_depth),
            max_operations: flags.max_operations.unwrap_or(defaults.max_operations),
            max_nesting_depth: flags.max_depth.unwrap_or(defaults.max_nesting_depth),
            ..defaults
        }
    }

    /// Prints an evaluation error (rendered diagnostics, or the I/O problem) and says how
    /// the command ends because of it. Unknown operators and names get a word on installed
    /// plugins that provide them.
    pub fn report(&self, engine: &Engine, error: &tusk::Error) -> Status {
        let rendered = match error {
            tusk::Error::Script(diagnostics) => {
                let mut diagnostics = with_plugin_hints(engine, diagnostics);
                if self.global.quiet {
                    diagnostics.retain(Diagnostic::is_error);
                }
                engine.render_diagnostics(&diagnostics, self.stderr_color)
            }
            tusk::Error::Io { .. } => engine.render(error, self.stderr_color),
        };
        output::write_stderr(&rendered);
        match error {
            tusk::Error::Io { .. } => Status::UsageOrIo,
            _ => Status::ScriptError,
        }
    }

    /// Prints discovery problems as warnings: a broken plugin folder does not make a script
    /// wrong (`tusk check`, `tusk plugin list`).
    pub fn report_discovery(&self, engine: &Engine, diagnostics: &[Diagnostic]) {
        let warnings: Vec<Diagnostic> = diagnostics
            .iter()
            .cloned()
            .map(|diagnostic| Diagnostic { severity: Severity::Warning, ..diagnostic })
            .collect();
        self.report_diagnostics(engine, &warnings);
    }

    /// Prints the warnings of a successful evaluation, unless `--quiet`. Returns true when
    /// `--deny-warnings` turns them into errors (they are printed as errors, with a note), so
    /// the command fails.
    pub fn report_warnings(&self, engine: &Engine, warnings: &[Diagnostic]) -> bool {
        if warnings.is_empty() {
            return false;
        }
        if self.global.deny_warnings {
            let errors: Vec<Diagnostic> = warnings
                .iter()
                .cloned()
                .map(|warning| {
                    Diagnostic { severity: Severity::Error, ..warning }
                        .with_note("`--deny-warnings` makes warnings errors")
                })
                .collect();
            self.report_diagnostics(engine, &errors);
            return true;
        }
        if !self.global.quiet {
            self.report_diagnostics(engine, warnings);
        }
        false
    }

    /// Prints diagnostics (warnings, or errors with their warnings).
    pub fn report_diagnostics(&self, engine: &Engine, diagnostics: &[tusk::Diagnostic]) {
        if !diagnostics.is_empty() {
            output::write_stderr(&engine.render_diagnostics(diagnostics, self.stderr_color));
        }
    }
}

/// `--arg NAME VALUE` and `--argjson NAME JSON` as globals: a name that is not one, or text
/// that is not JSON, is a usage error.
fn script_args(global: &GlobalArgs) -> Result<Vec<(String, serde_json::Value)>, String> {
    let mut globals = Vec::new();
    let pairs = global.string_args.chunks(2).map(|pair| (pair, false));
    for (pair, is_json) in pairs.chain(global.json_args.chunks(2).map(|pair| (pair, true))) {
        let [name, text] = pair else { continue };
        let flag = if is_json { "--argjson" } else { "--arg" };
        let bare = name.strip_prefix('$').unwrap_or(name);
        let mut chars = bare.chars();
        let is_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !is_name {
            return Err(format!(
                "{flag} `{name}`: a global's name is letters, digits, `_` and `-`, starting with a letter or `_`"
            ));
        }
        let value = if is_json {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|error| format!("{flag} {bare}: `{text}` is not JSON: {error}"))?;
            tusk::to_value(&value).map_err(|error| format!("{flag} {bare}: {error}"))?;
            value
        } else {
            serde_json::Value::String(text.clone())
        };
        globals.push((bare.to_string(), value));
    }
    Ok(globals)
}

/// Prints a document or value in the requested format; a value the format cannot hold (`null`
/// in TOML, an infinite float anywhere) is an error naming its path, exit 1.
pub fn print_value(value: &tusk::Value, output_args: &OutputArgs, raw_strings: bool) -> anyhow::Result<Status> {
    if let Some(written) = output::write_json_stdout(value, output_args, raw_strings) {
        return match written {
            Ok(result) => {
                result?;
                Ok(Status::Success)
            }
            Err(error) => {
                output::write_stderr(&format!("Error: {error}\n"));
                Ok(Status::ScriptError)
            }
        };
    }
    match output::format_value(value, output_args, raw_strings) {
        Ok(text) => {
            output::write_stdout(&text)?;
            Ok(Status::Success)
        }
        Err(error) => {
            output::write_stderr(&format!("Error: {error}\n"));
            Ok(Status::ScriptError)
        }
    }
}

/// Evaluates a script from a file or from standard input (named `<stdin>`, with relative paths
/// resolved against the working directory).
pub fn evaluate(engine: &mut Engine, input: &Input) -> Result<Document, tusk::Error> {
    match input {
        Input::Path(path) => engine.eval_file(path),
        Input::Stdin => {
            let mut source = Vec::new();
            std::io::stdin()
                .read_to_end(&mut source)
                .map_err(|error| tusk::Error::Io { path: "<stdin>".to_string(), message: error.to_string() })?;
            let directory = std::env::current_dir().ok();
            engine.eval_named_bytes("<stdin>", source, directory.as_deref())
        }
    }
}

/// The engine of one command. Dropping it drops the engine, which shuts down the plugins it
/// loaded (dependents first), on every path out of a command: success, errors, Ctrl-C. An
/// engine that never started loading a plugin is leaked instead: freeing the manifests and
/// stubs of every installed plugin at exit releases nothing the operating system does not, and
/// costs start-up time that `tusk -e 1` in a shell loop pays on every run (about a fifth of
/// what 100 installed plugins add).
pub struct CommandEngine(Option<Engine>);

impl Deref for CommandEngine {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        self.0.as_ref().expect("the engine is present until the command ends")
    }
}

impl DerefMut for CommandEngine {
    fn deref_mut(&mut self) -> &mut Engine {
        self.0.as_mut().expect("the engine is present until the command ends")
    }
}

impl Drop for CommandEngine {
    fn drop(&mut self) {
        let Some(engine) = self.0.take() else { return };
        let started = engine.plugins().is_some_and(|host| host.load_started().load(Ordering::SeqCst));
        if started {
            drop(engine);
        } else {
            std::mem::forget(engine);
        }
    }
}

/// The directory scripts from `input` run in: the file's folder, else the working directory;
/// absolute, so that `${script_dir}` grants and the project's `plugins/` folder do not depend
/// on where relative paths are resolved later.
pub fn script_dir(input: &Input) -> PathBuf {
    let directory = match input {
        Input::Path(path) => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
        Input::Stdin => PathBuf::from("."),
    };
    absolute(&directory)
}

/// `path` made absolute against the working directory (without touching the file system).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The standard plugins `cargo xtask build` leaves out unless asked (`--ml`): their operators
/// are `@NAME` and `@NAME.…`.
const SEPARATELY_BUILT: [&str; 2] = ["tensorflow", "nlp"];

/// The evaluator knows nothing of plugin folders, so its "unknown operator" (R006) and "not
/// defined" (R004) errors are completed here from the plugin catalog: an installed plugin that
/// provides the symbol but could not be registered (two plugins provide it), or a note that no
/// installed plugin provides the operator, and a word on plugin folders with invalid manifests
/// (one of them may be the plugin the script needs).
pub fn with_plugin_hints(engine: &Engine, diagnostics: &[Diagnostic]) -> Vec<Diagnostic> {
    let mut diagnostics = diagnostics.to_vec();
    // A global nobody defines is what `--arg` supplies from the command line.
    for diagnostic in &mut diagnostics {
        if diagnostic.code == Some("R004")
            && let Some(name) = quoted(&diagnostic.message).and_then(|name| name.strip_prefix('$'))
        {
            diagnostic
                .notes
                .push(format!("`--arg {name} VALUE` or `--argjson {name} JSON` sets it from the command line"));
        }
    }
    let diagnostics = diagnostics.as_slice();
    let Some(host) = engine.plugins() else { return diagnostics.to_vec() };
    let catalog = host.catalog();
    let invalid_manifests = invalid_manifest_count(&catalog.diagnostics);
    let mut completed = diagnostics.to_vec();
    for diagnostic in &mut completed {
        let (kind, name) = match diagnostic.code {
            Some("R006") => (SymbolKind::Operator, quoted(&diagnostic.message).and_then(|name| name.strip_prefix('@'))),
            Some("R004") => (SymbolKind::Function, quoted(&diagnostic.message)),
            _ => continue,
        };
        let Some(name) = name.map(str::to_string) else { continue };
        let unbuilt = SEPARATELY_BUILT
            .iter()
            .find(|plugin| kind == SymbolKind::Operator && name.split('.').next() == Some(**plugin));
        match (catalog.unknown_symbol_hint(kind, &name), unbuilt) {
            (Some(hint), _) => diagnostic.notes.push(hint),
            (None, Some(plugin)) => {
                diagnostic.notes.push(format!(
                    "`@{name}` comes from the standard plugin `{plugin}`, which this tusk was built without (it \
                     compiles an ML engine): build it with `cargo xtask build --ml` in the tusk sources \
                     (`cargo xtask install` and `cargo xtask dist` include it)"
                ));
            }
            // A likely typo ("did you mean `@json.parse`?") needs no word on installing.
            (None, None)
                if kind == SymbolKind::Operator
                    && !diagnostic.help.as_deref().is_some_and(|help| help.starts_with("did you mean")) =>
            {
                diagnostic
                    .notes
                    .push(format!("no installed plugin provides `@{name}`; `tusk plugin install PATH` installs one"));
            }
            (None, None) => continue,
        }
        if invalid_manifests > 0 {
            let plugins = if invalid_manifests == 1 { "plugin folder has" } else { "plugin folders have" };
            diagnostic.notes.push(format!(
                "{invalid_manifests} {plugins} an invalid plugin.toml and cannot be used; `tusk plugin list` shows why"
            ));
        }
    }
    completed
}

/// The text between the first pair of backticks.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

/// How many plugin folders discovery skipped because their manifest is invalid (codes X001 to
/// X018; one manifest may have several errors, all in one source).
pub fn invalid_manifest_count(diagnostics: &[Diagnostic]) -> usize {
    let mut sources = Vec::new();
    let mut unreadable = 0;
    for diagnostic in diagnostics.iter().filter(|diagnostic| diagnostic.is_error()) {
        let Some(number) = diagnostic.code.and_then(|code| code.strip_prefix('X')).and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !(1..=18).contains(&number) {
            continue;
        }
        match &diagnostic.primary {
            Some(label) if !sources.contains(&label.location.source) => sources.push(label.location.source),
            Some(_) => {}
            None => unreadable += 1,
        }
    }
    sources.len() + unreadable
}
