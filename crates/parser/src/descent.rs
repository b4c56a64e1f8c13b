//! The fast first pass: a hand-written recursive-descent parser over the layout tokens.
//!
//! For every input it accepts it builds exactly the AST the chumsky grammar builds (same
//! nodes, same spans), in a fraction of the time. It never reports errors and never backtracks:
//! at the first token it does not expect it gives up (`None`), and chumsky parses the input
//! again and stays the parser of record for diagnostics and recovery. So this module only has
//! to be right about valid input, and the differential fuzz target (`parse_differential`)
//! checks that it never accepts what chumsky rejects.
//!
//! A document's tokens come a part at a time as the layout pass makes them ([`TopLevel`]);
//! a part never ends inside a statement, so everything below a top-level statement sees one
//! buffer holding the whole statement, and may look at and go back over any of its tokens.
//!
//! Mirroring a PEG by prediction works because chumsky's alternatives are told apart by their
//! first token almost everywhere; where they are not (`(a) => …` against `(a)`), a bounded
//! look-ahead decides. Where chumsky would backtrack out of a failed alternative into another
//! one, that other one cannot succeed either, so giving up loses nothing (the grammar's own
//! comments and the differential target are the proof of each such place).

use std::borrow::Cow;

use tusk_diagnostics::Span;
use tusk_lexer::TokenKind;

use crate::ValueBuilder;
use crate::ast::*;
use crate::layout::{SpannedToken, is_i64_min_magnitude, parse_float, parse_int};
use crate::strings::{heredoc_body, quoted_body, raw_string_body, unescape};

/// Parses a document from one buffer of tokens; `None` when the input is not one this pass
/// handles. (`parse` reads the tokens a part at a time, [`TopLevel`]; this is what the tests
/// and the differential target compare that with.)
pub(crate) fn document<'s>(source: &'s str, tokens: &[SpannedToken], max_depth: usize) -> Option<Document<'s>> {
    let mut top = TopLevel::new(source, max_depth, Items);
    top.read_part(tokens, true);
    top.finish().map(|items| Document { items })
}

/// What a document's top-level statements are read into: trees ([`Items`]) or, for
/// `parse_building`, built values where the statement is made only of literals ([`Built`]).
pub(crate) trait StatementReader<'s> {
    type Statement;
    /// The builder's value type (`()` without a builder).
    type Value;

    /// Reads the statement at the cursor (which is not a separator, nor the end of the part).
    fn statement(&mut self, parser: &mut Descent<'s, '_, Self::Value>) -> Option<Self::Statement>;
}

/// Top-level statements as trees.
pub(crate) struct Items;

impl<'s> StatementReader<'s> for Items {
    type Statement = Item<'s>;
    type Value = ();

    #[inline]
    fn statement(&mut self, parser: &mut Descent<'s, '_, ()>) -> Option<Item<'s>> {
        match parser.peek()? {
            TokenKind::LBracket => parser.section(),
            _ => parser.statement(),
        }
    }
}

/// Top-level statements with the entries made only of literals built by a [`ValueBuilder`]
/// instead of becoming trees.
pub(crate) struct Built<'b, B>(pub(crate) &'b mut B);

impl<'s, B: ValueBuilder<'s>> StatementReader<'s> for Built<'_, B> {
    type Statement = Statement<'s, B::Value>;
    type Value = B::Value;

    #[inline]
    fn statement(&mut self, parser: &mut Descent<'s, '_, B::Value>) -> Option<Statement<'s, B::Value>> {
        Some(match parser.peek()? {
            TokenKind::LBracket => Statement::Item(parser.section()?),
            TokenKind::Global => Statement::Item(parser.statement()?),
            _ => parser.top_entry(self.0)?,
        })
    }
}

/// The top level of a document, read a part of the tokens at a time as the layout pass hands
/// them over (`layout::lex_and_lay_out_streaming`), so that the laid-out tokens of a whole file
/// never sit in one buffer. Every part but the last ends with a line break of the top level,
/// which no statement reaches across (only this loop reads past one), so a statement is never
/// cut in two, and the loop goes on from part to part exactly as it would over one buffer:
/// statements separated by `\n`, `;` or `,`, up to the end of the input.
pub(crate) struct TopLevel<'s, R: StatementReader<'s>> {
    source: &'s str,
    max_depth: usize,
    reader: R,
    statements: Vec<R::Statement>,
    scratch: Scratch<'s, R::Value>,
    /// A statement was read and no separator has come after it yet.
    awaiting_separator: bool,
    /// The pass gave up.
    failed: bool,
    /// The last part was read to its end.
    finished: bool,
}

