//! The output formats read back with real readers give the document that was written: JSON
//! with serde_json, TOML with the `toml` crate, YAML with a YAML 1.2 reader (yaml-rust2) and a
//! YAML 1.1 reader (PyYAML's `safe_load`, run with python3). Every string comes back as the
//! same string, in particular those a YAML reader would otherwise take for a number, a bool, a
//! null, a date or a time.
//!
//! PyYAML is not a Rust dependency: when python3 cannot import `yaml`, the YAML 1.1 check fails
//! under `CI=true` (CI installs it) and is skipped with a printed reason elsewhere.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Map, Value as Json, json};
use tusk::format::{to_flat, to_json, to_toml, to_yaml};
use tusk::{Engine, Key, Object, Value};

/// Strings that YAML 1.1 or 1.2 readers resolve to something else when written plain, and
/// strings that need quoting for their characters.
const TRICKY_STRINGS: &[&str] = &[
    "0x10",
    "0o17",
    "0b101",
    "017",
    "+12",
    "-1",
    "1_000",
    "1,000",
    "1e3",
    "6.8523015e+5",
    "1.5",
    ".5",
    "0.",
    "0",
    ".inf",
    "-.inf",
    "+.INF",
    ".nan",
    ".NaN",
    "inf",
    "NaN",
    "Infinity",
    "12:30",
    "190:20:30",
    "1:30.5",
    "2024-01-31",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    "true",
    "True",
    "TRUE",
    "false",
    "FALSE",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    " leading",
    "trailing ",
    " both ",
    "key: value",
    "trailing:",
    "x:y",
    "a #comment",
    "a#b",
    "#hash",
    "- item",
    "-",
    "--",
    "---",
    "...",
    "? question",
    "?",
    ":",
    "[flow]",
    "{flow}",
    "a, b",
    "&anchor",
    "*alias",
    "!tag",
    "|literal",
    ">folded",
    "'single'",
    "\"double\"",
    "%directive",
    "@at",
    "`back",
    "<<",
    "=",
    "multi\nline",
    "tab\there",
    "nul\0byte",
    "bell\u{7}",
    "del\u{7f}",
    "nel\u{85}",
    "line\u{2028}sep",
    "\u{feff}bom",
    "café",
    "日本語",
    "emoji 🐘",
    "http://example.com:8080/x?a=1&b=2#top",
    "/srv/app",
    "C:\\path",
    "0.0.0.0",
    "1.2.3",
    "8080/tcp",
    "Yes please",
    "no way",
    "_x",
    "a\\b",
    "last\n",
];

/// A document holding every tricky string as a value and as a key, every kind of number, and
/// nesting of objects and arrays in each other (no null: TOML has none).
fn sample() -> Value {
    let strings: Vec<Value> = TRICKY_STRINGS.iter().map(|text| Value::string(text)).collect();
    let mut keys = Object::new();
    for (index, text) in TRICKY_STRINGS.iter().enumerate() {
        keys.insert(Key::new(text), Value::Int(index as i64));
    }
    let source = r#"
        ints: [0, -7, 9223372036854775807, -9223372036854775807 - 1]
        floats: [0.0, -0.0, 1.5, 2.0, 0.1, 1e300, -1e-300, 1.7976931348623157e308, 5e-324]
        bools: [true, false]
        nested: [[1, [2, 3]], [], {}, [{a: 1}], {b: [1, {c: "d"}]}]
        servers: [{name: "a", port: 1, tags: ["x"], tls: {on: true}}, {name: "b", port: 2, tags: [], tls: {}}]
        empty_table: {}
        ports: 8000-8100
        long: map(range(30), n => n * 1000)
        grid: [map(range(20), n => n), map(range(20), n => n * 2)]
    "#;
    let mut document = Engine::new().eval_str(source).unwrap().object().clone();
    document.insert(Key::new("strings"), Value::array(strings));
    document.insert(Key::new("keys"), Value::object(keys));
    Value::object(document)
}

