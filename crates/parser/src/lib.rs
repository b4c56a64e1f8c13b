//! The TuskLang parser: source text to a spanned AST plus every error it can find.
//!
//! Pipeline: the lexer → the layout pass (line breaks, indentation, angle blocks, nesting
//! bound; it takes the lexer's tokens as they are made, 4,096 at a time) → a
//! hand-written recursive-descent pass (`descent`) that handles valid input and gives up at
//! the first problem (for a document it reads the layout pass's tokens as they are made, a
//! part of whole top-level statements at a time) → the chumsky grammar, the parser of record,
//! over the input laid out again whole, only when that pass gave up or the input has errors:
//! once with chumsky's cheapest error type, and again with rich errors and recovery only when
//! the input has errors, so valid input never pays for diagnostics. Both
//! parsers build the same AST. Ahead of all of them, a document made only of sections and
//! entries of literals (most config files) is read straight from its bytes (`plain`), which
//! makes exactly the descent pass's tree, and gives up, keeping nothing, at anything else.
//! Parsing never gives up: the result has an AST (with `Invalid` nodes where recovery skipped
//! input) and the list of errors. `parse_building` is `parse` for a caller that wants the
//! values of literal-only entries rather than their trees.

pub mod ast;
mod descent;
mod error;
mod grammar;
mod layout;
mod plain;
mod strings;

use chumsky::error::{Rich, RichPattern, RichReason};
use chumsky::input::Input as _;
use chumsky::prelude::*;
use tusk_diagnostics::Span;
use tusk_lexer::{Token, TokenKind};

pub use error::{ParseError, ParseErrorKind};

use std::borrow::Cow;

use crate::ast::{BuiltDocument, Document, Expr, ExprKind, UnaryOp};

/// Parser settings.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// How deeply brackets, blocks and operators may nest before the input is refused.
    pub max_depth: usize,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions { max_depth: 256 }
    }
}

/// The result of parsing: what could be parsed, and every error.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The tree; `None` only when the input was refused outright (too deep) or nothing of it
    /// could be recovered.
    pub ast: Option<T>,
    /// Every error, sorted by position.
    pub errors: Vec<ParseError>,
}

impl<T> Parsed<T> {
    /// True when the input is only incomplete (an unclosed bracket or string, or an operator
    /// with nothing after it at the end): the REPL asks for another line instead of failing.
    pub fn is_incomplete(&self) -> bool {
        !self.errors.is_empty() && self.errors.iter().any(ParseError::is_incomplete_input)
    }
}

/// What a REPL line is.
#[derive(Debug)]
pub enum Line<'src> {
    /// Entries, sections and globals (`port: 8080`).
    Statements(Document<'src>),
    /// A bare expression to print (`1 + 2`).
    Expression(Expr<'src>),
}

/// Builds the values of a document's entries that are made only of literals while the
/// descent pass reads them ([`parse_building`]), so that those entries need no syntax tree:
/// most entries of a config file are such. Every method may refuse (`None`): the entry is then
/// parsed into a syntax tree like any other, so a builder only accepts what it folds exactly
/// as its compiler would fold the tree. A builder may be asked for the same values twice, and
/// the first ones dropped: a document of literals is first read straight from its bytes, and
/// read again the ordinary way when that reader gives up on it.
pub trait ValueBuilder<'src> {
    /// The values it builds.
    type Value;

    /// A scalar literal: `Null`, `Bool`, `Int`, `Float`, `Str` or `Range`.
    fn scalar(&mut self, literal: ExprKind<'src>) -> Option<Self::Value>;

    /// A string literal's text: what [`Self::scalar`] makes of `ExprKind::Str(text)`, which a
    /// builder may make more directly (the plain reader's strings come this way).
    fn string(&mut self, text: Cow<'src, str>) -> Option<Self::Value> {
        self.scalar(ExprKind::Str(text))
    }

    /// `-value` or `!value`.
    fn unary(&mut self, op: UnaryOp, operand: Self::Value) -> Option<Self::Value>;

    /// An array of these items, in order.
    fn array(&mut self, items: std::vec::Drain<'_, Self::Value>) -> Self::Value;

    /// An object of these entries (one-part keys, unescaped), in order. A repeated key is
    /// best refused: the syntax tree's route can warn about it.
    fn object(&mut self, entries: std::vec::Drain<'_, (Cow<'src, str>, Self::Value)>) -> Option<Self::Value>;
}

/// Parses a whole document.
pub fn parse(source: &str, options: ParseOptions) -> Parsed<Document<'_>> {
    // A document of literals (most config files) is read straight from its bytes; anything
    // else, or anything unusual in it, takes the route of every document.
    if let Some(items) = plain::document(source, options.max_depth, plain::Trees) {
        return Parsed { ast: Some(Document { items }), errors: Vec::new() };
    }
    parse_by_descent(source, options)
}

