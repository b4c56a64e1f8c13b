//! The operators and functions of the nlp plugin: argument reading and registration.

use std::sync::Arc;

use tusk_plugin_sdk::{PluginContext, PluginError, SymbolDoc, Value};

use crate::embed::cosine;
use crate::text::{self, Normalisation};
use crate::{LabelSpec, State};

/// The arguments of one call; `offset` skips the operation name of `@nlp(op, …)`.
struct Args<'a> {
    values: &'a [Value],
    offset: usize,
    operator: &'a str,
}

impl Args<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(self.offset + index).filter(|value| !value.is_null())
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, PluginError> {
        self.get(index).ok_or_else(|| {
            PluginError::missing_argument(format!("{name} (argument {} of {})", self.offset + index + 1, self.operator))
        })
    }

    fn error(&self, index: usize, message: impl std::fmt::Display) -> PluginError {
        PluginError::message(format!("{}: {message}", self.operator)).at_argument(self.offset + index)
    }

    fn string(&self, index: usize, name: &str) -> Result<String, PluginError> {
        let value = self.required(index, name)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error(index, format!("{name} must be a string, got a {}", value.type_name())))
    }

    /// A string, or a list of strings (`true` in the second place for a list).
    fn texts(&self, index: usize, name: &str) -> Result<(Vec<String>, bool), PluginError> {
        let value = self.required(index, name)?;
        if let Some(text) = value.as_str() {
            return Ok((vec![text.to_string()], false));
        }
        let list = value.as_array().ok_or_else(|| {
            self.error(index, format!("{name} must be a string or a list of strings, got a {}", value.type_name()))
        })?;
        let texts = list
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    self.error(index, format!("{name}[{i}] must be a string, got a {}", item.type_name()))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((texts, true))
    }

    fn at_most(&self, count: usize) -> Result<(), PluginError> {
        if self.values.len() > self.offset + count {
            return Err(self
                .error(count, format!("takes at most {} arguments, got {}", self.offset + count, self.values.len())));
        }
        Ok(())
    }
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::array(items.into_iter().map(Value::from).collect())
}

fn floats(vector: &[f32]) -> Value {
    Value::array(vector.iter().map(|x| Value::from(f64::from(*x))).collect())
}

fn tokenize(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let (texts, list) = args.texts(0, "text")?;
    let mut special_tokens = true;
    if let Some(options) = args.get(1) {
        let object = options
            .as_object()
            .ok_or_else(|| args.error(1, "the options must be an object ({special_tokens: false})"))?;
        for (key, value) in object.entries() {
            match (key, value.as_bool()) {
                ("special_tokens", Some(flag)) => special_tokens = flag,
                _ => {
                    return Err(
                        args.error(1, format!("unknown option `{key}` (the option is special_tokens: true|false)"))
                    );
                }
            }
        }
    }
    let tokens = state.tokens()?;
    let mut out = Vec::with_capacity(texts.len());
    for text in &texts {
        let encoding = tokens.encode(text, special_tokens)?;
        let ints = |items: &[u32]| Value::array(items.iter().map(|n| Value::from(i64::from(*n))).collect());
        out.push(Value::object(vec![
            ("ids", ints(encoding.get_ids())),
            ("tokens", strings(encoding.get_tokens().iter().cloned())),
            (
                "offsets",
                Value::array(
                    encoding
                        .get_offsets()
                        .iter()
                        .map(|(start, end)| Value::array(vec![Value::from(*start), Value::from(*end)]))
                        .collect(),
                ),
            ),
            ("attention_mask", ints(encoding.get_attention_mask())),
            ("special_tokens_mask", ints(encoding.get_special_tokens_mask())),
        ]));
    }
    Ok(if list { Value::array(out) } else { out.pop().unwrap_or_else(Value::null) })
}