/// What every reader must give back: the document's JSON form.
fn expected() -> Json {
    serde_json::from_str(&to_json(&sample(), true).unwrap()).unwrap()
}

#[test]
fn json_reads_back_as_written() {
    let written = to_json(&sample(), false).unwrap();
    let read: Json = serde_json::from_str(&written).unwrap();
    assert_eq!(read, expected());
    assert_eq!(read["floats"][5], json!(1e300));
    assert_eq!(read["ports"], json!({"min": 8000, "max": 8100, "type": "range"}));
}

#[test]
fn toml_reads_back_as_written() {
    let written = to_toml(&sample()).unwrap();
    let read: toml::Table = toml::from_str(&written).unwrap_or_else(|error| panic!("{error}\n{written}"));
    assert_eq!(toml_to_json(toml::Value::Table(read)), expected());
}

fn toml_to_json(value: toml::Value) -> Json {
    match value {
        toml::Value::String(text) => Json::String(text),
        toml::Value::Integer(n) => json!(n),
        toml::Value::Float(x) => json!(x),
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Array(items) => Json::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(table.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
        toml::Value::Datetime(datetime) => panic!("TOML read a datetime: {datetime}"),
    }
}

#[test]
fn yaml_reads_back_as_written_in_yaml_1_2() {
    let written = to_yaml(&sample()).unwrap();
    let documents =
        yaml_rust2::YamlLoader::load_from_str(&written).unwrap_or_else(|error| panic!("{error}\n{written}"));
    assert_eq!(documents.len(), 1);
    assert_eq!(yaml_to_json(&documents[0], ""), expected());
}

/// A YAML 1.2 node as JSON; a key that is not a string, or an alias, fails the test.
fn yaml_to_json(node: &yaml_rust2::Yaml, path: &str) -> Json {
    use yaml_rust2::Yaml;
    match node {
        Yaml::String(text) => Json::String(text.clone()),
        Yaml::Integer(n) => json!(n),
        Yaml::Real(text) => json!(text.parse::<f64>().unwrap_or_else(|_| panic!("{path}: the float {text}"))),
        Yaml::Boolean(b) => Json::Bool(*b),
        Yaml::Null => Json::Null,
        Yaml::Array(items) => {
            Json::Array(items.iter().enumerate().map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]"))).collect())
        }
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let Yaml::String(key) = key else { panic!("{path}: the key {key:?} was not read as a string") };
                map.insert(key.clone(), yaml_to_json(value, &format!("{path}.{key}")));
            }
            Json::Object(map)
        }
        other => panic!("{path}: unexpected YAML node {other:?}"),
    }
}