/// [`parse`] without the plain reader's try (what the tests compare that reader with).
fn parse_by_descent(source: &str, options: ParseOptions) -> Parsed<Document<'_>> {
    parse_document(source, options, descent::Items, |items| Document { items }, |ast| ast)
}

/// Parses a whole document as [`parse`] does, with the values of its top-level entries that are
/// made only of literals built by `builder` (when the input is valid and the descent pass reads
/// it; otherwise every statement is a syntax tree, and the errors are those of [`parse`]).
pub fn parse_building<'src, B: ValueBuilder<'src>>(
    source: &'src str,
    options: ParseOptions,
    builder: &mut B,
) -> Parsed<BuiltDocument<'src, B::Value>> {
    // A document of literals (most config files) is read straight from its bytes; anything
    // else, or anything unusual in it, takes the route of every document.
    if let Some(statements) = plain::document(source, options.max_depth, plain::Building(builder)) {
        return Parsed { ast: Some(BuiltDocument { statements }), errors: Vec::new() };
    }
    parse_building_by_descent(source, options, builder)
}

/// [`parse_building`] without the plain reader's try (what the tests compare that reader with).
fn parse_building_by_descent<'src, B: ValueBuilder<'src>>(
    source: &'src str,
    options: ParseOptions,
    builder: &mut B,
) -> Parsed<BuiltDocument<'src, B::Value>> {
    parse_document(
        source,
        options,
        descent::Built(builder),
        |statements| BuiltDocument { statements },
        BuiltDocument::from,
    )
}

/// How many laid-out tokens the layout pass hands the descent pass at a time, at least: 48 KB,
/// which stay in the cache between the two.
const DESCENT_PART: usize = 4096;

/// A document by the descent pass, reading the layout pass's tokens a part at a time as they are
/// made (`reader` says what its statements become, `fast` makes the result of them); else (the
/// input has errors, or the descent pass gave up) by the grammar over all the tokens laid out
/// again, whose tree `from_tree` turns into the result.
fn parse_document<'src, R: descent::StatementReader<'src>, T>(
    source: &'src str,
    options: ParseOptions,
    reader: R,
    fast: impl FnOnce(Vec<R::Statement>) -> T,
    from_tree: impl Fn(Document<'src>) -> T,
) -> Parsed<T> {
    let mut top_level = descent::TopLevel::new(source, options.max_depth, reader);
    let clean = layout::lex_and_lay_out_streaming(source, DESCENT_PART, options.max_depth, &mut |part, last| {
        top_level.read_part(part, last)
    });
    if clean && let Some(statements) = top_level.finish() {
        return Parsed { ast: Some(fast(statements)), errors: Vec::new() };
    }
    // The descent pass has given up on this input, or it has errors: the grammar decides (a
    // clean input's tokens the descent pass gave up on are the same tokens laid out again).
    let mut prepared = prepare(source, options, layout::LayoutMode::Document);
    let Some(tokens) = prepared.tokens.take() else {
        return Parsed { ast: None, errors: prepared.errors };
    };
    let tokens = &tokens;
    let eoi = end_of_input(source);
    if prepared.is_clean() {
        let result = grammar::document::<EmptyErr>(source).parse(tokens.as_slice().split_token_span(eoi));
        if !result.has_errors()
            && let Some(ast) = result.into_output()
        {
            return Parsed { ast: Some(from_tree(ast)), errors: prepared.errors };
        }
    }
    let (ast, errors) =
        grammar::document::<RichError<'_>>(source).parse(tokens.as_slice().split_token_span(eoi)).into_output_errors();
    finish(source, prepared, ast.map(from_tree), errors)
}

/// Parses a single expression (for `tusk eval`).
pub fn parse_expression(source: &str, options: ParseOptions) -> Parsed<Expr<'_>> {
    let mut prepared = prepare(source, options, layout::LayoutMode::Expression);
    let Some(tokens) = prepared.tokens.take() else {
        return Parsed { ast: None, errors: prepared.errors };
    };
    let tokens = &tokens;
    let eoi = end_of_input(source);
    if prepared.is_clean() {
        if let Some(ast) = descent::lone_expression(source, tokens, options.max_depth) {
            return Parsed { ast: Some(ast), errors: prepared.errors };
        }
        let result = grammar::lone_expression::<EmptyErr>(source).parse(tokens.as_slice().split_token_span(eoi));
        if !result.has_errors()
            && let Some(ast) = result.into_output()
        {
            return Parsed { ast: Some(ast), errors: prepared.errors };
        }
    }
    let (ast, errors) = grammar::lone_expression::<RichError<'_>>(source)
        .parse(tokens.as_slice().split_token_span(eoi))
        .into_output_errors();
    finish(source, prepared, ast, errors)
}

