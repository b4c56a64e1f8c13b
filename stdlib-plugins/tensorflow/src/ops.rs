//! The operators and functions: argument reading, model resolution, predict and train.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tusk_ml_common::{BUILD_SCRIPT, Dim, Model, check_shapes, tensor_from_value, tensor_to_value};
use tusk_plugin_sdk::{Kind, OwnedValue, PluginContext, PluginError, SymbolDoc, Value, host};

use crate::State;
use crate::train::{self, Matrix, Options, Summary, Trained};

const MODEL_TYPE: &str = "tensorflow.model";

/// A model a script holds: loaded from a file or trained (then with its ONNX bytes and summary).
struct ModelHandle {
    model: Arc<Model>,
    onnx: Option<Arc<Vec<u8>>>,
    training: Option<OwnedValue>,
}

/// The arguments of one call; `offset` skips the operation name of `@tensorflow(op, …)`.
struct Args<'a> {
    values: &'a [Value],
    offset: usize,
    operator: &'a str,
}

impl Args<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index)
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    fn string(&self, index: usize, name: &str) -> Result<&str, PluginError> {
        let value = self.required(index, name)?;
        value.as_str().ok_or_else(|| {
            PluginError::message(format!("{}: {name} must be a string, got a {}", self.operator, value.type_name()))
                .at_argument(self.offset + index)
        })
    }

    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > self.offset + count {
            return Err(PluginError::message(format!(
                "{} takes at most {} arguments, got {}",
                self.operator,
                self.offset + count,
                self.values.len()
            ))
            .at_argument(self.offset + count));
        }
        Ok(())
    }

    fn error(&self, index: usize, message: impl std::fmt::Display) -> PluginError {
        PluginError::message(format!("{}: {message}", self.operator)).at_argument(self.offset + index)
    }
}

/// The file a model name or path means: a configured name, a path (relative to the script's
/// folder), or a path inside the models folder.
fn model_path(state: &State, name: &str) -> Result<PathBuf, PluginError> {
    if let Some(path) = state.aliases.get(name) {
        return Ok(PathBuf::from(host::resolve_path(path)));
    }
    let beside = PathBuf::from(host::resolve_path(name));
    if beside.is_file() || Path::new(name).is_absolute() {
        return Ok(beside);
    }
    let mut looked = vec![beside.display().to_string()];
    if let Some(dir) = &state.models_dir {
        let inside = dir.join(name);
        if inside.is_file() {
            return Ok(inside);
        }
        looked.push(inside.display().to_string());
    }
    Err(PluginError::message(format!("model file {name} not found (looked at {})", looked.join(" and "))).with_help(
        format!("the test models are built by {BUILD_SCRIPT}; other names can be set in [plugins.tensorflow] models"),
    ))
}

/// The model an argument means, with its handle when it is one.
fn model_of(
    state: &State,
    args: &Args<'_>,
    index: usize,
) -> Result<(Arc<Model>, Option<Arc<ModelHandle>>), PluginError> {
    let value = args.required(index, "model")?;
    if let Some(handle) = value.downcast::<ModelHandle>() {
        return Ok((handle.model.clone(), Some(handle)));
    }
    let Some(name) = value.as_str() else {
        return Err(args.error(
            index,
            format!("the model must be a path or a model from load_model, got a {}", value.type_name()),
        ));
    };
    let path = model_path(state, name)?;
    let model = state.cache.get(&path).map_err(|error| {
        let help = error.help().map(str::to_string);
        let error = PluginError::message(format!("{}: {}", args.operator, error)).at_argument(args.offset + index);
        match help {
            Some(help) => error.with_help(help),
            None if !path.exists() => error.with_help(format!("the test models are built by {BUILD_SCRIPT}")),
            None => error,
        }
    })?;
    Ok((model, None))
}

fn load(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let (model, handle) = model_of(state, args, 0)?;
    if let Some(handle) = handle {
        return Ok(Value::plugin_object(
            MODEL_TYPE,
            ModelHandle { model, onnx: handle.onnx.clone(), training: handle.training.clone() },
        ));
    }
    Ok(Value::plugin_object(MODEL_TYPE, ModelHandle { model, onnx: None, training: None }))
}