impl<'s, R: StatementReader<'s>> TopLevel<'s, R> {
    pub(crate) fn new(source: &'s str, max_depth: usize, reader: R) -> TopLevel<'s, R> {
        TopLevel {
            source,
            max_depth,
            reader,
            statements: Vec::new(),
            scratch: Scratch::default(),
            awaiting_separator: false,
            failed: false,
            finished: false,
        }
    }

    /// Reads the statements of the next part (`last`: the part that ends the input); false once
    /// the pass has given up.
    pub(crate) fn read_part(&mut self, part: &[SpannedToken], last: bool) -> bool {
        if self.failed || self.finished {
            self.failed = true;
            return false;
        }
        let mut parser = Descent::with_scratch(self.source, part, self.max_depth, std::mem::take(&mut self.scratch));
        // As a block's `body`, which enters one level.
        parser.depth = 1;
        let read = self.read_statements(&mut parser, last);
        self.scratch = parser.into_scratch();
        self.failed = !read;
        read
    }

    fn read_statements(&mut self, parser: &mut Descent<'s, '_, R::Value>, last: bool) -> bool {
        loop {
            let separated = parser.skip_separators();
            if self.awaiting_separator && !separated && !parser.at_end() {
                return false;
            }
            self.awaiting_separator &= !separated;
            if parser.at_end() {
                self.finished = last;
                return true;
            }
            if matches!(parser.peek(), Some(TokenKind::RBrace | TokenKind::AngleClose | TokenKind::Dedent)) {
                return false;
            }
            let Some(statement) = self.reader.statement(parser) else { return false };
            self.statements.push(statement);
            self.awaiting_separator = true;
        }
    }

    /// The statements, when the whole input was read and accepted.
    pub(crate) fn finish(self) -> Option<Vec<R::Statement>> {
        (self.finished && !self.failed).then_some(self.statements)
    }
}

/// Parses a lone expression (the grammar's `lone_expression`); `None` when this pass gives up.
pub(crate) fn lone_expression<'s>(source: &'s str, tokens: &[SpannedToken], max_depth: usize) -> Option<Expr<'s>> {
    let mut parser = Descent::<()>::new(source, tokens, max_depth);
    parser.eat(TokenKind::Newline);
    let expression = parser.expression()?;
    parser.eat(TokenKind::Newline);
    parser.at_end().then_some(expression)
}

/// The binary operators with their binding power (higher binds tighter), as the grammar's
/// levels from `||` (loosest) to `*` (tightest).
fn binary_operator(kind: TokenKind) -> Option<(BinaryOp, u8)> {
    use TokenKind::*;
    Some(match kind {
        OrOr => (BinaryOp::Or, 1),
        AndAnd => (BinaryOp::And, 2),
        EqEq => (BinaryOp::Eq, 3),
        NotEq => (BinaryOp::NotEq, 3),
        Lt => (BinaryOp::Lt, 4),
        LtEq => (BinaryOp::LtEq, 4),
        Gt => (BinaryOp::Gt, 4),
        GtEq => (BinaryOp::GtEq, 4),
        Plus => (BinaryOp::Add, 5),
        Minus => (BinaryOp::Sub, 5),
        Star => (BinaryOp::Mul, 6),
        Slash => (BinaryOp::Div, 6),
        Percent => (BinaryOp::Rem, 6),
        _ => return None,
    })
}

/// Tokens after which an entry's value ends (the grammar's `VALUE_END`, or the end of input).
fn is_value_end(kind: Option<TokenKind>) -> bool {
    use TokenKind::*;
    matches!(kind, None | Some(Newline | Semicolon | Comma | RBrace | RBracket | RParen | Dedent | AngleClose))
}

/// The single-token literals that `Descent::literal` reads.
fn is_literal(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(kind, Str | Int | Float | True | False | Null | Global | Range | RawStr | Heredoc)
}

fn is_separator(kind: Option<TokenKind>) -> bool {
    matches!(kind, Some(TokenKind::Newline | TokenKind::Semicolon | TokenKind::Comma))
}

fn is_item_separator(kind: Option<TokenKind>) -> bool {
    matches!(kind, Some(TokenKind::Comma | TokenKind::Newline))
}

fn ends_array_item(kind: Option<TokenKind>) -> bool {
    matches!(kind, Some(TokenKind::Comma | TokenKind::Newline | TokenKind::RBracket))
}

fn ends_argument(kind: Option<TokenKind>) -> bool {
    matches!(kind, Some(TokenKind::Comma | TokenKind::Newline | TokenKind::RParen))
}

/// The entries of a scratch stack from `base` on, moved into a vector of exactly their number:
/// in one copy (`split_off`) when they are above others, by collecting them when they are the
/// whole stack (`split_off(0)` would hand over the stack's own buffer, and the stack would
/// allocate another as large).
#[inline]
pub(crate) fn take_above<T>(stack: &mut Vec<T>, base: usize) -> Vec<T> {
    if base == 0 { stack.drain(base..).collect() } else { stack.split_off(base) }
}

