//! Pipelines run stage by stage: those whose stages run on several workers (`{parallel: N}`),
//! and a lone `map`, `filter` or `group`, which the host may run in one go (see `call_each`).
//!
//! The host runs a stage function on interpreter isolates (`host::map_parallel`): interpreters
//! of their own on other threads, which get deep copies of the items and of what the function
//! captured. The data then moves stage by stage (a whole array between stages, not one item at
//! a time), keeping item order: `map` replaces the items, `filter` keeps those whose result is
//! truthy, `group`'s keys are computed on the workers and the groups built here, and `reduce`,
//! a fold in order, runs here. A function that cannot leave the interpreter's thread (it holds
//! a plugin's value, calls an operator or a plugin's function) makes that stage run item after
//! item, with a warning that says why.

use std::collections::HashMap;

use tusk_plugin_sdk::host::{self, Parallel};
use tusk_plugin_sdk::{Kind, Level, Value};

use crate::error::PipelineError;
use crate::stages::{Cancellation, Stage, Stages, group_key};

/// Runs the stages over `data` (argument `data_argument` of the call).
pub(crate) fn run(data: &Value, data_argument: usize, stages: Stages) -> Result<Value, PipelineError> {
    let mut items = Items::new(data, data_argument)?;
    let single = stages.single;
    for (position, (stage, workers)) in stages.stages.into_iter().zip(stages.workers).enumerate() {
        let label =
            if single { stage.name().to_string() } else { format!("stage {} ({})", position + 1, stage.name()) };
        // Between stages; the first checks as it goes, as a streamed run does.
        if position > 0 && host::is_cancelled() {
            return Err(PipelineError::Cancelled);
        }
        match stage {
            Stage::Map(function) => {
                let results = call_each(&function, &items.values, workers, &label)?;
                items.values = results;
            }
            Stage::Filter(function) => {
                let results = call_each(&function, &items.values, workers, &label)?;
                items.keep(&results);
            }
            Stage::Group(function) => {
                let keys = call_each(&function, &items.values, workers, &label)?;
                return group(&items, &keys);
            }
            Stage::Reduce(function, init) => return reduce(&items, &function, init),
        }
    }
    Ok(items.into_value())
}

/// The data between stages: an array (or, before the first stage, a range), and the keys when
/// the data is an object.
struct Items {
    values: Value,
    keys: Option<Vec<String>>,
}

impl Items {
    fn new(data: &Value, argument: usize) -> Result<Items, PipelineError> {
        if data.as_array().is_some() || data.as_range().is_some() {
            Ok(Items { values: data.clone(), keys: None })
        } else if let Some(object) = data.as_object() {
            let (keys, values): (Vec<String>, Vec<Value>) =
                object.entries().map(|(key, value)| (key.to_string(), value)).unzip();
            Ok(Items { values: Value::array(values), keys: Some(keys) })
        } else if let Some(text) = data.as_str() {
            let mut buffer = [0u8; 4];
            let characters = text.chars().map(|character| Value::from(&*character.encode_utf8(&mut buffer))).collect();
            Ok(Items { values: Value::array(characters), keys: None })
        } else {
            Err(PipelineError::NotIterable { found: data.type_name(), argument })
        }
    }

    /// Walks the items in order until `each` fails.
    fn for_each(&self, mut each: impl FnMut(usize, Value) -> Result<(), PipelineError>) -> Result<(), PipelineError> {
        let mut counter = Cancellation::default();
        if let Some((start, end)) = self.values.as_range() {
            for (index, number) in (start..end).enumerate() {
                counter.tick()?;
                each(index, Value::from(number))?;
            }
        } else if let Some(array) = self.values.as_array() {
            for index in 0..array.len() {
                counter.tick()?;
                each(index, array.get(index).unwrap_or_else(Value::null))?;
            }
        }
        Ok(())
    }

