//! What the test files share: the plugin through the real host, and TuskLang literals.

#![allow(dead_code)]

use serde_json::Value as Json;
use tusk_plugin_testkit::PluginTest;

/// The plugin in-process (as a first-party plugin runs), with the given grants.
pub fn plugin(grants: &[&str]) -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    for grant in grants {
        plugin.grant(grant);
    }
    plugin.in_process();
    plugin
}

pub fn eval(plugin: &mut PluginTest, expression: &str) -> Json {
    plugin.eval_expression(expression).unwrap_or_else(|error| panic!("{expression}\n{error}"))
}

pub fn error(plugin: &mut PluginTest, expression: &str) -> String {
    match plugin.eval_expression(expression) {
        Ok(value) => panic!("{expression} should fail, gave {value}"),
        Err(error) => error,
    }
}

/// `text` as a TuskLang string literal.
pub fn lit(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a TuskLang literal (JSON objects and arrays are TuskLang literals too,
/// except for their strings).
pub fn tsk(value: &Json) -> String {
    match value {
        Json::String(text) => lit(text),
        Json::Array(items) => format!("[{}]", items.iter().map(tsk).collect::<Vec<_>>().join(", ")),
        Json::Object(entries) => format!(
            "{{{}}}",
            entries.iter().map(|(key, value)| format!("{}: {}", lit(key), tsk(value))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// A key file of tests/keys as a literal.
pub fn key(name: &str) -> String {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    lit(&std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}")))
}
