//! Lossless edits of TuskLang source, for `tusk set` and `tusk fmt`: the text is changed
//! only where the edit needs it, so comments, blank lines, the order of entries and the
//! file's style (sections or blocks, `:` or `=`, its indentation) stay as they were.
//!
//! Both work on byte spans: [`set`] finds an entry in the spanned syntax tree and replaces its
//! value's span (or inserts one line next to its siblings); [`format`] rewrites only the
//! whitespace between tokens and checks that the tokens and the tree it produced are the ones
//! it read.
//! Neither evaluates anything.

use std::fmt;
use std::ops::Range;

use tusk_diagnostics::{Diagnostic, SourceId};
use tusk_lexer::TokenKind;
use tusk_parser::ast::{Expr, ExprKind, Item, ItemKind};
use tusk_parser::{ParseOptions, parse, parse_expression};

use crate::path::{Path, Segment};

/// Why an edit was not made.
#[derive(Debug)]
pub enum EditError {
    /// The file does not parse; these are its errors (nothing is rewritten in a broken file).
    Syntax(Vec<Diagnostic>),
    /// The path cannot be set in this file, or the value is not an expression.
    Invalid(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Syntax(diagnostics) => {
                write!(f, "the file has {} syntax error(s)", diagnostics.iter().filter(|d| d.is_error()).count())
            }
            EditError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for EditError {}

/// `text` as a TuskLang string literal: double-quoted, with escapes for `\`, `"`, control
/// characters and `${` (which would otherwise interpolate).
pub fn quote_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as an entry writes it: bare when it is a name (`[A-Za-z_][A-Za-z0-9_-]*`), quoted
/// otherwise (`"Content-Type"` is a name, `"my key"` and `"a.b"` are not).
pub fn key_text(key: &str) -> String {
    let mut chars = key.chars();
    let is_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if is_name { key.to_string() } else { quote_string(key) }
}

/// Checks that `text` is one TuskLang expression (what `tusk set` writes as a value).
pub fn check_value(text: &str) -> Result<(), EditError> {
    let parsed = parse_expression(text, ParseOptions::default());
    match parsed.errors.first() {
        None if parsed.ast.is_some() => Ok(()),
        first => {
            let reason = first
                .map(|error| error.to_diagnostic(SourceId::default()).message)
                .unwrap_or_else(|| "nothing to parse".to_string());
            Err(EditError::Invalid(format!(
                "`{text}` is not a TuskLang expression ({reason}); quote text (`'\"text\"'`) or pass --string"
            )))
        }
    }
}

/// One step of a path through the syntax tree: a key, or an array item (with the array's
/// length, so that `[-1]` matches too).
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Item(usize, usize),
}

fn step_matches(step: &Step, segment: &Segment) -> bool {
    match (step, segment) {
        (Step::Key(key), Segment::Key(wanted)) => key == wanted,
        (Step::Item(position, length), Segment::Index(index)) => resolves_to(*index, *length, *position),
        (Step::Item(position, length), Segment::Key(wanted)) => {
            wanted.parse::<i64>().is_ok_and(|index| resolves_to(index, *length, *position))
        }
        (Step::Key(_), Segment::Index(_)) => false,
    }
}

fn resolves_to(index: i64, length: usize, position: usize) -> bool {
    let resolved = if index < 0 { length as i64 + index } else { index };
    resolved == position as i64
}

fn path_matches(steps: &[Step], segments: &[Segment]) -> bool {
    steps.len() == segments.len() && steps.iter().zip(segments).all(|(step, segment)| step_matches(step, segment))
}

/// A value written in the file, found at a path.
struct Found<'a> {
    steps: Vec<Step>,
    value: &'a Expr<'a>,
    /// The end of the entry's key (none for an array item).
    key_end: Option<u32>,
}

/// Where entries of one object are written: the top level, one section header's stretch, or
/// the body of a block or an object literal.
struct Container<'a> {
    steps: Vec<Step>,
    /// The entries written in it, in order.
    items: Vec<&'a Item<'a>>,
    kind: ContainerKind,
}

enum ContainerKind {
    /// Entries before the first section header; `first_section` is that header's start.
    TopLevel { first_section: Option<u32> },
    /// A `[header]` and the entries up to the next one.
    Section { header: Range<usize> },
    /// The body of a block or object literal: its span.
    Body { span: Range<usize> },
}

/// Everything the tree says about where values are written.
struct Outline<'a> {
    values: Vec<Found<'a>>,
    containers: Vec<Container<'a>>,
    has_sections: bool,
}

