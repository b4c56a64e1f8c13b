//! The model engine shared by the `tensorflow` and `nlp` plugins, so that tract (the heaviest
//! dependency of the workspace) is built once for both:
//!
//! - [`Model`]: an ONNX model (tract-onnx) or a TensorFlow frozen graph (tract-tensorflow),
//!   decluttered once and optimised per concrete input shape (a bounded number of shapes, then one
//!   general plan), with its inputs and outputs described by name, element
//!   type and shape ([`Port`]);
//! - [`ModelCache`]: models by canonical path, kept while the file's stamp (device, inode, size,
//!   modification time) is unchanged and loaded again when the file changes;
//! - [`tensor_from_value`] / [`tensor_to_value`]: nested script arrays to tensors of the element
//!   type a port wants (with the shape checked against the port), and back;
//! - [`models_dir`]: where the models built by `scripts/models/build.sh` are found by default.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike as _;
use tusk_plugin_sdk::{PluginError, Value};

pub use tract_onnx::prelude::{DatumType, Tensor};

/// What a missing default model's error tells the user to run.
pub const BUILD_SCRIPT: &str = "scripts/models/build.sh";

/// The folder `scripts/models/build.sh` writes to: `$TUSK_MODELS_DIR`, else
/// `$XDG_CACHE_HOME/tusk/models`, else `$HOME/.cache/tusk/models` (`None` when none is set).
pub fn models_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    non_empty("TUSK_MODELS_DIR")
        .or_else(|| non_empty("XDG_CACHE_HOME").map(|cache| cache.join("tusk/models")))
        .or_else(|| non_empty("HOME").map(|home| home.join(".cache/tusk/models")))
}

/// The file formats tract reads here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ONNX (`.onnx`).
    Onnx,
    /// A TensorFlow frozen graph, a binary `GraphDef` (`.pb`).
    TensorFlow,
}

impl Format {
    /// The format of a file, by its extension; `None` for anything else.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("onnx") => Some(Format::Onnx),
            Some("pb") => Some(Format::TensorFlow),
            _ => None,
        }
    }

    /// `onnx` or `tensorflow`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::TensorFlow => "tensorflow",
        }
    }
}

/// One dimension of a port's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen by the input (`batch`, `seq`); ports with the same name must agree.
    Named(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(size) => write!(f, "{size}"),
            Dim::Named(name) => f.write_str(name),
        }
    }
}

/// An input or output of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Its name in the model file.
    pub name: String,
    /// The element type.
    pub datum: DatumType,
    /// The shape; dimensions the model leaves open are [`Dim::Named`].
    pub shape: Vec<Dim>,
}

impl Port {
    /// `[batch, 4]`.
    pub fn shape_text(&self) -> String {
        format!("[{}]", self.shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    }

    /// The element type as scripts see it in `info`: `float32`, `int64`, …
    pub fn type_name(&self) -> &'static str {
        datum_name(self.datum)
    }
}

/// A script-facing name of an element type.
pub fn datum_name(datum: DatumType) -> &'static str {
    match datum {
        DatumType::F16 => "float16",
        DatumType::F32 => "float32",
        DatumType::F64 => "float64",
        DatumType::I8 => "int8",
        DatumType::I16 => "int16",
        DatumType::I32 => "int32",
        DatumType::I64 => "int64",
        DatumType::U8 => "uint8",
        DatumType::U16 => "uint16",
        DatumType::U32 => "uint32",
        DatumType::U64 => "uint64",
        DatumType::Bool => "bool",
        DatumType::String => "string",
        _ => "other",
    }
}

/// A loaded model, decluttered and ready to run (optimised per input shape on first use). Cheap to share (`Arc`), safe to run from any
/// thread.
pub struct Model {
    /// The file it came from (`None` for a model made in memory).
    pub path: Option<PathBuf>,
    /// Its format.
    pub format: Format,
    /// Inputs in the order [`Model::run`] takes them.
    pub inputs: Vec<Port>,
    /// Outputs in the order [`Model::run`] returns them.
    pub outputs: Vec<Port>,
    /// How long reading and decluttering took (and optimising, for a model with fixed shapes).
    pub load_time: Duration,
    plans: Plans,
}

