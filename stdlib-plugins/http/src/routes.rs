//! Route patterns (`/users/:id`, `/files/*rest`) and the choice of the route for a path.
//!
//! Routes change while the server runs (a script may add one at any time), so the plugin keeps
//! its own small table instead of a router built once. A path is matched against every route;
//! the most specific one wins: at the first segment where two candidates differ, a literal
//! segment beats a parameter, which beats a wildcard; among equals the one registered first.

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `:name`: one segment, any text.
    Param(String),
    /// `*name` (last only): the rest of the path, possibly empty.
    Rest(String),
}

/// A parsed route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

/// The parameters a match captured, in pattern order.
pub type Params = Vec<(String, String)>;

impl Pattern {
    /// Parses `/users/:id/posts/*rest`. The pattern must start with `/`; a parameter needs a
    /// name; a wildcard may only end the pattern; a name may appear once.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("the route path `{text}` must start with `/`"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = split(text).collect();
        for (index, part) in parts.iter().enumerate() {
            let segment = if let Some(name) = part.strip_prefix(':') {
                Segment::Param(checked_name(text, name)?)
            } else if let Some(name) = part.strip_prefix('*') {
                if index + 1 != parts.len() {
                    return Err(format!("in `{text}`, the wildcard `*{name}` must be the last segment"));
                }
                Segment::Rest(checked_name(text, if name.is_empty() { "rest" } else { name })?)
            } else {
                Segment::Literal((*part).to_string())
            };
            if let Segment::Param(name) | Segment::Rest(name) = &segment
                && segments.iter().any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
            {
                return Err(format!("in `{text}`, the parameter `{name}` appears twice"));
            }
            segments.push(segment);
        }
        Ok(Pattern { text: text.to_string(), segments })
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parameters, if `path` (already percent-decoded segment by segment) matches, and
    /// the specificity rank (compared lexicographically: larger is more specific).
    pub fn matches(&self, path: &[&str]) -> Option<(Params, Vec<u8>)> {
        let mut params = Vec::new();
        let mut rank = Vec::with_capacity(self.segments.len());
        for (index, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if path.get(index)? != literal {
                        return None;
                    }
                    rank.push(3);
                }
                Segment::Param(name) => {
                    let value = path.get(index)?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push((name.clone(), (*value).to_string()));
                    rank.push(2);
                }
                Segment::Rest(name) => {
                    let rest = path.get(index..).unwrap_or_default().join("/");
                    params.push((name.clone(), rest));
                    rank.push(1);
                    return Some((params, rank));
                }
            }
        }
        (path.len() == self.segments.len()).then_some((params, rank))
    }
}

fn checked_name(pattern: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("in `{pattern}`, `{name}` is not a parameter name (letters, digits and `_`)"));
    }
    Ok(name.to_string())
}

/// The segments of a path: `/` gives none, `/a//b/` gives `a`, ``, `b` (a trailing slash is
/// ignored, inner empty segments are kept).
fn split(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

/// The percent-decoded segments of a request path; `None` when a segment is not UTF-8 after
/// decoding or contains a `/` or NUL once decoded (`%2F`), which no route could mean.
pub fn decoded_segments(path: &str) -> Option<Vec<String>> {
    split(path)
        .map(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?;
            (!decoded.contains(['/', '\0'])).then(|| decoded.into_owned())
        })
        .collect()
}

/// The best of `patterns` for `path`: its index and parameters.
pub fn best<'a>(patterns: impl Iterator<Item = &'a Pattern>, path: &[&str]) -> Option<(usize, Params)> {
    let mut best: Option<(usize, Params, Vec<u8>)> = None;
    for (index, pattern) in patterns.enumerate() {
        if let Some((params, rank)) = pattern.matches(path)
            && best.as_ref().is_none_or(|(_, _, best_rank)| rank > *best_rank)
        {
            best = Some((index, params, rank));
        }
    }
    best.map(|(index, params, _)| (index, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        decoded_segments(path).unwrap()
    }

    fn matched(pattern: &str, path: &str) -> Option<Params> {
        let path = segments(path);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        Pattern::parse(pattern).unwrap().matches(&path).map(|(params, _)| params)
    }

    fn pairs(list: &[(&str, &str)]) -> Params {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn literals_parameters_and_wildcards_match() {
        assert_eq!(matched("/", "/"), Some(vec![]));
        assert_eq!(matched("/users", "/users/"), Some(vec![]));
        assert_eq!(matched("/users", "/users/1"), None);
        assert_eq!(matched("/users/:id", "/users/42"), Some(pairs(&[("id", "42")])));
        assert_eq!(matched("/users/:id", "/users"), None);
        assert_eq!(matched("/users/:id", "/users//"), None);
        assert_eq!(
            matched("/users/:id/posts/:post", "/users/7/posts/x%20y"),
            Some(pairs(&[("id", "7"), ("post", "x y")]))
        );
        assert_eq!(matched("/files/*path", "/files/a/b.txt"), Some(pairs(&[("path", "a/b.txt")])));
        assert_eq!(matched("/files/*", "/files"), Some(pairs(&[("rest", "")])));
        assert_eq!(decoded_segments("/a%2Fb"), None);
        assert_eq!(decoded_segments("/%ff"), None);
    }

    #[test]
    fn the_most_specific_route_wins() {
        let patterns: Vec<Pattern> = ["/users/*rest", "/users/:id", "/users/me", "/users/:id/edit"]
            .iter()
            .map(|p| Pattern::parse(p).unwrap())
            .collect();
        let pick = |path: &str| {
            let path = segments(path);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            best(patterns.iter(), &path).map(|(index, _)| patterns[index].text().to_string())
        };
        assert_eq!(pick("/users/me").as_deref(), Some("/users/me"));
        assert_eq!(pick("/users/42").as_deref(), Some("/users/:id"));
        assert_eq!(pick("/users/42/edit").as_deref(), Some("/users/:id/edit"));
        assert_eq!(pick("/users/42/other").as_deref(), Some("/users/*rest"));
        assert_eq!(pick("/other"), None);
    }

    #[test]
    fn bad_patterns_say_why() {
        assert_eq!(Pattern::parse("users").unwrap_err(), "the route path `users` must start with `/`");
        assert_eq!(
            Pattern::parse("/a/:").unwrap_err(),
            "in `/a/:`, `` is not a parameter name (letters, digits and `_`)"
        );
        assert_eq!(Pattern::parse("/a/*x/b").unwrap_err(), "in `/a/*x/b`, the wildcard `*x` must be the last segment");
        assert_eq!(Pattern::parse("/:id/:id").unwrap_err(), "in `/:id/:id`, the parameter `id` appears twice");
    }
}
