//! Drives the REPL of the real `tusk` binary through a pseudo-terminal (rexpect), the way a
//! person types: definitions, multi-line entries, errors that do not end the session, `:help`,
//! tab completion, Ctrl-C, history across sessions and leaving with `:quit` or Ctrl-D.
//!
//! Each session runs in its own scratch directory with `XDG_DATA_HOME` inside it, so the
//! user's real history is never touched. ANSI sequences are stripped except in the
//! highlighting test.

use std::path::Path;
use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{Options, PtySession, spawn_with_options};
use tempfile::TempDir;

const PROMPT: &str = "tusk> ";
/// The prompt at the start of a line (a plain `tusk> ` also matches the repaints of the line
/// being typed).
const NEXT_PROMPT: &str = "\n\r*tusk> ";
const CONTINUATION: &str = "\n\r*\\.\\.\\.   ";

/// One REPL process on a pseudo-terminal.
struct Repl {
    session: PtySession,
}

impl Repl {
    fn start(dir: &Path, args: &[&str]) -> Repl {
        Repl::start_with(dir, args, true)
    }

    fn start_with(dir: &Path, args: &[&str], strip_ansi: bool) -> Repl {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
        command
            .args(args)
            .current_dir(dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env_remove("TUSK_PLUGIN_PATH")
            .env("TERM", "xterm")
            .env("TUSK_REPL_TEST_VAR", "7")
            // rexpect reads bytes as Latin-1 characters, so diagnostics must stay ASCII: with
            // NO_COLOR they are rendered plain, as a user who sets it would see them.
            .env("NO_COLOR", "1");
        let options = Options::new().timeout_ms(Some(20_000)).strip_ansi_escape_codes(strip_ansi);
        let mut session = spawn_with_options(command, options).expect("tusk starts on a pty");
        session.exp_string(PROMPT).expect("the first prompt");
        Repl { session }
    }

    /// Types a line and returns what the REPL printed before its next prompt (`prompt_regex`),
    /// with `\r\n` as `\n`.
    fn enter_until(&mut self, line: &str, prompt_regex: &str) -> String {
        self.session.send_line(line).unwrap();
        let (raw, _prompt) =
            self.session.exp_regex(prompt_regex).unwrap_or_else(|error| panic!("after {line:?}: {error}"));
        // rustyline repaints the line on every key, separated by `\r`, so everything before the
        // first line break is the echo of what was typed; the output follows it.
        let text = raw.replace('\r', "");
        // The regex took the line break before the prompt, so an entry without output leaves
        // only the echo.
        let (echo, output) = match text.split_once('\n') {
            Some((echo, output)) => (echo, format!("{output}\n")),
            None => (text.as_str(), String::new()),
        };
        assert!(echo.ends_with(line), "the last repaint {echo:?} does not show {line:?}");
        output
    }

    /// Types keys without Enter.
    fn type_keys(&mut self, keys: &str) {
        self.session.send(keys).unwrap();
        self.session.flush().unwrap();
    }

    /// Types a complete entry and returns its output.
    fn enter(&mut self, line: &str) -> String {
        self.enter_until(line, NEXT_PROMPT)
    }

    /// Waits for the process to end and returns its exit code.
    fn exit_code(mut self) -> i32 {
        self.session.exp_eof().expect("the REPL ends");
        match self.session.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("tusk did not exit normally: {other:?}"),
        }
    }
}

/// Removes trailing spaces (ariadne pads some lines) so expectations carry none.
fn trim_line_ends(text: &str) -> String {
    text.lines().map(str::trim_end).map(|line| format!("{line}\n")).collect()
}

#[test]
fn defines_a_name_then_uses_it() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("answer: 40 + 2"), "");
    assert_eq!(repl.enter("answer * 2"), "84\n");
    assert_eq!(repl.enter("double: n => n * 2"), "");
    assert_eq!(repl.enter("double(answer)"), "84\n");
    assert_eq!(repl.enter("\"v\" + answer"), "\"v42\"\n");
    assert_eq!(repl.enter("[1, \"a\", {b: null}]"), "[1, \"a\", {\"b\": null}]\n");
    assert_eq!(repl.enter("double"), "<function double>\n");
    repl.session.send_line(":quit").unwrap();
    assert_eq!(repl.exit_code(), 0);
}

#[test]
fn an_unclosed_brace_continues_on_the_next_line() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter_until("server {", CONTINUATION), "");
    assert_eq!(repl.enter_until("  port: 8000 + 80", CONTINUATION), "");
    assert_eq!(repl.enter_until("  host: \"localhost\"", CONTINUATION), "");
    assert_eq!(repl.enter("}"), "");
    assert_eq!(repl.enter("server.port"), "8080\n");
    assert_eq!(repl.enter_until("len(", CONTINUATION), "");
    assert_eq!(repl.enter("server.host)"), "9\n");
}