/// How many plans specialised to a concrete input shape a model makes: the first shapes it
/// runs get one each; any further shape runs on one general plan with symbolic dimensions (made
/// once, when first needed), so a stream of varied shapes never re-optimises the graph and the
/// memory stays bounded (each plan holds its own copy of the weights, packed for its kernels).
pub const SHAPE_PLANS: usize = 4;

/// A model's runnable plans.
enum Plans {
    /// Every input dimension is fixed: one plan.
    Fixed(Arc<TypedRunnableModel>),
    /// Some dimensions are open (`batch`, `seq`): plans optimised for concrete shapes, made on
    /// first use. Concrete sizes let tract pick its kernels for the actual matrix sizes and fold
    /// the shape computations a plan with symbolic dimensions redoes on every run (all-MiniLM
    /// with a batch of 32 runs markedly faster).
    PerShape(Box<ShapePlans>),
}

struct ShapePlans {
    /// The decluttered graph with its symbols, from which each plan is made.
    template: TypedModel,
    /// Each symbol with the input and axis that give its value.
    symbols: Vec<(Symbol, usize, usize)>,
    /// Specialised plans by their symbols' values (at most [`SHAPE_PLANS`]).
    plans: Mutex<Vec<(Vec<usize>, Arc<TypedRunnableModel>)>>,
    /// The plan for every other shape.
    general: Mutex<Option<Arc<TypedRunnableModel>>>,
}

impl ShapePlans {
    /// The plan for these inputs' shapes, made now or earlier.
    fn plan_for(&self, inputs: &[Tensor]) -> TractResult<Arc<TypedRunnableModel>> {
        let mut key = Vec::with_capacity(self.symbols.len());
        for (_, input, axis) in &self.symbols {
            let size = inputs.get(*input).and_then(|tensor| tensor.shape().get(*axis)).copied();
            key.push(size.ok_or_else(|| TractError::msg(format!("input {input} has no axis {axis}")))?);
        }
        let full = {
            let plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, plan)) = plans.iter().find(|(known, _)| *known == key) {
                return Ok(plan.clone());
            }
            plans.len() >= SHAPE_PLANS
        };
        if full {
            let mut general = self.general.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(plan) = general.as_ref() {
                return Ok(plan.clone());
            }
            let plan = self.template.clone().into_optimized()?.into_runnable()?;
            *general = Some(plan.clone());
            return Ok(plan);
        }
        // Optimised outside the lock: it takes a while, and known shapes stay usable.
        let values: HashMap<Symbol, TDim> =
            self.symbols.iter().zip(&key).map(|((symbol, ..), size)| (symbol.clone(), size.to_dim())).collect();
        let plan = self.template.set_symbols(&values)?.into_optimized()?.into_runnable()?;
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if plans.len() < SHAPE_PLANS && !plans.iter().any(|(known, _)| *known == key) {
            plans.push((key, plan.clone()));
        }
        Ok(plan)
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// tract's error with its causes, on one line.
fn tract_message(error: &TractError) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

impl Model {
    /// Loads a model file; the format comes from the extension (`.onnx`, `.pb`).
    pub fn load(path: &Path) -> Result<Model, PluginError> {
        let format = Format::of_path(path).ok_or_else(|| {
            PluginError::message(format!(
                "{}: unknown model format (the extension must be .onnx for ONNX or .pb for a TensorFlow frozen graph)",
                path.display()
            ))
        })?;
        if !path.is_file() {
            return Err(PluginError::message(format!("model file {} does not exist", path.display())));
        }
        let started = Instant::now();
        let built = match format {
            Format::Onnx => tract_onnx::onnx().model_for_path(path).and_then(|model| Model::optimise(model, &[])),
            Format::TensorFlow => Model::tensorflow(path),
        };
        let (plans, inputs, outputs) = built.map_err(|error| {
            PluginError::message(format!("cannot load the model {}: {}", path.display(), tract_message(&error)))
        })?;
        Ok(Model { path: Some(path.to_path_buf()), format, inputs, outputs, load_time: started.elapsed(), plans })
    }

