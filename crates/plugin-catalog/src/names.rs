//! The spelling rules for names a manifest declares: plugin names, operators, functions, handle
//! types and environment variable patterns.
//!
//! Operator and function rules are the language's, as the evaluator's registry checks them
//! (`SymbolKind::is_valid_name`, used here): a plugin that declared a name scripts cannot write
//! would register fine here and fail later in the registry.

use tusk_eval::SymbolKind;

/// `[a-z][a-z0-9_]*`: plugin names double as folder, crate and library names
/// (`libtusk_plugin_<name>.so`), so they stay lowercase and free of `-` and `.`.
pub fn is_plugin_name(name: &str) -> bool {
    plugin_name(name.as_bytes())
}

/// One part of a name as the lexer reads it: `[A-Za-z_][A-Za-z0-9_-]*`.
pub(crate) fn is_name_part(part: &str) -> bool {
    name_part(part.as_bytes())
}

/// Operators and handle types may be dotted (`log.set_level`); every part follows the name rule.
pub(crate) fn is_dotted_name(name: &str) -> bool {
    dotted_name(name.as_bytes())
}

// The same rules on bytes, which the discovery index checks its names with before they are
// text: each accepts ASCII only. Operators and functions are the registry's own rules.

pub(crate) fn plugin_name(name: &[u8]) -> bool {
    name.split_first().is_some_and(|(first, rest)| {
        first.is_ascii_lowercase() && rest.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

pub(crate) fn name_part(part: &[u8]) -> bool {
    SymbolKind::Function.is_valid_name(part)
}

pub(crate) fn dotted_name(name: &[u8]) -> bool {
    SymbolKind::Operator.is_valid_name(name)
}

/// `HOME`, `TUSK_*`: an environment variable name with `*` wildcards.
pub(crate) fn is_env_pattern(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_are_lowercase_snake_case() {
        assert!(is_plugin_name("logging"));
        assert!(is_plugin_name("auth_jwt2"));
        for bad in ["", "Logging", "2fa", "auth-jwt", "_x", "a.b"] {
            assert!(!is_plugin_name(bad), "{bad}");
        }
    }

    #[test]
    fn symbol_names_follow_the_lexer() {
        assert!(is_dotted_name("log.set_level"));
        assert!(is_dotted_name("_x-y.Z9"));
        for bad in ["", "@log", "log.", ".log", "1x", "a b", "log..x"] {
            assert!(!is_dotted_name(bad), "{bad}");
        }
        assert!(!is_name_part("a.b"));
        // Not ASCII: refused by every rule (the discovery index relies on it).
        for bad in ["é", "aé", "a.é"] {
            assert!(!is_dotted_name(bad) && !is_name_part(bad) && !is_plugin_name(bad), "{bad}");
        }
    }

    #[test]
    fn env_patterns_allow_wildcards() {
        assert!(is_env_pattern("TUSK_*"));
        assert!(is_env_pattern("HOME"));
        assert!(!is_env_pattern("A=B"));
        assert!(!is_env_pattern(""));
    }
}
