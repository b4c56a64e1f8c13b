//! Writing documents as JSON, YAML, TOML and flat `dotted.key = value` lines.
//! Functions never appear in output; ranges appear as `{min, max, type}` objects.

use tusk_eval::{Object, Value, format_float};

/// Pretty (two-space indented) or compact JSON.
pub fn to_json(value: &Value, compact: bool) -> String {
    let result = if compact { serde_json::to_string(value) } else { serde_json::to_string_pretty(value) };
    result.unwrap_or_else(|error| format!("\"<unserializable: {error}>\""))
}

/// TOML. Fails when the document cannot be TOML (a top-level value that is not a table,
/// `null` anywhere).
pub fn to_toml(value: &Value) -> Result<String, String> {
    toml::to_string_pretty(value).map_err(|error| error.to_string())
}

/// One `path = json` line per leaf, paths dotted, array items by index.
pub fn to_flat(value: &Value) -> String {
    let mut out = String::new();
    flatten(value, &mut String::new(), &mut out);
    out
}

fn flatten(value: &Value, path: &mut String, out: &mut String) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, item) in object.iter().filter(|(_, item)| !item.is_function()) {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                flatten(item, path, out);
                path.truncate(length);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, item) in items.iter().filter(|item| !item.is_function()).enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                flatten(item, path, out);
                path.truncate(length);
            }
        }
        Value::Range(..) => flatten(
            &Value::object(match value {
                Value::Range(start, end) => Value::range_object(*start, *end),
                _ => unreachable!(),
            }),
            path,
            out,
        ),
        leaf => {
            out.push_str(path);
            out.push_str(" = ");
            out.push_str(&to_json(leaf, true));
            out.push('\n');
        }
    }
}

/// Block-style YAML.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(object) if !object.is_empty() => yaml_object(object, 0, &mut out),
        Value::Array(items) if !items.is_empty() => yaml_array(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null | Value::Func(_) => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) if x.is_nan() => ".nan".to_string(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 { ".inf" } else { "-.inf" }.to_string(),
        Value::Float(x) => format_float(*x),
        Value::Str(s) => yaml_string(s),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
        Value::Range(..) | Value::Handle(_) => to_json(value, true),
    }
}

fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !text.ends_with(char::is_whitespace)
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.chars().any(|c| c.is_control())
        && !matches!(
            text,
            "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "True" | "False" | "Null" | "NULL"
        )
        && text.parse::<f64>().is_err();
    if plain { text.to_string() } else { serde_json::to_string(text).unwrap_or_default() }
}

fn yaml_key(key: &str) -> String {
    yaml_string(key)
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(object) => !object.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Range(..) => true,
        _ => false,
    }
}

fn yaml_object(object: &Object, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (key, value) in object.iter().filter(|(_, value)| !value.is_function()) {
        out.push_str(&pad);
        out.push_str(&yaml_key(key));
        out.push(':');
        yaml_child(value, indent, out);
    }
}

fn yaml_array(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items.iter().filter(|item| !item.is_function()) {
        out.push_str(&pad);
        out.push('-');
        yaml_child(item, indent, out);
    }
}

fn yaml_child(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Range(start, end) => {
            out.push('\n');
            yaml_object(&Value::range_object(*start, *end), indent + 2, out);
        }
        Value::Object(object) if is_block(value) => {
            out.push('\n');
            yaml_object(object, indent + 2, out);
        }
        Value::Array(items) if is_block(value) => {
            out.push('\n');
            yaml_array(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(source: &str) -> Value {
        crate::Engine::new().eval_str(source).unwrap().value().clone()
    }

    #[test]
    fn writes_every_format() {
        let value = doc("a: 1\nb {\n  c: [true, \"x: y\"]\n  d: 2.0\n}\nf: x => x\n");
        assert_eq!(to_json(&value, true), r#"{"a":1,"b":{"c":[true,"x: y"],"d":2.0}}"#);
        assert_eq!(to_flat(&value), "a = 1\nb.c[0] = true\nb.c[1] = \"x: y\"\nb.d = 2.0\n");
        assert_eq!(to_yaml(&value), "a: 1\nb:\n  c:\n    - true\n    - \"x: y\"\n  d: 2.0\n");
        assert_eq!(to_toml(&value).unwrap(), "a = 1\n\n[b]\nc = [\n    true,\n    \"x: y\",\n]\nd = 2.0\n");
    }
}
