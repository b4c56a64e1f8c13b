//! Documents of literals read straight from their bytes: the first try of `parse` and of
//! `parse_building`.
//!
//! A config file is mostly `[section]` headers, `name: literal` entries, `name { … }` blocks
//! and arrays of literals. For such a document the lexer, the layout pass and the descent pass
//! mostly hand tokens to one another; this reader goes over the bytes once and hands what it
//! reads to a [`Sink`], which makes exactly what the descent pass makes of them: the syntax
//! tree of `parse` ([`Trees`]: the same nodes, keys and spans, strings borrowed or owned
//! alike), or the statements of `parse_building` with a builder ([`Building`], as
//! `descent::Built`: the same keys and spans, and the same builder calls in the same order).
//!
//! It accepts a strict subset of valid input and gives up (`None`) at the first byte outside
//! it; the input then takes the ordinary route, which words every error. Outside the subset:
//! anything the layout pass treats specially (a top-level line that does not start at its
//! first column, `key:` at the end of a line, `name >` blocks, `-`, every operator, `;`, a
//! comma or line break where two separators meet in an array), strings with `${`, `\u{…}` or
//! an invalid escape, numbers other than at most 18 digits with an optional fraction, quoted,
//! dotted or keyword keys, `'` and heredoc strings, `\r` outside strings, nesting as deep as
//! the limit, and any value the sink refuses (a builder may). Where it does accept input, each
//! rule below names the token rule it stands for; the parser's tests compare its trees with the
//! descent pass's and the grammar's, and its statements with the descent pass's, on every file
//! they read and on thousands of mutated ones.

use std::borrow::Cow;

use tusk_diagnostics::Span;

use crate::ValueBuilder;
use crate::ast::{Expr, ExprKind, Item, ItemKind, Key, KeyPath, Statement};
use crate::descent::take_above;
use crate::layout::parse_float;
use crate::strings::unescape_owned;
use tusk_lexer::find_any_of;

/// The statements of `source` as the descent pass makes them, made by `sink`, or `None` when
/// the document is not one this reader takes (nothing it made is kept then).
pub(crate) fn document<'s, S: Sink<'s>>(source: &'s str, max_depth: usize, sink: S) -> Option<Vec<S::Statement>> {
    // Spans are `u32` offsets.
    u32::try_from(source.len()).ok()?;
    let (values, entries) = S::scratch();
    let mut reader = Reader { source, bytes: source.as_bytes(), pos: 0, depth: 0, max_depth, sink, values, entries };
    reader.statements()
}

