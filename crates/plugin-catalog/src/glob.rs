//! `*` wildcards for permission patterns: paths (per component), hosts and environment names.

use std::path::{Component, Path};

/// True when `pattern` matches all of `text`; `*` matches any run of characters (also none).
///
/// Iterative with one backtrack point, so hostile patterns like `*a*a*a*b` stay linear-ish
/// instead of exponential.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// True when `path` is `pattern` or lies below it; `*` matches within one path component.
///
/// Both must be absolute and normalised (no `.`/`..`): a grant of a folder covers everything
/// inside it, as Deno's `--allow-read=DIR` does.
pub(crate) fn path_match(pattern: &Path, path: &Path) -> bool {
    let mut path_components = path.components();
    for pattern_component in pattern.components() {
        let Some(path_component) = path_components.next() else {
            return false;
        };
        let matched = match (pattern_component, path_component) {
            (Component::Normal(pattern_part), Component::Normal(path_part)) => {
                match (pattern_part.to_str(), path_part.to_str()) {
                    (Some(pattern_part), Some(path_part)) => wildcard_match(pattern_part, path_part),
                    _ => pattern_part == path_part,
                }
            }
            (pattern_component, path_component) => pattern_component == path_component,
        };
        if !matched {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_run() {
        assert!(wildcard_match("TUSK_*", "TUSK_HOME"));
        assert!(wildcard_match("TUSK_*", "TUSK_"));
        assert!(wildcard_match("*.example.com", "api.example.com"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(!wildcard_match("HOME", "HOMER"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match(&"*a".repeat(20), &"a".repeat(19)));
    }

    #[test]
    fn paths_match_per_component_and_below() {
        let check = |pattern: &str, path: &str| path_match(Path::new(pattern), Path::new(path));
        assert!(check("/var/log/app", "/var/log/app"));
        assert!(check("/var/log/app", "/var/log/app/x.log"));
        assert!(!check("/var/log/app", "/var/log/application"));
        assert!(!check("/var/log/app", "/var/log"));
        assert!(check("/tmp/tusk-*", "/tmp/tusk-1/a"));
        assert!(!check("/tmp/tusk-*", "/tmp/other"));
        assert!(!check("/tmp/*", "/tmp"));
    }
}
