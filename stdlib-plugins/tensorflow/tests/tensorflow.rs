//! The tensorflow plugin through the real host: the tiny MLP fixtures (ONNX and a TensorFlow
//! frozen graph, made by scripts/models/build_tiny_mlp.py) with outputs computed by numpy,
//! all-MiniLM-L6-v2 for integer inputs and several outputs, and training.
//!
//! The MiniLM tests need `scripts/models/build.sh` to have run: without the model they skip
//! with a printed reason, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use tusk_plugin_testkit::PluginTest;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

/// numpy's softmax(relu(x W1 + b1) W2 + b2) for two inputs (build_tiny_mlp.py prints them).
const ONE_TWO_THREE_FOUR: [f64; 3] = [0.18586361408233643, 0.7771003842353821, 0.03703605756163597];
const SECOND_ROW: [f64; 3] = [0.3776171803474426, 0.4364173710346222, 0.18596547842025757];

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

fn assert_close(got: &Json, want: &[f64], tolerance: f64) {
    let got: Vec<f64> =
        got.as_array().unwrap_or_else(|| panic!("not an array: {got}")).iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tolerance, "{got:?} vs {want:?}");
    }
}

/// The MiniLM ONNX file, or `None` (with the reason printed) when it was not built.
fn minilm() -> Option<PathBuf> {
    let path = tusk_ml_common::models_dir().map(|dir| dir.join("all-MiniLM-L6-v2/model.onnx"));
    match path {
        Some(path) if path.is_file() => Some(path),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("all-MiniLM-L6-v2 is required under CI=true: run scripts/models/build.sh ({path:?} is missing)")
        }
        _ => {
            eprintln!("skipped: all-MiniLM-L6-v2 is not built ({path:?}); run scripts/models/build.sh");
            None
        }
    }
}