fn outline<'a>(items: &'a [Item<'a>]) -> Outline<'a> {
    let mut outline = Outline { values: Vec::new(), containers: Vec::new(), has_sections: false };
    let first_section =
        items.iter().find(|item| matches!(item.kind, ItemKind::Section { .. })).map(|item| item.span.start);
    outline.has_sections = first_section.is_some();
    let mut current =
        Container { steps: Vec::new(), items: Vec::new(), kind: ContainerKind::TopLevel { first_section } };
    for item in items {
        if let ItemKind::Section { path } = &item.kind {
            outline.containers.push(current);
            current = Container {
                steps: path.iter().map(|key| Step::Key(key.name.to_string())).collect(),
                items: Vec::new(),
                kind: ContainerKind::Section { header: item.span.range() },
            };
            continue;
        }
        visit_item(item, &current.steps, &mut outline);
        current.items.push(item);
    }
    outline.containers.push(current);
    outline
}

fn visit_item<'a>(item: &'a Item<'a>, base: &[Step], outline: &mut Outline<'a>) {
    if let ItemKind::Entry { key, value } = &item.kind {
        let mut steps = base.to_vec();
        steps.extend(key.iter().map(|part| Step::Key(part.name.to_string())));
        let key_end = key.last().map(|part| part.span.end);
        visit_value(value, steps, key_end, outline);
    }
}

fn visit_value<'a>(value: &'a Expr<'a>, steps: Vec<Step>, key_end: Option<u32>, outline: &mut Outline<'a>) {
    match &value.kind {
        ExprKind::Object(body) => {
            for item in body {
                visit_item(item, &steps, outline);
            }
            outline.containers.push(Container {
                steps: steps.clone(),
                items: body.iter().filter(|item| matches!(item.kind, ItemKind::Entry { .. })).collect(),
                kind: ContainerKind::Body { span: value.span.range() },
            });
        }
        ExprKind::Array(elements) => {
            for (position, element) in elements.iter().enumerate() {
                let mut element_steps = steps.clone();
                element_steps.push(Step::Item(position, elements.len()));
                visit_value(element, element_steps, None, outline);
            }
        }
        _ => {}
    }
    outline.values.push(Found { steps, value, key_end });
}

fn syntax_errors(source: &str, source_id: SourceId) -> Option<EditError> {
    let parsed = parse(source, ParseOptions::default());
    if parsed.errors.is_empty() && parsed.ast.is_some() {
        return None;
    }
    Some(EditError::Syntax(parsed.errors.iter().map(|error| error.to_diagnostic(source_id)).collect()))
}

/// `source` with the value at `path` replaced by the expression `value` (its text as
/// given), or, when the file has no such entry, with one added where the path's nearest
/// written parent is: a section, a block, an object literal or the top level, in the style of
/// its siblings. `source_id` names the file in syntax errors.
pub fn set(source: &str, source_id: SourceId, path: &Path, value: &str) -> Result<String, EditError> {
    if path.is_empty() {
        return Err(EditError::Invalid("the empty path names the whole document; give a key".to_string()));
    }
    check_value(value)?;
    let parsed = parse(source, ParseOptions::default());
    if let Some(error) = syntax_errors(source, source_id) {
        return Err(error);
    }
    let document = parsed.ast.expect("a document without errors has a tree");
    let outline = outline(&document.items);
    let segments = path.segments();
    let style = Style::of(source, &outline);
    let edited = if let Some(found) = outline.values.iter().rev().find(|found| path_matches(&found.steps, segments)) {
        replace_value(source, found, value, &style)
    } else {
        insert_entry(source, &outline, path, value, &style)?
    };
    if let Some(EditError::Syntax(_)) = syntax_errors(&edited, source_id) {
        return Err(EditError::Invalid(format!(
            "setting `{path}` here would not leave a valid file; nothing was changed (please report this)"
        )));
    }
    Ok(edited)
}

/// How the file writes an entry's separator: the text between a key and a plain value
/// (`: `, ` = `, `=`), taken from the first such entry.
struct Style {
    separator: String,
}

impl Style {
    fn of(source: &str, outline: &Outline<'_>) -> Style {
        let separator = outline
            .values
            .iter()
            .filter_map(|found| {
                let key_end = found.key_end? as usize;
                let between = source.get(key_end..found.value.span.start as usize)?;
                let trimmed = between.trim();
                ((trimmed == ":" || trimmed == "=") && !between.contains('\n')).then(|| between.to_string())
            })
            .next()
            .unwrap_or_else(|| ": ".to_string());
        Style { separator }
    }

    /// The separator in the container's own style when one of its entries shows it.
    fn in_container(&self, source: &str, container: &Container<'_>) -> String {
        container
            .items
            .iter()
            .rev()
            .filter_map(|item| match &item.kind {
                ItemKind::Entry { key, value } => {
                    let between = source.get(key.last()?.span.end as usize..value.span.start as usize)?;
                    let trimmed = between.trim();
                    ((trimmed == ":" || trimmed == "=") && !between.contains('\n')).then(|| between.to_string())
                }
                _ => None,
            })
            .next()
            .unwrap_or_else(|| self.separator.clone())
    }
}

fn splice(source: &str, range: Range<usize>, text: &str) -> String {
    let mut out = String::with_capacity(source.len() + text.len());
    out.push_str(&source[..range.start]);
    out.push_str(text);
    out.push_str(&source[range.end..]);
    out
}

