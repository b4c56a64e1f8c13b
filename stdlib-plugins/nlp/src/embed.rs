//! The tokenizer and the sentence-embedding model, loaded on first use.

use std::path::Path;
use std::sync::Arc;

use tokenizers::{Encoding, Tokenizer};
use tusk_ml_common::{BUILD_SCRIPT, Model, ModelCache, i64_tensor, rows_f32};
use tusk_plugin_sdk::PluginError;

/// A tokenizer.json, with the file's fixed padding turned off (inputs are padded per batch to
/// their longest member instead) and its truncation kept (or set by `max_length`).
pub struct Tokens {
    tokenizer: Tokenizer,
}

fn missing(what: &str, path: &Path, setting: &str) -> PluginError {
    PluginError::message(format!("the {what} {} does not exist", path.display()))
        .with_help(format!("build the default model with {BUILD_SCRIPT}, or set `{setting}` in [plugins.nlp]"))
}

impl Tokens {
    pub fn load(path: &Path, max_length: Option<usize>) -> Result<Tokens, PluginError> {
        if !path.is_file() {
            return Err(missing("tokenizer file", path, "tokenizer"));
        }
        let mut tokenizer = Tokenizer::from_file(path)
            .map_err(|error| PluginError::message(format!("cannot read the tokenizer {}: {error}", path.display())))?;
        tokenizer.with_padding(None);
        if let Some(max_length) = max_length {
            let mut truncation = tokenizer.get_truncation().cloned().unwrap_or_default();
            truncation.max_length = max_length;
            tokenizer
                .with_truncation(Some(truncation))
                .map_err(|error| PluginError::configuration(format!("max_length {max_length}: {error}")))?;
        }
        Ok(Tokens { tokenizer })
    }

    /// One text's encoding; offsets in characters.
    pub fn encode(&self, text: &str, special_tokens: bool) -> Result<Encoding, PluginError> {
        self.tokenizer
            .encode_char_offsets(text, special_tokens)
            .map_err(|error| PluginError::message(format!("cannot tokenize: {error}")))
    }
}

/// A sentence-embedding model over its tokenizer.
pub struct Embedder {
    pub tokens: Arc<Tokens>,
    pub model: Arc<Model>,
}

/// Texts embedded per model run: bounds the padded batch's memory.
const CHUNK: usize = 64;

impl Embedder {
    pub fn load(cache: &ModelCache, model: &Path, tokens: Arc<Tokens>) -> Result<Embedder, PluginError> {
        if !model.is_file() {
            return Err(missing("model file", model, "model"));
        }
        let model = cache.get(model)?;
        if model.input("input_ids").is_none() {
            return Err(PluginError::message(format!(
                "{} is not a sentence-embedding model: it has no input_ids input",
                model.path.as_ref().map_or_else(String::new, |path| path.display().to_string())
            )));
        }
        Ok(Embedder { tokens, model })
    }

    /// L2-normalised sentence embeddings, one per text.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PluginError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(CHUNK) {
            out.extend(self.embed_chunk(chunk)?);
        }
        Ok(out)
    }

    fn embed_chunk(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PluginError> {
        let encodings: Vec<Encoding> =
            texts.iter().map(|text| self.tokens.encode(text, true)).collect::<Result<_, _>>()?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        for (row, encoding) in encodings.iter().enumerate() {
            for (column, ((id, attention), kind)) in
                encoding.get_ids().iter().zip(encoding.get_attention_mask()).zip(encoding.get_type_ids()).enumerate()
            {
                ids[row * seq + column] = i64::from(*id);
                mask[row * seq + column] = i64::from(*attention);
                types[row * seq + column] = i64::from(*kind);
            }
        }
        let shape = [batch, seq];
        let mut inputs = Vec::new();
        for port in &self.model.inputs {
            let data = match port.name.as_str() {
                "input_ids" => &ids,
                "attention_mask" => &mask,
                "token_type_ids" => &types,
                other => {
                    return Err(PluginError::message(format!(
                        "the embedding model has an input \"{other}\"; only input_ids, attention_mask and token_type_ids are fed"
                    )));
                }
            };
            inputs.push(
                i64_tensor(&shape, data)?
                    .cast_to_dt(port.datum)
                    .map_err(|error| PluginError::message(error.to_string()))?
                    .into_owned(),
            );
        }
        let outputs = self.model.run(inputs)?;
        // A sentence-transformers graph gives the pooled embedding; a plain encoder gives the
        // token vectors, mean-pooled here under the attention mask.
        if let Some((position, _)) = self.model.output("sentence_embedding") {
            return Ok(rows_f32(&outputs[position])?.into_iter().map(normalised).collect());
        }
        let hidden = &outputs[0];
        let [b, s, h] = hidden.shape() else {
            return Err(PluginError::message("the embedding model's first output is not [batch, seq, hidden]"));
        };
        let (b, s, h) = (*b, *s, *h);
        let values = hidden
            .cast_to::<f32>()
            .and_then(|cast| cast.to_plain_array_view::<f32>().map(|view| view.iter().copied().collect::<Vec<f32>>()))
            .map_err(|error| PluginError::message(error.to_string()))?;
        let mut pooled = Vec::with_capacity(b);
        for row in 0..b {
            let mut sum = vec![0f32; h];
            let mut count = 0f32;
            for token in 0..s.min(seq) {
                if mask[row * seq + token] == 0 {
                    continue;
                }
                count += 1.0;
                for (k, value) in sum.iter_mut().enumerate() {
                    *value += values[(row * s + token) * h + k];
                }
            }
            pooled.push(normalised(sum.into_iter().map(|v| v / count.max(1e-9)).collect()));
        }
        Ok(pooled)
    }
}

fn normalised(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    for value in &mut vector {
        *value /= norm;
    }
    vector
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}
