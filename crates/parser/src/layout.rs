//! The layout pass between lexer and grammar.
//!
//! It turns the lexer's tokens into the stream the grammar reads, so that the grammar never
//! has to think about line breaks inside expressions or about indentation:
//! - a line break after a token that cannot end an expression (`(`, `,`, `+`, `=>`, …) or
//!   before a closing bracket is dropped;
//! - `name >` at the start of a line becomes [`TokenKind::AngleOpen`], a line holding only `<`
//!   becomes [`TokenKind::AngleClose`], and `-` starting a statement becomes
//!   [`TokenKind::ListDash`];
//! - `key:` at the end of a line followed by more-indented lines gets
//!   [`TokenKind::Indent`] … [`TokenKind::Dedent`] around them;
//! - integer literals are range-checked, and the nesting of the input is bounded before any
//!   recursive code sees it, which is what keeps 100 000 nested brackets from overflowing
//!   the parser, the compiler or `Drop`.

use tusk_diagnostics::Span;
use tusk_lexer::{LexError, Lexer, Token, TokenKind};

use crate::error::{ParseError, ParseErrorKind};

/// A token in the grammar's input: the kind and a chumsky span of `u32` offsets.
pub(crate) type SpannedToken = (TokenKind, chumsky::span::SimpleSpan<u32>);

fn chumsky_span(span: Span) -> chumsky::span::SimpleSpan<u32> {
    chumsky::span::SimpleSpan { start: span.start, end: span.end, context: () }
}

/// What the layout pass produced.
pub(crate) struct Layout {
    pub(crate) tokens: Vec<SpannedToken>,
    /// False when the input was refused (too deep): the grammar must not run.
    pub(crate) parseable: bool,
    /// The innermost bracket or `name >` block left open at the end of the input, which the
    /// pass closed there (see [`close_at_end`]). The grammar's own report at the same place, if
    /// it makes one, says more and is preferred.
    pub(crate) unclosed: Option<ParseError>,
}

/// Brackets still open at the end of the input, innermost last (for "unclosed" labels).
pub(crate) fn unclosed_brackets(tokens: &[Token]) -> Vec<Token> {
    let mut stack: Vec<Token> = Vec::new();
    for token in tokens {
        if token.kind.is_opener() || token.kind == TokenKind::StrStart {
            stack.push(*token);
        } else if let Some(top) = stack.last() {
            let closes = match top.kind {
                TokenKind::StrStart => token.kind == TokenKind::StrEnd,
                opener => opener.closer() == Some(token.kind),
            };
            if closes {
                stack.pop();
            }
        }
    }
    stack.retain(|token| token.kind != TokenKind::StrStart);
    stack
}

fn continues_expression(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        kind,
        LParen
            | LBracket
            | LBrace
            | Comma
            | Arrow
            | Dot
            | Question
            | Plus
            | Minus
            | Star
            | Slash
            | Percent
            | Bang
            | EqEq
            | NotEq
            | Lt
            | LtEq
            | Gt
            | GtEq
            | AndAnd
            | OrOr
            | InterpStart
    )
}

fn counts_toward_depth(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        kind,
        Arrow
            | Dot
            | Question
            | Plus
            | Minus
            | Star
            | Slash
            | Percent
            | Bang
            | EqEq
            | NotEq
            | Lt
            | LtEq
            | Gt
            | GtEq
            | AndAnd
            | OrOr
    )
}

/// Indentation (in columns, a tab counting as one) of the line holding `offset`.
fn indentation_of_line(source: &str, offset: u32) -> usize {
    let bytes = source.as_bytes();
    let line_start = bytes[..offset as usize].iter().rposition(|&byte| byte == b'\n').map_or(0, |i| i + 1);
    bytes[line_start..].iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count()
}

struct Frame {
    /// The bracket (or `None` for the top level) this frame is inside.
    opener: Option<TokenKind>,
    /// Where that bracket is.
    opened_at: Span,
    /// Operators since the last separator at this level: each can add one level of AST.
    operators_in_segment: usize,
    /// `?` seen in this segment whose `:` has not come yet: that `:` continues the line.
    open_ternaries: usize,
}

/// What the token stream will be parsed as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayoutMode {
    /// A document: statements, blocks, indentation.
    Document,
    /// A lone expression: no statement-level tokens are made.
    Expression,
}

/// Runs the layout pass over a lexed token buffer. Problems go to `errors`. (The parser lays
/// out tokens as they are lexed, [`lex_and_lay_out`]; this is what the tests check it against.)
#[cfg(test)]
pub(crate) fn layout(
    source: &str,
    tokens: &[Token],
    max_depth: usize,
    mode: LayoutMode,
    errors: &mut Vec<ParseError>,
) -> Layout {
    lay_out(source, Buffered(tokens), tokens.len() + 16, max_depth, mode, errors, None)
}

/// Lexes `source` and runs the layout pass over the tokens as they come, a part at a time, so
/// that they never sit in a buffer for the whole input (12 bytes a token: 8 MB for a 3 MB
/// file, which is memory to fault in and to free again): the same tokens and errors as
/// [`tusk_lexer::lex`] then [`layout`]. Problems of the lexer go to `lex_errors`, of the layout
/// pass to `errors`.
pub(crate) fn lex_and_lay_out(
    source: &str,
    max_depth: usize,
    mode: LayoutMode,
    lex_errors: &mut Vec<LexError>,
    errors: &mut Vec<ParseError>,
) -> Layout {
    lex_and_lay_out_in_chunks(source, LEXING_CHUNK, max_depth, mode, lex_errors, errors)
}