fn info(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let (model, handle) = model_of(state, args, 0)?;
    let info = model.info();
    match handle.and_then(|handle| handle.training.clone()) {
        Some(training) => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            if let Some(object) = info.as_object() {
                entries.extend(object.entries().map(|(key, value)| (key.to_string(), value)));
            }
            entries.push(("training".to_string(), training.into_value()));
            Ok(Value::object(entries))
        }
        None => Ok(info),
    }
}

/// Which outputs `options` asks for: `{output: "name"}` (that output's array) or
/// `{outputs: ["a", "b"]}` (an object); `None` for the default.
enum Wanted {
    All,
    One(usize),
    Some(Vec<usize>),
}

fn wanted_outputs(model: &Model, args: &Args<'_>, index: usize) -> Result<Wanted, PluginError> {
    let Some(options) = args.get(index).filter(|value| !value.is_null()) else { return Ok(Wanted::All) };
    let Some(object) = options.as_object() else {
        return Err(args.error(
            index,
            format!("the options must be an object ({{output: \"name\"}}), got a {}", options.type_name()),
        ));
    };
    let find = |name: &str| {
        model.output(name).map(|(position, _)| position).ok_or_else(|| {
            args.error(index, format!("the model has no output \"{name}\" (its outputs: {})", names(&model.outputs)))
        })
    };
    let mut wanted = Wanted::All;
    for (key, value) in object.entries() {
        match (key, value.as_str(), value.as_array()) {
            ("output", Some(name), _) => wanted = Wanted::One(find(name)?),
            ("outputs", _, Some(list)) => {
                let mut positions = Vec::new();
                for item in list.iter() {
                    let name =
                        item.as_str().ok_or_else(|| args.error(index, "options.outputs must list output names"))?;
                    positions.push(find(name)?);
                }
                wanted = Wanted::Some(positions);
            }
            _ => {
                return Err(args.error(
                    index,
                    format!("unknown option `{key}` (the options are output: \"name\" and outputs: [\"name\", …])"),
                ));
            }
        }
    }
    Ok(wanted)
}