/// Parses a REPL line: statements when it starts like an entry, else an expression.
pub fn parse_line(source: &str, options: ParseOptions) -> Parsed<Line<'_>> {
    let lexed = tusk_lexer::lex(source);
    if looks_like_statement(&lexed.tokens) {
        let parsed = parse(source, options);
        Parsed { ast: parsed.ast.map(Line::Statements), errors: parsed.errors }
    } else {
        let parsed = parse_expression(source, options);
        Parsed { ast: parsed.ast.map(Line::Expression), errors: parsed.errors }
    }
}

fn looks_like_statement(tokens: &[Token]) -> bool {
    use TokenKind::*;
    let kinds: Vec<TokenKind> =
        tokens.iter().take(64).map(|token| token.kind).filter(|kind| *kind != Newline).collect();
    if is_section_header(tokens) {
        return true;
    }
    match kinds.as_slice() {
        [Global, Colon | Assign, ..] => true,
        [Name, Gt, ..] if tokens.get(2).is_none_or(|token| token.kind == Newline) => true,
        [Name | Str | Int, ..] => {
            // `a.b.c:`, `key {`, `key:`
            let mut index = 1;
            while kinds.get(index) == Some(&Dot) && matches!(kinds.get(index + 1), Some(Name | Str | Int)) {
                index += 2;
            }
            matches!(kinds.get(index), Some(Colon | Assign | LBrace))
        }
        _ => false,
    }
}

/// True when the first line is a `[section]` header on its own, as in a file: `[server]`,
/// `[server.tls]`, `["my key"]`. (`[x]` is then a header, not a one-item array: a REPL user
/// who wants the array writes `[x,]`.)
fn is_section_header(tokens: &[Token]) -> bool {
    use TokenKind::*;
    let line: Vec<TokenKind> = tokens
        .iter()
        .map(|token| token.kind)
        .skip_while(|kind| *kind == Newline)
        .take_while(|kind| *kind != Newline)
        .collect();
    let [LBracket, path @ .., RBracket] = line.as_slice() else { return false };
    !path.is_empty()
        && path.iter().enumerate().all(|(index, kind)| {
            if index % 2 == 1 { *kind == Dot } else { matches!(kind, Name | Str | Int | True | False | Null) }
        })
        && path.len() % 2 == 1
}

/// The two parsers one at a time, for the differential fuzz target (`fuzz/fuzz_targets/
/// parse_differential.rs`) and the tests that compare them. Not a stable API.
#[doc(hidden)]
pub mod differential {
    use chumsky::input::Input as _;
    use chumsky::prelude::*;

    use super::{ParseOptions, descent, end_of_input, grammar, layout, prepare};
    use crate::ast::{Document, Expr};

