//! `tusk lsp`: a language server on standard input and output (JSON-RPC with `Content-Length`
//! headers, the Language Server Protocol's base protocol), for any editor.
//!
//! It offers diagnostics (what `tusk check` reports: parse and evaluation errors and warnings,
//! without side effects, published on open, change and save), hover (the documentation of
//! `@operators`, functions and the language's operators, and where an entry is defined),
//! completion (operators after `@`, functions, the file's names and globals, keywords) and go to
//! definition (entries, members such as `server.port`, lambda parameters, `$globals`, and the
//! file and key that `@other.tsk.get("key")` or `@file.read("path")` reads).
//!
//! The protocol is a handful of JSON messages, written here with serde_json rather than with
//! lsp-server and lsp-types (about twenty more packages to build for the same few messages).
//! Documents are synchronised in full; positions are UTF-16 code units, as the protocol's
//! default requires.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use tusk::analysis::Target;
use tusk::syntax::TokenKind;
use tusk::{Diagnostic, Severity, SymbolKind};

use crate::commands::{Context, Status, absolute};

/// An open document: its text as the editor has it.
struct Document {
    text: String,
}

struct Server<'c> {
    context: &'c Context,
    documents: HashMap<String, Document>,
    output: std::io::Stdout,
    shutdown_requested: bool,
}

/// Runs the server until the client sends `exit` (exit code 0 after `shutdown`, 1 without) or
/// closes standard input.
pub fn lsp(context: &Context) -> anyhow::Result<Status> {
    let mut server =
        Server { context, documents: HashMap::new(), output: std::io::stdout(), shutdown_requested: false };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let message = match read_message(&mut input) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(if server.shutdown_requested { Status::Success } else { Status::ScriptError }),
            Err(error) => {
                server.send(&json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32700, "message": format!("cannot read the message: {error}")}}))?;
                continue;
            }
        };
        if message.get("method").and_then(Json::as_str) == Some("exit") {
            return Ok(if server.shutdown_requested { Status::Success } else { Status::ScriptError });
        }
        server.handle(&message)?;
    }
}

/// One message: `Content-Length: N` (and perhaps other headers), a blank line, N bytes of JSON.
/// `None` at the end of the input.
fn read_message(input: &mut impl BufRead) -> std::io::Result<Option<Json>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            if length.is_some() {
                break;
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.unwrap_or(0);
    // A message larger than this is not an editor's; refusing it keeps a bad header from
    // allocating without bound.
    if length > 256 << 20 {
        return Err(std::io::Error::other(format!("a message of {length} bytes is too large")));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body).map(Some).map_err(std::io::Error::other)
}

