//! Configuration: merging, default filling, validation messages naming the field, locations in
//! the user's config file.

use serde_json::json;
use tusk_diagnostics::{RenderOptions, render};

use super::*;

fn compiled(json: Value) -> ConfigSchema {
    ConfigSchema::compile(json).unwrap()
}

fn logging_schema() -> ConfigSchema {
    compiled(json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "level": {"enum": ["debug", "info", "warn"], "default": "info"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "sink": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "path": {"type": "string", "default": "/var/log/app.log"},
                    "rotate": {"$ref": "#/$defs/rotate"}
                },
                "required": ["path"]
            },
            "tags": {"type": "array", "items": {"type": "object", "properties": {"weight": {"default": 1}}}}
        },
        "required": ["level"],
        "$defs": {"rotate": {"type": "object", "properties": {"keep": {"type": "integer", "default": 7}}}}
    }))
}

fn user(text: &str) -> (UserConfig, SourceMap) {
    let mut sources = SourceMap::new();
    let source = sources.add("config.toml", text);
    (UserConfig::parse(text, source).unwrap(), sources)
}

fn issues(result: Result<Value, ConfigError>) -> Vec<String> {
    match result.unwrap_err() {
        ConfigError::Invalid { issues, .. } => issues.into_iter().map(|issue| issue.message).collect(),
        other => panic!("{other}"),
    }
}

#[test]
fn script_section_wins_over_user_config() {
    let (user, _) = user(
        "[plugins.logging]\nlevel = \"debug\"\n[plugins.logging.sink]\npath = \"/tmp/a\"\n[plugins.other]\nx = 1\n",
    );
    let script = json!({"level": "warn", "sink": {"rotate": {"keep": 3}}});
    let config = configure("logging", None, Some(&user), Some(&script)).unwrap();
    assert_eq!(config, json!({"level": "warn", "sink": {"path": "/tmp/a", "rotate": {"keep": 3}}}));
    assert_eq!(configure("nobody", None, Some(&user), None).unwrap(), json!({}));
}

#[test]
fn defaults_fill_nested_objects_refs_and_items() {
    let schema = logging_schema();
    let config = configure("logging", Some(&schema), None, Some(&json!({"tags": [{}, {"weight": 5}]}))).unwrap();
    assert_eq!(
        config,
        json!({
            "tags": [{"weight": 1}, {"weight": 5}],
            "level": "info",
            "sink": {"path": "/var/log/app.log", "rotate": {"keep": 7}}
        })
    );
    // Given values are never replaced by defaults.
    let config =
        configure("logging", Some(&schema), None, Some(&json!({"level": "warn", "sink": {"path": "/x"}}))).unwrap();
    assert_eq!(config, json!({"level": "warn", "sink": {"path": "/x", "rotate": {"keep": 7}}}));
}

#[test]
fn defaults_follow_all_of() {
    let schema =
        compiled(json!({"allOf": [{"properties": {"a": {"default": 1}}}, {"properties": {"b": {"default": 2}}}]}));
    let mut value = json!({});
    schema.fill_defaults(&mut value);
    assert_eq!(value, json!({"a": 1, "b": 2}));
}

