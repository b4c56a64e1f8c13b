//! The compiler: AST to IR.
//!
//! It resolves every name once, here, to a lambda local, a captured value, a module slot or a
//! registered function, so the interpreter never searches scopes. It also decides what is
//! constant (most of a config file is) and folds it into ready-made values.

mod names;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use tusk_diagnostics::{Diagnostic, Location, SourceId, Span, closest_name};
use tusk_parser::ValueBuilder;
use tusk_parser::ast::{self, BinaryOp, BuiltDocument, Expr, ExprKind, Item, ItemKind, Statement, StrPart, UnaryOp};

use crate::core::cross_file;
use crate::function::{Function, NativeFunction};
use crate::interp::{binary_op, unary_op};
use crate::ir::{Call, DocOp, LambdaProto, NativeCall, Node, ObjectEntry, Program, SymbolCall};
use crate::options::Mode;
use crate::registry::{Registry, Symbol};
use crate::value::{Key, Object, Value};

pub(crate) use names::CompileState;
use names::{Resolved, Scope};

/// Compiles one document or REPL line against the persistent `state`.
pub(crate) struct Compiler<'a> {
    registry: &'a Registry,
    source: SourceId,
    text: &'a str,
    mode: Mode,
    state: &'a mut CompileState,
    scopes: Vec<Scope>,
    lambda_depth: usize,
    position: u32,
    /// True when the parser recovered from errors, so values may hold `Invalid` parts (only
    /// then is it worth walking values to find them).
    recovered: bool,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// `$names` read that the source does not define where the read can see them: the host
    /// supplies them (or `@variable` sets them) when the program runs.
    globals_read: Vec<Key>,
    /// Key tables of closed blocks, emptied, for the next blocks to reuse: a config file has a
    /// block or object literal every few lines.
    spare_block_keys: Vec<names::BlockKeys>,
}

/// Operators the cross-file forms `@stem.tsk.get` / `.set` compile to.
pub(crate) const CROSS_FILE_GET: &str = "tsk.get";
pub(crate) const CROSS_FILE_SET: &str = "tsk.set";

