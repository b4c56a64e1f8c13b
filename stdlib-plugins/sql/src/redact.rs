//! Keeping passwords out of messages: connection strings are shown with the password masked,
//! and any text from a driver is scrubbed of the password before it is shown.

use std::ops::Range;

/// What a masked password is shown as.
pub const MASK: &str = "***";

/// `connection` with its password masked, in either form PostgreSQL and MySQL accept:
/// a URL (`postgres://user:secret@host/db`, `?password=secret`) or `key=value` pairs
/// (`host=db password=secret`, `password='s e c'`).
///
/// ```
/// use tusk_sql::redact::redact_connection_string;
///
/// assert_eq!(redact_connection_string("postgres://app:s3cret@db:5432/main"), "postgres://app:***@db:5432/main");
/// assert_eq!(redact_connection_string("host=db password='a b' user=app"), "host=db password=*** user=app");
/// ```
pub fn redact_connection_string(connection: &str) -> String {
    let mut out = String::with_capacity(connection.len());
    let mut last = 0;
    for range in password_ranges(connection) {
        out.push_str(&connection[last..range.start]);
        out.push_str(MASK);
        last = range.end;
    }
    out.push_str(&connection[last..]);
    out
}

/// The password texts of `connection` as written (percent-encoded or quoted as they are), to
/// scrub from driver messages that might echo them.
pub fn passwords_in(connection: &str) -> Vec<String> {
    password_ranges(connection)
        .into_iter()
        .map(|range| connection[range].to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Where the passwords of a connection string are.
fn password_ranges(connection: &str) -> Vec<Range<usize>> {
    match connection.find("://") {
        Some(scheme_end) => url_password_ranges(connection, scheme_end + 3),
        None => key_value_password_ranges(connection),
    }
}

fn url_password_ranges(url: &str, authority_start: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if let Some(at) = authority.rfind('@')
        && let Some(colon) = authority[..at].find(':')
    {
        ranges.push(authority_start + colon + 1..authority_start + at);
    }
    let tail_start = authority_start + authority_len;
    let tail = &url[tail_start..];
    if let Some(query_start) = tail.find('?') {
        let query_end = tail.find('#').unwrap_or(tail.len());
        let mut at = tail_start + query_start + 1;
        for pair in url[at..tail_start + query_end].split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && key.eq_ignore_ascii_case("password")
            {
                let value_start = at + key.len() + 1;
                ranges.push(value_start..value_start + value.len());
            }
            at += pair.len() + 1;
        }
    }
    ranges
}

fn key_value_password_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.is_empty() {
            break;
        }
        // One `key = value` pair; the value is bare (up to whitespace) or single-quoted with
        // backslash escapes, as libpq reads it.
        let key_len = trimmed.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(trimmed.len());
        let key = &trimmed[..key_len];
        let after_key = &trimmed[key_len..];
        let Some(after_equals) = after_key.trim_start().strip_prefix('=') else {
            at += key_len.max(1);
            continue;
        };
        let value = after_equals.trim_start();
        let value_start = at + (trimmed.len() - value.len());
        let value_len = value_length(value);
        if key.eq_ignore_ascii_case("password") {
            ranges.push(value_start..value_start + value_len);
        }
        at = value_start + value_len;
    }
    ranges
}

/// The length of a libpq value at the start of `text`: a quoted one with its quotes.
fn value_length(text: &str) -> usize {
    if !text.starts_with('\'') {
        return text.find(char::is_whitespace).unwrap_or(text.len());
    }
    let mut escaped = false;
    for (index, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return index + 1,
            _ => {}
        }
    }
    text.len()
}

/// `message` with every occurrence of `secret` masked. Driver messages are passed through
/// this with the connection's password, so that no echo of it can reach the user.
pub fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_everything_but_the_password() {
        let cases = [
            ("postgres://app:s3cret@db:5432/main", "postgres://app:***@db:5432/main"),
            ("postgresql://app@db/main", "postgresql://app@db/main"),
            ("postgres://db/main?password=s3cret&sslmode=require", "postgres://db/main?password=***&sslmode=require"),
            ("mysql://root:p%40ss@127.0.0.1:3306/test", "mysql://root:***@127.0.0.1:3306/test"),
            ("postgres://a:b@c@host/db", "postgres://a:***@host/db"),
            ("postgres://host", "postgres://host"),
            ("postgres://u:pw@host?application_name=x#frag", "postgres://u:***@host?application_name=x#frag"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_connection_string(input), expected, "{input}");
        }
    }

    #[test]
    fn key_value_strings_mask_bare_and_quoted_passwords() {
        let cases = [
            ("host=db password=s3cret user=app", "host=db password=*** user=app"),
            ("host=db password = 's3 cr\\'et' user=app", "host=db password = *** user=app"),
            ("PASSWORD=x", "PASSWORD=***"),
            ("host=db user=app", "host=db user=app"),
            ("  host=db   password=", "  host=db   password=***"),
            ("password='unterminated", "password=***"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_connection_string(input), expected, "{input}");
        }
    }

    #[test]
    fn scrub_masks_every_occurrence() {
        let secrets = ["s3cret".to_string(), "p%40ss".to_string(), String::new()];
        assert_eq!(scrub("bad s3cret near s3cret, p%40ss", &secrets), "bad *** near ***, ***");
        assert_eq!(scrub("nothing here", &secrets), "nothing here");
        assert_eq!(scrub("no secret", &[]), "no secret");
        assert_eq!(passwords_in("postgres://u:p%40ss@h/d?password=two"), ["p%40ss", "two"]);
        assert_eq!(passwords_in("host=h password='a b'"), ["'a b'"]);
    }
}
