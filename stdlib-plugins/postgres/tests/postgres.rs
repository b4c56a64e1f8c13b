//! The postgres plugin against the real server on 127.0.0.1:5432 (trust authentication,
//! database `test`), through the real host: in-process as a first-party plugin runs, plus one
//! sandboxed smoke test. Every test uses its own tables and drops them.
//!
//! Without a server the tests skip with a printed reason, except under `CI=true`, where a
//! missing server fails them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value as Json, json};
use tusk_plugin_testkit::{PluginTest, ServicesEnd, require};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const GRANT_NET: &str = "--allow-net=127.0.0.1:5432";

/// The tests' own connection, or `None` (and why) when no server answers.
fn direct() -> Option<postgres::Client> {
    require("PostgreSQL on 127.0.0.1:5432", || {
        postgres::Client::connect("host=127.0.0.1 port=5432 user=postgres dbname=test", postgres::NoTls)
    })
}

/// The plugin installed for one test, in-process, with the grants it needs.
fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-db").grant(GRANT_NET).in_process();
    plugin
}

/// A table name no other test (or test process) uses.
fn table(test: &str) -> String {
    format!("tusk_pg_{test}_{}", std::process::id())
}

/// Drops the named tables when the test ends, however it ends.
struct Tables(Vec<String>);

impl Drop for Tables {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls) {
            for name in &self.0 {
                let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS {name}"));
            }
        }
    }
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

#[test]
fn typed_results_in_column_order() {
    let Some(mut client) = direct() else { return };
    let name = table("types");
    let _tables = Tables(vec![name.clone()]);
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (id int PRIMARY KEY, small smallint, big bigint, real_ float4, double float8,
               exact numeric(12, 4), label text, flag bool, doc jsonb, raw json, stamp timestamp, stamp_tz timestamptz,
               day date, clock time, span interval, blob bytea, tags text[], grid int[][], uid uuid, nothing text);
             INSERT INTO {name} VALUES (1, -7, 9007199254740993, 1.5, 2.25, 12345678.9012, 'héllo ✓', true,
               '{{\"b\": [1, 2.5, null], \"a\": {{\"x\": \"y\"}}}}', '[1, \"two\"]', '2024-02-29 13:05:09.25',
               '2024-02-29 13:05:09+02', '1999-12-31', '23:59:59.5', '1 year 2 mons 3 days 04:05:06.5', '\\x00ff10',
               ARRAY['a', NULL, 'c \"q\"'], ARRAY[[1, 2], [3, 4]], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL);"
        ))
        .unwrap();
    let mut plugin = plugin();
    let rows = eval(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT * FROM {name}\")"));
    assert_eq!(
        rows,
        json!([{
            "id": 1, "small": -7, "big": 9007199254740993_i64, "real_": 1.5, "double": 2.25, "exact": "12345678.9012",
            "label": "héllo ✓", "flag": true, "doc": {"a": {"x": "y"}, "b": [1, 2.5, null]}, "raw": [1, "two"],
            "stamp": "2024-02-29T13:05:09.25", "stamp_tz": "2024-02-29T11:05:09Z", "day": "1999-12-31",
            "clock": "23:59:59.5", "span": "P1Y2M3DT4H5M6.5S", "blob": "AP8Q", "tags": ["a", null, "c \"q\""],
            "grid": [[1, 2], [3, 4]], "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "nothing": null
        }])
    );
    // Keys come in the select list's order, not alphabetically.
    let text =
        plugin.eval(&format!("r: @postgres.query(\"{URL}\", \"SELECT 1 AS zeta, 2 AS alpha, 3 AS mid\")")).unwrap();
    let keys: Vec<&String> = text["r"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["zeta", "alpha", "mid"]);
}

