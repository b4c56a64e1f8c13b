//! A plugin's configuration: the user's `[plugins.NAME]` table from the tusk config file,
//! overlaid by the script's `[plugins.NAME]` section, completed with the defaults of the
//! plugin's JSON Schema (2020-12) and validated against it with boon.
//!
//! Errors name the offending field as a JSON pointer (`/sink/path`) and say what was expected;
//! a field that came from the user's config file is also located in it, so the rendered
//! diagnostic points at the line to fix.
//!
//! Diagnostic codes: X050 the configuration does not match the schema, X051 the schema cannot
//! be read or compiled, X052 the user's config file has the wrong shape (syntax errors are
//! X001).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use toml::de::DeValue;
use tusk_diagnostics::{Diagnostic, Location, SourceId, SourceMap, Span, closest_name};

use crate::toml_check::{self, Checker, to_json};

mod plain;

/// The user's tusk configuration file (`~/.config/tusk/config.toml`), as far as plugins are
/// concerned: `[plugins.NAME]` tables and `[plugin_preferences]`. Other tables belong to other
/// parts of tusk and are left alone.
#[derive(Clone, Debug, Default)]
pub struct UserConfig {
    plugins: HashMap<String, Value>,
    preferences: HashMap<String, String>,
    /// Per plugin: JSON pointer (relative to the plugin's table) and span of every value.
    spans: HashMap<String, Vec<(String, Range<usize>)>>,
    source: Option<SourceId>,
    /// The file, for help texts.
    path: Option<PathBuf>,
}

impl UserConfig {
    /// Reads the file at `path` (a missing file is an empty configuration).
    pub fn load(path: &Path, sources: &mut SourceMap) -> Result<UserConfig, Vec<Diagnostic>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(UserConfig::default()),
            Err(error) => {
                return Err(vec![
                    Diagnostic::error(format!("cannot read {}: {error}", path.display()))
                        .with_code("X052")
                        .with_help("fix the file's permissions or remove it"),
                ]);
            }
        };
        let source = sources.add(path.display().to_string(), text.as_str());
        let mut config = UserConfig::parse(&text, source)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads configuration `text` whose id in the caller's source map is `source`.
    pub fn parse(text: &str, source: SourceId) -> Result<UserConfig, Vec<Diagnostic>> {
        let document = toml_check::parse(text, source)?;
        let mut checker = Checker::new(source);
        let mut config = UserConfig { source: Some(source), ..UserConfig::default() };
        if let Some(plugins) = document.get_ref().get("plugins")
            && let Some(table) = checker.table(plugins, "[plugins]", "[plugins.logging]")
        {
            for (name, value) in table.iter() {
                let name: &str = name.get_ref();
                if !matches!(value.get_ref(), DeValue::Table(_)) {
                    checker.wrong_type(value, &format!("`plugins.{name}`"), "a table", &format!("[plugins.{name}]"));
                    continue;
                }
                let mut spans = Vec::new();
                let json = to_json(value, &mut String::new(), &mut spans);
                config.plugins.insert(name.to_string(), json);
                config.spans.insert(name.to_string(), spans);
            }
        }
        if let Some(preferences) = document.get_ref().get("plugin_preferences")
            && let Some(table) = checker.table(preferences, "[plugin_preferences]", "[plugin_preferences]")
        {
            for (symbol, value) in table.iter() {
                match value.get_ref() {
                    DeValue::String(plugin) => {
                        config.preferences.insert(symbol.get_ref().to_string(), plugin.to_string());
                    }
                    _ => checker.wrong_type(
                        value,
                        &format!("`{}` in [plugin_preferences]", symbol.get_ref()),
                        "a plugin name",
                        "\"@log\" = \"logging\"",
                    ),
                }
            }
        }
        let mut diagnostics = checker.diagnostics;
        for diagnostic in &mut diagnostics {
            diagnostic.code = Some("X052");
        }
        if diagnostics.is_empty() { Ok(config) } else { Err(diagnostics) }
    }

    /// The `[plugins.NAME]` table of `plugin`, as JSON.
    pub fn plugin(&self, plugin: &str) -> Option<&Value> {
        self.plugins.get(plugin)
    }

    /// `[plugin_preferences]`: which plugin provides a symbol several plugins declare
    /// (`"@log" = "logging"`), for `discover`.
    pub fn preferences(&self) -> &HashMap<String, String> {
        &self.preferences
    }

    /// Where the value at `pointer` of `plugin`'s table is, or its nearest enclosing table.
    fn locate(&self, plugin: &str, pointer: &str) -> Option<Location> {
        let spans = self.spans.get(plugin)?;
        let mut pointer = pointer;
        loop {
            if let Some((_, range)) = spans.iter().find(|(candidate, _)| candidate == pointer) {
                return Some(Location::new(self.source?, Span::from_range(range.clone())));
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }
}

/// A compiled configuration schema, with its JSON kept for default filling.
pub struct ConfigSchema {
    json: Value,
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
    /// Compiled on the quick route (see [`ConfigSchema::compile`]): a failed validation is
    /// repeated on the schema compiled as boon compiles it alone, for its error texts.
    quick: bool,
}

impl fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSchema").field("json", &self.json).finish_non_exhaustive()
    }
}

