//! Paths into values: one syntax for `tusk get`, the keys of the flat output format,
//! `Document::get`, the `get()` function and the cross-file operators.
//!
//! ```text
//! server.port          keys, separated by dots
//! hosts[0]  hosts[-1]  array items by index (negative counts from the end)
//! hosts.0   hosts.-1   the same, when the value is an array
//! a."b.c"   a["b.c"]   a key that contains dots, brackets, quotes or spaces (JSON string syntax)
//! ports.min            the ends of a range, as output documents show them
//! ```
//!
//! A path is written back in one canonical form ([`Path`]'s `Display`): a key is bare when it
//! is made of letters, digits, `_` and `-`, quoted otherwise, and an index is always `[i]`, so
//! `"a.b": 1` and `a: {b: 2}` never print the same path.

use std::fmt;

use crate::object::Object;
use crate::value::{Key, Value};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// `.name` or `."name"` or `["name"]`: a key of an object (or, when it is an integer and the
    /// value is an array, an index).
    Key(String),
    /// `[3]` or `[-1]`: an item of an array (or a number of a range).
    Index(i64),
}

/// A parsed path; empty means the whole value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path {
    segments: Vec<Segment>,
}

/// Text that is not a path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{text}`: {reason} (at character {column})")]
pub struct PathError {
    /// The text as given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
    /// The 1-based character where it went wrong.
    pub column: usize,
}

/// A path that leads to no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no value at `{path}`: {reason}")]
pub struct LookupError {
    /// The whole path, in canonical form.
    pub path: String,
    /// Which part is missing and what is there instead.
    pub reason: String,
}

impl Path {
    /// The empty path (the whole value).
    pub fn new() -> Path {
        Path::default()
    }

    /// Parses `server.port`, `hosts[0]`, `a."b.c"`, `a["b.c"]`; the empty text is the empty path.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        Parser { text, position: 0 }.path()
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True for the empty path.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Appends a key.
    pub fn push_key(&mut self, key: &str) {
        self.segments.push(Segment::Key(key.to_string()));
    }

    /// Appends an index.
    pub fn push_index(&mut self, index: i64) {
        self.segments.push(Segment::Index(index));
    }

    /// Removes the last segment.
    pub fn pop(&mut self) -> Option<Segment> {
        self.segments.pop()
    }

