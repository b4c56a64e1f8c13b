//! `?` placeholders: where they are in a statement, skipping what is not code (string
//! literals, quoted identifiers, comments), and their translation to PostgreSQL's `$1`, `$2`.
//!
//! ```
//! use tusk_sql::placeholders::{Dialect, count, numbered};
//!
//! assert_eq!(numbered("SELECT * FROM t WHERE a = ? AND b = '?' -- ?\n AND c = ?"),
//!            ("SELECT * FROM t WHERE a = $1 AND b = '?' -- ?\n AND c = $2".to_string(), 2));
//! assert_eq!(count("SELECT `?` FROM t WHERE a = ? # ?", Dialect::MySql), 1);
//! ```

/// Whose quoting and comment rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `'…'` (`''` inside), `E'…'` with backslash escapes, `$tag$…$tag$`, `"…"` identifiers,
    /// `--` and nested `/* */` comments.
    Postgres,
    /// `'…'`, `"…"`, `` `…` `` and `[…]` identifiers, `--` and `/* */` comments.
    Sqlite,
    /// `'…'` and `"…"` with backslash escapes, `` `…` `` identifiers, `-- `, `#` and `/* */`
    /// comments.
    MySql,
}

/// The byte offsets of the `?` placeholders of `sql`.
pub fn positions(sql: &str, dialect: Dialect) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i = match b {
            b'?' => {
                found.push(i);
                i + 1
            }
            b'\'' => {
                let backslashes =
                    dialect == Dialect::MySql || (dialect == Dialect::Postgres && escape_string_prefix(bytes, i));
                skip_quoted(bytes, i, b'\'', backslashes)
            }
            b'"' => skip_quoted(bytes, i, b'"', dialect == Dialect::MySql),
            b'`' if dialect != Dialect::Postgres => skip_quoted(bytes, i, b'`', false),
            b'[' if dialect == Dialect::Sqlite => {
                bytes[i..].iter().position(|&c| c == b']').map_or(bytes.len(), |end| i + end + 1)
            }
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && (dialect != Dialect::MySql || bytes.get(i + 2).is_none_or(|c| c.is_ascii_whitespace())) =>
            {
                skip_line(bytes, i)
            }
            b'#' if dialect == Dialect::MySql => skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => skip_block_comment(bytes, i, dialect == Dialect::Postgres),
            b'$' if dialect == Dialect::Postgres => skip_dollar_quoted(bytes, i),
            _ => i + 1,
        };
    }
    found
}

/// How many `?` placeholders `sql` has.
pub fn count(sql: &str, dialect: Dialect) -> usize {
    positions(sql, dialect).len()
}

/// `sql` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, …), and their count.
pub fn numbered(sql: &str) -> (String, usize) {
    let found = positions(sql, Dialect::Postgres);
    if found.is_empty() {
        return (sql.to_string(), 0);
    }
    let mut out = String::with_capacity(sql.len() + found.len() * 2);
    let mut last = 0;
    for (index, &at) in found.iter().enumerate() {
        out.push_str(&sql[last..at]);
        out.push('$');
        out.push_str(&(index + 1).to_string());
        last = at + 1;
    }
    out.push_str(&sql[last..]);
    (out, found.len())
}

/// True when the quote at `quote` opens a PostgreSQL escape string (`E'…'`): an `E` right
/// before it that does not end a longer word.
fn escape_string_prefix(bytes: &[u8], quote: usize) -> bool {
    quote >= 1
        && matches!(bytes[quote - 1], b'E' | b'e')
        && (quote < 2 || !(bytes[quote - 2].is_ascii_alphanumeric() || bytes[quote - 2] == b'_'))
}

/// The index after the literal that starts at `start` with `quote`; a doubled quote stays
/// inside, and so does an escaped one when `backslashes`. Unterminated: the end of the text.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslashes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslashes => i += 2,
            c if c == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |end| start + end + 1)
}

fn skip_block_comment(bytes: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
            if !nested && depth > 1 {
                depth = 1;
            }
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// A PostgreSQL dollar-quoted string (`$$…$$`, `$tag$…$tag$`) starting at `start`, or just the
/// `$` when it is not one (`$1` is a parameter).
fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let tag_len = bytes[start + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    let tag_end = start + 1 + tag_len;
    let starts_like_identifier = tag_len == 0 || !bytes[start + 1].is_ascii_digit();
    // A dollar quote needs an identifier-like tag (or none) and a closing `$`; a `$` right
    // after an identifier character is part of that identifier.
    let follows_identifier = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
    if !starts_like_identifier || bytes.get(tag_end) != Some(&b'$') || follows_identifier {
        return start + 1;
    }
    let delimiter = &bytes[start..=tag_end];
    let body = tag_end + 1;
    bytes[body..]
        .windows(delimiter.len())
        .position(|window| window == delimiter)
        .map_or(bytes.len(), |end| body + end + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_skips_literals_identifiers_comments_and_dollar_quotes() {
        let cases = [
            ("SELECT ?", "SELECT $1"),
            ("SELECT ?, ?, ?", "SELECT $1, $2, $3"),
            ("SELECT '?', ?", "SELECT '?', $1"),
            ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"),
            (r"SELECT E'a\'?', ?", r"SELECT E'a\'?', $1"),
            (r"SELECT 'a\', ?", r"SELECT 'a\', $1"),
            ("SELECT \"col?\" FROM t WHERE a = ?", "SELECT \"col?\" FROM t WHERE a = $1"),
            ("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"),
            ("SELECT /* ? /* ? */ ? */ ?", "SELECT /* ? /* ? */ ? */ $1"),
            ("SELECT $$?$$, ?", "SELECT $$?$$, $1"),
            ("SELECT $fn$ ? $x$ ? $fn$, ?", "SELECT $fn$ ? $x$ ? $fn$, $1"),
            ("SELECT a$b$ ?", "SELECT a$b$ $1"),
            ("SELECT 'unterminated ?", "SELECT 'unterminated ?"),
            ("SELECT 'é?', ?", "SELECT 'é?', $1"),
        ];
        for (sql, expected) in cases {
            assert_eq!(numbered(sql).0, expected, "{sql}");
        }
        assert_eq!(numbered("SELECT 1"), ("SELECT 1".to_string(), 0));
    }

    #[test]
    fn sqlite_and_mysql_quoting() {
        assert_eq!(count("SELECT [a?], `b?`, \"c?\", 'd?', ? /* ? */ -- ?", Dialect::Sqlite), 1);
        assert_eq!(count(r"SELECT 'a\', ?", Dialect::Sqlite), 1, "no backslash escapes in SQLite");
        assert_eq!(count(r"SELECT 'a\', ?", Dialect::MySql), 0, "an escaped quote: the string goes on");
        assert_eq!(count(r"SELECT 'a\'?', ?", Dialect::MySql), 1);
        assert_eq!(count(r#"SELECT "a\"?", ?"#, Dialect::MySql), 1);
        assert_eq!(count("SELECT ? # ?\n, ?", Dialect::MySql), 2);
        assert_eq!(count("SELECT 1--?\n", Dialect::MySql), 1, "MySQL needs a space after --");
        assert_eq!(count("SELECT 1-- ?\n", Dialect::MySql), 0);
        assert_eq!(count("SELECT 1 # ?", Dialect::Sqlite), 1, "# is not a comment in SQLite");
    }
}