impl Server<'_> {
    fn send(&mut self, message: &Json) -> std::io::Result<()> {
        let body = message.to_string();
        let mut output = self.output.lock();
        write!(output, "Content-Length: {}\r\n\r\n{body}", body.len())?;
        output.flush()
    }

    fn respond(&mut self, id: &Json, result: Json) -> std::io::Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }

    fn handle(&mut self, message: &Json) -> std::io::Result<()> {
        let method = message.get("method").and_then(Json::as_str).unwrap_or_default();
        let params = message.get("params").cloned().unwrap_or(Json::Null);
        let id = message.get("id");
        match (method, id) {
            ("initialize", Some(id)) => self.respond(
                id,
                json!({
                    "capabilities": {
                        "textDocumentSync": {"openClose": true, "change": 1, "save": {"includeText": false}},
                        "hoverProvider": true,
                        "completionProvider": {"triggerCharacters": ["@", "$"]},
                        "definitionProvider": true,
                    },
                    "serverInfo": {"name": "tusk", "version": env!("CARGO_PKG_VERSION")},
                }),
            ),
            ("shutdown", Some(id)) => {
                self.shutdown_requested = true;
                self.respond(id, Json::Null)
            }
            ("textDocument/didOpen", None) => {
                let document = &params["textDocument"];
                if let (Some(uri), Some(text)) = (document["uri"].as_str(), document["text"].as_str()) {
                    self.documents.insert(uri.to_string(), Document { text: text.to_string() });
                    self.publish(uri)?;
                }
                Ok(())
            }
            ("textDocument/didChange", None) => {
                let uri = params["textDocument"]["uri"].as_str().unwrap_or_default().to_string();
                // Full synchronisation: the last change holds the whole text.
                let text = params["contentChanges"]
                    .as_array()
                    .and_then(|changes| changes.last())
                    .and_then(|c| c["text"].as_str());
                if let Some(text) = text {
                    self.documents.insert(uri.clone(), Document { text: text.to_string() });
                    self.publish(&uri)?;
                }
                Ok(())
            }
            ("textDocument/didSave", None) => {
                // Other files may have changed what this one reads: check every open document.
                let uris: Vec<String> = self.documents.keys().cloned().collect();
                for uri in uris {
                    self.publish(&uri)?;
                }
                Ok(())
            }
            ("textDocument/didClose", None) => {
                if let Some(uri) = params["textDocument"]["uri"].as_str() {
                    self.documents.remove(uri);
                    let uri = uri.to_string();
                    self.send(&json!({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                        "params": {"uri": uri, "diagnostics": []}}))?;
                }
                Ok(())
            }
            ("textDocument/hover", Some(id)) => {
                let result = self.hover(&params).unwrap_or(Json::Null);
                self.respond(id, result)
            }
            ("textDocument/completion", Some(id)) => {
                let result = self.completion(&params).unwrap_or_else(|| json!([]));
                self.respond(id, result)
            }
            ("textDocument/definition", Some(id)) => {
                let result = self.definition(&params).unwrap_or(Json::Null);
                self.respond(id, result)
            }
            (_, Some(id)) => self.send(&json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("`{method}` is not supported")}})),
            // Notifications nobody needs an answer to (`initialized`, `$/cancelRequest`, …).
            (_, None) => Ok(()),
        }
    }

    /// The text of a document: the editor's copy when it is open, else the file.
    fn text_of(&self, uri: &str) -> Option<String> {
        match self.documents.get(uri) {
            Some(document) => Some(document.text.clone()),
            None => std::fs::read_to_string(uri_to_path(uri)?).ok(),
        }
    }

    /// The document and the byte offset of a request's `position`.
    fn position(&self, params: &Json) -> Option<(String, String, usize)> {
        let uri = params["textDocument"]["uri"].as_str()?.to_string();
        let text = self.text_of(&uri)?;
        let line = params["position"]["line"].as_u64()? as usize;
        let character = params["position"]["character"].as_u64()? as usize;
        let offset = offset_of(&text, line, character);
        Some((uri, text, offset))
    }

    /// Checks a document as `tusk check` would (no side effects) and sends its diagnostics.
    fn publish(&mut self, uri: &str) -> std::io::Result<()> {
        let Some(document) = self.documents.get(uri) else { return Ok(()) };
        let text = document.text.clone();
        let path = uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.tsk"));
        let directory = path.parent().map(absolute).unwrap_or_else(|| absolute(Path::new(".")));
        let name = path.display().to_string();
        let diagnostics = match self.context.engine(&directory) {
            Ok(mut engine) => {
                engine.options_mut().dry_run = true;
                let found = match engine.eval_named(&name, &text, Some(&directory)) {
                    Ok(document) => document.warnings().to_vec(),
                    Err(tusk::Error::Script(diagnostics)) => diagnostics,
                    Err(error @ tusk::Error::Io { .. }) => vec![Diagnostic::error(error.to_string())],
                };
                let converted: Vec<Json> = found
                    .iter()
                    .map(|diagnostic| to_lsp_diagnostic(diagnostic, &name, &text, engine.sources()))
                    .collect();
                release(engine);
                converted
            }
            Err(_) => vec![json!({
                "range": range(&text, 0, 0), "severity": 1, "source": "tusk",
                "message": "the grants file cannot be read; `tusk check` says why",
            })],
        };
        self.send(&json!({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
            "params": {"uri": uri, "diagnostics": diagnostics}}))
    }

    fn hover(&self, params: &Json) -> Option<Json> {
        let (uri, text, offset) = self.position(params)?;
        let lexed = tusk::syntax::lex(&text);
        let token = lexed.tokens.iter().find(|token| {
            (token.span.start as usize) <= offset
                && offset < token.span.end as usize
                && token.kind != TokenKind::Newline
        })?;
        let word = &text[token.span.range()];
        let markdown = match token.kind {
            TokenKind::Operator => {
                let engine = self.engine_for(&uri)?;
                let name = word.trim_start_matches('@');
                let text = engine.operator(name).map(|symbol| symbol_doc(symbol));
                release(engine);
                text?
            }
            TokenKind::Name => {
                let engine = self.engine_for(&uri)?;
                let function = engine.function(word).map(|symbol| symbol_doc(symbol));
                release(engine);
                match tusk::analysis::definition_at(&text, offset as u32) {
                    Some(Target::Here(span)) if span.start != token.span.start => {
                        let (line, _) = position_of(&text, span.start as usize);
                        let source_line = text.lines().nth(line).unwrap_or_default().trim();
                        format!("`{word}`, defined on line {}:\n```tusk\n{source_line}\n```", line + 1)
                    }
                    _ => function?,
                }
            }
            kind => language_operator_doc(kind)?.to_string(),
        };
        Some(json!({
            "contents": {"kind": "markdown", "value": markdown},
            "range": range(&text, token.span.start as usize, token.span.end as usize),
        }))
    }

    fn completion(&self, params: &Json) -> Option<Json> {
        let (uri, text, offset) = self.position(params)?;
        let before = &text[..offset];
        let word_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '$')))
            .map_or(0, |position| position + 1);
        let word = &before[word_start..];
        let replace = range(&text, word_start, offset);
        let engine = self.engine_for(&uri)?;
        let mut items = Vec::new();
        let item = |label: String, kind: u32, detail: String, documentation: String| {
            json!({"label": label, "kind": kind, "detail": detail, "documentation": documentation,
                   "textEdit": {"range": replace, "newText": label}, "filterText": label})
        };
        if word.starts_with('@') {
            for symbol in engine.symbols().into_iter().filter(|symbol| symbol.kind == SymbolKind::Operator) {
                let label = format!("@{}", symbol.name);
                items.push(item(label, 24, symbol.doc.signature.clone(), symbol.doc.summary.clone()));
            }
        } else {
            let definitions = tusk::analysis::definitions(&text);
            let mut seen = std::collections::HashSet::new();
            for definition in &definitions {
                let Some(last) = definition.path.last() else { continue };
                if last.starts_with('[') || !seen.insert(last.clone()) {
                    continue;
                }
                let (kind, detail) = if last.starts_with('$') {
                    (6, "global".to_string())
                } else {
                    (10, format!("entry {}", definition.path.join(".")))
                };
                items.push(item(last.clone(), kind, detail, String::new()));
            }
            if !word.starts_with('$') {
                for symbol in engine.symbols().into_iter().filter(|symbol| symbol.kind != SymbolKind::Operator) {
                    items.push(item(
                        symbol.name.to_string(),
                        3,
                        symbol.doc.signature.clone(),
                        symbol.doc.summary.clone(),
                    ));
                }
                for keyword in ["true", "false", "null"] {
                    items.push(item(keyword.to_string(), 14, "keyword".to_string(), String::new()));
                }
            }
        }
        release(engine);
        Some(json!({"isIncomplete": false, "items": items}))
    }

    fn definition(&self, params: &Json) -> Option<Json> {
        let (uri, text, offset) = self.position(params)?;
        match tusk::analysis::definition_at(&text, offset as u32)? {
            Target::Here(span) => {
                Some(json!({"uri": uri, "range": range(&text, span.start as usize, span.end as usize)}))
            }
            Target::File { path, key } => {
                let base = uri_to_path(&uri)?;
                let file = base.parent().unwrap_or(Path::new(".")).join(&path);
                let target_uri = path_to_uri(&absolute(&file));
                let target_text = self.text_of(&target_uri).unwrap_or_default();
                let span = key.and_then(|key| tusk::analysis::find_path(&target_text, &key));
                let target_range = match span {
                    Some(span) => range(&target_text, span.start as usize, span.end as usize),
                    None => range(&target_text, 0, 0),
                };
                Some(json!({"uri": target_uri, "range": target_range}))
            }
        }
    }

    /// An engine for the document's folder: its plugins' symbols are what it can call.
    fn engine_for(&self, uri: &str) -> Option<crate::commands::CommandEngine> {
        let path = uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.tsk"));
        let directory = path.parent().map(absolute).unwrap_or_else(|| absolute(Path::new(".")));
        self.context.engine(&directory).ok()
    }
}