    /// A model from ONNX bytes (a model the plugin made itself, such as a trained one).
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Model, PluginError> {
        let started = Instant::now();
        let (plans, inputs, outputs) = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .and_then(|model| Model::optimise(model, &[]))
            .map_err(|error| PluginError::message(format!("cannot load the model: {}", tract_message(&error))))?;
        Ok(Model { path: None, format: Format::Onnx, inputs, outputs, load_time: started.elapsed(), plans })
    }

    /// A frozen graph: its placeholders carry their element type and shape as attributes, which
    /// tract leaves to the caller, so they are read from the graph and set as the input facts.
    fn tensorflow(path: &Path) -> TractResult<(Plans, Vec<Port>, Vec<Port>)> {
        let tensorflow = tract_tensorflow::tensorflow();
        let graph = tensorflow.proto_model_for_path(path)?;
        let mut placeholders = Vec::new();
        for node in graph.node.iter().filter(|node| node.op == "Placeholder") {
            let datum = node.get_attr_opt_datum_type("dtype")?.unwrap_or(DatumType::F32);
            let shape = node.get_attr_opt_shape("shape")?;
            placeholders.push((node.name.clone(), datum, shape));
        }
        let model = tensorflow.model_for_proto_model(&graph)?;
        Model::optimise(model, &placeholders)
    }

    fn optimise(
        mut model: InferenceModel,
        placeholders: &[(String, DatumType, Option<TVec<isize>>)],
    ) -> TractResult<(Plans, Vec<Port>, Vec<Port>)> {
        for index in 0..model.input_outlets()?.len() {
            let node = model.input_outlets()?[index].node;
            let name = model.node(node).name.clone();
            let Some((_, datum, shape)) = placeholders.iter().find(|(placeholder, ..)| *placeholder == name) else {
                continue;
            };
            let fact = if let Some(shape) = shape {
                let mut dims: TVec<TDim> = tvec!();
                for (axis, size) in shape.iter().enumerate() {
                    dims.push(match usize::try_from(*size) {
                        Ok(size) => size.to_dim(),
                        // An open dimension: the batch when it leads, else one named after its axis.
                        Err(_) if axis == 0 => model.symbols.sym("batch").to_dim(),
                        Err(_) => model.symbols.sym(&format!("{name}_{axis}")).to_dim(),
                    });
                }
                InferenceFact::dt_shape(*datum, dims)
            } else {
                InferenceFact::dt(*datum)
            };
            model.set_input_fact(index, fact)?;
        }
        let template = model.into_typed()?.into_decluttered()?;
        let ports = |outlets: &[OutletId]| -> TractResult<Vec<Port>> {
            outlets
                .iter()
                .map(|outlet| {
                    let fact = template.outlet_fact(*outlet)?;
                    let name = template
                        .outlet_label(*outlet)
                        .map(str::to_string)
                        .unwrap_or_else(|| template.node(outlet.node).name.clone());
                    let shape = fact
                        .shape
                        .iter()
                        .map(|dim| match dim.to_usize() {
                            Ok(size) => Dim::Fixed(size),
                            Err(_) => Dim::Named(dim.to_string()),
                        })
                        .collect();
                    Ok(Port { name, datum: fact.datum_type, shape })
                })
                .collect()
        };
        let inputs = ports(template.input_outlets()?)?;
        let outputs = ports(template.output_outlets()?)?;
        // Each open input dimension that is a plain symbol gives that symbol's value at run time.
        let mut symbols: Vec<(Symbol, usize, usize)> = Vec::new();
        let mut derived = true;
        for (input, outlet) in template.input_outlets()?.iter().enumerate() {
            for (axis, dim) in template.outlet_fact(*outlet)?.shape.iter().enumerate() {
                match dim {
                    TDim::Val(_) => {}
                    TDim::Sym(symbol) => {
                        if !symbols.iter().any(|(known, ..)| known == symbol) {
                            symbols.push((symbol.clone(), input, axis));
                        }
                    }
                    _ => derived = false,
                }
            }
        }
        let plans = if symbols.is_empty() || !derived {
            Plans::Fixed(template.into_optimized()?.into_runnable()?)
        } else {
            Plans::PerShape(Box::new(ShapePlans {
                template,
                symbols,
                plans: Mutex::new(Vec::new()),
                general: Mutex::new(None),
            }))
        };
        Ok((plans, inputs, outputs))
    }