fn replace_value(source: &str, found: &Found<'_>, value: &str, style: &Style) -> String {
    let span = found.value.span.range();
    let Some(key_end) = found.key_end.map(|end| end as usize) else {
        return splice(source, span, value);
    };
    // A block (`name { … }`, `name > … <`, an indented `name:` body) has no separator on the
    // key's line, or its value starts on another line: the whole part after the key becomes
    // `separator value`.
    let between = &source[key_end..span.start];
    let plain = matches!(between.trim(), ":" | "=") && !between.contains('\n');
    if plain {
        splice(source, span, value)
    } else {
        splice(source, key_end..span.end, &format!("{}{value}", style.separator))
    }
}

/// The start of the line holding `offset`, and that line's indentation.
fn line_of(source: &str, offset: usize) -> (usize, &str) {
    let start = source[..offset].rfind('\n').map_or(0, |position| position + 1);
    let rest = &source[start..];
    let indent_len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    (start, &rest[..indent_len])
}

/// The offset just after the line break that ends the line holding `offset` (the end of the
/// source when the last line has none).
fn after_line(source: &str, offset: usize) -> usize {
    source[offset..].find('\n').map_or(source.len(), |position| offset + position + 1)
}

fn insert_entry(
    source: &str,
    outline: &Outline<'_>,
    path: &Path,
    value: &str,
    style: &Style,
) -> Result<String, EditError> {
    let segments = path.segments();
    // A section replaced by a plain value would be emptied again by its own header below.
    if outline.containers.iter().any(|container| {
        matches!(container.kind, ContainerKind::Section { .. })
            && container.steps.len() >= segments.len()
            && path_matches(&container.steps[..segments.len()], segments)
    }) {
        return Err(EditError::Invalid(format!(
            "`{path}` is a [section] of the file (or holds one); set its keys (`{path}.KEY`) or edit the section"
        )));
    }
    // The nearest written parent: the longest prefix of the path that is a container (the
    // last one written, when a section is opened twice).
    let container = outline
        .containers
        .iter()
        .enumerate()
        .filter(|(_, container)| {
            container.steps.len() < segments.len() && path_matches(&container.steps, &segments[..container.steps.len()])
        })
        .max_by_key(|(position, container)| (container.steps.len(), *position))
        .map(|(_, container)| container)
        .expect("the top level is a prefix of every path");
    let rest = &segments[container.steps.len()..];
    let mut keys = Vec::new();
    for segment in rest {
        match segment {
            Segment::Key(key) => keys.push(key_text(key)),
            Segment::Index(index) => {
                return Err(EditError::Invalid(format!(
                    "`{path}`: the file has no array item `[{index}]` to set; `set` adds keys, not array items"
                )));
            }
        }
    }
    // A value written somewhere on the way that is not an object (`a: 1` when setting `a.b`)
    // would be replaced silently; refuse instead.
    if let Some(found) = outline.values.iter().find(|found| {
        found.steps.len() < segments.len()
            && found.steps.len() >= container.steps.len()
            && path_matches(&found.steps, &segments[..found.steps.len()])
            && !matches!(found.value.kind, ExprKind::Object(_))
    }) {
        let steps = found.steps.len();
        let mut prefix = Path::new();
        for segment in &segments[..steps] {
            match segment {
                Segment::Key(key) => prefix.push_key(key),
                Segment::Index(index) => prefix.push_index(*index),
            }
        }
        return Err(EditError::Invalid(format!(
            "`{prefix}` is not an object in the file, so `{path}` cannot be added to it; set `{prefix}` itself"
        )));
    }
    let separator = style.in_container(source, container);
    match &container.kind {
        ContainerKind::TopLevel { first_section } => {
            if outline.has_sections && keys.len() > 1 {
                // A file of sections gets a new section at its end.
                let (section, key) = keys.split_at(keys.len() - 1);
                let mut out = source.to_string();
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("\n[{}]\n{}{separator}{value}\n", section.join("."), key[0]));
                return Ok(out);
            }
            let entry = format!("{}{separator}{value}", keys.join("."));
            match (container.items.last(), first_section) {
                (Some(last), _) => Ok(insert_after_item(source, last, &entry)),
                (None, Some(section)) => {
                    let (line_start, _) = line_of(source, *section as usize);
                    Ok(splice(source, line_start..line_start, &format!("{entry}\n\n")))
                }
                (None, None) => Ok(append_line(source, &entry)),
            }
        }
        ContainerKind::Section { header } => {
            let entry = format!("{}{separator}{value}", keys.join("."));
            match container.items.last() {
                Some(last) => Ok(insert_after_item(source, last, &entry)),
                None => {
                    let at = after_line(source, header.end);
                    let line = if at == source.len() && !source.ends_with('\n') {
                        format!("\n{entry}\n")
                    } else {
                        format!("{entry}\n")
                    };
                    Ok(splice(source, at..at, &line))
                }
            }
        }
        ContainerKind::Body { span } => {
            let entry = format!("{}{separator}{value}", keys.join("."));
            // An object literal or curly block written on one line; an indented body (whose
            // span starts at its first entry) and an angle block always take lines.
            let body = &source[span.clone()];
            let one_line = body.starts_with('{') && !body.contains('\n');
            match container.items.last() {
                Some(last) if one_line => {
                    // `{ a: 1, b: 2 }`: the new entry after the last, separated as the others are.
                    let items = &container.items;
                    let joint = match items.len() {
                        n if n >= 2 => {
                            source[items[n - 2].span.end as usize..items[n - 1].span.start as usize].to_string()
                        }
                        _ => ", ".to_string(),
                    };
                    let at = last.span.end as usize;
                    Ok(splice(source, at..at, &format!("{joint}{entry}")))
                }
                Some(last) => Ok(insert_after_item(source, last, &entry)),
                None if one_line => {
                    // `{}` or `{ }`: the entry inside the braces.
                    let inner = span.start + 1..span.end - 1;
                    Ok(splice(source, inner, &format!(" {entry} ")))
                }
                None => {
                    // An empty block over several lines: before its closing line, one
                    // indentation step deeper than the line that opens it.
                    let (_, indent) = line_of(source, span.start);
                    let closing = span.end.saturating_sub(1);
                    let (closing_line, _) = line_of(source, closing);
                    Ok(splice(source, closing_line..closing_line, &format!("{indent}    {entry}\n")))
                }
            }
        }
    }
}