    /// The value stored at the path, borrowed: keys and items only (a range's ends are
    /// computed, see [`Path::lookup`]).
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments.iter().try_fold(root, stored_step)
    }

    /// The value at the path. A range answers `min`, `max` and `type` (its output form) and
    /// indexes.
    pub fn lookup(&self, root: &Value) -> Result<Value, LookupError> {
        let mut value = root.clone();
        for (depth, segment) in self.segments.iter().enumerate() {
            match step(&value, segment) {
                Some(next) => value = next,
                None => return Err(self.missing(depth, &value)),
            }
        }
        Ok(value)
    }

    /// Says why segment `depth` finds nothing in `parent` (the value at the segments before it).
    fn missing(&self, depth: usize, parent: &Value) -> LookupError {
        let prefix = Path { segments: self.segments[..depth].to_vec() };
        let parent_name = if prefix.is_empty() { "the document".to_string() } else { format!("`{prefix}`") };
        let segment = &self.segments[depth];
        let reason = match (parent, segment) {
            (Value::Object(object), Segment::Key(key)) => {
                let keys: Vec<String> =
                    object.iter().filter(|(_, value)| !value.is_function()).map(|(key, _)| display_key(key)).collect();
                if keys.is_empty() {
                    format!("{parent_name} has no key `{}` (it is empty)", display_key(key))
                } else {
                    format!("{parent_name} has no key `{}` (its keys: {})", display_key(key), keys.join(", "))
                }
            }
            (Value::Object(_), Segment::Index(index)) => {
                format!("{parent_name} is an object, not an array: `[{index}]` indexes arrays")
            }
            (Value::Array(items), Segment::Index(index)) => {
                format!("{parent_name} has no item `{index}` (it has {} items)", items.len())
            }
            (Value::Array(items), Segment::Key(key)) if key.parse::<i64>().is_ok() => {
                format!("{parent_name} has no item `{key}` (it has {} items)", items.len())
            }
            (Value::Array(_), Segment::Key(key)) => {
                format!("{parent_name} is an array: it has items (`[0]`), not keys like `{}`", display_key(key))
            }
            (Value::Range(..), _) => format!("{parent_name} is a range: it has `min`, `max`, `type` and items (`[0]`)"),
            (other, _) => {
                let type_name = other.type_name();
                let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                format!("{parent_name} is {article} {type_name}, which has no keys or items")
            }
        };
        LookupError { path: self.to_string(), reason }
    }

    /// Sets the value at the path inside `object`: missing keys (and values on the way that are
    /// not objects) become objects, an index must name an existing item of an array.
    pub fn set(&self, object: &mut Object, value: Value) -> Result<(), LookupError> {
        let Some((first, rest)) = self.segments.split_first() else {
            return Err(LookupError { path: String::new(), reason: "the empty path names the whole document".into() });
        };
        let Segment::Key(key) = first else {
            return Err(self.missing(0, &Value::Object(std::rc::Rc::new(object.clone()))));
        };
        let mut slot = entry(object, key);
        for (offset, segment) in rest.iter().enumerate() {
            let depth = offset + 1;
            // `Some(item)` for a step into an array (`None` inside: no such item), `None` for a
            // step into an object.
            let item = match (&*slot, segment) {
                (Value::Array(items), Segment::Index(index)) => Some(resolve_index(*index, items.len())),
                (Value::Array(items), Segment::Key(key)) => {
                    key.parse::<i64>().ok().map(|index| resolve_index(index, items.len()))
                }
                (_, Segment::Index(_)) => Some(None),
                (_, Segment::Key(_)) => None,
            };
            slot = match (item, segment) {
                (Some(Some(position)), _) => match slot {
                    Value::Array(items) => &mut std::rc::Rc::make_mut(items)[position],
                    _ => unreachable!("only arrays have items"),
                },
                (Some(None), _) => return Err(self.missing(depth, slot)),
                (None, Segment::Index(_)) => unreachable!("an index always steps into an array"),
                (None, Segment::Key(key)) => {
                    if !matches!(slot, Value::Object(_)) {
                        *slot = Value::object(Object::new());
                    }
                    match slot {
                        Value::Object(inner) => entry(std::rc::Rc::make_mut(inner), key),
                        _ => unreachable!("made an object above"),
                    }
                }
            };
        }
        *slot = value;
        Ok(())
    }
}

/// The value of `key`, inserted as `null` at the end when missing.
fn entry<'o>(object: &'o mut Object, key: &str) -> &'o mut Value {
    if !object.contains_key(key) {
        object.insert(Key::new(key), Value::Null);
    }
    object.get_mut(key).expect("inserted above")
}

/// The value stored one segment further: a key of an object or an item of an array.
fn stored_step<'v>(value: &'v Value, segment: &Segment) -> Option<&'v Value> {
    match (value, segment) {
        (Value::Object(object), Segment::Key(key)) => object.get(key),
        (Value::Array(items), Segment::Index(index)) => items.get(resolve_index(*index, items.len())?),
        (Value::Array(items), Segment::Key(key)) => items.get(resolve_index(key.parse().ok()?, items.len())?),
        _ => None,
    }
}

/// The value one segment further, if there is one (a range's ends computed).
fn step(value: &Value, segment: &Segment) -> Option<Value> {
    match (value, segment) {
        (Value::Object(_) | Value::Array(_), _) => stored_step(value, segment).cloned(),
        (Value::Range(start, end), Segment::Key(key)) => match key.as_str() {
            "min" => Some(Value::Int(*start)),
            "max" => Some(Value::Int(end.saturating_sub(1))),
            "type" => Some(Value::string("range")),
            _ => None,
        },
        (Value::Range(start, end), Segment::Index(index)) => {
            let length = usize::try_from(end.saturating_sub(*start)).ok()?;
            let position = resolve_index(*index, length)?;
            Some(Value::Int(start + position as i64))
        }
        _ => None,
    }
}

/// A possibly negative index into `length` items.
fn resolve_index(index: i64, length: usize) -> Option<usize> {
    let position = if index < 0 { (length as i64).checked_add(index)? } else { index };
    usize::try_from(position).ok().filter(|&position| position < length)
}

