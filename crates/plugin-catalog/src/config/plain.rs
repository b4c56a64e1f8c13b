//! A quick check that a configuration schema is valid against the JSON Schema 2020-12
//! metaschema, for the plain schemas plugins ship (keywords of the 2020-12 vocabularies with
//! values of the right shapes, local `$ref`s only).
//!
//! boon checks every schema it compiles against its metaschema, and builds its metaschemas for
//! that the first time, all five drafts of them: about 14 million instructions, once per process,
//! paid by the first plugin with a configuration schema (several milliseconds of a script's
//! start-up). [`plainly_valid`] is a sufficient condition, never a necessary one: whatever it
//! accepts the metaschema accepts, and whatever it is unsure of (an unknown keyword, `$id`,
//! `$dynamicRef`, a remote `$ref`, an unusual pattern) it refuses, and the schema is then
//! compiled and checked by boon as before, with boon's error messages.

use serde_json::Value;

/// The only `$schema` a plain schema may name (none means the same: the compiler's default).
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// How deep a plain schema may nest; deeper ones take boon's route.
const MAX_DEPTH: usize = 64;

/// Whether `root` is certainly a valid 2020-12 schema, by the rules of the metaschema boon would
/// check it against (format assertions on: `pattern`s must be regular expressions boon accepts).
pub(super) fn plainly_valid(root: &Value) -> bool {
    if let Some(draft) = root.get("$schema")
        && draft.as_str() != Some(DRAFT_2020_12)
    {
        return false;
    }
    schema(root, 0)
}

/// A schema is `true`, `false` or an object of known keywords.
fn schema(value: &Value, depth: usize) -> bool {
    match value {
        Value::Bool(_) => true,
        Value::Object(keywords) if depth <= MAX_DEPTH => {
            keywords.iter().all(|(name, value)| keyword(name, value, depth))
        }
        _ => false,
    }
}

/// One keyword of a schema at `depth`, as the 2020-12 vocabularies constrain its value.
fn keyword(name: &str, value: &Value, depth: usize) -> bool {
    let subschema = |value: &Value| schema(value, depth + 1);
    match name {
        // Checked by `plainly_valid` at the root; elsewhere it would start a new resource.
        "$schema" => depth == 0,
        "$ref" => value.as_str().is_some_and(local_reference),
        "$comment" | "title" | "description" | "format" | "contentEncoding" | "contentMediaType" => value.is_string(),
        "default" | "const" => true,
        "enum" | "examples" => value.is_array(),
        "deprecated" | "readOnly" | "writeOnly" | "uniqueItems" => value.is_boolean(),
        "type" => match value {
            Value::String(name) => simple_type(name),
            Value::Array(names) => {
                !names.is_empty()
                    && names
                        .iter()
                        .enumerate()
                        .all(|(at, name)| name.as_str().is_some_and(simple_type) && !names[..at].contains(name))
            }
            _ => false,
        },
        "properties" | "$defs" | "dependentSchemas" => {
            value.as_object().is_some_and(|schemas| schemas.values().all(subschema))
        }
        "patternProperties" => value
            .as_object()
            .is_some_and(|schemas| schemas.iter().all(|(pattern, schema)| plain_pattern(pattern) && subschema(schema))),
        "items"
        | "contains"
        | "additionalProperties"
        | "propertyNames"
        | "if"
        | "then"
        | "else"
        | "not"
        | "unevaluatedItems"
        | "unevaluatedProperties"
        | "contentSchema" => subschema(value),
        "prefixItems" | "allOf" | "anyOf" | "oneOf" => {
            value.as_array().is_some_and(|schemas| !schemas.is_empty() && schemas.iter().all(subschema))
        }
        "multipleOf" => value.as_f64().is_some_and(|number| number > 0.0),
        "maximum" | "exclusiveMaximum" | "minimum" | "exclusiveMinimum" => value.is_number(),
        "maxLength" | "minLength" | "maxItems" | "minItems" | "maxContains" | "minContains" | "maxProperties"
        | "minProperties" => value.is_u64(),
        "pattern" => value.as_str().is_some_and(plain_pattern),
        "required" => unique_strings(value),
        "dependentRequired" => value.as_object().is_some_and(|lists| lists.values().all(unique_strings)),
        // `$id`, `$anchor`, `$dynamicRef`, `$vocabulary`, the deprecated `definitions` and
        // `dependencies`, and anything unknown: boon decides.
        _ => false,
    }
}

fn simple_type(name: &str) -> bool {
    matches!(name, "array" | "boolean" | "integer" | "null" | "number" | "object" | "string")
}

fn unique_strings(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().enumerate().all(|(at, item)| item.is_string() && !items[..at].contains(item)))
}

/// A reference into the same document (`#`, `#/$defs/server`), spelled in characters that are
/// valid in a URI fragment as they are: certainly a URI reference, and it reads no other file.
fn local_reference(reference: &str) -> bool {
    reference.strip_prefix('#').is_some_and(|pointer| {
        pointer
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'$' | b'_' | b'-' | b'.' | b'~'))
    })
}

/// A pattern boon's `regex` format accepts: boon parses it with regex-syntax's parser (the
/// default one, as here) and refuses only what that parser refuses, less `\cX` control escapes,
/// which it rewrites first (not plain: refused here), and plus the bell escape `\a`, which
/// ECMA-262 lacks (refused here with anything that merely contains `\a`).
fn plain_pattern(pattern: &str) -> bool {
    !pattern.contains("\\a") && regex_syntax::ast::parse::Parser::new().parse(pattern).is_ok()
}
