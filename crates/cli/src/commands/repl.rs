//! `tusk repl` (and `tusk` alone on a terminal): the interactive prompt.
//!
//! A line is evaluated with `Engine::eval_line`: `key: expr` defines a name silently (later
//! entries see it), a bare expression prints its value, `[name]` opens a section. While the
//! input is incomplete (an unclosed `{`, a trailing `+`), the prompt changes to `...` and the
//! lines are joined. `:load FILE` evaluates a file as `tusk FILE` does and defines its
//! top-level keys in the session. An error never ends the session (a failed entry defines
//! nothing);
//! Ctrl-C drops the entry being typed, Ctrl-D or `:quit` leaves; Ctrl-C during an evaluation
//! stops it (and asks the plugins it is in to stop) and returns to the prompt (see `interrupt`). History
//! persists in the user's data directory when standard input is a terminal.
//!
//! Plugin libraries are watched: a rebuilt plugin is reloaded before the next entry (and
//! before any call into it), and `:reload [NAME]` checks the files now.

mod helper;

use std::io::IsTerminal;
use std::path::PathBuf;

use rustyline::Editor;
use rustyline::config::{ColorMode, CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use tusk::{LineResult, ReplSession, SymbolKind};

use crate::cli::ColorChoice;
use crate::cli::Input;
use crate::commands::{CommandEngine, Context, Status, script_dir};
use crate::{interrupt, output};

use self::helper::{COMMANDS, ReplHelper};

const PROMPT: &str = "tusk> ";
const CONTINUATION_PROMPT: &str = "...   ";
const QUIT_COMMANDS: &[&str] = &[":quit", ":q", ":exit"];

/// `:load` of `:load file.tsk`.
fn command_name(line: &str) -> &str {
    line.split(char::is_whitespace).next().unwrap_or(line)
}

/// Runs the REPL until `:quit` or end of input.
pub fn repl(context: &Context) -> anyhow::Result<Status> {
    let mut engine = match context.engine(&script_dir(&Input::Stdin)) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    if let Err(error) = engine.watch_plugins() {
        output::write_stderr(&format!("tusk: plugin libraries are not watched for changes: {error}\n"));
    }
    // After the watch started: an update it applies is picked up by hot reload.
    crate::commands::plugin::start_auto_update_if_due(&script_dir(&Input::Stdin));
    let plugins_started = engine.plugins().map(|host| host.load_started()).unwrap_or_default();
    interrupt::watch_repl(engine.interrupt_flag(), plugins_started);
    let mut repl = Repl::new(context, engine)?;
    if std::io::stdin().is_terminal() {
        output::write_stdout(&format!(
            "tusk {}: `:help` for help, `:quit` or Ctrl-D to leave",
            env!("CARGO_PKG_VERSION")
        ))?;
    }
    let result = repl.run();
    repl.save_history();
    result.map(|()| Status::Success)
}

struct Repl<'c> {
    context: &'c Context,
    engine: CommandEngine,
    session: ReplSession,
    editor: Editor<ReplHelper, FileHistory>,
    history_path: Option<PathBuf>,
    /// Entries evaluated in this session (they name the sources: `<repl:1>`, `<repl:2>`, …).
    entries: usize,
}

/// What reading an entry produced.
enum Entry {
    /// Complete source text (one or more lines), already evaluated.
    Evaluated,
    /// A `:command` line.
    Command(String),
    /// Ctrl-C: the entry was dropped.
    Cancelled,
    /// Ctrl-D or the end of piped input.
    End,
}

impl<'c> Repl<'c> {
    fn new(context: &'c Context, mut engine: CommandEngine) -> anyhow::Result<Repl<'c>> {
        let global = context.global();
        let color = match global.color {
            ColorChoice::Auto => output::use_color(ColorChoice::Auto, std::io::stdout().is_terminal()),
            choice => output::use_color(choice, true),
        };
        let config = Config::builder()
            .max_history_size(10_000)?
            .history_ignore_dups(true)?
            .history_ignore_space(true)
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .color_mode(if color { ColorMode::Forced } else { ColorMode::Disabled })
            .build();
        let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config)?;
        let session = engine.repl_session();
        let mut helper = ReplHelper::new(color);
        for symbol in engine.symbols() {
            match symbol.kind {
                SymbolKind::Operator => helper.operators.push(symbol.display_name()),
                _ => helper.functions.push(symbol.display_name()),
            }
        }
        editor.set_helper(Some(helper));
        // Piped input (`tusk repl < script`) neither reads nor writes the user's history.
        let history_path = if std::io::stdin().is_terminal() { history_path() } else { None };
        if let Some(path) = &history_path {
            // A missing or unreadable history file is not worth a message: the first session
            // has none.
            let _ = editor.load_history(path);
        }
        let mut repl = Repl { context, engine, session, editor, history_path, entries: 0 };
        repl.refresh_completions();
        Ok(repl)
    }