/// [`lex_and_lay_out`] asking the lexer for `chunk` tokens at a time (at least three: the
/// token laid out and its look-ahead).
pub(crate) fn lex_and_lay_out_in_chunks(
    source: &str,
    chunk: usize,
    max_depth: usize,
    mode: LayoutMode,
    lex_errors: &mut Vec<LexError>,
    errors: &mut Vec<ParseError>,
) -> Layout {
    let chunk = chunk.max(3);
    let mut lexing =
        Lexing { lexer: Lexer::new(source), buffer: Vec::with_capacity(chunk), chunk, errors: lex_errors, more: true };
    lexing.more = lexing.lexer.fill(&mut lexing.buffer, lexing.errors, chunk);
    // One token per five bytes, as the lexer guesses, avoids most regrowth on big files.
    let layout = lay_out(source, &mut lexing, source.len() / 5 + 16, max_depth, mode, errors, None);
    // A refused input leaves the pass early; the lexer's errors are all reported all the same.
    while lexing.more {
        lexing.buffer.clear();
        lexing.more = lexing.lexer.fill(&mut lexing.buffer, lexing.errors, chunk);
    }
    layout
}

/// How many tokens [`lex_and_lay_out`] asks the lexer for at a time: 48 KB, which stay in the
/// cache (512 at a time measured slower, within the noise of a loaded machine).
const LEXING_CHUNK: usize = 4096;

/// Receives the laid-out tokens of a document a part at a time ([`lex_and_lay_out_streaming`]):
/// the part, and whether it is the last; returns false to stop the pass.
pub(crate) type PartSink<'f> = &'f mut dyn FnMut(&[SpannedToken], bool) -> bool;

/// Lexes and lays out a document as [`lex_and_lay_out`] does, but hands the laid-out tokens to
/// `sink` a part at a time instead of keeping them all: every part but the last holds at least
/// `part` tokens and ends with a line break of the top level (outside brackets, indented blocks
/// and `name >` blocks), which no statement reaches across, so that a reader of statements
/// never sees one cut in two. The parts put together are the tokens of [`lex_and_lay_out`].
///
/// True when the whole input was handed over, `sink` accepted every part, and neither the
/// lexer nor the layout pass found a problem. Anything else (even a lexer error found after
/// the parts that were handed over) is false, and the caller lays the input out again with
/// [`lex_and_lay_out`] to word the errors: this route is only for valid documents.
pub(crate) fn lex_and_lay_out_streaming(source: &str, part: usize, max_depth: usize, sink: PartSink<'_>) -> bool {
    let part = part.max(1);
    let (mut lex_errors, mut errors) = (Vec::new(), Vec::new());
    let mut lexing = Lexing {
        lexer: Lexer::new(source),
        buffer: Vec::with_capacity(LEXING_CHUNK),
        chunk: LEXING_CHUNK,
        errors: &mut lex_errors,
        more: true,
    };
    lexing.more = lexing.lexer.fill(&mut lexing.buffer, lexing.errors, LEXING_CHUNK);
    let layout =
        lay_out(source, &mut lexing, part * 2 + 16, max_depth, LayoutMode::Document, &mut errors, Some((part, sink)));
    // (A pass that stopped early leaves tokens unlexed: their errors do not matter, the input
    // is laid out again.)
    layout.parseable && layout.unclosed.is_none() && errors.is_empty() && lex_errors.is_empty()
}

/// Where the layout pass reads the lexer's tokens: all of them in one buffer ([`Buffered`]), or
/// a part at a time from the lexer ([`Lexing`]).
trait TokenWindow {
    /// The tokens at hand.
    fn tokens(&self) -> &[Token];

    /// True when the tokens at hand go on to the end of the input.
    fn complete(&self) -> bool;

    /// Makes more tokens after `tokens()[index]` at hand (the tokens before it may go);
    /// returns the new index of that token.
    fn advance(&mut self, index: usize) -> usize;

    /// Makes the tokens at hand go on at least to the end of the line after `tokens()[index]`
    /// (the tokens before it stay).
    fn whole_line(&mut self, index: usize);
}

#[cfg(test)]
struct Buffered<'t>(&'t [Token]);

#[cfg(test)]
impl TokenWindow for Buffered<'_> {
    #[inline]
    fn tokens(&self) -> &[Token] {
        self.0
    }

    #[inline]
    fn complete(&self) -> bool {
        true
    }

    fn advance(&mut self, index: usize) -> usize {
        index
    }

    fn whole_line(&mut self, _index: usize) {}
}

struct Lexing<'s, 'e> {
    lexer: Lexer<'s>,
    buffer: Vec<Token>,
    /// How many tokens to ask the lexer for at a time.
    chunk: usize,
    errors: &'e mut Vec<LexError>,
    /// False once the lexer has handed out its last token.
    more: bool,
}

impl TokenWindow for &mut Lexing<'_, '_> {
    #[inline]
    fn tokens(&self) -> &[Token] {
        &self.buffer
    }

    #[inline]
    fn complete(&self) -> bool {
        !self.more
    }

