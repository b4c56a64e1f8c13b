//! The pipeline engine shared by `@pipeline`, `@pipeline.run`, `create_pipeline` and
//! `execute_pipeline`: parsing stages, walking the data once, and finishing with a collection,
//! a fold or groups.
//!
//! Items flow one at a time through every `map` and `filter` stage into the last stage, so a
//! range is never materialised and a `reduce` or `group` at the end allocates nothing per
//! item beyond what the script's functions return. `reduce` and `group` end a pipeline.

use std::collections::HashMap;

use tusk_plugin_sdk::{Kind, Value, host};

use crate::error::PipelineError;

/// How many items pass between two checks of the host's cancel flag (a lambda call costs far
/// more than the check, but the check is still a call across the boundary).
const CANCEL_CHECK_INTERVAL: u64 = 1024;

/// One stage of a pipeline, parsed and checked before any item flows.
pub(crate) enum Stage {
    /// `f(item)` replaces the item.
    Map(Value),
    /// The item goes on when `f(item)` is truthy.
    Filter(Value),
    /// Folds the items with `f(accumulator, item)`; ends the pipeline.
    Reduce(Value, Option<Value>),
    /// Groups the items under the string form of `f(item)`; ends the pipeline.
    Group(Value),
}

impl Stage {
    /// The stage's name as scripts write it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stage::Map(_) => "map",
            Stage::Filter(_) => "filter",
            Stage::Reduce(..) => "reduce",
            Stage::Group(_) => "group",
        }
    }

    fn ends_pipeline(&self) -> bool {
        matches!(self, Stage::Reduce(..) | Stage::Group(_))
    }

    /// The stage as a script writes it: `["map", f]`, `["reduce", f, init]`.
    fn to_value(&self) -> Value {
        let mut parts = vec![Value::from(self.name())];
        match self {
            Stage::Map(function) | Stage::Filter(function) | Stage::Group(function) => parts.push(function.clone()),
            Stage::Reduce(function, init) => {
                parts.push(function.clone());
                parts.extend(init.clone());
            }
        }
        Value::array(parts)
    }
}

/// Checked stages: only the last one may end the pipeline, and there is at least one. Each
/// stage has the number of workers it may run on (1: on the interpreter's thread).
pub(crate) struct Stages {
    pub(crate) stages: Vec<Stage>,
    pub(crate) workers: Vec<usize>,
    /// True for `@pipeline`'s one stage (warnings then say "map", not "stage 1 (map)").
    pub(crate) single: bool,
}

/// The most workers a stage may ask for.
pub(crate) const MAX_WORKERS: i64 = 64;

impl Stages {
    /// One stage (`@pipeline`).
    pub(crate) fn single(stage: Stage, workers: usize) -> Stages {
        Stages { stages: vec![stage], workers: vec![workers], single: true }
    }

    /// Parses `[["map", f], ["reduce", g, 0]]`, argument `argument` of the call: every stage is
    /// checked before any item flows, and errors name the stage (`stage 2: …`). A
    /// `{parallel: N}` entry sets the workers of the stages after it; `workers` is where they
    /// start (an options argument of the call, or 1).
    pub(crate) fn parse(list: &Value, argument: usize, workers: usize) -> Result<Stages, PipelineError> {
        let Some(list) = list.as_array() else {
            return Err(PipelineError::StagesNotAnArray { found: list.type_name(), argument });
        };
        let mut stages = Vec::with_capacity(list.len());
        let mut stage_workers = Vec::with_capacity(list.len());
        let mut workers = workers;
        for (position, entry) in list.iter().enumerate() {
            let index = position + 1;
            let prefix = format!("stage {index}: ");
            if entry.as_object().is_some() {
                workers = parse_options(&entry, &prefix, argument)?;
                continue;
            }
            let parts = entry.as_array().filter(|parts| (2..=3).contains(&parts.len()));
            let Some(parts) = parts else {
                return Err(PipelineError::BadStage { index, found: describe(&entry), argument });
            };
            let (name, function) = (parts.get(0).unwrap_or_else(Value::null), parts.get(1).unwrap_or_else(Value::null));
            let init = parts.get(2);
            let source = StageSource { prefix, arguments: [argument; 3] };
            stages.push(parse_stage(&name, &function, init.as_ref(), &source)?);
            stage_workers.push(workers);
        }
        if stages.is_empty() {
            return Err(PipelineError::NoStages { argument });
        }
        for (index, pair) in stages.windows(2).enumerate() {
            if pair[0].ends_pipeline() {
                return Err(PipelineError::StageAfterEnd { index: index + 2, stage: pair[0].name() });
            }
        }
        Ok(Stages { stages, workers: stage_workers, single: false })
    }

