//! The pipeline plugin's errors, converted to the SDK's `PluginError` at the boundary (the
//! one `From` impl below), so every message is written in one place.

use tusk_plugin_sdk::PluginError;

/// The stage names, in the order error messages list them.
pub(crate) const STAGE_NAMES: &str = "map, filter, reduce and group";

/// Why a pipeline could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
    /// `@pipeline()`: a required argument is missing.
    #[error("{0}")]
    MissingArgument(&'static str),
    /// `@pipeline("map", [1], x => x, 0, 1)`.
    #[error("{operator} takes at most {max} arguments, but {got} were given")]
    TooManyArguments { operator: &'static str, max: usize, got: usize },
    /// `@pipeline("sort", [1], x => x)`.
    #[error("{prefix}unknown stage `{name}`; the stages are {}", STAGE_NAMES)]
    UnknownStage { prefix: String, name: String },
    /// `@pipeline(1, [1], x => x)`.
    #[error("{prefix}the stage name must be a string, found {found}")]
    StageNotAString { prefix: String, found: &'static str, argument: usize },
    /// `@pipeline("map", [1], 5)`.
    #[error("{prefix}the stage function must be a function, found {found}")]
    NotAFunction { prefix: String, found: &'static str, argument: usize },
    /// `@pipeline("map", 5, x => x)`.
    #[error("@pipeline works on arrays, ranges, objects and strings, not {found}")]
    NotIterable { found: &'static str, argument: usize },
    /// `@pipeline("map", [1], x => x, 0)`.
    #[error("{prefix}`{stage}` takes no initial value; only reduce does")]
    UnexpectedInit { prefix: String, stage: &'static str, argument: usize },
    /// `@pipeline("reduce", [], (a, x) => a + x)`.
    #[error("reduce of an empty collection needs an initial value")]
    EmptyReduce,
    /// `@pipeline("group", [1], x => [x])`.
    #[error("group keys must be strings, numbers, booleans or null; the function returned {found}")]
    BadGroupKey { found: &'static str },
    /// `@pipeline.run([1], 5)`.
    #[error("the stages must be an array of stages like [\"map\", f], found {found}")]
    StagesNotAnArray { found: &'static str, argument: usize },
    /// `@pipeline.run([1], [])`.
    #[error("the pipeline has no stages")]
    NoStages { argument: usize },
    /// `@pipeline("parallel", [1], f)`: the workers are an option, not a stage.
    #[error("{prefix}`parallel` is not a stage: put {{parallel: N}} before the stages that may run on N workers")]
    ParallelStage { prefix: String },
    /// `@pipeline("map", [1], f, {parallel: 0})`.
    #[error("{prefix}{detail}")]
    BadOptions { prefix: String, detail: String, argument: usize },
    /// `execute_pipeline([["map", f]], data)`.
    #[error("execute_pipeline takes a pipeline made by create_pipeline, found {found}")]
    NotAPipeline { found: &'static str },
    /// `@pipeline.run([1], [["map"]])`, `@pipeline.run([1], ["map"])`.
    #[error("stage {index}: expected [name, function] or [\"reduce\", function, initial value], found {found}")]
    BadStage { index: usize, found: String, argument: usize },
    /// `@pipeline.run([1], [["reduce", f], ["map", g]])`.
    #[error("stage {index}: `{stage}` ends the pipeline, so no stage may follow it")]
    StageAfterEnd { index: usize, stage: &'static str },
    /// Ctrl-C or a deadline while the pipeline ran.
    #[error("the pipeline was cancelled")]
    Cancelled,
    /// A stage function raised an error: its message passes through unchanged.
    #[error(transparent)]
    Script(PluginError),
}

impl From<PipelineError> for PluginError {
    fn from(error: PipelineError) -> PluginError {
        let message = error.to_string();
        match error {
            PipelineError::MissingArgument(_) => PluginError::missing_argument(message),
            PipelineError::UnknownStage { .. } | PipelineError::ParallelStage { .. } => {
                PluginError::invalid_operation(message)
            }
            PipelineError::Script(inner) => inner,
            PipelineError::StageNotAString { argument, .. }
            | PipelineError::NotAFunction { argument, .. }
            | PipelineError::NotIterable { argument, .. }
            | PipelineError::UnexpectedInit { argument, .. }
            | PipelineError::BadOptions { argument, .. } => PluginError::message(message).at_argument(argument),
            PipelineError::StagesNotAnArray { argument, .. }
            | PipelineError::NoStages { argument }
            | PipelineError::BadStage { argument, .. } => PluginError::message(message).at_argument(argument),
            PipelineError::NotAPipeline { .. } => PluginError::message(message).at_argument(0),
            _ => PluginError::message(message),
        }
    }
}
