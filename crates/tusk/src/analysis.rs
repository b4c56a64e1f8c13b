//! What an editor asks about source text without running it (for `tusk lsp`): where the name,
//! `$global` or member under the cursor is defined, which file a cross-file operator reads,
//! and which names a file defines. It reads the spanned syntax tree only, following the
//! language's lookup rules: lambda parameters, then the entries of the enclosing blocks from
//! the innermost out, then the section, then the top level.

use tusk_diagnostics::Span;
use tusk_parser::ast::{Expr, ExprKind, Item, ItemKind, StrPart};
use tusk_parser::{ParseOptions, parse};

use crate::path::{Path, Segment};

/// Where a definition is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// In the same source: the span of the key, parameter or `$name` that defines it.
    Here(Span),
    /// In another file, relative to the source's directory (`@other.tsk.get("a.b")` names
    /// `other.tsk` and the key `a.b`; `@file.read("x.txt")` names `x.txt` and no key).
    File {
        /// The file as the source writes it.
        path: String,
        /// The key path inside it, in `tusk get`'s syntax.
        key: Option<String>,
    },
}

/// One definition the file makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The full key path, one string per key (`["server", "port"]`); a global is `["$name"]`.
    pub path: Vec<String>,
    /// The span of the key part (or `$name`) that defines it.
    pub span: Span,
}

/// Every definition of the source, in source order: entries (each part of a dotted key, and
/// section headers, define the objects on their way) and globals. A source that does not
/// parse gives what could be recovered.
pub fn definitions(source: &str) -> Vec<Definition> {
    let parsed = parse(source, ParseOptions::default());
    let Some(document) = parsed.ast else { return Vec::new() };
    let mut collector = Collector::default();
    collector.document(&document.items);
    collector.definitions
}

/// The definition of a key path (`server.port`) in the source, if it writes one.
pub fn find_path(source: &str, path: &str) -> Option<Span> {
    let path = Path::parse(path).ok()?;
    let wanted: Vec<String> = path
        .segments()
        .iter()
        .map(|segment| match segment {
            Segment::Key(key) => key.clone(),
            Segment::Index(index) => format!("[{index}]"),
        })
        .collect();
    definitions(source).into_iter().find(|definition| definition.path == wanted).map(|definition| definition.span)
}

/// Where what is at byte `offset` is defined: a name (an entry or a lambda parameter), a
/// member of one (`server.port`), a `$global`, or the file of a cross-file operator.
pub fn definition_at(source: &str, offset: u32) -> Option<Target> {
    let parsed = parse(source, ParseOptions::default());
    let document = parsed.ast?;
    let mut collector = Collector::default();
    collector.document(&document.items);
    let mut finder = Finder { offset, definitions: &collector.definitions, found: None, params: Vec::new() };
    finder.document(&document.items);
    finder.found
}

#[derive(Default)]
struct Collector {
    definitions: Vec<Definition>,
}

impl Collector {
    fn document(&mut self, items: &[Item<'_>]) {
        let mut base = Vec::new();
        for item in items {
            if let ItemKind::Section { path } = &item.kind {
                base.clear();
                for key in path {
                    base.push(key.name.to_string());
                    self.definitions.push(Definition { path: base.clone(), span: key.span });
                }
                continue;
            }
            self.item(item, &base);
        }
    }

    fn item(&mut self, item: &Item<'_>, base: &[String]) {
        match &item.kind {
            ItemKind::Entry { key, value } => {
                let mut path = base.to_vec();
                for part in key.iter() {
                    path.push(part.name.to_string());
                    self.definitions.push(Definition { path: path.clone(), span: part.span });
                }
                self.value(value, &path);
            }
            ItemKind::Global { name, name_span, value } => {
                self.definitions.push(Definition { path: vec![format!("${name}")], span: *name_span });
                self.value(value, base);
            }
            _ => {}
        }
    }

    fn value(&mut self, value: &Expr<'_>, path: &[String]) {
        match &value.kind {
            ExprKind::Object(items) => items.iter().for_each(|item| self.item(item, path)),
            ExprKind::Array(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let mut inner = path.to_vec();
                    inner.push(format!("[{index}]"));
                    self.value(element, &inner);
                }
            }
            _ => {}
        }
    }
}

/// Walks the tree to the innermost expression at the offset, keeping the paths of the
/// enclosing blocks and the lambda parameters in scope.
struct Finder<'a> {
    offset: u32,
    definitions: &'a [Definition],
    found: Option<Target>,
    params: Vec<(String, Span)>,
}

fn contains(span: Span, offset: u32) -> bool {
    span.start <= offset && offset <= span.end
}

