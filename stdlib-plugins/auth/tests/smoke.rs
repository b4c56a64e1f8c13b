use tusk_plugin_testkit::PluginTest;

#[test]
fn examples_run() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}