    /// Keeps the items (and keys) whose result is truthy.
    fn keep(&mut self, results: &Value) {
        let results = results.as_array();
        let truthy =
            |index: usize| results.and_then(|results| results.get(index)).is_some_and(|value| value.is_truthy());
        let mut kept = Vec::new();
        let mut kept_keys = Vec::new();
        let _ = self.for_each(|index, item| {
            if truthy(index) {
                kept.push(item);
                kept_keys.extend(self.keys.as_ref().map(|keys| keys[index].clone()));
            }
            Ok(())
        });
        self.values = Value::array(kept);
        if self.keys.is_some() {
            self.keys = Some(kept_keys);
        }
    }

    fn into_value(self) -> Value {
        match self.keys {
            Some(keys) => {
                let values: Vec<Value> = self.values.as_array().map(|array| array.iter().collect()).unwrap_or_default();
                Value::object(keys.into_iter().zip(values).collect::<Vec<(String, Value)>>())
            }
            None if self.values.as_range().is_some() => {
                let mut values = Vec::new();
                let _ = self.for_each(|_, item| {
                    values.push(item);
                    Ok(())
                });
                Value::array(values)
            }
            None => self.values,
        }
    }
}

/// `function(item)` for every item, in item order: on `workers` isolates when there are
/// several and the host can, otherwise in item order (with a warning when workers were asked
/// for). Sequentially, the host gets the whole stage at once where that saves work (a sandboxed
/// plugin: one round trip to the host instead of one per item), or the plugin calls the
/// function item after item.
fn call_each(function: &Value, items: &Value, workers: usize, label: &str) -> Result<Value, PipelineError> {
    if workers > 1 {
        match host::map_parallel(function, items, workers).map_err(PipelineError::Script)? {
            Parallel::Done(results) => return Ok(results),
            Parallel::Unsupported(reason) => host::log(Level::Warn, &format!("{label} runs sequentially: {reason}")),
        }
    }
    if let Parallel::Done(results) = host::map_parallel(function, items, 0).map_err(PipelineError::Script)? {
        return Ok(results);
    }
    let mut results = Vec::new();
    let items = Items { values: items.clone(), keys: None };
    items.for_each(|_, item| {
        results.push(function.call(std::slice::from_ref(&item)).map_err(PipelineError::Script)?);
        Ok(())
    })?;
    Ok(Value::array(results))
}

fn group(items: &Items, keys: &Value) -> Result<Value, PipelineError> {
    let keys = keys.as_array();
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    items.for_each(|position, item| {
        let key = keys.and_then(|keys| keys.get(position)).unwrap_or_else(Value::null);
        let key = group_key(&key)?;
        match index.get(&key) {
            Some(&at) => groups[at].1.push(item),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![item]));
            }
        }
        Ok(())
    })?;
    Ok(Value::object(groups.into_iter().map(|(key, items)| (key, Value::array(items))).collect()))
}

fn reduce(items: &Items, function: &Value, init: Option<Value>) -> Result<Value, PipelineError> {
    let mut accumulator = init;
    items.for_each(|_, item| {
        accumulator = Some(match accumulator.take() {
            Some(previous) => function.call(&[previous, item]).map_err(PipelineError::Script)?,
            None => item,
        });
        Ok(())
    })?;
    accumulator.ok_or(PipelineError::EmptyReduce)
}

/// A value as an option's error shows it: `0`, `"4"`, `an array`.
pub(crate) fn describe_value(value: &Value) -> String {
    match value.kind() {
        Kind::Int => value.as_int().unwrap_or_default().to_string(),
        Kind::Float => format!("{:?}", value.as_float().unwrap_or_default()),
        Kind::String => format!("{:?}", value.as_str().unwrap_or_default()),
        Kind::Bool => value.as_bool().unwrap_or_default().to_string(),
        Kind::Null => "null".to_string(),
        _ => format!("a value of type {}", value.type_name()),
    }
}
