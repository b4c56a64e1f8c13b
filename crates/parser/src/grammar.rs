//! The chumsky grammar: layout tokens to the AST.
//!
//! The grammar is generic over chumsky's error type so the same rules run twice when needed:
//! first with `EmptyErr` (cheap: valid files, the common case, never build error values), and
//! only if that fails again with `Rich` errors and recovery to produce diagnostics.

use std::borrow::Cow;

use chumsky::input::MappedInput;
use chumsky::label::LabelError;
use chumsky::pratt::{infix, left, postfix, prefix};
use chumsky::prelude::*;
use tusk_diagnostics::Span;
use tusk_lexer::TokenKind;

use crate::ast::*;
use crate::layout::{SpannedToken, parse_int};
use crate::strings::{heredoc_body, raw_string_body, unescape};

/// The grammar's input: layout tokens with `u32` spans.
pub(crate) type TokenInput<'a> = MappedInput<'a, TokenKind, SimpleSpan<u32>, &'a [SpannedToken]>;

/// What the grammar needs of an error type.
pub(crate) trait GrammarError<'a>:
    LabelError<'a, TokenInput<'a>, &'static str>
    + LabelError<'a, TokenInput<'a>, chumsky::DefaultExpected<'a, TokenKind>>
    + chumsky::error::Error<'a, TokenInput<'a>>
    + 'a
{
}

impl<'a, T> GrammarError<'a> for T where
    T: LabelError<'a, TokenInput<'a>, &'static str>
        + LabelError<'a, TokenInput<'a>, chumsky::DefaultExpected<'a, TokenKind>>
        + chumsky::error::Error<'a, TokenInput<'a>>
        + 'a
{
}

type Extra<Err> = extra::Err<Err>;

fn span_of(span: SimpleSpan<u32>) -> Span {
    Span::new(span.start, span.end)
}

fn expr(kind: ExprKind<'_>, span: SimpleSpan<u32>) -> Expr<'_> {
    Expr { kind, span: span_of(span) }
}

/// Tokens after which a value ends.
const VALUE_END: [TokenKind; 8] = [
    TokenKind::Newline,
    TokenKind::Semicolon,
    TokenKind::Comma,
    TokenKind::RBrace,
    TokenKind::RBracket,
    TokenKind::RParen,
    TokenKind::Dedent,
    TokenKind::AngleClose,
];

/// The document parser.
pub(crate) fn document<'a, 's: 'a, Err: GrammarError<'a>>(
    source: &'s str,
) -> impl Parser<'a, TokenInput<'a>, Document<'s>, Extra<Err>> + Clone {
    let (_, body) = expression_and_body::<'a, 's, Err>(source);
    body.then_ignore(end()).map(|items| Document { items })
}

/// A single expression followed by the end of input (for `tusk eval` and the REPL).
pub(crate) fn lone_expression<'a, 's: 'a, Err: GrammarError<'a>>(
    source: &'s str,
) -> impl Parser<'a, TokenInput<'a>, Expr<'s>, Extra<Err>> + Clone {
    let (expression, _) = expression_and_body::<'a, 's, Err>(source);
    just(TokenKind::Newline)
        .or_not()
        .ignore_then(expression)
        .then_ignore(just(TokenKind::Newline).or_not())
        .then_ignore(end())
}

type BoxedBody<'a, 's, Err> = Boxed<'a, 'a, TokenInput<'a>, Vec<Item<'s>>, Extra<Err>>;