/// A new line after the line where `item` ends, indented like the line where it starts.
fn insert_after_item(source: &str, item: &Item<'_>, entry: &str) -> String {
    let (_, indent) = line_of(source, item.span.start as usize);
    let at = after_line(source, item.span.end as usize);
    if at == source.len() && !source.ends_with('\n') {
        splice(source, at..at, &format!("\n{indent}{entry}"))
    } else {
        splice(source, at..at, &format!("{indent}{entry}\n"))
    }
}

fn append_line(source: &str, entry: &str) -> String {
    let mut out = source.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(entry);
    out.push('\n');
    out
}

/// `source` formatted: trailing whitespace removed, runs of blank lines made one, blank lines
/// at the start removed, one line break at the end, on one line `key: value` and
/// `key = value`, a space after commas and none before, and spaces around binary operators;
/// then the bodies of blocks and brackets re-indented (see `reindent`). Line breaks, comments
/// and the order of everything are kept; the tokens of the result are checked to be those of
/// `source`, and its tree the same. `source_id` names the file in syntax errors.
pub fn format(source: &str, source_id: SourceId) -> Result<String, EditError> {
    if let Some(error) = syntax_errors(source, source_id) {
        return Err(error);
    }
    // The tree is needed only for the roles: it is dropped before the output is built, which
    // with the trees made below for the checks would otherwise hold several at once.
    let roles = {
        let parsed = parse(source, ParseOptions::default());
        let document = parsed.ast.expect("a document without errors has a tree");
        let mut roles = Roles::default();
        for item in &document.items {
            roles.item(source, item);
        }
        roles.sort();
        roles
    };
    let lexed = tusk_lexer::lex(source);
    let tokens: Vec<_> = lexed.tokens.iter().filter(|token| token.kind != TokenKind::Newline).collect();
    let mut out = String::with_capacity(source.len());
    let mut previous_end = 0usize;
    // Depth of string literals being inside (`"a ${b} c"`): their gaps are text, never touched.
    let mut in_string = Vec::<bool>::new();
    for (position, token) in tokens.iter().enumerate() {
        let start = token.span.start as usize;
        let gap = &source[previous_end..start];
        let inside_text = in_string.last().copied().unwrap_or(false);
        if inside_text {
            out.push_str(gap);
        } else if position == 0 {
            out.push_str(&leading_gap(gap));
        } else {
            let before = tokens[position - 1];
            out.push_str(&rewrite_gap(gap, before.kind, before.span.start, token.kind, token.span.start, &roles));
        }
        match token.kind {
            TokenKind::StrStart => in_string.push(true),
            TokenKind::InterpStart => in_string.push(false),
            TokenKind::StrEnd | TokenKind::InterpEnd => {
                in_string.pop();
            }
            _ => {}
        }
        out.push_str(&source[start..token.span.end as usize]);
        previous_end = token.span.end as usize;
    }
    let tail = &source[previous_end..];
    let tail = if tokens.is_empty() { leading_gap(tail) } else { rewrite_lines(tail) };
    out.push_str(tail.trim_end_matches(['\n', '\r', ' ', '\t']));
    if !out.is_empty() {
        out.push('\n');
    }
    if !same_tokens(source, &out) {
        return Err(EditError::Invalid(
            "formatting would change the meaning of the file; it was left as it is (please report this)".to_string(),
        ));
    }
    // Indentation is structure in the indented form, so the re-indented text must give the same
    // tree (spans aside); if it does not, the file keeps its indentation.
    let reindented = reindent(&out);
    // An unchanged text needs no check (the trees' comparison is the costliest step, in time
    // and in memory, and a file already formatted always comes here).
    if reindented == out || !(same_tokens(&out, &reindented) && same_tree(&out, &reindented)) {
        Ok(out)
    } else {
        Ok(reindented)
    }
}