    #[inline(never)]
    fn advance(&mut self, index: usize) -> usize {
        self.buffer.drain(..index);
        self.more = self.lexer.fill(&mut self.buffer, self.errors, self.chunk);
        0
    }

    fn whole_line(&mut self, index: usize) {
        while self.more && !self.buffer[index + 1..].iter().any(|token| token.kind == TokenKind::Newline) {
            let want = self.buffer.len() + self.chunk;
            self.more = self.lexer.fill(&mut self.buffer, self.errors, want);
        }
    }
}

/// The layout pass over the tokens of `window`.
#[inline(never)]
fn lay_out<W: TokenWindow>(
    source: &str,
    mut window: W,
    capacity: usize,
    max_depth: usize,
    mode: LayoutMode,
    errors: &mut Vec<ParseError>,
    mut streaming: Option<(usize, PartSink<'_>)>,
) -> Layout {
    let mut out: Vec<SpannedToken> = Vec::with_capacity(capacity);
    // When streaming: how many tokens at the start of `out` were handed over already (the two
    // kept after each part are what the rules below look back at: the token before a line
    // break, the two before `>`).
    let mut handed_over = 0;
    let mut frames =
        vec![Frame { opener: None, opened_at: Span::point(0), operators_in_segment: 0, open_ternaries: 0 }];
    // Open indented blocks: (indentation of their lines, bracket depth they live at).
    let mut indents: Vec<(usize, usize)> = Vec::new();
    let mut depth_of_operators = 0usize;
    // Open `name >` blocks: the grammar recurses into each, so they count toward the depth
    // (100 000 nested angle blocks overflowed the stack).
    let mut angle_blocks: Vec<AngleBlock> = Vec::new();
    let mut at_statement_start = mode == LayoutMode::Document;
    // Every open bracket, indented block, `name >` block and operator in a bracket's current
    // segment is a level the grammar recurses into; past `max_depth` the document is refused
    // before the parser can overflow its stack.
    macro_rules! stop_if_too_deep {
        ($span:expr) => {
            if frames.len() - 1 + indents.len() + depth_of_operators + angle_blocks.len() > max_depth {
                errors.push(ParseError::new(ParseErrorKind::TooDeep { limit: max_depth }, $span));
                return Layout { tokens: out, parseable: false, unclosed: None };
            }
        };
    }
    // Set when an Indent token replaced the line break the lexer put after `key:`.
    let mut newline_replaced = false;
    // True while the last token pushed is the `:` of a ternary, after which a line may break.
    let mut last_was_ternary_colon = false;
    // The indentation of the top level's lines (outside blocks and brackets): that of the first
    // line, and after a `[section]` header that of the header's first line.
    // (The lexer never starts with a line break, so the first token at hand is on that line.)
    let mut top_base = window
        .tokens()
        .iter()
        .find(|token| token.kind != TokenKind::Newline)
        .filter(|token| token.kind != TokenKind::LBracket)
        .map(|token| indentation_of_line(source, token.span.start));
    // `- key: value` list items read as `- {key: value}` after their error: the dash's
    // indentation and the frame depth of the brace put after it (closed when a line comes back
    // to the dash's indentation).
    let mut item_objects: Vec<(usize, usize)> = Vec::new();

    let push = |out: &mut Vec<SpannedToken>, kind: TokenKind, span: Span| out.push((kind, chumsky_span(span)));

    // The tokens at hand are laid out but for the last two, the look-ahead, unless they go on
    // to the end of the input; then more are asked for.
    let mut start = 0;
    loop {
        let complete = window.complete();
        let tokens = window.tokens();
        let ready = if complete { tokens.len() } else { tokens.len().saturating_sub(2) };
        let mut whole_line = false;
        for (index, token) in tokens[..ready].iter().enumerate().skip(start) {
            let next = tokens.get(index + 1).map(|t| t.kind);
            // Most tokens (names, literals, the `:` of an entry) play no part in the layout: they
            // are copied as they are and end a statement start, and nothing else below applies to
            // them (they open, close and count toward nothing, so the depth stays what it was).
            let plain = match token.kind {
                TokenKind::Name
                | TokenKind::Str
                | TokenKind::True
                | TokenKind::False
                | TokenKind::Null
                | TokenKind::Global
                | TokenKind::Operator
                | TokenKind::RawStr
                | TokenKind::Heredoc
                | TokenKind::StrStart
                | TokenKind::StrText
                | TokenKind::StrEnd
                | TokenKind::Error
                | TokenKind::DateLike => true,
                TokenKind::Colon => {
                    next != Some(TokenKind::Newline) && frames.last().is_some_and(|frame| frame.open_ternaries == 0)
                }
                TokenKind::Assign => next != Some(TokenKind::Newline),
                // Number literals are checked here and are otherwise plain: a config file is full
                // of them.
                // `-9223372036854775808` is i64::MIN: its digits alone do not fit, so they are let
                // through after a unary minus (the grammar folds the two), and refused elsewhere.
                // (The cheap tests come first: this runs for every integer.)
                TokenKind::Int => {
                    let i64_min_operand = out.last().is_some_and(|t| t.0 == TokenKind::Minus)
                        && minus_is_unary(out.len().checked_sub(2).map(|i| out[i].0))
                        && !matches!(next, Some(TokenKind::Dot | TokenKind::LParen | TokenKind::LBracket))
                        && is_i64_min_magnitude(&source[token.span.range()]);
                    if !i64_min_operand {
                        check_int(source, token.span, errors);
                    }
                    true
                }
                TokenKind::Float => {
                    if !float_is_finite(&source[token.span.range()]) {
                        errors.push(ParseError::new(ParseErrorKind::FloatTooLarge, token.span));
                    }
                    true
                }
                // The commonest structural tokens of a config file take a short way here when
                // nothing around them is unusual: exactly what the general rules below do with
                // them, without the tests that cannot apply to them.
                TokenKind::Comma => {
                    let top = frames.last_mut().expect("the top frame is never popped");
                    depth_of_operators -= top.operators_in_segment;
                    top.operators_in_segment = 0;
                    top.open_ternaries = 0;
                    let in_entries =
                        mode == LayoutMode::Document && matches!(top.opener, None | Some(TokenKind::LBrace));
                    stop_if_too_deep!(token.span);
                    last_was_ternary_colon = false;
                    push(&mut out, token.kind, token.span);
                    at_statement_start = in_entries;
                    continue;
                }
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => {
                    frames.push(Frame {
                        opener: Some(token.kind),
                        opened_at: token.span,
                        operators_in_segment: 0,
                        open_ternaries: 0,
                    });
                    stop_if_too_deep!(token.span);
                    last_was_ternary_colon = false;
                    push(&mut out, token.kind, token.span);
                    at_statement_start = mode == LayoutMode::Document && token.kind == TokenKind::LBrace;
                    continue;
                }
                // A closer of the innermost bracket with no indented or `name >` block to end.
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace
                    if frames.len() > 1
                        && indents.is_empty()
                        && angle_blocks.is_empty()
                        && frames.last().and_then(|f| f.opener).and_then(TokenKind::closer) == Some(token.kind) =>
                {
                    let frame = frames.pop().expect("checked above");
                    depth_of_operators -= frame.operators_in_segment;
                    stop_if_too_deep!(token.span);
                    last_was_ternary_colon = false;
                    push(&mut out, token.kind, token.span);
                    at_statement_start = false;
                    continue;
                }
                _ => false,
            };
            if plain {
                last_was_ternary_colon = false;
                push(&mut out, token.kind, token.span);
                at_statement_start = false;
                continue;
            }
            // A `- key: value` item's error reads the whole line, which may go on past the tokens
            // at hand: more are lexed first.
            if token.kind == TokenKind::Minus
                && !complete
                && starts_list_item_entry(next, tokens.get(index + 2).map(|t| t.kind))
                && !tokens[index + 1..].iter().any(|t| t.kind == TokenKind::Newline)
            {
                start = index;
                whole_line = true;
                break;
            }
            // (Without open `- key:` items there is nothing to close: the common case skips the
            // look at the next line's indentation.)
            if token.kind == TokenKind::Newline && !item_objects.is_empty() {
                let next_indent = next.map(|_| indentation_of_line(source, tokens[index + 1].span.start));
                close_item_objects(
                    &mut item_objects,
                    next_indent,
                    &mut frames,
                    &mut indents,
                    &mut depth_of_operators,
                    &mut out,
                    token.span,
                );
            }
            let bracket_depth = frames.len() - 1;
            let in_entries = mode == LayoutMode::Document
                && matches!(frames.last().and_then(|f| f.opener), None | Some(TokenKind::LBrace));
            let mut kind = token.kind;
            let follows_ternary_colon = std::mem::take(&mut last_was_ternary_colon);

            match kind {
                TokenKind::Newline => {
                    let previous = out.last().map(|t| t.0);
                    let top = frames.last_mut().expect("the top frame is never popped");
                    let in_ternary = top.open_ternaries > 0;
                    let drop = previous.is_none_or(continues_expression)
                        || follows_ternary_colon
                        || matches!(
                            next,
                            Some(TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace | TokenKind::Question)
                                | None
                        )
                        || (in_ternary && next == Some(TokenKind::Colon));
                    if !drop {
                        depth_of_operators -= top.operators_in_segment;
                        top.operators_in_segment = 0;
                        top.open_ternaries = 0;
                    }
                    if newline_replaced || (drop && next.is_some()) {
                        newline_replaced = false;
                        continue;
                    }
                    // Close indented blocks the next line leaves.
                    // (Inside brackets with no indented block open there is nothing to close or
                    // check: the next line's indentation is not looked at.)
                    if in_entries && (bracket_depth == 0 || !indents.is_empty()) {
                        let next_indent = next.map(|_| indentation_of_line(source, tokens[index + 1].span.start));
                        let mut left = Vec::new();
                        while let Some(&(level, at_depth)) = indents.last() {
                            if at_depth != bracket_depth || next_indent.is_some_and(|indent| indent >= level) {
                                break;
                            }
                            left.push(level);
                            indents.pop();
                            push(&mut out, TokenKind::Dedent, Span::point(token.span.start));
                        }
                        if let (0, Some(indent), Some(next_token)) = (bracket_depth, next_indent, tokens.get(index + 1))
                        {
                            let line = LineStart { indent, token: *next_token, left_blocks: &left };
                            check_indentation(line, &indents, &mut angle_blocks, &mut top_base, errors);
                        }
                    }
                    if next.is_none() {
                        continue;
                    }
                    push(&mut out, TokenKind::Newline, token.span);
                    at_statement_start = mode == LayoutMode::Document;
                    if let Some((part, sink)) = &mut streaming
                        && out.len() - handed_over >= *part
                        && frames.len() == 1
                        && indents.is_empty()
                        && angle_blocks.is_empty()
                        && item_objects.is_empty()
                    {
                        if !sink(&out[handed_over..], false) {
                            return Layout { tokens: Vec::new(), parseable: false, unclosed: None };
                        }
                        out.drain(..out.len().saturating_sub(2));
                        handed_over = out.len();
                    }
                    continue;
                }
                TokenKind::Semicolon | TokenKind::Comma => {
                    let top = frames.last_mut().expect("the top frame is never popped");
                    depth_of_operators -= top.operators_in_segment;
                    top.operators_in_segment = 0;
                    top.open_ternaries = 0;
                }
                TokenKind::Question => frames.last_mut().expect("the top frame is never popped").open_ternaries += 1,
                TokenKind::Colon if frames.last().is_some_and(|f| f.open_ternaries > 0) => {
                    frames.last_mut().expect("the top frame is never popped").open_ternaries -= 1;
                    push(&mut out, kind, token.span);
                    last_was_ternary_colon = true;
                    continue;
                }
                TokenKind::Colon | TokenKind::Assign if in_entries && next == Some(TokenKind::Newline) => {
                    // `key:` at the end of a line: an indented block follows if the next
                    // non-blank line is indented further than this one.
                    if let Some(first_of_next_line) = tokens.get(index + 2) {
                        let this_indent = indentation_of_line(source, token.span.start);
                        let next_indent = indentation_of_line(source, first_of_next_line.span.start);
                        if next_indent > this_indent {
                            push(&mut out, kind, token.span);
                            push(&mut out, TokenKind::Indent, Span::point(first_of_next_line.span.start));
                            indents.push((next_indent, bracket_depth));
                            stop_if_too_deep!(token.span);
                            at_statement_start = true;
                            newline_replaced = true;
                            continue;
                        }
                    }
                }
                TokenKind::Gt
                    if mode == LayoutMode::Document
                        && at_statement_start_line(&out)
                        && matches!(next, Some(TokenKind::Newline) | None)
                        && out.last().is_some_and(|t| t.0 == TokenKind::Name) =>
                {
                    kind = TokenKind::AngleOpen;
                    let name = out.last().map_or(token.span, |t| Span::new(t.1.start, token.span.end));
                    angle_blocks.push(AngleBlock { name, base: None, indents_outside: indents.len(), bracket_depth });
                }
                TokenKind::Lt
                    if at_statement_start && matches!(next, Some(TokenKind::Newline | TokenKind::Lt) | None) =>
                {
                    kind = TokenKind::AngleClose;
                    angle_blocks.pop();
                }
                TokenKind::Minus if at_statement_start && in_entries => {
                    kind = TokenKind::ListDash;
                    if let Some(error) = list_item_entry(source, &tokens[index..]) {
                        errors.push(error);
                        item_objects.push((indentation_of_line(source, token.span.start), frames.len() + 1));
                    }
                }
                TokenKind::Range => {
                    let text = &source[token.span.range()];
                    let bounds: Vec<Option<i64>> = text.split('-').map(|part| part.parse::<i64>().ok()).collect();
                    match bounds.as_slice() {
                        [Some(low), Some(high)] if low > high => {
                            errors.push(ParseError::new(ParseErrorKind::ReversedRange, token.span));
                        }
                        [Some(_), Some(_)] => {}
                        _ => errors.push(ParseError::new(ParseErrorKind::IntegerTooLarge, token.span)),
                    }
                }
                _ => {}
            }

            if kind.is_opener() {
                frames.push(Frame {
                    opener: Some(kind),
                    opened_at: token.span,
                    operators_in_segment: 0,
                    open_ternaries: 0,
                });
            } else if matches!(kind, TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace | TokenKind::InterpEnd)
            {
                if frames.len() > 1 && frames.last().and_then(|f| f.opener).and_then(TokenKind::closer) == Some(kind) {
                    // Indented blocks opened inside this bracket end with it.
                    while indents.last().is_some_and(|&(_, at_depth)| at_depth >= bracket_depth) {
                        indents.pop();
                        push(&mut out, TokenKind::Dedent, Span::point(token.span.start));
                    }
                    // So do `name >` blocks left open inside it (the grammar reports the closer).
                    while angle_blocks.last().is_some_and(|block| block.bracket_depth >= bracket_depth) {
                        angle_blocks.pop();
                    }
                    let frame = frames.pop().expect("checked above");
                    depth_of_operators -= frame.operators_in_segment;
                }
            } else if counts_toward_depth(kind) {
                frames.last_mut().expect("the top frame is never popped").operators_in_segment += 1;
                depth_of_operators += 1;
            }

            stop_if_too_deep!(token.span);
            push(&mut out, kind, token.span);
            if kind == TokenKind::ListDash && item_objects.last().is_some_and(|&(_, depth)| depth == frames.len() + 1) {
                // Read the rest of the item as the inside of `{ … }`, so that the one mistake is
                // reported once instead of as every token that follows it.
                let opened_at = Span::point(token.span.end);
                frames.push(Frame {
                    opener: Some(TokenKind::LBrace),
                    opened_at,
                    operators_in_segment: 0,
                    open_ternaries: 0,
                });
                push(&mut out, TokenKind::LBrace, opened_at);
                at_statement_start = true;
                continue;
            }
            at_statement_start = mode == LayoutMode::Document
                && matches!(
                    kind,
                    TokenKind::Semicolon
                        | TokenKind::LBrace
                        | TokenKind::AngleOpen
                        | TokenKind::AngleClose
                        | TokenKind::Indent
                )
                || (kind == TokenKind::Comma && in_entries);
        }
        if whole_line {
            window.whole_line(start);
        } else if complete {
            break;
        } else {
            start = window.advance(ready);
        }
    }
    let end = Span::point(source.len() as u32);
    close_item_objects(&mut item_objects, None, &mut frames, &mut indents, &mut depth_of_operators, &mut out, end);
    let unclosed = close_at_end(source, &mut out, frames, indents, angle_blocks);
    if let Some((_, sink)) = streaming {
        let accepted = unclosed.is_none() && sink(&out[handed_over..], true);
        return Layout { tokens: Vec::new(), parseable: accepted, unclosed };
    }
    Layout { tokens: out, parseable: true, unclosed }
}

/// `- name: "b"` (at `tokens[0]`, the dash): the error, when the dash is followed by a key and
/// `:` or `=`.
fn list_item_entry(source: &str, tokens: &[Token]) -> Option<ParseError> {
    use TokenKind::*;
    let [_dash, key, assign, ..] = tokens else { return None };
    if !starts_list_item_entry(Some(key.kind), Some(assign.kind)) {
        return None;
    }
    let line: Vec<&Token> = tokens[1..].iter().take_while(|token| token.kind != Newline).collect();
    let last = line.last().expect("the key is on the line");
    let suggestion = (last.kind != Colon && last.kind != Assign)
        .then(|| format!("- {{{}}}", &source[key.span.start as usize..last.span.end as usize]));
    let kind = ParseErrorKind::ListItemEntry { key: source[key.span.range()].to_string(), suggestion };
    Some(ParseError::new(kind, Span::new(key.span.start, assign.span.end)))
}

/// True when a dash followed by these two tokens may start a `- key: value` item, which
/// [`list_item_entry`] reports.
fn starts_list_item_entry(key: Option<TokenKind>, assign: Option<TokenKind>) -> bool {
    use TokenKind::*;
    matches!(key, Some(Name | Str | Int | True | False | Null)) && matches!(assign, Some(Colon | Assign))
}

/// Closes the `{` put after `- key:` list items when the next line comes back to the dash's
/// indentation (or the input ends), with the indented blocks opened inside it.
fn close_item_objects(
    item_objects: &mut Vec<(usize, usize)>,
    next_indent: Option<usize>,
    frames: &mut Vec<Frame>,
    indents: &mut Vec<(usize, usize)>,
    depth_of_operators: &mut usize,
    out: &mut Vec<SpannedToken>,
    at: Span,
) {
    while let Some(&(dash_indent, depth)) = item_objects.last() {
        if frames.len() != depth || next_indent.is_some_and(|indent| indent > dash_indent) {
            break;
        }
        while indents.last().is_some_and(|&(_, at_depth)| at_depth + 1 >= depth) {
            indents.pop();
            out.push((TokenKind::Dedent, chumsky_span(Span::point(at.start))));
        }
        let frame = frames.pop().expect("the item's frame is open");
        *depth_of_operators -= frame.operators_in_segment;
        out.push((TokenKind::RBrace, chumsky_span(Span::point(at.start))));
        item_objects.pop();
    }
}

/// The first token of a line at the top level (outside brackets), and the indented blocks the
/// line leaves (their indentations).
struct LineStart<'a> {
    indent: usize,
    token: Token,
    left_blocks: &'a [usize],
}

