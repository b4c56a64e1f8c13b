//! The chumsky grammar: layout tokens to the AST.
//!
//! The grammar is generic over chumsky's error type so the same rules run twice when needed:
//! first with `EmptyErr` (cheap: valid files, the common case, never build error values), and
//! only if that fails again with `Rich` errors and recovery to produce diagnostics.

use std::borrow::Cow;

use chumsky::input::MappedInput;
use chumsky::label::LabelError;
use chumsky::prelude::*;
use chumsky::recursive::Direct;
use tusk_diagnostics::Span;
use tusk_lexer::TokenKind;

use crate::ast::*;
use crate::layout::{SpannedToken, is_i64_min_magnitude, parse_int};
use crate::strings::{heredoc_body, quoted_body, raw_string_body, unescape};

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

/// What can follow an operand: a call, a member access or an index.
enum Postfix<'s> {
    Call(Vec<Expr<'s>>),
    Member(&'s str, SimpleSpan<u32>),
    Index(Box<Expr<'s>>),
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
/// A handle to a recursive rule, as `recursive` passes it to the rule's definition.
type Handle<'a, O, Err> = Recursive<Direct<'a, 'a, TokenInput<'a>, O, Extra<Err>>>;

/// The expression parser and the top-level body parser.
///
/// Expressions and blocks are mutually recursive. The handles of `Recursive::declare` are
/// strong references, so a rule that mentions itself is an `Rc` cycle, and every parse leaked
/// its whole grammar (tens of KB; chumsky issue #486, found by fuzzing under LeakSanitizer).
/// `recursive` gives the definitions weak handles instead; the two roots it returns are owned
/// by the parsers handed out, which keeps them alive exactly as long as something can parse.
#[allow(clippy::type_complexity)]
fn expression_and_body<'a, 's: 'a, Err: GrammarError<'a>>(
    source: &'s str,
) -> (Boxed<'a, 'a, TokenInput<'a>, Expr<'s>, Extra<Err>>, BoxedBody<'a, 's, Err>) {
    let mut expression_root = None;
    let mut top_body = None;
    let block_body_root = recursive(|block_body| {
        let mut block_body_rule = None;
        let expression = recursive(|expression| {
            let (expression_rule, body_rule, top) = rules(source, expression, block_body);
            block_body_rule = Some(body_rule);
            top_body = Some(top);
            expression_rule
        });
        expression_root = Some(expression);
        block_body_rule.expect("`recursive` runs the definition before it returns")
    });
    let expression_root = expression_root.expect("`recursive` runs the definition before it returns");
    let top_body = top_body.expect("`recursive` runs the definition before it returns");
    let roots = (expression_root.clone(), block_body_root);
    let owned_roots = roots.clone();
    let expression = expression_root
        .map(move |expression| {
            let _owned = &owned_roots;
            expression
        })
        .boxed();
    let top_body = top_body
        .map(move |items| {
            let _owned = &roots;
            items
        })
        .boxed();
    (expression, top_body)
}

/// Every rule of the grammar, given the handles of the two recursive ones. Returns the
/// definitions of the expression rule and of the block body rule, and the top-level body.
#[allow(clippy::type_complexity)]
fn rules<'a, 's: 'a, Err: GrammarError<'a>>(
    source: &'s str,
    expression: Handle<'a, Expr<'s>, Err>,
    block_body: Handle<'a, Vec<Item<'s>>, Err>,
) -> (
    impl Parser<'a, TokenInput<'a>, Expr<'s>, Extra<Err>> + Clone + 'a,
    impl Parser<'a, TokenInput<'a>, Vec<Item<'s>>, Extra<Err>> + Clone + 'a,
    BoxedBody<'a, 's, Err>,
) {
    let text = move |span: SimpleSpan<u32>| -> &'s str { &source[span.start as usize..span.end as usize] };
    let tok = |kind: TokenKind| just(kind).labelled(kind.describe());

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

    // ---- literals: one `select!` dispatches every single-token atom.
    let literal = select! {
        TokenKind::Str = e => {
            let span = e.span();
            expr(ExprKind::Str(unescape(quoted_body(text(span)))), span)
        },
        TokenKind::Int = e => {
            let span = e.span();
            expr(parse_int(text(span)).map_or(ExprKind::Invalid, ExprKind::Int), span)
        },
        TokenKind::Float = e => {
            let span = e.span();
            let raw = text(span);
            let parsed = if raw.contains('_') { raw.replace('_', "").parse::<f64>() } else { raw.parse::<f64>() };
            expr(parsed.map_or(ExprKind::Invalid, ExprKind::Float), span)
        },
        TokenKind::True = e => expr(ExprKind::Bool(true), e.span()),
        TokenKind::False = e => expr(ExprKind::Bool(false), e.span()),
        TokenKind::Null = e => expr(ExprKind::Null, e.span()),
        TokenKind::Global = e => expr(ExprKind::Global(&text(e.span())[1..]), e.span()),
        TokenKind::Range = e => {
            let span = e.span();
            let (low, high) = text(span).split_once('-').unwrap_or(("", ""));
            let kind = match (low.parse::<i64>(), high.parse::<i64>()) {
                (Ok(low), Ok(high)) => ExprKind::Range(low, high),
                _ => ExprKind::Invalid,
            };
            expr(kind, span)
        },
        TokenKind::RawStr = e => expr(ExprKind::Str(Cow::Borrowed(raw_string_body(text(e.span())))), e.span()),
        TokenKind::Heredoc = e => expr(ExprKind::Str(Cow::Borrowed(heredoc_body(text(e.span())))), e.span()),
        TokenKind::Error = e => expr(ExprKind::Invalid, e.span()),
        TokenKind::DateLike = e => expr(ExprKind::Invalid, e.span()),
    };

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
    // `x` or `x => body`: the name is read once, the arrow decides.
    let name_or_lambda = name.then(just(TokenKind::Arrow).ignore_then(expression.clone()).or_not()).map_with(
        |((name, name_span), body), e| match body {
            None => expr(ExprKind::Name(name), name_span),
            Some(body) => {
                expr(ExprKind::Lambda(vec![Param { name, span: span_of(name_span) }], Box::new(body)), e.span())
            }
        },
    );
    let parenthesized_lambda = param
        .separated_by(just(TokenKind::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(TokenKind::LParen), just(TokenKind::RParen))
        .then_ignore(just(TokenKind::Arrow))
        .then(expression.clone())
        .map_with(|(params, body), e| expr(ExprKind::Lambda(params, Box::new(body)), e.span()));
    let item_separator = just(TokenKind::Comma).or(just(TokenKind::Newline)).ignored();
    // A literal followed by the end of its item skips the expression grammar. The lookahead
    // is labelled like the expression path's own expectations, so error messages do not
    // change when the shortcut fails.
    let item_ending = |closer: TokenKind| {
        literal
            .then_ignore(
                one_of([TokenKind::Comma, TokenKind::Newline, closer])
                    .ignored()
                    .rewind()
                    .labelled("an operator")
                    .labelled(closer.describe()),
            )
            .or(expression.clone())
    };
    let arguments = item_ending(TokenKind::RParen)
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

    // ---- brackets
    let parenthesized = expression.clone().delimited_by(just(TokenKind::LParen), just(TokenKind::RParen)).recover_with(
        via_parser(nested_delimiters(
            TokenKind::LParen,
            TokenKind::RParen,
            [(TokenKind::LBracket, TokenKind::RBracket), (TokenKind::LBrace, TokenKind::RBrace)],
            |span| expr(ExprKind::Invalid, span),
        )),
    );
    let array_items = item_ending(TokenKind::RBracket)
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

    let atom =
        choice((literal, name_or_lambda, operator, object, array, interpolated, parenthesized_lambda, parenthesized))
            .labelled("an expression");

    let index = expression.clone().delimited_by(just(TokenKind::LBracket), just(TokenKind::RBracket));
    let member =
        just(TokenKind::Dot).ignore_then(tok(TokenKind::Name).map_with(move |_, e| (text(e.span()), e.span())));

    // Precedence climbing with one fold per level. (chumsky's Pratt parser moves the operand
    // through every operator it tries and cost more than the whole rest of the grammar.)
    let postfix_op = choice((
        arguments.map(Postfix::Call),
        member.map(|(name, span)| Postfix::Member(name, span)),
        index.map(|index| Postfix::Index(Box::new(index))),
    ));
    let postfixed = atom.foldl_with(postfix_op.repeated(), |lhs, op, e| {
        let kind = match op {
            Postfix::Call(args) => ExprKind::Call(Box::new(lhs), args),
            Postfix::Member(name, name_span) => ExprKind::Member(Box::new(lhs), name, span_of(name_span)),
            Postfix::Index(index) => ExprKind::Index(Box::new(lhs), index),
        };
        expr(kind, e.span())
    });
    let unary = select! {
        TokenKind::Minus = e => (UnaryOp::Neg, e.span()),
        TokenKind::Bang = e => (UnaryOp::Not, e.span()),
    }
    .repeated()
    .foldr(postfixed, move |(op, op_span), operand| {
        let span = SimpleSpan { start: op_span.start, end: operand.span.end, context: () };
        // `-9223372036854775808`: the digits alone do not fit in i64, the negated literal does.
        if op == UnaryOp::Neg
            && matches!(operand.kind, ExprKind::Invalid)
            && is_i64_min_magnitude(&source[operand.span.range()])
        {
            return expr(ExprKind::Int(i64::MIN), span);
        }
        expr(ExprKind::Unary(op, Box::new(operand)), span)
    })
    .boxed();
    let level = |operand: Boxed<'a, 'a, TokenInput<'a>, Expr<'s>, Extra<Err>>,
                 operators: Boxed<'a, 'a, TokenInput<'a>, BinaryOp, Extra<Err>>| {
        operand
            .clone()
            .foldl_with(operators.then(operand).repeated(), |lhs, (op, rhs), e| {
                expr(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), e.span())
            })
            .boxed()
    };
    let product = level(
        unary,
        select! { TokenKind::Star => BinaryOp::Mul, TokenKind::Slash => BinaryOp::Div, TokenKind::Percent => BinaryOp::Rem }
            .boxed(),
    );
    let sum = level(product, select! { TokenKind::Plus => BinaryOp::Add, TokenKind::Minus => BinaryOp::Sub }.boxed());
    let comparison = level(
        sum,
        select! {
            TokenKind::Lt => BinaryOp::Lt,
            TokenKind::LtEq => BinaryOp::LtEq,
            TokenKind::Gt => BinaryOp::Gt,
            TokenKind::GtEq => BinaryOp::GtEq,
        }
        .boxed(),
    );
    let equality =
        level(comparison, select! { TokenKind::EqEq => BinaryOp::Eq, TokenKind::NotEq => BinaryOp::NotEq }.boxed());
    let conjunction = level(equality, just(TokenKind::AndAnd).to(BinaryOp::And).boxed());
    let operators = level(conjunction, just(TokenKind::OrOr).to(BinaryOp::Or).boxed());
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
    let expression_rule = ternary.labelled("an expression");

    // ---- statements
    let key_part = choice((
        tok(TokenKind::Name).map_with(move |_, e| Key { name: Cow::Borrowed(text(e.span())), span: span_of(e.span()) }),
        tok(TokenKind::Str)
            .map_with(move |_, e| Key { name: unescape(quoted_body(text(e.span()))), span: span_of(e.span()) }),
        select! { TokenKind::Int => (), TokenKind::True => (), TokenKind::False => (), TokenKind::Null => () }
            .map_with(move |_, e| Key { name: Cow::Borrowed(text(e.span())), span: span_of(e.span()) }),
    ))
    .labelled("a key");
    let key_path = key_part.separated_by(just(TokenKind::Dot)).at_least(1).collect::<Vec<_>>();
    let assign = tok(TokenKind::Colon).or(tok(TokenKind::Assign));
    let value_end = one_of(VALUE_END).ignored().or(end()).rewind();
    // Most values of a config file are a single literal: try that before the whole expression
    // grammar (the failed attempt costs one token when it is not).
    let value = literal
        .then_ignore(value_end.labelled("the end of the entry"))
        .or(expression.clone().then_ignore(value_end.labelled("the end of the entry")))
        .recover_with(via_parser(raw_value.clone()));
    let separator = one_of([TokenKind::Newline, TokenKind::Semicolon, TokenKind::Comma]).ignored();

    let global_entry = tok(TokenKind::Global)
        .map_with(move |_, e| (&text(e.span())[1..], span_of(e.span())))
        .then_ignore(assign)
        .then(value.clone())
        .map(|((name, name_span), value)| ItemKind::Global { name, name_span, value });
    let list_item = just(TokenKind::ListDash).ignore_then(expression.clone());
    let indented_list = list_item
        .separated_by(separator.repeated().at_least(1))
        .allow_trailing()
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(|items, e| expr(ExprKind::Array(items), e.span()));
    let indented_object = block_body.clone().map_with(|items, e| expr(ExprKind::Object(items), e.span()));
    let indented_body = indented_list.or(indented_object).delimited_by(just(TokenKind::Indent), tok(TokenKind::Dedent));
    // The key is parsed once; what follows it decides the kind of entry.
    let entry_tail = choice((
        assign.ignore_then(indented_body.or(value.clone())),
        object_items.map_with(|items, e| expr(ExprKind::Object(items), e.span())),
        block_body
            .clone()
            .delimited_by(just(TokenKind::AngleOpen), tok(TokenKind::AngleClose))
            .map_with(|items, e| expr(ExprKind::Object(items), e.span())),
        array_items.map_with(|items, e| expr(ExprKind::Array(items), e.span())),
    ));
    let entry = key_path.then(entry_tail).map(|(key, value)| ItemKind::Entry { key: KeyPath::from(key), value });
    let section = key_path
        .delimited_by(just(TokenKind::LBracket), just(TokenKind::RBracket))
        .map(|path| ItemKind::Section { path });

    let statement = choice((entry, global_entry)).map_with(|kind, e| Item { kind, span: span_of(e.span()) });
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
    let block_body_rule = statement.separated_by(separators).allow_leading().allow_trailing().collect::<Vec<_>>();
    let top_body = top_statement.separated_by(separators).allow_leading().allow_trailing().collect::<Vec<_>>().boxed();
    (expression_rule, block_body_rule, top_body)
}
