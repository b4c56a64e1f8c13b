//! The lexing loop around logos: comments, strings, interpolation, heredocs, newline folding.

use logos::Logos;
use tusk_diagnostics::Span;

use crate::{LexError, LexErrorKind, Lexed, Token, TokenKind};

/// Lexes a whole source text.
pub fn lex(source: &str) -> Lexed {
    let mut lexed = Lexed::default();
    lex_into(source, &mut lexed.tokens, &mut lexed.errors);
    lexed
}

/// Lexes into buffers the caller keeps, so that repeated parses reuse their allocation.
pub fn lex_into(source: &str, tokens: &mut Vec<Token>, errors: &mut Vec<LexError>) {
    tokens.clear();
    errors.clear();
    if u32::try_from(source.len()).is_ok() {
        // A rough guess (one token per five bytes) that avoids most regrowth on big files.
        tokens.reserve(source.len() / 5);
    }
    Lexer::new(source).fill(tokens, errors, usize::MAX);
}

/// A lexer that hands out its tokens a part at a time, for a consumer that works on them as
/// they come (the parser's layout pass): the tokens of a big input then never sit in one
/// buffer of their own. [`lex`] is this lexer run to the end in one go.
pub struct Lexer<'a> {
    source: &'a str,
    logos: logos::Lexer<'a, TokenKind>,
    /// Interpolations opened and not closed yet.
    open: Vec<Interpolation>,
    /// The kind of the last token made (runs of line breaks fold by it).
    last: Option<TokenKind>,
    started: bool,
    done: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `source`.
    pub fn new(source: &'a str) -> Lexer<'a> {
        Lexer { source, logos: TokenKind::lexer(source), open: Vec::new(), last: None, started: false, done: false }
    }

    /// Lexes on until `tokens` holds at least `want` tokens or the input ends, appending the
    /// tokens to `tokens` and the errors to `errors` (which must be the same vector at every
    /// call: an unclosed interpolation takes back the errors found inside it). Returns false
    /// once the input has ended: every token has been handed out.
    pub fn fill(&mut self, tokens: &mut Vec<Token>, errors: &mut Vec<LexError>, want: usize) -> bool {
        if self.done {
            return false;
        }
        if !self.started {
            self.started = true;
            if u32::try_from(self.source.len()).is_err() {
                errors.push(LexError { kind: LexErrorKind::TooLarge(self.source.len()), span: Span::new(0, 0) });
                self.done = true;
                return false;
            }
        }
        let before = self.last;
        let mut driver = Driver { source: self.source, tokens, errors, before };
        let more = driver.run(&mut self.logos, &mut self.open, want);
        self.last = driver.tokens.last().map(|token| token.kind).or(before);
        self.done = !more;
        more
    }
}

struct Driver<'a> {
    source: &'a str,
    tokens: &'a mut Vec<Token>,
    errors: &'a mut Vec<LexError>,
    /// The kind of the last token made before `tokens` (for when `tokens` is empty).
    before: Option<TokenKind>,
}

/// A `${…}` whose closing `}` has not been seen yet.
struct Interpolation {
    /// Where its `${` is.
    dollar: usize,
    /// Where the string it is in opened.
    string_start: usize,
    /// `{` opened inside it and not closed yet: its own `}` comes when this is zero.
    brace_depth: usize,
    /// How many errors there were before it: an unterminated interpolation reports itself
    /// instead of what it contained.
    errors_before: usize,
}

fn span(range: std::ops::Range<usize>) -> Span {
    Span::new(range.start as u32, range.end as u32)
}