/// The address of every plugin's schema. A fixed URL: the schema's identity does not depend on
/// where the plugin is installed, and no file system path leaks into error messages.
const URL: &str = "tusk-plugin:///config.schema.json";

/// The address of a schema [`plain::plainly_valid`] vouches for: boon checks every schema
/// against its draft's metaschema except those under json-schema.org (its own metaschemas),
/// and a plain schema refers to nothing outside itself, so the address changes nothing else.
const QUICK_URL: &str = "https://json-schema.org/tusk-plugin/config.schema.json";

/// Refuses every external `$ref`: a plugin's schema is one self-contained file, and resolving
/// references would read files (or URLs) the plugin names.
struct NoExternalReferences;

impl boon::UrlLoader for NoExternalReferences {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("external references are not supported ({url}); keep the schema in one file").into())
    }
}

impl ConfigSchema {
    /// Reads and compiles the schema file of `plugin`.
    pub fn load(plugin: &str, path: &Path) -> Result<ConfigSchema, ConfigError> {
        let schema_error =
            |message: String| ConfigError::Schema { plugin: plugin.to_string(), path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|error| schema_error(format!("cannot read it: {error}")))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|error| schema_error(format!("it is not valid JSON: {error}")))?;
        ConfigSchema::compile(json).map_err(schema_error)
    }

    /// Compiles a schema given as JSON.
    ///
    /// boon checks a schema against its draft's metaschema before compiling it, and builds all
    /// of its metaschemas the first time it does, which costs more than everything else a
    /// plugin's first load does. A schema that [`plain::plainly_valid`] vouches for (every
    /// schema the standard plugins ship) is compiled under an address boon does not check
    /// against a metaschema, since the check has been made; anything else, and any schema that
    /// then fails to compile, takes the full route, whose errors are the ones reported.
    pub fn compile(json: Value) -> Result<ConfigSchema, String> {
        if plain::plainly_valid(&json)
            && let Ok((schemas, index)) = compile_at(QUICK_URL, &json)
        {
            return Ok(ConfigSchema { json, schemas, index, quick: true });
        }
        let (schemas, index) = compile_at(URL, &json)?;
        Ok(ConfigSchema { json, schemas, index, quick: false })
    }

    /// Fills absent properties with the schema's `default`s, recursively: into nested objects
    /// (creating an absent object when its schema is `"type": "object"` and something inside
    /// has a default), array items, `allOf` branches and local `$ref`s.
    pub fn fill_defaults(&self, value: &mut Value) {
        fill(&self.json, &self.json, value, 0);
    }

    /// Checks `value` against the schema; every failing leaf becomes one issue.
    pub fn validate(&self, value: &Value) -> Result<(), Vec<ConfigIssue>> {
        if self.schemas.validate(value, self.index).is_ok() {
            return Ok(());
        }
        // The quick route's address would show in the few texts that name the schema (a
        // reference cycle): an invalid configuration is rare, and is described as before, by
        // the schema compiled at its usual address.
        let full = if self.quick { compile_at(URL, &self.json).ok() } else { None };
        let (schemas, index) = full.as_ref().map_or((&self.schemas, self.index), |(schemas, index)| (schemas, *index));
        let Err(error) = schemas.validate(value, index) else {
            return Ok(());
        };
        let mut issues = Vec::new();
        collect_issues(&error, value, &self.json, &mut issues);
        // boon reports in keyword order; field order reads better and stays stable.
        issues.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        issues.dedup();
        Err(issues)
    }
}

/// Compiles `json` as the resource at `url`, with the 2020-12 draft and format assertions.
fn compile_at(url: &str, json: &Value) -> Result<(boon::Schemas, boon::SchemaIndex), String> {
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler.enable_format_assertions();
    compiler.use_loader(Box::new(NoExternalReferences));
    compiler.add_resource(url, json.clone()).map_err(|error| format!("{error:#}"))?;
    let mut schemas = boon::Schemas::new();
    let index =
        compiler.compile(url, &mut schemas).map_err(|error| format!("it is not a valid JSON Schema: {error:#}"))?;
    Ok((schemas, index))
}

