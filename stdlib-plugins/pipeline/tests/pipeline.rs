//! The pipeline plugin through the real host: its built library is installed in a temporary
//! plugin folder and every operator, stage, data kind and error text is checked from scripts.
//!
//! Most tests use the test kit's engine, which runs the plugin the way the host decides for a
//! plugin found in an ordinary folder (sandboxed, where the host supports it). The tests that
//! make a million lambda calls or need the host's cancel flag use an engine that trusts the
//! plugin and so runs it in-process, the way a first-party plugin runs next to `tusk`.

use std::sync::atomic::Ordering;

use serde_json::json;
use tusk::plugins::{GrantSet, Grants, HostSettings, SearchPath};
use tusk_plugin_testkit::PluginTest;

fn plugin() -> PluginTest {
    PluginTest::for_package(env!("CARGO_MANIFEST_DIR"))
}

/// An engine that runs the installed plugin in-process (the user trusts it).
fn in_process(plugin: &PluginTest) -> tusk::Engine {
    let script_dir = plugin.script_dir();
    let mut settings = HostSettings::standard(script_dir);
    let plugins_root = plugin.plugin_dir().parent().expect("the plugin folder has a parent");
    settings.search = SearchPath::from_parts(Some(plugins_root.as_os_str()), None, None, None);
    settings.index_file = None;
    settings.cache_dir = script_dir.join("../in-process-cache");
    let mut grants = Grants::new(script_dir);
    grants.plugins.insert("pipeline".to_string(), GrantSet { trusted: true, ..GrantSet::default() });
    settings.grants = grants;
    let mut engine = tusk::Engine::new();
    let problems: Vec<_> = engine.enable_plugins(settings).into_iter().filter(|d| d.is_error()).collect();
    assert!(problems.is_empty(), "{}", engine.render_diagnostics(&problems, false));
    engine
}

fn eval_in(engine: &mut tusk::Engine, source: &str) -> Result<serde_json::Value, String> {
    match engine.eval_expression(source) {
        Ok(value) => Ok(serde_json::to_value(&value).unwrap()),
        Err(error) => Err(engine.render(&error, false).lines().next().unwrap_or_default().to_string()),
    }
}

/// The headline of the rendered diagnostic (code, operator and message).
fn error(plugin: &mut PluginTest, source: &str) -> String {
    let rendered = plugin.eval_expression(source).expect_err(source);
    rendered.lines().next().unwrap_or_default().to_string()
}

/// Host values the plugin still holds: zero once every call returned.
fn live_handles(engine: &tusk::Engine) -> usize {
    let host = engine.plugins().expect("plugins are enabled");
    host.loaded().iter().map(|loaded| loaded.live_handles()).sum()
}

