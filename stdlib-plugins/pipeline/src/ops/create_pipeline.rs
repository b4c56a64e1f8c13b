//! `create_pipeline(stages)`: a reusable pipeline, checked once.
//!
//! The pipeline is a plain script value, `{type: "pipeline", stages: [["map", f], …]}`, not a
//! handle kept by the plugin: a plugin may not keep script functions past the call that gave
//! them to it (the host refuses them in a later call), so the functions stay in the script,
//! inside the value, and come back with it in each `execute_pipeline` call.

use tusk_plugin_sdk::{PluginError, SymbolDoc, Value};

use crate::error::PipelineError;
use crate::stages::Stages;

/// The `type` of a pipeline value.
pub(crate) const PIPELINE_TYPE: &str = "pipeline";

/// Runs the function (arguments as the script gave them).
pub(crate) fn execute(args: &[Value]) -> Result<Value, PluginError> {
    if args.len() > 1 {
        return Err(PipelineError::TooManyArguments { operator: "create_pipeline", max: 1, got: args.len() }.into());
    }
    let stages = args.first().ok_or(PipelineError::MissingArgument("stages"))?;
    let pipeline = Stages::parse(stages, 0, 1)?;
    Ok(Value::object(vec![("type", Value::from(PIPELINE_TYPE)), ("stages", pipeline.to_value())]))
}

/// What `tusk plugin docs` shows and `tusk plugin check` runs.
pub(crate) fn doc() -> SymbolDoc {
    SymbolDoc {
            signature: "create_pipeline([[stage, fn], …, [\"reduce\", fn, init]])".to_string(),
            summary: "Checks the stages (as @pipeline.run takes them) and returns a reusable pipeline, the object {type: \"pipeline\", stages: […]}, for execute_pipeline."
                .to_string(),
            examples: [
                r#"create_pipeline([["filter", x => x > 2], ["map", x => x * 2]]).type => "pipeline""#,
                r#"len(create_pipeline([["map", x => x + 1], ["reduce", (a, x) => a + x, 0]]).stages) => 2"#,
            ]
            .map(str::to_string)
            .to_vec(),
            ..SymbolDoc::default()
        }
}
