//! The nlp plugin through the real host: the model-free functions everywhere, and tokenization,
//! embeddings, similarity, search and classification with all-MiniLM-L6-v2, whose expected
//! values (token ids, cosines) match Python's tokenizers and onnxruntime on the same files.
//!
//! The model tests need `scripts/models/build.sh` to have run: without the model they skip with
//! a printed reason, except under `CI=true`, where they fail.

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use tusk_plugin_testkit::PluginTest;

fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    plugin
}

fn eval(plugin: &mut PluginTest, expression: &str) -> Json {
    plugin.eval_expression(expression).unwrap_or_else(|error| panic!("{expression}\n{error}"))
}

fn error(plugin: &mut PluginTest, expression: &str) -> String {
    match plugin.eval_expression(expression) {
        Ok(value) => panic!("{expression} should fail, gave {value}"),
        Err(error) => error,
    }
}

/// The default model folder, or `None` (with the reason printed) when the model was not built.
fn minilm() -> Option<PathBuf> {
    let dir = tusk_ml_common::models_dir().map(|dir| dir.join("all-MiniLM-L6-v2"));
    match dir {
        Some(dir) if dir.join("model.onnx").is_file() && dir.join("tokenizer.json").is_file() => Some(dir),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("all-MiniLM-L6-v2 is required under CI=true: run scripts/models/build.sh ({dir:?} is incomplete)")
        }
        _ => {
            eprintln!("skipped: all-MiniLM-L6-v2 is not built ({dir:?}); run scripts/models/build.sh");
            None
        }
    }
}

