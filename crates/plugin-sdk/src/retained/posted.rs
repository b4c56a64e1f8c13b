//! The JSON of a posted call when host and plugin both have ABI 1.8: byte strings cross intact.
//!
//! JSON has no byte strings, so a byte string is written as its standard base64 text and the
//! places of such texts are listed beside the data: the arguments go as
//! `{"args": [...], "bytes": [path, ...]}` and the host answers `{"value": ..., "bytes": [...]}`.
//! A path is a JSON array of steps from the top: a number indexes an array, a string names an
//! object's key. Being JSON itself, a path is unambiguous whatever text the keys hold. A text
//! that is not listed stays a string, even if it looks like base64.

use serde_json::Value as Json;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::owned::OwnedValue;

/// The arguments of a posted call, as the JSON object a host of ABI 1.8 reads.
pub(crate) fn wrap_args(args: Vec<OwnedValue>) -> Result<String, serde_json::Error> {
    let args = OwnedValue::Array(args);
    let mut paths = Vec::new();
    let mut path = Vec::new();
    collect(&args, &mut path, &mut paths);
    let args = serde_json::to_string(&args)?;
    let paths = serde_json::to_string(&paths)?;
    Ok(format!("{{\"args\":{args},\"bytes\":{paths}}}"))
}

/// Adds the path of every byte string in `value` (at `path`) to `paths`.
fn collect(value: &OwnedValue, path: &mut Vec<Json>, paths: &mut Vec<Vec<Json>>) {
    match value {
        OwnedValue::Bytes(_) => paths.push(path.clone()),
        OwnedValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Json::from(index));
                collect(item, path, paths);
                path.pop();
            }
        }
        OwnedValue::Object(entries) => {
            for (key, item) in entries {
                path.push(Json::from(key.as_str()));
                collect(item, path, paths);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The result a host of ABI 1.8 answers a wrapped post with, its byte strings restored.
pub(crate) fn unwrap_result(json: &str) -> Result<OwnedValue, String> {
    let OwnedValue::Object(entries) = serde_json::from_str::<OwnedValue>(json).map_err(|error| error.to_string())?
    else {
        return Err("the answer is not an object".to_string());
    };
    let mut value = None;
    let mut paths = None;
    for (key, entry) in entries {
        match key.as_str() {
            "value" => value = Some(entry),
            "bytes" => paths = Some(entry),
            _ => {}
        }
    }
    let (Some(mut value), Some(OwnedValue::Array(paths))) = (value, paths) else {
        return Err("the answer lacks `value` or its `bytes` paths".to_string());
    };
    for path in paths {
        restore(&mut value, &path)?;
    }
    Ok(value)
}

/// Turns the base64 text at `path` in `value` back into the byte string it was. The errors
/// are the host's for the same faults, the path written as the JSON it came as.
fn restore(value: &mut OwnedValue, path: &OwnedValue) -> Result<(), String> {
    let path_json = || serde_json::to_string(path).unwrap_or_default();
    let nowhere = || format!("a byte-string path that leads nowhere: {}", path_json());
    let OwnedValue::Array(steps) = path else {
        return Err(nowhere());
    };
    let mut at = value;
    for step in steps {
        at = match (at, step) {
            (OwnedValue::Array(items), OwnedValue::Int(index)) => {
                usize::try_from(*index).ok().and_then(|index| items.get_mut(index)).ok_or_else(nowhere)?
            }
            (OwnedValue::Object(entries), OwnedValue::String(key)) => {
                entries.iter_mut().find_map(|(name, item)| (name == key).then_some(item)).ok_or_else(nowhere)?
            }
            _ => return Err(nowhere()),
        };
    }
    let bytes = match &*at {
        OwnedValue::String(text) => STANDARD.decode(text).ok(),
        _ => None,
    };
    let bytes =
        bytes.ok_or_else(|| format!("a byte-string path that does not lead to base64 text: {}", path_json()))?;
    *at = OwnedValue::Bytes(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(entries: &[(&str, OwnedValue)]) -> OwnedValue {
        OwnedValue::Object(entries.iter().map(|(key, value)| (key.to_string(), value.clone())).collect())
    }

    #[test]
    fn arguments_list_the_paths_of_their_byte_strings() {
        let args = vec![
            OwnedValue::Bytes(vec![0, 255, 1]),
            OwnedValue::String("AP8B".into()),
            OwnedValue::Array(vec![OwnedValue::Int(1), OwnedValue::Array(vec![OwnedValue::Bytes(Vec::new())])]),
            object(&[
                ("a\"b/0", OwnedValue::Bytes(b"x".to_vec())),
                ("", object(&[("1", OwnedValue::Bytes(b"yz".to_vec()))])),
                ("[0]", OwnedValue::Null),
            ]),
        ];
        let json: Json = serde_json::from_str(&wrap_args(args).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "args": ["AP8B", "AP8B", [1, [""]], {"a\"b/0": "eA==", "": {"1": "eXo="}, "[0]": null}],
                "bytes": [[0], [2, 1, 0], [3, "a\"b/0"], [3, "", "1"]],
            })
        );
    }

    #[test]
    fn arguments_without_byte_strings_list_no_paths() {
        assert_eq!(wrap_args(Vec::new()).unwrap(), r#"{"args":[],"bytes":[]}"#);
        assert_eq!(wrap_args(vec![OwnedValue::Int(3)]).unwrap(), r#"{"args":[3],"bytes":[]}"#);
    }

    #[test]
    fn a_wrapped_result_restores_its_byte_strings() {
        let json = r#"{"value": {"a\"b/0": ["AP8B", "AP8B", ""], "1": {"": "eXo="}}, "bytes": [["a\"b/0", 0], ["a\"b/0", 2], ["1", ""]]}"#;
        assert_eq!(
            unwrap_result(json).unwrap(),
            object(&[
                (
                    "a\"b/0",
                    OwnedValue::Array(vec![
                        OwnedValue::Bytes(vec![0, 255, 1]),
                        OwnedValue::String("AP8B".into()),
                        OwnedValue::Bytes(Vec::new()),
                    ])
                ),
                ("1", object(&[("", OwnedValue::Bytes(b"yz".to_vec()))])),
            ])
        );
        assert_eq!(unwrap_result(r#"{"value": "", "bytes": [[]]}"#).unwrap(), OwnedValue::Bytes(Vec::new()));
        assert_eq!(unwrap_result(r#"{"value": "eA==", "bytes": []}"#).unwrap(), OwnedValue::String("eA==".into()));
    }

    #[test]
    fn a_round_trip_keeps_every_value() {
        let args = vec![
            object(&[("k", OwnedValue::Bytes((0..=255).collect())), ("t", OwnedValue::String("text".into()))]),
            OwnedValue::Bytes(vec![7]),
        ];
        let wrapped = wrap_args(args.clone()).unwrap();
        // The host answers in the same shape, `value` in place of `args`.
        let answer = wrapped.replacen("\"args\"", "\"value\"", 1);
        assert_eq!(unwrap_result(&answer).unwrap(), OwnedValue::Array(args));
    }

    #[test]
    fn a_bad_answer_is_an_error_not_a_panic() {
        let cases = [
            ("[1]", "the answer is not an object"),
            (r#"{"value": 1}"#, "the answer lacks `value` or its `bytes` paths"),
            (r#"{"value": [1], "bytes": [[1]]}"#, "a byte-string path that leads nowhere: [1]"),
            (r#"{"value": [1], "bytes": [["a"]]}"#, r#"a byte-string path that leads nowhere: ["a"]"#),
            (r#"{"value": [1], "bytes": [[-1]]}"#, "a byte-string path that leads nowhere: [-1]"),
            (
                r#"{"value": {"k": 1}, "bytes": [["k"]]}"#,
                r#"a byte-string path that does not lead to base64 text: ["k"]"#,
            ),
            (r#"{"value": ["*"], "bytes": [[0]]}"#, "a byte-string path that does not lead to base64 text: [0]"),
            (r#"{"value": ["eA="], "bytes": [[0]]}"#, "a byte-string path that does not lead to base64 text: [0]"),
            (r#"{"value": 1, "bytes": [3]}"#, "a byte-string path that leads nowhere: 3"),
        ];
        for (json, message) in cases {
            assert_eq!(unwrap_result(json).unwrap_err(), message, "{json}");
        }
    }
}
