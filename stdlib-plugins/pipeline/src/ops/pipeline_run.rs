//! `@pipeline.run(data, stages)`: several stages in one pass over the data.

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::error::PipelineError;
use crate::stages::{Stages, parse_options, run};

/// `@pipeline.run`.
pub(crate) struct PipelineRun;

impl TuskOperator for PipelineRun {
    fn name(&self) -> &str {
        "pipeline.run"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        if args.len() > 3 {
            return Err(PipelineError::TooManyArguments { operator: "@pipeline.run", max: 3, got: args.len() }.into());
        }
        let data = args.first().ok_or(PipelineError::MissingArgument("data"))?;
        let list = args.get(1).ok_or(PipelineError::MissingArgument("stages"))?;
        let workers = args.get(2).map(|options| parse_options(options, "", 2)).transpose()?.unwrap_or(1);
        Ok(run(data, 0, Stages::parse(list, 1, workers)?)?)
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@pipeline.run(data, [{parallel: N}, [stage, fn], …, [\"reduce\", fn, init]][, {parallel: N}])".to_string(),
            summary: "Streams the data through several stages in one pass (no intermediate arrays); reduce or group may only come last."
                .to_string(),
            examples: [
                r#"@pipeline.run(range(1, 6), [["map", x => x * x], ["filter", x => x % 2 == 1]]) => [1, 9, 25]"#,
                r#"@pipeline.run(range(0, 100), [["filter", x => x % 2 == 0], ["reduce", (acc, x) => acc + x, 0]]) => 2450"#,
                r#"@pipeline.run(range(0, 10), [{parallel: 2}, ["map", x => x * 3], ["filter", x => x % 2 == 0]]) => [0, 6, 12, 18, 24]"#,
                r#"@pipeline.run(["apple", "avocado", "banana"], [["map", s => upper(s)], ["group", s => len(s)]]) => {"5": ["APPLE"], "7": ["AVOCADO"], "6": ["BANANA"]}"#,
            ]
            .map(str::to_string)
            .to_vec(),
            ..SymbolDoc::default()
        }
    }
}