#[test]
fn the_seeds_predict_runs_onnx_and_tensorflow_files_with_numpys_outputs() {
    let mut plugin = plugin();
    for file in ["tiny_mlp.onnx", "tiny_mlp.pb"] {
        let path = fixture(file);
        // One sample in, one row out.
        let one = eval(&mut plugin, &format!(r#"@tensorflow("predict", "{path}", [1, 2, 3, 4])"#));
        assert_close(&one, &ONE_TWO_THREE_FOUR, 1e-6);
        // A batch in, a batch out, row for row.
        let batch = eval(&mut plugin, &format!(r#"predict("{path}", [[1, 2, 3, 4], [-1, 0.5, 2, 0]])"#));
        assert_close(&batch[0], &ONE_TWO_THREE_FOUR, 1e-6);
        assert_close(&batch[1], &SECOND_ROW, 1e-6);
        // Named input, named output.
        let named = eval(
            &mut plugin,
            &format!(r#"@tensorflow.predict("{path}", {{x: [[-1, 0.5, 2, 0]]}}, {{outputs: ["probs"]}})"#),
        );
        assert_close(&named["probs"][0], &SECOND_ROW, 1e-6);
    }
}

#[test]
fn load_model_gives_a_handle_that_describes_the_model() {
    let mut plugin = plugin();
    let path = fixture("tiny_mlp.pb");
    let doc = plugin
        .eval(&format!(
            "model: load_model(\"{path}\")\nkind: type_of(model)\ninfo: @tensorflow.info(model)\nout: predict(model, [1, 2, 3, 4])"
        ))
        .unwrap();
    assert_eq!(doc["kind"], json!("tensorflow.model"));
    assert_eq!(doc["info"]["format"], json!("tensorflow"));
    assert_eq!(doc["info"]["inputs"], json!([{"name": "x", "type": "float32", "shape": ["batch", 4]}]));
    assert_eq!(doc["info"]["outputs"][0]["name"], json!("probs"));
    assert_eq!(doc["info"]["outputs"][0]["type"], json!("float32"));
    assert_close(&doc["out"], &ONE_TWO_THREE_FOUR, 1e-6);
    let info = eval(&mut plugin, &format!(r#"@tensorflow("info", "{}")"#, fixture("tiny_mlp.onnx")));
    assert_eq!(info["format"], json!("onnx"));
    assert_eq!(info["outputs"], json!([{"name": "probs", "type": "float32", "shape": ["batch", 3]}]));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let mut plugin = plugin();
    let path = fixture("tiny_mlp.onnx");
    let cases = [
        (
            format!(r#"predict("{path}", [1, 2, 3])"#),
            r#"predict: input "x" has shape [3]; the model takes [batch, 4] (float32)"#,
        ),
        (
            format!(r#"predict("{path}", [[[1, 2, 3, 4]]])"#),
            r#"predict: input "x" has shape [1, 1, 4]; the model takes [batch, 4] (float32)"#,
        ),
        (
            format!(r#"predict("{path}", [[1, 2, 3, 4], [1, 2]])"#),
            r#"predict: input "x" is not rectangular: input "x"[1] has 2 items where 4 items were expected"#,
        ),
        (format!(r#"predict("{path}", [1, "two", 3, 4])"#), r#"predict: input "x"[1] must be a number, got a string"#),
        (
            format!(r#"predict("{path}", {{y: [1, 2, 3, 4]}})"#),
            r#"predict: the model has no input "y" (its inputs: "x" float32 [batch, 4])"#,
        ),
        (
            format!(r#"predict("{path}", [1, 2, 3, 4], {{output: "logits"}})"#),
            r#"predict: the model has no output "logits" (its outputs: "probs" float32 [batch, 3])"#,
        ),
        (r#"@tensorflow("explain", 1)"#.to_string(), "invalid operation: @tensorflow has no operation `explain`"),
        (r#"predict(42, [1])"#.to_string(), "predict: the model must be a path or a model from load_model, got a int"),
        (format!(r#"predict("{path}")"#), "missing argument: input (argument 2 of predict)"),
    ];
    for (expression, message) in cases {
        let text = error(&mut plugin, &expression);
        assert!(text.contains(message), "{expression}\nexpected: {message}\ngot: {text}");
    }
    // A missing model names the script that builds the test models.
    let text = error(&mut plugin, r#"predict("no/such/model.onnx", [1])"#);
    assert!(text.contains("model file no/such/model.onnx not found"), "{text}");
    assert!(text.contains("scripts/models/build.sh"), "{text}");
    let text = error(&mut plugin, &format!(r#"load_model("{}")"#, fixture("../tensorflow.rs")));
    assert!(text.contains("unknown model format"), "{text}");
}

#[test]
fn integer_inputs_and_several_outputs_with_minilm() {
    let Some(path) = minilm() else { return };
    let path = path.display();
    let mut plugin = plugin();
    // "Hello TuskLang world!" as the tokenizer encodes it.
    let ids = "[[101, 7592, 10722, 6711, 25023, 2088, 999, 102]]";
    let inputs = format!(
        "{{input_ids: {ids}, attention_mask: [[1, 1, 1, 1, 1, 1, 1, 1]], token_type_ids: [[0, 0, 0, 0, 0, 0, 0, 0]]}}"
    );
    let doc = plugin
        .eval(&format!(
            "m: load_model(\"{path}\")\nall: @tensorflow.predict(m, {inputs})\none: predict(m, {inputs}, {{output: \"sentence_embedding\"}})\ninfo: @tensorflow.info(m)"
        ))
        .unwrap();
    assert_eq!(doc["info"]["inputs"][0], json!({"name": "input_ids", "type": "int64", "shape": ["batch", "seq"]}));
    let embedding = doc["one"][0].as_array().unwrap();
    assert_eq!(embedding.len(), 384);
    let norm: f64 = embedding.iter().map(|x| x.as_f64().unwrap().powi(2)).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "the embedding is L2-normalised: {norm}");
    assert_eq!(doc["all"]["sentence_embedding"], doc["one"]);
    assert_eq!(doc["all"]["last_hidden_state"][0].as_array().unwrap().len(), 8);
    // A fraction is no token id; inputs must agree on their batch and sequence lengths.
    let text = error(
        &mut plugin,
        &format!("predict(\"{path}\", {{input_ids: [[101.5]], attention_mask: [[1]], token_type_ids: [[0]]}})"),
    );
    assert!(text.contains(r#"input "input_ids": the model wants int64 numbers, got a fraction"#), "{text}");
    let text = error(
        &mut plugin,
        &format!("predict(\"{path}\", {{input_ids: [[101, 102]], attention_mask: [[1]], token_type_ids: [[0, 0]]}})"),
    );
    assert!(text.contains(r#"the inputs disagree on `seq`: "input_ids" has 2, "attention_mask" has 1"#), "{text}");
    let text = error(&mut plugin, &format!("predict(\"{path}\", [[101, 102]])"));
    assert!(text.contains("the model has 3 inputs, so the input must be an object of arrays by name"), "{text}");
}

#[test]
fn training_fits_models_that_predict_runs_saves_and_loads() {
    let mut plugin = plugin();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("line.onnx").display().to_string();
    let doc = plugin
        .eval(&format!(
            r#"
line: @tensorflow.train("linear_regression", [[0, 0], [1, 0], [0, 1], [1, 1], [2, 3]], [1, 3, -2, 0, -4])
line_out: predict(line, [[10, 1]])
line_info: @tensorflow.info(line).training
written: @tensorflow.save(line, "{saved}")
reloaded: predict(load_model("{saved}"), [[10, 1], [0, 0]])
logistic: @tensorflow("train", "logistic_regression", [[0, 0], [0, 1], [1, 0], [5, 5], [5, 6], [6, 5], [10, 0], [11, 0], [10, 1]], [0, 0, 0, 1, 1, 1, 2, 2, 2])
logistic_out: predict(logistic, [[0.5, 0.5], [5.5, 5.5], [10.5, 0.5]])
logistic_info: @tensorflow.info(logistic).training
clusters: @tensorflow.train("kmeans", [[0, 0], [0, 1], [1, 0], [9, 9], [9, 10], [10, 9]], {{k: 2}})
assigned: predict(clusters, [[0.2, 0.3], [9.5, 9.5], [1, 1]])
xor: @tensorflow.train("mlp", [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0], {{hidden: [8], epochs: 400, learning_rate: 0.05}})
xor_out: predict(xor, [[0, 0], [0, 1], [1, 0], [1, 1]])
curve: @tensorflow.train("mlp", [[0], [1], [2], [3]], [0, 2, 4, 6], {{task: "regression", hidden: [4], epochs: 300, learning_rate: 0.05}})
curve_out: predict(curve, [[1.5]])
"#
        ))
        .unwrap();
    // y = 1 + 2 x1 - 3 x2 exactly.
    assert_close(&doc["line_out"], &[18.0], 1e-4);
    assert_close(&doc["line_info"]["coefficients"][0], &[2.0, -3.0], 1e-9);
    assert_close(&doc["line_info"]["intercept"][0], &[1.0], 1e-9);
    assert!((doc["line_info"]["r2"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(doc["written"]["path"], json!(saved));
    assert_close(&doc["reloaded"], &[18.0, 1.0], 1e-4);
    // Three well-separated classes: each probability row peaks at its class.
    for (row, class) in doc["logistic_out"].as_array().unwrap().iter().zip([0, 1, 2]) {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let best = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(best, class, "{row:?}");
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
    assert_eq!(doc["logistic_info"]["accuracy"], json!(1.0));
    // Cluster numbers are int64 outputs: integers, the same for the points near each other.
    let assigned = doc["assigned"].as_array().unwrap();
    assert!(assigned.iter().all(Json::is_i64), "{assigned:?}");
    assert_eq!(assigned[0], assigned[2]);
    assert_ne!(assigned[0], assigned[1]);
    // XOR needs the hidden layer.
    for (row, class) in doc["xor_out"].as_array().unwrap().iter().zip([0, 1, 1, 0]) {
        let p = row[class].as_f64().unwrap();
        assert!(p > 0.9, "{row}");
    }
    let y = doc["curve_out"][0].as_f64().unwrap();
    assert!((y - 3.0).abs() < 0.3, "{y}");
}

#[test]
fn training_refuses_what_it_cannot_do() {
    let mut plugin = plugin();
    let cases = [
        (
            r#"@tensorflow.train("transformer", [[1]], [1])"#,
            "invalid operation: @tensorflow.train: cannot train a `transformer`; the kinds trained here are linear_regression, logistic_regression, kmeans, mlp",
        ),
        (r#"@tensorflow.train("linear_regression", [[1], [2]], [1])"#, "there are 2 rows of inputs but 1 targets"),
        (
            r#"@tensorflow.train("logistic_regression", [[1], [2]], [0, 0.5])"#,
            "targets[1] must be a class label (0, 1, 2, …), got 0.5",
        ),
        (
            r#"@tensorflow.train("kmeans", [[1], [2]], {k: 3})"#,
            "kmeans needs options {k: N} with 1 <= N <= the number of rows (2)",
        ),
        (r#"@tensorflow.train("mlp", [[1]], [0], {epochs: 0})"#, "options.epochs must be an integer from 1 to 1000000"),
        (r#"@tensorflow.train("mlp", [[1]], [0], {speed: 3})"#, "unknown option `speed`"),
        (r#"@tensorflow.train("linear_regression", [[1, 2], [2, 4]], [1, 2])"#, "the features are linearly dependent"),
        (r#"@tensorflow.train("mlp", [], [])"#, "inputs must be a non-empty list of rows"),
    ];
    for (expression, message) in cases {
        let text = error(&mut plugin, expression);
        assert!(text.contains(message), "{expression}\nexpected: {message}\ngot: {text}");
    }
}

#[test]
fn a_changed_model_file_is_loaded_again() {
    let mut plugin = plugin();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::copy(fixture("tiny_mlp.onnx"), &path).unwrap();
    let first = eval(&mut plugin, &format!(r#"predict("{}", [1, 2, 3, 4])"#, path.display()));
    assert_close(&first, &ONE_TWO_THREE_FOUR, 1e-6);
    // Another model written over the same path: the next call sees it.
    eval(
        &mut plugin,
        &format!(
            r#"@tensorflow.save(@tensorflow.train("linear_regression", [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], [0, 1, 1, 1, 1]), "{}")"#,
            path.display()
        ),
    );
    // One sample of a model with flat outputs: one number.
    let second = eval(&mut plugin, &format!(r#"predict("{}", [1, 2, 3, 4])"#, path.display()));
    assert!((second.as_f64().unwrap() - 10.0).abs() < 1e-4, "{second}");
}

#[test]
fn configured_names_and_the_models_folder() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    plugin
        .with_user_config(&format!(
            "[plugins.tensorflow]\nmodels_dir = \"{}\"\nmodels = {{ mlp = \"{}\" }}\n",
            fixtures.display(),
            fixture("tiny_mlp.pb")
        ))
        .in_process();
    assert_close(&eval(&mut plugin, r#"predict("mlp", [1, 2, 3, 4])"#), &ONE_TWO_THREE_FOUR, 1e-6);
    assert_close(&eval(&mut plugin, r#"predict("tiny_mlp.onnx", [1, 2, 3, 4])"#), &ONE_TWO_THREE_FOUR, 1e-6);
}

#[test]
fn sandboxed_with_a_read_grant() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    plugin.grant(&format!("--allow-read={}", fixtures.display()));
    let out = eval(&mut plugin, &format!(r#"@tensorflow("predict", "{}", [1, 2, 3, 4])"#, fixture("tiny_mlp.onnx")));
    assert_close(&out, &ONE_TWO_THREE_FOUR, 1e-6);
}

#[test]
fn examples_run() {
    assert_eq!(plugin().run_examples(), Vec::<String>::new());
}