fn names(ports: &[tusk_ml_common::Port]) -> String {
    ports
        .iter()
        .map(|port| format!("\"{}\" {} {}", port.name, port.type_name(), port.shape_text()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn predict(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let (model, _) = model_of(state, args, 0)?;
    let input = args.required(1, "input")?;
    let wanted = wanted_outputs(&model, args, 2)?;
    // One value per model input, in the model's order.
    let mut given: Vec<Option<Value>> = vec![None; model.inputs.len()];
    match input.as_object() {
        Some(object) => {
            for (name, value) in object.entries() {
                let Some((position, _)) = model.input(name) else {
                    return Err(args.error(
                        1,
                        format!("the model has no input \"{name}\" (its inputs: {})", names(&model.inputs)),
                    ));
                };
                given[position] = Some(value);
            }
            if let Some(position) = given.iter().position(Option::is_none) {
                return Err(args.error(
                    1,
                    format!(
                        "input \"{}\" is missing (the model's inputs: {})",
                        model.inputs[position].name,
                        names(&model.inputs)
                    ),
                ));
            }
        }
        None if model.inputs.len() == 1 => given[0] = Some(input.clone()),
        None => {
            return Err(args.error(
                1,
                format!(
                    "the model has {} inputs, so the input must be an object of arrays by name ({})",
                    model.inputs.len(),
                    names(&model.inputs)
                ),
            ));
        }
    }
    let mut tensors = Vec::with_capacity(given.len());
    let mut single = None;
    for (port, value) in model.inputs.iter().zip(given) {
        let value = value.unwrap_or_else(Value::null);
        let what = format!("input \"{}\"", port.name);
        let (tensor, added) =
            tensor_from_value(&value, port, &what, true).map_err(|error| args.error(1, error.message_text()))?;
        if single.is_some_and(|single| single != added) {
            return Err(args.error(1, "give every input as one sample, or every input as a batch, not a mix"));
        }
        single = Some(added);
        tensors.push(tensor);
    }
    check_shapes(&model, &tensors).map_err(|error| args.error(1, error.message_text()))?;
    let outputs = model.run(tensors).map_err(|error| args.error(1, error.message_text()))?;
    let single = single.unwrap_or(false);
    let convert = |position: usize| -> Result<Value, PluginError> {
        let value = tensor_to_value(&outputs[position])?;
        // One sample in, one sample out: the batch dimension added on the way in goes again.
        let batched = matches!(model.outputs[position].shape.first(), Some(Dim::Named(_)))
            || outputs[position].shape().first() == Some(&1);
        if single
            && batched
            && let Some(array) = value.as_array()
        {
            return Ok(array.get(0).unwrap_or_else(Value::null));
        }
        Ok(value)
    };
    let object = |positions: &[usize]| -> Result<Value, PluginError> {
        let mut entries = Vec::new();
        for &position in positions {
            entries.push((model.outputs[position].name.clone(), convert(position)?));
        }
        Ok(Value::object(entries))
    };
    match wanted {
        Wanted::All if outputs.len() == 1 => convert(0),
        Wanted::All => object(&(0..outputs.len()).collect::<Vec<_>>()),
        Wanted::One(position) => convert(position),
        Wanted::Some(positions) => object(&positions),
    }
}

/// A numeric argument as a matrix: a list of rows (or a flat list, one value per row).
fn matrix(args: &Args<'_>, index: usize, name: &str) -> Result<(Matrix, bool), PluginError> {
    let value = args.required(index, name)?;
    let what = name.to_string();
    let (shape, numbers, _) =
        tusk_ml_common::read_nested(value, &what).map_err(|error| args.error(index, error.message_text()))?;
    match shape.as_slice() {
        [rows, cols] if *rows > 0 && *cols > 0 => Ok((Matrix { rows: *rows, cols: *cols, data: numbers }, false)),
        [rows] if *rows > 0 => Ok((Matrix { rows: *rows, cols: 1, data: numbers }, true)),
        _ => Err(args.error(
            index,
            format!(
                "{name} must be a non-empty list of rows (numbers), got shape {}",
                tusk_ml_common::shape_text(&shape)
            ),
        )),
    }
}

fn options(args: &Args<'_>, index: usize, kind: &str) -> Result<Options, PluginError> {
    let (epochs, learning_rate) = match kind {
        "logistic_regression" => (500, 0.5),
        "mlp" => (500, 0.01),
        _ => (100, 0.0),
    };
    let mut options = Options {
        epochs,
        learning_rate,
        l2: 0.0,
        k: 0,
        hidden: vec![16],
        seed: 42,
        regression: false,
        vector_targets: false,
    };
    let Some(value) = args.get(index).filter(|value| !value.is_null()) else { return Ok(options) };
    let Some(object) = value.as_object() else {
        return Err(args.error(index, format!("the options must be an object, got a {}", value.type_name())));
    };
    let count = |value: &Value, key: &str, max: i64| {
        value
            .as_int()
            .filter(|n| (1..=max).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| args.error(index, format!("options.{key} must be an integer from 1 to {max}")))
    };
    let positive = |value: &Value, key: &str| {
        value
            .as_float()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| args.error(index, format!("options.{key} must be a number >= 0")))
    };
    for (key, value) in object.entries() {
        match key {
            "epochs" | "iterations" => options.epochs = count(&value, key, 1_000_000)?,
            "learning_rate" => options.learning_rate = positive(&value, key)?,
            "l2" => options.l2 = positive(&value, key)?,
            "k" => options.k = count(&value, key, 10_000)?,
            "seed" => {
                options.seed = value
                    .as_int()
                    .map(|n| n as u64)
                    .ok_or_else(|| args.error(index, "options.seed must be an integer"))?
            }
            "hidden" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| args.error(index, "options.hidden must be a list of layer sizes"))?;
                options.hidden = list.iter().map(|size| count(&size, "hidden[…]", 4096)).collect::<Result<_, _>>()?;
            }
            "task" => match value.as_str() {
                Some("classification") => options.regression = false,
                Some("regression") => options.regression = true,
                _ => return Err(args.error(index, "options.task must be \"classification\" or \"regression\"")),
            },
            _ => {
                return Err(args.error(
                    index,
                    format!(
                        "unknown option `{key}` (the options are epochs, learning_rate, l2, k, hidden, seed, task)"
                    ),
                ));
            }
        }
    }
    Ok(options)
}

fn summary_value(summary: &[(&'static str, Summary)]) -> OwnedValue {
    OwnedValue::Object(
        summary
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Summary::Float(x) => OwnedValue::Float(*x),
                    Summary::Int(n) => OwnedValue::Int(*n),
                    Summary::Text(text) => OwnedValue::String(text.clone()),
                    Summary::Rows(rows) => OwnedValue::Array(
                        rows.iter()
                            .map(|row| OwnedValue::Array(row.iter().map(|x| OwnedValue::Float(*x)).collect()))
                            .collect(),
                    ),
                };
                (key.to_string(), value)
            })
            .collect(),
    )
}