/// Indentation that would change the structure without a word, as YAML readers refuse it: a
/// line indented further than the lines it is among when nothing above opens a block (`a: 1`
/// then `  b: 2`), or a line that leaves an indented block for an indentation no enclosing
/// block has. The lines of the top level, of a section and of a `name >` block are among each
/// other (the first line of each sets their indentation, and may be indented); those of an
/// indented block have its indentation. Lines inside brackets and braces are free.
fn check_indentation(
    line: LineStart<'_>,
    indents: &[(usize, usize)],
    angle_blocks: &mut [AngleBlock],
    top_base: &mut Option<usize>,
    errors: &mut Vec<ParseError>,
) {
    match line.token.kind {
        // A `<` line closes a `name >` block wherever it stands.
        TokenKind::Lt => return,
        // A section header starts the lines of its section.
        TokenKind::LBracket if indents.is_empty() && angle_blocks.is_empty() => {
            *top_base = None;
            return;
        }
        _ => {}
    }
    let base = match angle_blocks.last_mut() {
        Some(block) if block.indents_outside == indents.len() => &mut block.base,
        _ => match indents.last() {
            Some(&(level, _)) => {
                if line.indent > level {
                    let kind = if line.left_blocks.is_empty() {
                        ParseErrorKind::UnexpectedIndent { found: line.indent, expected: level }
                    } else {
                        let mut expected: Vec<usize> = indents.iter().map(|&(level, _)| level).collect();
                        expected.extend(line.left_blocks.iter().rev());
                        ParseErrorKind::InconsistentDedent { found: line.indent, expected }
                    };
                    errors.push(ParseError::new(kind, line.token.span));
                }
                return;
            }
            None => top_base,
        },
    };
    match *base {
        Some(expected) if line.indent > expected => {
            let kind = if line.left_blocks.is_empty() {
                ParseErrorKind::UnexpectedIndent { found: line.indent, expected }
            } else {
                let mut expected = vec![expected];
                expected.extend(line.left_blocks.iter().rev());
                ParseErrorKind::InconsistentDedent { found: line.indent, expected }
            };
            errors.push(ParseError::new(kind, line.token.span));
        }
        // A line further left than the first of its section or `name >` block changes nothing;
        // it sets the indentation of the lines after it.
        _ => *base = Some(line.indent),
    }
}