#[test]
fn every_stage_works_on_arrays() {
    let mut plugin = plugin();
    let cases = [
        (r#"@pipeline("map", [1, 2, 3], x => x * 10)"#, json!([10, 20, 30])),
        (r#"@pipeline("map", [], x => x * 10)"#, json!([])),
        (r#"@pipeline("filter", [1, 2, 3, 4], x => x > 2)"#, json!([3, 4])),
        (r#"@pipeline("filter", [0, 1, "", "a", null, [], [0]], x => x)"#, json!([1, "a", [0]])),
        (r#"@pipeline("reduce", [1, 2, 3], (acc, x) => acc + x, 10)"#, json!(16)),
        (r#"@pipeline("reduce", [1, 2, 3], (acc, x) => acc * x)"#, json!(6)),
        (r#"@pipeline("reduce", [], (acc, x) => acc + x, 7)"#, json!(7)),
        (r#"@pipeline("reduce", [[1], [2, 3]], (acc, x) => acc + x, [])"#, json!([1, 2, 3])),
        (
            r#"@pipeline("group", ["ant", "bee", "cow", "asp"], s => s == "bee" ? "b" : "other")"#,
            json!({"other": ["ant", "cow", "asp"], "b": ["bee"]}),
        ),
        (r#"@pipeline("group", [], x => x)"#, json!({})),
    ];
    for (source, expected) in cases {
        assert_eq!(plugin.eval_expression(source).unwrap(), expected, "{source}");
    }
}

#[test]
fn group_keys_are_the_string_form_of_the_result() {
    let mut plugin = plugin();
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("group", [1, 2, 3, 4, 5, 6], x => x % 3)"#).unwrap(),
        json!({"1": [1, 4], "2": [2, 5], "0": [3, 6]})
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("group", [1, 2, 3], x => x > 1)"#).unwrap(),
        json!({"false": [1], "true": [2, 3]})
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("group", [1, 2, 3], x => x == 2 ? null : x / 2.0)"#).unwrap(),
        json!({"0.5": [1], "null": [2], "1.5": [3]})
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("group", [1, 3], x => x + 1.0)"#).unwrap(),
        json!({"2.0": [1], "4.0": [3]})
    );
    assert_eq!(
        error(&mut plugin, r#"@pipeline("group", [1], x => [x])"#),
        "[R015] Error: @pipeline: group keys must be strings, numbers, booleans or null; the function returned an array"
    );
    assert_eq!(
        error(&mut plugin, r#"@pipeline("group", [1], x => {k: x})"#),
        "[R015] Error: @pipeline: group keys must be strings, numbers, booleans or null; the function returned an object"
    );
}

#[test]
fn ranges_are_walked_without_materialising_them() {
    let mut plugin = plugin();
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("map", range(0, 5), x => x * x)"#).unwrap(),
        json!([0, 1, 4, 9, 16])
    );
    assert_eq!(plugin.eval_expression(r#"@pipeline("filter", 1-10, x => x % 4 == 0)"#).unwrap(), json!([4, 8]));
    assert_eq!(plugin.eval_expression(r#"@pipeline("map", range(3, 3), x => x)"#).unwrap(), json!([]));
    // A range of 9.2e18 items: materialising it would exhaust memory long before the lambda
    // stopped the walk, so reaching the lambda's error proves the walk is lazy.
    assert_eq!(
        error(
            &mut plugin,
            r#"@pipeline("reduce", range(0, 9223372036854775807), (acc, x) => x == 20 ? error("stop at ${acc}") : acc + x, 0)"#
        ),
        "[R015] Error: @pipeline: error: stop at 190"
    );
}

#[test]
fn a_million_item_range_reduces_in_process_without_leaking() {
    let plugin = plugin();
    let mut engine = in_process(&plugin);
    let started = std::time::Instant::now();
    assert_eq!(
        eval_in(&mut engine, r#"@pipeline("reduce", range(0, 1000000), (acc, x) => acc + x, 0)"#),
        Ok(json!(499999500000_i64))
    );
    assert_eq!(
        eval_in(
            &mut engine,
            r#"@pipeline.run(range(0, 1000000), [["filter", x => x % 2 == 0], ["map", x => x / 2], ["reduce", (a, x) => a + x, 0]])"#
        ),
        Ok(json!(124999750000_i64))
    );
    // Generous for an unoptimised build on a shared machine; materialising the ranges or
    // allocating per item would show up here long before it failed.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
    assert_eq!(
        eval_in(&mut engine, r#"@pipeline("map", [[1], {a: 2}, "s"], x => [x, x])"#).unwrap().as_array().unwrap().len(),
        3
    );
    assert_eq!(
        eval_in(&mut engine, r#"@pipeline("map", [[1], [2]], x => error("boom"))"#),
        Err("[R015] Error: @pipeline: error: boom".to_string())
    );
    assert_eq!(live_handles(&engine), 0);
}

#[test]
fn objects_keep_their_keys_through_map_and_filter() {
    let mut plugin = plugin();
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("map", {a: 1, b: 2, c: 3}, x => x * 2)"#).unwrap(),
        json!({"a": 2, "b": 4, "c": 6})
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("filter", {a: 1, b: 2, c: 3}, x => x != 2)"#).unwrap(),
        json!({"a": 1, "c": 3})
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("reduce", {a: 1, b: 2, c: 3}, (acc, x) => acc + x, 0)"#).unwrap(),
        json!(6)
    );
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("group", {a: 1, b: 2, c: 3}, x => x % 2)"#).unwrap(),
        json!({"1": [1, 3], "0": [2]})
    );
    assert_eq!(plugin.eval_expression(r#"@pipeline("map", {}, x => x)"#).unwrap(), json!({}));
}

#[test]
fn strings_are_walked_by_character() {
    let mut plugin = plugin();
    assert_eq!(
        plugin.eval_expression(r#"@pipeline("map", "héllo", c => upper(c))"#).unwrap(),
        json!(["H", "É", "L", "L", "O"])
    );
    assert_eq!(plugin.eval_expression(r#"@pipeline("filter", "a1b2", c => c > "9")"#).unwrap(), json!(["a", "b"]));
}

#[test]
fn stages_run_inside_documents_with_named_functions() {
    let mut plugin = plugin();
    let source = "\
double: x => x * 2
orders: [{id: 1, total: 30}, {id: 2, total: 5}, {id: 3, total: 12}]
big: @pipeline(\"filter\", orders, o => o.total >= 10)
ids: @pipeline(\"map\", big, o => o.id)
doubled: @pipeline(\"map\", ids, double)
sum: @pipeline.run(orders, [[\"map\", o => o.total], [\"reduce\", (a, b) => a + b, 0]])
";
    assert_eq!(
        plugin.eval(source).unwrap(),
        json!({
            "orders": [{"id": 1, "total": 30}, {"id": 2, "total": 5}, {"id": 3, "total": 12}],
            "big": [{"id": 1, "total": 30}, {"id": 3, "total": 12}],
            "ids": [1, 3],
            "doubled": [2, 6],
            "sum": 47
        })
    );
}

#[test]
fn run_chains_stages_in_one_pass() {
    let mut plugin = plugin();
    let cases = [
        (r#"@pipeline.run([1, 2, 3, 4], [["map", x => x + 1]])"#, json!([2, 3, 4, 5])),
        (r#"@pipeline.run(range(1, 6), [["map", x => x * x], ["filter", x => x % 2 == 1]])"#, json!([1, 9, 25])),
        (
            r#"@pipeline.run(range(0, 10), [["filter", x => x % 2 == 0], ["map", x => x * 10], ["reduce", (a, x) => a + x, 0]])"#,
            json!(200),
        ),
        (r#"@pipeline.run([1, 2, 3], [["reduce", (a, x) => a - x]])"#, json!(-4)),
        (r#"@pipeline.run({a: 1, b: 2}, [["map", x => x * 3], ["filter", x => x > 3]])"#, json!({"b": 6})),
        (
            r#"@pipeline.run(["kiwi", "fig", "plum", "pear"], [["map", s => upper(s)], ["group", s => len(s)]])"#,
            json!({"4": ["KIWI", "PLUM", "PEAR"], "3": ["FIG"]}),
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(plugin.eval_expression(source).unwrap(), expected, "{source}");
    }
    // Map and filter stream into the reduce: nothing is materialised between stages.
    assert_eq!(
        error(
            &mut plugin,
            r#"@pipeline.run(range(0, 9223372036854775807), [["filter", x => x % 2 == 0], ["map", x => x > 8 ? error("too far") : x], ["reduce", (a, x) => a + x, 0]])"#
        ),
        "[R015] Error: @pipeline.run: error: too far"
    );
}

#[test]
fn stage_errors_name_the_stage_and_the_fix() {
    let mut plugin = plugin();
    let cases = [
        (
            r#"@pipeline("sort", [1], x => x)"#,
            "[R015] Error: @pipeline: invalid operation: unknown stage `sort`; the stages are map, filter, reduce and group",
        ),
        (r#"@pipeline("map", [1], 5)"#, "[R009] Error: @pipeline: the stage function must be a function, found int"),
        (
            r#"@pipeline("filter", [1], "x => x")"#,
            "[R009] Error: @pipeline: the stage function must be a function, found string",
        ),
        (r#"@pipeline(1, [1], x => x)"#, "[R009] Error: @pipeline: the stage name must be a string, found int"),
        (
            r#"@pipeline("map", 5, x => x)"#,
            "[R009] Error: @pipeline: @pipeline works on arrays, ranges, objects and strings, not int",
        ),
        (
            r#"@pipeline("map", null, x => x)"#,
            "[R009] Error: @pipeline: @pipeline works on arrays, ranges, objects and strings, not null",
        ),
        (
            r#"@pipeline("map", [1], x => x, 0)"#,
            "[R009] Error: @pipeline: `map` takes no initial value; only reduce does",
        ),
        (
            r#"@pipeline("group", [1], x => x, 0)"#,
            "[R009] Error: @pipeline: `group` takes no initial value; only reduce does",
        ),
        (
            r#"@pipeline("reduce", [1], (a, x) => a, 0, 1)"#,
            "[R015] Error: @pipeline: @pipeline takes at most 4 arguments, but 5 were given",
        ),
        (
            r#"@pipeline("reduce", [], (acc, x) => acc + x)"#,
            "[R015] Error: @pipeline: reduce of an empty collection needs an initial value",
        ),
        (r#"@pipeline()"#, "[R015] Error: @pipeline: missing argument: stage"),
        (r#"@pipeline("map")"#, "[R015] Error: @pipeline: missing argument: data"),
        (r#"@pipeline("map", [1])"#, "[R015] Error: @pipeline: missing argument: fn"),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, source), expected, "{source}");
    }
}

#[test]
fn lambda_errors_pass_through_unchanged() {
    let mut plugin = plugin();
    let cases = [
        (r#"@pipeline("map", [1, 2], x => error("boom ${x}"))"#, "[R015] Error: @pipeline: error: boom 1"),
        (
            r#"@pipeline("filter", [1, 2], x => x == 2 ? error("bad two") : true)"#,
            "[R015] Error: @pipeline: error: bad two",
        ),
        (
            r#"@pipeline("reduce", [1, "a"], (acc, x) => acc * x, 1)"#,
            "[R015] Error: @pipeline: cannot apply `*` to int and string",
        ),
        (
            r#"@pipeline("map", [1], (a, b) => a)"#,
            "[R015] Error: @pipeline: `<lambda>` takes 2 arguments, but 1 was given",
        ),
        (r#"@pipeline("group", [1], x => x.name)"#, "[R015] Error: @pipeline: int has no key `name`"),
        (
            r#"@pipeline.run([1], [["map", x => x], ["filter", x => error("in filter")]])"#,
            "[R015] Error: @pipeline.run: error: in filter",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, source), expected, "{source}");
    }
}

#[test]
fn run_errors_name_the_stage() {
    let mut plugin = plugin();
    let cases = [
        (
            r#"@pipeline.run([1], [["map", x => x], ["mapp", x => x]])"#,
            "[R015] Error: @pipeline.run: invalid operation: stage 2: unknown stage `mapp`; the stages are map, filter, reduce and group",
        ),
        (
            r#"@pipeline.run([1], [["map", 3]])"#,
            "[R009] Error: @pipeline.run: stage 1: the stage function must be a function, found int",
        ),
        (
            r#"@pipeline.run([1], [["filter", x => x, 0]])"#,
            "[R009] Error: @pipeline.run: stage 1: `filter` takes no initial value; only reduce does",
        ),
        (
            r#"@pipeline.run([1], [["reduce", (a, x) => a, 0], ["map", x => x]])"#,
            "[R015] Error: @pipeline.run: stage 2: `reduce` ends the pipeline, so no stage may follow it",
        ),
        (
            r#"@pipeline.run([1], [["group", x => x], ["group", x => x]])"#,
            "[R015] Error: @pipeline.run: stage 2: `group` ends the pipeline, so no stage may follow it",
        ),
        (r#"@pipeline.run([1], [])"#, "[R009] Error: @pipeline.run: the pipeline has no stages"),
        (
            r#"@pipeline.run([1], [["map"]])"#,
            r#"[R009] Error: @pipeline.run: stage 1: expected [name, function] or ["reduce", function, initial value], found an array of 1 item"#,
        ),
        (
            r#"@pipeline.run([1], ["map"])"#,
            r#"[R009] Error: @pipeline.run: stage 1: expected [name, function] or ["reduce", function, initial value], found a value of type string"#,
        ),
        (
            r#"@pipeline.run([1], "map")"#,
            r#"[R009] Error: @pipeline.run: the stages must be an array of stages like ["map", f], found string"#,
        ),
        (
            r#"@pipeline.run(7, [["map", x => x]])"#,
            "[R009] Error: @pipeline.run: @pipeline works on arrays, ranges, objects and strings, not int",
        ),
        (r#"@pipeline.run()"#, "[R015] Error: @pipeline.run: missing argument: data"),
        (r#"@pipeline.run([1])"#, "[R015] Error: @pipeline.run: missing argument: stages"),
        (
            r#"@pipeline.run([1], [], 3)"#,
            "[R015] Error: @pipeline.run: @pipeline.run takes at most 2 arguments, but 3 were given",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(&mut plugin, source), expected, "{source}");
    }
}

#[test]
fn a_cancelled_run_stops_between_items() {
    let plugin = plugin();
    let mut engine = in_process(&plugin);
    // Load the plugin first: the cancel flag belongs to the host that loads it.
    assert_eq!(eval_in(&mut engine, r#"@pipeline("map", [1], x => x)"#), Ok(json!([1])));
    let flag = engine.plugins().expect("plugins are enabled").cancel_flag();
    flag.store(true, Ordering::Relaxed);
    assert_eq!(
        eval_in(&mut engine, r#"@pipeline("reduce", range(0, 1000000), (acc, x) => acc + x, 0)"#),
        Err("[R015] Error: @pipeline: the pipeline was cancelled".to_string())
    );
    // Fewer items than one check interval finish even while the flag is set.
    assert_eq!(eval_in(&mut engine, r#"@pipeline("map", range(0, 3), x => x)"#), Ok(json!([0, 1, 2])));
    flag.store(false, Ordering::Relaxed);
    assert_eq!(
        eval_in(&mut engine, r#"@pipeline("reduce", range(0, 5000), (acc, x) => acc + x, 0)"#),
        Ok(json!(12497500))
    );
}

#[test]
fn every_example_passes() {
    let mut plugin = plugin();
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}