#[test]
fn model_free_functions_work_without_any_model() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    // A configuration pointing at files that do not exist: nothing here needs them.
    plugin
        .with_user_config(
            "[plugins.nlp]\nmodel = \"/nonexistent/model.onnx\"\ntokenizer = \"/nonexistent/tokenizer.json\"\n",
        )
        .in_process();
    assert_eq!(
        eval(&mut plugin, r#"@nlp.sentences("Mr. Smith arrived at 3.15 p.m. on Monday. He left! Did he?")"#),
        json!(["Mr. Smith arrived at 3.15 p.m. on Monday.", "He left!", "Did he?"])
    );
    assert_eq!(
        eval(&mut plugin, r#"@nlp("words", "It's 4.5°C in São Paulo—isn't it?")"#),
        json!(["It's", "4.5", "°", "C", "in", "São", "Paulo", "—", "isn't", "it", "?"])
    );
    assert_eq!(eval(&mut plugin, r#"@nlp.normalize("  Ｃａｆé   DÉJÀ\tvu ")"#), json!("cafe deja vu"));
    assert_eq!(
        eval(&mut plugin, r#"@nlp.normalize("Ａ  Café", {lowercase: false, strip_accents: false})"#),
        json!("A Café")
    );
    // What needs the model says what is missing and how to get it.
    let text = error(&mut plugin, r#"@nlp("tokenize", "hello")"#);
    assert!(text.contains("the tokenizer file /nonexistent/tokenizer.json does not exist"), "{text}");
    assert!(text.contains("scripts/models/build.sh"), "{text}");
    let text = error(&mut plugin, r#"@nlp.normalize("x", {shout: true})"#);
    assert!(text.contains("unknown option `shout`"), "{text}");
    let text = error(&mut plugin, r#"@nlp("summarize", "x")"#);
    assert!(text.contains("invalid operation: @nlp has no operation `summarize`"), "{text}");
    let text = error(&mut plugin, r#"@nlp.words(42)"#);
    assert!(text.contains("@nlp.words: text must be a string, got a int"), "{text}");
}

#[test]
fn tokenize_gives_the_ids_of_pythons_tokenizers() {
    if minilm().is_none() {
        return;
    }
    let mut plugin = plugin();
    let out = eval(&mut plugin, r#"@nlp("tokenize", "Hello TuskLang world!")"#);
    assert_eq!(out["ids"], json!([101, 7592, 10722, 6711, 25023, 2088, 999, 102]));
    assert_eq!(out["tokens"], json!(["[CLS]", "hello", "tu", "##sk", "##lang", "world", "!", "[SEP]"]));
    // Character offsets into the text; the special tokens have none.
    assert_eq!(out["offsets"], json!([[0, 0], [0, 5], [6, 8], [8, 10], [10, 14], [15, 20], [20, 21], [0, 0]]));
    assert_eq!(out["attention_mask"], json!([1, 1, 1, 1, 1, 1, 1, 1]));
    assert_eq!(out["special_tokens_mask"], json!([1, 0, 0, 0, 0, 0, 0, 1]));
    // The function, a list, and without special tokens; no fixed padding to 128.
    let list = eval(&mut plugin, r#"tokenize(["Hello", "Ünïcödé text"], {special_tokens: false})"#);
    assert_eq!(list[0]["ids"], json!([7592]));
    assert_eq!(list[1]["tokens"], json!(["unicode", "text"]));
    // Truncation at the tokenizer's 128 tokens.
    let long = eval(&mut plugin, &format!("tokenize(\"{}\")", "word ".repeat(300)));
    assert_eq!(long["ids"].as_array().unwrap().len(), 128);
}

#[test]
fn embeddings_and_cosines_match_onnxruntime() {
    if minilm().is_none() {
        return;
    }
    let mut plugin = plugin();
    let base = "A man is eating food.";
    for (other, expected) in [
        ("A man is eating a piece of bread.", 0.7553),
        ("A man is riding a horse.", 0.2474),
        ("The stock market fell sharply today.", 0.0037),
    ] {
        let cosine = eval(&mut plugin, &format!(r#"@nlp.similarity("{base}", "{other}")"#)).as_f64().unwrap();
        assert!((cosine - expected).abs() < 1e-3, "{other}: {cosine} vs {expected}");
    }
    let doc = plugin
        .eval(&format!(
            "one: @nlp.embed(\"{base}\")\nbatch: @nlp(\"embed\", [\"{base}\", \"A man is riding a horse.\"])\nsame: @nlp.similarity(one, batch[0])"
        ))
        .unwrap();
    assert_eq!(doc["one"].as_array().unwrap().len(), 384);
    // A padded batch gives each text the embedding it has alone.
    let (one, first) = (doc["one"].as_array().unwrap(), doc["batch"][0].as_array().unwrap());
    for (a, b) in one.iter().zip(first) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-5);
    }
    assert!((doc["same"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let text = error(&mut plugin, "@nlp.similarity([1, 0], [1, 0, 0])");
    assert!(text.contains("the vectors differ in length (2 and 3)"), "{text}");
}

#[test]
fn semantic_search_ranks_by_meaning() {
    if minilm().is_none() {
        return;
    }
    let mut plugin = plugin();
    let out = eval(
        &mut plugin,
        r#"@nlp.search("How do I reset my password?", ["The weather is sunny today.", "Steps to change your account password", "Our office opens at 9 am.", "Forgot your login credentials? Recover them here."], 2)"#,
    );
    let results = out.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["index"], json!(1));
    assert_eq!(results[0]["text"], json!("Steps to change your account password"));
    assert_eq!(results[1]["index"], json!(3));
    assert!(results[0]["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap());
}

#[test]
fn classification_zero_shot_few_shot_and_the_seeds_default() {
    if minilm().is_none() {
        return;
    }
    let mut plugin = plugin();
    // The seed's form: sentiment labels by default.
    let positive = eval(&mut plugin, r#"@nlp("classify", "I love this movie, it is wonderful and great fun")"#);
    assert_eq!(positive["label"], json!("positive"), "{positive}");
    let negative = eval(&mut plugin, r#"classify("This was a terrible, awful waste of time and I hated it")"#);
    assert_eq!(negative["label"], json!("negative"), "{negative}");
    assert_eq!(negative["scores"].as_object().unwrap().len(), 2);
    // Zero-shot with label names.
    let topic = eval(
        &mut plugin,
        r#"@nlp.classify("The striker scored twice in the final match", ["sports", "politics", "cooking"])"#,
    );
    assert_eq!(topic["label"], json!("sports"), "{topic}");
    // Few-shot with examples, several texts at once.
    let few = eval(
        &mut plugin,
        r#"@nlp.classify(["My card was charged twice", "The app crashes when I open settings"], {billing: ["I was billed the wrong amount", "Refund my payment please", "Why is there an extra charge on my invoice?"], bug: ["The page shows an error", "The button does nothing when clicked", "It freezes on startup"]})"#,
    );
    assert_eq!(few[0]["label"], json!("billing"), "{few}");
    assert_eq!(few[1]["label"], json!("bug"), "{few}");
    let text = error(&mut plugin, r#"@nlp.classify("x", ["only"])"#);
    assert!(text.contains("classification needs at least two labels"), "{text}");
}

#[test]
fn configured_labels_are_the_default() {
    let Some(dir) = minilm() else { return };
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin
        .with_user_config(&format!(
            "[plugins.nlp]\nmodel = \"{}\"\ntokenizer = \"{}\"\n[plugins.nlp.labels]\nweather = \"rain, sun, wind and temperature\"\nfood = [\"pasta with tomato sauce\", \"a bowl of rice\"]\n",
            dir.join("model.onnx").display(),
            dir.join("tokenizer.json").display()
        ))
        .in_process();
    assert_eq!(eval(&mut plugin, r#"classify("It will be cold and stormy tomorrow")"#)["label"], json!("weather"));
    assert_eq!(eval(&mut plugin, r#"classify("I cooked spaghetti for dinner")"#)["label"], json!("food"));
}

#[test]
fn examples_run() {
    // tokenize's and classify's examples use the model.
    if minilm().is_none() {
        return;
    }
    assert_eq!(plugin().run_examples(), Vec::<String>::new());
}