fn embed(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    let (texts, list) = args.texts(0, "text")?;
    let vectors = state.embedder()?.embed(&texts)?;
    Ok(if list { Value::array(vectors.iter().map(|v| floats(v)).collect()) } else { floats(&vectors[0]) })
}

/// A text (embedded) or a vector (as it is).
fn vector_of(state: &State, args: &Args<'_>, index: usize, name: &str) -> Result<Vec<f32>, PluginError> {
    let value = args.required(index, name)?;
    if let Some(text) = value.as_str() {
        return Ok(state.embedder()?.embed(&[text.to_string()])?.remove(0));
    }
    let (shape, numbers, _) =
        tusk_ml_common::read_nested(value, name).map_err(|error| args.error(index, error.message_text()))?;
    if shape.len() != 1 || numbers.is_empty() {
        return Err(args.error(index, format!("{name} must be a text or a vector of numbers")));
    }
    Ok(numbers.iter().map(|x| *x as f32).collect())
}

fn similarity(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let a = vector_of(state, args, 0, "a")?;
    let b = vector_of(state, args, 1, "b")?;
    if a.len() != b.len() {
        return Err(args.error(1, format!("the vectors differ in length ({} and {})", a.len(), b.len())));
    }
    Ok(Value::from(cosine(&a, &b)))
}

fn search(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(3)?;
    let query = args.string(0, "query")?;
    let (documents, _) = args.texts(1, "documents")?;
    let top = match args.get(2) {
        None => documents.len(),
        Some(value) => value
            .as_int()
            .filter(|n| *n >= 1)
            .map(|n| n as usize)
            .ok_or_else(|| args.error(2, "top_k must be an integer >= 1"))?,
    };
    let embedder = state.embedder()?;
    let query_vector = embedder.embed(&[query])?.remove(0);
    let vectors = embedder.embed(&documents)?;
    let mut scored: Vec<(usize, f64)> = vectors.iter().map(|v| cosine(&query_vector, v)).enumerate().collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Value::array(
        scored
            .into_iter()
            .take(top)
            .map(|(index, score)| {
                Value::object(vec![
                    ("index", Value::from(index)),
                    ("text", Value::from(documents[index].as_str())),
                    ("score", Value::from(score)),
                ])
            })
            .collect(),
    ))
}

/// The labels of a call: a list of names (each its own description), or an object of
/// descriptions (zero-shot) or lists of examples (few-shot).
fn labels_of(args: &Args<'_>, index: usize) -> Result<Option<Vec<(String, LabelSpec)>>, PluginError> {
    let Some(value) = args.get(index) else { return Ok(None) };
    let bad =
        || args.error(index, "the labels must be a list of names or an object {label: description or [examples]}");
    let mut labels = Vec::new();
    if let Some(list) = value.as_array() {
        for item in list.iter() {
            let name = item.as_str().ok_or_else(bad)?;
            labels.push((name.to_string(), LabelSpec::Description(name.to_string())));
        }
    } else if let Some(object) = value.as_object() {
        for (name, spec) in object.entries() {
            if let Some(text) = spec.as_str() {
                labels.push((name.to_string(), LabelSpec::Description(text.to_string())));
            } else if let Some(list) = spec.as_array() {
                let examples: Vec<String> = list
                    .iter()
                    .map(|item| item.as_str().map(str::to_string).ok_or_else(bad))
                    .collect::<Result<_, _>>()?;
                if examples.is_empty() {
                    return Err(args.error(index, format!("label `{name}` has no examples")));
                }
                labels.push((name.to_string(), LabelSpec::Examples(examples)));
            } else {
                return Err(bad());
            }
        }
    } else {
        return Err(bad());
    }
    if labels.len() < 2 {
        return Err(args.error(index, "classification needs at least two labels"));
    }
    Ok(Some(labels))
}