/// Lines inside multi-line `{ }`, `[ ]` and `name > <` bodies indented one step (the file's
/// own step: the first such body's, else four spaces) deeper than the line that opens them,
/// and their closing line as deep as that line. Each body is shifted as a whole, so relative
/// indentation inside it (an indented block, a continued expression) is kept. Bodies with
/// tabs in their indentation and lines inside multi-line strings are left alone.
fn reindent(source: &str) -> String {
    let parsed = parse(source, ParseOptions::default());
    let Some(document) = parsed.ast else { return source.to_string() };
    let mut bodies = Vec::new();
    for item in &document.items {
        collect_bodies_item(source, item, &mut bodies);
    }
    if bodies.is_empty() {
        return source.to_string();
    }
    bodies.sort_by_key(|(span, _): &Body| span.start);
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(source.match_indices('\n').map(|(position, _)| position + 1)).collect();
    let line_of = |offset: usize| line_starts.partition_point(|start| *start <= offset) - 1;
    // Lines that start inside a string token (its text, not indentation).
    let lexed = tusk_lexer::lex(source);
    let mut in_string = vec![false; line_starts.len()];
    for token in &lexed.tokens {
        if matches!(token.kind, TokenKind::Str | TokenKind::RawStr | TokenKind::Heredoc | TokenKind::StrText) {
            let (first, last) =
                (line_of(token.span.start as usize), line_of(token.span.end.saturating_sub(1) as usize));
            for flag in &mut in_string[first + 1..=last.max(first)] {
                *flag = true;
            }
        }
    }
    let lines: Vec<&str> = line_starts
        .iter()
        .enumerate()
        .map(|(index, start)| {
            let end = line_starts.get(index + 1).map_or(source.len(), |next| next - 1);
            &source[*start..end]
        })
        .collect();
    let mut indents: Vec<usize> = lines.iter().map(|line| line.len() - line.trim_start_matches(' ').len()).collect();
    let has_tab = |line: &str| line.trim_start_matches(' ').starts_with('\t');
    let is_comment = |line: &str| {
        let trimmed = line.trim_start();
        trimmed.starts_with('#') || trimmed.starts_with("//")
    };
    // True when the item at `offset` is the first thing on its line.
    let starts_line = |offset: usize, line: usize| source[line_starts[line]..offset].trim().is_empty();
    let mut unit = None;
    for (body, items) in &bodies {
        let (open_line, close_line) = (line_of(body.start), line_of(body.end - 1));
        if close_line == open_line {
            continue;
        }
        let region = open_line + 1..close_line + 1;
        if region.clone().any(|line| !in_string[line] && has_tab(lines[line])) {
            continue;
        }
        let first_item_line = items
            .iter()
            .map(|item| (item.start, line_of(item.start)))
            .find(|&(start, line)| line > open_line && starts_line(start, line))
            .map(|(_, line)| line);
        let step = *unit.get_or_insert_with(|| {
            match first_item_line.map(|line| indents[line].saturating_sub(indents[open_line])) {
                Some(0) | None => 4,
                Some(step) => step,
            }
        });
        let wanted = indents[open_line] + step;
        let mut moved = vec![false; lines.len()];
        // Each item that starts its line moves to the body's indentation, with its other lines
        // (an indented block, a continued expression) moving as far.
        for item in items {
            let first = line_of(item.start);
            if first <= open_line || !starts_line(item.start, first) || moved[first] {
                continue;
            }
            let shift = wanted as isize - indents[first] as isize;
            let last = line_of(item.end.saturating_sub(1).max(item.start)).min(close_line);
            for line in first..=last {
                if !in_string[line] && !moved[line] && !lines[line].trim().is_empty() {
                    indents[line] = (indents[line] as isize + shift).max(0) as usize;
                    moved[line] = true;
                }
            }
        }
        // Comment lines between the items take the items' indentation.
        for line in open_line + 1..close_line {
            if !moved[line] && !in_string[line] && is_comment(lines[line]) {
                indents[line] = wanted;
            }
        }
        let closer = match &source[body.start..body.start + 1] {
            "{" => '}',
            "[" => ']',
            _ => '<',
        };
        if !in_string[close_line] && !moved[close_line] && lines[close_line].trim_start().starts_with(closer) {
            indents[close_line] = indents[open_line];
        }
    }
    let mut out = String::with_capacity(source.len());
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let content = line.trim_start_matches(' ');
        if in_string[index] || content.is_empty() || content.starts_with('\t') {
            out.push_str(line);
        } else {
            out.push_str(&" ".repeat(indents[index]));
            out.push_str(content);
        }
    }
    out
}

/// A body's span and the spans of its items.
type Body = (Range<usize>, Vec<Range<usize>>);

/// The spans of object and array bodies written with `{`, `[` or `>` (not the indented form,
/// whose indentation its parent line decides).
fn collect_bodies_item(source: &str, item: &Item<'_>, out: &mut Vec<Body>) {
    match &item.kind {
        ItemKind::Entry { value, .. } | ItemKind::Global { value, .. } | ItemKind::ListItem(value) => {
            collect_bodies_expr(source, value, out)
        }
        _ => {}
    }
}

