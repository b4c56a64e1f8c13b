//! `@pipeline.run(data, stages)`: several stages in one pass over the data.

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::error::PipelineError;
use crate::stages::{Stages, run};

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
        Ok(run(data, 0, Stages::parse(list, 1)?)?)
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