/// What the reader makes of what it reads, each piece with its span (which the descent pass
/// would give its expression or statement). Every method that returns an `Option` may refuse,
/// and the reader then gives up on the document.
pub(crate) trait Sink<'s> {
    /// A value: a literal, array or object.
    type Value;
    /// An entry of an object.
    type Entry;
    /// A top-level statement.
    type Statement;

    /// The scratch stacks the reader starts with: items of open arrays, entries of open
    /// objects (which `array` and `object` take from `base` on).
    fn scratch() -> (Vec<Self::Value>, Vec<Self::Entry>);

    /// `null`, a boolean, an integer or a float.
    fn scalar(&mut self, literal: ExprKind<'s>, span: Span) -> Option<Self::Value>;

    /// A string literal's text.
    fn string(&mut self, text: Cow<'s, str>, span: Span) -> Option<Self::Value>;

    /// An array of `items[base..]`, which it takes (never refused, as by a builder).
    fn array(&mut self, items: &mut Vec<Self::Value>, base: usize, span: Span) -> Self::Value;

    /// An object of `entries[base..]`, which it takes.
    fn object(&mut self, entries: &mut Vec<Self::Entry>, base: usize, span: Span) -> Option<Self::Value>;

    /// An entry of an object; `span` runs from the key to the end of the value.
    fn entry(key: Key<'s>, value: Self::Value, span: Span) -> Self::Entry;

    /// A top-level entry: `value_span` is the value's, `span` the whole entry's.
    fn top_entry(key: Key<'s>, value: Self::Value, value_span: Span, span: Span) -> Self::Statement;

    /// `[path]`.
    fn section(path: Vec<Key<'s>>, span: Span) -> Self::Statement;
}

/// Syntax trees, as `parse` has them (the descent pass's `Items`).
pub(crate) struct Trees;

impl<'s> Sink<'s> for Trees {
    type Value = Expr<'s>;
    type Entry = Item<'s>;
    type Statement = Item<'s>;

    fn scratch() -> (Vec<Expr<'s>>, Vec<Item<'s>>) {
        // As the descent pass's stacks, each starts above a placeholder that is never taken, so
        // that every array or object leaves its stack in one copy (`take_above`).
        let placeholder = Span::point(0);
        (
            vec![Expr { kind: ExprKind::Invalid, span: placeholder }],
            vec![Item { kind: ItemKind::Error, span: placeholder }],
        )
    }

    #[inline]
    fn scalar(&mut self, literal: ExprKind<'s>, span: Span) -> Option<Expr<'s>> {
        Some(Expr { kind: literal, span })
    }

    #[inline]
    fn string(&mut self, text: Cow<'s, str>, span: Span) -> Option<Expr<'s>> {
        Some(Expr { kind: ExprKind::Str(text), span })
    }

    #[inline]
    fn array(&mut self, items: &mut Vec<Expr<'s>>, base: usize, span: Span) -> Expr<'s> {
        Expr { kind: ExprKind::Array(take_above(items, base)), span }
    }

    #[inline]
    fn object(&mut self, entries: &mut Vec<Item<'s>>, base: usize, span: Span) -> Option<Expr<'s>> {
        Some(Expr { kind: ExprKind::Object(take_above(entries, base)), span })
    }

    #[inline]
    fn entry(key: Key<'s>, value: Expr<'s>, span: Span) -> Item<'s> {
        Item { kind: ItemKind::Entry { key: KeyPath::one(key), value }, span }
    }

    #[inline]
    fn top_entry(key: Key<'s>, value: Expr<'s>, _value_span: Span, span: Span) -> Item<'s> {
        Trees::entry(key, value, span)
    }

    #[inline]
    fn section(path: Vec<Key<'s>>, span: Span) -> Item<'s> {
        Item { kind: ItemKind::Section { path }, span }
    }
}

/// The statements of `parse_building` with a builder (the descent pass's `Built`): every
/// top-level entry is built.
pub(crate) struct Building<'b, B>(pub(crate) &'b mut B);

impl<'s, B: ValueBuilder<'s>> Sink<'s> for Building<'_, B> {
    type Value = B::Value;
    type Entry = (Cow<'s, str>, B::Value);
    type Statement = Statement<'s, B::Value>;

    fn scratch() -> (Vec<B::Value>, Vec<(Cow<'s, str>, B::Value)>) {
        (Vec::new(), Vec::new())
    }

    #[inline]
    fn scalar(&mut self, literal: ExprKind<'s>, _: Span) -> Option<B::Value> {
        self.0.scalar(literal)
    }

    #[inline]
    fn string(&mut self, text: Cow<'s, str>, _: Span) -> Option<B::Value> {
        self.0.string(text)
    }

    #[inline]
    fn array(&mut self, items: &mut Vec<B::Value>, base: usize, _: Span) -> B::Value {
        self.0.array(items.drain(base..))
    }

    #[inline]
    fn object(&mut self, entries: &mut Vec<Self::Entry>, base: usize, _: Span) -> Option<B::Value> {
        self.0.object(entries.drain(base..))
    }

    #[inline]
    fn entry(key: Key<'s>, value: B::Value, _: Span) -> Self::Entry {
        (key.name, value)
    }

    #[inline]
    fn top_entry(key: Key<'s>, value: B::Value, value_span: Span, span: Span) -> Self::Statement {
        Statement::Built { key: KeyPath::one(key), value, value_span, span }
    }

    #[inline]
    fn section(path: Vec<Key<'s>>, span: Span) -> Self::Statement {
        Statement::Item(Item { kind: ItemKind::Section { path }, span })
    }
}

struct Reader<'s, S: Sink<'s>> {
    source: &'s str,
    bytes: &'s [u8],
    pos: usize,
    /// Brackets open (the layout pass's frames), kept below `max_depth`.
    depth: usize,
    max_depth: usize,
    /// Held by value: a builder's sink is a reference to it, reached in one step.
    sink: S,
    // Scratch stacks, as the descent pass's: items of open arrays, entries of open objects.
    values: Vec<S::Value>,
    entries: Vec<S::Entry>,
}

/// A byte that may follow `#` or `//` for them to start a comment (the lexer's rule).
fn comment_may_follow(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Byte classes, looked up by the loops over names, digits and blanks (one load and test a
/// byte instead of a chain of comparisons).
const NAME: u8 = 1;
const DIGIT: u8 = 2;
const SPACE: u8 = 4;

static CLASSES: [u8; 256] = {
    let mut classes = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        classes[byte] = if b.is_ascii_digit() {
            NAME | DIGIT
        } else if b.is_ascii_alphabetic() || b == b'_' || b == b'-' {
            NAME
        } else if b == b' ' || b == b'\t' {
            SPACE
        } else {
            0
        };
        byte += 1;
    }
    classes
};

impl<'s, S: Sink<'s>> Reader<'s, S> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The offset of the first byte from `from` on that is not of `class`, or the end.
    #[inline]
    fn scan(&self, from: usize, class: u8) -> usize {
        let rest = self.bytes.get(from..).unwrap_or_default();
        rest.iter().position(|&byte| CLASSES[usize::from(byte)] & class == 0).map_or(self.bytes.len(), |at| from + at)
    }

    #[inline]
    fn span_from(&self, start: usize) -> Span {
        // Both fit: the source's length does (checked in `document`).
        Span::new(start as u32, self.pos as u32)
    }

    /// Skips what makes no token: spaces and tabs, comments (`#` and `//` after whitespace or
    /// at the start of the input, up to the end of their line), and line breaks when
    /// `line_breaks` (where the layout pass drops them or, folded into one, they separate what
    /// the caller looks at next).
    ///
    /// True when it went past a line break.
    #[inline]
    fn skip_blank(&mut self, line_breaks: bool) -> bool {
        let mut went_past = false;
        loop {
            self.pos = self.scan(self.pos, SPACE);
            match self.peek() {
                Some(b'\n') if line_breaks => {
                    self.pos += 1;
                    went_past = true;
                }
                Some(byte @ (b'#' | b'/')) if self.starts_comment(byte) => {
                    self.pos =
                        memchr::memchr(b'\n', &self.bytes[self.pos..]).map_or(self.bytes.len(), |at| self.pos + at);
                }
                _ => return went_past,
            }
        }
    }

    #[cold]
    fn starts_comment(&self, byte: u8) -> bool {
        let after_blank = self.pos == 0 || comment_may_follow(self.bytes[self.pos - 1]);
        after_blank && (byte == b'#' || self.bytes.get(self.pos + 1) == Some(&b'/'))
    }

    /// Spaces and tabs only.
    #[inline]
    fn skip_spaces(&mut self) {
        self.pos = self.scan(self.pos, SPACE);
    }

    /// Opens a bracket: `None` when as many are open as the depth limit allows (the layout pass
    /// refuses the input past it; this reader leaves the input to it a level earlier).
    #[inline]
    fn open(&mut self) -> Option<()> {
        self.depth += 1;
        self.pos += 1;
        (self.depth < self.max_depth).then_some(())
    }

    /// The document's statements (`TopLevel::read_statements` with `Built`): each starts a line
    /// and ends it (or the input).
    fn statements(&mut self) -> Option<Vec<S::Statement>> {
        let mut statements = Vec::new();
        loop {
            self.skip_blank(true);
            let Some(byte) = self.peek() else { return Some(statements) };
            // Indentation of a top-level line is the layout pass's to judge.
            if self.pos > 0 && self.bytes[self.pos - 1] != b'\n' {
                return None;
            }
            let statement = if byte == b'[' { self.section()? } else { self.top_entry()? };
            statements.push(statement);
            self.skip_blank(false);
            if !matches!(self.peek(), None | Some(b'\n')) {
                return None;
            }
        }
    }

    /// `[name.name]` (`Descent::section`). Each `.` is an operator to the layout pass, which
    /// counts it toward the depth until the `]`.
    fn section(&mut self) -> Option<S::Statement> {
        let start = self.pos;
        let depth = self.depth;
        self.open()?;
        let mut path = Vec::new();
        loop {
            self.skip_spaces();
            path.push(self.key()?);
            self.skip_spaces();
            match self.peek()? {
                b'.' => self.open()?,
                b']' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        self.depth = depth;
        Some(S::section(path, self.span_from(start)))
    }

    /// A key of one name (the lexer's `Name`: `[A-Za-z_][A-Za-z0-9_-]*`, longest match, which
    /// is a keyword token when it is `true`, `false` or `null`).
    #[inline]
    fn key(&mut self) -> Option<Key<'s>> {
        let start = self.pos;
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        self.pos = self.scan(start + 1, NAME);
        let name = &self.source[start..self.pos];
        if matches!(name, "true" | "false" | "null") {
            return None;
        }
        Some(Key { name: Cow::Borrowed(name), span: self.span_from(start) })
    }

    /// A top-level entry (`Descent::statement`, built: `Descent::top_entry`): its span runs from
    /// the key to the end of the value.
    fn top_entry(&mut self) -> Option<S::Statement> {
        let start = self.pos;
        let key = self.key()?;
        self.skip_spaces();
        let (value, value_span) = self.entry_value()?;
        Some(S::top_entry(key, value, value_span, self.span_from(start)))
    }

    /// What follows a key (`Descent::entry_value`, built: `built_entry_value`): `:` or `=` and a
    /// value on the same line, or an object or array right after the key.
    fn entry_value(&mut self) -> Option<(S::Value, Span)> {
        match self.peek()? {
            // (`==` and `=>` are other tokens.)
            b':' | b'=' if !matches!(self.bytes.get(self.pos + 1), Some(b'=' | b'>')) => {
                self.pos += 1;
                self.skip_spaces();
                self.value()
            }
            b'{' | b'[' => self.value(),
            _ => None,
        }
    }

    /// A literal, object or array (`Descent::value` of one atom, built: `built_unary` without its
    /// operators), and its span.
    fn value(&mut self) -> Option<(S::Value, Span)> {
        let start = self.pos;
        let value = match self.peek()? {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => self.string()?,
            b'0'..=b'9' => self.number()?,
            b'a'..=b'z' => self.keyword()?,
            _ => return None,
        };
        Some((value, self.span_from(start)))
    }

    /// `{` entries `}` (`Descent::braced_body`, built: `built_braced_object`). Entries are
    /// separated by line breaks and commas, any number of them (`skip_separators`); a line break
    /// after `{` or before `}` is dropped by the layout pass, and skipping it here comes to the
    /// same.
    fn object(&mut self) -> Option<S::Value> {
        let start = self.pos;
        self.open()?;
        let base = self.entries.len();
        self.skip_separators();
        while self.peek()? != b'}' {
            let entry_start = self.pos;
            let key = self.key()?;
            self.skip_spaces();
            let (value, _) = self.entry_value()?;
            self.entries.push(S::entry(key, value, self.span_from(entry_start)));
            self.skip_blank(false);
            if !self.skip_separators() {
                break;
            }
        }
        if self.peek()? != b'}' {
            return None;
        }
        self.pos += 1;
        self.depth -= 1;
        let span = self.span_from(start);
        self.sink.object(&mut self.entries, base, span)
    }

    /// Line breaks and commas, with what makes no token among them; true when there was one.
    #[inline]
    fn skip_separators(&mut self) -> bool {
        let mut separated = false;
        loop {
            separated |= self.skip_blank(true);
            if self.peek() != Some(b',') {
                return separated;
            }
            self.pos += 1;
            separated = true;
        }
    }

    /// `[` items `]` (`Descent::array_items`, built: `built_array`): exactly one separator between
    /// items, a comma or a line break (a line break after `[`, after a comma or before `]` is
    /// dropped by the layout pass, and runs of them are folded into one by the lexer); one
    /// trailing comma.
    fn array(&mut self) -> Option<S::Value> {
        let start = self.pos;
        self.open()?;
        let base = self.values.len();
        self.skip_blank(true);
        while self.peek()? != b']' {
            let (item, _) = self.value()?;
            self.values.push(item);
            self.skip_blank(false);
            match self.peek()? {
                b']' => break,
                b',' | b'\n' => {
                    self.pos += 1;
                    self.skip_blank(true);
                    // A second separator (`1,,2`, a line break then a comma): the descent pass
                    // refuses it, and so does the grammar.
                    if self.peek()? == b',' {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        self.pos += 1;
        self.depth -= 1;
        let span = self.span_from(start);
        Some(self.sink.array(&mut self.values, base, span))
    }

    /// `"…"` (the lexer's `double_quoted`, `Descent::literal_at`): no `${`, escapes of one
    /// character only.
    fn string(&mut self) -> Option<S::Value> {
        let start = self.pos;
        let mut at = start + 1;
        let mut escaped = false;
        loop {
            at = find_any_of(self.bytes, at, [b'"', b'\\', b'$']);
            match *self.bytes.get(at)? {
                b'"' => break,
                b'\\' => match *self.bytes.get(at + 1)? {
                    b'\\' | b'"' | b'\'' | b'n' | b't' | b'r' | b'0' | b'$' => {
                        escaped = true;
                        at += 2;
                    }
                    _ => return None,
                },
                _ if self.bytes.get(at + 1) == Some(&b'{') => return None,
                _ => at += 1,
            }
        }
        let body = &self.source[start + 1..at];
        self.pos = at + 1;
        let text = if escaped { Cow::Owned(unescape_owned(body)) } else { Cow::Borrowed(body) };
        self.sink.string(text, self.span_from(start))
    }

    /// Digits with an optional `.digits` (the lexer's `Int` and `Float` without `_`, `0x` or an
    /// exponent; what follows is checked by the caller, which takes no letter, digit, `_`, `.`
    /// or `-` there, so the token ends where the lexer's would).
    fn number(&mut self) -> Option<S::Value> {
        let start = self.pos;
        self.pos = self.scan(start, DIGIT);
        let fraction =
            self.peek() == Some(b'.') && self.bytes.get(self.pos + 1).is_some_and(|byte| byte.is_ascii_digit());
        let literal = if fraction {
            self.pos = self.scan(self.pos + 1, DIGIT);
            // (A long float can be too large for the layout pass.)
            if self.pos - start > 200 {
                return None;
            }
            ExprKind::Float(parse_float(&self.source[start..self.pos])?)
        } else {
            // Up to 18 digits always fit an i64: added up here as `parse_int` adds them up.
            let digits = &self.bytes[start..self.pos];
            if digits.len() > 18 {
                return None;
            }
            ExprKind::Int(digits.iter().fold(0, |value, &digit| value * 10 + i64::from(digit - b'0')))
        };
        self.sink.scalar(literal, self.span_from(start))
    }

    /// `true`, `false` or `null` (a longer name is a name, not a literal).
    fn keyword(&mut self) -> Option<S::Value> {
        let start = self.pos;
        self.pos = self.scan(start, NAME);
        let literal = match &self.source[start..self.pos] {
            "true" => ExprKind::Bool(true),
            "false" => ExprKind::Bool(false),
            "null" => ExprKind::Null,
            _ => return None,
        };
        self.sink.scalar(literal, self.span_from(start))
    }
}