/// True when a key prints bare: letters, digits, `_` and `-` only.
fn is_bare_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A key as a path shows it: bare, or quoted as a JSON string.
pub fn display_key(key: &str) -> String {
    if is_bare_key(key) { key.to_string() } else { serde_json::to_string(key).unwrap_or_default() }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(&display_key(key))?;
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Path, PathError> {
        Path::parse(text)
    }
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    position: usize,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> PathError {
        self.error_at(self.position, reason)
    }

    fn error_at(&self, position: usize, reason: impl Into<String>) -> PathError {
        let column = self.text[..position.min(self.text.len())].chars().count() + 1;
        PathError { text: self.text.to_string(), reason: reason.into(), column }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    fn path(mut self) -> Result<Path, PathError> {
        let mut path = Path::new();
        if self.text.is_empty() {
            return Ok(path);
        }
        loop {
            match self.peek() {
                Some('[') => path.segments.push(self.bracket()?),
                _ if path.is_empty() => path.segments.push(Segment::Key(self.key()?)),
                Some('.') => {
                    self.position += 1;
                    path.segments.push(Segment::Key(self.key()?));
                }
                None => return Ok(path),
                Some(other) => return Err(self.error(format!("expected `.` or `[` before `{other}`"))),
            }
            if self.peek().is_none() {
                return Ok(path);
            }
        }
    }

    /// A bare or quoted key.
    fn key(&mut self) -> Result<String, PathError> {
        match self.peek() {
            Some('"') => self.quoted(),
            None => Err(self.error("a key is missing at the end")),
            Some(_) => {
                let rest = &self.text[self.position..];
                let length = rest.find(['.', '[', ']', '"']).unwrap_or(rest.len());
                if length == 0 {
                    return Err(self.error("a key is missing (write an empty key as `\"\"`)"));
                }
                self.position += length;
                Ok(rest[..length].to_string())
            }
        }
    }

    /// A double-quoted key in JSON string syntax.
    fn quoted(&mut self) -> Result<String, PathError> {
        let rest = &self.text[self.position..];
        let mut escaped = false;
        for (offset, c) in rest.char_indices().skip(1) {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    let literal = &rest[..=offset];
                    let key = serde_json::from_str::<String>(literal)
                        .map_err(|error| self.error(format!("the quoted key is not a valid JSON string ({error})")))?;
                    self.position += offset + 1;
                    return Ok(key);
                }
                _ => escaped = false,
            }
        }
        Err(self.error("the quoted key is never closed"))
    }

    /// `[3]`, `[-1]` or `["key"]`.
    fn bracket(&mut self) -> Result<Segment, PathError> {
        let start = self.position;
        self.position += 1;
        let segment = if self.peek() == Some('"') {
            Segment::Key(self.quoted()?)
        } else {
            let rest = &self.text[self.position..];
            let length = rest.find(']').ok_or_else(|| self.error_at(start, "`[` is never closed"))?;
            let index = rest[..length].trim().parse::<i64>().map_err(|_| {
                self.error_at(start, format!("`[{}]` is not an index: write `[0]` or `[\"key\"]`", &rest[..length]))
            })?;
            self.position += length;
            Segment::Index(index)
        };
        if self.peek() != Some(']') {
            return Err(self.error("expected `]`"));
        }
        self.position += 1;
        Ok(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Segment {
        Segment::Key(text.to_string())
    }

    #[test]
    fn parses_every_form() {
        let parse = |text: &str| Path::parse(text).unwrap().segments().to_vec();
        assert_eq!(parse("server.port"), [key("server"), key("port")]);
        assert_eq!(parse("hosts[0]"), [key("hosts"), Segment::Index(0)]);
        assert_eq!(parse("hosts[-1].name"), [key("hosts"), Segment::Index(-1), key("name")]);
        assert_eq!(parse("hosts.-1"), [key("hosts"), key("-1")]);
        assert_eq!(parse("a.\"b.c\""), [key("a"), key("b.c")]);
        assert_eq!(parse("a[\"b.c\"][2]"), [key("a"), key("b.c"), Segment::Index(2)]);
        assert_eq!(parse("[0].x"), [Segment::Index(0), key("x")]);
        assert_eq!(parse("\"say \\\"hi\\\"\""), [key("say \"hi\"")]);
        assert_eq!(parse("my key.Content-Type"), [key("my key"), key("Content-Type")]);
        assert_eq!(parse(""), []);
    }

    #[test]
    fn refuses_broken_paths_with_the_place() {
        let error = |text: &str| Path::parse(text).unwrap_err().to_string();
        assert_eq!(
            error("a..b"),
            "invalid path `a..b`: a key is missing (write an empty key as `\"\"`) (at character 3)"
        );
        assert_eq!(error("a."), "invalid path `a.`: a key is missing at the end (at character 3)");
        assert_eq!(
            error("a[x]"),
            "invalid path `a[x]`: `[x]` is not an index: write `[0]` or `[\"key\"]` (at character 2)"
        );
        assert_eq!(error("a[0"), "invalid path `a[0`: `[` is never closed (at character 2)");
        assert_eq!(error("a.\"b"), "invalid path `a.\"b`: the quoted key is never closed (at character 3)");
        assert_eq!(error("a[0]b"), "invalid path `a[0]b`: expected `.` or `[` before `b` (at character 5)");
    }

    #[test]
    fn displays_one_canonical_form_that_parses_back() {
        for (text, canonical) in [
            ("a.b", "a.b"),
            ("a[\"b.c\"]", "a.\"b.c\""),
            ("\"a.b\"", "\"a.b\""),
            ("list.0", "list.0"),
            ("list[0]", "list[0]"),
            ("x.\"my key\"[-1]", "x.\"my key\"[-1]"),
        ] {
            let path = Path::parse(text).unwrap();
            assert_eq!(path.to_string(), canonical);
            assert_eq!(Path::parse(canonical).unwrap(), path);
        }
    }

    #[test]
    fn looks_up_keys_items_and_range_ends() {
        let mut inner = Object::new();
        inner.insert(Key::new("b.c"), Value::Int(1));
        let mut root = Object::new();
        root.insert(Key::new("a"), Value::object(inner));
        root.insert(Key::new("list"), Value::array(vec![Value::Int(10), Value::Int(20)]));
        root.insert(Key::new("ports"), Value::Range(8000, 8101));
        let root = Value::object(root);
        let get = |text: &str| Path::parse(text).unwrap().lookup(&root);
        let found = |text: &str| crate::output::to_display(&get(text).unwrap());
        assert_eq!(found("a.\"b.c\""), "1");
        assert_eq!(found("list[-1]"), "20");
        assert_eq!(found("list.1"), "20");
        assert_eq!(found("ports.min"), "8000");
        assert_eq!(found("ports.max"), "8100");
        assert_eq!(found("ports[2]"), "8002");
        assert_eq!(found("ports.type"), "range");
        assert_eq!(get("a.b").unwrap_err().to_string(), "no value at `a.b`: `a` has no key `b` (its keys: \"b.c\")");
        assert_eq!(
            get("list[2]").unwrap_err().to_string(),
            "no value at `list[2]`: `list` has no item `2` (it has 2 items)"
        );
        assert_eq!(
            get("a[0]").unwrap_err().to_string(),
            "no value at `a[0]`: `a` is an object, not an array: `[0]` indexes arrays"
        );
        assert_eq!(
            get("ports.low").unwrap_err().to_string(),
            "no value at `ports.low`: `ports` is a range: it has `min`, `max`, `type` and items (`[0]`)"
        );
    }

    #[test]
    fn sets_keys_creating_objects_and_items_in_place() {
        let mut root = Object::new();
        root.insert(Key::new("list"), Value::array(vec![Value::Int(1), Value::Int(2)]));
        Path::parse("a.\"b.c\".d").unwrap().set(&mut root, Value::Int(1)).unwrap();
        Path::parse("list[-1]").unwrap().set(&mut root, Value::Int(5)).unwrap();
        let root_value = Value::object(root.clone());
        assert_eq!(crate::output::to_display(&root_value), "{\"list\": [1, 5], \"a\": {\"b.c\": {\"d\": 1}}}");
        let error = Path::parse("list[7]").unwrap().set(&mut root, Value::Null).unwrap_err();
        assert_eq!(error.to_string(), "no value at `list[7]`: `list` has no item `7` (it has 2 items)");
    }
}