#[test]
fn byte_strings_bind_as_bytea_and_come_back_as_byte_strings() {
    let Some(mut client) = direct() else { return };
    let name = table("bytes");
    let _tables = Tables(vec![name.clone()]);
    client
        .batch_execute(&format!("CREATE TABLE {name} (id int PRIMARY KEY, data bytea, label text, parts bytea[])"))
        .unwrap();
    let mut plugin = plugin();
    let inserted = eval(
        &mut plugin,
        &format!(
            "@postgres.execute(\"{URL}\", \"INSERT INTO {name} VALUES ($1, $2, $3, $4)\", [1, bytes([0, 255, 0, 10]), \"plain\", [bytes([1, 92]), bytes(\"\\\"\")]])"
        ),
    );
    assert_eq!(inserted, json!(1));
    // What the server stored, read without the plugin.
    let row = client.query_one(&format!("SELECT data, parts FROM {name}"), &[]).unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), vec![0, 255, 0, 10]);
    assert_eq!(row.get::<_, Vec<Vec<u8>>>(1), vec![vec![1, 92], vec![34]]);
    let cells = eval(
        &mut plugin,
        &format!(
            "map(@postgres.query(\"{URL}\", \"SELECT data, label, parts FROM {name}\"), row => [type_of(row.data), row.data == bytes([0, 255, 0, 10]), type_of(row.label), row.label, map(row.parts, hex)])"
        ),
    );
    assert_eq!(cells, json!([["bytes", true, "string", "plain", ["015c", "22"]]]));
    // A byte string is not text: a text parameter refuses it rather than storing its hex form.
    let refused =
        error(&mut plugin, &format!("@postgres.execute(\"{URL}\", \"UPDATE {name} SET label = $1\", [bytes([1])])"));
    assert!(refused.contains("a byte string cannot be sent as text: only bytea takes bytes"), "{refused}");
}

#[test]
fn parameters_are_typed_and_never_interpolated() {
    let Some(mut client) = direct() else { return };
    let name = table("params");
    let _tables = Tables(vec![name.clone()]);
    client
        .batch_execute(&format!("CREATE TABLE {name} (id serial PRIMARY KEY, n int, x float8, price numeric, t text, b bool, d jsonb, at timestamptz, tags int[])"))
        .unwrap();
    let mut plugin = plugin();
    let inserted = eval(
        &mut plugin,
        &format!(
            "@postgres.execute(\"{URL}\", \"INSERT INTO {name} (n, x, price, t, b, d, at, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)\",
               [42, 0.5, 19.99, \"Robert'); DROP TABLE {name}; --\", true, {{k: [1, \"v\"]}}, \"2024-01-02T03:04:05Z\", [3, 1, 2]])"
        ),
    );
    assert_eq!(inserted, json!(1));
    let rows = eval(
        &mut plugin,
        &format!(
            "@postgres.query(\"{URL}\", \"SELECT n, x, price, t, b, d, at, tags FROM {name} WHERE n = $1 AND t LIKE $2\", [42, \"Robert%\"])"
        ),
    );
    assert_eq!(
        rows,
        json!([{"n": 42, "x": 0.5, "price": "19.99", "t": format!("Robert'); DROP TABLE {name}; --"), "b": true,
                "d": {"k": [1, "v"]}, "at": "2024-01-02T03:04:05Z", "tags": [3, 1, 2]}])
    );
    // Null parameters, and an array parameter for = ANY.
    assert_eq!(
        eval(
            &mut plugin,
            &format!(
                "@postgres.query(\"{URL}\", \"SELECT count(*) AS c FROM {name} WHERE n = ANY($1) AND $2::text IS NULL\", [[1, 42], null])"
            )
        ),
        json!([{"c": 1}])
    );
    let out_of_range = error(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT $1::int2 AS v\", [70000])"));
    assert!(
        out_of_range.contains("parameter $1: the integer 70000 does not fit the parameter's type int2"),
        "{out_of_range}"
    );
    let count = error(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT $1::int, $2::int\", [1])"));
    assert!(count.contains("the statement has 2 parameters but 1 value was given"), "{count}");
    let bad_text = error(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT $1::int AS v\", [\"seven\"])"));
    assert!(bad_text.contains("invalid input syntax for type integer: \"seven\""), "{bad_text}");
}

#[test]
fn execute_counts_rows_and_statements_without_rows_give_changes() {
    let Some(mut client) = direct() else { return };
    let name = table("execute");
    let _tables = Tables(vec![name.clone()]);
    client.batch_execute(&format!("CREATE TABLE {name} (id int PRIMARY KEY, v text); INSERT INTO {name} SELECT g, 'x' FROM generate_series(1, 5) g")).unwrap();
    let mut plugin = plugin();
    assert_eq!(
        eval(
            &mut plugin,
            &format!("@postgres.execute(\"{URL}\", \"UPDATE {name} SET v = $1 WHERE id > $2\", [\"y\", 2])")
        ),
        json!(3)
    );
    assert_eq!(
        eval(&mut plugin, &format!("@postgres.query(\"{URL}\", \"DELETE FROM {name} WHERE id = 1\")")),
        json!({"changes": 1, "last_id": null})
    );
    assert_eq!(
        eval(
            &mut plugin,
            &format!(
                "@postgres.query(\"{URL}\", \"INSERT INTO {name} VALUES ($1, $2) RETURNING id, v\", [10, \"new\"])"
            )
        ),
        json!([{"id": 10, "v": "new"}])
    );
}

