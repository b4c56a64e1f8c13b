//! The `tensorflow` plugin: neural-network inference and small-model training from scripts,
//! on tract (pure Rust, CPU).
//!
//! - `load_model(path)` / `@tensorflow.load(path)`: a model handle for an ONNX file (`.onnx`)
//!   or a TensorFlow frozen graph (`.pb`); models are cached by path and file stamp, and a
//!   changed file is loaded again.
//! - `predict(model, input[, options])` / `@tensorflow.predict(…)`: runs a model (a handle, a
//!   path or a configured name) on nested arrays: one array for a one-input model, or an object
//!   of arrays by input name; one sample or a batch; the output as nested arrays (or an object
//!   by output name when there are several, or `options.outputs` picks them).
//! - `@tensorflow.train(kind, inputs, targets[, options])`: linear and logistic regression,
//!   k-means and a small MLP, fitted on the CPU into an ONNX graph that `predict` runs and
//!   `@tensorflow.save(model, path)` writes.
//! - `@tensorflow.info(model)`: inputs and outputs with their types and shapes.
//! - The seed's forms: `@tensorflow("predict", model_path, input_data)`, `@tensorflow("train",
//!   …)`, and `"load"`, `"info"`, `"save"`.

mod onnx_writer;
mod ops;
mod train;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tusk_ml_common::ModelCache;
use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

/// `[plugins.tensorflow]`.
#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Short names for model files: `{mlp = "/srv/models/mlp.onnx"}`.
    models: BTreeMap<String, String>,
    /// Where relative model paths not found beside the script are looked for (default: the
    /// cache folder of scripts/models/build.sh).
    models_dir: Option<String>,
}

/// What every call shares.
pub(crate) struct State {
    cache: ModelCache,
    aliases: BTreeMap<String, String>,
    models_dir: Option<PathBuf>,
}

/// The plugin.
#[derive(Default)]
pub struct TensorflowPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for TensorflowPlugin {
    fn name(&self) -> &str {
        "tensorflow"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = context.config()?;
        let state = Arc::new(State {
            cache: ModelCache::default(),
            aliases: settings.models,
            models_dir: settings.models_dir.map(PathBuf::from).or_else(tusk_ml_common::models_dir),
        });
        ops::register(context, &state)?;
        self.state = Some(state);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        if let Some(state) = self.state.take() {
            state.cache.clear();
        }
        Ok(())
    }
}

export_plugin!(TensorflowPlugin);