impl Finder<'_> {
    fn document(&mut self, items: &[Item<'_>]) {
        let mut base = Vec::new();
        for item in items {
            if let ItemKind::Section { path } = &item.kind {
                base = path.iter().map(|key| key.name.to_string()).collect();
                continue;
            }
            if contains(item.span, self.offset) {
                self.item(item, &base);
                return;
            }
        }
    }

    fn item(&mut self, item: &Item<'_>, base: &[String]) {
        match &item.kind {
            ItemKind::Entry { key, value } => {
                let mut path = base.to_vec();
                path.extend(key.iter().map(|part| part.name.to_string()));
                if contains(value.span, self.offset) {
                    // A value's names are looked up from the block holding the entry, except
                    // inside a block body, whose entries see each other.
                    self.expr(value, base, &path);
                }
            }
            ItemKind::Global { value, .. } | ItemKind::ListItem(value) if contains(value.span, self.offset) => {
                self.expr(value, base, base);
            }
            _ => {}
        }
    }

    /// `scope` is the path whose entries (and whose parents' entries) names see; `own` is the
    /// path of the value itself (a block's body sees its own entries).
    fn expr(&mut self, expr: &Expr<'_>, scope: &[String], own: &[String]) {
        if self.found.is_some() || !contains(expr.span, self.offset) {
            return;
        }
        match &expr.kind {
            ExprKind::Name(name) => self.found = self.resolve(name, scope),
            ExprKind::Global(name) => {
                let global = format!("${name}");
                self.found = self
                    .definitions
                    .iter()
                    .find(|definition| definition.path.len() == 1 && definition.path[0] == global)
                    .map(|definition| Target::Here(definition.span));
            }
            ExprKind::Member(..) => {
                if let Some(chain) = member_chain(expr)
                    && let Some(position) = chain.iter().position(|(_, span)| contains(*span, self.offset))
                {
                    self.found = self.resolve_chain(&chain[..=position], scope);
                    return;
                }
                if let ExprKind::Member(inner, ..) = &expr.kind {
                    self.expr(inner, scope, own);
                }
            }
            ExprKind::Operator { name, name_span, args } => {
                let first_string = args.as_ref().and_then(|args| match args.first().map(|arg| &arg.kind) {
                    Some(ExprKind::Str(text)) => Some((text.to_string(), args[0].span)),
                    _ => None,
                });
                let on_name = contains(*name_span, self.offset);
                let on_first = first_string.as_ref().is_some_and(|(_, span)| contains(*span, self.offset));
                if on_name || on_first {
                    if let Some(stem) = name.strip_suffix(".tsk.get").or_else(|| name.strip_suffix(".tsk.set")) {
                        self.found =
                            Some(Target::File { path: format!("{stem}.tsk"), key: first_string.map(|(text, _)| text) });
                        return;
                    }
                    if matches!(*name, "file" | "file.read")
                        && let Some((text, _)) = first_string
                    {
                        self.found = Some(Target::File { path: text, key: None });
                        return;
                    }
                }
                for arg in args.iter().flatten() {
                    self.expr(arg, scope, own);
                }
            }
            ExprKind::Object(items) => {
                for item in items {
                    if contains(item.span, self.offset) {
                        self.item(item, own);
                    }
                }
            }
            ExprKind::Array(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let mut inner = own.to_vec();
                    inner.push(format!("[{index}]"));
                    self.expr(element, scope, &inner);
                }
            }
            ExprKind::Lambda(params, body) => {
                if let Some(param) = params.iter().find(|param| contains(param.span, self.offset)) {
                    self.found = Some(Target::Here(param.span));
                    return;
                }
                let pushed = params.len();
                self.params.extend(params.iter().map(|param| (param.name.to_string(), param.span)));
                self.expr(body, scope, own);
                self.params.truncate(self.params.len() - pushed);
            }
            ExprKind::Interpolated(parts) => {
                for part in parts {
                    if let StrPart::Expr(inner) = part {
                        self.expr(inner, scope, own);
                    }
                }
            }
            ExprKind::Unary(_, inner) => self.expr(inner, scope, own),
            ExprKind::Binary(_, left, right) | ExprKind::Index(left, right) => {
                self.expr(left, scope, own);
                self.expr(right, scope, own);
            }
            ExprKind::Ternary(a, b, c) => {
                self.expr(a, scope, own);
                self.expr(b, scope, own);
                self.expr(c, scope, own);
            }
            ExprKind::Call(callee, args) => {
                self.expr(callee, scope, own);
                for arg in args {
                    self.expr(arg, scope, own);
                }
            }
            _ => {}
        }
    }

    /// A name: the innermost lambda parameter, else the first definition of `scope + name`,
    /// then of each shorter prefix of `scope` (the enclosing blocks, the section, the top
    /// level).
    fn resolve(&self, name: &str, scope: &[String]) -> Option<Target> {
        if let Some((_, span)) = self.params.iter().rev().find(|(param, _)| param == name) {
            return Some(Target::Here(*span));
        }
        self.resolve_path(name, scope).map(|definition| Target::Here(definition.span))
    }

    fn resolve_path(&self, name: &str, scope: &[String]) -> Option<&Definition> {
        (0..=scope.len()).rev().find_map(|length| {
            self.definitions.iter().find(|definition| {
                definition.path.len() == length + 1
                    && definition.path[..length] == scope[..length]
                    && definition.path[length] == name
            })
        })
    }

    /// `a.b.c` up to the part under the cursor: the head resolved as a name, the rest as keys
    /// below it.
    fn resolve_chain(&self, chain: &[(String, Span)], scope: &[String]) -> Option<Target> {
        let (head, _) = chain.first()?;
        if chain.len() == 1 {
            return self.resolve(head, scope);
        }
        let mut path = self.resolve_path(head, scope)?.path.clone();
        path.extend(chain[1..].iter().map(|(key, _)| key.clone()));
        self.definitions
            .iter()
            .find(|definition| definition.path == path)
            .map(|definition| Target::Here(definition.span))
    }
}

