//! Dispatch from the parsed command line to one module per subcommand, and what they share:
//! building an engine from the global options, reading a script from a file or standard
//! input, and reporting script errors on standard error.

mod check;
mod eval;
mod get;
mod repl;
mod run;

use std::io::{IsTerminal, Read};

use tusk::{Document, Engine, Limits, Mode};

use crate::cli::{Cli, Command, GlobalArgs, Input};
use crate::output;

/// How a command ended; `main` turns it into the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit code 0.
    Success,
    /// Exit code 1: the script has errors (or its document cannot be written as asked).
    ScriptError,
    /// Exit code 2: bad arguments, or a file that cannot be read.
    UsageOrIo,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::ScriptError => 1,
            Status::UsageOrIo => 2,
        }
    }

    /// The more serious of two outcomes (for commands that handle several files).
    pub fn worst(self, other: Status) -> Status {
        if other.code() > self.code() { other } else { self }
    }
}

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<Status> {
    let context = Context::new(cli.global);
    match cli.command {
        Some(Command::Run(args)) => run::run(&context, &args.input, &args.output),
        Some(Command::Get(args)) => get::get(&context, &args),
        Some(Command::Check(args)) => check::check(&context, &args),
        Some(Command::Eval(args)) => eval::eval(&context, &args.expression, &args.output),
        Some(Command::Repl) => repl::repl(&context),
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
}

impl Context {
    fn new(global: GlobalArgs) -> Context {
        let stderr_color = output::use_color(global.color, output::stderr_is_terminal());
        Context { global, stderr_color }
    }

    /// The global options as given.
    pub fn global(&self) -> &GlobalArgs {
        &self.global
    }

    /// An engine with the mode and limits of the command line.
    pub fn engine(&self) -> Engine {
        let mut engine = Engine::new();
        let options = engine.options_mut();
        options.mode = match (self.global.strict, self.global.compat) {
            (true, _) => Mode::Strict,
            (_, true) => Mode::Compat,
            _ => Mode::Default,
        };
        options.limits = self.limits();
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
    /// the command ends because of it.
    pub fn report(&self, engine: &Engine, error: &tusk::Error) -> Status {
        output::write_stderr(&engine.render(error, self.stderr_color));
        match error {
            tusk::Error::Io { .. } => Status::UsageOrIo,
            _ => Status::ScriptError,
        }
    }

    /// Prints diagnostics (warnings, or errors with their warnings).
    pub fn report_diagnostics(&self, engine: &Engine, diagnostics: &[tusk::Diagnostic]) {
        if !diagnostics.is_empty() {
            output::write_stderr(&engine.render_diagnostics(diagnostics, self.stderr_color));
        }
    }
}

/// Evaluates a script from a file or from standard input (named `<stdin>`, with relative paths
/// resolved against the working directory).
pub fn evaluate(engine: &mut Engine, input: &Input) -> Result<Document, tusk::Error> {
    match input {
        Input::Path(path) => engine.eval_file(path),
        Input::Stdin => {
            let mut source = String::new();
            std::io::stdin()
                .read_to_string(&mut source)
                .map_err(|error| tusk::Error::Io { path: "<stdin>".to_string(), message: error.to_string() })?;
            let directory = std::env::current_dir().ok();
            engine.eval_named("<stdin>", &source, directory.as_deref())
        }
    }
}