/// The most arithmetic one `train` call may do (rows × weights × epochs): a few seconds.
const WORK_LIMIT: f64 = 5e9;

fn train_model(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(4)?;
    let kind = args.string(0, "kind")?;
    if !train::KINDS.contains(&kind) {
        return Err(PluginError::invalid_operation(format!(
            "{}: cannot train a `{kind}`; the kinds trained here are {} (small models fitted on the CPU); deep networks are trained elsewhere and loaded as ONNX or TensorFlow files",
            args.operator,
            train::KINDS.join(", ")
        ))
        .at_argument(args.offset));
    }
    let (x, _) = matrix(args, 1, "inputs")?;
    // k-means has no targets: its options may come third.
    let unsupervised = kind == "kmeans";
    let options_index =
        if unsupervised && args.get(2).is_some_and(|value| value.kind() == Kind::Object) { 2 } else { 3 };
    if unsupervised && options_index == 3 && args.get(2).is_some_and(|value| !value.is_null()) {
        return Err(args.error(2, "kmeans takes no targets: @tensorflow.train(\"kmeans\", inputs, {k: N})"));
    }
    let mut options = options(args, options_index, kind)?;
    let (y, vector_targets) = if unsupervised {
        (Matrix::zeros(x.rows, 1), false)
    } else {
        let (y, vector) = matrix(args, 2, "targets")?;
        if y.rows != x.rows {
            return Err(args.error(2, format!("there are {} rows of inputs but {} targets", x.rows, y.rows)));
        }
        (y, vector)
    };
    options.vector_targets = vector_targets;
    let weights: usize = match kind {
        "mlp" => {
            let mut sizes = vec![x.cols];
            sizes.extend(&options.hidden);
            sizes.push(y.cols.max(2));
            sizes.windows(2).map(|pair| pair[0] * pair[1]).sum()
        }
        _ => x.cols * y.cols.max(options.k).max(2),
    };
    let work = x.rows as f64 * weights as f64 * options.epochs as f64;
    if work > WORK_LIMIT {
        return Err(args.error(
            1,
            format!("that is too much work for training here ({} rows × {weights} weights × {} epochs); use fewer epochs or rows", x.rows, options.epochs),
        ));
    }
    let trained: Trained = match kind {
        "linear_regression" => train::linear_regression(&x, &y, &Options { regression: true, ..options }),
        "logistic_regression" => train::logistic_regression(&x, &y, &options),
        "kmeans" => train::kmeans(&x, &options),
        _ => train::mlp(&x, &y, &options),
    }
    .map_err(|message| args.error(1, message))?;
    let model = Model::from_onnx_bytes(&trained.onnx)?;
    Ok(Value::plugin_object(
        MODEL_TYPE,
        ModelHandle {
            model: Arc::new(model),
            onnx: Some(Arc::new(trained.onnx)),
            training: Some(summary_value(&trained.summary)),
        },
    ))
}

fn save(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let (model, handle) = model_of(state, args, 0)?;
    let target = PathBuf::from(host::resolve_path(args.string(1, "path")?));
    let written = match (handle.and_then(|handle| handle.onnx.clone()), &model.path) {
        (Some(bytes), _) => {
            if tusk_ml_common::Format::of_path(&target) != Some(tusk_ml_common::Format::Onnx) {
                return Err(args.error(1, "a trained model is saved as ONNX: the path must end in .onnx"));
            }
            std::fs::write(&target, bytes.as_slice()).map(|()| bytes.len() as u64)
        }
        (None, Some(source)) => {
            if tusk_ml_common::Format::of_path(&target) != Some(model.format) {
                return Err(args.error(1, format!("the model is a {} file: keep its extension", model.format.name())));
            }
            std::fs::copy(source, &target)
        }
        (None, None) => return Err(args.error(0, "this model has no file to save")),
    };
    let bytes = written.map_err(|error| args.error(1, format!("cannot write {}: {error}", target.display())))?;
    Ok(Value::object(vec![
        ("path", Value::from(target.display().to_string())),
        ("bytes", Value::from(i64::try_from(bytes).unwrap_or(i64::MAX))),
    ]))
}