/// Reads YAML with PyYAML's `safe_load` (YAML 1.1) and returns it as JSON; `None` when
/// python3 or PyYAML is missing (after failing under CI).
fn pyyaml_read(yaml: &str) -> Option<Json> {
    // Keys must come back as strings (json.dumps would quietly turn a bool key into "true"),
    // and a date read from a string makes json.dumps fail.
    const READER: &str = r#"
import json, sys
try:
    import yaml
except ImportError:
    sys.exit(3)
def check(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                sys.exit(f"{path}: the key {key!r} was read as {type(key).__name__}")
            check(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            check(item, f"{path}[{index}]")
document = yaml.safe_load(sys.stdin.read())
check(document, "")
print(json.dumps(document))
"#;
    let child = Command::new("python3")
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return skip(&format!("python3 cannot be started: {error}")),
    };
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.code() == Some(3) {
        return skip("python3 has no PyYAML (`python3 -m pip install pyyaml`)");
    }
    assert!(output.status.success(), "PyYAML could not read the output: {}", String::from_utf8_lossy(&output.stderr));
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn skip(reason: &str) -> Option<Json> {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "the YAML 1.1 round trip cannot run under CI: {reason}");
    eprintln!("skipped: the YAML 1.1 round trip needs PyYAML: {reason}");
    None
}

#[test]
fn yaml_reads_back_as_written_in_yaml_1_1() {
    let written = to_yaml(&sample()).unwrap();
    if let Some(read) = pyyaml_read(&written) {
        assert_eq!(read, expected());
    }
}

#[test]
fn yaml_quotes_what_readers_would_take_for_another_type_and_nothing_else() {
    let yaml = |text: &str| to_yaml(&Value::string(text)).unwrap();
    for text in ["0x10", ".inf", ".nan", "OFF", "NO", "y", "n", "12:30", "2024-01-31", "1_000", "~", "null", "True", ""]
    {
        assert!(yaml(text).starts_with('"'), "{text:?} is written plain: {}", yaml(text));
    }
    for text in ["api", "orders-api", "/srv/app", "http://example.com/x", "Hello, world", "café"] {
        assert_eq!(yaml(text), format!("{text}\n"));
    }
    assert_eq!(yaml(" padded "), "\" padded \"\n");
    assert_eq!(yaml("two\nlines\u{2028}"), "\"two\\nlines\\u2028\"\n");
}

#[test]
fn yaml_floats_read_as_floats_in_both_versions() {
    let yaml = |x: f64| to_yaml(&Value::Float(x)).unwrap();
    assert_eq!(yaml(1e300), "1.0e+300\n");
    assert_eq!(yaml(-1.5e-7), "-1.5e-7\n");
    assert_eq!(yaml(2.0), "2.0\n");
}

#[test]
fn yaml_lists_of_objects_start_on_the_dash_line() {
    let document = Engine::new().eval_str("servers: [{name: \"a\", port: 1}, [1, 2]]\n").unwrap();
    assert_eq!(to_yaml(document.value()).unwrap(), "servers:\n  - name: a\n    port: 1\n  - - 1\n    - 2\n");
}

#[test]
fn toml_writes_floats_as_literals_and_indents_nested_arrays() {
    let document = Engine::new()
        .eval_str("big: 1e300\ngrid: [map(range(12), n => n * 100), [map(range(12), n => n * 1000), [1]]]\n")
        .unwrap();
    assert_eq!(
        to_toml(document.value()).unwrap(),
        "big = 1e300
grid = [
    [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100],
    [
        [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000],
        [1],
    ],
]
"
    );
}

#[test]
fn toml_refuses_null_and_non_tables_with_the_path() {
    let null = Engine::new().eval_str("parsed { manager: null }\n").unwrap();
    assert_eq!(
        to_toml(null.value()).unwrap_err().to_string(),
        "TOML has no null: `parsed.manager` (leave the key out, or use JSON or YAML)"
    );
    let in_array = Engine::new().eval_str("list: [1, null]\n").unwrap();
    assert_eq!(to_toml(in_array.value()).unwrap_err().path, "list[1]");
    for (value, kind) in [(Value::array(vec![Value::Int(1)]), "an array"), (Value::Int(8080), "an int")] {
        assert_eq!(
            to_toml(&value).unwrap_err().to_string(),
            format!("TOML can only write a table of keys, and the value is {kind} (JSON and YAML can write it)")
        );
    }
}

#[test]
fn infinite_and_nan_floats_are_an_error_in_every_format() {
    let document = Engine::new().eval_str("limits { ratio: float(\"inf\") }\n").unwrap();
    let message = "`limits.ratio` is inf: output formats do not write infinite or NaN floats (make it a string \
                   with `str()` or a finite number first)";
    assert_eq!(to_json(document.value(), true).unwrap_err().to_string(), message);
    assert_eq!(to_yaml(document.value()).unwrap_err().to_string(), message);
    assert_eq!(to_toml(document.value()).unwrap_err().to_string(), message);
    assert_eq!(to_flat(document.value()).unwrap_err().to_string(), message);
    let nan = Value::array(vec![Value::Int(1), Value::Float(f64::NAN)]);
    assert_eq!(to_json(&nan, true).unwrap_err().path, "[1]");
    // serde users get an error too, not a null.
    assert!(serde_json::to_string(&Value::Float(f64::INFINITY)).is_err());
}

#[test]
fn flat_paths_are_unambiguous_and_lead_back_to_their_values() {
    let document =
        Engine::new().eval_str("\"a.b\": 1\na { b: 2 }\n\"my key\": [true, {\"x[0]\": null}]\nports: 80-81\n").unwrap();
    let flat = to_flat(document.value()).unwrap();
    assert_eq!(
        flat,
        "\"a.b\" = 1\na.b = 2\n\"my key\"[0] = true\n\"my key\"[1].\"x[0]\" = null\nports.min = 80\nports.max = 81\n\
         ports.type = \"range\"\n"
    );
    for line in flat.lines() {
        let (path, json) = line.split_once(" = ").unwrap();
        let path = tusk::path::Path::parse(path).unwrap();
        let found = document.lookup(&path).unwrap();
        assert_eq!(to_json(&found, true).unwrap(), json, "{line}");
    }
}

/// A byte string with every kind of byte: base64 text with `+` and `/`, and padding.
fn bytes_document() -> Value {
    Engine::new()
        .eval_str("data: bytes([0, 1, 254, 255, 104, 105, 250])\nlist: [bytes(\"\")]\n")
        .unwrap()
        .value()
        .clone()
}

#[test]
fn byte_strings_are_base64_in_json_toml_and_flat_output() {
    let value = bytes_document();
    let read: Json = serde_json::from_str(&to_json(&value, false).unwrap()).unwrap();
    assert_eq!(read, json!({"data": "AAH+/2hp+g==", "list": [""]}));
    let read: toml::Value = toml::from_str(&to_toml(&value).unwrap()).unwrap();
    assert_eq!(toml_to_json(read), json!({"data": "AAH+/2hp+g==", "list": [""]}));
    assert_eq!(to_flat(&value).unwrap(), "data = \"AAH+/2hp+g==\"\nlist[0] = \"\"\n");
}

#[test]
fn byte_strings_are_binary_in_yaml() {
    let written = to_yaml(&bytes_document()).unwrap();
    assert_eq!(written, "data: !!binary AAH+/2hp+g==\nlist:\n  - !!binary \n");
    // yaml-rust2 has no binary type: it keeps the tagged scalar's text.
    let documents = yaml_rust2::YamlLoader::load_from_str(&written).unwrap();
    assert_eq!(yaml_to_json(&documents[0], ""), json!({"data": "AAH+/2hp+g==", "list": [""]}));
    // PyYAML reads `!!binary` as bytes: printed as lists of ints.
    let reader = "import sys, json\ntry:\n    import yaml\nexcept ImportError:\n    sys.exit(3)\n\
                  d = yaml.safe_load(sys.stdin.read())\nprint(json.dumps([list(d['data']), [list(b) for b in d['list']]]))";
    let child = Command::new("python3").args(["-c", reader]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            skip(&format!("python3 cannot be started: {error}"));
            return;
        }
    };
    child.stdin.take().unwrap().write_all(written.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.code() == Some(3) {
        skip("python3 has no PyYAML (`python3 -m pip install pyyaml`)");
        return;
    }
    assert!(output.status.success(), "PyYAML could not read the output");
    let read: Json = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read, json!([[0, 1, 254, 255, 104, 105, 250], [[]]]));
}

#[test]
fn byte_strings_read_back_from_tusk_source() {
    let value = bytes_document();
    let source = tusk::format::to_tusk(&value).unwrap();
    assert!(source.contains("data: from_base64(\"AAH+/2hp+g==\")"), "{source}");
    let again = Engine::new().eval_str(&source).unwrap().value().clone();
    assert!(again.deep_eq(&value), "{source}");
}