/// Drops an engine for good: a command's engine is leaked at exit to save time, which a
/// server making one per request must not do.
fn release(mut engine: crate::commands::CommandEngine) {
    drop(engine.0.take());
}

/// Markdown for an operator or function: signature, summary, examples and plugin.
fn symbol_doc(symbol: &tusk::Symbol) -> String {
    let doc = &symbol.doc;
    // A plugin that is not loaded yet is a stub that knows its name, not its documentation
    // (loading it to ask would run its code on a hover).
    if doc.signature.is_empty() && doc.summary.is_empty() {
        let name =
            if symbol.kind == SymbolKind::Operator { format!("@{}", symbol.name) } else { symbol.name.to_string() };
        return format!(
            "```tusk\n{name}\n```\n\nFrom the `{plugin}` plugin, which is loaded on first use; \
             `tusk plugin docs {plugin}` shows its documentation.",
            plugin = symbol.plugin
        );
    }
    let mut text = format!("```tusk\n{}\n```\n", doc.signature);
    if !doc.summary.is_empty() {
        text.push_str(&format!("\n{}\n", doc.summary));
    }
    if !doc.examples.is_empty() {
        text.push_str("\nExamples:\n");
        for example in &doc.examples {
            text.push_str(&format!("- `{example}`\n"));
        }
    }
    let effects = if symbol.side_effects { "; has side effects (not run by `tusk check`)" } else { "" };
    text.push_str(&format!("\nFrom the `{}` plugin{effects}.", symbol.plugin));
    text
}