fn classify(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let (texts, list) = args.texts(0, "text")?;
    let labels = labels_of(args, 1)?.unwrap_or_else(|| state.labels.clone());
    // One vector per label: its description's embedding, or the normalised mean of its examples'.
    let mut label_vectors = Vec::with_capacity(labels.len());
    for (_, spec) in &labels {
        let texts = match spec {
            LabelSpec::Description(text) => vec![text.clone()],
            LabelSpec::Examples(examples) => examples.clone(),
        };
        let vectors = state.label_vectors(&texts)?;
        let mut mean = vec![0f32; vectors[0].len()];
        for vector in &vectors {
            for (sum, value) in mean.iter_mut().zip(vector) {
                *sum += value;
            }
        }
        label_vectors.push(mean);
    }
    let embedder = state.embedder()?;
    let vectors = embedder.embed(&texts)?;
    let mut out = Vec::with_capacity(texts.len());
    for vector in &vectors {
        let scores: Vec<f64> = label_vectors.iter().map(|label| cosine(vector, label)).collect();
        let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0);
        out.push(Value::object(vec![
            ("label", Value::from(labels[best].0.as_str())),
            ("score", Value::from(scores[best])),
            (
                "scores",
                Value::object(
                    labels.iter().zip(&scores).map(|((name, _), score)| (name.as_str(), Value::from(*score))).collect(),
                ),
            ),
        ]));
    }
    Ok(if list { Value::array(out) } else { out.pop().unwrap_or_else(Value::null) })
}

fn sentences(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    Ok(strings(text::sentences(&args.string(0, "text")?)))
}

fn words(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(1)?;
    Ok(strings(text::words(&args.string(0, "text")?)))
}

fn normalize(_state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    args.at_most(2)?;
    let input = args.string(0, "text")?;
    let mut how = Normalisation::default();
    if let Some(options) = args.get(1) {
        let object = options.as_object().ok_or_else(|| args.error(1, "the options must be an object"))?;
        for (key, value) in object.entries() {
            let flag = value.as_bool().ok_or_else(|| args.error(1, format!("options.{key} must be true or false")))?;
            match key {
                "nfkc" => how.nfkc = flag,
                "lowercase" => how.lowercase = flag,
                "strip_accents" => how.strip_accents = flag,
                "collapse_whitespace" => how.collapse_whitespace = flag,
                _ => {
                    return Err(args.error(
                        1,
                        format!("unknown option `{key}` (the options are nfkc, lowercase, strip_accents, collapse_whitespace)"),
                    ));
                }
            }
        }
    }
    Ok(Value::from(text::normalize(&input, how)))
}

