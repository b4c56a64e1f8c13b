//! `@query` on SQLite without configuration (in-memory) and with a database file, the
//! manifest's examples, and a sandboxed smoke test.

use serde_json::json;
use tusk_plugin_testkit::PluginTest;

/// The plugin in-process without grants: the in-memory database needs none.
fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.in_process();
    plugin
}

#[test]
fn in_memory_by_default_and_the_examples_pass() {
    let mut plugin = plugin();
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
    let document = plugin
        .eval(
            "made: @query(\"CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB, j TEXT)\")
put: @q(\"INSERT INTO kv VALUES (?, X'00FF10', ?)\", \"a\", {list: [1, 2], ok: true})
rows: @query(\"SELECT k, v, j, typeof(v) AS t FROM kv\")
big: @query(\"SELECT ? AS n, ? AS x\", 9007199254740993, 0.1)
typed: map(@query(\"SELECT v, k, ? AS b, typeof(?) AS t FROM kv\", bytes([0, 255]), bytes(\"x\")), row => [type_of(row.v), hex(row.v), type_of(row.k), hex(row.b), row.t])
",
        )
        .unwrap();
    assert_eq!(document["made"], json!({"changes": 0, "last_id": 0}));
    assert_eq!(document["put"], json!({"changes": 1, "last_id": 1}));
    assert_eq!(document["rows"], json!([{"k": "a", "v": "AP8Q", "j": "{\"list\":[1,2],\"ok\":true}", "t": "blob"}]));
    assert_eq!(document["big"], json!([{"n": 9007199254740993_i64, "x": 0.1}]));
    // A BLOB is a byte string (JSON writes it as base64 above); a byte string binds as a BLOB.
    assert_eq!(document["typed"], json!([["bytes", "00ff10", "string", "00ff", "blob"]]));
    let missing = plugin.eval_expression("@query()").unwrap_err();
    assert!(missing.contains("missing argument: sql (argument 1 of @query)"), "{missing}");
    let not_text = plugin.eval_expression("@q(42)").unwrap_err();
    assert!(not_text.contains("@q: the SQL must be a string, got a int"), "{not_text}");
}

#[test]
fn a_database_file_needs_the_write_grant_and_persists() {
    let mut plugin = plugin();
    let file = plugin.script_dir().join("data/app.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let config = "[plugins.query]\n[plugins.query.sqlite]\nfilename = \"data/app.db\"\n";
    plugin.with_user_config(config);
    let denied = plugin.eval_expression("@query(\"SELECT 1 AS one\")").unwrap_err();
    assert!(denied.contains("sqlite: cannot use the database file"), "{denied}");
    assert!(denied.contains(&format!("--allow-write={}", file.display())), "{denied}");
    let folder = file.parent().unwrap().display().to_string();
    plugin.grant(&format!("--allow-write={folder}")).grant(&format!("--allow-read={folder}"));
    plugin.eval_expression("@query(\"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)\")").unwrap();
    plugin.eval_expression("@query(\"INSERT INTO t (v) VALUES (?)\", \"kept\")").unwrap();
    // A new engine (a new run of the script) sees what the last one wrote.
    plugin.with_user_config(config);
    assert_eq!(plugin.eval_expression("@query(\"SELECT v FROM t\")").unwrap(), json!([{"v": "kept"}]));
    let raw = std::fs::read(&file).unwrap();
    assert!(raw.starts_with(b"SQLite format 3\0"));
}

#[test]
fn configuration_mistakes_are_reported() {
    let mut plugin = plugin();
    plugin.with_user_config("[plugins.query]\ndefault = \"oracle\"\n");
    let error = plugin.eval_expression("@query(\"SELECT 1\")").unwrap_err();
    assert!(error.contains("oracle"), "{error}");
}

/// Sandboxed, the in-memory database needs no grant, and a database file the write grant of
/// its folder (SQLite writes its journal beside it).
#[test]
fn sandboxed_smoke_test() {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        plugin.eval_expression("@query(\"SELECT ? || '!' AS v\", \"sandboxed\")").unwrap(),
        json!([{"v": "sandboxed!"}])
    );
    let file = plugin.script_dir().join("data/app.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    plugin.with_user_config("[plugins.query]\n[plugins.query.sqlite]\nfilename = \"data/app.db\"\n");
    let denied = plugin.eval_expression("@query(\"SELECT 1 AS one\")").unwrap_err();
    assert!(denied.contains(&format!("--allow-write={}", file.display())), "{denied}");
    let folder = file.parent().unwrap().display().to_string();
    plugin.grant(&format!("--allow-write={folder}")).grant(&format!("--allow-read={folder}"));
    plugin.eval_expression("@query(\"CREATE TABLE t (v TEXT)\")").unwrap();
    plugin.eval_expression("@query(\"INSERT INTO t VALUES (?)\", \"kept\")").unwrap();
    assert_eq!(plugin.eval_expression("@query(\"SELECT v FROM t\")").unwrap(), json!([{"v": "kept"}]));
    assert!(std::fs::read(&file).unwrap().starts_with(b"SQLite format 3\0"));
}
