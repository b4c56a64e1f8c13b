//! String literal bodies: escapes, raw strings, heredocs.

use std::borrow::Cow;

/// The body of a quoted string token: its text without the opening quote and, when the token
/// has one, the closing quote. An unterminated string (which the lexer reported) has none: its
/// last character is text, and may be any character, so the body is never cut inside one.
#[inline]
pub(crate) fn quoted_body(raw: &str) -> &str {
    // The quotes are single bytes: compared as bytes, without `ends_with`'s slice compare.
    let bytes = raw.as_bytes();
    let closed = bytes.len() >= 2 && bytes[bytes.len() - 1] == bytes[0];
    raw.get(1..raw.len() - usize::from(closed)).unwrap_or_default()
}

/// Processes the escapes of a quoted string body (without the quotes). Borrows when there
/// are none. Invalid escapes were reported by the lexer and are kept as written.
#[inline]
pub(crate) fn unescape(body: &str) -> Cow<'_, str> {
    if !has_backslash(body.as_bytes()) {
        return Cow::Borrowed(body);
    }
    Cow::Owned(unescape_owned(body))
}

/// [`unescape`] of a body with escapes (out of line: the common case has none).
#[inline(never)]
pub(crate) fn unescape_owned(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    loop {
        // The text up to the next backslash is copied as it is, in one piece.
        let rest = chars.as_str();
        let Some(backslash) = memchr::memchr(b'\\', rest.as_bytes()) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..backslash]);
        chars = rest[backslash + 1..].chars();
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(c @ ('\\' | '"' | '\'' | '$')) => out.push(c),
            Some('u') => {
                let rest = chars.as_str();
                let decoded = rest.strip_prefix('{').and_then(|r| r.split_once('}')).and_then(|(hex, _)| {
                    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).map(|c| (c, hex.len()))
                });
                match decoded {
                    Some((c, hex_len)) => {
                        out.push(c);
                        chars = rest[hex_len + 2..].chars();
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// True when `bytes` hold a `\\`. Eight bytes at a time in a plain word: most string literals
/// of a config file are shorter than a vector register, where `memchr`'s set-up costs more
/// than the search.
#[inline]
fn has_backslash(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ BACKSLASHES;
        // A byte of `word` is zero where a backslash was.
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            return true;
        }
    }
    // (Without a branch per byte, and without `contains`, which would call `memchr`.)
    chunks.remainder().iter().fold(false, |found, &byte| found | (byte == b'\\'))
}

/// The body of `"""…"""` / `'''…'''`: a line break right after the opening quotes is not part
/// of it (as in TOML), nor is the indentation before closing quotes that stand on their own line.
pub(crate) fn raw_string_body(raw: &str) -> &str {
    let inner = &raw[3.min(raw.len())..];
    let inner = inner.strip_suffix("\"\"\"").or_else(|| inner.strip_suffix("'''")).unwrap_or(inner);
    let inner = inner.strip_prefix("\r\n").or_else(|| inner.strip_prefix('\n')).unwrap_or(inner);
    match inner.rfind('\n') {
        Some(last_newline) if inner[last_newline + 1..].trim().is_empty() => {
            let body = &inner[..last_newline];
            body.strip_suffix('\r').unwrap_or(body)
        }
        _ => inner,
    }
}

/// The body of a heredoc `<<<ID\n…\nID`: the lines between the marker line and the closing one.
pub(crate) fn heredoc_body(raw: &str) -> &str {
    let Some(first_newline) = raw.find('\n') else {
        return "";
    };
    let body = &raw[first_newline + 1..];
    match body.rfind('\n') {
        Some(last_newline) => &body[..last_newline],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backslash_is_found_at_every_place() {
        for len in 0..24 {
            assert!(!has_backslash("a".repeat(len).as_bytes()));
            for at in 0..len {
                let mut text = "é".repeat(len).into_bytes();
                text.truncate(len);
                text[at] = b'\\';
                assert!(has_backslash(&text), "{len} {at}");
            }
        }
    }

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(unescape(r#"a\n\t\\\"\'\$\u{1F418}\0"#), "a\n\t\\\"'$🐘\0");
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn raw_strings_drop_the_first_and_last_line_breaks() {
        assert_eq!(raw_string_body("\"\"\"\nline 1\n  line 2\n\"\"\""), "line 1\n  line 2");
        assert_eq!(raw_string_body("'''inline'''"), "inline");
    }

    #[test]
    fn heredoc_body_is_between_marker_lines() {
        assert_eq!(heredoc_body("<<<'HTML'\n<p>x</p>\n<b/>\nHTML"), "<p>x</p>\n<b/>");
    }
}