    /// The stages as a script writes them, each a new array holding the same functions, with
    /// a `{parallel: N}` entry wherever the number of workers changes.
    pub(crate) fn to_value(&self) -> Value {
        let mut entries = Vec::with_capacity(self.stages.len());
        let mut workers = 1;
        for (stage, &stage_workers) in self.stages.iter().zip(&self.workers) {
            if stage_workers != workers {
                workers = stage_workers;
                entries.push(Value::object(vec![("parallel", Value::from(workers as i64))]));
            }
            entries.push(stage.to_value());
        }
        Value::array(entries)
    }

    /// True when some stage may run on several workers.
    fn parallel(&self) -> bool {
        self.workers.iter().any(|&workers| workers > 1)
    }
}

/// Reads `{parallel: N}` (argument `argument`): the number of workers.
pub(crate) fn parse_options(options: &Value, prefix: &str, argument: usize) -> Result<usize, PipelineError> {
    let bad = |detail: String| PipelineError::BadOptions { prefix: prefix.to_string(), detail, argument };
    let Some(object) = options.as_object() else {
        return Err(bad(format!("the options must be an object like {{parallel: 4}}, found {}", options.type_name())));
    };
    let mut workers = 1;
    for (key, value) in object.entries() {
        if key != "parallel" {
            return Err(bad(format!("unknown option `{key}`; the one option is `parallel`")));
        }
        workers = match value.as_int() {
            Some(count @ 1..=MAX_WORKERS) => count as usize,
            _ => {
                return Err(bad(format!(
                    "`parallel` must be a whole number of workers from 1 to {MAX_WORKERS}, found {}",
                    crate::parallel::describe_value(&value)
                )));
            }
        };
    }
    Ok(workers)
}

/// `an array of 1 item`, `a string`: what a malformed stage was.
fn describe(entry: &Value) -> String {
    match entry.as_array() {
        Some(parts) if parts.len() == 1 => "an array of 1 item".to_string(),
        Some(parts) => format!("an array of {} items", parts.len()),
        None => format!("a value of type {}", entry.type_name()),
    }
}

/// Where a stage's parts came from, so errors name the right argument and stage.
pub(crate) struct StageSource {
    /// "" for `@pipeline`, "stage 2: " for the second stage of `@pipeline.run`.
    pub(crate) prefix: String,
    /// The argument index of the stage name, of its function and of its initial value.
    pub(crate) arguments: [usize; 3],
}

/// Builds a stage from its name, function and optional initial value.
pub(crate) fn parse_stage(
    name: &Value,
    function: &Value,
    init: Option<&Value>,
    source: &StageSource,
) -> Result<Stage, PipelineError> {
    let [name_argument, function_argument, init_argument] = source.arguments;
    let Some(name) = name.as_str() else {
        return Err(PipelineError::StageNotAString {
            prefix: source.prefix.clone(),
            found: name.type_name(),
            argument: name_argument,
        });
    };
    if name == "parallel" {
        return Err(PipelineError::ParallelStage { prefix: source.prefix.clone() });
    }
    // Check the name first: an unknown stage is the more useful error when both are wrong.
    let known = ["map", "filter", "reduce", "group"];
    let Some(stage_name) = known.into_iter().find(|known| *known == name) else {
        return Err(PipelineError::UnknownStage { prefix: source.prefix.clone(), name: name.to_string() });
    };
    if function.kind() != Kind::Function {
        return Err(PipelineError::NotAFunction {
            prefix: source.prefix.clone(),
            found: function.type_name(),
            argument: function_argument,
        });
    }
    let function = function.clone();
    match (stage_name, init) {
        ("reduce", init) => Ok(Stage::Reduce(function, init.cloned())),
        (stage, Some(_)) => {
            Err(PipelineError::UnexpectedInit { prefix: source.prefix.clone(), stage, argument: init_argument })
        }
        ("map", None) => Ok(Stage::Map(function)),
        ("filter", None) => Ok(Stage::Filter(function)),
        (_, None) => Ok(Stage::Group(function)),
    }
}