/// A `name >` block still open.
struct AngleBlock {
    /// `name >`.
    name: Span,
    /// The indentation of its lines, once its first line is seen.
    base: Option<usize>,
    /// How many indented blocks were open when it opened.
    indents_outside: usize,
    /// How many brackets were open when it opened.
    bracket_depth: usize,
}

/// Closes what is still open at the end of the input, innermost first: indented blocks (their
/// normal end), and brackets and `name >` blocks (an error, returned for the innermost).
///
/// Left open, every enclosing bracket or block fails at the end of the input, and the grammar's
/// recovery retries each one inside the others, in time exponential in their nesting: 13
/// unclosed `name >` blocks, or a few hundred lines each opening `@f({` without closing it, took
/// seconds (found by the parse_differential fuzzer). Closed here, the grammar sees balanced
/// input and checks the rest of the file as usual.
fn close_at_end(
    source: &str,
    out: &mut Vec<SpannedToken>,
    mut frames: Vec<Frame>,
    mut indents: Vec<(usize, usize)>,
    mut angle_blocks: Vec<AngleBlock>,
) -> Option<ParseError> {
    let end = Span::point(source.len() as u32);
    let last_end = out.iter().rev().find(|t| t.0 != TokenKind::Newline).map_or(0, |t| t.1.end);
    let mut unclosed: Option<ParseError> = None;
    let mut report = |closer: TokenKind, label: String, at: Span, help: String| {
        if unclosed.is_none() {
            let mut error = ParseError::new(
                ParseErrorKind::UnexpectedEnd { expected: vec![closer.describe().to_string()] },
                Span::point(last_end),
            );
            error.labels.push((label, at));
            error.help = Some(help);
            unclosed = Some(error);
        }
    };
    loop {
        let depth = frames.len() - 1;
        let indent_here = indents.last().is_some_and(|&(_, at_depth)| at_depth == depth);
        let angle_here = angle_blocks.last().is_some_and(|block| block.bracket_depth == depth);
        if angle_here || indent_here {
            // An indented block that held the `name >` line may have closed already (the lines
            // after it went back left): the angle block is then the innermost.
            match angle_blocks.last() {
                Some(block) if angle_here && (!indent_here || block.indents_outside >= indents.len()) => {
                    let name = &source[block.name.range()];
                    report(
                        TokenKind::AngleClose,
                        format!("unclosed `{name}` block opened here"),
                        block.name,
                        "end the block with a line holding only `<`".to_string(),
                    );
                    angle_blocks.pop();
                    out.push((TokenKind::Newline, chumsky_span(end)));
                    out.push((TokenKind::AngleClose, chumsky_span(end)));
                }
                _ => {
                    indents.pop();
                    out.push((TokenKind::Dedent, chumsky_span(end)));
                }
            }
            continue;
        }
        let Some(frame) = frames.pop().filter(|_| depth > 0) else { break };
        match (frame.opener, frame.opener.and_then(TokenKind::closer)) {
            (Some(opener), Some(closer)) if opener != TokenKind::InterpStart => {
                report(
                    closer,
                    format!("unclosed {} opened here", opener.describe()),
                    frame.opened_at,
                    format!("add the missing {}", closer.describe()),
                );
                out.push((closer, chumsky_span(end)));
            }
            // An interpolation left open (the lexer reported the unterminated string): it and
            // its string are closed without an error of their own, so that what encloses them
            // is closed too. Left open, the enclosing blocks failed at the end of the input as
            // above (18 `name >` blocks around a last line `x: "${` took seconds).
            (Some(TokenKind::InterpStart), _) => {
                out.push((TokenKind::InterpEnd, chumsky_span(end)));
                out.push((TokenKind::StrEnd, chumsky_span(end)));
            }
            _ => break,
        }
    }
    unclosed
}

