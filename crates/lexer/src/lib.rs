//! The TuskLang lexer: source text to compact tokens (a kind and a byte span, no payload).
//!
//! logos recognises the plain tokens; a small driver around it handles what a regular grammar
//! cannot: `#` comments only after whitespace, strings with `${…}` interpolation (lexed
//! recursively), triple-quoted strings and PHP-style heredocs. Lexing never stops early: bad
//! input becomes an [`TokenKind::Error`] token plus a [`LexError`], and the driver goes on.

mod driver;
mod error;
mod token;

pub use driver::{Lexer, find_any_of, lex, lex_into};
pub use error::{LexError, LexErrorKind};
pub use token::{Token, TokenKind};

/// Tokens and errors of one source text.
#[derive(Debug, Default)]
pub struct Lexed {
    /// Every token in order, including [`TokenKind::Newline`] separators.
    pub tokens: Vec<Token>,
    /// Every problem found, in order.
    pub errors: Vec<LexError>,
}

#[cfg(test)]
mod tests;