    fn run(&mut self) -> anyhow::Result<()> {
        loop {
            // Between entries: plugins rebuilt while the last one ran are reloaded now.
            let reloads = self.engine.poll_reloads();
            self.show_reloads(reloads)?;
            match self.read_entry()? {
                Entry::Evaluated | Entry::Cancelled => {}
                Entry::Command(line) => {
                    if !self.command(&line)? {
                        return Ok(());
                    }
                }
                Entry::End => return Ok(()),
            }
        }
    }

    /// Reads lines until they form a complete entry, and evaluates it.
    fn read_entry(&mut self) -> anyhow::Result<Entry> {
        let mut pending = String::new();
        loop {
            let prompt = if pending.is_empty() { PROMPT } else { CONTINUATION_PROMPT };
            let line = match self.editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => return Ok(Entry::Cancelled),
                Err(ReadlineError::Eof) if pending.is_empty() => return Ok(Entry::End),
                Err(ReadlineError::Eof) => {
                    // Input ended inside an entry (piped input, or Ctrl-D after `{`): say so
                    // rather than drop it silently.
                    let name = format!("<repl:{}>", self.entries + 1);
                    let result = self.engine.eval_line_named(&mut self.session, &name, &pending);
                    self.show(result)?;
                    return Ok(Entry::End);
                }
                Err(error) => return Err(error.into()),
            };
            if pending.is_empty() {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                if trimmed.starts_with(':') {
                    // Recalling `:quit` with the up arrow is never what the user wants.
                    if !QUIT_COMMANDS.contains(&command_name(trimmed)) {
                        let _ = self.editor.add_history_entry(trimmed);
                    }
                    return Ok(Entry::Command(trimmed.to_string()));
                }
            } else {
                pending.push('\n');
            }
            pending.push_str(&line);
            // Sources are named after entries, not attempts: the tries that found the entry
            // incomplete do not count, so the third thing the user entered is `<repl:3>`.
            let name = format!("<repl:{}>", self.entries + 1);
            match self.engine.eval_line_named(&mut self.session, &name, &pending) {
                Err(error) if error.is_incomplete() => continue,
                result => {
                    self.entries += 1;
                    let _ = self.editor.add_history_entry(pending.as_str());
                    self.show(result)?;
                    self.refresh_completions();
                    return Ok(Entry::Evaluated);
                }
            }
        }
    }

    fn show(&self, result: Result<(LineResult, Vec<tusk::Diagnostic>), tusk::Error>) -> anyhow::Result<()> {
        if interrupt::interrupted() {
            // The plugins were asked to stop; the session goes on with the next entry.
            interrupt::reset();
            output::write_stderr("interrupted\n");
            return Ok(());
        }
        match result {
            Ok((outcome, warnings)) => {
                self.context.report_warnings(&self.engine, &warnings);
                if let LineResult::Value(value) = outcome {
                    output::write_stdout(&output::repl_display(&value))?;
                }
            }
            Err(error) => {
                self.context.report(&self.engine, &error);
            }
        }
        Ok(())
    }

    /// Runs a `:command`; false means leave.
    fn command(&mut self, line: &str) -> anyhow::Result<bool> {
        let name = command_name(line);
        let argument = line[name.len()..].trim();
        match name {
            _ if QUIT_COMMANDS.contains(&name) => return Ok(false),
            ":help" | ":h" | ":?" if argument.is_empty() => output::write_stdout(&self.help())?,
            ":help" | ":h" | ":?" => output::write_stdout(&self.help_for(argument))?,
            ":reset" => {
                self.session = self.engine.repl_session();
                self.entries = 0;
                self.refresh_completions();
                output::write_stdout("session reset")?;
            }
            ":load" if argument.is_empty() => output::write_stderr("Error: `:load` needs a file name\n"),
            ":load" => self.load(argument)?,
            ":reload" => {
                let reloads = self.engine.reload_plugins((!argument.is_empty()).then_some(argument));
                if reloads.is_empty() {
                    output::write_stdout("no plugin is loaded yet (plugins load on their first call)")?;
                }
                self.show_reloads(reloads)?;
                self.refresh_completions();
            }
            ":serve" => self.serve()?,
            _ => output::write_stderr(&format!("Error: unknown command `{name}` (`:help` lists the commands)\n")),
        }
        Ok(true)
    }

    /// `:serve`: runs the event loop (timers, plugin services, posted calls) as `tusk FILE`
    /// does after its document, until nothing is left or Ctrl-C stops it gracefully; then the
    /// session goes on (services may be started again).
    fn serve(&mut self) -> anyhow::Result<()> {
        if !self.engine.has_services() {
            return Ok(output::write_stdout("nothing to serve: no timer or plugin service is running")?);
        }
        let color = self.context.stderr_color;
        self.engine.on_handler_error(color, output::write_stderr);
        let services = self.engine.services();
        interrupt::watch_services(services.clone());
        let end = self.engine.run_services();
        interrupt::unwatch_services();
        // A stop's grace watchdog may have raised the interrupt flag: the next entry starts clean.
        interrupt::reset();
        services.resume();
        Ok(output::write_stdout(match end {
            tusk::ServicesEnd::Stopped => "stopped serving",
            _ => "served: no timer or plugin service is left",
        })?)
    }

    /// Says what plugin reloads did: swaps and unchanged plugins on standard output, refused
    /// builds as diagnostics on standard error.
    fn show_reloads(&self, reloads: Vec<tusk::plugins::Reload>) -> anyhow::Result<()> {
        for reload in reloads {
            match reload.to_diagnostic() {
                Some(diagnostic) => self.context.report_diagnostics(&self.engine, &[diagnostic]),
                None => output::write_stdout(&reload.to_string())?,
            }
        }
        Ok(())
    }

    /// Evaluates a file the way `tusk FILE` does, and makes its top-level keys names of the
    /// session.
    fn load(&mut self, path: &str) -> anyhow::Result<()> {
        let result = self.engine.load_into_session(&mut self.session, path);
        if interrupt::interrupted() {
            interrupt::reset();
            output::write_stderr("interrupted\n");
            return Ok(());
        }
        match result {
            Ok(document) => {
                self.context.report_warnings(&self.engine, document.warnings());
                let names: Vec<&str> = document.object().iter().map(|(key, _)| key.as_str()).collect();
                let names = if names.is_empty() { "no names".to_string() } else { names.join(", ") };
                output::write_stdout(&format!("loaded {path}: {names}"))?;
            }
            Err(error) => {
                self.context.report(&self.engine, &error);
            }
        }
        self.refresh_completions();
        Ok(())
    }

    fn help(&mut self) -> String {
        let mut text = String::from("Commands:\n");
        for (usage, summary) in COMMANDS {
            text.push_str(&format!("  {usage:<12} {summary}\n"));
        }
        text.push_str(
            "Enter `key: expr` to define a name, or an expression to see its value.\n\
             An unclosed bracket or a trailing operator continues on the next line; Ctrl-C drops the entry.\n",
        );
        let (operators, functions): (Vec<_>, Vec<_>) =
            self.engine.symbols().into_iter().partition(|s| s.kind == SymbolKind::Operator);
        let names = |symbols: &[&std::rc::Rc<tusk::Symbol>]| {
            symbols.iter().map(|symbol| symbol.display_name()).collect::<Vec<_>>().join(" ")
        };
        text.push_str(&format!("Operators: {}\n", names(&operators)));
        text.push_str(&format!("Functions: {}\n", names(&functions)));
        text
    }

    /// `:help @env`, `:help len`, or `:help name` for a name of the session.
    fn help_for(&mut self, name: &str) -> String {
        let engine = &self.engine;
        let symbol = match name.strip_prefix('@') {
            Some(operator) => engine.operator(operator),
            None => engine.function(name).or_else(|| engine.operator(name)),
        };
        if let Some(symbol) = symbol {
            let doc = &symbol.doc;
            let mut text = format!("{}\n", doc.signature);
            if !doc.summary.is_empty() {
                text.push_str(&format!("  {}\n", doc.summary));
            }
            for example in &doc.examples {
                text.push_str(&format!("  example: {example}\n"));
            }
            let effects = if symbol.side_effects { ", has side effects (not run by `tusk check`)" } else { "" };
            text.push_str(&format!("  from the `{}` plugin{effects}\n", symbol.plugin));
            return text;
        }
        match self.session.document().get(name) {
            Some(value) => format!("`{name}` is defined in this session: {}\n", output::repl_display(value)),
            None => format!("no operator, function or name `{name}`\n"),
        }
    }

    fn refresh_completions(&mut self) {
        let document = self.session.document();
        if let Some(helper) = self.editor.helper_mut() {
            helper.document = Some(document);
        }
    }

    fn save_history(&mut self) {
        let Some(path) = &self.history_path else { return };
        if let Some(directory) = path.parent() {
            let _ = std::fs::create_dir_all(directory);
        }
        if let Err(error) = self.editor.save_history(path) {
            output::write_stderr(&format!("tusk: could not save history to {}: {error}\n", path.display()));
        }
    }
}

/// `$XDG_DATA_HOME/tusk/history`, else `~/.local/share/tusk/history`.
fn history_path() -> Option<PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|path| path.is_absolute());
    let data_home = from_env("XDG_DATA_HOME").or_else(|| from_env("HOME").map(|home| home.join(".local/share")))?;
    Some(data_home.join("tusk").join("history"))
}
