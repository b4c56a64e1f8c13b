//! `tusk serve FILE|DIR`: TuskLang API files as HTTP endpoints.
//!
//! An API file (its first line is `#!api`) reads the request through `@request` (`method`,
//! `path`, `query`, `headers`, `cookies`, `body`, `text`, `ip`, `user_agent`, `timestamp`) and
//! answers with its last bare expression, typically `@json({...})`, or with its whole
//! document when it ends with an entry. A directory maps `/a/b` to `a/b.tsk` (or
//! `a/b/index.tsk`) and `/` to `index.tsk`; files without `#!api`, hidden files and paths
//! with `..` are not served. A single FILE answers every path (the `#!api` line is optional).
//!
//! The server is the http plugin's, so axum and tokio stay out of this binary: `tusk serve`
//! evaluates a small program, `@http.serve({routes: {"/*path": request =>
//! tusk_serve_answer(request)}})`, whose handler is a native function registered here. It
//! finds the file, compiles it (once per modification time and size: edits are picked up on
//! the next request), runs it with `@request` bound to the request, and turns the result
//! into the response. Errors in a file are written to standard error with their location and
//! answered with a 500.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use tusk::events::{Compiled, Failure, Runtime, render_all};
use tusk::{CallContext, Key, Object, RenderOptions, RuntimeError, Value};

use crate::cli::ServeArgs;
use crate::commands::{Context, Status, absolute};
use crate::{interrupt, output};

/// The entry an API file's last bare expression becomes.
const RESPONSE_KEY: &str = "tusk_serve_response";
/// The native function the generated route calls.
const ANSWER_FUNCTION: &str = "tusk_serve_answer";

/// Runs the command: until Ctrl-C or SIGTERM, which end it with 0.
pub fn serve(context: &Context, args: &ServeArgs) -> anyhow::Result<Status> {
    let root = absolute(&args.path);
    let metadata = match std::fs::metadata(&root) {
        Ok(metadata) => metadata,
        Err(error) => {
            output::write_stderr(&format!("Error: cannot serve {}: {error}\n", args.path.display()));
            return Ok(Status::UsageOrIo);
        }
    };
    if !args.host.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)) {
        output::write_stderr(&format!("Error: `{}` is not a host name or address\n", args.host));
        return Ok(Status::UsageOrIo);
    }
    let folder =
        if metadata.is_dir() { root.clone() } else { root.parent().map(Path::to_path_buf).unwrap_or_default() };
    let mut engine = match context.engine(&folder) {
        Ok(engine) => engine,
        Err(status) => return Ok(status),
    };
    if engine.operator("http.serve").is_none() {
        output::write_stderr(
            "Error: `tusk serve` needs the http plugin, which is not installed\n\
             help: install it with `tusk plugin install stdlib-plugins/http` (from the tusk sources), or put it on TUSK_PLUGIN_PATH\n",
        );
        return Ok(Status::UsageOrIo);
    }
    let site = Rc::new(Site {
        root,
        single_file: !metadata.is_dir(),
        request: RefCell::new(None),
        cache: RefCell::new(HashMap::new()),
        color: context.stderr_color,
        quiet: context.global().quiet,
    });
    let current = site.clone();
    engine.register_operator("request", move |_ctx, args| {
        if !args.is_empty() {
            return Err(RuntimeError::message(
                "@request takes no arguments: read its parts as @request.method, @request.query.page, …",
            ));
        }
        current
            .request
            .borrow()
            .clone()
            .ok_or_else(|| RuntimeError::message("@request exists only while `tusk serve` answers a request"))
    })?;
    let answering = site.clone();
    engine.register_function(ANSWER_FUNCTION, move |ctx, args| Ok(answering.answer(ctx, args.first())))?;
    let program = format!(
        "server: @http.serve({{port: {}, host: \"{}\", routes: {{\"/*path\": request => {ANSWER_FUNCTION}(request)}}}})\n",
        args.port, args.host
    );
    let document = match engine.eval_named("<tusk serve>", &program, Some(&folder)) {
        Ok(document) => document,
        Err(error) => return Ok(context.report(&engine, &error)),
    };
    let url = document
        .value()
        .as_object()
        .and_then(|document| document.get("server"))
        .and_then(Value::as_object)
        .and_then(|server| server.get("url"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    output::write_stderr(&format!("tusk serve: {url} answers with {} (Ctrl-C stops)\n", site.root.display()));
    engine.on_handler_error(context.stderr_color, output::write_stderr);
    interrupt::watch_services(engine.services());
    engine.run_services();
    interrupt::unwatch_services();
    Ok(Status::Success)
}

/// What the handler needs: where the files are, the request being answered, compiled files.
struct Site {
    root: PathBuf,
    single_file: bool,
    request: RefCell<Option<Value>>,
    cache: RefCell<HashMap<PathBuf, Cached>>,
    color: bool,
    quiet: bool,
}

/// A file compiled once, for as long as its modification time and size stay the same.
struct Cached {
    stamp: (Option<SystemTime>, u64),
    compiled: Compiled,
    /// True when the last bare expression is the answer (else the whole document is).
    has_response: bool,
}

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::from(entries.into_iter().map(|(key, value)| (Key::from(key), value)).collect::<Object>())
}