/// `V` is the builder's value type with [`Built`] (`()` otherwise).
pub(crate) struct Descent<'s, 't, V> {
    source: &'s str,
    tokens: &'t [SpannedToken],
    pos: usize,
    /// Nested bodies, expressions and prefix operators being parsed. The layout pass bounds the
    /// nesting of its input by `max_depth`, and each level of it is at most two levels here, so
    /// the limit only stops this pass (chumsky then decides) if that reasoning is ever wrong;
    /// the stack cannot overflow on account of this parser either way.
    depth: usize,
    depth_limit: usize,
    // Scratch stacks: items of open bodies and arrays collect here and move into a vector of
    // exactly the right size when their body closes, instead of each growing its own vector.
    items: Vec<Item<'s>>,
    exprs: Vec<Expr<'s>>,
    keys: Vec<Key<'s>>,
    // The same for built values: items of open arrays, entries of open objects.
    values: Vec<V>,
    entries: Vec<(Cow<'s, str>, V)>,
}

/// The scratch stacks of [`Descent`], kept from one part of a document to the next.
struct Scratch<'s, V> {
    items: Vec<Item<'s>>,
    exprs: Vec<Expr<'s>>,
    keys: Vec<Key<'s>>,
    values: Vec<V>,
    entries: Vec<(Cow<'s, str>, V)>,
}

impl<V> Default for Scratch<'_, V> {
    fn default() -> Self {
        // Items and expressions start above one placeholder each, never taken: then every
        // body's or array's entries sit above another and leave in one copy ([`take_above`]).
        let placeholder = Span::point(0);
        Scratch {
            items: vec![Item { kind: ItemKind::Error, span: placeholder }],
            exprs: vec![Expr { kind: ExprKind::Invalid, span: placeholder }],
            keys: Vec::new(),
            values: Vec::new(),
            entries: Vec::new(),
        }
    }
}

impl<'s, 't, V> Descent<'s, 't, V> {
    fn new(source: &'s str, tokens: &'t [SpannedToken], max_depth: usize) -> Descent<'s, 't, V> {
        Descent::with_scratch(source, tokens, max_depth, Scratch::default())
    }

    fn with_scratch(
        source: &'s str,
        tokens: &'t [SpannedToken],
        max_depth: usize,
        scratch: Scratch<'s, V>,
    ) -> Descent<'s, 't, V> {
        let Scratch { items, exprs, keys, values, entries } = scratch;
        Descent {
            source,
            tokens,
            pos: 0,
            depth: 0,
            depth_limit: max_depth.saturating_mul(2).saturating_add(8),
            items,
            exprs,
            keys,
            values,
            entries,
        }
    }