fn collect_bodies_expr(source: &str, expr: &Expr<'_>, out: &mut Vec<Body>) {
    let opens = source.get(expr.span.start as usize..).is_some_and(|rest| rest.starts_with(['{', '[', '>']));
    match &expr.kind {
        ExprKind::Object(items) => {
            if opens {
                out.push((expr.span.range(), items.iter().map(|item| item.span.range()).collect()));
            }
            items.iter().for_each(|item| collect_bodies_item(source, item, out));
        }
        ExprKind::Array(elements) => {
            if opens {
                out.push((expr.span.range(), elements.iter().map(|element| element.span.range()).collect()));
            }
            elements.iter().for_each(|element| collect_bodies_expr(source, element, out));
        }
        ExprKind::Call(callee, args) => {
            collect_bodies_expr(source, callee, out);
            args.iter().for_each(|arg| collect_bodies_expr(source, arg, out));
        }
        ExprKind::Operator { args: Some(args), .. } => {
            args.iter().for_each(|arg| collect_bodies_expr(source, arg, out))
        }
        ExprKind::Lambda(_, body) | ExprKind::Unary(_, body) => collect_bodies_expr(source, body, out),
        ExprKind::Binary(_, left, right) | ExprKind::Index(left, right) => {
            collect_bodies_expr(source, left, out);
            collect_bodies_expr(source, right, out);
        }
        ExprKind::Ternary(a, b, c) => {
            collect_bodies_expr(source, a, out);
            collect_bodies_expr(source, b, out);
            collect_bodies_expr(source, c, out);
        }
        _ => {}
    }
}

/// True when both texts parse to the same tree, spans aside.
fn same_tree(a: &str, b: &str) -> bool {
    let (tree_a, tree_b) = (parse(a, ParseOptions::default()), parse(b, ParseOptions::default()));
    tree_a.errors.is_empty()
        && tree_b.errors.is_empty()
        && without_spans(&format!("{:?}", tree_a.ast)) == without_spans(&format!("{:?}", tree_b.ast))
}