type Operation = fn(&State, &Args<'_>) -> Result<Value, PluginError>;

/// The operations of `@nlp(operation, …)`.
const OPERATIONS: &[(&str, Operation)] = &[
    ("tokenize", tokenize),
    ("classify", classify),
    ("embed", embed),
    ("similarity", similarity),
    ("search", search),
    ("sentences", sentences),
    ("words", words),
    ("normalize", normalize),
];

fn dispatch(state: &State, args: &Args<'_>) -> Result<Value, PluginError> {
    let operation = args.required(0, "operation")?;
    let name = operation.as_str().ok_or_else(|| {
        PluginError::message(format!("@nlp: the operation must be a string, got a {}", operation.type_name()))
            .at_argument(0)
    })?;
    let Some((_, run)) = OPERATIONS.iter().find(|(known, _)| *known == name) else {
        let known: Vec<&str> = OPERATIONS.iter().map(|(known, _)| *known).collect();
        return Err(PluginError::invalid_operation(format!("@nlp has no operation `{name}`"))
            .at_argument(0)
            .with_help(format!("use one of {}", known.join(", "))));
    };
    run(state, &Args { values: args.values, offset: 1, operator: &format!("@nlp(\"{name}\")") })
}

/// Registers every operator and function (the manifest's `[capabilities]` lists exactly these).
pub(crate) fn register(context: &PluginContext, state: &Arc<State>) -> Result<(), PluginError> {
    type Entry = (&'static str, &'static str, &'static str, Operation, Vec<String>);
    let operators: Vec<Entry> = vec![
        (
            "nlp",
            "@nlp(operation, …)",
            "Runs tokenize, classify, embed, similarity, search, sentences, words or normalize with the arguments of @nlp.OPERATION.",
            dispatch,
            vec![r#"@nlp("words", "Hi there!") => ["Hi", "there", "!"]"#.into()],
        ),
        (
            "nlp.tokenize",
            "@nlp.tokenize(text | [texts][, {special_tokens}])",
            "Tokenizes with the tokenizer.json: {ids, tokens, offsets (characters), attention_mask, special_tokens_mask}.",
            tokenize,
            vec![],
        ),
        (
            "nlp.embed",
            "@nlp.embed(text | [texts])",
            "Sentence embeddings (L2-normalised; 384 numbers for all-MiniLM-L6-v2).",
            embed,
            vec![],
        ),
        (
            "nlp.similarity",
            "@nlp.similarity(a, b)",
            "Cosine similarity of two texts (embedded) or two vectors.",
            similarity,
            vec![],
        ),
        (
            "nlp.search",
            "@nlp.search(query, documents[, top_k])",
            "Documents by semantic similarity to the query: [{index, text, score}], best first.",
            search,
            vec![],
        ),
        (
            "nlp.classify",
            "@nlp.classify(text | [texts][, labels])",
            "Zero-shot (labels as names or {label: description}) or few-shot ({label: [examples]}) classification: {label, score, scores}; sentiment by default.",
            classify,
            vec![],
        ),
        (
            "nlp.sentences",
            "@nlp.sentences(text)",
            "Splits text into sentences (no model needed).",
            sentences,
            vec![
                r#"@nlp.sentences("Dr. Who paid $3.50. Then he left!") => ["Dr. Who paid $3.50.", "Then he left!"]"#
                    .into(),
            ],
        ),
        (
            "nlp.words",
            "@nlp.words(text)",
            "Splits text into words and punctuation (no model needed).",
            words,
            vec![r#"@nlp.words("Don't stop, 3.5 times!") => ["Don't", "stop", ",", "3.5", "times", "!"]"#.into()],
        ),
        (
            "nlp.normalize",
            "@nlp.normalize(text[, {nfkc, lowercase, strip_accents, collapse_whitespace}])",
            "NFKC, lowercase, accents removed, whitespace collapsed; each step can be turned off (no model needed).",
            normalize,
            vec![r#"@nlp.normalize("  Crème  BRÛLÉE ") => "creme brulee""#.into()],
        ),
    ];
    for (name, signature, summary, run, examples) in operators {
        let state = state.clone();
        let operator = format!("@{name}");
        context.register_operator_with(
            name,
            SymbolDoc { signature: signature.into(), summary: summary.into(), examples, ..SymbolDoc::default() },
            move |args: &[Value]| run(&state, &Args { values: args, offset: 0, operator: &operator }),
        )?;
    }
    let tokenize_state = state.clone();
    context.register_function_with(
        "tokenize",
        SymbolDoc {
            signature: "tokenize(text[, options])".into(),
            summary: "The same as @nlp.tokenize.".into(),
            examples: vec![r#"tokenize("Hello world!").ids => [101, 7592, 2088, 999, 102]"#.into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| tokenize(&tokenize_state, &Args { values: args, offset: 0, operator: "tokenize" }),
    )?;
    let classify_state = state.clone();
    context.register_function_with(
        "classify",
        SymbolDoc {
            signature: "classify(text[, labels])".into(),
            summary: "The same as @nlp.classify.".into(),
            examples: vec![r#"classify("I love it, it is wonderful!").label => "positive""#.into()],
            ..SymbolDoc::default()
        },
        move |args: &[Value]| classify(&classify_state, &Args { values: args, offset: 0, operator: "classify" }),
    )?;
    Ok(())
}