/// `a.b.c` as `[(a, span), (b, span), (c, span)]` when the chain starts with a plain name.
fn member_chain(expr: &Expr<'_>) -> Option<Vec<(String, Span)>> {
    match &expr.kind {
        ExprKind::Name(name) => Some(vec![(name.to_string(), expr.span)]),
        ExprKind::Member(inner, member, span) => {
            let mut chain = member_chain(inner)?;
            chain.push((member.to_string(), *span));
            Some(chain)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of the definition found at the first occurrence of `marker` (its first byte).
    fn target(source: &str, marker: &str) -> Option<String> {
        let offset = source.find(marker).expect("marker in source") as u32;
        match definition_at(source, offset)? {
            Target::Here(span) => Some(format!("{}@{}", &source[span.range()], span.start)),
            Target::File { path, key } => Some(format!("file {path} {key:?}")),
        }
    }

    #[test]
    fn names_resolve_through_blocks_sections_and_lambdas() {
        let source = "port: 80\n[server]\nport: 8080\nurl: \"h:${port}\"\nf: port => port * 2\n\
                      db {\n    host: \"x\"\n    pool { size: host }\n}\n[other]\ntop: port\nhere: server.port\n";
        assert_eq!(target(source, "port}\""), Some("port@18".to_string()));
        assert_eq!(target(source, "port * 2"), Some("port@49".to_string()));
        assert_eq!(target(source, "host }"), Some("host@75".to_string()));
        assert_eq!(target(source, "port\nhere"), Some("port@0".to_string()));
        let member = source.rfind("port").unwrap() as u32;
        assert_eq!(definition_at(source, member), Some(Target::Here(Span::new(18, 22))));
        let head = source.rfind("server").unwrap() as u32;
        assert_eq!(definition_at(source, head), Some(Target::Here(Span::new(10, 16))));
    }

    #[test]
    fn globals_and_cross_file_operators() {
        let source =
            "$env: \"dev\"\nmode: $env\nshared: @common.tsk.get(\"db.host\")\ntext: @file.read(\"notes.txt\")\n";
        assert_eq!(target(source, "$env\nshared"), Some("$env@0".to_string()));
        assert_eq!(target(source, "common"), Some("file common.tsk Some(\"db.host\")".to_string()));
        assert_eq!(target(source, "\"db.host\""), Some("file common.tsk Some(\"db.host\")".to_string()));
        assert_eq!(target(source, "notes"), Some("file notes.txt None".to_string()));
    }

    #[test]
    fn paths_and_definitions() {
        let source = "[db]\nhost: \"h\"\npool.size: 5\n$g: 1\nlist: [{ a: 1 }]\n";
        assert_eq!(find_path(source, "db.pool.size"), Some(Span::new(20, 24)));
        assert_eq!(find_path(source, "db.host"), Some(Span::new(5, 9)));
        assert_eq!(find_path(source, "db.list[0].a"), Some(Span::new(43, 44)));
        assert_eq!(find_path(source, "nothing"), None);
        let paths: Vec<String> = definitions(source).iter().map(|d| d.path.join(".")).collect();
        assert_eq!(paths, ["db", "db.host", "db.pool", "db.pool.size", "$g", "db.list", "db.list.[0].a"]);
    }
}