/// Debug text of a tree with every `Span { start: N, end: N }` removed.
fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(position) = rest.find("Span { start: ") {
        out.push_str(&rest[..position]);
        rest = &rest[position..];
        let end = rest.find('}').map_or(rest.len(), |close| close + 1);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// What the tree says about some tokens, by their start: entry separators and binary
/// operators (a `-` token may be either binary or unary; the tree knows which). Sorted once
/// collected ([`Roles::sort`]) and searched by halves: a gap is looked up for every token, and
/// a list walk per token made formatting a large file quadratic.
#[derive(Default)]
struct Roles {
    colons: Vec<u32>,
    assigns: Vec<u32>,
    binary: Vec<u32>,
}

impl Roles {
    fn sort(&mut self) {
        for starts in [&mut self.colons, &mut self.assigns, &mut self.binary] {
            starts.sort_unstable();
        }
    }

    fn is_colon(&self, start: u32) -> bool {
        self.colons.binary_search(&start).is_ok()
    }

    fn is_assign(&self, start: u32) -> bool {
        self.assigns.binary_search(&start).is_ok()
    }

    fn is_binary(&self, start: u32) -> bool {
        self.binary.binary_search(&start).is_ok()
    }

    fn item(&mut self, source: &str, item: &Item<'_>) {
        match &item.kind {
            ItemKind::Entry { key, value } => {
                if let Some(last) = key.last() {
                    let between = &source[last.span.end as usize..value.span.start as usize];
                    if !between.contains('\n') {
                        let offset = between.len() - between.trim_start().len();
                        let at = last.span.end + offset as u32;
                        match between.trim() {
                            ":" => self.colons.push(at),
                            "=" => self.assigns.push(at),
                            _ => {}
                        }
                    }
                }
                self.expr(source, value);
            }
            ItemKind::Global { value, .. } | ItemKind::ListItem(value) => self.expr(source, value),
            ItemKind::Section { .. } | ItemKind::Error => {}
        }
    }

    fn expr(&mut self, source: &str, expr: &Expr<'_>) {
        match &expr.kind {
            ExprKind::Binary(op, left, right) => {
                let between = &source[left.span.end as usize..right.span.start as usize];
                // Only an operator alone between its operands (no comment, no parentheses).
                if between.trim() == op.symbol() {
                    let offset = between.len() - between.trim_start().len();
                    self.binary.push(left.span.end + offset as u32);
                }
                self.expr(source, left);
                self.expr(source, right);
            }
            ExprKind::Interpolated(parts) => {
                for part in parts {
                    if let tusk_parser::ast::StrPart::Expr(inner) = part {
                        self.expr(source, inner);
                    }
                }
            }
            ExprKind::Operator { args: Some(args), .. } => args.iter().for_each(|arg| self.expr(source, arg)),
            ExprKind::Array(items) => items.iter().for_each(|item| self.expr(source, item)),
            ExprKind::Object(items) => items.iter().for_each(|item| self.item(source, item)),
            ExprKind::Unary(_, inner) | ExprKind::Member(inner, ..) | ExprKind::Lambda(_, inner) => {
                self.expr(source, inner)
            }
            ExprKind::Ternary(a, b, c) => {
                self.expr(source, a);
                self.expr(source, b);
                self.expr(source, c);
            }
            ExprKind::Call(callee, args) => {
                self.expr(source, callee);
                args.iter().for_each(|arg| self.expr(source, arg));
            }
            ExprKind::Index(a, b) => {
                self.expr(source, a);
                self.expr(source, b);
            }
            _ => {}
        }
    }
}

/// The text before the first token: comments kept, blank lines before them dropped.
fn leading_gap(gap: &str) -> String {
    rewrite_lines(gap.trim_start_matches(['\n', '\r', ' ', '\t']))
}

/// A gap that spans lines: trailing whitespace off each line, runs of blank lines made one.
fn rewrite_lines(gap: &str) -> String {
    let mut out = String::with_capacity(gap.len());
    let mut lines = gap.split('\n').peekable();
    let mut blank_run = 0;
    let mut first = true;
    while let Some(line) = lines.next() {
        let is_last = lines.peek().is_none();
        if is_last {
            // What follows the last line break is the next line's indentation: kept as is.
            if !first {
                out.push('\n');
            }
            out.push_str(line);
            break;
        }
        let carriage_return = line.ends_with('\r');
        let content = line.trim_end_matches(['\r', ' ', '\t']);
        if content.is_empty() && !first {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !first {
            out.push('\n');
        }
        out.push_str(content);
        if carriage_return {
            out.push('\r');
        }
        first = false;
    }
    out
}

fn rewrite_gap(
    gap: &str,
    before: TokenKind,
    before_start: u32,
    after: TokenKind,
    after_start: u32,
    roles: &Roles,
) -> String {
    if gap.contains('\n') {
        return rewrite_lines(gap);
    }
    // A comment, or a `#` that needs its space, is left alone.
    if gap.contains(['#', '/']) {
        return gap.to_string();
    }
    if matches!(after, TokenKind::Comma | TokenKind::Semicolon) {
        return String::new();
    }
    if roles.is_colon(after_start) {
        return String::new();
    }
    if roles.is_assign(after_start) || roles.is_assign(before_start) {
        return " ".to_string();
    }
    if roles.is_colon(before_start) {
        return " ".to_string();
    }
    if roles.is_binary(after_start) || roles.is_binary(before_start) {
        return " ".to_string();
    }
    if before == TokenKind::Comma && !matches!(after, TokenKind::RBracket | TokenKind::RBrace | TokenKind::RParen) {
        return " ".to_string();
    }
    gap.to_string()
}

/// True when both texts lex to the same tokens (kinds and texts; line breaks count where
/// they separate tokens, not at the ends nor how many follow each other).
fn same_tokens(a: &str, b: &str) -> bool {
    fn significant(source: &str) -> (usize, Vec<(TokenKind, &str)>) {
        let lexed = tusk_lexer::lex(source);
        let mut tokens: Vec<(TokenKind, &str)> = Vec::new();
        for token in &lexed.tokens {
            let is_break = token.kind == TokenKind::Newline;
            if is_break && tokens.last().is_none_or(|(kind, _)| *kind == TokenKind::Newline) {
                continue;
            }
            tokens.push((token.kind, if is_break { "" } else { &source[token.span.range()] }));
        }
        if tokens.last().is_some_and(|(kind, _)| *kind == TokenKind::Newline) {
            tokens.pop();
        }
        (lexed.errors.len(), tokens)
    }
    significant(a) == significant(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_text(source: &str, path: &str, value: &str) -> String {
        match set(source, SourceId::default(), &Path::parse(path).unwrap(), value) {
            Ok(text) => text,
            Err(EditError::Syntax(diagnostics)) => format!("syntax: {}", diagnostics[0].message),
            Err(error) => format!("error: {error}"),
        }
    }

    fn fmt(source: &str) -> String {
        format(source, SourceId::default()).unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn set_replaces_a_value_and_keeps_comments() {
        assert_eq!(
            set_text("# top\nport: 80  # http\nhost: \"a\"\n", "port", "8080"),
            "# top\nport: 8080  # http\nhost: \"a\"\n"
        );
    }

    #[test]
    fn set_in_sections_blocks_and_indented_bodies() {
        let source = "[server]\nhost = \"a\"\nport = 80\n\n[db]\nname = \"x\"\n";
        assert_eq!(set_text(source, "server.port", "81"), "[server]\nhost = \"a\"\nport = 81\n\n[db]\nname = \"x\"\n");
        assert_eq!(
            set_text(source, "server.tls", "true"),
            "[server]\nhost = \"a\"\nport = 80\ntls = true\n\n[db]\nname = \"x\"\n"
        );
        assert_eq!(set_text(source, "cache.ttl", "60"), format!("{source}\n[cache]\nttl = 60\n"));
        let blocks = "app {\n    name: \"x\"\n    pool {\n        min: 1\n    }\n}\n";
        assert_eq!(
            set_text(blocks, "app.pool.max", "10"),
            "app {\n    name: \"x\"\n    pool {\n        min: 1\n        max: 10\n    }\n}\n"
        );
        assert_eq!(set_text("a { x: 1, y: 2 }\n", "a.z", "3"), "a { x: 1, y: 2, z: 3 }\n");
        assert_eq!(set_text("a: {}\n", "a.z", "3"), "a: { z: 3 }\n");
        assert_eq!(set_text("db:\n  host: \"h\"\n", "db.port", "5432"), "db:\n  host: \"h\"\n  port: 5432\n");
        assert_eq!(set_text("db:\n  host: \"h\"\n", "db", "null"), "db: null\n");
        assert_eq!(set_text("a {\n  b: 1\n}\n", "a", "2"), "a: 2\n");
        assert_eq!(set_text("hosts: [\"a\", \"b\"]\n", "hosts[-1]", "\"c\""), "hosts: [\"a\", \"c\"]\n");
        assert_eq!(set_text("x: 1", "y", "2"), "x: 1\ny: 2");
        assert_eq!(set_text("", "\"a.b\"", "2"), "\"a.b\": 2\n");
        assert_eq!(set_text("top: 1\n\n[s]\nk: 2\n", "new", "3"), "top: 1\nnew: 3\n\n[s]\nk: 2\n");
        assert_eq!(set_text("# c\n[s]\nk: 2\n", "new", "3"), "# c\nnew: 3\n\n[s]\nk: 2\n");
    }

    #[test]
    fn set_refuses_what_it_cannot_do() {
        assert_eq!(
            set_text("[server]\nport: 1\n", "server", "2"),
            "error: `server` is a [section] of the file (or holds one); set its keys (`server.KEY`) or edit the section"
        );
        assert_eq!(
            set_text("a: 1\n", "a.b", "2"),
            "error: `a` is not an object in the file, so `a.b` cannot be added to it; set `a` itself"
        );
        assert_eq!(
            set_text("a: [1]\n", "a[3]", "2"),
            "error: `a[3]`: the file has no array item `[3]` to set; `set` adds keys, not array items"
        );
        assert!(
            set_text("a: 1\n", "a", "hello world").starts_with("error: `hello world` is not a TuskLang expression")
        );
        assert!(set_text("a: (\n", "a", "1").starts_with("syntax: "));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_string("a\"b\\c\n${x} $y"), "\"a\\\"b\\\\c\\n\\${x} $y\"");
        assert_eq!(key_text("max-conn"), "max-conn");
        assert_eq!(key_text("my key"), "\"my key\"");
        assert_eq!(key_text("1x"), "\"1x\"");
    }

    #[test]
    fn format_normalises_spacing_and_keeps_the_rest() {
        assert_eq!(
            fmt("\n\n# head   \nport:8080   \nhost =\"a\"\n\n\n\nlist: [1 ,2,3]\nsum: 1+2*3\nneg: -5\nname: max-min\n"),
            "# head\nport: 8080\nhost = \"a\"\n\nlist: [1, 2, 3]\nsum: 1 + 2 * 3\nneg: -5\nname: max-min\n"
        );
        assert_eq!(fmt("a {\n    b :1 # c  \n}"), "a {\n    b: 1 # c\n}\n");
        assert_eq!(fmt("s: \"x  ${1+2}  y\"   \n"), "s: \"x  ${1 + 2}  y\"\n");
        assert_eq!(fmt("q: \"\"\"\n  a   \n\n\n  b\n  \"\"\"\n"), "q: \"\"\"\n  a   \n\n\n  b\n  \"\"\"\n");
        assert_eq!(fmt("r: 4-10\nx: 1\nd: x -1\n"), "r: 4-10\nx: 1\nd: x - 1\n");
        let formatted = "[server]\nhost: \"a\"\n\ndb:\n  - 1\n  - 2\n";
        assert_eq!(fmt(formatted), formatted);
        assert!(fmt("a: (\n").starts_with("error: the file has"));
    }

    #[test]
    fn format_indents_bodies_and_keeps_indented_blocks() {
        assert_eq!(
            fmt("app {\nname: \"x\"\n      pool {\n   min: 1\n     }\n        }\n"),
            "app {\n    name: \"x\"\n    pool {\n        min: 1\n    }\n}\n"
        );
        // The file's own step (two spaces), and an indented block inside a body kept relative.
        assert_eq!(
            fmt("a {\n  b: 1\n}\nc {\n      d:\n        e: 1\n      f: [\n 1,\n  2\n  ]\n}\n"),
            "a {\n  b: 1\n}\nc {\n  d:\n    e: 1\n  f: [\n    1,\n    2\n  ]\n}\n"
        );
        let angle = "a {\n  b: 1\n}\nsrv >\n        port: 1\n    # note\n<\n";
        assert_eq!(fmt(angle), "a {\n  b: 1\n}\nsrv >\n  port: 1\n  # note\n<\n");
        let text = "a {\n  b: 1\n}\nc {\n        s: \"line\n  kept\"\n}\n";
        assert_eq!(fmt(text), "a {\n  b: 1\n}\nc {\n  s: \"line\n  kept\"\n}\n");
    }
}