#[allow(clippy::type_complexity)]
fn expression_and_body<'a, 's: 'a, Err: GrammarError<'a>>(
    source: &'s str,
) -> (Boxed<'a, 'a, TokenInput<'a>, Expr<'s>, Extra<Err>>, BoxedBody<'a, 's, Err>) {
    let text = move |span: SimpleSpan<u32>| -> &'s str { &source[span.start as usize..span.end as usize] };
    let tok = |kind: TokenKind| just(kind).labelled(kind.describe());

    let mut expression =
        Recursive::<chumsky::recursive::Indirect<'a, 'a, TokenInput<'a>, Expr<'s>, Extra<Err>>>::declare();
    let mut block_body =
        Recursive::<chumsky::recursive::Indirect<'a, 'a, TokenInput<'a>, Vec<Item<'s>>, Extra<Err>>>::declare();

    // Skipping a value that does not parse: balanced brackets, up to where a value ends.
    let balanced = recursive(|balanced| {
        let inner = balanced
            .or(none_of([
                TokenKind::LParen,
                TokenKind::RParen,
                TokenKind::LBracket,
                TokenKind::RBracket,
                TokenKind::LBrace,
                TokenKind::RBrace,
            ])
            .ignored())
            .repeated();
        choice((
            inner.clone().delimited_by(just(TokenKind::LParen), just(TokenKind::RParen)),
            inner.clone().delimited_by(just(TokenKind::LBracket), just(TokenKind::RBracket)),
            inner.delimited_by(just(TokenKind::LBrace), just(TokenKind::RBrace)),
        ))
    });
    let raw_value = balanced
        .clone()
        .or(none_of([
            TokenKind::Newline,
            TokenKind::Semicolon,
            TokenKind::Comma,
            TokenKind::RBrace,
            TokenKind::RBracket,
            TokenKind::RParen,
            TokenKind::LParen,
            TokenKind::LBracket,
            TokenKind::LBrace,
            TokenKind::Indent,
            TokenKind::Dedent,
            TokenKind::AngleClose,
            TokenKind::AngleOpen,
        ])
        .ignored())
        .repeated()
        .at_least(1)
        .map_with(|_, e| expr(ExprKind::Invalid, e.span()));

    // ---- literals
    let int = tok(TokenKind::Int).map_with(move |_, e| {
        let span = e.span();
        expr(parse_int(text(span)).map_or(ExprKind::Invalid, ExprKind::Int), span)
    });
    let float = tok(TokenKind::Float).map_with(move |_, e| {
        let span = e.span();
        let cleaned: String = text(span).chars().filter(|c| *c != '_').collect();
        expr(cleaned.parse::<f64>().map_or(ExprKind::Invalid, ExprKind::Float), span)
    });
    let range = tok(TokenKind::Range).map_with(move |_, e| {
        let span = e.span();
        let (low, high) = text(span).split_once('-').unwrap_or(("", ""));
        let kind = match (low.parse::<i64>(), high.parse::<i64>()) {
            (Ok(low), Ok(high)) => ExprKind::Range(low, high),
            _ => ExprKind::Invalid,
        };
        expr(kind, span)
    });
    let keyword = select! {
        TokenKind::True => ExprKind::Bool(true),
        TokenKind::False => ExprKind::Bool(false),
        TokenKind::Null => ExprKind::Null,
    }
    .labelled("a value")
    .map_with(|kind, e| expr(kind, e.span()));
    let string = tok(TokenKind::Str).map_with(move |_, e| {
        let span = e.span();
        let raw = text(span);
        let inner = raw.get(1..raw.len().saturating_sub(1).max(1)).unwrap_or("");
        let inner = if raw.len() >= 2 && raw.ends_with(&raw[..1]) { inner } else { &raw[1..] };
        expr(ExprKind::Str(unescape(inner)), span)
    });
    let raw_string = tok(TokenKind::RawStr)
        .map_with(move |_, e| expr(ExprKind::Str(Cow::Borrowed(raw_string_body(text(e.span())))), e.span()));
    let heredoc = tok(TokenKind::Heredoc)
        .map_with(move |_, e| expr(ExprKind::Str(Cow::Borrowed(heredoc_body(text(e.span())))), e.span()));
    let invalid_token = select! { TokenKind::Error => (), TokenKind::DateLike => () }
        .map_with(|_, e| expr(ExprKind::Invalid, e.span()));

    let interpolated = just(TokenKind::StrStart)
        .ignore_then(
            choice((
                just(TokenKind::StrText).map_with(move |_, e| StrPart::Text(unescape(text(e.span())))),
                expression
                    .clone()
                    .delimited_by(just(TokenKind::InterpStart), just(TokenKind::InterpEnd))
                    .map(StrPart::Expr),
            ))
            .repeated()
            .collect::<Vec<_>>(),
        )
        .then_ignore(just(TokenKind::StrEnd))
        .map_with(|parts, e| expr(ExprKind::Interpolated(parts), e.span()));

    // ---- names, lambdas, operators
    let name = tok(TokenKind::Name).map_with(move |_, e| (text(e.span()), e.span()));
    let param = name.map(|(name, span)| Param { name, span: span_of(span) });
    let params = param.map(|param| vec![param]).or(param
        .separated_by(just(TokenKind::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(TokenKind::LParen), just(TokenKind::RParen)));
    let lambda = params
        .then_ignore(just(TokenKind::Arrow))
        .then(expression.clone())
        .map_with(|(params, body), e| expr(ExprKind::Lambda(params, Box::new(body)), e.span()));
    let item_separator = just(TokenKind::Comma).or(just(TokenKind::Newline)).ignored();
    let arguments = expression
        .clone()
        .separated_by(item_separator)
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(tok(TokenKind::LParen), tok(TokenKind::RParen))
        .recover_with(via_parser(nested_delimiters(
            TokenKind::LParen,
            TokenKind::RParen,
            [(TokenKind::LBracket, TokenKind::RBracket), (TokenKind::LBrace, TokenKind::RBrace)],
            |span| vec![expr(ExprKind::Invalid, span)],
        )));
    let operator = tok(TokenKind::Operator)
        .map_with(move |_, e| (&text(e.span())[1..], e.span()))
        .then(arguments.clone().or_not())
        .map_with(|((name, name_span), args), e| {
            expr(ExprKind::Operator { name, name_span: span_of(name_span), args }, e.span())
        });
    let global = tok(TokenKind::Global).map_with(move |_, e| expr(ExprKind::Global(&text(e.span())[1..]), e.span()));
    let variable = name.map(|(name, span)| expr(ExprKind::Name(name), span));

    // ---- brackets
    let parenthesized = expression.clone().delimited_by(just(TokenKind::LParen), just(TokenKind::RParen)).recover_with(
        via_parser(nested_delimiters(
            TokenKind::LParen,
            TokenKind::RParen,
            [(TokenKind::LBracket, TokenKind::RBracket), (TokenKind::LBrace, TokenKind::RBrace)],
            |span| expr(ExprKind::Invalid, span),
        )),
    );
    let array_items = expression
        .clone()
        .separated_by(item_separator)
        .allow_leading()
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(tok(TokenKind::LBracket), tok(TokenKind::RBracket))
        .recover_with(via_parser(nested_delimiters(
            TokenKind::LBracket,
            TokenKind::RBracket,
            [(TokenKind::LParen, TokenKind::RParen), (TokenKind::LBrace, TokenKind::RBrace)],
            |span| vec![expr(ExprKind::Invalid, span)],
        )));
    let array = array_items.clone().map_with(|items, e| expr(ExprKind::Array(items), e.span()));
    let object_items = block_body.clone().delimited_by(tok(TokenKind::LBrace), tok(TokenKind::RBrace)).recover_with(
        via_parser(nested_delimiters(
            TokenKind::LBrace,
            TokenKind::RBrace,
            [(TokenKind::LParen, TokenKind::RParen), (TokenKind::LBracket, TokenKind::RBracket)],
            |span| vec![Item { kind: ItemKind::Error, span: span_of(span) }],
        )),
    );
    let object = object_items.clone().map_with(|items, e| expr(ExprKind::Object(items), e.span()));

    let atom = choice((
        lambda,
        int,
        float,
        string,
        interpolated,
        keyword,
        variable,
        operator,
        global,
        parenthesized,
        array,
        object,
        range,
        raw_string,
        heredoc,
        invalid_token,
    ))
    .labelled("an expression");

    let index = expression.clone().delimited_by(just(TokenKind::LBracket), just(TokenKind::RBracket));
    let member =
        just(TokenKind::Dot).ignore_then(tok(TokenKind::Name).map_with(move |_, e| (text(e.span()), e.span())));
    let binary = |kind: TokenKind, op: BinaryOp| just(kind).to(op);
    let fold_binary = |lhs: Expr<'s>,
                       op: BinaryOp,
                       rhs: Expr<'s>,
                       e: &mut chumsky::input::MapExtra<'a, '_, TokenInput<'a>, Extra<Err>>| {
        expr(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), e.span())
    };
    let operators = atom.pratt((
        postfix(10, arguments, |callee, args, e| expr(ExprKind::Call(Box::new(callee), args), e.span())),
        postfix(10, member, |object, (name, name_span), e| {
            expr(ExprKind::Member(Box::new(object), name, span_of(name_span)), e.span())
        }),
        postfix(10, index, |object, index, e| expr(ExprKind::Index(Box::new(object), Box::new(index)), e.span())),
        prefix(9, just(TokenKind::Minus), |_, operand, e| {
            expr(ExprKind::Unary(UnaryOp::Neg, Box::new(operand)), e.span())
        }),
        prefix(9, just(TokenKind::Bang), |_, operand, e| {
            expr(ExprKind::Unary(UnaryOp::Not, Box::new(operand)), e.span())
        }),
        infix(left(7), binary(TokenKind::Star, BinaryOp::Mul), fold_binary),
        infix(left(7), binary(TokenKind::Slash, BinaryOp::Div), fold_binary),
        infix(left(7), binary(TokenKind::Percent, BinaryOp::Rem), fold_binary),
        infix(left(6), binary(TokenKind::Plus, BinaryOp::Add), fold_binary),
        infix(left(6), binary(TokenKind::Minus, BinaryOp::Sub), fold_binary),
        infix(left(5), binary(TokenKind::Lt, BinaryOp::Lt), fold_binary),
        infix(left(5), binary(TokenKind::LtEq, BinaryOp::LtEq), fold_binary),
        infix(left(5), binary(TokenKind::Gt, BinaryOp::Gt), fold_binary),
        infix(left(5), binary(TokenKind::GtEq, BinaryOp::GtEq), fold_binary),
        infix(left(4), binary(TokenKind::EqEq, BinaryOp::Eq), fold_binary),
        infix(left(4), binary(TokenKind::NotEq, BinaryOp::NotEq), fold_binary),
        infix(left(3), binary(TokenKind::AndAnd, BinaryOp::And), fold_binary),
        infix(left(2), binary(TokenKind::OrOr, BinaryOp::Or), fold_binary),
    ));
    let ternary = operators
        .then(
            just(TokenKind::Question)
                .ignore_then(expression.clone())
                .then_ignore(tok(TokenKind::Colon))
                .then(expression.clone())
                .or_not(),
        )
        .map_with(|(condition, branches), e| match branches {
            None => condition,
            Some((then, otherwise)) => {
                expr(ExprKind::Ternary(Box::new(condition), Box::new(then), Box::new(otherwise)), e.span())
            }
        });
    expression.define(ternary.labelled("an expression"));

    // ---- statements
    let key_part = choice((
        tok(TokenKind::Name).map_with(move |_, e| Key { name: Cow::Borrowed(text(e.span())), span: span_of(e.span()) }),
        tok(TokenKind::Str).map_with(move |_, e| {
            let raw = text(e.span());
            Key { name: unescape(&raw[1..raw.len().saturating_sub(1).max(1)]), span: span_of(e.span()) }
        }),
        select! { TokenKind::Int => (), TokenKind::True => (), TokenKind::False => (), TokenKind::Null => () }
            .map_with(move |_, e| Key { name: Cow::Borrowed(text(e.span())), span: span_of(e.span()) }),
    ))
    .labelled("a key");
    let key_path = key_part.separated_by(just(TokenKind::Dot)).at_least(1).collect::<Vec<_>>();
    let assign = tok(TokenKind::Colon).or(tok(TokenKind::Assign));
    let value_end = one_of(VALUE_END).ignored().or(end()).rewind();
    let value = expression
        .clone()
        .then_ignore(value_end.labelled("the end of the entry"))
        .recover_with(via_parser(raw_value.clone()));
    let separator = one_of([TokenKind::Newline, TokenKind::Semicolon, TokenKind::Comma]).ignored();

    let entry = key_path.then_ignore(assign).then(value.clone()).map(|(key, value)| ItemKind::Entry { key, value });
    let global_entry = tok(TokenKind::Global)
        .map_with(move |_, e| (&text(e.span())[1..], span_of(e.span())))
        .then_ignore(assign)
        .then(value.clone())
        .map(|((name, name_span), value)| ItemKind::Global { name, name_span, value });
    let block = key_path
        .then(object_items.map_with(|items, e| expr(ExprKind::Object(items), e.span())))
        .map(|(key, value)| ItemKind::Entry { key, value });
    let array_block = key_path
        .then(array_items.map_with(|items, e| expr(ExprKind::Array(items), e.span())))
        .map(|(key, value)| ItemKind::Entry { key, value });
    let angle_block = key_part
        .then_ignore(just(TokenKind::AngleOpen))
        .then(block_body.clone().map_with(|items, e| expr(ExprKind::Object(items), e.span())))
        .then_ignore(tok(TokenKind::AngleClose))
        .map(|(key, value)| ItemKind::Entry { key: vec![key], value });
    let list_item = just(TokenKind::ListDash).ignore_then(expression.clone());
    let indented_list = list_item
        .separated_by(separator.repeated().at_least(1))
        .allow_trailing()
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(|items, e| expr(ExprKind::Array(items), e.span()));
    let indented_object = block_body.clone().map_with(|items, e| expr(ExprKind::Object(items), e.span()));
    let indented = key_path
        .then_ignore(assign)
        .then_ignore(just(TokenKind::Indent))
        .then(indented_list.or(indented_object))
        .then_ignore(tok(TokenKind::Dedent))
        .map(|(key, value)| ItemKind::Entry { key, value });
    let section = key_path
        .delimited_by(just(TokenKind::LBracket), just(TokenKind::RBracket))
        .map(|path| ItemKind::Section { path });

    let statement = choice((global_entry, angle_block, indented, block, array_block, entry))
        .map_with(|kind, e| Item { kind, span: span_of(e.span()) });
    let skip_statement = balanced
        .or(none_of([
            TokenKind::Newline,
            TokenKind::Semicolon,
            TokenKind::Comma,
            TokenKind::RBrace,
            TokenKind::AngleClose,
            TokenKind::Dedent,
            TokenKind::LParen,
            TokenKind::LBracket,
            TokenKind::LBrace,
        ])
        .ignored())
        .repeated()
        .at_least(1)
        .map_with(|_, e| Item { kind: ItemKind::Error, span: span_of(e.span()) });
    let statement = statement.recover_with(via_parser(skip_statement.clone()));
    let top_statement = section
        .map_with(|kind, e| Item { kind, span: span_of(e.span()) })
        .or(statement.clone())
        // At the top level nothing encloses a stray closer, so skip it as one bad statement.
        .recover_with(via_parser(
            one_of([TokenKind::RBrace, TokenKind::AngleClose, TokenKind::Dedent])
                .ignored()
                .repeated()
                .at_least(1)
                .map_with(|_, e| Item { kind: ItemKind::Error, span: span_of(e.span()) }),
        ));

    let separators = separator.repeated().at_least(1);
    block_body.define(statement.separated_by(separators).allow_leading().allow_trailing().collect::<Vec<_>>());
    let top_body = top_statement.separated_by(separators).allow_leading().allow_trailing().collect::<Vec<_>>().boxed();
    (expression.boxed(), top_body)
}
