//! `@pipeline.run(data, stages)`: several stages in one pass over the data.

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::error::PipelineError;
use crate::stages::{Stage, StageSource, parse_stage, run};

/// `@pipeline.run`.
pub(crate) struct PipelineRun;

impl TuskOperator for PipelineRun {
    fn name(&self) -> &str {
        "pipeline.run"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        if args.len() > 2 {
            return Err(PipelineError::TooManyArguments { operator: "@pipeline.run", max: 2, got: args.len() }.into());
        }
        let data = args.first().ok_or(PipelineError::MissingArgument("data"))?;
        let list = args.get(1).ok_or(PipelineError::MissingArgument("stages"))?;
        Ok(run(data, 0, stages(list)?)?)
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@pipeline.run(data, [[stage, fn], …, [\"reduce\", fn, init]])".to_string(),
            summary: "Streams the data through several stages in one pass (no intermediate arrays); reduce or group may only come last."
                .to_string(),
            examples: [
                r#"@pipeline.run(range(1, 6), [["map", x => x * x], ["filter", x => x % 2 == 1]]) => [1, 9, 25]"#,
                r#"@pipeline.run(range(0, 100), [["filter", x => x % 2 == 0], ["reduce", (acc, x) => acc + x, 0]]) => 2450"#,
                r#"@pipeline.run(["apple", "avocado", "banana"], [["map", s => upper(s)], ["group", s => len(s)]]) => {"5": ["APPLE"], "7": ["AVOCADO"], "6": ["BANANA"]}"#,
            ]
            .map(str::to_string)
            .to_vec(),
            ..SymbolDoc::default()
        }
    }
}

/// Parses `[["map", f], ["reduce", g, 0]]` into stages (all checked before any item flows).
fn stages(list: &Value) -> Result<Vec<Stage>, PipelineError> {
    let Some(list) = list.as_array() else {
        return Err(PipelineError::StagesNotAnArray { found: list.type_name() });
    };
    let mut stages = Vec::with_capacity(list.len());
    for (position, entry) in list.iter().enumerate() {
        let index = position + 1;
        let parts = entry.as_array().filter(|parts| (2..=3).contains(&parts.len()));
        let Some(parts) = parts else {
            return Err(PipelineError::BadStage { index, found: describe(&entry) });
        };
        let (name, function) = (parts.get(0).unwrap_or_else(Value::null), parts.get(1).unwrap_or_else(Value::null));
        let init = parts.get(2);
        let source = StageSource { prefix: format!("stage {index}: "), arguments: [1, 1, 1] };
        stages.push(parse_stage(&name, &function, init.as_ref(), &source)?);
    }
    Ok(stages)
}

/// `an array of 1 item`, `a string`: what a malformed stage was.
fn describe(entry: &Value) -> String {
    match entry.as_array() {
        Some(parts) if parts.len() == 1 => "an array of 1 item".to_string(),
        Some(parts) => format!("an array of {} items", parts.len()),
        None => format!("a value of type {}", entry.type_name()),
    }
}