fn at_statement_start_line(out: &[SpannedToken]) -> bool {
    // `name >`: the token before `>` is the name; before that a separator or nothing.
    let before_name = out.len().checked_sub(2).map(|i| out[i].0);
    matches!(
        before_name,
        None | Some(
            TokenKind::Newline
                | TokenKind::Semicolon
                | TokenKind::LBrace
                | TokenKind::AngleOpen
                | TokenKind::AngleClose
                | TokenKind::Indent
                | TokenKind::Dedent
        )
    )
}

/// True when a `-` after `previous` is a sign, not a subtraction: nothing that ends an
/// operand comes before it.
fn minus_is_unary(previous: Option<TokenKind>) -> bool {
    use TokenKind::*;
    previous.is_none_or(|kind| {
        continues_expression(kind)
            || matches!(
                kind,
                Colon | Assign | Semicolon | Newline | Indent | Dedent | ListDash | AngleOpen | AngleClose
            )
    })
}

/// True for the digits of 2^63 (`9223372036854775808`, with `_` or in hex): the magnitude of
/// i64::MIN, which only fits as the operand of a unary minus.
pub(crate) fn is_i64_min_magnitude(text: &str) -> bool {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if !digits.contains('_') {
        return u64::from_str_radix(digits, radix) == Ok(1 << 63);
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    u64::from_str_radix(&cleaned, radix) == Ok(1 << 63)
}

fn check_int(source: &str, span: Span, errors: &mut Vec<ParseError>) {
    let text = &source[span.range()];
    // Up to 18 decimal digits always fit in i64: no need to parse the common case twice.
    let fits = text.len() <= 18 && text.bytes().all(|byte| byte.is_ascii_digit());
    if !fits && parse_int(text).is_none() {
        errors.push(ParseError::new(ParseErrorKind::IntegerTooLarge, span));
    }
}

/// True when a float literal is finite. Without an exponent it is (a literal of fewer than 300
/// digits cannot reach f64::MAX), so only literals with one are parsed here.
fn float_is_finite(text: &str) -> bool {
    if text.len() < 300 && !text.bytes().any(|byte| byte == b'e' || byte == b'E') {
        return true;
    }
    let parsed = if text.contains('_') { text.replace('_', "").parse::<f64>() } else { text.parse::<f64>() };
    parsed.is_ok_and(f64::is_finite)
}

/// Parses a float literal (`2.5`, `1_000.5`, `1e-3`) as `str::parse::<f64>` does (its
/// underscores removed); `None` when that refuses it.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    // The common shape, `digits.digits` with at most 15 digits in all: the digits as an integer
    // (below 2^53, so exact in an f64) divided by the power of ten of the fraction's length
    // (exact up to 10^22). Both operands exact, the division rounds correctly: the same f64 as
    // the general parse, without its set-up (this is the fast path of that parse itself).
    const POWERS: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let bytes = text.as_bytes();
    if (3..=16).contains(&bytes.len()) {
        let mut mantissa: u64 = 0;
        let mut point = None;
        let mut plain = true;
        for (at, &byte) in bytes.iter().enumerate() {
            let digit = byte.wrapping_sub(b'0');
            if digit <= 9 {
                mantissa = mantissa * 10 + u64::from(digit);
            } else if byte == b'.' && point.is_none() {
                point = Some(at);
            } else {
                plain = false;
                break;
            }
        }
        if plain && let Some(point) = point {
            let fraction_digits = bytes.len() - point - 1;
            if point > 0 && fraction_digits > 0 {
                return Some(mantissa as f64 / POWERS[fraction_digits]);
            }
        }
    }
    // (A byte loop: `contains('_')` sets up a `memchr` for these few bytes.)
    let underscores = text.bytes().any(|byte| byte == b'_');
    let parsed = if underscores { text.replace('_', "").parse::<f64>() } else { text.parse::<f64>() };
    parsed.ok()
}