/// The data a pipeline walks. Objects keep their keys through `map` and `filter`.
enum Source<'a> {
    Array(tusk_plugin_sdk::Array<'a>),
    Object(tusk_plugin_sdk::Object<'a>),
    Range(i64, i64),
    Chars(std::str::Chars<'a>),
}

impl<'a> Source<'a> {
    fn new(data: &'a Value, argument: usize) -> Result<Source<'a>, PipelineError> {
        if let Some(array) = data.as_array() {
            Ok(Source::Array(array))
        } else if let Some(object) = data.as_object() {
            Ok(Source::Object(object))
        } else if let Some((start, end)) = data.as_range() {
            Ok(Source::Range(start, end))
        } else if let Some(text) = data.as_str() {
            Ok(Source::Chars(text.chars()))
        } else {
            Err(PipelineError::NotIterable { found: data.type_name(), argument })
        }
    }

    /// Walks the items (`key` is the object key for objects) until `each` fails.
    fn for_each(
        self,
        mut each: impl FnMut(Option<&'a str>, Value) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let mut counter = Cancellation::default();
        match self {
            Source::Array(array) => {
                // Items are fetched one by one from the host: the array is never copied.
                for index in 0..array.len() {
                    counter.tick()?;
                    each(None, array.get(index).unwrap_or_else(Value::null))?;
                }
            }
            Source::Object(object) => {
                for (key, value) in object.entries() {
                    counter.tick()?;
                    each(Some(key), value)?;
                }
            }
            Source::Range(start, end) => {
                // Integers are inline values: a range of any length allocates nothing here.
                for number in start..end {
                    counter.tick()?;
                    each(None, Value::from(number))?;
                }
            }
            Source::Chars(chars) => {
                let mut buffer = [0u8; 4];
                for character in chars {
                    counter.tick()?;
                    each(None, Value::from(&*character.encode_utf8(&mut buffer)))?;
                }
            }
        }
        Ok(())
    }
}

/// Counts items and asks the host now and then whether to stop.
#[derive(Default)]
pub(crate) struct Cancellation {
    items: u64,
}

impl Cancellation {
    pub(crate) fn tick(&mut self) -> Result<(), PipelineError> {
        self.items += 1;
        if self.items.is_multiple_of(CANCEL_CHECK_INTERVAL) && host::is_cancelled() {
            return Err(PipelineError::Cancelled);
        }
        Ok(())
    }
}

/// What the last stage builds.
enum Output {
    /// Objects stay objects (their keys are kept aside), everything else becomes an array.
    Collect(Vec<Value>),
    Reduce {
        function: Value,
        accumulator: Option<Value>,
    },
    Group {
        function: Value,
        groups: Vec<(String, Vec<Value>)>,
        index: HashMap<String, usize>,
    },
}

/// Runs `pipeline` over `data` (argument `data_argument` of the call): streamed item by item,
/// or stage by stage when a stage asks for workers or when there is one stage that calls its
/// function once per item (`map`, `filter`, `group`): its calls come in the same order either
/// way, and stage by stage the host may take the whole stage at once (a sandboxed plugin then
/// makes one round trip to the host, not one per item).
pub(crate) fn run(data: &Value, data_argument: usize, stages: Stages) -> Result<Value, PipelineError> {
    let lone = matches!(&*stages.stages, [Stage::Map(_) | Stage::Filter(_) | Stage::Group(_)]);
    if stages.parallel() || lone {
        return crate::parallel::run(data, data_argument, stages);
    }
    stream(data, data_argument, stages.stages)
}

/// Streams `data` through the stages, one item at a time.
fn stream(data: &Value, data_argument: usize, stages: Vec<Stage>) -> Result<Value, PipelineError> {
    let mut stages = stages;
    let source = Source::new(data, data_argument)?;
    let keyed = matches!(source, Source::Object(_));
    let mut output = match stages.pop_if(|stage| stage.ends_pipeline()) {
        Some(Stage::Reduce(function, init)) => Output::Reduce { function, accumulator: init },
        Some(Stage::Group(function)) => Output::Group { function, groups: Vec::new(), index: HashMap::new() },
        _ => Output::Collect(Vec::new()),
    };
    // Object keys are borrowed from the host for as long as `data` lives: no copies until the
    // result is built.
    let mut keys: Vec<&str> = Vec::new();
    source.for_each(|key, item| {
        let Some(item) = flow(&stages, item)? else { return Ok(()) };
        match &mut output {
            Output::Collect(items) => {
                keys.extend(key);
                items.push(item);
            }
            Output::Reduce { function, accumulator } => {
                *accumulator = Some(match accumulator.take() {
                    // The accumulator moves into the call and the result replaces it: no clone.
                    Some(previous) => function.call(&[previous, item]).map_err(PipelineError::Script)?,
                    None => item,
                });
            }
            Output::Group { function, groups, index } => {
                let key = function.call(std::slice::from_ref(&item)).map_err(PipelineError::Script)?;
                let key = group_key(&key)?;
                match index.get(&key) {
                    Some(&position) => groups[position].1.push(item),
                    None => {
                        index.insert(key.clone(), groups.len());
                        groups.push((key, vec![item]));
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(match output {
        Output::Collect(items) if keyed => Value::object(keys.into_iter().zip(items).collect()),
        Output::Collect(items) => Value::array(items),
        Output::Reduce { accumulator, .. } => accumulator.ok_or(PipelineError::EmptyReduce)?,
        Output::Group { groups, .. } => {
            Value::object(groups.into_iter().map(|(key, items)| (key, Value::array(items))).collect())
        }
    })
}

/// Passes one item through the `map` and `filter` stages; `None` when a filter drops it.
fn flow(stages: &[Stage], mut item: Value) -> Result<Option<Value>, PipelineError> {
    for stage in stages {
        match stage {
            Stage::Map(function) => {
                item = function.call(std::slice::from_ref(&item)).map_err(PipelineError::Script)?;
            }
            Stage::Filter(function) => {
                if !function.call(std::slice::from_ref(&item)).map_err(PipelineError::Script)?.is_truthy() {
                    return Ok(None);
                }
            }
            Stage::Reduce(..) | Stage::Group(_) => unreachable!("`Stages` keeps ending stages last"),
        }
    }
    Ok(Some(item))
}

/// The string form of a group key, as the language prints scalars (`str(x)`).
pub(crate) fn group_key(key: &Value) -> Result<String, PipelineError> {
    Ok(match key.kind() {
        Kind::String => key.as_str().unwrap_or_default().to_string(),
        Kind::Int => key.as_int().unwrap_or_default().to_string(),
        Kind::Float => format_float(key.as_float().unwrap_or_default()),
        Kind::Bool => key.as_bool().unwrap_or_default().to_string(),
        Kind::Null => "null".to_string(),
        _ => return Err(PipelineError::BadGroupKey { found: article(key.type_name()) }),
    })
}

/// Floats keep their point (`2.0`), as in the language's output.
fn format_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{x:?}")
    }
}

fn article(type_name: &'static str) -> &'static str {
    match type_name {
        "array" => "an array",
        "object" => "an object",
        "function" => "a function",
        "range" => "a range",
        "plugin object" => "a plugin object",
        _ => "a value",
    }
}
