//! `tusk convert FILE`: JSON, YAML or TOML data as idiomatic TuskLang (or in another output
//! format). The data becomes a document value first, so every writer's rules apply as they do
//! to evaluated documents; key order is kept in all three readers.

use std::io::Read;

use tusk::{Object, Value};

use crate::cli::{ConvertArgs, DataFormat, Format, Input, OutputArgs};
use crate::commands::{Status, print_value};
use crate::output;

/// Runs the command: exit 1 when the data does not parse or cannot be written in the output
/// format, 2 when it cannot be read or its format is unknown.
pub fn convert(args: &ConvertArgs) -> anyhow::Result<Status> {
    let name = match &args.input {
        Input::Path(path) => path.display().to_string(),
        Input::Stdin => "<stdin>".to_string(),
    };
    let Some(from) = args.from.or_else(|| from_extension(&args.input)) else {
        output::write_stderr(&format!(
            "Error: cannot tell the format of {name}; pass --from json, --from yaml or --from toml\n"
        ));
        return Ok(Status::UsageOrIo);
    };
    let text = match read(&args.input) {
        Ok(text) => text,
        Err(error) => {
            output::write_stderr(&format!("Error: cannot read {name}: {error}\n"));
            return Ok(Status::UsageOrIo);
        }
    };
    let value = match from {
        DataFormat::Json => from_json(&text),
        DataFormat::Yaml => from_yaml(&text),
        DataFormat::Toml => from_toml(&text),
    };
    let value = match value {
        Ok(value) => value,
        Err(message) => {
            output::write_stderr(&format!("Error: {name} is not valid {}: {message}\n", format_name(from)));
            return Ok(Status::ScriptError);
        }
    };
    let output_args = OutputArgs { format: Some(args.format.unwrap_or(Format::Tusk)), compact: args.compact };
    print_value(&value, &output_args, false)
}

fn format_name(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Json => "JSON",
        DataFormat::Yaml => "YAML",
        DataFormat::Toml => "TOML",
    }
}

fn from_extension(input: &Input) -> Option<DataFormat> {
    let Input::Path(path) = input else { return None };
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "json" => Some(DataFormat::Json),
        "yaml" | "yml" => Some(DataFormat::Yaml),
        "toml" => Some(DataFormat::Toml),
        _ => None,
    }
}

fn read(input: &Input) -> std::io::Result<String> {
    match input {
        Input::Path(path) => std::fs::read_to_string(path),
        Input::Stdin => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
    }
}

fn from_json(text: &str) -> Result<Value, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    tusk::to_value(&json).map_err(|error| error.to_string())
}

fn from_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = text.parse().map_err(|error: toml::de::Error| error.to_string().trim_end().to_string())?;
    Ok(toml_value(toml::Value::Table(table)))
}

fn toml_value(value: toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::from(text),
        toml::Value::Integer(n) => Value::Int(n),
        toml::Value::Float(x) => Value::Float(x),
        toml::Value::Boolean(b) => Value::Bool(b),
        // TuskLang has no date type: a date is its RFC 3339 text, as in JSON.
        toml::Value::Datetime(datetime) => Value::from(datetime.to_string()),
        toml::Value::Array(items) => Value::array(items.into_iter().map(toml_value).collect()),
        toml::Value::Table(table) => {
            let mut object = Object::with_capacity(table.len());
            for (key, item) in table {
                object.insert(tusk::Key::new(&key), toml_value(item));
            }
            Value::object(object)
        }
    }
}

fn from_yaml(text: &str) -> Result<Value, String> {
    use yaml_rust2::YamlLoader;
    let mut documents = YamlLoader::load_from_str(text).map_err(|error| error.to_string())?;
    match documents.len() {
        0 => Ok(Value::object(Object::new())),
        1 => yaml_value(documents.remove(0), &mut tusk::path::Path::new()),
        n => Err(format!("it holds {n} documents (separated by `---`); convert one at a time")),
    }
}

fn yaml_value(yaml: yaml_rust2::Yaml, path: &mut tusk::path::Path) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(n) => Value::Int(n),
        Yaml::Real(text) => match Yaml::Real(text.clone()).as_f64() {
            Some(x) => Value::Float(x),
            None => Value::from(text),
        },
        Yaml::String(text) => Value::from(text),
        Yaml::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                path.push_index(index as i64);
                values.push(yaml_value(item, path)?);
                path.pop();
            }
            Value::array(values)
        }
        Yaml::Hash(hash) => {
            let mut object = Object::with_capacity(hash.len());
            for (key, item) in hash {
                let key = match key {
                    Yaml::String(text) | Yaml::Real(text) => text,
                    Yaml::Integer(n) => n.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Null => "null".to_string(),
                    _ => {
                        let at = if path.is_empty() { "the top level".to_string() } else { format!("`{path}`") };
                        return Err(format!("a key at {at} is an array or a mapping; TuskLang keys are text"));
                    }
                };
                path.push_key(&key);
                let value = yaml_value(item, path)?;
                path.pop();
                object.insert(tusk::Key::new(&key), value);
            }
            Value::object(object)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err(format!("`{path}` refers to an anchor that is not defined"));
        }
    })
}
