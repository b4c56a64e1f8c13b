//! The template plugin: a plugin that registers the operator `@my_operator` and the function
//! `my_function`. Copy it to start a plugin (or run `tusk plugin new NAME`).

use tusk_plugin_sdk::{PluginContext, PluginError, SymbolDoc, TuskPlugin, Value, export_plugin};

/// The plugin.
#[derive(Default)]
pub struct MyPlugin;

impl TuskPlugin for MyPlugin {
    fn name(&self) -> &str {
        "my_plugin"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let greet_doc = SymbolDoc {
            signature: "@my_operator(name)".to_string(),
            summary: "A greeting for `name` (default: world).".to_string(),
            examples: vec!["@my_operator(\"tusk\") => \"Hello, tusk!\"".to_string()],
            ..SymbolDoc::default()
        };
        context.register_operator_with("my_operator", greet_doc, greet)?;
        context.register_function("my_function", my_function)?;
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// `@my_operator(name)`: a greeting.
fn greet(args: &[Value]) -> Result<Value, PluginError> {
    let name = match args.first() {
        Some(value) => {
            value.as_str().ok_or_else(|| PluginError::message("the name must be a string").at_argument(0))?
        }
        None => "world",
    };
    Ok(Value::from(format!("Hello, {name}!")))
}

/// `my_function(x)`: twice the number.
fn my_function(args: &[Value]) -> Result<Value, PluginError> {
    match args.first() {
        Some(value) => match (value.as_int(), value.as_float()) {
            (Some(n), _) => {
                n.checked_mul(2).map(Value::from).ok_or_else(|| PluginError::message("too large").at_argument(0))
            }
            (None, Some(x)) => Ok(Value::from(x * 2.0)),
            _ => Err(PluginError::message(format!("expected a number, found {}", value.type_name())).at_argument(0)),
        },
        None => Err(PluginError::missing_argument("x")),
    }
}

export_plugin!(MyPlugin);