fn error_response(status: i64, message: &str) -> Value {
    object(vec![("status", Value::from(status)), ("body", object(vec![("error", Value::from(message))]))])
}

impl Site {
    fn answer(&self, ctx: &mut CallContext<'_, '_>, request: Option<&Value>) -> Value {
        let Some(request) = request else { return error_response(500, "no request") };
        let path = request.as_object().and_then(|r| r.get("path")).and_then(Value::as_str).unwrap_or("/");
        let Some(file) = self.file_for(path) else {
            return error_response(404, &format!("nothing is served at {path}"));
        };
        let runtime = ctx.runtime();
        let (compiled, has_response) = match self.compiled(runtime, &file) {
            Ok(Some(found)) => found,
            Ok(None) => return error_response(404, &format!("nothing is served at {path}")),
            Err(failure) => {
                self.report(runtime, &failure);
                return error_response(500, "internal server error");
            }
        };
        *self.request.borrow_mut() = Some(request.clone());
        let result = runtime.run(&compiled, None);
        self.request.borrow_mut().take();
        match result {
            Ok(evaluation) => {
                let document = evaluation.document;
                let value = match has_response {
                    true => document.get(RESPONSE_KEY).cloned().unwrap_or(Value::Null),
                    false => Value::from(document),
                };
                response_of(value)
            }
            Err(failure) => {
                self.report(runtime, &failure);
                error_response(500, "internal server error")
            }
        }
    }

    fn report(&self, runtime: &Runtime, failure: &Failure) {
        let diagnostics: Vec<_> =
            failure.diagnostics.iter().filter(|diagnostic| !self.quiet || diagnostic.is_error()).cloned().collect();
        let options = RenderOptions { color: self.color, unicode: self.color };
        output::write_stderr(&render_all(&diagnostics, runtime.sources(), options));
    }

    /// The file a request path names: the FILE itself, or under the folder.
    fn file_for(&self, path: &str) -> Option<PathBuf> {
        if self.single_file {
            return Some(self.root.clone());
        }
        let mut relative = PathBuf::new();
        for segment in path.split('/').filter(|segment| !segment.is_empty()) {
            let segment = percent_decode(segment)?;
            if segment.starts_with('.') || segment.contains(['\\', '\0']) {
                return None;
            }
            relative.push(segment);
        }
        if !relative.components().all(|component| matches!(component, Component::Normal(_))) {
            return None;
        }
        let base = self.root.join(&relative);
        let candidates = [base.with_extension("tsk"), base.join("index.tsk")];
        let candidates = if relative.as_os_str().is_empty() { &candidates[1..] } else { &candidates[..] };
        candidates.iter().find(|candidate| candidate.is_file()).cloned()
    }

