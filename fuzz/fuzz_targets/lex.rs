//! Fuzzes the lexer: any UTF-8 text lexes without panicking, and the tokens it returns are
//! well formed (inside the input, in order, on character boundaries).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk_lexer::TokenKind;

fuzz_target!(|data: &[u8]| {
    // The lexer takes `&str`; bytes that are not UTF-8 never reach it (files are read as text).
    let Ok(source) = std::str::from_utf8(data) else { return };
    let lexed = tusk_lexer::lex(source);
    let mut previous_start = 0;
    for token in &lexed.tokens {
        let range = token.span.range();
        assert!(range.start <= range.end, "inverted span {range:?} for {token:?}");
        assert!(range.end <= source.len(), "span {range:?} past the end ({}) for {token:?}", source.len());
        assert!(
            source.is_char_boundary(range.start) && source.is_char_boundary(range.end),
            "span {range:?} splits a character for {token:?}"
        );
        // Interpolated strings nest tokens inside the string, but every token still starts at
        // or after the one before it.
        assert!(range.start >= previous_start, "token {token:?} starts before the previous one ({previous_start})");
        previous_start = range.start;
        // The driver resolves these logos-only kinds; they never leave the lexer.
        assert!(
            !matches!(
                token.kind,
                TokenKind::Hash
                    | TokenKind::SlashSlash
                    | TokenKind::DoubleQuote
                    | TokenKind::SingleQuote
                    | TokenKind::TripleQuote
                    | TokenKind::HeredocStart
            ),
            "driver-only token kind {token:?} escaped the lexer"
        );
    }
    for error in &lexed.errors {
        let range = error.span.range();
        assert!(range.start <= range.end && range.end <= source.len(), "error span {range:?} out of bounds: {error:?}");
        assert!(
            source.is_char_boundary(range.start) && source.is_char_boundary(range.end),
            "error span {range:?} splits a character: {error:?}"
        );
    }
    // Lexing is a pure function of the text.
    let again = tusk_lexer::lex(source);
    assert_eq!(again.tokens, lexed.tokens);
});