impl<'a> Compiler<'a> {
    pub(crate) fn new(
        registry: &'a Registry,
        source: SourceId,
        text: &'a str,
        mode: Mode,
        state: &'a mut CompileState,
    ) -> Compiler<'a> {
        state.begin_unit();
        Compiler {
            registry,
            source,
            text,
            mode,
            state,
            scopes: Vec::new(),
            lambda_depth: 0,
            position: 0,
            recovered: false,
            diagnostics: Vec::new(),
            globals_read: Vec::new(),
            spare_block_keys: Vec::new(),
        }
    }

    /// Tells the compiler the parser recovered from errors (compat mode compiles such files).
    pub(crate) fn recovered_from_errors(mut self, recovered: bool) -> Compiler<'a> {
        self.recovered = recovered;
        self
    }

    fn location(&self, span: Span) -> Location {
        Location::new(self.source, span)
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        let diagnostic = if self.mode == Mode::Compat {
            Diagnostic { severity: tusk_diagnostics::Severity::Warning, ..diagnostic }
        } else {
            diagnostic
        };
        self.diagnostics.push(diagnostic);
    }

    fn warn(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(Diagnostic { severity: tusk_diagnostics::Severity::Warning, ..diagnostic });
    }

    /// Compiles a whole document (parsed by [`parse_document`]: its entries made only of
    /// literals come as ready values).
    pub(crate) fn compile_document(mut self, document: BuiltDocument<'_, Value>) -> (Program, Vec<Diagnostic>) {
        self.predeclare_document(&document);
        let mut ops = Vec::with_capacity(document.statements.len());
        for statement in document.statements {
            let item = match statement {
                Statement::Item(item) => item,
                Statement::Built { key, value, value_span, span } => {
                    self.position = span.start;
                    let value = Node::Const(value);
                    ops.push(self.entry_op(&key, value, value_span));
                    continue;
                }
            };
            self.position = item.span.start;
            match &item.kind {
                ItemKind::Entry { key, value } => {
                    let value_span = value.span;
                    let value = self.compile_entry_value(value, &key[0].name);
                    ops.push(self.entry_op(key, value, value_span));
                }
                ItemKind::Global { name, value, .. } => {
                    let value = self.compile_entry_value(value, name);
                    let index = self.state.global_index(name).expect("predeclared");
                    ops.push(DocOp::Global { index, name: Key::new(name), value });
                }
                ItemKind::Section { path } => {
                    let path: Vec<Key> = path.iter().map(|part| Key::new(&part.name)).collect();
                    let slots = self.state.enter_section(&path).into_boxed_slice();
                    ops.push(DocOp::Section { path: path.into_boxed_slice(), slots });
                }
                ItemKind::ListItem(_) | ItemKind::Error => {}
            }
        }
        let program = Program {
            ops,
            slots: self.state.slots,
            globals: self.state.globals_count,
            globals_read: self.globals_read,
            expression: None,
        };
        (program, self.diagnostics)
    }

    /// The document operation of a top-level entry.
    fn entry_op(&mut self, key: &[ast::Key<'_>], value: Node, value_span: Span) -> DocOp {
        let path: Box<[Key]> = key.iter().map(|part| Key::new(&part.name)).collect();
        let slot = self.state.section_key_slot(&path[0]);
        DocOp::Entry { path, value, slot, location: self.location(value_span) }
    }

    /// Compiles a lone expression (REPL, `tusk eval`).
    pub(crate) fn compile_expression(mut self, expr: &Expr<'_>) -> (Program, Vec<Diagnostic>) {
        self.position = u32::MAX;
        let node = self.compile_expr(expr);
        let program = Program {
            ops: Vec::new(),
            slots: self.state.slots,
            globals: self.state.globals_count,
            globals_read: self.globals_read,
            expression: Some(node),
        };
        (program, self.diagnostics)
    }

    fn predeclare_document(&mut self, document: &BuiltDocument<'_, Value>) {
        let start_section = self.state.current_section;
        let mut duplicates = Vec::new();
        for statement in &document.statements {
            let item = match statement {
                Statement::Item(item) => item,
                Statement::Built { key, span, .. } => {
                    self.predeclare_entry(key, *span, &mut duplicates);
                    continue;
                }
            };
            match &item.kind {
                ItemKind::Entry { key, .. } => self.predeclare_entry(key, item.span, &mut duplicates),
                ItemKind::Global { name, name_span, .. } => {
                    self.state.declare_global(name, self.location(*name_span), item.span.start)
                }
                ItemKind::Section { path: parts } => {
                    let path: Vec<Key> = parts.iter().map(|part| Key::new(&part.name)).collect();
                    let locations: Vec<Location> = parts.iter().map(|part| self.location(part.span)).collect();
                    self.state.declare_section(&path, &locations, item.span.start);
                }
                ItemKind::ListItem(_) | ItemKind::Error => {}
            }
        }
        self.state.current_section = start_section;
        for (name, span, previous) in duplicates {
            self.duplicate_key(&name, "scope", span, previous);
        }
    }

    fn predeclare_entry(&mut self, key: &[ast::Key<'_>], span: Span, duplicates: &mut Vec<(String, Span, Location)>) {
        let location = self.location(key[0].span);
        let previous = self.state.declare_key(&key[0].name, location, span.start);
        // `a.b: 1` then `a.c: 2` merge into `a`, so a dotted key repeating the first part of
        // an earlier key replaces nothing and is not a duplicate.
        if let Some(previous) = previous
            && key.len() == 1
        {
            duplicates.push((key[0].name.to_string(), key[0].span, previous));
        }
    }

    /// A key defined twice in one scope: the warning `W001` (the last one wins), or in strict
    /// mode the error `R020`.
    pub(crate) fn duplicate_key(&mut self, name: &str, scope: &str, span: Span, previous: Location) {
        let diagnostic = if self.mode == Mode::Strict {
            Diagnostic::error(format!("`{name}` is defined more than once in this {scope}"))
                .with_code("R020")
                .with_help("strict mode refuses duplicate keys: remove one, or rename it")
        } else {
            Diagnostic::warning(format!("`{name}` is defined more than once in this {scope}; the last one wins"))
                .with_code("W001")
        };
        let diagnostic = diagnostic
            .with_primary(self.location(span), "defined again here")
            .with_secondary(previous, "first defined here");
        if self.mode == Mode::Strict { self.error(diagnostic) } else { self.warn(diagnostic) }
    }

    /// An entry's value: lambdas get the entry's name, and compat mode turns values that did
    /// not parse into their raw text.
    fn compile_entry_value(&mut self, value: &Expr<'_>, name: &str) -> Node {
        if self.recovered && contains_invalid(value) {
            if self.mode == Mode::Compat {
                return Node::Const(Value::string(self.text[value.span.range()].trim()));
            }
            return Node::Const(Value::Null);
        }
        let node = match &value.kind {
            ExprKind::Lambda(params, body) => self.compile_lambda(params, body, Some(Key::new(name)), value.span),
            ExprKind::Name(word) => self.compile_bare_word(word, value.span, false),
            _ => self.compile_expr(value),
        };
        self.compat_fallback(node, value.span)
    }

    /// Compat mode: an entry whose value fails to evaluate (`php(time())`, a file that is not
    /// there, a member of an unknown operator's text) gets its raw text instead, as in the
    /// reference SDKs, which never fail; the error becomes a warning.
    fn compat_fallback(&self, node: Node, span: Span) -> Node {
        if self.mode != Mode::Compat || matches!(node, Node::Const(_)) {
            return node;
        }
        let text = Key::new(self.text[span.range()].trim());
        Node::CompatFallback { node: Box::new(node), text, location: self.location(span) }
    }

    /// A whole value that is a single word: a reference if it names an entry or parameter,
    /// otherwise the string of itself (a function name included, so `level: error` stays text).
    ///
    /// An item of a list (`features:` then `- logging`, or `[debug, info]`) that names only an
    /// entry defined later is text too, with a warning: list items are data, and the SDKs'
    /// own `testdata/sample.tsk` lists `- logging` before its `logging:` section. A whole entry
    /// value naming a later entry stays an error: entries are evaluated in document order.
    fn compile_bare_word(&mut self, word: &str, span: Span, list_item: bool) -> Node {
        let errors_before = self.diagnostics.len();
        let mut names_later_entry = false;
        if let Resolved::Entry(node) = self.resolve_name(word, span) {
            // `resolve_name` reports a name that is defined only later, and resolves it to null.
            names_later_entry = self.diagnostics.len() > errors_before;
            if !(names_later_entry && list_item && self.mode != Mode::Strict) {
                return node;
            }
            self.diagnostics.truncate(errors_before);
        }
        if self.mode == Mode::Strict {
            self.error(self.undefined_name(word, span));
            return Node::Const(Value::Null);
        }
        if self.mode != Mode::Compat {
            let label =
                if names_later_entry { "names only an entry defined later" } else { "names no entry or parameter" };
            let help = match self.subtraction_written_as_a_name(word) {
                Some(subtraction) => {
                    format!(
                        "`{word}` is one name (dashes belong to names): to subtract, write `{subtraction}`; for the text, write \"{word}\""
                    )
                }
                None => format!("write \"{word}\" to make the string explicit"),
            };
            self.warn(
                Diagnostic::warning(format!("bare word `{word}` is read as the string \"{word}\""))
                    .with_code("W002")
                    .with_primary(self.location(span), label)
                    .with_help(help),
            );
        }
        Node::Const(Value::string(word))
    }

    /// `max - min` for the word `max-min` when `max` and `min` both name entries or parameters.
    fn subtraction_written_as_a_name(&self, word: &str) -> Option<String> {
        let parts: Vec<&str> = word.split('-').collect();
        if parts.len() < 2 || parts.iter().any(|part| part.is_empty()) {
            return None;
        }
        let visible = self.visible_names();
        parts.iter().all(|part| visible.iter().any(|name| name == part)).then(|| parts.join(" - "))
    }

    fn undefined_name(&self, name: &str, span: Span) -> Diagnostic {
        let mut candidates = self.visible_names();
        candidates.extend(
            self.registry
                .symbols()
                .iter()
                .filter(|s| s.kind == crate::registry::SymbolKind::Function)
                .map(|s| s.name.to_string()),
        );
        let mut diagnostic = Diagnostic::error(format!("`{name}` is not defined"))
            .with_code("R004")
            .with_primary(self.location(span), "not an entry, parameter or function");
        if let Some(suggestion) = closest_name(name, candidates.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
        } else {
            diagnostic = diagnostic.with_help(format!("to use the text, quote it: \"{name}\""));
        }
        diagnostic
    }

    pub(crate) fn compile_expr(&mut self, expr: &Expr<'_>) -> Node {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Range(..) => Node::Const(scalar_value(&expr.kind).unwrap_or_default()),
            ExprKind::Interpolated(parts) => self.compile_interpolation(parts),
            ExprKind::Name(name) => match self.resolve(name, span) {
                Some(node) => node,
                None if self.mode == Mode::Compat => Node::Const(Value::string(name)),
                None => {
                    self.error(self.undefined_name(name, span));
                    Node::Const(Value::Null)
                }
            },
            ExprKind::Global(name) => self.compile_global(name, span),
            ExprKind::Operator { name, name_span, args } => {
                self.compile_operator(name, *name_span, args.as_deref(), span)
            }
            ExprKind::Array(items) => {
                // Most arrays are constant: their values are collected as they come, and nodes
                // are made only once an item is not constant.
                let mut values: Vec<Value> = Vec::with_capacity(items.len());
                let mut nodes: Vec<Node> = Vec::new();
                for item in items {
                    // A bare word as a whole item follows the rule for whole values: `[debug, info]`.
                    let node = match item.kind {
                        ExprKind::Name(word) => self.compile_bare_word(word, item.span, true),
                        _ => self.compile_expr(item),
                    };
                    match node {
                        Node::Const(value) if nodes.is_empty() => values.push(value),
                        node => {
                            if nodes.is_empty() {
                                nodes.reserve(items.len());
                                nodes.extend(values.drain(..).map(Node::Const));
                            }
                            nodes.push(node);
                        }
                    }
                }
                if nodes.is_empty() { Node::Const(Value::array(values)) } else { Node::Array(nodes.into_boxed_slice()) }
            }
            ExprKind::Object(items) => self.compile_object(items),
            ExprKind::Unary(op, operand) => {
                let operand = self.compile_expr(operand);
                let location = self.location(span);
                if let Node::Const(value) = &operand
                    && let Ok(folded) = unary_op(*op, value)
                {
                    return Node::Const(folded);
                }
                match op {
                    UnaryOp::Neg => Node::Neg(Box::new(operand), location),
                    UnaryOp::Not => Node::Not(Box::new(operand), location),
                }
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let lhs = self.compile_expr(lhs);
                let rhs = self.compile_expr(rhs);
                match op {
                    BinaryOp::And => return Node::And(Box::new(lhs), Box::new(rhs)),
                    BinaryOp::Or => return Node::Or(Box::new(lhs), Box::new(rhs)),
                    _ => {}
                }
                if let (Node::Const(left), Node::Const(right)) = (&lhs, &rhs)
                    && let Ok(folded) = binary_op(*op, left, right)
                {
                    return Node::Const(folded);
                }
                Node::Binary { op: *op, lhs: Box::new(lhs), rhs: Box::new(rhs), location: self.location(span) }
            }
            ExprKind::Ternary(condition, then, otherwise) => Node::Cond(
                Box::new(self.compile_expr(condition)),
                Box::new(self.compile_expr(then)),
                Box::new(self.compile_expr(otherwise)),
            ),
            ExprKind::Call(callee, args) => self.compile_call(callee, args, span),
            ExprKind::Member(object, key, _) => Node::Member {
                object: Box::new(self.compile_expr(object)),
                key: Key::new(key),
                location: self.location(span),
                hint: Cell::new(0),
            },
            ExprKind::Index(object, index) => Node::Index {
                object: Box::new(self.compile_expr(object)),
                index: Box::new(self.compile_expr(index)),
                location: self.location(span),
            },
            ExprKind::Lambda(params, body) => self.compile_lambda(params, body, None, span),
            ExprKind::Invalid => Node::Const(if self.mode == Mode::Compat {
                Value::string(self.text[span.range()].trim())
            } else {
                Value::Null
            }),
        }
    }

    fn compile_interpolation(&mut self, parts: &[StrPart<'_>]) -> Node {
        let nodes: Vec<Node> = parts
            .iter()
            .map(|part| match part {
                StrPart::Text(text) => Node::Const(Value::string(text)),
                StrPart::Expr(expr) => self.compile_expr(expr),
            })
            .collect();
        if nodes.iter().all(|node| matches!(node, Node::Const(_))) {
            let mut text = String::new();
            for node in &nodes {
                if let Node::Const(value) = node {
                    text.push_str(&value.to_string());
                }
            }
            return Node::Const(Value::from(text));
        }
        Node::Interpolate(nodes.into_boxed_slice())
    }

    fn compile_global(&mut self, name: &str, span: Span) -> Node {
        let location = self.location(span);
        match self.state.global_decl(name) {
            Some((index, earliest, first)) => {
                if self.lambda_depth == 0 && earliest >= self.state.order(self.position) {
                    self.error(
                        Diagnostic::error(format!("`${name}` is used before it is defined"))
                            .with_code("R005")
                            .with_primary(location, "used here")
                            .with_secondary(first, "defined here, later"),
                    );
                    return Node::Const(Value::Null);
                }
                Node::Global { index, name: Key::new(name), location }
            }
            None => {
                if !self.globals_read.iter().any(|read| read.as_str() == name) {
                    self.globals_read.push(Key::new(name));
                }
                Node::GlobalByName { name: Key::new(name), location }
            }
        }
    }

    fn compile_args(&mut self, args: &[Expr<'_>], lazy: u64) -> (Box<[Node]>, Box<[Span]>) {
        let nodes = args
            .iter()
            .enumerate()
            .map(|(index, arg)| {
                if index < 64 && lazy & (1 << index) != 0 {
                    self.compile_lambda(&[], arg, None, arg.span)
                } else {
                    self.compile_expr(arg)
                }
            })
            .collect();
        let spans = args.iter().map(|arg| arg.span).collect();
        (nodes, spans)
    }

    fn compile_call(&mut self, callee: &Expr<'_>, args: &[Expr<'_>], span: Span) -> Node {
        let location = self.location(span);
        if let ExprKind::Name(name) = callee.kind
            && let Resolved::Function(symbol) = self.resolve_callable(name, callee.span)
        {
            let (args, arg_spans) = self.compile_args(args, symbol.lazy_arguments);
            return symbol_call(symbol, args, location, arg_spans);
        }
        let callee = self.compile_expr(callee);
        let (args, arg_spans) = self.compile_args(args, 0);
        Node::Call(Box::new(Call { callee, args, location, arg_spans }))
    }

    fn compile_operator(&mut self, name: &str, name_span: Span, args: Option<&[Expr<'_>]>, span: Span) -> Node {
        let location = self.location(span);
        let registry = self.registry;
        let Some(args) = args else {
            // `@request.method`: the longest registered prefix, then a path into its result.
            let parts: Vec<&str> = name.split('.').collect();
            for length in (1..=parts.len()).rev() {
                let prefix = parts[..length].join(".");
                if let Some(symbol) = registry.operator(&prefix) {
                    let base = symbol_call(symbol.clone(), Box::new([]), location, Box::new([]));
                    if length == parts.len() {
                        return base;
                    }
                    let path = parts[length..].iter().map(Key::new).collect();
                    return Node::Path { base: Box::new(base), path, location };
                }
            }
            return self.unknown_operator(name, name_span, span);
        };
        if let Some(symbol) = registry.operator(name) {
            let (args, arg_spans) = self.compile_args(args, symbol.lazy_arguments);
            return symbol_call(symbol.clone(), args, location, arg_spans);
        }
        // `@stem.tsk.get(…)`: a call that knows the stem (when the core operators exist).
        for (suffix, target, operation) in [
            (".tsk.get", CROSS_FILE_GET, cross_file::Operation::Get),
            (".tsk.set", CROSS_FILE_SET, cross_file::Operation::Set),
        ] {
            if let Some(stem) = name.strip_suffix(suffix)
                && registry.operator(target).is_some()
            {
                let (args, arg_spans) = self.compile_args(args, 0);
                let function = cross_file::written_form(stem, operation);
                return Node::CallNative(Box::new(NativeCall { function, args, location, arg_spans, is_str: false }));
            }
        }
        self.unknown_operator(name, name_span, span)
    }

    fn unknown_operator(&mut self, name: &str, name_span: Span, span: Span) -> Node {
        if self.mode == Mode::Compat {
            self.warn(
                Diagnostic::warning(format!("unknown operator `@{name}` is kept as its text"))
                    .with_code("W003")
                    .with_primary(self.location(name_span), "no plugin provides this operator")
                    .with_note("compat mode keeps unknown operators as text, as the reference SDKs do"),
            );
            return Node::Const(Value::string(self.text[span.range()].trim()));
        }
        let operators: Vec<String> = self
            .registry
            .symbols()
            .iter()
            .filter(|symbol| symbol.kind == crate::registry::SymbolKind::Operator)
            .map(|symbol| symbol.name.to_string())
            .collect();
        let mut diagnostic = Diagnostic::error(format!("unknown operator `@{name}`"))
            .with_code("R006")
            .with_primary(self.location(name_span), "no plugin provides this operator");
        if let Some(suggestion) = closest_name(name, operators.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(format!("did you mean `@{suggestion}`?"));
        } else {
            diagnostic = diagnostic.with_help("`tusk plugin list` shows the operators of installed plugins; `--compat` keeps unknown operators as text");
        }
        self.error(diagnostic);
        Node::Const(Value::Null)
    }

    fn compile_lambda(&mut self, params: &[ast::Param<'_>], body: &Expr<'_>, name: Option<Key>, span: Span) -> Node {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for param in params {
            if let Some(first) = seen.insert(param.name, param.span) {
                self.error(
                    Diagnostic::error(format!("parameter `{}` is declared twice", param.name))
                        .with_code("R017")
                        .with_primary(self.location(param.span), "declared again here")
                        .with_secondary(self.location(first), "first declared here"),
                );
            }
        }
        let names: Vec<Key> = params.iter().map(|param| Key::new(param.name)).collect();
        self.enter_lambda(names);
        let body = self.compile_expr(body);
        let (locals, captures) = self.leave_lambda();
        let proto = LambdaProto { name, params: params.len() as u32, locals, body, location: self.location(span) };
        Node::Lambda { proto: Rc::new(proto), captures: captures.into_boxed_slice() }
    }

    fn compile_object(&mut self, items: &[Item<'_>]) -> Node {
        self.enter_block(items);
        // Values first, with the AST's keys: most objects are constant, and become a value
        // without a key path ever being built for them.
        let mut compiled: Vec<(Option<&[ast::Key<'_>]>, Node)> = Vec::with_capacity(items.len());
        for item in items {
            let saved_position = self.position;
            self.position = item.span.start;
            match &item.kind {
                ItemKind::Entry { key, value } => {
                    let node = self.compile_entry_value(value, &key[0].name);
                    compiled.push((Some(key), node));
                }
                ItemKind::Global { name, value, .. } => {
                    let node = self.compile_entry_value(value, name);
                    let index = self.state.global_index_or_declare(name, self.location(item.span), item.span.start);
                    compiled.push((None, Node::SetGlobal(index, Key::new(name), Box::new(node))));
                }
                ItemKind::Section { .. } => {
                    self.error(
                        Diagnostic::error("a section header cannot be inside a block")
                            .with_code("R018")
                            .with_primary(self.location(item.span), "sections are top-level"),
                    );
                }
                ItemKind::ListItem(_) | ItemKind::Error => {}
            }
            self.position = saved_position;
        }
        let storage = self.leave_block();
        // A key that something refers to is stored as well as set, which is not constant.
        let stored = |path: &[ast::Key<'_>]| storage.get(&*path[0].name).copied();
        let constant = compiled
            .iter()
            .all(|(path, node)| matches!(node, Node::Const(_)) && path.is_some_and(|path| stored(path).is_none()));
        if constant {
            let mut object = Object::with_capacity(compiled.len());
            for (path, node) in compiled {
                if let (Some(path), Node::Const(value)) = (path, node) {
                    match path {
                        [key] => {
                            object.insert(Key::new(&key.name), value);
                        }
                        _ => {
                            let path: Vec<Key> = path.iter().map(|part| Key::new(&part.name)).collect();
                            crate::interp::insert_path(&mut object, &path, value);
                        }
                    }
                }
            }
            return Node::Const(Value::object(object));
        }
        let entries: Vec<ObjectEntry> = compiled
            .into_iter()
            .map(|(path, node)| match path {
                None => ObjectEntry { path: Box::new([]), value: node, new_key: false },
                Some(path) => {
                    let value = match stored(path) {
                        Some(names::Storage::Local(index)) => Node::SetLocal(index, Box::new(node)),
                        Some(names::Storage::Slot(slot)) => Node::SetSlot(slot, Box::new(node)),
                        None => node,
                    };
                    ObjectEntry { path: path.iter().map(|part| Key::new(&part.name)).collect(), value, new_key: false }
                }
            })
            .collect();
        let mut entries = entries.into_boxed_slice();
        ObjectEntry::mark_new_keys(&mut entries);
        Node::Object(entries)
    }
}

/// The value of a scalar literal (`None` for any other expression).
fn scalar_value(kind: &ExprKind<'_>) -> Option<Value> {
    Some(match kind {
        ExprKind::Null => Value::Null,
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Int(n) => Value::Int(*n),
        ExprKind::Float(x) => Value::Float(*x),
        ExprKind::Str(text) => Value::string(text),
        ExprKind::Range(low, high) => Value::Range(*low, high.saturating_add(1)),
        _ => return None,
    })
}

/// Parses a document, its entries made only of literals built straight into the values the
/// compiler would fold them into (scalars by [`scalar_value`], `-`/`!` by the interpreter's
/// `unary_op`, arrays and objects as constant folding builds them), with no syntax tree, no
/// scope of names and nothing to drop for them. An object with a repeated key is left to the
/// syntax tree, whose route warns about it.
pub(crate) fn parse_document(
    source: &str,
    options: tusk_parser::ParseOptions,
) -> tusk_parser::Parsed<BuiltDocument<'_, Value>> {
    tusk_parser::parse_building(source, options, &mut LiteralValues)
}

struct LiteralValues;

impl<'src> ValueBuilder<'src> for LiteralValues {
    type Value = Value;

    fn scalar(&mut self, literal: ExprKind<'src>) -> Option<Value> {
        // [`scalar_value`], with the literal taken apart by value: a borrowed literal is
        // dropped afterwards through the drop code of every expression kind, a call per literal.
        Some(match literal {
            ExprKind::Str(text) => Value::string(&text),
            ExprKind::Int(n) => Value::Int(n),
            ExprKind::Float(x) => Value::Float(x),
            ExprKind::Bool(b) => Value::Bool(b),
            ExprKind::Null => Value::Null,
            ExprKind::Range(low, high) => Value::Range(low, high.saturating_add(1)),
            _ => return None,
        })
    }

    fn string(&mut self, text: Cow<'src, str>) -> Option<Value> {
        Some(Value::string(&text))
    }

    fn unary(&mut self, op: UnaryOp, operand: Value) -> Option<Value> {
        unary_op(op, &operand).ok()
    }

    fn array(&mut self, items: std::vec::Drain<'_, Value>) -> Value {
        Value::array(items.collect())
    }

    fn object(&mut self, entries: std::vec::Drain<'_, (Cow<'src, str>, Value)>) -> Option<Value> {
        let entries = entries.map(|(key, value)| (Key::new(&key), value)).collect();
        Object::from_unique_entries(entries).map(Value::object)
    }
}

fn symbol_call(symbol: Rc<Symbol>, args: Box<[Node]>, location: Location, arg_spans: Box<[Span]>) -> Node {
    // Built-in functions are called directly; plugin symbols go through their cell so that
    // lazy loading and hot reload can swap the implementation.
    let builtin =
        matches!(symbol.plugin.as_str(), "core" | "std") && symbol.kind == crate::registry::SymbolKind::Function;
    if builtin && let Some(func) = symbol.loaded() {
        let is_str = symbol.name == "str";
        let function = NativeFunction { name: symbol.name.clone(), func };
        return Node::CallNative(Box::new(NativeCall { function, args, location, arg_spans, is_str }));
    }
    Node::CallSymbol(Box::new(SymbolCall { symbol, args, location, arg_spans }))
}

/// A function value for a registered symbol (used when a function name is passed as a value).
pub(crate) fn symbol_value(symbol: &Rc<Symbol>) -> Value {
    let func: Rc<crate::function::NativeFn> = match symbol.loaded() {
        Some(func) if matches!(symbol.plugin.as_str(), "core" | "std") => func,
        _ => {
            let symbol = symbol.clone();
            Rc::new(move |ctx, args| symbol.call(ctx, args))
        }
    };
    Value::Func(Rc::new(Function::Native(NativeFunction { name: symbol.name.clone(), func })))
}

/// True when the expression holds a part that did not parse.
pub(crate) fn contains_invalid(expr: &Expr<'_>) -> bool {
    match &expr.kind {
        ExprKind::Invalid => true,
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Range(..)
        | ExprKind::Name(_)
        | ExprKind::Global(_) => false,
        ExprKind::Interpolated(parts) => {
            parts.iter().any(|part| matches!(part, StrPart::Expr(e) if contains_invalid(e)))
        }
        ExprKind::Operator { args, .. } => args.as_ref().is_some_and(|args| args.iter().any(contains_invalid)),
        ExprKind::Array(items) => items.iter().any(contains_invalid),
        ExprKind::Object(items) => items.iter().any(|item| match &item.kind {
            ItemKind::Entry { value, .. } | ItemKind::Global { value, .. } | ItemKind::ListItem(value) => {
                contains_invalid(value)
            }
            ItemKind::Error => true,
            ItemKind::Section { .. } => false,
        }),
        ExprKind::Unary(_, operand) => contains_invalid(operand),
        ExprKind::Binary(_, lhs, rhs) => contains_invalid(lhs) || contains_invalid(rhs),
        ExprKind::Ternary(a, b, c) => contains_invalid(a) || contains_invalid(b) || contains_invalid(c),
        ExprKind::Call(callee, args) => contains_invalid(callee) || args.iter().any(contains_invalid),
        ExprKind::Member(object, ..) => contains_invalid(object),
        ExprKind::Index(object, index) => contains_invalid(object) || contains_invalid(index),
        ExprKind::Lambda(_, body) => contains_invalid(body),
    }
}