    /// The compiled file (from the cache while it is unchanged); `None` for a file of a folder
    /// that is not an API file.
    fn compiled(&self, runtime: &mut Runtime, file: &Path) -> Result<Option<(Compiled, bool)>, Failure> {
        let io_failure = |message: String| Failure { diagnostics: vec![tusk::Diagnostic::error(message)] };
        let metadata =
            std::fs::metadata(file).map_err(|error| io_failure(format!("cannot read {}: {error}", file.display())))?;
        let stamp = (metadata.modified().ok(), metadata.len());
        if let Some(cached) = self.cache.borrow().get(file)
            && cached.stamp == stamp
        {
            return Ok(Some((cached.compiled.clone(), cached.has_response)));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|error| io_failure(format!("cannot read {}: {error}", file.display())))?;
        if !self.single_file && !text.starts_with("#!api") {
            return Ok(None);
        }
        let (text, has_response) = match with_response_key(&text) {
            Some(rewritten) => (rewritten, true),
            None => (text, false),
        };
        let source = runtime.add_source(file.display().to_string(), text);
        let compiled = runtime.compile_file(source, file)?;
        if !self.quiet && !compiled.warnings().is_empty() {
            let options = RenderOptions { color: self.color, unicode: self.color };
            output::write_stderr(&render_all(compiled.warnings(), runtime.sources(), options));
        }
        self.cache.borrow_mut().insert(file.to_path_buf(), Cached { stamp, compiled: compiled.clone(), has_response });
        Ok(Some((compiled, has_response)))
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The response for an API file's answer: a string that holds a JSON object or array (what
/// `@json({...})` makes) is sent as JSON text; anything else as the http plugin writes
/// handler results (objects as JSON, strings as text, `{status, headers, body}` as given).
fn response_of(value: Value) -> Value {
    if let Some(text) = value.as_str() {
        let trimmed = text.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
        {
            return object(vec![
                ("status", Value::from(200)),
                ("headers", object(vec![("content-type", Value::from("application/json"))])),
                ("body", value.clone()),
            ]);
        }
    }
    value
}

/// The source with its last statement given the key [`RESPONSE_KEY`] when that statement is a
/// bare expression (an API file's answer), else `None`. The key goes on the statement's own
/// line, so every line keeps its number.
fn with_response_key(text: &str) -> Option<String> {
    let mut offset = 0;
    let mut last_start = None;
    for line in text.split_inclusive('\n') {
        let starts_statement =
            line.chars().next().is_some_and(|first| !first.is_whitespace() && !"#}])<".contains(first));
        if starts_statement {
            last_start = Some((offset, line));
        }
        offset += line.len();
    }
    let (start, line) = last_start?;
    if is_entry(line) {
        return None;
    }
    Some(format!("{}{RESPONSE_KEY}: {}", &text[..start], &text[start..]))
}

/// True when a line opens an entry, block or section rather than an expression: `name:`,
/// `name =` (not `==`), `name {`, `name >`, `[section]`.
fn is_entry(line: &str) -> bool {
    let line = line.trim_end();
    if line.starts_with('[') {
        return true;
    }
    let name_end = line
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || "_-.$\"".contains(*c)))
        .map_or(line.len(), |(index, _)| index);
    if name_end == 0 {
        return false;
    }
    let rest = line[name_end..].trim_start();
    rest.starts_with(':') || (rest.starts_with('=') && !rest.starts_with("==")) || rest.starts_with('{') || rest == ">"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bare_expression_gets_the_response_key() {
        assert_eq!(
            with_response_key("#!api\na: 1\n@json({a: a})\n").as_deref(),
            Some("#!api\na: 1\ntusk_serve_response: @json({a: a})\n")
        );
        assert_eq!(
            with_response_key("a: 1\n@json({\n    x: a\n})\n# end\n").as_deref(),
            Some("a: 1\ntusk_serve_response: @json({\n    x: a\n})\n# end\n")
        );
        assert_eq!(with_response_key("r: 1\nr\n").as_deref(), Some("r: 1\ntusk_serve_response: r\n"));
        assert_eq!(
            with_response_key("f: 1\nf == \"html\" ? 1 : 2").as_deref(),
            Some("f: 1\ntusk_serve_response: f == \"html\" ? 1 : 2")
        );
        for entries in [
            "#!api\nmessage: \"x\"\nresult: @json({m: message})",
            "a = 1",
            "[s]\nk: v",
            "o {\n  a: 1\n}\n",
            "b >\n  c: 1\n<\n",
        ] {
            assert_eq!(with_response_key(entries), None, "{entries}");
        }
    }

    #[test]
    fn json_text_is_sent_as_json() {
        let response = response_of(Value::from("{\"a\":1}"));
        let headers = response.as_object().and_then(|o| o.get("headers")).and_then(Value::as_object).unwrap();
        assert_eq!(headers.get("content-type").and_then(Value::as_str), Some("application/json"));
        assert_eq!(response_of(Value::from("{not json")).as_str(), Some("{not json"));
        assert_eq!(response_of(Value::from("plain")).as_str(), Some("plain"));
    }

    #[test]
    fn paths_decode_and_never_climb() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%zz"), None);
        let site = Site {
            root: PathBuf::from("/nonexistent-root"),
            single_file: false,
            request: RefCell::new(None),
            cache: RefCell::new(HashMap::new()),
            color: false,
            quiet: true,
        };
        assert_eq!(site.file_for("/../etc/passwd"), None);
        assert_eq!(site.file_for("/%2e%2e/x"), None);
        assert_eq!(site.file_for("/.hidden"), None);
    }
}
