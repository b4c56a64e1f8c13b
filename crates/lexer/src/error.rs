//! Lexer errors and their wording.

use tusk_diagnostics::{Diagnostic, Location, SourceId, Span};

/// What went wrong while lexing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LexErrorKind {
    /// `a ~ b`: a character that starts no token.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// `a#b`: `#` starts a comment only at the start of a line or after whitespace.
    #[error("unexpected `#`")]
    HashNotAfterSpace,
    /// `"abc` with no closing quote before the end of the input.
    #[error("unterminated string")]
    UnterminatedString,
    /// `"""abc` with no closing `"""`.
    #[error("unterminated raw string")]
    UnterminatedRawString,
    /// `<<<EOT` with no line starting with `EOT`.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// `"a ${b"`: the input ended inside an interpolation.
    #[error("unterminated interpolation")]
    UnterminatedInterpolation,
    /// `"\q"`: an escape the language does not have.
    #[error("invalid escape `{0}`")]
    InvalidEscape(String),
    /// `date: 2024-01-31`: dates must be quoted.
    #[error("unquoted date")]
    UnquotedDate,
    /// The source is larger than 4 GiB, which spans cannot address.
    #[error("source is too large ({0} bytes; the limit is 4 GiB)")]
    TooLarge(usize),
}

/// A lexer error with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// What went wrong.
    pub kind: LexErrorKind,
    /// Where.
    pub span: Span,
}

impl LexError {
    /// True when more input could complete the text (the REPL then asks for another line).
    pub fn is_incomplete_input(&self) -> bool {
        matches!(
            self.kind,
            LexErrorKind::UnterminatedString
                | LexErrorKind::UnterminatedRawString
                | LexErrorKind::UnterminatedHeredoc
                | LexErrorKind::UnterminatedInterpolation
        )
    }

    /// The renderable form.
    pub fn to_diagnostic(&self, source: SourceId) -> Diagnostic {
        let location = Location::new(source, self.span);
        let diagnostic = Diagnostic::error(self.kind.to_string());
        match &self.kind {
            LexErrorKind::UnexpectedChar(_) => {
                diagnostic.with_code("L001").with_primary(location, "not part of any token")
            }
            LexErrorKind::HashNotAfterSpace => diagnostic
                .with_code("L002")
                .with_primary(location, "`#` starts a comment only after whitespace")
                .with_help("put a space before `#`, or quote the value"),
            LexErrorKind::UnterminatedString => diagnostic
                .with_code("L003")
                .with_primary(location, "this string is never closed")
                .with_help("add the closing quote"),
            LexErrorKind::UnterminatedRawString => diagnostic
                .with_code("L004")
                .with_primary(location, "this raw string is never closed")
                .with_help("close it with the same three quotes"),
            LexErrorKind::UnterminatedHeredoc => {
                diagnostic.with_code("L005").with_primary(location, "no line starts with the closing identifier")
            }
            LexErrorKind::UnterminatedInterpolation => diagnostic
                .with_code("L006")
                .with_primary(location, "this `${` is never closed")
                .with_help("close the interpolation with `}`"),
            LexErrorKind::InvalidEscape(_) => diagnostic
                .with_code("L007")
                .with_primary(location, "unknown escape")
                .with_help("the escapes are \\\\ \\\" \\' \\n \\t \\r \\0 \\$ and \\u{…}"),
            LexErrorKind::UnquotedDate => diagnostic
                .with_code("L008")
                .with_primary(location, "dates are not literals")
                .with_help("quote it: \"2024-01-31\""),
            LexErrorKind::TooLarge(_) => diagnostic.with_code("L009"),
        }
    }
}
