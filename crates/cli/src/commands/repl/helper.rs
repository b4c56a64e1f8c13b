//! The line editor's helper: tab completion of operators, functions, REPL commands and the
//! session's names (including keys of nested objects after a `.`), and syntax highlighting
//! from the lexer's tokens.
//!
//! The helper owns a snapshot of what it completes (symbol names, the session document), which
//! the REPL refreshes after every entry: rustyline holds the helper while the engine is in use
//! elsewhere, so the helper cannot borrow the engine.

use std::borrow::Cow;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::{Context, Helper, Hinter, Validator};
use tusk::syntax::TokenKind;
use tusk::{Document, Value};

/// The REPL commands, for completion and `:help`.
pub const COMMANDS: &[(&str, &str)] = &[
    (":help", "list the commands; `:help @op` or `:help name` shows an operator's or function's documentation"),
    (":load FILE", "evaluate a file into the session"),
    (":reset", "forget every name defined in this session"),
    (":reload [NAME]", "reload changed plugin libraries now (every loaded plugin, or NAME)"),
    (":serve", "run the session's timers and plugin services until none is left or Ctrl-C"),
    (":quit", "leave (Ctrl-D does too)"),
];

const KEYWORDS: &[&str] = &["true", "false", "null"];

/// Completion and highlighting for the REPL.
#[derive(Helper, Hinter, Validator)]
pub struct ReplHelper {
    /// `@env`, `@file.read`, … (sorted).
    pub operators: Vec<String>,
    /// `len`, `map`, … (sorted).
    pub functions: Vec<String>,
    /// What the session has defined so far.
    pub document: Option<Document>,
    /// Whether to colour the line being edited.
    pub color: bool,
    files: FilenameCompleter,
}

impl ReplHelper {
    /// A helper with no names yet.
    pub fn new(color: bool) -> ReplHelper {
        ReplHelper {
            operators: Vec::new(),
            functions: Vec::new(),
            document: None,
            color,
            files: FilenameCompleter::new(),
        }
    }

    /// Every name that can complete `word` (the text before the cursor that completion
    /// replaces), sorted and without duplicates.
    pub fn candidates(&self, word: &str) -> Vec<String> {
        let mut names: Vec<String> = if word.starts_with('@') {
            self.operators.iter().filter(|name| name.starts_with(word)).cloned().collect()
        } else if let Some((path, last)) = word.rsplit_once('.') {
            // `server.po` completes the keys of the session's `server` object.
            let keys = self.object_keys(path);
            keys.into_iter().filter(|key| key.starts_with(last)).map(|key| format!("{path}.{key}")).collect()
        } else {
            let session_names = self.object_keys("");
            KEYWORDS
                .iter()
                .map(|keyword| keyword.to_string())
                .chain(self.functions.iter().cloned())
                .chain(session_names)
                .filter(|name| name.starts_with(word))
                .collect()
        };
        names.sort();
        names.dedup();
        names
    }

    fn object_keys(&self, path: &str) -> Vec<String> {
        let Some(document) = &self.document else { return Vec::new() };
        match document.get(path) {
            Some(Value::Object(object)) => object.iter().map(|(key, _)| key.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Where the word being completed starts: after the last character that cannot be part of a
/// name, an operator path or a member path.
fn word_start(before_cursor: &str) -> usize {
    before_cursor
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '$')))
        .map_or(0, |(index, c)| index + c.len_utf8())
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before_cursor = &line[..pos];
        if before_cursor.starts_with(":load ") {
            return self.files.complete(line, pos, ctx);
        }
        if before_cursor.starts_with(':') && !before_cursor.contains(' ') {
            let commands = COMMANDS
                .iter()
                .map(|(usage, _)| usage.split(' ').next().unwrap_or(usage))
                .filter(|command| command.starts_with(before_cursor))
                .map(|command| Pair { display: command.to_string(), replacement: format!("{command} ") })
                .collect();
            return Ok((0, commands));
        }
        let start = word_start(before_cursor);
        let word = &before_cursor[start..];
        if word.starts_with('$') {
            return Ok((start, Vec::new()));
        }
        let pairs =
            self.candidates(word).into_iter().map(|name| Pair { display: name.clone(), replacement: name }).collect();
        Ok((start, pairs))
    }
}

const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const KEYWORD: &str = "\x1b[35m";
const OPERATOR: &str = "\x1b[36m";
const GLOBAL: &str = "\x1b[34m";
const ERROR: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// The colour of a token kind; `None` leaves it plain (names, punctuation).
fn token_color(kind: TokenKind) -> Option<&'static str> {
    use TokenKind::*;
    match kind {
        Str | RawStr | Heredoc | StrStart | StrText | StrEnd => Some(STRING),
        Int | Float | Range | DateLike => Some(NUMBER),
        True | False | Null => Some(KEYWORD),
        Operator => Some(OPERATOR),
        Global => Some(GLOBAL),
        Error => Some(ERROR),
        _ => None,
    }
}

/// The line with ANSI colours around strings, numbers, keywords, `@operators` and `$globals`.
/// Comments are not tokens, so they stay plain, as does anything between tokens.
pub fn highlight_line(line: &str) -> String {
    let lexed = tusk::syntax::lex(line);
    let mut out = String::with_capacity(line.len() * 2);
    let mut written = 0;
    for token in &lexed.tokens {
        let (start, end) = (token.span.start as usize, token.span.end as usize);
        let Some(color) = token_color(token.kind) else { continue };
        // Spans come from this very line, but a token that overlaps what was already written,
        // or does not fall on character boundaries, is skipped rather than trusted.
        if start < written || end > line.len() || !line.is_char_boundary(start) || !line.is_char_boundary(end) {
            continue;
        }
        out.push_str(&line[written..start]);
        out.push_str(color);
        out.push_str(&line[start..end]);
        out.push_str(RESET);
        written = end;
    }
    out.push_str(&line[written..]);
    out
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color { Cow::Owned(highlight_line(line)) } else { Cow::Borrowed(line) }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // Any typed character can change the colour of what precedes it (closing a string),
        // so every edit repaints the line.
        self.color
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_strings_numbers_keywords_operators_and_globals() {
        let highlighted = highlight_line(r#"a: @env("X", 8) + $g || true # note"#);
        assert_eq!(
            highlighted,
            "a: \x1b[36m@env\x1b[0m(\x1b[32m\"X\"\x1b[0m, \x1b[33m8\x1b[0m) + \x1b[34m$g\x1b[0m || \
             \x1b[35mtrue\x1b[0m # note"
        );
    }

    #[test]
    fn completes_operators_functions_and_session_keys() {
        let mut helper = ReplHelper::new(false);
        helper.operators = vec!["@env".to_string(), "@file".to_string(), "@file.read".to_string()];
        helper.functions = vec!["filter".to_string(), "len".to_string()];
        helper.document = Some(tusk::Engine::new().eval_str("server { port: 80, path: \"/\" }\nfirst: 1\n").unwrap());
        assert_eq!(helper.candidates("@fi"), ["@file", "@file.read"]);
        assert_eq!(helper.candidates("fi"), ["filter", "first"]);
        assert_eq!(helper.candidates("server.p"), ["server.path", "server.port"]);
        assert_eq!(helper.candidates("nu"), ["null"]);
        assert_eq!(word_start("x: len(serv"), 7);
    }
}