#[test]
fn issues_name_the_field_and_what_was_expected() {
    let schema = logging_schema();
    let script = json!({"level": "loud", "port": 0, "colour": true, "sink": {"path": 3, "rotat": {}}});
    assert_eq!(
        issues(configure("logging", Some(&schema), None, Some(&script))),
        [
            "`/colour` is not a known field (known fields: level, port, sink, tags)",
            "`/level` must be one of \"debug\", \"info\", \"warn\", found \"loud\"",
            "`/port` must be at least 1, found 0",
            "`/sink/path` must be a string, found an integer",
            "`/sink/rotat` is not a known field (known fields: path, rotate)",
        ]
    );
    let required =
        compiled(json!({"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}));
    assert_eq!(issues(configure("auth", Some(&required), None, None)), ["`/token` is required but missing"]);
    let top = compiled(json!({"type": "object"}));
    assert_eq!(
        issues(configure("x", Some(&top), None, Some(&json!("text")))),
        ["the configuration must be an object, found a string"]
    );
}

#[test]
fn issues_from_the_user_file_point_into_it() {
    let text = "[plugins.logging]\nlevel = \"loud\"\nprot = 1\n";
    let (user, mut sources) = user(text);
    let mut user = user;
    user.path = Some(PathBuf::from("/home/ann/.config/tusk/config.toml"));
    let error = configure("logging", Some(&logging_schema()), Some(&user), None).unwrap_err();
    let diagnostics = error.to_diagnostics();
    let summary: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.message.as_str(), d.primary.as_ref().map(|label| label.location.span), d.help.as_deref().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "invalid configuration for plugin `logging`: `/level` must be one of \"debug\", \"info\", \"warn\", found \"loud\"",
                Some(Span::new(26, 32)),
                "fix `level` under [plugins.logging] in /home/ann/.config/tusk/config.toml"
            ),
            (
                "invalid configuration for plugin `logging`: `/prot` is not a known field (known fields: level, port, sink, tags)",
                Some(Span::new(40, 41)),
                "did you mean `port`? change it under [plugins.logging] in /home/ann/.config/tusk/config.toml"
            ),
        ]
    );
    let rendered = render(&diagnostics[0], &sources, RenderOptions::PLAIN);
    assert_eq!(
        rendered,
        "[X050] Error: invalid configuration for plugin `logging`: `/level` must be one of \"debug\", \"info\", \"warn\", found \"loud\"\n   ,-[ config.toml:2:9 ]\n   |\n 2 | level = \"loud\"\n   |         ^^^|^^  \n   |            `---- this value\n   | \n   | Help: fix `level` under [plugins.logging] in /home/ann/.config/tusk/config.toml\n---'\n"
    );
    // The same value from the script has no location in the user's file.
    let script = json!({"level": "loud"});
    let error = configure("logging", Some(&logging_schema()), Some(&user), Some(&script)).unwrap_err();
    let level = error.to_diagnostics().into_iter().find(|d| d.message.contains("/level")).unwrap();
    assert_eq!(level.primary, None);
    assert_eq!(
        level.help.as_deref(),
        Some(
            "fix `level` in the script's `plugins.logging` section or under [plugins.logging] in the tusk config file"
        )
    );
    let _ = &mut sources;
}

#[test]
fn schema_problems_are_reported_as_plugin_bugs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.schema.json");
    std::fs::write(&path, "{").unwrap();
    let error = ConfigSchema::load("logging", &path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "configuration schema {} of plugin `logging` is unusable: it is not valid JSON: EOF while parsing an object at line 1 column 1",
            path.display()
        )
    );
    assert_eq!(error.to_diagnostics()[0].code, Some("X051"));
    let message = ConfigSchema::compile(json!({"type": 3})).unwrap_err();
    assert!(message.starts_with("it is not a valid JSON Schema: "), "{message}");
    let message = ConfigSchema::compile(json!({"$ref": "other.json"})).unwrap_err();
    assert!(message.contains("external references are not supported"), "{message}");
    std::fs::write(&path, r#"{"properties": {"a": {"default": 1}}}"#).unwrap();
    let schema = ConfigSchema::load("logging", &path).unwrap();
    assert_eq!(configure("logging", Some(&schema), None, None).unwrap(), json!({"a": 1}));
}

#[test]
fn user_config_reads_preferences_and_checks_shapes() {
    let (config, _) = user("[plugin_preferences]\n\"@log\" = \"logging\"\n[other]\nx = 1\n");
    assert_eq!(config.preferences(), &HashMap::from([("@log".to_string(), "logging".to_string())]));
    let errors = UserConfig::parse("plugins = 1\n[plugin_preferences]\nx = 2\n", SourceId(0)).unwrap_err();
    let listed: Vec<_> = errors.iter().map(|d| format!("{} {}", d.code.unwrap(), d.message)).collect();
    assert_eq!(
        listed,
        [
            "X052 [plugins] must be a table, found an integer",
            "X052 `x` in [plugin_preferences] must be a plugin name, found an integer"
        ]
    );
    let errors = UserConfig::parse("[plugins]\nlogging = 1\n", SourceId(0)).unwrap_err();
    assert_eq!(errors[0].message, "`plugins.logging` must be a table, found an integer");
    let dir = tempfile::tempdir().unwrap();
    let missing = UserConfig::load(&dir.path().join("none.toml"), &mut SourceMap::new()).unwrap();
    assert!(missing.plugin("logging").is_none());
}