/// What the language's own operators do, for hover.
fn language_operator_doc(kind: TokenKind) -> Option<&'static str> {
    Some(match kind {
        TokenKind::Plus => {
            "`a + b`: adds numbers; concatenates when either side is a string, and two arrays; merges two objects (the right one wins)"
        }
        TokenKind::Minus => "`a - b`: subtraction (needs a space before `-`: `a-b` is one name); `-x` negates",
        TokenKind::Star => "`a * b`: multiplication (numbers only)",
        TokenKind::Slash => {
            "`a / b`: division; two ints give an int when it is exact, else a float; a zero divisor is an error"
        }
        TokenKind::Percent => "`a % b`: the truncated remainder, with the sign of `a`",
        TokenKind::EqEq => "`a == b`: deep equality",
        TokenKind::NotEq => "`a != b`: deep inequality",
        TokenKind::Lt | TokenKind::LtEq | TokenKind::Gt | TokenKind::GtEq => "comparison of two numbers or two strings",
        TokenKind::AndAnd => "`a && b`: true when both are truthy (`b` is evaluated only when `a` is)",
        TokenKind::OrOr => "`a || b`: `a` if it is truthy, else `b` (evaluated only then)",
        TokenKind::Bang => "`!x`: true when `x` is falsy",
        TokenKind::Question => "`c ? a : b`: `a` when `c` is truthy, else `b`",
        TokenKind::Arrow => "`x => body`, `(a, b) => body`: a lambda",
        TokenKind::Range => "a range literal: the integers from the first number to the second, both included",
        TokenKind::Colon | TokenKind::Assign => "`key: value` and `key = value` define an entry",
        _ => return None,
    })
}