    /// The input called `name`.
    pub fn input(&self, name: &str) -> Option<(usize, &Port)> {
        self.inputs.iter().enumerate().find(|(_, port)| port.name == name)
    }

    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<(usize, &Port)> {
        self.outputs.iter().enumerate().find(|(_, port)| port.name == name)
    }

    /// Runs the model on one tensor per input (in the order of [`Model::inputs`]); the tensors'
    /// shapes must already fit the ports ([`check_shapes`]).
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Arc<Tensor>>, PluginError> {
        let fail = |error: TractError| PluginError::message(format!("the model failed: {}", tract_message(&error)));
        let plan = match &self.plans {
            Plans::Fixed(plan) => plan.clone(),
            Plans::PerShape(plans) => plans.plan_for(&inputs).map_err(fail)?,
        };
        let inputs: TVec<TValue> = inputs.into_iter().map(TValue::from).collect();
        let outputs = plan.run(inputs).map_err(fail)?;
        Ok(outputs.into_iter().map(TValue::into_arc_tensor).collect())
    }

    /// The model's description as a script value: `{format, path, inputs: [{name, type, shape}],
    /// outputs: […], load_ms}`.
    pub fn info(&self) -> Value {
        let ports = |ports: &[Port]| {
            Value::array(
                ports
                    .iter()
                    .map(|port| {
                        Value::object(vec![
                            ("name", Value::from(port.name.as_str())),
                            ("type", Value::from(port.type_name())),
                            (
                                "shape",
                                Value::array(
                                    port.shape
                                        .iter()
                                        .map(|dim| match dim {
                                            Dim::Fixed(size) => Value::from(*size),
                                            Dim::Named(name) => Value::from(name.as_str()),
                                        })
                                        .collect(),
                                ),
                            ),
                        ])
                    })
                    .collect(),
            )
        };
        Value::object(vec![
            ("format", Value::from(self.format.name())),
            ("path", Value::from(self.path.as_ref().map(|path| path.display().to_string()))),
            ("inputs", ports(&self.inputs)),
            ("outputs", ports(&self.outputs)),
            ("load_ms", Value::from((self.load_time.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)),
        ])
    }
}

/// What identifies one version of a file: a changed file has another stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path)?;
        Ok(Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// Models by canonical path. A model stays loaded while its file keeps its stamp; a changed
/// file (rewritten, replaced) is loaded again on the next `get`.
#[derive(Default)]
pub struct ModelCache {
    models: Mutex<HashMap<PathBuf, (Stamp, Arc<Model>)>>,
}

impl ModelCache {
    /// The model in `path`, loaded now or earlier.
    pub fn get(&self, path: &Path) -> Result<Arc<Model>, PluginError> {
        let canonical = path
            .canonicalize()
            .map_err(|error| PluginError::message(format!("model file {}: {error}", path.display())))?;
        let stamp = Stamp::of(&canonical)
            .map_err(|error| PluginError::message(format!("model file {}: {error}", path.display())))?;
        if let Some((known, model)) = self.models.lock().unwrap_or_else(PoisonError::into_inner).get(&canonical)
            && *known == stamp
        {
            return Ok(model.clone());
        }
        // Loaded outside the lock: a large model takes a while, and other models stay usable.
        let model = Arc::new(Model::load(&canonical)?);
        self.models.lock().unwrap_or_else(PoisonError::into_inner).insert(canonical, (stamp, model.clone()));
        Ok(model)
    }

    /// Forgets every model (their memory goes when the last handle goes).
    pub fn clear(&self) {
        self.models.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Numbers read from a nested array, before they get the port's element type.
enum Numbers {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
}

/// Reads a nested array (or a single number) into a shape and its numbers in row-major order.
/// `what` names the value in errors (`input "x"`).
pub fn read_nested(value: &Value, what: &str) -> Result<(Vec<usize>, Vec<f64>, bool), PluginError> {
    let mut shape = Vec::new();
    let mut numbers = Vec::new();
    let mut all_ints = true;
    let mut path = Vec::new();
    walk(value, 0, &mut shape, &mut numbers, &mut all_ints, &mut path, what)?;
    Ok((shape, numbers, all_ints))
}

fn walk(
    value: &Value,
    depth: usize,
    shape: &mut Vec<usize>,
    numbers: &mut Vec<f64>,
    all_ints: &mut bool,
    path: &mut Vec<usize>,
    what: &str,
) -> Result<(), PluginError> {
    let at = |path: &[usize]| path.iter().map(|index| format!("[{index}]")).collect::<String>();
    if let Some(array) = value.as_array() {
        let len = array.len();
        match shape.get(depth) {
            None if numbers.is_empty() && depth == shape.len() => shape.push(len),
            Some(&expected) if expected == len => {}
            _ => {
                let expected = shape.get(depth).map_or("a number".to_string(), |n| format!("{n} items"));
                return Err(PluginError::message(format!(
                    "{what} is not rectangular: {what}{} has {len} items where {expected} were expected",
                    at(path)
                )));
            }
        }
        for (index, item) in array.iter().enumerate() {
            path.push(index);
            walk(&item, depth + 1, shape, numbers, all_ints, path, what)?;
            path.pop();
        }
        return Ok(());
    }
    if depth != shape.len() {
        return Err(PluginError::message(format!(
            "{what} is not rectangular: {what}{} is a {} where an array of {} items was expected",
            at(path),
            value.type_name(),
            shape[depth]
        )));
    }
    let number = if let Some(int) = value.as_int() {
        int as f64
    } else if let Some(float) = value.as_float() {
        *all_ints = false;
        float
    } else if let Some(flag) = value.as_bool() {
        f64::from(u8::from(flag))
    } else {
        return Err(PluginError::message(format!("{what}{} must be a number, got a {}", at(path), value.type_name())));
    };
    numbers.push(number);
    Ok(())
}

/// A tensor of the port's element type from a nested array whose shape fits the port (same rank,
/// fixed dimensions equal). Integer ports refuse fractional numbers. With `single`, one sample
/// without the leading batch dimension is accepted too (a port whose first dimension is open
/// gets `[1, …]`); the second result says whether that happened.
pub fn tensor_from_value(value: &Value, port: &Port, what: &str, single: bool) -> Result<(Tensor, bool), PluginError> {
    let (mut shape, numbers, all_ints) = read_nested(value, what)?;
    let mut added = false;
    if single && shape.len() + 1 == port.shape.len() && matches!(port.shape.first(), Some(Dim::Named(_))) {
        shape.insert(0, 1);
        added = true;
    }
    check_rank_and_fixed(&shape, port, what, added)?;
    let numbers = if port.datum.is_integer() {
        if !all_ints && numbers.iter().any(|n| n.fract() != 0.0) {
            return Err(PluginError::message(format!(
                "{what}: the model wants {} numbers, got a fraction",
                port.type_name()
            )));
        }
        Numbers::Ints(numbers.iter().map(|n| *n as i64).collect())
    } else if port.datum == DatumType::Bool {
        Numbers::Bools(numbers.iter().map(|n| *n != 0.0).collect())
    } else {
        Numbers::Floats(numbers)
    };
    let tensor = make_tensor(&shape, numbers, port.datum)
        .map_err(|error| PluginError::message(format!("{what}: {}", tract_message(&error))))?;
    Ok((tensor, added))
}

fn make_tensor(shape: &[usize], numbers: Numbers, datum: DatumType) -> TractResult<Tensor> {
    let tensor = match numbers {
        Numbers::Ints(ints) => Tensor::from_shape(shape, &ints)?,
        Numbers::Floats(floats) => Tensor::from_shape(shape, &floats)?,
        Numbers::Bools(bools) => Tensor::from_shape(shape, &bools)?,
    };
    Ok(tensor.cast_to_dt(datum)?.into_owned())
}

/// An `i64` tensor (token ids and masks).
pub fn i64_tensor(shape: &[usize], data: &[i64]) -> Result<Tensor, PluginError> {
    Tensor::from_shape(shape, data).map_err(|error| PluginError::message(tract_message(&error)))
}

fn check_rank_and_fixed(shape: &[usize], port: &Port, what: &str, added: bool) -> Result<(), PluginError> {
    let fits = shape.len() == port.shape.len()
        && shape.iter().zip(&port.shape).all(|(size, dim)| !matches!(dim, Dim::Fixed(fixed) if fixed != size));
    if fits {
        return Ok(());
    }
    let given = if added { &shape[1..] } else { shape };
    Err(PluginError::message(format!(
        "{what} has shape {}; the model takes {} ({})",
        shape_text(given),
        port.shape_text(),
        port.type_name()
    )))
}

/// `[1, 4]`.
pub fn shape_text(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
}

/// Checks that named dimensions agree across inputs (`batch` is the same everywhere).
pub fn check_shapes(model: &Model, tensors: &[Tensor]) -> Result<(), PluginError> {
    let mut named: HashMap<&str, (usize, &str)> = HashMap::new();
    for (port, tensor) in model.inputs.iter().zip(tensors) {
        for (dim, size) in port.shape.iter().zip(tensor.shape()) {
            if let Dim::Named(name) = dim {
                match named.get(name.as_str()) {
                    Some((known, other)) if known != size => {
                        return Err(PluginError::message(format!(
                            "the inputs disagree on `{name}`: \"{other}\" has {known}, \"{}\" has {size}",
                            port.name
                        )));
                    }
                    _ => {
                        named.insert(name, (*size, &port.name));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A tensor as nested arrays: floats for float tensors, integers for integer ones, bools for
/// bools.
pub fn tensor_to_value(tensor: &Tensor) -> Result<Value, PluginError> {
    let shape = tensor.shape().to_vec();
    let datum = tensor.datum_type();
    let fail =
        |error: TractError| PluginError::message(format!("reading the model's output: {}", tract_message(&error)));
    if datum == DatumType::Bool {
        let view = tensor.to_plain_array_view::<bool>().map_err(fail)?;
        let flat: Vec<Value> = view.iter().map(|b| Value::from(*b)).collect();
        return Ok(nest(&shape, flat));
    }
    if datum.is_integer() {
        let cast = tensor.cast_to::<i64>().map_err(fail)?;
        let view = cast.to_plain_array_view::<i64>().map_err(fail)?;
        let flat: Vec<Value> = view.iter().map(|n| Value::from(*n)).collect();
        return Ok(nest(&shape, flat));
    }
    let cast = tensor.cast_to::<f64>().map_err(fail)?;
    let view = cast.to_plain_array_view::<f64>().map_err(fail)?;
    let flat: Vec<Value> = view.iter().map(|x| Value::from(*x)).collect();
    Ok(nest(&shape, flat))
}

/// Row-major values as nested arrays of `shape` (a scalar for an empty shape).
fn nest(shape: &[usize], flat: Vec<Value>) -> Value {
    if shape.is_empty() {
        return flat.into_iter().next().unwrap_or_else(Value::null);
    }
    let mut level = flat;
    for &size in shape[1..].iter().rev() {
        let mut grouped = Vec::with_capacity(level.len() / size.max(1));
        let mut items = level.into_iter();
        loop {
            let chunk: Vec<Value> = items.by_ref().take(size).collect();
            if chunk.is_empty() {
                break;
            }
            grouped.push(Value::array(chunk));
        }
        level = grouped;
    }
    Value::array(level)
}

/// The rows of a rank-2 float tensor (embeddings, probabilities) as `Vec<f32>`s.
pub fn rows_f32(tensor: &Tensor) -> Result<Vec<Vec<f32>>, PluginError> {
    let fail =
        |error: TractError| PluginError::message(format!("reading the model's output: {}", tract_message(&error)));
    let cast = tensor.cast_to::<f32>().map_err(fail)?;
    let view = cast.to_plain_array_view::<f32>().map_err(fail)?;
    if view.ndim() != 2 {
        return Err(PluginError::message(format!(
            "expected a [rows, columns] output, got shape {}",
            shape_text(tensor.shape())
        )));
    }
    Ok(view.outer_iter().map(|row| row.iter().copied().collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tensorflow/tests/fixtures").join(name)
    }

    #[test]
    fn both_formats_of_the_tiny_mlp_describe_the_same_ports_and_agree() {
        for file in ["tiny_mlp.onnx", "tiny_mlp.pb"] {
            let model = Model::load(&fixture(file)).unwrap();
            assert_eq!(model.inputs.len(), 1, "{file}");
            assert_eq!(model.inputs[0].name, "x", "{file}");
            assert_eq!(model.inputs[0].datum, DatumType::F32);
            assert_eq!(model.inputs[0].shape, [Dim::Named("batch".into()), Dim::Fixed(4)], "{file}");
            assert_eq!(model.outputs[0].name, "probs", "{file}");
            let input = Tensor::from_shape(&[1, 4], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
            let out = model.run(vec![input]).unwrap();
            let rows = rows_f32(&out[0]).unwrap();
            let want = [0.185_863_61_f32, 0.777_100_4, 0.037_036_06];
            for (got, want) in rows[0].iter().zip(want) {
                assert!((got - want).abs() < 1e-6, "{file}: {:?}", rows[0]);
            }
        }
    }

    #[test]
    fn every_batch_size_gives_the_same_rows_on_specialised_and_general_plans() {
        // More batch sizes than SHAPE_PLANS: the first ones get specialised plans, the rest run
        // on the general one; all must compute the same rows.
        let model = Model::load(&fixture("tiny_mlp.onnx")).unwrap();
        let want = [0.185_863_61_f32, 0.777_100_4, 0.037_036_06];
        for batch in [1, 2, 3, 1, 4, 5, 6, 2, 7] {
            let data: Vec<f32> = (0..batch).flat_map(|_| [1.0f32, 2.0, 3.0, 4.0]).collect();
            let out = model.run(vec![Tensor::from_shape(&[batch, 4], &data).unwrap()]).unwrap();
            let rows = rows_f32(&out[0]).unwrap();
            assert_eq!(rows.len(), batch);
            for row in &rows {
                for (got, want) in row.iter().zip(want) {
                    assert!((got - want).abs() < 1e-6, "batch {batch}: {row:?}");
                }
            }
        }
        let Plans::PerShape(plans) = &model.plans else { panic!("the tiny MLP has an open batch dimension") };
        let keys: Vec<Vec<usize>> = plans.plans.lock().unwrap().iter().map(|(key, _)| key.clone()).collect();
        assert_eq!(keys, [vec![1], vec![2], vec![3], vec![4]]);
        assert!(plans.general.lock().unwrap().is_some(), "batches 5 to 7 ran on the general plan");
    }

    #[test]
    fn unknown_extensions_and_missing_files_are_named() {
        let error = Model::load(Path::new("/tmp/model.h5")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/tmp/model.h5: unknown model format (the extension must be .onnx for ONNX or .pb for a TensorFlow frozen graph)"
        );
        let error = Model::load(Path::new("/nonexistent/model.onnx")).unwrap_err();
        assert_eq!(error.to_string(), "model file /nonexistent/model.onnx does not exist");
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("tusk-ml-common-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.onnx");
        std::fs::write(&path, b"not a protobuf at all").unwrap();
        let error = Model::load(&path).unwrap_err().to_string();
        assert!(error.starts_with(&format!("cannot load the model {}: ", path.display())), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cache_reloads_a_changed_file() {
        let dir = std::env::temp_dir().join(format!("tusk-ml-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.onnx");
        std::fs::copy(fixture("tiny_mlp.onnx"), &path).unwrap();
        let cache = ModelCache::default();
        let first = cache.get(&path).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(&path).unwrap()), "an unchanged file is not loaded again");
        // Replaced by another file (new inode): loaded again.
        let replacement = dir.join("m2.onnx");
        std::fs::copy(fixture("tiny_mlp.onnx"), &replacement).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        assert!(!Arc::ptr_eq(&first, &cache.get(&path).unwrap()), "a replaced file is loaded again");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
