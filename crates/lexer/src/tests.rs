//! Token-dump tests: one line per token (kind, text, byte range).

use crate::{TokenKind, lex};

fn check(source: &str) -> String {
    let lexed = lex(source);
    let mut out = String::new();
    for token in &lexed.tokens {
        out.push_str(&format!(
            "{:?} {:?} {}..{}\n",
            token.kind,
            &source[token.span.range()],
            token.span.start,
            token.span.end
        ));
    }
    for error in &lexed.errors {
        out.push_str(&format!("error: {} at {}..{}\n", error.kind, error.span.start, error.span.end));
    }
    out
}

fn kinds(source: &str) -> Vec<TokenKind> {
    lex(source).tokens.iter().map(|token| token.kind).collect()
}

#[test]
fn entry_with_inline_comment() {
    assert_eq!(
        check("port: 8080  # web\n"),
        "Name \"port\" 0..4\nColon \":\" 4..5\nInt \"8080\" 6..10\nNewline \"\\n\" 17..18\n"
    );
}

#[test]
fn hash_inside_word_is_an_error() {
    let out = check("a#b");
    assert!(out.contains("error: unexpected `#` at 1..2"), "{out}");
}

#[test]
fn names_keep_dashes_and_ranges_are_one_token() {
    use TokenKind::*;
    assert_eq!(kinds("max-conn: 8000-9000"), [Name, Colon, Range]);
    assert_eq!(kinds("a - b"), [Name, Minus, Name]);
    assert_eq!(kinds("x: 1.5e3 0xFF 1_000"), [Name, Colon, Float, Int, Int]);
}

#[test]
fn interpolation_is_lexed_recursively() {
    use TokenKind::*;
    assert_eq!(
        kinds(r#""a ${x + "b${y}"} c""#),
        [
            StrStart,
            StrText,
            InterpStart,
            Name,
            Plus,
            StrStart,
            StrText,
            InterpStart,
            Name,
            InterpEnd,
            StrEnd,
            InterpEnd,
            StrText,
            StrEnd
        ]
    );
    assert_eq!(kinds(r#""plain \"q\"""#), [Str]);
    assert_eq!(kinds("'single'"), [Str]);
}

#[test]
fn blank_lines_and_comment_lines_fold_into_one_newline() {
    use TokenKind::*;
    assert_eq!(kinds("a: 1\n\n# c\n\n// d\nb: 2\n"), [Name, Colon, Int, Newline, Name, Colon, Int, Newline]);
}

#[test]
fn unterminated_string_reports_opening_quote() {
    let out = check("a: \"abc\nb: 1");
    assert!(out.contains("error: unterminated string at 3..4"), "{out}");
}

#[test]
fn invalid_escape_is_located() {
    let out = check(r#"a: "x\qy""#);
    assert!(out.contains("error: invalid escape `\\q` at 5..7"), "{out}");
    assert!(check(r#"a: "\u{1F418}""#).lines().all(|line| !line.starts_with("error")));
}

#[test]
fn raw_strings_and_heredocs() {
    use TokenKind::*;
    assert_eq!(kinds("f = \"\"\"\nfunction() { return 1; }\n\"\"\"\n"), [Name, Assign, RawStr, Newline]);
    let source = "out = php(<<<'HTML'\n<p>#333 \"x\"</p>\nHTML)\nnext: 1";
    assert_eq!(kinds(source), [Name, Assign, Name, LParen, Heredoc, RParen, Newline, Name, Colon, Int]);
}

#[test]
fn operators_take_their_dotted_path() {
    use TokenKind::*;
    assert_eq!(kinds("@config.tsk.get(\"a.b\")"), [Operator, LParen, Str, RParen]);
    assert_eq!(kinds("@request.method"), [Operator]);
    assert_eq!(kinds("$g: 1"), [Global, Colon, Int]);
}

#[test]
fn unexpected_characters_do_not_stop_lexing() {
    let lexed = lex("a: 1 ~ 2\nb: 3");
    assert_eq!(lexed.errors.len(), 1);
    assert_eq!(lexed.tokens.last().map(|token| token.kind), Some(TokenKind::Int));
}

#[test]
fn unterminated_interpolation() {
    let out = check("a: \"x ${y");
    assert!(out.contains("error: unterminated interpolation"), "{out}");
}

#[test]
fn deeply_nested_interpolation_does_not_overflow_the_stack() {
    // Each `"${` used to recurse into the driver, so a long enough run of them overflowed the
    // stack before the parser's nesting limit could refuse the input.
    let source = "\"${".repeat(200_000);
    let lexed = lex(&source);
    assert!(!lexed.errors.is_empty());
    assert!(lexed.tokens.iter().all(|token| token.span.end as usize <= source.len()));
}

/// Strings are scanned a word at a time: a quote, backslash or `${` is found wherever it falls
/// in or across the eight-byte words, also in multi-byte text and at the very end.
#[test]
fn string_ends_and_escapes_are_found_at_every_offset_of_a_word() {
    for len in 0..20 {
        let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
        for (body, expected) in [
            (text.clone(), vec![TokenKind::Str]),
            (format!("{text}\\\"{text}"), vec![TokenKind::Str]),
            (format!("{text}$x{text}"), vec![TokenKind::Str]),
            (
                format!("{text}${{a}}{text}"),
                vec![
                    TokenKind::StrStart,
                    TokenKind::StrText,
                    TokenKind::InterpStart,
                    TokenKind::Name,
                    TokenKind::InterpEnd,
                    TokenKind::StrText,
                    TokenKind::StrEnd,
                ],
            ),
        ] {
            let source = format!("\"{body}\" 1");
            let mut expected = expected;
            if text.is_empty() {
                expected.retain(|kind| *kind != TokenKind::StrText);
            }
            expected.push(TokenKind::Int);
            assert_eq!(kinds(&source), expected, "{source:?}");
            let single = format!("'{text}\\'{text}' 1");
            assert_eq!(kinds(&single), vec![TokenKind::Str, TokenKind::Int], "{single:?}");
            let str_end = lex(&source)
                .tokens
                .iter()
                .find(|t| matches!(t.kind, TokenKind::Str | TokenKind::StrEnd))
                .map(|t| t.span.end);
            assert_eq!(str_end, Some(body.len() as u32 + 2), "{source:?}");
        }
        let unterminated = format!("\"{text}");
        let lexed = lex(&unterminated);
        assert_eq!(
            lexed.tokens.last().map(|t| (t.kind, t.span.end)),
            Some((TokenKind::Str, unterminated.len() as u32))
        );
        assert_eq!(lexed.errors.len(), 1, "{unterminated:?}");
    }
}