/// Follows `$ref`s into the same document (`#/$defs/x`); the depth bound stops reference loops.
fn resolve_ref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str).and_then(|reference| reference.strip_prefix('#')) {
            Some(pointer) => match root.pointer(pointer) {
                Some(target) => schema = target,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

fn fill(root: &Value, schema: &Value, value: &mut Value, depth: usize) {
    // Schemas can nest (or refer to themselves) arbitrarily; configurations are shallow.
    if depth > 64 {
        return;
    }
    let schema = resolve_ref(root, schema);
    if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
        for branch in branches {
            fill(root, branch, value, depth + 1);
        }
    }
    match value {
        Value::Object(object) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (key, property) in properties {
                let property = resolve_ref(root, property);
                if !object.contains_key(key) {
                    if let Some(default) = property.get("default") {
                        object.insert(key.clone(), default.clone());
                    } else if property.get("type").and_then(Value::as_str) == Some("object") {
                        let mut nested = Value::Object(Map::new());
                        fill(root, property, &mut nested, depth + 1);
                        if nested.as_object().is_some_and(|nested| !nested.is_empty()) {
                            object.insert(key.clone(), nested);
                        }
                        continue;
                    }
                }
                if let Some(child) = object.get_mut(key) {
                    fill(root, property, child, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|items| items.is_object()) {
                for item in items {
                    fill(root, item_schema, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// One way the configuration fails its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The offending field as a JSON pointer (`/level`, `/sinks/0/path`; `` for the whole).
    pub pointer: String,
    /// What is wrong, starting with the field: "`/level` must be one of ...".
    pub message: String,
    /// A nearby known field, for unknown fields.
    pub suggestion: Option<String>,
    /// Where the value is in the user's config file, when it came from there.
    pub location: Option<Location>,
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn type_with_article(name: &str) -> String {
    match name {
        "integer" | "array" | "object" => format!("an {name}"),
        "null" => "null".to_string(),
        _ => format!("a {name}"),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Turns boon's error tree into flat issues with our wording.
fn collect_issues(
    error: &boon::ValidationError<'_, '_>,
    instance: &Value,
    schema: &Value,
    issues: &mut Vec<ConfigIssue>,
) {
    use boon::ErrorKind;
    if !error.causes.is_empty() {
        for cause in &error.causes {
            collect_issues(cause, instance, schema, issues);
        }
        return;
    }
    let pointer = error.instance_location.to_string();
    let field = if pointer.is_empty() { "the configuration".to_string() } else { format!("`{pointer}`") };
    let found = instance.pointer(&pointer);
    let found_text = found.map_or_else(String::new, |value| format!(", found {value}"));
    let mut push = |pointer: String, message: String, suggestion: Option<String>| {
        issues.push(ConfigIssue { pointer, message, suggestion, location: None });
    };
    match &error.kind {
        ErrorKind::Type { want, .. } => {
            let wanted: Vec<String> = want.iter().map(|t| type_with_article(&t.to_string())).collect();
            let found = found.map_or("nothing", json_type);
            push(pointer, format!("{field} must be {}, found {}", wanted.join(" or "), type_with_article(found)), None);
        }
        ErrorKind::Enum { want } => {
            let choices: Vec<String> = want.iter().map(Value::to_string).collect();
            push(pointer, format!("{field} must be one of {}{found_text}", choices.join(", ")), None);
        }
        ErrorKind::Const { want } => push(pointer.clone(), format!("{field} must be {want}{found_text}"), None),
        ErrorKind::Required { want } => {
            for property in want {
                let child = format!("{pointer}/{}", escape_pointer(property));
                push(child.clone(), format!("`{child}` is required but missing"), None);
            }
        }
        ErrorKind::AdditionalProperties { got } => {
            // The error's schema location is the object schema whose `properties` are allowed.
            let allowed: Vec<String> = error
                .schema_url
                .split_once('#')
                .and_then(|(_, pointer)| schema.pointer(pointer))
                .and_then(|object| object.get("properties"))
                .and_then(Value::as_object)
                .map(|properties| properties.keys().cloned().collect())
                .unwrap_or_default();
            for property in got {
                let child = format!("{pointer}/{}", escape_pointer(property));
                let suggestion = closest_name(property, allowed.iter().map(String::as_str)).map(str::to_string);
                let known =
                    if allowed.is_empty() { String::new() } else { format!(" (known fields: {})", allowed.join(", ")) };
                push(child.clone(), format!("`{child}` is not a known field{known}"), suggestion);
            }
        }
        ErrorKind::Minimum { want, .. } => push(pointer, format!("{field} must be at least {want}{found_text}"), None),
        ErrorKind::Maximum { want, .. } => push(pointer, format!("{field} must be at most {want}{found_text}"), None),
        ErrorKind::ExclusiveMinimum { want, .. } => {
            push(pointer, format!("{field} must be greater than {want}{found_text}"), None)
        }
        ErrorKind::ExclusiveMaximum { want, .. } => {
            push(pointer, format!("{field} must be less than {want}{found_text}"), None)
        }
        ErrorKind::MinLength { want, .. } => {
            push(pointer, format!("{field} must be at least {want} characters long{found_text}"), None)
        }
        ErrorKind::MaxLength { want, .. } => {
            push(pointer, format!("{field} must be at most {want} characters long{found_text}"), None)
        }
        ErrorKind::Pattern { want, .. } => {
            push(pointer, format!("{field} must match the pattern {want:?}{found_text}"), None)
        }
        ErrorKind::MinItems { want, got } => {
            push(pointer, format!("{field} must have at least {want} items, found {got}"), None)
        }
        ErrorKind::MaxItems { want, got } => {
            push(pointer, format!("{field} must have at most {want} items, found {got}"), None)
        }
        ErrorKind::Format { want, .. } => push(pointer, format!("{field} must be a valid {want}{found_text}"), None),
        other => push(pointer, format!("{field}: {other}"), None),
    }
}

/// Why a plugin's configuration cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The schema file cannot be read or compiled: `config.schema.json` holding `{"type": 3}`.
    Schema {
        /// The plugin.
        plugin: String,
        /// The schema file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration does not match the schema: `level = "loud"` where the schema has
    /// `"level": {"enum": ["debug", "info"]}`.
    Invalid {
        /// The plugin.
        plugin: String,
        /// Every failing field.
        issues: Vec<ConfigIssue>,
        /// The user's config file, for help texts.
        config_file: Option<PathBuf>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Schema { plugin, path, message } => {
                write!(f, "configuration schema {} of plugin `{plugin}` is unusable: {message}", path.display())
            }
            ConfigError::Invalid { plugin, issues, .. } => {
                let messages: Vec<&str> = issues.iter().map(|issue| issue.message.as_str()).collect();
                write!(f, "invalid configuration for plugin `{plugin}`: {}", messages.join("; "))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// One diagnostic per issue (or one for a schema problem); issues from the user's config
    /// file point into it.
    pub fn to_diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Schema { .. } => vec![
                Diagnostic::error(self.to_string())
                    .with_code("X051")
                    .with_help("this is a bug in the plugin; report it to its author"),
            ],
            ConfigError::Invalid { plugin, issues, config_file } => issues
                .iter()
                .map(|issue| {
                    let key = issue.pointer.trim_start_matches('/').replace('/', ".");
                    let place = match (&issue.location, config_file) {
                        (Some(_), Some(file)) => format!("under [plugins.{plugin}] in {}", file.display()),
                        (Some(_), None) => format!("under [plugins.{plugin}] in the tusk config file"),
                        (None, _) => format!("in the script's `plugins.{plugin}` section or under [plugins.{plugin}] in the tusk config file"),
                    };
                    let help = match &issue.suggestion {
                        Some(suggestion) => format!("did you mean `{suggestion}`? change it {place}"),
                        None if key.is_empty() => format!("fix the configuration {place}"),
                        None => format!("fix `{key}` {place}"),
                    };
                    let mut diagnostic =
                        Diagnostic::error(format!("invalid configuration for plugin `{plugin}`: {}", issue.message))
                            .with_code("X050")
                            .with_help(help);
                    if let Some(location) = issue.location {
                        diagnostic = diagnostic.with_primary(location, "this value");
                    }
                    diagnostic
                })
                .collect(),
        }
    }
}

/// Overlays `overlay` on `base`: objects merge key by key (recursively), anything else in
/// `overlay` replaces what `base` has.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Builds the configuration of `plugin`: the user's `[plugins.NAME]`, overlaid by the script's
/// section (the script wins), completed with the schema's defaults and validated against it.
/// Without a schema the merged configuration is returned as it is.
pub fn configure(
    plugin: &str,
    schema: Option<&ConfigSchema>,
    user: Option<&UserConfig>,
    script: Option<&Value>,
) -> Result<Value, ConfigError> {
    let mut config = Value::Object(Map::new());
    if let Some(user_table) = user.and_then(|user| user.plugin(plugin)) {
        merge(&mut config, user_table);
    }
    if let Some(script) = script {
        merge(&mut config, script);
    }
    let Some(schema) = schema else {
        return Ok(config);
    };
    schema.fill_defaults(&mut config);
    match schema.validate(&config) {
        Ok(()) => Ok(config),
        Err(mut issues) => {
            for issue in &mut issues {
                let from_script = script.and_then(|script| script.pointer(&issue.pointer)).is_some();
                if !from_script {
                    issue.location = user.and_then(|user| user.locate(plugin, &issue.pointer));
                }
            }
            Err(ConfigError::Invalid {
                plugin: plugin.to_string(),
                issues,
                config_file: user.and_then(|user| user.path.clone()),
            })
        }
    }
}

#[cfg(test)]
mod tests;
