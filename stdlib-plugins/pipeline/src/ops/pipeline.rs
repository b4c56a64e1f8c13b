//! `@pipeline(stage, data, fn[, init])`: one stage over an array, range, object or string.

use tusk_plugin_sdk::{PluginError, SymbolDoc, TuskOperator, Value};

use crate::error::PipelineError;
use crate::stages::{StageSource, Stages, parse_options, parse_stage, run};

/// `@pipeline`.
pub(crate) struct Pipeline;

impl TuskOperator for Pipeline {
    fn name(&self) -> &str {
        "pipeline"
    }

    fn execute(&self, args: &[Value]) -> Result<Value, PluginError> {
        let required = |index: usize, name: &'static str| args.get(index).ok_or(PipelineError::MissingArgument(name));
        if args.len() > 4 {
            return Err(PipelineError::TooManyArguments { operator: "@pipeline", max: 4, got: args.len() }.into());
        }
        let stage_name = required(0, "stage")?;
        let data = required(1, "data")?;
        let function = required(2, "fn")?;
        let source = StageSource { prefix: String::new(), arguments: [0, 2, 3] };
        // A fourth argument is reduce's initial value, or the options of the other stages.
        let (init, options) = match args.get(3) {
            Some(extra) if stage_name.as_str() != Some("reduce") && extra.as_object().is_some() => (None, Some(extra)),
            extra => (extra, None),
        };
        let stage = parse_stage(stage_name, function, init, &source)?;
        let workers = options.map(|options| parse_options(options, "", 3)).transpose()?.unwrap_or(1);
        Ok(run(data, 1, Stages::single(stage, workers))?)
    }

    fn doc(&self) -> SymbolDoc {
        SymbolDoc {
            signature: "@pipeline(stage, data, fn[, init | {parallel: N}])".to_string(),
            summary: "Runs one stage (map, filter, reduce or group) of `fn` over an array, a lazy range, an object's values or a string's characters; {parallel: N} runs map, filter and group's keys on N workers."
                .to_string(),
            examples: [
                r#"@pipeline("map", [1, 2, 3], x => x * 10) => [10, 20, 30]"#,
                r#"@pipeline("filter", range(0, 10), x => x % 3 == 0) => [0, 3, 6, 9]"#,
                r#"@pipeline("reduce", range(0, 1000), (acc, x) => acc + x, 0) => 499500"#,
                r#"@pipeline("reduce", ["a", "b", "c"], (acc, x) => acc + x) => "abc""#,
                r#"@pipeline("group", [1, 2, 3, 4, 5], x => x % 2 == 0 ? "even" : "odd") => {"odd": [1, 3, 5], "even": [2, 4]}"#,
                r#"@pipeline("map", {a: 1, b: 2}, x => x + 1) => {"a": 2, "b": 3}"#,
                r#"@pipeline("map", range(0, 5), x => x * x, {parallel: 2}) => [0, 1, 4, 9, 16]"#,
            ]
            .map(str::to_string)
            .to_vec(),
            ..SymbolDoc::default()
        }
    }
}
