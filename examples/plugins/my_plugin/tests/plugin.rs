//! The template plugin through the real loader: its operator, its function, its examples.

use serde_json::json;
use tusk_plugin_testkit::PluginTest;

#[test]
fn operator_function_and_examples_work_through_the_host() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(plugin.eval_expression("@my_operator(\"tusk\")").unwrap(), json!("Hello, tusk!"));
    assert_eq!(
        plugin.eval("twice: my_function(21)\nmany: map([1, 2.5], my_function)\n").unwrap(),
        json!({"twice": 42, "many": [2, 5.0]})
    );
    let error = plugin.eval_expression("my_function(\"x\")").unwrap_err();
    assert!(error.contains("my_function: expected a number, found string"), "{error}");
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

#[test]
fn the_same_library_gives_the_same_results_in_process() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    assert_eq!(plugin.eval_expression("@my_operator(\"tusk\")").unwrap(), json!("Hello, tusk!"));
    let error = plugin.eval_expression("my_function(\"x\")").unwrap_err();
    assert!(error.contains("my_function: expected a number, found string"), "{error}");
}