type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

/// The operations of the `@tensorflow(operation, …)` form.
const OPERATIONS: &[(&str, Operation)] =
    &[("predict", predict), ("train", train_model), ("load", load), ("info", info), ("save", save)];

fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let operation = args.required(0, "operation")?;
    let name = operation.as_str().ok_or_else(|| {
        PluginError::message(format!("@tensorflow: the operation must be a string, got a {}", operation.type_name()))
            .at_argument(0)
    })?;
    let Some((_, run)) = OPERATIONS.iter().find(|(known, _)| *known == name) else {
        let known: Vec<&str> = OPERATIONS.iter().map(|(known, _)| *known).collect();
        return Err(PluginError::invalid_operation(format!("@tensorflow has no operation `{name}`"))
            .at_argument(0)
            .with_help(format!("use one of {}", known.join(", "))));
    };
    run(state, &Args { values: args.values, offset: 1, operator: &format!("@tensorflow(\"{name}\")") })
}

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    context.register_type(MODEL_TYPE)?;
    type Entry = (&'static str, &'static str, &'static str, bool, Operation, Vec<String>);
    let operators: Vec<Entry> = vec![
        (
            "tensorflow",
            "@tensorflow(operation, …)",
            "Runs `predict`, `train`, `load`, `info` or `save`; the arguments after the operation are those of @tensorflow.OPERATION.",
            false,
            dispatch,
            vec![
                r#"@tensorflow("info", @tensorflow("train", "kmeans", [[0], [5]], {k: 2})).outputs[0].type => "int64""#.into(),
            ],
        ),
        (
            "tensorflow.predict",
            "@tensorflow.predict(model, input[, {output | outputs}])",
            "Runs a model (a handle, a path or a configured name) on nested arrays: one sample or a batch; one array per input, or an object by input name.",
            false,
            predict,
            vec![],
        ),
        (
            "tensorflow.load",
            "@tensorflow.load(path)",
            "Loads an ONNX (.onnx) or TensorFlow frozen-graph (.pb) model, cached by path and file stamp.",
            false,
            load,
            vec![],
        ),
        (
            "tensorflow.info",
            "@tensorflow.info(model)",
            "The model's format, inputs and outputs ({name, type, shape}) and load time; for a trained model also what training found.",
            false,
            info,
            vec![],
        ),
        (
            "tensorflow.train",
            "@tensorflow.train(kind, inputs, targets[, options])",
            "Fits a linear_regression, logistic_regression, kmeans (no targets; options {k}) or mlp on the CPU; the model is an ONNX graph predict runs.",
            false,
            train_model,
            vec![
                r#"@tensorflow.predict(@tensorflow.train("linear_regression", [[0], [1], [2]], [1, 3, 5]), [[10]])[0] > 20.99 => true"#.into(),
            ],
        ),
        (
            "tensorflow.save",
            "@tensorflow.save(model, path)",
            "Writes the model to a file (a trained model as .onnx): {path, bytes}.",
            true,
            save,
            vec![],
        ),
    ];
    for (name, signature, summary, side_effects, run, examples) in operators {
        let state = state.clone();
        let operator = format!("@{name}");
        context.register_operator_with(
            name,
            SymbolDoc {
                signature: signature.into(),
                summary: summary.into(),
                side_effects,
                examples,
                ..SymbolDoc::default()
            },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let load_state = state.clone();
    context.register_function_with(
        "load_model",
        SymbolDoc {
            signature: "load_model(path)".into(),
            summary: "The same as @tensorflow.load.".into(),
            examples: vec![
                r#"type_of(load_model(@tensorflow.train("kmeans", [[0], [1]], {k: 1}))) => "tensorflow.model""#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| load(&load_state, &Args { values: args, offset: 0, operator: "load_model" }),
    )?;
    let predict_state = state.clone();
    context.register_function_with(
        "predict",
        SymbolDoc {
            signature: "predict(model, input[, options])".into(),
            summary: "The same as @tensorflow.predict.".into(),
            examples: vec![
                r#"predict(@tensorflow.train("linear_regression", [[0], [1]], [1, 3]), [[2]]) => [5.0]"#.into(),
            ],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| predict(&predict_state, &Args { values: args, offset: 0, operator: "predict" }),
    )?;
    Ok(())
}