    /// What one parser made of an input.
    #[derive(Debug, PartialEq)]
    pub enum Outcome<T> {
        /// The lexer or the layout pass found errors, so neither parser runs.
        NotParsed,
        /// The parser accepted the input and built this tree.
        Accepted(T),
        /// The parser did not accept the input (chumsky: its `EmptyErr` pass failed; the
        /// descent pass: it gave up).
        Rejected,
    }

    /// Which of the two parsers.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Pass {
        /// The hand-written first pass.
        Descent,
        /// The chumsky grammar with `EmptyErr`, the pass `parse` runs next.
        Chumsky,
    }

    /// Parses a document with one of the parsers only.
    pub fn document(source: &str, options: ParseOptions, pass: Pass) -> Outcome<Document<'_>> {
        let prepared = prepare(source, options, layout::LayoutMode::Document);
        let Some(tokens) = prepared.tokens.as_deref().filter(|_| prepared.is_clean()) else {
            return Outcome::NotParsed;
        };
        let ast = match pass {
            Pass::Descent => {
                let whole = descent::document(source, tokens, options.max_depth);
                // As `parse` runs it, the tokens handed over a part at a time, here in the
                // smallest parts (a part at every line break of the top level), which must
                // change nothing.
                let mut top_level = descent::TopLevel::new(source, options.max_depth, descent::Items);
                let clean = layout::lex_and_lay_out_streaming(source, 1, options.max_depth, &mut |part, last| {
                    top_level.read_part(part, last)
                });
                let streamed = top_level.finish().filter(|_| clean).map(|items| Document { items });
                assert_eq!(whole, streamed, "the descent pass read the tokens in parts differently");
                whole
            }
            Pass::Chumsky => {
                let result = grammar::document::<EmptyErr>(source).parse(tokens.split_token_span(end_of_input(source)));
                if result.has_errors() { None } else { result.into_output() }
            }
        };
        ast.map_or(Outcome::Rejected, Outcome::Accepted)
    }

    /// The plain reader's tree of a document (what `parse` tries first), or `None` when it
    /// gives up: when it makes one, the grammar must accept the document and build that tree.
    pub fn plain_document(source: &str, options: ParseOptions) -> Option<Document<'_>> {
        crate::plain::document(source, options.max_depth, crate::plain::Trees).map(|items| Document { items })
    }

    /// Parses a lone expression with one of the parsers only.
    pub fn expression(source: &str, options: ParseOptions, pass: Pass) -> Outcome<Expr<'_>> {
        let prepared = prepare(source, options, layout::LayoutMode::Expression);
        let Some(tokens) = prepared.tokens.as_deref().filter(|_| prepared.is_clean()) else {
            return Outcome::NotParsed;
        };
        let ast = match pass {
            Pass::Descent => descent::lone_expression(source, tokens, options.max_depth),
            Pass::Chumsky => {
                let result =
                    grammar::lone_expression::<EmptyErr>(source).parse(tokens.split_token_span(end_of_input(source)));
                if result.has_errors() { None } else { result.into_output() }
            }
        };
        ast.map_or(Outcome::Rejected, Outcome::Accepted)
    }
}

type RichError<'a> = Rich<'a, TokenKind, SimpleSpan<u32>>;

/// Lexed and laid-out input, ready for the grammar.
struct Prepared {
    /// `None` when the layout pass refused the input.
    tokens: Option<Vec<layout::SpannedToken>>,
    errors: Vec<ParseError>,
    /// The bracket or block the layout pass closed at the end (see `layout::Layout::unclosed`).
    unclosed: Option<ParseError>,
}

impl Prepared {
    /// True when the input has no error so far, so that the fast passes may try it.
    fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.unclosed.is_none()
    }
}

/// Lexes and lays out `source`, the layout pass taking the lexer's tokens as they come.
fn prepare(source: &str, options: ParseOptions, mode: layout::LayoutMode) -> Prepared {
    let mut lex_errors = Vec::new();
    let mut layout_errors = Vec::new();
    let layout = layout::lex_and_lay_out(source, options.max_depth, mode, &mut lex_errors, &mut layout_errors);
    let mut errors = lex_errors_of(&lex_errors);
    errors.append(&mut layout_errors);
    Prepared { tokens: layout.parseable.then_some(layout.tokens), errors, unclosed: layout.unclosed }
}