#[test]
fn the_seed_forms_work_as_written() {
    let Some(mut client) = direct() else { return };
    let name = table("seed");
    let _tables = Tables(vec![name.clone()]);
    client.batch_execute(&format!("CREATE TABLE {name} (id int PRIMARY KEY, v text)")).unwrap();
    let mut plugin = plugin();
    let document = plugin
        .eval(&format!(
            "made: @postgres(\"transaction\", \"{URL}\", [\"INSERT INTO {name} VALUES (1, 'a')\", [\"INSERT INTO {name} VALUES ($1, $2)\", [2, \"b\"]]])
rows: @postgres(\"query\", \"{URL}\", \"SELECT * FROM {name} ORDER BY id\")
$pool: create_pool(\"{URL}\", {{pool_size: 2, tls: \"disable\"}})
kind: type_of($pool)
again: execute_query($pool, \"SELECT v FROM {name} WHERE id = $1\", [2])
changed: @postgres(\"execute\", $pool, \"UPDATE {name} SET v = 'z'\")
"
        ))
        .unwrap();
    assert_eq!(document["made"], json!([{"changes": 1, "last_id": null}, {"changes": 1, "last_id": null}]));
    assert_eq!(document["rows"], json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]));
    assert_eq!(document["kind"], json!("postgres.pool"));
    assert_eq!(document["again"], json!([{"v": "b"}]));
    assert_eq!(document["changed"], json!(2));
    let unknown = error(&mut plugin, &format!("@postgres(\"upsert\", \"{URL}\", \"SELECT 1\")"));
    assert!(unknown.contains("invalid operation: @postgres has no operation `upsert`"), "{unknown}");
    assert!(
        unknown.contains("use one of query, execute, transaction, listen, unlisten, listeners, notify"),
        "{unknown}"
    );
    let missing = error(&mut plugin, "@postgres(\"query\")");
    assert!(missing.contains("missing argument: connection"), "{missing}");
}

#[test]
fn transactions_commit_roll_back_and_nest_as_savepoints() {
    let Some(mut client) = direct() else { return };
    let name = table("tx");
    let _tables = Tables(vec![name.clone()]);
    client.batch_execute(&format!("CREATE TABLE {name} (id int PRIMARY KEY, v text)")).unwrap();
    let mut plugin = plugin();
    let ids = |client: &mut postgres::Client| -> Vec<i32> {
        client.query(&format!("SELECT id FROM {name} ORDER BY id"), &[]).unwrap().iter().map(|row| row.get(0)).collect()
    };
    // Committed when the function returns; its value is the transaction's.
    let value = eval(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", tx => [@postgres.execute(tx, \"INSERT INTO {name} VALUES (1, 'a')\"), @postgres.query(tx, \"SELECT count(*) AS n FROM {name}\")])"
        ),
    );
    assert_eq!(value, json!([1, [{"n": 1}]]));
    assert_eq!(ids(&mut client), [1]);
    // A script error rolls back.
    let failed = error(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", tx => [@postgres.execute(tx, \"INSERT INTO {name} VALUES (2, 'b')\"), error(\"stop here\")])"
        ),
    );
    assert!(failed.contains("stop here"), "{failed}");
    assert_eq!(ids(&mut client), [1]);
    // So does a database error (a duplicate key), with the database's message.
    let duplicate = error(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", tx => [@postgres.execute(tx, \"INSERT INTO {name} VALUES (3, 'c')\"), @postgres.execute(tx, \"INSERT INTO {name} VALUES (1, 'again')\")])"
        ),
    );
    assert!(
        duplicate.contains(&format!("duplicate key value violates unique constraint \"{name}_pkey\"")),
        "{duplicate}"
    );
    assert_eq!(ids(&mut client), [1]);
    // Nested: the inner failure rolls back to its savepoint only; the outer commits.
    let nested = eval(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", tx => [
                @postgres.execute(tx, \"INSERT INTO {name} VALUES (4, 'outer')\"),
                @postgres.transaction(tx, inner => @postgres.execute(inner, \"INSERT INTO {name} VALUES (5, 'inner')\")),
                @postgres.query(tx, \"SELECT count(*) AS n FROM {name}\")
            ])"
        ),
    );
    assert_eq!(nested, json!([1, 1, [{"n": 3}]]));
    assert_eq!(ids(&mut client), [1, 4, 5]);
    let inner_failure = error(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", tx => [
                @postgres.execute(tx, \"INSERT INTO {name} VALUES (6, 'outer')\"),
                @postgres.transaction(tx, inner => [@postgres.execute(inner, \"INSERT INTO {name} VALUES (7, 'inner')\"), error(\"inner fails\")])
            ])"
        ),
    );
    assert!(inner_failure.contains("inner fails"), "{inner_failure}");
    assert_eq!(ids(&mut client), [1, 4, 5], "the failure propagated, so the outer transaction rolled back too");
    // A statement list is all or none.
    let list = error(
        &mut plugin,
        &format!(
            "@postgres.transaction(\"{URL}\", [\"INSERT INTO {name} VALUES (8, 'x')\", \"INSERT INTO nowhere_{name} VALUES (1)\"])"
        ),
    );
    assert!(list.contains(&format!("relation \"nowhere_{name}\" does not exist")), "{list}");
    assert_eq!(ids(&mut client), [1, 4, 5]);
    // The handle is dead once its transaction is over.
    let stale =
        error(&mut plugin, &format!("@postgres.query(@postgres.transaction(\"{URL}\", tx => tx), \"SELECT 1\")"));
    assert!(stale.contains("this transaction has already finished"), "{stale}");
}

#[test]
fn listen_returns_notifications_sent_from_another_session() {
    let Some(_client) = direct() else { return };
    let channel = format!("tusk_channel_{}", std::process::id());
    let mut plugin = plugin();
    // Nothing sent: an empty list at the timeout (this also starts listening).
    assert_eq!(eval(&mut plugin, &format!("@postgres.listen(\"{URL}\", \"{channel}\", 0.2)")), json!([]));
    // Another session notifies until the listen returns.
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (done, channel) = (done.clone(), channel.clone());
        thread::spawn(move || {
            let mut client =
                postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls).unwrap();
            while !done.load(Ordering::SeqCst) {
                client.execute("SELECT pg_notify($1, 'hello ✓')", &[&channel]).unwrap();
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let received = eval(&mut plugin, &format!("@postgres.listen(\"{URL}\", \"{channel}\", 30)"));
    done.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let received = received.as_array().unwrap();
    assert!(!received.is_empty());
    assert_eq!(received[0]["channel"], json!(channel));
    assert_eq!(received[0]["payload"], json!("hello ✓"));
    assert!(received[0]["process_id"].as_i64().unwrap() > 0);
    // The plugin's own notify reaches its listener.
    let document = plugin
        .eval(&format!(
            "a: @postgres.notify(\"{URL}\", \"{channel}_own\", {{job: 7}})
b: @postgres.listen(\"{URL}\", \"{channel}_own\", 0.1)
c: @postgres.notify(\"{URL}\", \"{channel}_own\", \"second\")
d: @postgres.listen(\"{URL}\", \"{channel}_own\", 30)
"
        ))
        .unwrap();
    assert_eq!(document["a"], json!(null));
    assert_eq!(document["b"], json!([]), "sent before the first listen: not received");
    assert_eq!(document["d"][0]["payload"], json!("second"));
    let negative = error(&mut plugin, &format!("@postgres.listen(\"{URL}\", \"{channel}\", -1)"));
    assert!(negative.contains("the timeout must be a number of seconds between 0 and 86400"), "{negative}");
    assert!(negative.contains("or pass a handler function"), "{negative}");
}

/// Runs the event loop a little at a time until `done` holds (bounded: a failure must not hang
/// the test).
fn serve_until(plugin: &mut PluginTest, what: &str, mut done: impl FnMut(&mut PluginTest) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done(plugin) {
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
        plugin.engine().run_services_for(Duration::from_millis(50));
    }
}

fn payloads(client: &mut postgres::Client, table: &str) -> Vec<String> {
    client
        .query(&format!("SELECT payload FROM {table} ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect()
}

/// LISTEN with a handler: notifications sent by another session run the handler through the
/// event loop (it inserts into a table the test reads); a failing handler is reported with its
/// location and the listener goes on; a terminated session is replaced and listens again;
/// `unlisten` ends the service.
fn handler_listener(mut plugin: PluginTest, client: &mut postgres::Client, test: &str) {
    let name = table(test);
    let _tables = Tables(vec![name.clone()]);
    client.batch_execute(&format!("CREATE TABLE {name} (id serial PRIMARY KEY, payload text)")).unwrap();
    let channel = format!("tusk_{test}_{}", std::process::id());
    let reported = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let sink = reported.clone();
    plugin.engine().on_handler_error(false, move |text| sink.borrow_mut().push(text.to_string()));
    let document = plugin
        .eval(&format!(
            "insert: \"INSERT INTO {name} (payload) VALUES ($1)\"\nlistening: @postgres.listen(\"{URL}\", \"{channel}\", n => n.payload == \"bad\" ? \"x\" * 2 : @postgres.execute(\"{URL}\", insert, [n.payload]))\n"
        ))
        .unwrap();
    assert_eq!(document["listening"], json!(1));
    assert!(plugin.engine().has_services(), "a listener keeps tusk running");
    for payload in ["one", "bad", "three ✓"] {
        client.execute("SELECT pg_notify($1, $2)", &[&channel, &payload]).unwrap();
    }
    serve_until(&mut plugin, "two handled notifications", |_| payloads(client, &name).len() >= 2);
    assert_eq!(payloads(client, &name), ["one", "three ✓"]);
    let reported = reported.borrow().clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(reported[0].contains("cannot apply `*` to string and int"), "{}", reported[0]);
    assert!(reported[0].contains("test.tsk:2:"), "the handler's location: {}", reported[0]);
    let status = eval(&mut plugin, &format!("@postgres.listeners(\"{URL}\")"));
    assert_eq!(status["channels"], json!([channel]));
    assert_eq!(status["connected"], json!(true));
    assert_eq!(status["received"], json!(3));
    assert_eq!(status["handler_errors"], json!(1));
    // The listening session is terminated: another one listens again.
    let pid = status["process_id"].as_i64().expect("a process id") as i32;
    let terminated: bool = client.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(terminated);
    serve_until(&mut plugin, "the reconnection", |plugin| {
        let status = eval(plugin, &format!("@postgres.listeners(\"{URL}\")"));
        status["reconnects"] == json!(1) && status["connected"] == json!(true)
    });
    let status = eval(&mut plugin, &format!("@postgres.listeners(\"{URL}\")"));
    assert_ne!(status["process_id"], json!(pid));
    assert!(
        status["last_error"].as_str().is_some_and(|text| text.contains("the listening connection was lost")),
        "{status}"
    );
    client.execute("SELECT pg_notify($1, 'after')", &[&channel]).unwrap();
    serve_until(&mut plugin, "the notification after the reconnection", |_| payloads(client, &name).len() >= 3);
    assert_eq!(payloads(client, &name), ["one", "three ✓", "after"]);
    assert_eq!(eval(&mut plugin, &format!("@postgres(\"unlisten\", \"{URL}\", \"{channel}\")")), json!(0));
    // A sandboxed runner ends its service over its event channel: the loop sees it go.
    assert_eq!(
        plugin.engine().run_services_for(Duration::from_secs(10)),
        ServicesEnd::Idle,
        "the last unlisten ends the service"
    );
    assert_eq!(
        eval(&mut plugin, &format!("@postgres.listeners(\"{URL}\")")),
        json!({"channels": [], "connected": false})
    );
}

#[test]
fn listen_with_a_handler() {
    let Some(mut client) = direct() else { return };
    handler_listener(plugin(), &mut client, "handler");
}

/// Sandboxed: the reader thread runs in the runner and posts over the event channel.
#[test]
fn listen_with_a_handler_sandboxed() {
    let Some(mut client) = direct() else { return };
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant("--allow-db").grant(GRANT_NET);
    handler_listener(plugin, &mut client, "handler_sandboxed");
}

/// The symbols' own examples (what `tusk plugin docs` shows) hold against the server.
#[test]
fn the_examples_hold_against_the_server() {
    let Some(_client) = direct() else { return };
    assert_eq!(plugin().run_examples(), Vec::<String>::new());
}

#[test]
fn the_pool_recovers_from_a_terminated_connection() {
    let Some(mut client) = direct() else { return };
    let mut plugin = plugin();
    let first = eval(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT pg_backend_pid() AS pid\")"));
    let pid = first[0]["pid"].as_i64().unwrap() as i32;
    let terminated: bool = client.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(terminated);
    wait_until_ended(&mut client, pid);
    let second = eval(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT pg_backend_pid() AS pid, 1 AS ok\")"));
    assert_eq!(second[0]["ok"], json!(1));
    assert_ne!(second[0]["pid"].as_i64().unwrap() as i32, pid);
}

#[test]
fn prepared_statements_are_reused_per_connection() {
    let Some(_client) = direct() else { return };
    let mut plugin = plugin();
    let document = plugin
        .eval(&format!(
            "$pool: create_pool(\"{URL}\", {{pool_size: 1}})
a: @postgres.query($pool, \"SELECT $1::int + 1 AS v\", [1])
b: @postgres.query($pool, \"SELECT $1::int + 1 AS v\", [2])
cached: @postgres.query($pool, \"SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1 AS v'\")
"
        ))
        .unwrap();
    assert_eq!(document["b"], json!([{"v": 3}]));
    assert_eq!(document["cached"], json!([{"n": 1}]), "one prepared statement for two calls");
}

#[test]
fn tls_modes_are_honoured() {
    let Some(mut client) = direct() else { return };
    let ssl_on: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
    let mut plugin = plugin();
    let query = "SELECT ssl AS encrypted FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let plain =
        eval(&mut plugin, &format!("@postgres.query(create_pool(\"{URL}\", {{tls: \"disable\"}}), \"{query}\")"));
    assert_eq!(plain, json!([{"encrypted": false}]));
    if ssl_on == "on" {
        let encrypted =
            eval(&mut plugin, &format!("@postgres.query(create_pool(\"{URL}\", {{tls: \"require\"}}), \"{query}\")"));
        assert_eq!(encrypted, json!([{"encrypted": true}]));
        let preferred = eval(&mut plugin, &format!("@postgres.query(\"{URL}?sslmode=prefer\", \"{query}\")"));
        assert_eq!(preferred, json!([{"encrypted": true}]));
    } else {
        eprintln!("the server has ssl = off: only `disable` was checked");
        let refused =
            error(&mut plugin, &format!("@postgres.query(create_pool(\"{URL}\", {{tls: \"require\"}}), \"{query}\")"));
        assert!(refused.contains("cannot connect"), "{refused}");
    }
    let bad = error(&mut plugin, &format!("create_pool(\"{URL}\", {{tls: \"verify-full\"}})"));
    assert!(bad.contains("unknown TLS mode `verify-full`"), "{bad}");
}

#[test]
fn passwords_never_appear_in_errors() {
    let Some(_client) = direct() else { return };
    let mut plugin = plugin();
    let secret = "Tr0ub4dor-and-3";
    let cases = [
        // No server on that port.
        format!("postgres://postgres:{secret}@127.0.0.1:1/test"),
        // The server answers, the database does not exist.
        format!("postgres://postgres:{secret}@127.0.0.1:5432/no_such_database_{}", std::process::id()),
        format!("host=127.0.0.1 port=5432 user=postgres password='{secret}' dbname=no_such_db connect_timeout=5"),
        // A connection string the driver cannot read.
        format!("host=127.0.0.1 port=notaport password={secret}"),
    ];
    plugin.grant("--allow-net=127.0.0.1:1");
    for connection in &cases {
        // The script names the connection string on another line than the call, so that the
        // rendered error's source excerpt (the script's own text) does not show it.
        let message = plugin
            .eval(&format!("$connection: \"{connection}\"\nrows: @postgres.query($connection, \"SELECT 1\")\n"))
            .expect_err(connection);
        assert!(!message.contains(secret), "the password leaked: {message}");
        assert!(message.contains("***"), "the connection string is shown redacted: {message}");
    }
    let missing_db = plugin.eval(&format!("$c: \"{}\"\nr: @postgres.query($c, \"SELECT 1\")", cases[1])).unwrap_err();
    assert!(missing_db.contains("does not exist"), "{missing_db}");
}

/// The first line of the error of a connection to the test server without its network grant.
const REFUSED_WITHOUT_NETWORK_GRANT: &str = "[R015] Error: @postgres.query: permission denied: plugin `postgres` may not connect to 127.0.0.1:5432; run with --allow-net=127.0.0.1:5432 to allow it";

/// The manifest declares any host as optional: the plugin loads without grants, and each
/// connection needs the network grant of its host and port; the database grant is not needed.
#[test]
fn each_connection_needs_the_network_grant_of_its_host() {
    let Some(_client) = direct() else { return };
    let mut database_only = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    database_only.grant("--allow-db").in_process();
    let denied = error(&mut database_only, &format!("@postgres.query(\"{URL}\", \"SELECT 1\")"));
    assert_eq!(denied.lines().next(), Some(REFUSED_WITHOUT_NETWORK_GRANT), "{denied}");
    let unix = error(&mut database_only, "@postgres.query(\"host=/var/run/postgresql user=postgres\", \"SELECT 1\")");
    assert!(unix.contains("Unix socket"), "{unix}");
    let mut other_port = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    other_port.grant("--allow-net=127.0.0.1:5433").in_process();
    let refused = error(&mut other_port, &format!("@postgres.query(\"{URL}\", \"SELECT 1\")"));
    assert_eq!(refused.lines().next(), Some(REFUSED_WITHOUT_NETWORK_GRANT), "{refused}");
    let mut network_only = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    network_only.grant(GRANT_NET).in_process();
    assert_eq!(
        eval(&mut network_only, &format!("@postgres.query(\"{URL}\", \"SELECT 1 AS one\")")),
        json!([{"one": 1}])
    );
}

#[test]
fn database_errors_carry_the_servers_message() {
    let Some(_client) = direct() else { return };
    let mut plugin = plugin();
    let syntax = error(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELEC 1\")"));
    assert!(syntax.contains("postgres: syntax error at or near \"SELEC\""), "{syntax}");
    let missing = error(
        &mut plugin,
        &format!("@postgres.query(\"{URL}\", \"SELECT * FROM tusk_missing_table_{}\")", std::process::id()),
    );
    assert!(missing.contains("does not exist"), "{missing}");
    let unsupported = error(
        &mut plugin,
        &format!("@postgres.query(\"{URL}\", \"SELECT '1 day'::interval::text AS fine, point(1, 2) AS p\")"),
    );
    assert!(unsupported.contains("cannot read values of type point yet"), "{unsupported}");
    assert!(unsupported.contains("column `p`"), "{unsupported}");
    let wrong = error(&mut plugin, &format!("@postgres.query(\"{URL}\", \"SELECT 1\", \"not an array\")"));
    assert!(wrong.contains("the parameters must be an array"), "{wrong}");
}

/// Sandboxed, a network grant alone gives connections made by the host's broker; with the
/// database grant too, the driver's own sockets. Both check each connection's grant.
#[test]
fn sandboxed_smoke_test() {
    let Some(_client) = direct() else { return };
    let statement = format!("@postgres.query(\"{URL}\", \"SELECT $1::text || '!' AS v\", [\"sandboxed\"])");
    for grants in [&[GRANT_NET][..], &["--allow-db", GRANT_NET]] {
        let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
        for grant in grants {
            plugin.grant(grant);
        }
        match plugin.eval_expression(&statement) {
            Ok(rows) => assert_eq!(rows, json!([{"v": "sandboxed!"}]), "{grants:?}"),
            Err(error) => panic!("sandboxed query with {grants:?} failed: {error}"),
        }
    }
    let mut database_only = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    database_only.grant("--allow-db");
    let denied = error(&mut database_only, &format!("@postgres.query(\"{URL}\", \"SELECT 1\")"));
    assert_eq!(denied.lines().next(), Some(REFUSED_WITHOUT_NETWORK_GRANT), "{denied}");
}

/// Waits until the server has ended backend `pid` (pg_terminate_backend only signals it), so
/// that the connection is dead before the next call, as one that died while idle in the pool.
fn wait_until_ended(client: &mut postgres::Client, pid: i32) {
    for _ in 0..1000 {
        let left: i64 =
            client.query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().get(0);
        if left == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("backend {pid} did not end");
}