#[test]
fn lines_typed_ahead_are_kept_for_the_next_prompt() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    // A pasted entry arrives in one read: the lines after the first must not be lost while the
    // first is evaluated.
    repl.type_keys("limits {\r  rps: 5\r}\rlimits.rps * 2\r");
    repl.session.exp_regex("\n\r*10\r\n").unwrap();
    assert_eq!(repl.enter("limits.rps"), "5\n");
}

#[test]
fn an_error_does_not_end_the_session() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter_until("ok: [", CONTINUATION), "");
    assert_eq!(repl.enter("]"), "");
    let expected = "\
[R004] Error: `nope` is not defined
   ,-[ <repl:2>:1:1 ]
   |
 1 | nope + 1
   | ^^|^
   |   `--- not an entry, parameter or function
   |
   | Help: to use the text, quote it: \"nope\"
---'
";
    assert_eq!(trim_line_ends(&repl.enter("nope + 1")), expected);
    assert_eq!(repl.enter("1 + 1"), "2\n");
    let type_error = repl.enter("1 - \"a\"");
    assert!(type_error.starts_with("[R"), "{type_error:?}");
    assert_eq!(repl.enter("3 * 3"), "9\n");
}

#[test]
fn help_lists_commands_and_documents_operators_and_functions() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    let help = repl.enter(":help");
    let commands: Vec<&str> = help.lines().skip(1).take(6).collect();
    assert_eq!(
        commands,
        [
            "  :help        list the commands; `:help @op` or `:help name` shows an operator's or function's documentation",
            "  :load FILE   evaluate a file into the session",
            "  :reset       forget every name defined in this session",
            "  :reload [NAME] reload changed plugin libraries now (every loaded plugin, or NAME)",
            "  :serve       run the session's timers and plugin services until none is left or Ctrl-C",
            "  :quit        leave (Ctrl-D does too)",
        ]
    );
    assert!(help.contains("\nOperators: @after @cache @cancel "), "{help}");
    assert_eq!(
        repl.enter(":help @env"),
        "@env(name, default)\n  The environment variable `name`, or `default` when it is unset. When the default is a \
         number or a bool, the variable's text is converted to that type.\n  example: @env(\"TUSK_SURELY_UNSET\", 8080) \
         => 8080\n  from the `core` plugin\n"
    );
    let len_help = repl.enter(":help len");
    assert!(len_help.starts_with("len(value)\n"), "{len_help}");
    assert!(len_help.ends_with("  from the `std` plugin\n"), "{len_help}");
    assert_eq!(repl.enter("x: 5"), "");
    assert_eq!(repl.enter(":help x"), "`x` is defined in this session: 5\n");
    assert_eq!(repl.enter(":help zzz"), "no operator, function or name `zzz`\n");
    assert_eq!(repl.enter(":frobnicate"), "Error: unknown command `:frobnicate` (`:help` lists the commands)\n");
}

#[test]
fn tab_completes_operators_and_defined_names() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    repl.type_keys("@en\t");
    repl.session.exp_string("@env").unwrap();
    assert_eq!(repl.enter("(\"TUSK_REPL_TEST_VAR\", 0)"), "7\n");
    assert_eq!(repl.enter("a_rather_long_name: 41"), "");
    repl.type_keys("a_rather_lo\t");
    repl.session.exp_string("a_rather_long_name").unwrap();
    assert_eq!(repl.enter(" + 1"), "42\n");
}

#[test]
fn ctrl_c_drops_the_entry_being_typed() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter_until("1 +", CONTINUATION), "");
    repl.session.send_control('c').unwrap();
    repl.session.exp_string(PROMPT).unwrap();
    assert_eq!(repl.enter("5"), "5\n");
}

#[test]
fn ctrl_c_stops_a_running_evaluation_and_the_session_goes_on() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("total: 5"), "");
    // A loop of a trillion steps; the print says the evaluation has started (the terminal is
    // back in its normal mode, so Ctrl-C is a signal and not a key of the line editor).
    repl.session.send_line("[print(\"running\"), reduce(range(0, 1000000000000), 0, (a, x) => a + x)]").unwrap();
    repl.session.exp_string("running").unwrap();
    repl.session.send_control('c').unwrap();
    repl.session.exp_string("interrupted").unwrap();
    repl.session.exp_string(PROMPT).unwrap();
    assert_eq!(repl.enter("total + 1"), "6\n");
}

#[test]
fn the_banner_names_the_version_and_help() {
    let dir = TempDir::new().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
    command.arg("repl").current_dir(dir.path()).env("XDG_DATA_HOME", dir.path().join("data")).env("NO_COLOR", "1");
    let mut session = spawn_with_options(command, Options::new().timeout_ms(Some(20_000))).unwrap();
    let (banner, _) = session.exp_regex("\r\n").unwrap();
    assert_eq!(banner, format!("tusk {}: `:help` for help, `:quit` or Ctrl-D to leave", env!("CARGO_PKG_VERSION")));
}

#[test]
fn entries_see_the_names_earlier_entries_defined() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("a: 1"), "");
    assert_eq!(repl.enter("b: a + 1"), "");
    assert_eq!(repl.enter("b"), "2\n");
    assert_eq!(repl.enter("port: 8080"), "");
    assert_eq!(repl.enter("u: \"h:${port}\""), "");
    assert_eq!(repl.enter("u"), "\"h:8080\"\n");
    assert_eq!(repl.enter("base: \"/srv\""), "");
    assert_eq!(repl.enter("list: [base, \"x\"]"), "");
    assert_eq!(repl.enter("list"), "[\"/srv\", \"x\"]\n");
    // Redefining a name of an earlier entry is what a REPL is for: no duplicate warning.
    assert_eq!(repl.enter("a: 10"), "");
    assert_eq!(repl.enter("a + b"), "12\n");
    // Inside one entry, the order still counts.
    let later = repl.enter("c: d; d: 1");
    assert!(later.starts_with("[R005] Error: `d` is used before it is defined\n"), "{later}");
    assert!(later.contains("<repl:"), "{later}");
}

#[test]
fn an_entry_that_fails_defines_nothing() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert!(repl.enter("x: 1 + true").starts_with("[R001] Error: cannot apply `+` to int and bool\n"));
    assert!(repl.enter("x").starts_with("[R004] Error: `x` is not defined\n"));
    let raised = "\
[R014] Error: stop
   ,-[ <repl:3>:1:10 ]
   |
 1 | y: 1; z: error(\"stop\")
   |          ^^^^^^|^^^^^^
   |                `-------- raised here