fn lex_errors_of(errors: &[tusk_lexer::LexError]) -> Vec<ParseError> {
    errors.iter().map(|error| ParseError::new(ParseErrorKind::Lex(error.kind.clone()), error.span)).collect()
}

fn end_of_input(source: &str) -> SimpleSpan<u32> {
    let end = source.len() as u32;
    SimpleSpan { start: end, end, context: () }
}

fn finish<T>(source: &str, prepared: Prepared, ast: Option<T>, rich_errors: Vec<RichError<'_>>) -> Parsed<T> {
    let mut errors = prepared.errors;
    // The lexer's own tokens (before layout) word the errors: lexed again here, off the path
    // of valid input.
    let lexer_tokens = if rich_errors.is_empty() { Vec::new() } else { tusk_lexer::lex(source).tokens };
    let grammar_errors: Vec<ParseError> =
        rich_errors.into_iter().map(|error| convert(error, source, &lexer_tokens)).collect();
    // The bracket or block the layout pass closed at the end: unless a grammar error already
    // points at it, it is reported, ahead of what the grammar says at the same place (which is
    // about the closers the layout pass added).
    if let Some(unclosed) = prepared.unclosed {
        let opener = unclosed.labels.first().map(|label| label.1);
        if !grammar_errors.iter().any(|error| error.labels.iter().any(|label| Some(label.1) == opener)) {
            errors.push(unclosed);
        }
    }
    errors.extend(grammar_errors);
    errors.sort_by_key(|error| (error.span.start, error.span.end));
    // Recovery often reports one problem twice at the same place (once per alternative it
    // tried, or once by the lexer and again by the grammar); the first report is the one that
    // explains it (lexer errors come first), the others only list more tokens.
    errors.dedup_by(|later, first| later.span.start == first.span.start);
    Parsed { ast, errors }
}

const OPERATOR_SYMBOLS: [&str; 19] = [
    "`+`", "`-`", "`*`", "`/`", "`%`", "`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`", "`&&`", "`||`", "`?`", "`.`",
    "`(`", "`[`", "`=>`", "`,`",
];

fn describe_pattern(pattern: &RichPattern<'_, TokenKind>) -> Option<String> {
    match pattern {
        RichPattern::Token(token) => match **token {
            TokenKind::Indent | TokenKind::Dedent | TokenKind::ListDash | TokenKind::AngleOpen => None,
            kind => Some(kind.describe().to_string()),
        },
        RichPattern::Label(label) => Some(label.to_string()),
        RichPattern::EndOfInput => Some("the end of the input".to_string()),
        RichPattern::Identifier(identifier) => Some(format!("`{identifier}`")),
        _ => None,
    }
}