impl Driver<'_> {
    #[inline]
    fn push(&mut self, kind: TokenKind, range: std::ops::Range<usize>) {
        self.tokens.push(Token { kind, span: span(range) });
    }

    fn error(&mut self, kind: LexErrorKind, range: std::ops::Range<usize>) {
        self.errors.push(LexError { kind, span: span(range) });
    }

    /// Lexes on until there are `want` tokens; false when the input ended first.
    ///
    /// Strings with `${…}` nest code in strings in code to any depth. The driver keeps the open
    /// interpolations on its own stack instead of recursing, because the lexer runs before the
    /// parser's nesting limit can refuse deep input: `"${"${"${…` must not overflow the stack.
    fn run(&mut self, lexer: &mut logos::Lexer<'_, TokenKind>, open: &mut Vec<Interpolation>, want: usize) -> bool {
        let source = self.source;
        while self.tokens.len() < want {
            let Some(result) = lexer.next() else {
                self.finish(open);
                return false;
            };
            let range = lexer.span();
            let kind = match result {
                Ok(kind) => kind,
                Err(()) => {
                    let ch = source[range.start..].chars().next().unwrap_or('\u{FFFD}');
                    self.error(LexErrorKind::UnexpectedChar(ch), range.clone());
                    self.push(TokenKind::Error, range);
                    continue;
                }
            };
            match kind {
                TokenKind::Newline => {
                    // Inside `${…}` a line break is plain whitespace; elsewhere runs of blank
                    // lines fold into one separator so the parser never sees two in a row.
                    if open.is_empty()
                        && self
                            .tokens
                            .last()
                            .map(|token| token.kind)
                            .or(self.before)
                            .is_some_and(|kind| kind != TokenKind::Newline)
                    {
                        self.push(TokenKind::Newline, range);
                    }
                }
                TokenKind::Hash => {
                    let after_space = range.start == 0
                        || matches!(source.as_bytes()[range.start - 1], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
                    if after_space {
                        lexer.bump(line_rest(source, range.end));
                    } else {
                        self.error(LexErrorKind::HashNotAfterSpace, range.clone());
                        self.push(TokenKind::Error, range);
                    }
                }
                // Like `#`, `//` starts a comment only at the start of a line or after
                // whitespace, so an unquoted `http://host` in a real TuskLang file stays text.
                TokenKind::SlashSlash
                    if range.start == 0
                        || matches!(source.as_bytes()[range.start - 1], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') =>
                {
                    lexer.bump(line_rest(source, range.end))
                }
                TokenKind::SlashSlash => {
                    self.push(TokenKind::Slash, range.start..range.start + 1);
                    self.push(TokenKind::Slash, range.start + 1..range.end);
                }
                TokenKind::DoubleQuote => {
                    let end = self.double_quoted(range.start, range.end, false, open);
                    lexer.bump(end - range.end);
                }
                TokenKind::SingleQuote => {
                    let end = self.single_quoted(range.start);
                    lexer.bump(end - range.end);
                }
                TokenKind::TripleQuote => {
                    let quote = &source[range.clone()];
                    match source[range.end..].find(quote) {
                        Some(offset) => {
                            let end = range.end + offset + 3;
                            self.push(TokenKind::RawStr, range.start..end);
                            lexer.bump(end - range.end);
                        }
                        None => {
                            self.error(LexErrorKind::UnterminatedRawString, range.clone());
                            self.push(TokenKind::RawStr, range.start..source.len());
                            lexer.bump(source.len() - range.end);
                        }
                    }
                }
                TokenKind::HeredocStart => {
                    let end = self.heredoc(range.start, range.end);
                    lexer.bump(end - range.end);
                }
                TokenKind::DateLike => {
                    self.error(LexErrorKind::UnquotedDate, range.clone());
                    self.push(TokenKind::DateLike, range);
                }
                TokenKind::LBrace if let Some(innermost) = open.last_mut() => {
                    innermost.brace_depth += 1;
                    self.push(kind, range);
                }
                TokenKind::RBrace if let Some(innermost) = open.last_mut() => {
                    if innermost.brace_depth > 0 {
                        innermost.brace_depth -= 1;
                        self.push(kind, range);
                        continue;
                    }
                    // The `}` closes the interpolation: the string goes on after it.
                    self.push(TokenKind::InterpEnd, range.clone());
                    let string_start = open.pop().map_or(range.start, |closed| closed.string_start);
                    let end = self.double_quoted(string_start, range.end, true, open);
                    lexer.bump(end - range.end);
                }
                _ => self.push(kind, range),
            }
        }
        true
    }

    /// At the end of the input: closes what is still open.
    fn finish(&mut self, open: &mut Vec<Interpolation>) {
        let source = self.source;
        // The input ended inside interpolations. Each one reports itself in place of the errors
        // found inside it, so only the outermost unclosed `${` is reported, and each string it
        // was in gets its end.
        while let Some(unclosed) = open.pop() {
            self.errors.truncate(unclosed.errors_before.min(self.errors.len()));
            self.error(LexErrorKind::UnterminatedInterpolation, unclosed.dollar..unclosed.dollar + 2);
            self.push(TokenKind::StrEnd, source.len()..source.len());
        }
    }

    /// Scans a `"…"` string that opened at `start`, from `from` (after the opening quote, or
    /// after the `}` of an interpolation when `interpolated`). Returns where code lexing goes
    /// on: after the closing quote, or after a `${` (then pushed onto `open`).
    fn double_quoted(&mut self, start: usize, from: usize, interpolated: bool, open: &mut Vec<Interpolation>) -> usize {
        let bytes = self.source.as_bytes();
        let mut i = from;
        let segment_start = i;
        loop {
            // Most of a string is plain text: jump to the next byte that can end it or needs a
            // look (this loop, byte by byte, was a fifth of lexing a config file).
            i = find_any_of(bytes, i, [b'"', b'\\', b'$']);
            let Some(&byte) = bytes.get(i) else {
                self.error(LexErrorKind::UnterminatedString, start..start + 1);
                if interpolated {
                    if segment_start < i {
                        self.push(TokenKind::StrText, segment_start..i);
                    }
                    self.push(TokenKind::StrEnd, i..i);
                } else {
                    self.push(TokenKind::Str, start..i);
                }
                return i;
            };
            match byte {
                b'"' => {
                    if interpolated {
                        if segment_start < i {
                            self.push(TokenKind::StrText, segment_start..i);
                        }
                        self.push(TokenKind::StrEnd, i..i + 1);
                    } else {
                        self.push(TokenKind::Str, start..i + 1);
                    }
                    return i + 1;
                }
                b'\\' => i = self.escape(i),
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    if !interpolated {
                        self.push(TokenKind::StrStart, start..start + 1);
                    }
                    if segment_start < i {
                        self.push(TokenKind::StrText, segment_start..i);
                    }
                    self.push(TokenKind::InterpStart, i..i + 2);
                    open.push(Interpolation {
                        dollar: i,
                        string_start: start,
                        brace_depth: 0,
                        errors_before: self.errors.len(),
                    });
                    return i + 2;
                }
                // A `$` that opens no interpolation.
                _ => i += 1,
            }
        }
    }

    /// Scans `'…'` starting at the quote (escapes, no interpolation).
    fn single_quoted(&mut self, start: usize) -> usize {
        let bytes = self.source.as_bytes();
        let mut i = start + 1;
        loop {
            // As in `double_quoted`: jump over the plain text.
            i = find_any_of(bytes, i, [b'\'', b'\\', b'\\']);
            match bytes.get(i) {
                None => {
                    self.error(LexErrorKind::UnterminatedString, start..start + 1);
                    self.push(TokenKind::Str, start..i);
                    return i;
                }
                Some(b'\'') => {
                    self.push(TokenKind::Str, start..i + 1);
                    return i + 1;
                }
                Some(b'\\') => i = self.escape(i),
                Some(_) => i += 1,
            }
        }
    }

    /// Checks the escape at `i` (a backslash) and returns the offset after it.
    fn escape(&mut self, i: usize) -> usize {
        let source = self.source;
        let bytes = source.as_bytes();
        match bytes.get(i + 1) {
            Some(b'\\' | b'"' | b'\'' | b'n' | b't' | b'r' | b'0' | b'$') => i + 2,
            Some(b'u') => {
                let valid_end = (bytes.get(i + 2) == Some(&b'{'))
                    .then(|| source[i + 3..].find('}').map(|close| i + 3 + close))
                    .flatten()
                    .filter(|&close| {
                        let hex = &source[i + 3..close];
                        (1..=6).contains(&hex.len())
                            && u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).is_some()
                    });
                match valid_end {
                    Some(close) => close + 1,
                    None => {
                        let end = (i + 2).min(source.len());
                        self.error(LexErrorKind::InvalidEscape("\\u".into()), i..end);
                        end
                    }
                }
            }
            Some(_) => {
                let ch = source[i + 1..].chars().next().unwrap_or('?');
                let end = i + 1 + ch.len_utf8();
                self.error(LexErrorKind::InvalidEscape(format!("\\{ch}")), i..end);
                end
            }
            None => i + 1,
        }
    }

    /// Scans a heredoc whose `<<<` spans `start..after_marker`.
    fn heredoc(&mut self, start: usize, after_marker: usize) -> usize {
        let source = self.source;
        let rest_of_line = &source[after_marker..after_marker + line_rest(source, after_marker)];
        let id: String = rest_of_line
            .trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let body_start = after_marker + rest_of_line.len();
        if id.is_empty() {
            self.error(LexErrorKind::UnterminatedHeredoc, start..after_marker);
            self.push(TokenKind::Error, start..after_marker);
            return after_marker;
        }
        let mut line_start = body_start;
        while line_start < source.len() {
            // Skip the newline that ended the previous line.
            let content_start = line_start + usize::from(source.as_bytes()[line_start] == b'\n');
            let line_end = content_start + line_rest(source, content_start);
            let line = &source[content_start..line_end];
            let trimmed = line.trim_start();
            if let Some(after_id) = trimmed.strip_prefix(id.as_str())
                && !after_id.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                let end = content_start + (line.len() - trimmed.len()) + id.len();
                self.push(TokenKind::Heredoc, start..end);
                return end;
            }
            line_start = line_end;
        }
        self.error(LexErrorKind::UnterminatedHeredoc, start..body_start);
        self.push(TokenKind::Heredoc, start..source.len());
        source.len()
    }
}

/// Bytes from `from` to the end of its line (not counting the newline).
fn line_rest(source: &str, from: usize) -> usize {
    source.as_bytes()[from..].iter().position(|&byte| byte == b'\n').unwrap_or(source.len() - from)
}

/// The offset of the first of `needles` in `bytes` from `from` on, or `bytes.len()`.
///
/// Eight bytes at a time in a plain word: the strings of a config file are mostly shorter than
/// a vector register, where `memchr`'s set-up costs more than the search.
#[inline]
pub fn find_any_of(bytes: &[u8], from: usize, needles: [u8; 3]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of the result that is zero in `word` (and maybe of bytes above
    // such a byte, where the borrow runs on; the lowest set bit is always a true zero byte).
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = needles.iter().fold(0, |found, &needle| found | zero_bytes(word ^ (ONES * u64::from(needle))));
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    bytes[i.min(bytes.len())..].iter().position(|byte| needles.contains(byte)).map_or(bytes.len(), |offset| i + offset)
}