---'
";
    assert_eq!(trim_line_ends(&repl.enter("y: 1; z: error(\"stop\")")), raised);
    assert!(repl.enter("y").starts_with("[R004] Error: `y` is not defined\n"));
    assert_eq!(repl.enter("x: 2"), "");
    assert_eq!(repl.enter("x * 3"), "6\n");
}

#[test]
fn a_section_header_opens_a_section() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("name: \"api\""), "");
    assert_eq!(repl.enter("[server]"), "");
    assert_eq!(repl.enter("host: \"0.0.0.0\""), "");
    assert_eq!(repl.enter("url: \"http://${host}/${name}\""), "");
    assert_eq!(repl.enter("server"), "{\"host\": \"0.0.0.0\", \"url\": \"http://0.0.0.0/api\"}\n");
    assert_eq!(repl.enter("[server.tls]"), "");
    assert_eq!(repl.enter("enabled: true"), "");
    assert_eq!(repl.enter("server.tls.enabled"), "true\n");
    // An array of one name is written with a trailing comma.
    assert_eq!(repl.enter("[name,]"), "[\"api\"]\n");
}

#[test]
fn load_evaluates_a_file_as_tusk_file_does() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("db.tsk"), "[database]\nhost: \"x\"\nurl: \"pg://${host}\"\n").unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/web_service.tsk");
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter(":load db.tsk"), "loaded db.tsk: database\n");
    assert_eq!(repl.enter("database.url"), "\"pg://x\"\n");
    let loaded = repl.enter(&format!(":load {}", example.display()));
    assert_eq!(
        loaded,
        format!("loaded {}: name, stage, version, server, database, cache, logging, rate_limit\n", example.display())
    );
    assert_eq!(repl.enter("server.port"), "8080\n");
    assert_eq!(repl.enter("server.timeouts.write_ms"), "15000\n");
    assert_eq!(repl.enter("database.pool_size"), "8\n");
    assert_eq!(repl.enter("workers: server.workers + 1"), "");
    assert_eq!(repl.enter("workers"), "3\n");
}

#[test]
fn tab_completes_file_names_after_load() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("settings_for_tab.tsk"), "answer: 42\n").unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    repl.type_keys(":load settings_for\t");
    repl.session.exp_string("settings_for_tab.tsk").unwrap();
    assert_eq!(repl.enter(""), "loaded settings_for_tab.tsk: answer\n");
    assert_eq!(repl.enter("answer"), "42\n");
}

