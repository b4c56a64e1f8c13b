//! The `nlp` plugin: text processing from scripts.
//!
//! - With a model (all-MiniLM-L6-v2 as ONNX and its tokenizer.json by default, from the cache
//!   folder `scripts/models/build.sh` fills, or the files `[plugins.nlp]` names):
//!   `@nlp.tokenize` (ids, tokens, character offsets, masks), `@nlp.embed` (sentence
//!   embeddings), `@nlp.similarity` (cosine), `@nlp.search` (semantic search over a list),
//!   `@nlp.classify` (zero-shot by the nearest label description, few-shot by labelled
//!   examples).
//! - Without one: `@nlp.sentences`, `@nlp.words`, `@nlp.normalize`.
//! - The seed's forms: `@nlp("tokenize", text)`, `@nlp("classify", text)` (and every other
//!   operation by name), `tokenize(text)`, `classify(text[, labels])`.
//!
//! The model runs on the tract engine of `tusk-ml-common`, shared with the tensorflow plugin.

mod embed;
mod ops;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tusk_ml_common::ModelCache;
use tusk_plugin_sdk::{PluginContext, PluginError, TuskPlugin, export_plugin};

use crate::embed::{Embedder, Tokens};

/// A label of `classify`: a description (zero-shot) or examples (few-shot).
#[derive(serde::Deserialize, Clone, Debug)]
#[serde(untagged)]
pub(crate) enum LabelSpec {
    Description(String),
    Examples(Vec<String>),
}

/// `[plugins.nlp]`.
#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    model: Option<String>,
    tokenizer: Option<String>,
    max_length: Option<usize>,
    labels: Option<BTreeMap<String, LabelSpec>>,
}

/// Labels `classify` uses when neither the call nor the configuration gives any: sentiment.
pub(crate) fn default_labels() -> Vec<(String, LabelSpec)> {
    vec![
        (
            "positive".into(),
            LabelSpec::Description("This is positive: good, great, excellent, happy, I love it.".into()),
        ),
        ("negative".into(), LabelSpec::Description("This is negative: bad, terrible, awful, sad, I hate it.".into())),
    ]
}

/// Embeddings of label texts kept between calls (bounded).
const LABEL_CACHE: usize = 4096;

/// What every call shares.
pub(crate) struct State {
    cache: ModelCache,
    model_path: Option<PathBuf>,
    tokenizer_path: Option<PathBuf>,
    max_length: Option<usize>,
    labels: Vec<(String, LabelSpec)>,
    tokens: Mutex<Option<Arc<Tokens>>>,
    embedder: Mutex<Option<Arc<Embedder>>>,
    label_vectors: Mutex<HashMap<String, Vec<f32>>>,
}

impl State {
    fn default_file(&self, file: &str, setting: &str) -> Result<PathBuf, PluginError> {
        tusk_ml_common::models_dir().map(|dir| dir.join("all-MiniLM-L6-v2").join(file)).ok_or_else(|| {
            PluginError::message(format!("no {setting} is configured and no default folder is known (HOME is not set)"))
                .with_help(format!("set `{setting}` in [plugins.nlp]"))
        })
    }

    pub(crate) fn tokens(&self) -> Result<Arc<Tokens>, PluginError> {
        let mut slot = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tokens) = slot.as_ref() {
            return Ok(tokens.clone());
        }
        let path = match &self.tokenizer_path {
            Some(path) => path.clone(),
            None => self.default_file("tokenizer.json", "tokenizer")?,
        };
        let tokens = Arc::new(Tokens::load(&path, self.max_length)?);
        *slot = Some(tokens.clone());
        Ok(tokens)
    }

    pub(crate) fn embedder(&self) -> Result<Arc<Embedder>, PluginError> {
        let mut slot = self.embedder.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(embedder) = slot.as_ref() {
            return Ok(embedder.clone());
        }
        let path = match &self.model_path {
            Some(path) => path.clone(),
            None => self.default_file("model.onnx", "model")?,
        };
        let embedder = Arc::new(Embedder::load(&self.cache, &path, self.tokens()?)?);
        *slot = Some(embedder.clone());
        Ok(embedder)
    }

    /// Embeddings of label texts, from the cache where possible.
    pub(crate) fn label_vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PluginError> {
        let missing: Vec<String> = {
            let known = self.label_vectors.lock().unwrap_or_else(PoisonError::into_inner);
            let mut missing: Vec<String> = texts.iter().filter(|text| !known.contains_key(*text)).cloned().collect();
            missing.sort();
            missing.dedup();
            missing
        };
        if !missing.is_empty() {
            let vectors = self.embedder()?.embed(&missing)?;
            let mut known = self.label_vectors.lock().unwrap_or_else(PoisonError::into_inner);
            if known.len() + missing.len() > LABEL_CACHE {
                known.clear();
            }
            known.extend(missing.into_iter().zip(vectors));
        }
        let known = self.label_vectors.lock().unwrap_or_else(PoisonError::into_inner);
        texts
            .iter()
            .map(|text| known.get(text).cloned().ok_or_else(|| PluginError::message("label cache lost an entry")))
            .collect()
    }
}

/// The plugin.
#[derive(Default)]
pub struct NlpPlugin {
    state: Option<Arc<State>>,
}

impl TuskPlugin for NlpPlugin {
    fn name(&self) -> &str {
        "nlp"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn initialize(&mut self, context: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = context.config()?;
        let resolve = |path: Option<String>| path.map(|path| PathBuf::from(tusk_plugin_sdk::host::resolve_path(&path)));
        let state = Arc::new(State {
            cache: ModelCache::default(),
            model_path: resolve(settings.model),
            tokenizer_path: resolve(settings.tokenizer),
            max_length: settings.max_length,
            labels: settings.labels.map(|labels| labels.into_iter().collect()).unwrap_or_else(default_labels),
            tokens: Mutex::new(None),
            embedder: Mutex::new(None),
            label_vectors: Mutex::new(HashMap::new()),
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

export_plugin!(NlpPlugin);