/// A diagnostic of the file `name` in LSP form. A diagnostic located in another file (one this
/// file reads) is shown at the start of this file, naming where it is.
fn to_lsp_diagnostic(diagnostic: &Diagnostic, name: &str, text: &str, sources: &tusk::SourceMap) -> Json {
    let mut message = diagnostic.message.clone();
    let here = diagnostic
        .primary
        .as_ref()
        .filter(|label| sources.try_get(label.location.source).is_some_and(|file| file.name == name));
    let diagnostic_range = match (here, &diagnostic.primary) {
        (Some(label), _) => range(text, label.location.span.start as usize, label.location.span.end as usize),
        (None, Some(label)) => {
            message = format!("{} (in {})", message, sources.describe(label.location));
            range(text, 0, 0)
        }
        (None, None) => range(text, 0, 0),
    };
    for note in &diagnostic.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<Json> = diagnostic
        .secondary
        .iter()
        .filter_map(|label| {
            let file = sources.try_get(label.location.source)?;
            let path = absolute(Path::new(&file.name));
            let span = label.location.span;
            Some(json!({
                "location": {"uri": path_to_uri(&path), "range": range(&file.text, span.start as usize, span.end as usize)},
                "message": label.message,
            }))
        })
        .collect();
    json!({
        "range": diagnostic_range,
        "severity": if diagnostic.severity == Severity::Error { 1 } else { 2 },
        "code": diagnostic.code,
        "source": "tusk",
        "message": message,
        "relatedInformation": related,
    })
}

/// The LSP position (line, UTF-16 character) of a byte offset.
fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |position| position + 1);
    let line = text[..line_start].matches('\n').count();
    let character = text[line_start..offset].chars().map(char::len_utf16).sum();
    (line, character)
}

fn range(text: &str, start: usize, end: usize) -> Json {
    let (start_line, start_character) = position_of(text, start);
    let (end_line, end_character) = position_of(text, end);
    json!({"start": {"line": start_line, "character": start_character},
           "end": {"line": end_line, "character": end_character}})
}

/// The byte offset of an LSP position (clamped to its line and to the text).
fn offset_of(text: &str, line: usize, character: usize) -> usize {
    let mut line_start = 0;
    for _ in 0..line {
        match text[line_start..].find('\n') {
            Some(position) => line_start += position + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |position| line_start + position);
    let mut units = 0;
    for (index, c) in text[line_start..line_end].char_indices() {
        if units >= character {
            return line_start + index;
        }
        units += c.len_utf16();
    }
    line_end
}

/// `file:///a%20b/c.tsk` as `/a b/c.tsk`; `None` for other schemes.
fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = rest.get(index + 1..index + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    Some(PathBuf::from(String::from_utf8(decoded).ok()?))
}

/// A path as a `file://` URI, percent-encoding what URIs do not allow in a path.
fn path_to_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "a: \"é😀\"\nb: 1\n";
        assert_eq!(position_of(text, 10), (0, 7));
        assert_eq!(offset_of(text, 0, 7), 10);
        assert_eq!(offset_of(text, 1, 0), 12);
        assert_eq!(offset_of(text, 1, 99), 16);
        assert_eq!(offset_of(text, 9, 0), text.len());
    }

    #[test]
    fn uris_and_paths() {
        assert_eq!(uri_to_path("file:///tmp/a%20b/c.tsk"), Some(PathBuf::from("/tmp/a b/c.tsk")));
        assert_eq!(path_to_uri(Path::new("/tmp/a b/c.tsk")), "file:///tmp/a%20b/c.tsk");
        assert_eq!(uri_to_path("untitled:1"), None);
    }
}