/// Parses an integer literal (`42`, `1_000`, `0xFF`); `None` when it does not fit in `i64`.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    // Up to 18 decimal digits always fit: the common case (a port, a count) adds them up
    // directly, in one pass, without the radix and sign handling of `from_str_radix`.
    if (1..=18).contains(&text.len()) {
        let mut value = 0;
        let all_digits = text.bytes().all(|byte| {
            let digit = byte.wrapping_sub(b'0');
            value = value * 10 + i64::from(digit);
            digit <= 9
        });
        if all_digits {
            return Some(value);
        }
    }
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if !digits.contains('_') {
        return i64::from_str_radix(digits, radix).ok();
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    i64::from_str_radix(&cleaned, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: what the parser made of a float literal before its short way.
    fn parsed_in_full(text: &str) -> Option<f64> {
        text.replace('_', "").parse::<f64>().ok()
    }

    #[test]
    fn floats_of_every_length_parse_as_the_standard_parse_does() {
        let mut texts: Vec<String> = [
            "0.0",
            "1.5",
            "0.1",
            "0.3",
            "2.675",
            "9007199254740.993",
            "999999999999999.9",
            "0.000000000000001",
            "123456789012345.6",
            "1234567890123456.7",
            "1.0e5",
            "1e5",
            "2.5e-3",
            "1_000.5",
            "1.2_5",
            "12345.678",
            "0.30000000000000004",
            "3.141592653589793",
            "00.5",
            "5.00",
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        // Every split of digit strings of 2 to 18 digits into integer part and fraction, with
        // digits that need rounding.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 2..=18 {
            for _ in 0..200 {
                let digits: String = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        char::from(b'0' + (seed % 10) as u8)
                    })
                    .collect();
                for point in 1..len {
                    texts.push(format!("{}.{}", &digits[..point], &digits[point..]));
                }
            }
        }
        for text in &texts {
            let ours = parse_float(text).map(f64::to_bits);
            assert_eq!(ours, parsed_in_full(text).map(f64::to_bits), "{text}");
        }
    }
}
