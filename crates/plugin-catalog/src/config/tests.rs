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

/// The configuration schemas of the standard plugins.
fn standard_schemas() -> Vec<(String, Value)> {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib-plugins");
    let mut schemas = Vec::new();
    for entry in std::fs::read_dir(&plugins).unwrap() {
        let path = entry.unwrap().path().join("config.schema.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            schemas.push((path.display().to_string(), serde_json::from_str(&text).unwrap()));
        }
    }
    assert!(schemas.len() >= 10, "found only {} schemas under {}", schemas.len(), plugins.display());
    schemas
}

#[test]
fn standard_plugin_schemas_take_the_quick_route() {
    for (path, json) in standard_schemas() {
        assert!(plain::plainly_valid(&json), "{path}");
        assert!(ConfigSchema::compile(json).unwrap().quick, "{path}");
    }
    assert!(logging_schema().quick);
}

/// Every schema made from `json` by replacing one value with one of `replacements`, or by
/// adding one keyword of `keywords` with one of them to one object.
fn mutants(json: &Value, replacements: &[Value], keywords: &[&str]) -> Vec<Value> {
    let mut pointers = Vec::new();
    fn walk(value: &Value, pointer: String, pointers: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    walk(child, format!("{pointer}/{}", escape_pointer(key)), pointers);
                }
            }
            Value::Array(items) => {
                for (at, child) in items.iter().enumerate() {
                    walk(child, format!("{pointer}/{at}"), pointers);
                }
            }
            _ => {}
        }
        pointers.push(pointer);
    }
    walk(json, String::new(), &mut pointers);
    let mut mutants = Vec::new();
    for pointer in &pointers {
        for replacement in replacements {
            let mut mutant = json.clone();
            *mutant.pointer_mut(pointer).unwrap() = replacement.clone();
            mutants.push(mutant);
            if json.pointer(pointer).unwrap().is_object() {
                for keyword in keywords {
                    let mut mutant = json.clone();
                    mutant
                        .pointer_mut(pointer)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .insert(keyword.to_string(), replacement.clone());
                    mutants.push(mutant);
                }
            }
        }
    }
    mutants
}

#[test]
fn the_quick_route_vouches_for_no_schema_the_metaschema_refuses() {
    let replacements = [
        json!(3),
        json!(-1),
        json!(0),
        json!(1.5),
        json!("x"),
        json!("string"),
        json!("(a"),
        json!("#/$defs/rotate"),
        json!([]),
        json!(["string", "string"]),
        json!(["string", "null"]),
        json!([3]),
        json!({}),
        json!({"type": "nope"}),
        json!(true),
        json!(null),
    ];
    let keywords = [
        "type",
        "minimum",
        "minLength",
        "multipleOf",
        "pattern",
        "required",
        "allOf",
        "items",
        "properties",
        "$ref",
        "$id",
        "$schema",
        "dependentRequired",
        "x-unknown",
    ];
    let mut schemas: Vec<Value> = standard_schemas().into_iter().map(|(_, json)| json).collect();
    schemas.push(logging_schema().json);
    let (mut vouched, mut refused) = (0, 0);
    // Two standard schemas and the test schema mutated every way (the others take as long and
    // add no keyword these lack).
    for json in
        schemas.iter().filter(|json| json.get("$defs").is_some() || json.to_string().contains("pattern")).take(3)
    {
        for mutant in mutants(json, &replacements, &keywords) {
            if plain::plainly_valid(&mutant) {
                vouched += 1;
                if let Err(error) = compile_at(URL, &mutant)
                    && error.contains("not valid against metaschema")
                {
                    panic!("vouched for a schema the metaschema refuses: {mutant}\n{error}");
                }
            } else {
                refused += 1;
            }
        }
    }
    // Both kinds were met (a generator that made no mutant, or no valid one, would test nothing).
    assert!(vouched > 100 && refused > 100, "{vouched} vouched for, {refused} refused");
}

#[test]
fn schemas_off_the_quick_route_are_checked_by_boon() {
    for json in [
        json!({"type": 3}),
        json!({"type": ["string", "string"]}),
        json!({"type": []}),
        json!({"minimum": "1"}),
        json!({"minLength": -1}),
        json!({"minLength": 1.5}),
        json!({"multipleOf": 0}),
        json!({"pattern": "(a"}),
        json!({"pattern": "\\a"}),
        json!({"patternProperties": {"(a": {}}}),
        json!({"required": ["a", "a"]}),
        json!({"allOf": []}),
        json!({"properties": {"a": 3}}),
        json!({"$ref": "other.json"}),
    ] {
        assert!(!plain::plainly_valid(&json), "{json}");
        let message = ConfigSchema::compile(json.clone()).unwrap_err();
        assert!(message.contains("tusk-plugin:///") && !message.contains("json-schema.org/tusk"), "{json}: {message}");
    }
    // Valid, but not plain: compiled by boon alone.
    for json in [
        json!({"$id": "tusk-plugin:///config.schema.json", "type": "object"}),
        json!({"pattern": "a\\\\a"}),
        json!({"x-note": 1}),
        json!({"$schema": "http://json-schema.org/draft-07/schema"}),
    ] {
        assert!(!plain::plainly_valid(&json), "{json}");
        assert!(ConfigSchema::compile(json.clone()).is_ok_and(|schema| !schema.quick), "{json}");
    }
    // Plain, but it does not compile: the error is the full route's.
    let missing = json!({"properties": {"a": {"$ref": "#/$defs/nothing"}}});
    assert!(plain::plainly_valid(&missing));
    let message = ConfigSchema::compile(missing).unwrap_err();
    assert!(message.contains("tusk-plugin:///config.schema.json") && !message.contains("json-schema.org"), "{message}");
}
