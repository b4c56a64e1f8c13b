//! Parse errors and their wording.

use tusk_diagnostics::{Diagnostic, Location, SourceId, Span};
use tusk_lexer::LexErrorKind;

/// What went wrong while parsing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A lexer error (`"abc` unterminated, `~`).
    #[error("{0}")]
    Lex(LexErrorKind),
    /// `a: 1 2`: a token that cannot come here.
    #[error("{}", unexpected_message(expected, found))]
    Unexpected {
        /// What could have come here.
        expected: Vec<String>,
        /// What came.
        found: String,
    },
    /// `a: (1 +`: the input ended before the construct did.
    #[error("input ended early")]
    UnexpectedEnd {
        /// What could have come next.
        expected: Vec<String>,
    },
    /// 100 000 nested brackets: the input nests deeper than the limit.
    #[error("nesting is too deep (the limit is {limit} levels)")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// `n: 99999999999999999999`: an integer literal that does not fit in 64 bits.
    #[error("integer literal is too large for a 64-bit integer")]
    IntegerTooLarge,
    /// `x: 1e400`: a float literal beyond the largest 64-bit float.
    #[error("float literal is too large")]
    FloatTooLarge,
    /// `ports: 9000-8000`: a range whose start is after its end.
    #[error("range starts after it ends")]
    ReversedRange,
    /// `a: 1` then `  b: 2`: a line indented further than the lines before it, with nothing
    /// above it that opens a block.
    #[error("this line is indented further than the lines before it, but nothing opens a block here")]
    UnexpectedIndent {
        /// Its indentation, in columns.
        found: usize,
        /// The indentation of the lines it is among.
        expected: usize,
    },
    /// `server:` `    host: "a"` `  port: 80`: a line that leaves an indented block for an
    /// indentation no enclosing block has.
    #[error("this line is indented {found} columns, which matches no enclosing block ({})", join_or(expected))]
    InconsistentDedent {
        /// Its indentation, in columns.
        found: usize,
        /// The indentations of the enclosing blocks, outermost first.
        expected: Vec<usize>,
    },
    /// `- name: "b"`: a list item written as a YAML mapping.
    #[error("a list item cannot hold an entry like `{key}: …`")]
    ListItemEntry {
        /// The key written after the dash.
        key: String,
        /// The item written as an inline object, when it fits on its line.
        suggestion: Option<String>,
    },
}

fn join_or(numbers: &[usize]) -> String {
    let numbers: Vec<String> = numbers.iter().map(usize::to_string).collect();
    match numbers.as_slice() {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => numbers.join(""),
    }
}

fn unexpected_message(expected: &[String], found: &str) -> String {
    match expected {
        [] => format!("unexpected {found}"),
        [one] => format!("expected {one}, found {found}"),
        [rest @ .., last] => format!("expected {} or {last}, found {found}", rest.join(", ")),
    }
}

/// A parse error: kind, primary span, extra labels and a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Where.
    pub span: Span,
    /// Other places that explain it ("unclosed `{` opened here").
    pub labels: Vec<(String, Span)>,
    /// A suggestion.
    pub help: Option<String>,
}

impl ParseError {
    /// An error of `kind` at `span`.
    pub fn new(kind: ParseErrorKind, span: Span) -> ParseError {
        ParseError { kind, span, labels: Vec::new(), help: None }
    }

    /// True when more input could make the text valid: the REPL asks for another line.
    pub fn is_incomplete_input(&self) -> bool {
        match &self.kind {
            ParseErrorKind::UnexpectedEnd { .. } => true,
            ParseErrorKind::Lex(kind) => matches!(
                kind,
                LexErrorKind::UnterminatedString
                    | LexErrorKind::UnterminatedRawString
                    | LexErrorKind::UnterminatedHeredoc
                    | LexErrorKind::UnterminatedInterpolation
            ),
            _ => false,
        }
    }

    /// The renderable form.
    pub fn to_diagnostic(&self, source: SourceId) -> Diagnostic {
        let location = Location::new(source, self.span);
        let mut diagnostic = match &self.kind {
            ParseErrorKind::Lex(kind) => {
                return tusk_lexer::LexError { kind: kind.clone(), span: self.span }.to_diagnostic(source);
            }
            ParseErrorKind::Unexpected { expected, .. } => {
                let label = match expected.as_slice() {
                    [one] => format!("expected {one}"),
                    [one, two] => format!("expected {one} or {two}"),
                    _ => "unexpected here".to_string(),
                };
                Diagnostic::error(self.kind.to_string()).with_code("P001").with_primary(location, label)
            }
            ParseErrorKind::UnexpectedEnd { expected } => {
                let label = if expected.is_empty() {
                    "the input ends here".to_string()
                } else {
                    format!("expected {} here", expected.join(" or "))
                };
                Diagnostic::error(self.kind.to_string()).with_code("P002").with_primary(location, label)
            }
            ParseErrorKind::TooDeep { .. } => Diagnostic::error(self.kind.to_string())
                .with_code("P003")
                .with_primary(location, "this is one level too many")
                .with_help("flatten the structure, or raise the nesting limit (`--max-depth`)"),
            ParseErrorKind::FloatTooLarge => Diagnostic::error(self.kind.to_string())
                .with_code("P005")
                .with_primary(location, "beyond 1.7976931348623157e308")
                .with_help("use a smaller number or a string"),
            ParseErrorKind::ReversedRange => Diagnostic::error(self.kind.to_string())
                .with_code("P006")
                .with_primary(location, "the first number is larger than the second")
                .with_help("write the smaller number first: `8000-9000`"),
            ParseErrorKind::UnexpectedIndent { found, expected } => Diagnostic::error(self.kind.to_string())
                .with_code("P007")
                .with_primary(location, format!("indented {found} columns where the lines before it have {expected}"))
                .with_help(
                    "indent a line only under a `key:` that ends its line (an indented block) or inside a block; otherwise remove the indentation",
                ),
            ParseErrorKind::InconsistentDedent { .. } => Diagnostic::error(self.kind.to_string())
                .with_code("P007")
                .with_primary(location, "the indented block above ends here")
                .with_help("indent the line like the lines of the block it belongs to"),
            ParseErrorKind::ListItemEntry { suggestion, .. } => {
                let help = match suggestion {
                    Some(item) => format!("write the item as an inline object: `{item}`"),
                    None => "write the item as an inline object: `- {name: \"b\", port: 80}`".to_string(),
                };
                Diagnostic::error(self.kind.to_string())
                    .with_code("P008")
                    .with_primary(location, "an entry after `-`")
                    .with_help(help)
            }
            ParseErrorKind::IntegerTooLarge => Diagnostic::error(self.kind.to_string())
                .with_code("P004")
                .with_primary(location, "outside -9223372036854775808..=9223372036854775807")
                .with_help("use a float (`1e20`) or a string"),
        };
        for (message, span) in &self.labels {
            diagnostic = diagnostic.with_secondary(Location::new(source, *span), message.clone());
        }
        if let Some(help) = &self.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        diagnostic
    }
}