fn convert(error: RichError<'_>, source: &str, tokens: &[Token]) -> ParseError {
    let span = Span::new(error.span().start, error.span().end);
    let (expected, found) = match error.reason() {
        RichReason::ExpectedFound { expected, found } => {
            let mut expected: Vec<String> = expected.iter().filter_map(describe_pattern).collect();
            // A value followed by junk expects every operator; say so in two words.
            let operator_count = expected.iter().filter(|e| OPERATOR_SYMBOLS.contains(&e.as_str())).count();
            if operator_count > 2 {
                expected.retain(|e| !OPERATOR_SYMBOLS.contains(&e.as_str()));
                expected.push("an operator".to_string());
                if !expected.iter().any(|e| e == "the end of the entry") {
                    expected.push("the end of the entry".to_string());
                }
            }
            expected.sort();
            expected.dedup();
            if expected.len() > 6 {
                expected.truncate(6);
            }
            (expected, found.as_deref().copied())
        }
        RichReason::Custom(message) => {
            let mut error =
                ParseError::new(ParseErrorKind::Unexpected { expected: vec![], found: message.clone() }, span);
            error.help = None;
            return error;
        }
    };
    let at_end = span.start as usize >= source.len()
        || found.is_none()
        || (found == Some(TokenKind::Dedent) && span.start as usize >= source.len());
    let mut parse_error = if at_end {
        // Point just after the last token rather than at the very end of the input, which is
        // often a line further down.
        let last_end = tokens.iter().rev().find(|token| token.kind != TokenKind::Newline).map(|token| token.span.end);
        let span = last_end.map_or(span, |end| Span::point(end.min(span.start)));
        ParseError::new(ParseErrorKind::UnexpectedEnd { expected: expected.clone() }, span)
    } else {
        let found_kind = found.unwrap_or(TokenKind::Error);
        let found_text = match found_kind {
            TokenKind::Name | TokenKind::Int | TokenKind::Float | TokenKind::Operator | TokenKind::Global => {
                format!("`{}`", &source[span.range()])
            }
            kind => kind.describe().to_string(),
        };
        ParseError::new(ParseErrorKind::Unexpected { expected: expected.clone(), found: found_text }, span)
    };
    // Point at the bracket that is still open where the error happened.
    let open = open_brackets_before(tokens, span.start);
    if let Some(opener) = open.last() {
        let closes_wrong = matches!(found, Some(TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace))
            && opener.kind.closer() != found;
        if at_end || closes_wrong {
            let symbol = opener.kind.describe();
            parse_error.labels.push((format!("unclosed {symbol} opened here"), opener.span));
            if let Some(closer) = opener.kind.closer() {
                parse_error.help = Some(format!("add the missing {}", closer.describe()));
            }
        }
    }
    if parse_error.help.is_none() {
        parse_error.help = comment_hint(source, tokens, span, found).or_else(|| hint(&expected, found));
    }
    parse_error
}

/// The pitfalls of comments: `url: http://x` (`//` starts a comment, so the entry reads
/// `http:`) and `color: #333` (`#` after a space starts a comment, so the entry has no value).
fn comment_hint(source: &str, tokens: &[Token], span: Span, found: Option<TokenKind>) -> Option<String> {
    let line_end = source[span.start as usize..].find('\n').map_or(source.len(), |end| span.start as usize + end);
    if found == Some(TokenKind::Colon) && source[span.end as usize..].starts_with("//") {
        let before = tokens.iter().rev().find(|token| token.span.end <= span.start)?;
        let url = source[before.span.start as usize..line_end].trim_end();
        return Some(format!("`//` starts a comment, so the URL is cut short: quote it, \"{url}\""));
    }
    let previous_end =
        tokens.iter().rev().find(|token| token.span.end <= span.start && token.kind != TokenKind::Newline)?.span.end;
    let between = source.get(previous_end as usize..line_end.min(span.start as usize).max(previous_end as usize))?;
    let comment = between.trim_start();
    if comment.starts_with('#') && between.len() > comment.len() {
        let word = comment.split_whitespace().next().unwrap_or(comment);
        return Some(format!("`#` after a space starts a comment, so the value is missing: quote it, \"{word}\""));
    }
    None
}

fn hint(expected: &[String], found: Option<TokenKind>) -> Option<String> {
    let ends_entry = expected.iter().any(|e| e == "the end of the entry");
    match found {
        Some(TokenKind::Assign) if ends_entry => Some("to compare two values, use `==`".to_string()),
        Some(TokenKind::Name | TokenKind::Int | TokenKind::Float | TokenKind::Str) if ends_entry => {
            Some("an entry ends at the end of its line: put the next one on its own line or after `;`, and quote text that contains spaces".to_string())
        }
        Some(TokenKind::Minus) => Some("`a-b` is one name: put spaces around `-` to subtract".to_string()),
        // `[` where an entry's key was expected: a section header inside a block (at the top
        // level, `[` starts a section and is never an error here).
        Some(TokenKind::LBracket) if expected.iter().any(|e| e == "a key") => Some(
            "a `[section]` header belongs at the top level: close the block before it, or nest with `name { … }`"
                .to_string(),
        ),
        _ => None,
    }
}

/// Brackets open just before `offset`, innermost last.
fn open_brackets_before(tokens: &[Token], offset: u32) -> Vec<Token> {
    let end = tokens.partition_point(|token| token.span.start < offset);
    layout::unclosed_brackets(&tokens[..end])
}

#[cfg(test)]
mod tests;