    fn into_scratch(self) -> Scratch<'s, V> {
        let Descent { items, exprs, keys, values, entries, .. } = self;
        Scratch { items, exprs, keys, values, entries }
    }

    #[inline]
    fn peek(&self) -> Option<TokenKind> {
        self.tokens.get(self.pos).map(|token| token.0)
    }

    #[inline]
    fn kind_at(&self, index: usize) -> Option<TokenKind> {
        self.tokens.get(index).map(|token| token.0)
    }

    #[inline]
    fn bump(&mut self) {
        self.pos += 1;
    }

    #[inline]
    fn eat(&mut self, kind: TokenKind) -> bool {
        let found = self.peek() == Some(kind);
        self.pos += usize::from(found);
        found
    }

    #[inline]
    fn expect(&mut self, kind: TokenKind) -> Option<()> {
        self.eat(kind).then_some(())
    }

    fn at_end(&self) -> bool {
        self.pos == self.tokens.len()
    }

    #[inline]
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= self.depth_limit).then_some(())
    }

    #[inline]
    fn leave(&mut self) {
        self.depth -= 1;
    }

    #[inline]
    fn token_span(&self, index: usize) -> Span {
        let span = self.tokens[index].1;
        Span::new(span.start, span.end)
    }

    #[inline]
    fn text(&self, index: usize) -> &'s str {
        let span = self.tokens[index].1;
        &self.source[span.start as usize..span.end as usize]
    }

    /// The span of what was parsed since token `start`, exactly as chumsky's `e.span()` gives it
    /// for slice input: from the start of the token at `start` to the end of the last token
    /// consumed (so a rule that consumed nothing ends before it starts), and the empty span at
    /// the end of the input when `start` is past the last token.
    #[inline]
    fn span_from(&self, start: usize) -> Span {
        let end_of_input = self.source.len() as u32;
        match self.tokens.get(start) {
            Some(first) => {
                let end = self.pos.checked_sub(1).map_or(end_of_input, |last| self.tokens[last].1.end);
                Span::new(first.1.start, end)
            }
            None => Span::new(end_of_input, end_of_input),
        }
    }

    /// Skips `\n`, `;` and `,`; true when there was at least one.
    #[inline]
    fn skip_separators(&mut self) -> bool {
        let start = self.pos;
        while is_separator(self.peek()) {
            self.bump();
        }
        self.pos > start
    }

    // ---- statements

    /// The statements of a block, up to the token that closes it, which the caller checks.
    /// (The document's own statements, where sections may appear too, are read by
    /// [`TopLevel`].)
    fn body(&mut self) -> Option<Vec<Item<'s>>> {
        self.enter()?;
        let base = self.items.len();
        self.skip_separators();
        loop {
            let item = match self.peek() {
                None | Some(TokenKind::RBrace | TokenKind::AngleClose | TokenKind::Dedent) => break,
                Some(_) => match self.name_and_literal() {
                    Some(item) => item,
                    None => self.statement()?,
                },
            };
            self.items.push(item);
            if !self.skip_separators() {
                break;
            }
        }
        self.leave();
        Some(take_above(&mut self.items, base))
    }

    /// `name: literal` (or `=`) followed by the end of the value, the commonest statement of a
    /// config file, exactly as [`Self::statement`] reads it (a one-part key, then
    /// [`Self::lone_literal`]) without the steps that cannot apply; `None`, having read nothing,
    /// for any other statement.
    #[inline]
    fn name_and_literal(&mut self) -> Option<Item<'s>> {
        let start = self.pos;
        let [name, assign, literal, after @ ..] = &self.tokens[start..] else { return None };
        let shaped = name.0 == TokenKind::Name
            && matches!(assign.0, TokenKind::Colon | TokenKind::Assign)
            && is_literal(literal.0)
            && is_value_end(after.first().map(|token| token.0));
        if !shaped {
            return None;
        }
        let kind = self.literal_at(start + 2, literal.0)?;
        let key = Key { name: Cow::Borrowed(self.text(start)), span: self.token_span(start) };
        let value = Expr { kind, span: self.token_span(start + 2) };
        self.pos = start + 3;
        let span = Span::new(name.1.start, literal.1.end);
        Some(Item { kind: ItemKind::Entry { key: KeyPath::one(key), value }, span })
    }

    fn section(&mut self) -> Option<Item<'s>> {
        let start = self.pos;
        self.bump();
        let path = self.key_path()?;
        self.expect(TokenKind::RBracket)?;
        Some(Item { kind: ItemKind::Section { path }, span: self.span_from(start) })
    }

    fn statement(&mut self) -> Option<Item<'s>> {
        let start = self.pos;
        let kind = if self.peek() == Some(TokenKind::Global) {
            let name = &self.text(start)[1..];
            let name_span = self.token_span(start);
            self.bump();
            if !matches!(self.peek(), Some(TokenKind::Colon | TokenKind::Assign)) {
                return None;
            }
            self.bump();
            let value = self.value()?;
            ItemKind::Global { name, name_span, value }
        } else {
            let key = self.entry_key()?;
            ItemKind::Entry { key, value: self.entry_value()? }
        };
        Some(Item { kind, span: self.span_from(start) })
    }

    /// What follows an entry's key: `:` or `=` and a value or an indented body, or a block.
    fn entry_value(&mut self) -> Option<Expr<'s>> {
        let open = self.pos;
        Some(match self.peek()? {
            TokenKind::Colon | TokenKind::Assign => {
                self.bump();
                if self.peek() == Some(TokenKind::Indent) { self.indented_body()? } else { self.value()? }
            }
            TokenKind::LBrace => {
                let items = self.braced_body()?;
                Expr { kind: ExprKind::Object(items), span: self.span_from(open) }
            }
            TokenKind::AngleOpen => {
                self.bump();
                let items = self.body()?;
                self.expect(TokenKind::AngleClose)?;
                Expr { kind: ExprKind::Object(items), span: self.span_from(open) }
            }
            TokenKind::LBracket => {
                let items = self.array_items()?;
                Expr { kind: ExprKind::Array(items), span: self.span_from(open) }
            }
            _ => return None,
        })
    }

    fn entry_key(&mut self) -> Option<KeyPath<'s>> {
        let first = self.key_part()?;
        if self.peek() != Some(TokenKind::Dot) {
            return Some(KeyPath::one(first));
        }
        self.more_key_parts(first).map(KeyPath::from)
    }

    fn key_path(&mut self) -> Option<Vec<Key<'s>>> {
        let first = self.key_part()?;
        if self.peek() != Some(TokenKind::Dot) {
            return Some(vec![first]);
        }
        self.more_key_parts(first)
    }

    /// The parts after the first of a dotted key.
    fn more_key_parts(&mut self, first: Key<'s>) -> Option<Vec<Key<'s>>> {
        let base = self.keys.len();
        self.keys.push(first);
        while self.eat(TokenKind::Dot) {
            let part = self.key_part()?;
            self.keys.push(part);
        }
        Some(take_above(&mut self.keys, base))
    }

    fn key_part(&mut self) -> Option<Key<'s>> {
        let index = self.pos;
        let name = match self.peek()? {
            TokenKind::Name | TokenKind::Int | TokenKind::True | TokenKind::False | TokenKind::Null => {
                Cow::Borrowed(self.text(index))
            }
            TokenKind::Str => unescape(quoted_body(self.text(index))),
            _ => return None,
        };
        self.bump();
        Some(Key { name, span: self.token_span(index) })
    }

    /// An entry's value: an expression that the end of the entry follows.
    fn value(&mut self) -> Option<Expr<'s>> {
        let value = match self.lone_literal(is_value_end) {
            Some(literal) => literal,
            None => match self.lone_bracketed(is_value_end) {
                Some(bracketed) => bracketed?,
                None => self.expression()?,
            },
        };
        is_value_end(self.peek()).then_some(value)
    }

    /// An object or array that `ends` says ends the value after it, read as [`Self::expression`]
    /// reads it (one level entered, then the atom) without the operator levels, which would only
    /// pass it up unchanged: the objects and arrays of a config file are such values. `None`,
    /// having read nothing, when the cursor is at no bracket or something continues the
    /// expression after it (`{a: 1}.a`, `[1] + [2]`: read again the general way); `Some(None)`
    /// when the pass gives up, as [`Self::expression`] would.
    #[inline]
    fn lone_bracketed(&mut self, ends: fn(Option<TokenKind>) -> bool) -> Option<Option<Expr<'s>>> {
        let opener = self.peek()?;
        if !matches!(opener, TokenKind::LBrace | TokenKind::LBracket) {
            return None;
        }
        let (start, depth) = (self.pos, self.depth);
        if self.enter().is_none() {
            return Some(None);
        }
        let kind = if opener == TokenKind::LBrace {
            self.braced_body().map(ExprKind::Object)
        } else {
            self.array_items().map(ExprKind::Array)
        };
        let Some(kind) = kind else { return Some(None) };
        if !ends(self.peek()) {
            self.pos = start;
            self.depth = depth;
            return None;
        }
        self.leave();
        Some(Some(Expr { kind, span: self.span_from(start) }))
    }

    /// A literal that `ends` says ends the value after it: most values of a config file are one,
    /// and the expression levels would only pass it up unchanged.
    #[inline]
    fn lone_literal(&mut self, ends: fn(Option<TokenKind>) -> bool) -> Option<Expr<'s>> {
        let kind = self.peek()?;
        if !is_literal(kind) || !ends(self.kind_at(self.pos + 1)) {
            return None;
        }
        let start = self.pos;
        let kind = self.literal(kind)?;
        self.bump();
        Some(Expr { kind, span: self.token_span(start) })
    }

    /// `Indent` (a `- item` list or a block body) `Dedent`.
    fn indented_body(&mut self) -> Option<Expr<'s>> {
        self.bump();
        let start = self.pos;
        let value = if self.peek() == Some(TokenKind::ListDash) {
            let base = self.exprs.len();
            while self.eat(TokenKind::ListDash) {
                let item = self.expression()?;
                self.exprs.push(item);
                // Separators after the last item belong to the list (and to its span).
                if !self.skip_separators() {
                    break;
                }
            }
            Expr { kind: ExprKind::Array(take_above(&mut self.exprs, base)), span: self.span_from(start) }
        } else {
            let items = self.body()?;
            Expr { kind: ExprKind::Object(items), span: self.span_from(start) }
        };
        self.expect(TokenKind::Dedent)?;
        Some(value)
    }

    /// `{` body `}`.
    fn braced_body(&mut self) -> Option<Vec<Item<'s>>> {
        self.bump();
        let items = self.body()?;
        self.expect(TokenKind::RBrace)?;
        Some(items)
    }

    /// `[` items `]`: one optional leading and one optional trailing separator, exactly one
    /// between items (`,` or a line break), as the grammar's `separated_by`.
    fn array_items(&mut self) -> Option<Vec<Expr<'s>>> {
        self.bump();
        if is_item_separator(self.peek()) {
            self.bump();
        }
        self.items_until(TokenKind::RBracket)
    }

    /// `(` arguments `)`: like array items without a leading separator.
    fn arguments(&mut self) -> Option<Vec<Expr<'s>>> {
        self.bump();
        self.items_until(TokenKind::RParen)
    }

    fn items_until(&mut self, closer: TokenKind) -> Option<Vec<Expr<'s>>> {
        let base = self.exprs.len();
        let ends_item = if closer == TokenKind::RBracket { ends_array_item } else { ends_argument };
        while self.peek() != Some(closer) {
            let item = match self.lone_literal(ends_item) {
                Some(literal) => literal,
                None => match self.lone_bracketed(ends_item) {
                    Some(bracketed) => bracketed?,
                    None => self.expression()?,
                },
            };
            self.exprs.push(item);
            if !is_item_separator(self.peek()) {
                break;
            }
            self.bump();
        }
        self.expect(closer)?;
        Some(take_above(&mut self.exprs, base))
    }

    // ---- expressions

    /// A whole expression: the binary operators, then an optional `? then : else`.
    fn expression(&mut self) -> Option<Expr<'s>> {
        self.enter()?;
        let start = self.pos;
        let condition = self.binary(0)?;
        let expression = if self.eat(TokenKind::Question) {
            let then = self.expression()?;
            self.expect(TokenKind::Colon)?;
            let otherwise = self.expression()?;
            let kind = ExprKind::Ternary(Box::new(condition), Box::new(then), Box::new(otherwise));
            Expr { kind, span: self.span_from(start) }
        } else {
            condition
        };
        self.leave();
        Some(expression)
    }

    /// Precedence climbing over the binary operators, all left-associative. Each node's span
    /// starts where its leftmost operand starts, as the grammar's one fold per level gives.
    fn binary(&mut self, min_power: u8) -> Option<Expr<'s>> {
        let start = self.pos;
        let mut lhs = self.unary()?;
        while let Some((op, power)) = self.peek().and_then(binary_operator) {
            if power < min_power {
                break;
            }
            self.bump();
            let rhs = self.binary(power + 1)?;
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span: self.span_from(start) };
        }
        Some(lhs)
    }

    fn unary(&mut self) -> Option<Expr<'s>> {
        let op = match self.peek() {
            Some(TokenKind::Minus) => UnaryOp::Neg,
            Some(TokenKind::Bang) => UnaryOp::Not,
            _ => return self.postfixed(),
        };
        let op_start = self.tokens[self.pos].1.start;
        self.bump();
        self.enter()?;
        let operand = self.unary()?;
        self.leave();
        // As the grammar: the span ends where the operand's ends (before the `)` of `-(a)`).
        let span = Span::new(op_start, operand.span.end);
        // `-9223372036854775808`: the digits alone do not fit in i64, the negated literal does.
        if op == UnaryOp::Neg
            && matches!(operand.kind, ExprKind::Invalid)
            && is_i64_min_magnitude(&self.source[operand.span.range()])
        {
            return Some(Expr { kind: ExprKind::Int(i64::MIN), span });
        }
        Some(Expr { kind: ExprKind::Unary(op, Box::new(operand)), span })
    }

    /// An atom followed by calls, member accesses and indexes.
    fn postfixed(&mut self) -> Option<Expr<'s>> {
        let start = self.pos;
        let mut lhs = self.atom()?;
        loop {
            let kind = match self.peek() {
                Some(TokenKind::LParen) => {
                    let args = self.arguments()?;
                    ExprKind::Call(Box::new(lhs), args)
                }
                Some(TokenKind::Dot) => {
                    self.bump();
                    if self.peek() != Some(TokenKind::Name) {
                        return None;
                    }
                    let name = self.text(self.pos);
                    let name_span = self.token_span(self.pos);
                    self.bump();
                    ExprKind::Member(Box::new(lhs), name, name_span)
                }
                Some(TokenKind::LBracket) => {
                    self.bump();
                    let index = self.expression()?;
                    self.expect(TokenKind::RBracket)?;
                    ExprKind::Index(Box::new(lhs), Box::new(index))
                }
                _ => return Some(lhs),
            };
            lhs = Expr { kind, span: self.span_from(start) };
        }
    }

    fn atom(&mut self) -> Option<Expr<'s>> {
        let start = self.pos;
        let kind = match self.peek()? {
            TokenKind::Name => {
                let name = self.text(start);
                self.bump();
                if !self.eat(TokenKind::Arrow) {
                    return Some(Expr { kind: ExprKind::Name(name), span: self.token_span(start) });
                }
                let body = self.expression()?;
                ExprKind::Lambda(vec![Param { name, span: self.token_span(start) }], Box::new(body))
            }
            TokenKind::Operator => {
                let name = &self.text(start)[1..];
                let name_span = self.token_span(start);
                self.bump();
                let args = if self.peek() == Some(TokenKind::LParen) { Some(self.arguments()?) } else { None };
                ExprKind::Operator { name, name_span, args }
            }
            TokenKind::LBrace => ExprKind::Object(self.braced_body()?),
            TokenKind::LBracket => ExprKind::Array(self.array_items()?),
            TokenKind::StrStart => self.interpolated()?,
            TokenKind::LParen if self.parenthesized_lambda_ahead() => {
                self.bump();
                let mut params = Vec::new();
                while self.peek() == Some(TokenKind::Name) {
                    params.push(Param { name: self.text(self.pos), span: self.token_span(self.pos) });
                    self.bump();
                    if !self.eat(TokenKind::Comma) {
                        break;
                    }
                }
                self.expect(TokenKind::RParen)?;
                self.expect(TokenKind::Arrow)?;
                let body = self.expression()?;
                ExprKind::Lambda(params, Box::new(body))
            }
            // Parentheses leave no node: the inner expression keeps its own span.
            TokenKind::LParen => {
                self.bump();
                let inner = self.expression()?;
                self.expect(TokenKind::RParen)?;
                return Some(inner);
            }
            kind => {
                let kind = self.literal(kind)?;
                self.bump();
                kind
            }
        };
        Some(Expr { kind, span: self.span_from(start) })
    }

    /// The single-token atoms, as the grammar's `literal` (the current token is not consumed).
    fn literal(&self, kind: TokenKind) -> Option<ExprKind<'s>> {
        self.literal_at(self.pos, kind)
    }

    /// [`Self::literal`] of the token at `index`, of kind `kind`.
    #[inline]
    fn literal_at(&self, index: usize, kind: TokenKind) -> Option<ExprKind<'s>> {
        let raw = self.text(index);
        Some(match kind {
            TokenKind::Str => ExprKind::Str(unescape(quoted_body(raw))),
            TokenKind::Int => parse_int(raw).map_or(ExprKind::Invalid, ExprKind::Int),
            TokenKind::Float => parse_float(raw).map_or(ExprKind::Invalid, ExprKind::Float),
            TokenKind::True => ExprKind::Bool(true),
            TokenKind::False => ExprKind::Bool(false),
            TokenKind::Null => ExprKind::Null,
            TokenKind::Global => ExprKind::Global(&raw[1..]),
            TokenKind::Range => {
                let (low, high) = raw.split_once('-').unwrap_or(("", ""));
                match (low.parse::<i64>(), high.parse::<i64>()) {
                    (Ok(low), Ok(high)) => ExprKind::Range(low, high),
                    _ => ExprKind::Invalid,
                }
            }
            TokenKind::RawStr => ExprKind::Str(Cow::Borrowed(raw_string_body(raw))),
            TokenKind::Heredoc => ExprKind::Str(Cow::Borrowed(heredoc_body(raw))),
            // Error and DateLike tokens only come with lexer errors, which never reach this
            // pass; everything else starts no expression.
            _ => return None,
        })
    }

    /// `"text ${expr} text"`: the lexer's `StrStart (StrText | InterpStart … InterpEnd)* StrEnd`.
    fn interpolated(&mut self) -> Option<ExprKind<'s>> {
        self.bump();
        let mut parts = Vec::new();
        loop {
            match self.peek()? {
                TokenKind::StrText => {
                    parts.push(StrPart::Text(unescape(self.text(self.pos))));
                    self.bump();
                }
                TokenKind::InterpStart => {
                    self.bump();
                    let expression = self.expression()?;
                    self.expect(TokenKind::InterpEnd)?;
                    parts.push(StrPart::Expr(expression));
                }
                TokenKind::StrEnd => {
                    self.bump();
                    return Some(ExprKind::Interpolated(parts));
                }
                _ => return None,
            }
        }
    }

    // ---- built values (`parse_building`, through [`Built`])
    //
    // A top-level entry is first read a second way, into values, by a strict subset of the
    // rules above: what these methods accept, the rules above parse into literals only (and
    // `literal` makes the scalars for both), which the builder folds as its compiler would
    // fold their tree. At the first token they do not take, the entry is read again from its
    // key by the rules above; they are tried once per top-level entry, never again inside one.

    /// A top-level entry: built when its value is made only of literals, else parsed.
    fn top_entry<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<Statement<'s, V>> {
        let start = self.pos;
        let key = self.entry_key()?;
        let (open, depth) = (self.pos, self.depth);
        if let Some((value, value_span)) = self.built_entry_value(builder) {
            return Some(Statement::Built { key, value, value_span, span: self.span_from(start) });
        }
        self.pos = open;
        self.depth = depth;
        self.values.clear();
        self.entries.clear();
        let value = self.entry_value()?;
        Some(Statement::Item(Item { kind: ItemKind::Entry { key, value }, span: self.span_from(start) }))
    }

    /// [`Self::entry_value`], built: the value, and the span its expression would have.
    fn built_entry_value<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<(V, Span)> {
        let open = self.pos;
        let value = match self.peek()? {
            TokenKind::Colon | TokenKind::Assign => {
                self.bump();
                if self.peek() == Some(TokenKind::Indent) {
                    return self.built_indented_body(builder);
                }
                let start = self.pos;
                let value = self.built_value(builder, is_value_end)?;
                return Some((value, self.span_from(start)));
            }
            TokenKind::LBrace => self.built_braced_object(builder)?,
            TokenKind::AngleOpen => {
                self.bump();
                let value = self.built_object(builder)?;
                self.expect(TokenKind::AngleClose)?;
                value
            }
            TokenKind::LBracket => self.built_array(builder)?,
            _ => return None,
        };
        Some((value, self.span_from(open)))
    }

    /// [`Self::indented_body`], built.
    fn built_indented_body<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<(V, Span)> {
        self.bump();
        let start = self.pos;
        let value = if self.peek() == Some(TokenKind::ListDash) {
            let base = self.values.len();
            while self.eat(TokenKind::ListDash) {
                let item = self.built_unary(builder)?;
                self.values.push(item);
                if !self.skip_separators() {
                    break;
                }
            }
            builder.array(self.values.drain(base..))
        } else {
            self.built_object(builder)?
        };
        let span = self.span_from(start);
        self.expect(TokenKind::Dedent)?;
        Some((value, span))
    }

    /// `{` object `}`.
    fn built_braced_object<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<V> {
        self.bump();
        let value = self.built_object(builder)?;
        self.expect(TokenKind::RBrace)?;
        Some(value)
    }

    /// A block body (`body`) of one-part keys and built values, as an object.
    fn built_object<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<V> {
        self.enter()?;
        let base = self.entries.len();
        self.skip_separators();
        loop {
            match self.peek() {
                None | Some(TokenKind::RBrace | TokenKind::AngleClose | TokenKind::Dedent) => break,
                Some(_) => {
                    let entry = match self.built_name_and_literal(builder) {
                        Some(built) => built?,
                        None => {
                            let key = self.key_part()?.name;
                            let (value, _) = self.built_entry_value(builder)?;
                            (key, value)
                        }
                    };
                    self.entries.push(entry);
                }
            }
            if !self.skip_separators() {
                break;
            }
        }
        self.leave();
        builder.object(self.entries.drain(base..))
    }

    /// `name: literal` (or `=`) followed by the end of the value, built exactly as the general
    /// way ([`Self::key_part`], [`Self::built_entry_value`]) builds it: the key and what the
    /// builder made of the literal (`Some(None)` when it refused it). `None`, having read
    /// nothing, for an entry of any other shape, which goes the general way.
    #[inline]
    fn built_name_and_literal<B: ValueBuilder<'s, Value = V>>(
        &mut self,
        builder: &mut B,
    ) -> Option<Option<(Cow<'s, str>, V)>> {
        let start = self.pos;
        let [name, assign, literal, after @ ..] = &self.tokens[start..] else { return None };
        // (A global is a variable, not a literal: the general way refuses it.)
        let shaped = name.0 == TokenKind::Name
            && matches!(assign.0, TokenKind::Colon | TokenKind::Assign)
            && is_literal(literal.0)
            && literal.0 != TokenKind::Global
            && is_value_end(after.first().map(|token| token.0));
        if !shaped {
            return None;
        }
        let kind = self.literal_at(start + 2, literal.0)?;
        if matches!(kind, ExprKind::Invalid) {
            return None;
        }
        self.pos = start + 3;
        Some(builder.scalar(kind).map(|value| (Cow::Borrowed(self.text(start)), value)))
    }

    /// [`Self::array_items`], built.
    fn built_array<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<V> {
        self.bump();
        if is_item_separator(self.peek()) {
            self.bump();
        }
        let base = self.values.len();
        while self.peek() != Some(TokenKind::RBracket) {
            let item = self.built_value(builder, ends_array_item)?;
            self.values.push(item);
            if !is_item_separator(self.peek()) {
                break;
            }
            self.bump();
        }
        self.expect(TokenKind::RBracket)?;
        Some(builder.array(self.values.drain(base..)))
    }

    /// A built value that `ends` says ends after it (anything else continues an expression).
    fn built_value<B: ValueBuilder<'s, Value = V>>(
        &mut self,
        builder: &mut B,
        ends: fn(Option<TokenKind>) -> bool,
    ) -> Option<V> {
        let value = self.built_unary(builder)?;
        ends(self.peek()).then_some(value)
    }

    /// [`Self::unary`] of literals: `-` and `!` folded by the builder.
    fn built_unary<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<V> {
        let op = match self.peek()? {
            TokenKind::Minus => UnaryOp::Neg,
            TokenKind::Bang => UnaryOp::Not,
            _ => return self.built_atom(builder),
        };
        self.bump();
        // `-9223372036854775808`, as `unary` reads it.
        if op == UnaryOp::Neg && self.peek() == Some(TokenKind::Int) && is_i64_min_magnitude(self.text(self.pos)) {
            self.bump();
            return builder.scalar(ExprKind::Int(i64::MIN));
        }
        self.enter()?;
        let operand = self.built_unary(builder)?;
        self.leave();
        builder.unary(op, operand)
    }

    /// A literal, or an object or array of built values.
    fn built_atom<B: ValueBuilder<'s, Value = V>>(&mut self, builder: &mut B) -> Option<V> {
        match self.peek()? {
            TokenKind::LBrace => self.built_braced_object(builder),
            TokenKind::LBracket => self.built_array(builder),
            // A variable, not a literal.
            TokenKind::Global => None,
            kind => {
                let literal = self.literal(kind)?;
                if matches!(literal, ExprKind::Invalid) {
                    return None;
                }
                self.bump();
                builder.scalar(literal)
            }
        }
    }

    /// True when the `(` at the cursor opens `(a, b) => …`: names separated by commas (a
    /// trailing one allowed), `)` and `=>`. The grammar tries the lambda first and falls back
    /// to a parenthesized expression; this look-ahead makes the same choice without parsing
    /// twice.
    fn parenthesized_lambda_ahead(&self) -> bool {
        let mut index = self.pos + 1;
        while self.kind_at(index) == Some(TokenKind::Name) {
            index += 1;
            if self.kind_at(index) != Some(TokenKind::Comma) {
                break;
            }
            index += 1;
        }
        self.kind_at(index) == Some(TokenKind::RParen) && self.kind_at(index + 1) == Some(TokenKind::Arrow)
    }
}
