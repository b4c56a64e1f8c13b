//! The plugin template: a plugin that registers the operator `@my_operator` and the function
//! `my_function`. Copy it to start a plugin (or run `tusk plugin new NAME`).

use tusk_plugin_sdk::{OperatorError, PluginContext, PluginError, TuskOperator, TuskPlugin, Value, export_plugin};

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
        context.register_operator(MyOperator)?;
        context.register_function("my_function", my_function)?;
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// `@my_operator(name)`: a greeting.
pub struct MyOperator;

impl TuskOperator for MyOperator {
    fn name(&self) -> &str {
        "my_operator"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, OperatorError> {
        let name = match args.first() {
            Some(value) => value.as_str().ok_or_else(|| OperatorError::argument(0, "the name must be a string"))?,
            None => "world",
        };
        Ok(Value::from(format!("Hello, {name}!")))
    }

    fn signature(&self) -> String {
        "@my_operator(name)".to_string()
    }

    fn summary(&self) -> String {
        "A greeting for `name` (default: world).".to_string()
    }

    fn examples(&self) -> Vec<String> {
        vec!["@my_operator(\"tusk\") => \"Hello, tusk!\"".to_string()]
    }
}

/// `my_function(x)`: twice the number.
fn my_function(args: &[Value]) -> Result<Value, OperatorError> {
    match args.first() {
        Some(value) => match (value.as_int(), value.as_float()) {
            (Some(n), _) => n.checked_mul(2).map(Value::from).ok_or_else(|| OperatorError::argument(0, "too large")),
            (None, Some(x)) => Ok(Value::from(x * 2.0)),
            _ => Err(OperatorError::argument(0, format!("expected a number, found {}", value.type_name()))),
        },
        None => Err(OperatorError::MissingArgument("x".to_string())),
    }
}

export_plugin!(MyPlugin);