#[test]
fn quit_is_not_kept_in_the_history() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("6 * 7"), "42\n");
    assert_eq!(repl.enter(":help zzz"), "no operator, function or name `zzz`\n");
    repl.session.send_line(":quit").unwrap();
    assert_eq!(repl.exit_code(), 0);
    let history = std::fs::read_to_string(dir.path().join("data/tusk/history")).unwrap();
    let entries: Vec<&str> = history.lines().filter(|line| !line.starts_with('#')).collect();
    assert_eq!(entries, ["6 * 7", ":help zzz"]);
}

#[test]
fn load_evaluates_a_file_into_the_session_and_reset_forgets_it() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("lib.tsk"), "base: 10\nscale: n => n * base\n").unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter(":load lib.tsk"), "loaded lib.tsk: base, scale\n");
    assert_eq!(repl.enter("scale(4)"), "40\n");
    assert_eq!(repl.enter(":reset"), "session reset\n");
    assert!(repl.enter("base").starts_with("[R004] Error: `base` is not defined\n"));
    assert_eq!(
        repl.enter(":load missing.tsk"),
        "Error: cannot read missing.tsk: No such file or directory (os error 2)\n"
    );
}

#[test]
fn ctrl_d_leaves_and_history_persists_across_sessions() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &[]);
    assert_eq!(repl.enter("6 * 7"), "42\n");
    repl.session.send_control('d').unwrap();
    assert_eq!(repl.exit_code(), 0);

    let history = std::fs::read_to_string(dir.path().join("data/tusk/history")).unwrap();
    assert!(history.lines().any(|line| line == "6 * 7"), "{history:?}");

    let mut repl = Repl::start(dir.path(), &["repl"]);
    // The up arrow recalls the entry of the previous session.
    repl.type_keys("\x1b[A");
    repl.session.exp_string("6 * 7").unwrap();
    assert_eq!(repl.enter(""), "42\n");
}

#[test]
fn history_that_cannot_be_saved_does_not_crash() {
    let dir = TempDir::new().unwrap();
    // The data directory is a file, so the history directory cannot be created.
    std::fs::write(dir.path().join("data"), "not a directory").unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter("1"), "1\n");
    repl.session.send_line(":quit").unwrap();
    let rest = repl.session.exp_eof().unwrap();
    assert!(rest.contains("tusk: could not save history to "), "{rest:?}");
    assert!(matches!(repl.session.process().wait().unwrap(), WaitStatus::Exited(_, 0)));
}

#[test]
fn a_dumb_terminal_gets_no_colour() {
    let dir = TempDir::new().unwrap();
    for (term, coloured) in [("dumb", false), ("xterm", true)] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tusk"));
        command.args(["-e", "nope"]).current_dir(dir.path()).env("TERM", term).env_remove("NO_COLOR");
        command.env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
        let options = Options::new().timeout_ms(Some(20_000)).strip_ansi_escape_codes(false);
        let mut session = spawn_with_options(command, options).unwrap();
        let output = session.exp_eof().unwrap();
        assert!(output.contains("`nope` is not defined"), "{output:?}");
        assert_eq!(output.contains('\x1b'), coloured, "TERM={term}: {output:?}");
    }
}

#[test]
fn highlighting_colours_tokens_when_colour_is_on() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start_with(dir.path(), &["repl", "--color", "always"], false);
    repl.session.send_line("@env(\"HOME_NOT_SET_HERE\", 8)").unwrap();
    let raw = repl.session.exp_string("\x1b[33m8\x1b[0m").unwrap();
    assert!(raw.contains("\x1b[36m@env\x1b[0m"), "{raw:?}");
    assert!(raw.contains("\x1b[32m\"HOME_NOT_SET_HERE\"\x1b[0m"), "{raw:?}");
}

#[test]
fn serve_runs_the_sessions_timers_until_none_is_left() {
    let dir = TempDir::new().unwrap();
    let mut repl = Repl::start(dir.path(), &["repl"]);
    assert_eq!(repl.enter(":serve"), "nothing to serve: no timer or plugin service is running\n");
    repl.enter("ticker: @every(\"20ms\", () => print(\"tick\"))");
    // Timers count from when they are made: the ticks before `:serve` come at once, the rest
    // on time.
    repl.enter("stop: @after(\"300ms\", () => @cancel(ticker))");
    let output = repl.enter(":serve");
    let ticks = output.lines().filter(|line| *line == "tick").count();
    assert!(ticks >= 3, "{output:?}");
    assert!(output.ends_with("served: no timer or plugin service is left\n"), "{output:?}");
    // The session goes on.
    assert_eq!(repl.enter("1 + 1"), "2\n");
}
