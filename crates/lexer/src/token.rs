//! Token kinds. Tokens carry no payload: the parser slices the source with the span, which
//! keeps a token at 12 bytes and the token buffer of a 50 MB file small.

use logos::Logos;
use tusk_diagnostics::Span;

/// One token: what it is and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The kind.
    pub kind: TokenKind,
    /// The bytes it covers.
    pub span: Span,
}

/// Every kind of token. Kinds without a pattern are made by the driver (strings, comments)
/// or by the parser's layout pass (indentation, angle blocks).
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip "\u{FEFF}")]
#[repr(u8)]
pub enum TokenKind {
    /// A line break (runs of blank lines become one).
    #[token("\n")]
    Newline,
    /// `;`
    #[token(";")]
    Semicolon,
    /// `,`
    #[token(",")]
    Comma,
    /// `:`
    #[token(":")]
    Colon,
    /// `=` (assignment, same as `:` in entries)
    #[token("=")]
    Assign,
    /// `.`
    #[token(".")]
    Dot,
    /// `?`
    #[token("?")]
    Question,
    /// `=>`
    #[token("=>")]
    Arrow,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
    /// `%`
    #[token("%")]
    Percent,
    /// `!`
    #[token("!")]
    Bang,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    NotEq,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    LtEq,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    GtEq,
    /// `&&`
    #[token("&&")]
    AndAnd,
    /// `||`
    #[token("||")]
    OrOr,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    /// `null`
    #[token("null")]
    Null,
    /// An integer: `42`, `1_000`, `0xFF`.
    #[regex("[0-9][0-9_]*")]
    #[regex("0[xX][0-9a-fA-F_]+")]
    Int,
    /// A float: `1.5`, `1e5`, `2.5e-3`.
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9]+")]
    Float,
    /// A range literal without spaces: `8000-9000` (both ends included).
    #[regex("[0-9]+-[0-9]+")]
    Range,
    /// Something that looks like an unquoted date, `2024-01-31`: an error outside compat mode.
    #[regex("[0-9]+-[0-9]+-[0-9]+")]
    DateLike,
    /// A name: `[A-Za-z_][A-Za-z0-9_-]*`.
    #[regex("[A-Za-z_][A-Za-z0-9_-]*")]
    Name,
    /// A global variable: `$name`.
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_-]*")]
    Global,
    /// An operator name with its dotted path: `@env`, `@file.read`, `@config.tsk.get`.
    #[regex(r"@[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")]
    Operator,
    /// A whole quoted string without interpolation, quotes included: `"a\n"`, `'b'`.
    Str,
    /// A triple-quoted raw string, quotes included: `"""…"""` or `'''…'''`.
    RawStr,
    /// A PHP-style heredoc, `<<<ID` … `ID` (kept for real TuskLang files that embed PHP).
    Heredoc,
    /// The opening `"` of a string that contains `${…}`.
    StrStart,
    /// Literal text between the parts of an interpolated string (escapes still in it).
    StrText,
    /// `${` inside a string.
    InterpStart,
    /// The `}` that closes an interpolation.
    InterpEnd,
    /// The closing `"` of an interpolated string.
    StrEnd,
    /// Made by the layout pass: more indentation after `key:` at the end of a line.
    Indent,
    /// Made by the layout pass: the indentation of an indented block ended.
    Dedent,
    /// Made by the layout pass: `name >` at the start of a line opens an angle block.
    AngleOpen,
    /// Made by the layout pass: a line holding only `<` closes an angle block.
    AngleClose,
    /// Made by the layout pass: `-` starting a line of an indented list.
    ListDash,
    /// Input the lexer could not read; a [`crate::LexError`] says why.
    Error,
    /// Matched by logos only so the driver can decide: a comment or an error.
    #[token("#")]
    Hash,
    /// `//`: the driver skips to the end of the line.
    #[token("//")]
    SlashSlash,
    /// `"`: the driver scans the string.
    #[token("\"")]
    DoubleQuote,
    /// `'`: the driver scans the string.
    #[token("'")]
    SingleQuote,
    /// `"""` or `'''`: the driver scans the raw string.
    #[token("\"\"\"")]
    #[token("'''")]
    TripleQuote,
    /// `<<<`: the driver scans the heredoc.
    #[token("<<<")]
    HeredocStart,
}

impl TokenKind {
    /// How the token is named in "expected …, found …" messages.
    pub fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Newline => "end of line",
            Semicolon => "`;`",
            Comma => "`,`",
            Colon => "`:`",
            Assign => "`=`",
            Dot => "`.`",
            Question => "`?`",
            Arrow => "`=>`",
            LParen => "`(`",
            RParen => "`)`",
            LBracket => "`[`",
            RBracket => "`]`",
            LBrace => "`{`",
            RBrace => "`}`",
            Plus => "`+`",
            Minus => "`-`",
            Star => "`*`",
            Slash => "`/`",
            Percent => "`%`",
            Bang => "`!`",
            EqEq => "`==`",
            NotEq => "`!=`",
            Lt => "`<`",
            LtEq => "`<=`",
            Gt => "`>`",
            GtEq => "`>=`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            True => "`true`",
            False => "`false`",
            Null => "`null`",
            Int => "an integer",
            Float => "a float",
            Range => "a range",
            DateLike => "an unquoted date",
            Name => "a name",
            Global => "a global variable",
            Operator => "an @operator",
            Str | RawStr | Heredoc | StrStart => "a string",
            StrText => "string text",
            InterpStart => "`${`",
            InterpEnd => "`}` closing an interpolation",
            StrEnd => "the end of a string",
            Indent => "an indented block",
            Dedent => "the end of an indented block",
            AngleOpen => "`>` opening a block",
            AngleClose => "`<` closing a block",
            ListDash => "`-` list item",
            Error => "invalid input",
            Hash => "`#`",
            SlashSlash => "`//`",
            DoubleQuote => "`\"`",
            SingleQuote => "`'`",
            TripleQuote => "`\"\"\"`",
            HeredocStart => "`<<<`",
        }
    }

    /// True for `(`, `[`, `{` and `${`.
    pub fn is_opener(self) -> bool {
        matches!(self, TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace | TokenKind::InterpStart)
    }

    /// The closer matching an opener.
    pub fn closer(self) -> Option<TokenKind> {
        match self {
            TokenKind::LParen => Some(TokenKind::RParen),
            TokenKind::LBracket => Some(TokenKind::RBracket),
            TokenKind::LBrace => Some(TokenKind::RBrace),
            TokenKind::InterpStart => Some(TokenKind::InterpEnd),
            _ => None,
        }
    }
}
