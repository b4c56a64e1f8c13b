//! `execute_pipeline(pipeline, data)`: runs a pipeline made by `create_pipeline`.

use tusk_plugin_sdk::{PluginError, SymbolDoc, Value};

use crate::error::PipelineError;
use crate::ops::create_pipeline::PIPELINE_TYPE;
use crate::stages::{Stages, run};

/// Runs the function (arguments as the script gave them).
pub(crate) fn execute(args: &[Value]) -> Result<Value, PluginError> {
    if args.len() > 2 {
        return Err(PipelineError::TooManyArguments { operator: "execute_pipeline", max: 2, got: args.len() }.into());
    }
    let pipeline = args.first().ok_or(PipelineError::MissingArgument("pipeline"))?;
    let data = args.get(1).ok_or(PipelineError::MissingArgument("data"))?;
    let stages = pipeline
        .as_object()
        .filter(|object| object.get("type").is_some_and(|kind| kind.as_str() == Some(PIPELINE_TYPE)))
        .and_then(|object| object.get("stages"))
        .ok_or(PipelineError::NotAPipeline { found: pipeline.type_name() })?;
    // Checked again: the value lives in the script, which may have built or changed it.
    Ok(run(data, 1, Stages::parse(&stages, 0, 1)?)?)
}

/// What `tusk plugin docs` shows and `tusk plugin check` runs.
pub(crate) fn doc() -> SymbolDoc {
    SymbolDoc {
            signature: "execute_pipeline(pipeline, data)".to_string(),
            summary: "Streams an array, a lazy range, an object's values or a string's characters through a pipeline made by create_pipeline."
                .to_string(),
            examples: [
                r#"execute_pipeline(create_pipeline([["filter", x => x > 2], ["map", x => x * 2]]), [3, 1, 4, 1, 5]) => [6, 8, 10]"#,
                r#"execute_pipeline(create_pipeline([["map", x => x * x], ["reduce", (a, x) => a + x, 0]]), range(1, 4)) => 14"#,
            ]
            .map(str::to_string)
            .to_vec(),
            ..SymbolDoc::default()
        }
}
