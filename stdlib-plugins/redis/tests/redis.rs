//! The redis plugin against the real server on 127.0.0.1:6379, through the real host:
//! in-process as a first-party plugin runs, plus sandboxed cases. Every test uses keys under
//! its own prefix and deletes them (never FLUSHDB: the tests run in parallel, with others).
//!
//! Without a server the tests skip with a printed reason, except under `CI=true`, where a
//! missing server fails them.

use std::thread;
use std::time::{Duration, Instant};

use redis::Commands;
use serde_json::{Value as Json, json};
use tusk_plugin_testkit::{PluginTest, ServicesEnd, require};

const URL: &str = "redis://127.0.0.1:6379";
const GRANT_NET: &str = "--allow-net=127.0.0.1:6379";

/// The tests' own connection, or `None` (and why) when no server answers.
fn direct() -> Option<redis::Connection> {
    require("Redis on 127.0.0.1:6379", || {
        redis::Client::open(URL).and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
    })
}

/// The plugin installed for one test, in-process, with the network grant of the server.
fn plugin() -> PluginTest {
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant(GRANT_NET).in_process();
    plugin
}

/// A key prefix no other test (or test process) uses; its keys are deleted when the test
/// ends, however it ends.
struct Keys(String);

impl Keys {
    fn new(test: &str) -> Keys {
        Keys(format!("tusk_test:{test}:{}:", std::process::id()))
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        if let Some(mut connection) = direct() {
            let keys: Vec<String> = connection
                .scan_match::<_, String>(format!("{}*", self.0))
                .map(|keys| keys.filter_map(Result::ok).collect())
                .unwrap_or_default();
            for key in keys {
                let _: Result<(), _> = connection.del(key);
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
fn strings_round_trip_exactly_and_other_clients_see_plain_data() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("strings");
    let k = |name: &str| keys.key(name);
    let mut plugin = plugin();
    let cases = [
        ("plain", "\"hello ✓\"", json!("hello ✓"), "hello ✓"),
        ("looks_int", "\"42\"", json!("42"), "\"42\""),
        ("looks_bool", "\"true\"", json!("true"), "\"true\""),
        ("quoted", "\"\\\"q\\\"\"", json!("\"q\""), "\"\\\"q\\\"\""),
        ("word_t", "\"tusk\"", json!("tusk"), "tusk"),
        ("empty", "\"\"", json!(""), ""),
        ("int", "42", json!(42), "42"),
        ("negative", "-9007199254740993", json!(-9007199254740993_i64), "-9007199254740993"),
        ("float", "2.5", json!(2.5), "2.5"),
        ("whole_float", "1.0", json!(1.0), "1.0"),
        ("bool", "false", json!(false), "false"),
        ("null", "null", json!(null), "null"),
        ("array", "[1, \"two\", [3.5, null]]", json!([1, "two", [3.5, null]]), "[1,\"two\",[3.5,null]]"),
        ("object", "{b: 1, a: {x: \"y\"}}", json!({"b": 1, "a": {"x": "y"}}), "{\"b\":1,\"a\":{\"x\":\"y\"}}"),
    ];
    for (name, literal, expected, stored) in &cases {
        assert_eq!(eval(&mut plugin, &format!("@redis.set(\"{}\", {literal})", k(name))), json!(true));
        let back = eval(&mut plugin, &format!("@redis.get(\"{}\")", k(name)));
        assert_eq!(&back, expected, "{name}");
        let raw: String = direct.get(k(name)).unwrap();
        assert_eq!(&raw, stored, "{name}: what other clients see");
    }
    // A float keeps its kind: 1.0 reads back as a float, not as the integer 1.
    let document = plugin.eval(&format!("v: @redis.get(\"{}\")\nkind: type_of(v)", k("whole_float"))).unwrap();
    assert_eq!(document["kind"], json!("float"));
    // Object keys keep their order.
    let text = plugin.eval(&format!("o: @redis.get(\"{}\")", k("object"))).unwrap();
    assert_eq!(text["o"].as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a"]);
    // Data written by another client reads as what it is.
    let _: () = direct.set(k("from_other"), "17").unwrap();
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\") + 1", k("from_other"))), json!(18));
    let _: () = direct.set(k("binary"), vec![0xff_u8, 0xfe]).unwrap();
    let binary = error(&mut plugin, &format!("@redis.get(\"{}\")", k("binary")));
    assert!(binary.contains("holds 2 bytes that are not UTF-8 text"), "{binary}");
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("missing"))), json!(null));
    let function = error(&mut plugin, &format!("@redis.set(\"{}\", x => x)", k("f")));
    assert!(function.contains("value: a function cannot be stored in Redis"), "{function}");
}

#[test]
fn the_seed_forms_work_as_written() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("seed");
    let mut plugin = plugin();
    let document = plugin
        .eval(&format!(
            "stored: @redis(\"set\", \"{a}\", \"value\")
read: @redis(\"get\", \"{a}\")
cached: cache_set(\"{b}\", {{n: 1}}, 60)
hit: cache_get(\"{b}\")
miss: cache_get(\"{c}\")
fallback: cache_get(\"{c}\", \"default\")
counted: @redis(\"incr\", \"{d}\")
",
            a = keys.key("a"),
            b = keys.key("b"),
            c = keys.key("c"),
            d = keys.key("d")
        ))
        .unwrap();
    assert_eq!(document["stored"], json!(true));
    assert_eq!(document["read"], json!("value"));
    assert_eq!(document["cached"], json!({"n": 1}));
    assert_eq!(document["hit"], json!({"n": 1}));
    assert_eq!(document["miss"], json!(null));
    assert_eq!(document["fallback"], json!("default"));
    assert_eq!(document["counted"], json!(1));
    let ttl: i64 = direct.ttl(keys.key("b")).unwrap();
    assert!((55..=60).contains(&ttl), "cache_set's ttl is the server's: {ttl}");
    let unknown = error(&mut plugin, "@redis(\"upsert\", \"k\")");
    assert!(unknown.contains("invalid operation: @redis has no operation `upsert`"), "{unknown}");
    assert!(unknown.contains("use one of get, set, del"), "{unknown}");
    let missing = error(&mut plugin, "@redis(\"get\")");
    assert!(missing.contains("missing argument: key (argument 2 of @redis(\"get\"))"), "{missing}");
}

/// The symbols' examples, as `tusk plugin check redis --allow-net=127.0.0.1:6379` runs them.
#[test]
fn the_examples_hold_against_the_server() {
    let Some(_direct) = direct() else { return };
    let mut plugin = plugin();
    assert_eq!(plugin.run_examples(), Vec::<String>::new());
}

#[test]
fn expiry_incr_mget_mset_and_scan() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("expiry");
    let k = |name: &str| keys.key(name);
    let mut plugin = plugin();
    assert_eq!(eval(&mut plugin, &format!("@redis.set(\"{}\", \"soon\", \"150ms\")", k("short"))), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("short"))), json!("soon"));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("short"))), json!(null), "the server expired it");
    eval(&mut plugin, &format!("@redis.set(\"{}\", 1, {{ttl: \"5m\"}})", k("long")));
    let ttl = eval(&mut plugin, &format!("@redis.ttl(\"{}\")", k("long"))).as_f64().unwrap();
    assert!(ttl > 299.0 && ttl <= 300.0, "{ttl}");
    assert_eq!(eval(&mut plugin, &format!("@redis.persist(\"{}\")", k("long"))), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@redis.ttl(\"{}\")", k("long"))), json!(-1));
    assert_eq!(eval(&mut plugin, &format!("@redis.ttl(\"{}\")", k("none"))), json!(null));
    assert_eq!(eval(&mut plugin, &format!("@redis.expire(\"{}\", 10)", k("long"))), json!(true));
    let server_ttl: i64 = direct.ttl(k("long")).unwrap();
    assert!((9..=10).contains(&server_ttl), "{server_ttl}");
    assert_eq!(eval(&mut plugin, &format!("@redis.expire(\"{}\", 10)", k("none"))), json!(false));
    // nx: only when missing.
    assert_eq!(eval(&mut plugin, &format!("@redis.set(\"{}\", 2, {{nx: true}})", k("long"))), json!(false));
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("long"))), json!(1));
    let bad_ttl = error(&mut plugin, &format!("@redis.set(\"{}\", 1, \"5 weeks\")", k("x")));
    assert!(bad_ttl.contains("unknown duration unit \" weeks\""), "{bad_ttl}");
    let zero_ttl = error(&mut plugin, &format!("@redis.set(\"{}\", 1, 0)", k("x")));
    assert!(zero_ttl.contains("the ttl must be at least 1 millisecond"), "{zero_ttl}");

    assert_eq!(eval(&mut plugin, &format!("@redis.incr(\"{}\")", k("n"))), json!(1));
    assert_eq!(eval(&mut plugin, &format!("@redis.incr(\"{}\", 41)", k("n"))), json!(42));
    assert_eq!(eval(&mut plugin, &format!("@redis.decr(\"{}\", 2)", k("n"))), json!(40));
    assert_eq!(eval(&mut plugin, &format!("@redis.incr(\"{}\", 0.5)", k("n"))), json!(40.5));
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("n"))), json!(40.5));
    eval(&mut plugin, &format!("@redis.set(\"{}\", \"7\")", k("text")));
    let not_number = error(&mut plugin, &format!("@redis.incr(\"{}\")", k("text")));
    assert!(not_number.contains("value is not an integer or out of range"), "{not_number}");

    assert_eq!(
        eval(
            &mut plugin,
            &format!("@redis.mset({{\"{}\": 1, \"{}\": \"b\", \"{}\": [true]}})", k("m1"), k("m2"), k("m3"))
        ),
        json!(true)
    );
    assert_eq!(
        eval(
            &mut plugin,
            &format!("@redis.mget([\"{}\", \"{}\", \"{}\", \"{}\"])", k("m1"), k("m2"), k("nope"), k("m3"))
        ),
        json!([1, "b", null, [true]])
    );
    assert_eq!(eval(&mut plugin, &format!("@redis.mget(\"{}\", \"{}\")", k("m2"), k("m1"))), json!(["b", 1]));
    assert_eq!(eval(&mut plugin, &format!("@redis.exists(\"{}\")", k("m1"))), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@redis.del(\"{}\", \"{}\")", k("m1"), k("nope"))), json!(1));
    assert_eq!(eval(&mut plugin, &format!("@redis.exists(\"{}\")", k("m1"))), json!(false));
    assert_eq!(
        eval(&mut plugin, &format!("@redis.scan(\"{}m*\")", keys.0)),
        json!([k("m2"), k("m3")]),
        "sorted, matching the pattern only"
    );
    assert_eq!(eval(&mut plugin, &format!("len(@redis.scan(\"{}*\", 2))", keys.0)), json!(2));
}

#[test]
fn hashes_lists_sets_and_sorted_sets() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("structures");
    let k = |name: &str| keys.key(name);
    let mut plugin = plugin();
    let document = plugin
        .eval(&format!(
            "new: @redis.hset(\"{h}\", {{name: \"Ada\", age: 36, tags: [\"x\"]}})
one: @redis.hset(\"{h}\", \"age\", 37)
age: @redis.hget(\"{h}\", \"age\")
all: @redis.hgetall(\"{h}\")
none: @redis.hgetall(\"{missing}\")
bumped: @redis.hincr(\"{h}\", \"age\", 3)
deleted: @redis.hdel(\"{h}\", \"tags\", \"nope\")
pushed: @redis.rpush(\"{l}\", \"a\", 2, {{c: 3}})
front: @redis.lpush(\"{l}\", [\"z\"])
list: @redis.lrange(\"{l}\")
tail: @redis.lrange(\"{l}\", -2, -1)
length: @redis.llen(\"{l}\")
first: @redis.lpop(\"{l}\")
last: @redis.rpop(\"{l}\")
added: @redis.sadd(\"{s}\", \"b\", \"a\", \"b\", 3)
members: @redis.smembers(\"{s}\")
is: @redis.sismember(\"{s}\", 3)
isnt: @redis.sismember(\"{s}\", \"3\")
removed: @redis.srem(\"{s}\", \"a\")
count: @redis.scard(\"{s}\")
zadded: @redis.zadd(\"{z}\", {{carol: 3, alice: 1.5, bob: 2}})
zone: @redis.zadd(\"{z}\", 0, \"dave\")
ranked: @redis.zrange(\"{z}\")
top: @redis.zrange(\"{z}\", -2, -1, {{scores: true}})
middle: @redis.zrangebyscore(\"{z}\", 1, \"(3\")
score: @redis.zscore(\"{z}\", \"alice\")
noscore: @redis.zscore(\"{z}\", \"erin\")
zup: @redis.zincr(\"{z}\", \"dave\", 10)
zgone: @redis.zrem(\"{z}\", \"bob\", \"erin\")
",
            h = k("h"),
            missing = k("missing"),
            l = k("l"),
            s = k("s"),
            z = k("z")
        ))
        .unwrap();
    assert_eq!(document["new"], json!(3));
    assert_eq!(document["one"], json!(0));
    assert_eq!(document["age"], json!(37));
    assert_eq!(document["all"], json!({"name": "Ada", "age": 37, "tags": ["x"]}));
    assert_eq!(document["none"], json!({}));
    assert_eq!(document["bumped"], json!(40));
    assert_eq!(document["deleted"], json!(1));
    assert_eq!(document["pushed"], json!(3));
    assert_eq!(document["front"], json!(4));
    assert_eq!(document["list"], json!(["z", "a", 2, {"c": 3}]));
    assert_eq!(document["tail"], json!([2, {"c": 3}]));
    assert_eq!(document["length"], json!(4));
    assert_eq!(document["first"], json!("z"));
    assert_eq!(document["last"], json!({"c": 3}));
    assert_eq!(document["added"], json!(3));
    assert_eq!(document["members"], json!([3, "a", "b"]));
    assert_eq!(document["is"], json!(true));
    assert_eq!(document["isnt"], json!(false), "the string \"3\" is stored as \"\\\"3\\\"\", another member");
    assert_eq!(document["removed"], json!(1));
    assert_eq!(document["count"], json!(2));
    assert_eq!(document["zadded"], json!(3));
    assert_eq!(document["zone"], json!(1));
    assert_eq!(document["ranked"], json!(["dave", "alice", "bob", "carol"]));
    assert_eq!(document["top"], json!([{"member": "bob", "score": 2.0}, {"member": "carol", "score": 3.0}]));
    assert_eq!(document["middle"], json!(["alice", "bob"]));
    assert_eq!(document["score"], json!(1.5));
    assert_eq!(document["noscore"], json!(null));
    assert_eq!(document["zup"], json!(10.0));
    assert_eq!(document["zgone"], json!(1));
    let hash: std::collections::HashMap<String, String> = direct.hgetall(k("h")).unwrap();
    assert_eq!(hash.get("name").map(String::as_str), Some("Ada"));
    assert_eq!(hash.get("age").map(String::as_str), Some("40"));
    let wrong_type = error(&mut plugin, &format!("@redis.lpush(\"{}\", 1)", k("h")));
    assert!(
        wrong_type.contains("WRONGTYPE")
            && wrong_type.contains("Operation against a key holding the wrong kind of value"),
        "{wrong_type}"
    );
    let bad_score = error(&mut plugin, &format!("@redis.zadd(\"{}\", \"high\", \"m\")", k("z")));
    assert!(bad_score.contains("the score must be a number, got \"high\""), "{bad_score}");
}

#[test]
fn pipelines_and_transactions() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("pipeline");
    let k = |name: &str| keys.key(name);
    let mut plugin = plugin();
    let replies = eval(
        &mut plugin,
        &format!(
            "@redis.pipeline([[\"SET\", \"{a}\", \"x\"], [\"INCR\", \"{n}\"], [\"INCRBY\", \"{n}\", 10], [\"GET\", \"{a}\"], [\"RPUSH\", \"{l}\", {{j: 1}}, 2], [\"LRANGE\", \"{l}\", 0, -1], [\"GET\", \"{missing}\"]])",
            a = k("a"),
            n = k("n"),
            l = k("l"),
            missing = k("missing")
        ),
    );
    assert_eq!(replies, json!(["OK", 1, 11, "x", 2, [{"j": 1}, 2], null]));
    // A failing command: the others ran, the error names it.
    let failed = error(
        &mut plugin,
        &format!(
            "@redis.pipeline([[\"SET\", \"{b}\", 1], [\"INCR\", \"{a}\"], [\"SET\", \"{c}\", 2]])",
            a = k("a"),
            b = k("b"),
            c = k("c")
        ),
    );
    assert!(failed.contains("command 2 (INCR)") && failed.contains("value is not an integer"), "{failed}");
    let c: Option<String> = direct.get(k("c")).unwrap();
    assert_eq!(c.as_deref(), Some("2"), "the commands after the failure ran");

    let results = eval(
        &mut plugin,
        &format!(
            "@redis.transaction([[\"INCR\", \"{t}\"], [\"INCR\", \"{t}\"], [\"EXPIRE\", \"{t}\", 60], [\"GET\", \"{t}\"]])",
            t = k("t")
        ),
    );
    assert_eq!(results, json!([1, 2, 1, 2]));
    // Queued with a wrong number of arguments: nothing runs.
    let aborted = error(&mut plugin, &format!("@redis.transaction([[\"SET\", \"{u}\", 1], [\"INCR\"]])", u = k("u")));
    assert!(aborted.contains("command 2 (INCR) was refused, so nothing ran"), "{aborted}");
    assert!(aborted.contains("wrong number of arguments"), "{aborted}");
    let u: Option<String> = direct.get(k("u")).unwrap();
    assert_eq!(u, None);
    // A runtime error inside EXEC: the others ran.
    let partial = error(
        &mut plugin,
        &format!("@redis.transaction([[\"SET\", \"{v}\", 1], [\"LPUSH\", \"{a}\", 1]])", v = k("v"), a = k("a")),
    );
    assert!(partial.contains("command 2 (LPUSH) failed; the others ran (Redis does not roll back)"), "{partial}");
    let refused = error(&mut plugin, "@redis.pipeline([[\"SUBSCRIBE\", \"x\"]])");
    assert!(refused.contains("SUBSCRIBE changes the state of the pooled connection"), "{refused}");
    let generic = eval(&mut plugin, &format!("@redis.command(\"strlen\", \"{a}\")", a = k("a")));
    assert_eq!(generic, json!(1));
}

/// The pipeline's connection is killed while the server blocks on its second command; the
/// call fails saying how far it got, and the next calls reconnect.
#[test]
fn a_connection_killed_mid_pipeline_fails_clearly_and_the_pool_recovers() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("killed");
    let k = |name: &str| keys.key(name);
    let mut plugin = plugin();
    // Warm the pool: its connection gets a name the killer can find.
    let name = format!("tusk_killed_{}", std::process::id());
    assert_eq!(eval(&mut plugin, &format!("@redis.command(\"CLIENT\", \"SETNAME\", \"{name}\")")), json!("OK"));
    let killer = {
        let name = name.clone();
        thread::spawn(move || {
            let mut connection = redis::Client::open(URL).unwrap().get_connection().unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut connection).unwrap();
                if let Some(line) =
                    list.lines().find(|line| line.contains(&format!(" name={name} ")) && line.contains("cmd=blpop"))
                {
                    let id = line.split(' ').find_map(|part| part.strip_prefix("id=")).unwrap().to_string();
                    let killed: i64 =
                        redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query(&mut connection).unwrap();
                    return killed;
                }
                thread::sleep(Duration::from_millis(10));
            }
            0
        })
    };
    let failed = error(
        &mut plugin,
        &format!(
            "@redis.pipeline([[\"SET\", \"{a}\", 1], [\"BLPOP\", \"{never}\", 15], [\"SET\", \"{b}\", 2]])",
            a = k("a"),
            never = k("never"),
            b = k("b")
        ),
    );
    assert_eq!(killer.join().unwrap(), 1, "the killer found the pipeline's connection");
    assert!(failed.contains("the connection was lost after 1 of the replies had arrived"), "{failed}");
    let a: Option<String> = direct.get(k("a")).unwrap();
    let b: Option<String> = direct.get(k("b")).unwrap();
    assert_eq!((a.as_deref(), b), (Some("1"), None), "the first command ran, the last did not");
    // The next calls get a new connection.
    assert_eq!(
        eval(&mut plugin, &format!("@redis.pipeline([[\"SET\", \"{b}\", 3], [\"GET\", \"{b}\"]])", b = k("b"))),
        json!(["OK", 3])
    );
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", k("a"))), json!(1));
}

/// A pooled connection the server closed while it was idle (as a restart does) is replaced
/// without the script seeing an error.
#[test]
fn connections_closed_while_idle_are_replaced() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("idle");
    let mut plugin = plugin();
    let name = format!("tusk_idle_{}", std::process::id());
    assert_eq!(eval(&mut plugin, &format!("@redis.command(\"CLIENT\", \"SETNAME\", \"{name}\")")), json!("OK"));
    let id = eval(&mut plugin, "@redis.command(\"CLIENT\", \"ID\")");
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id.as_i64().unwrap()).query(&mut direct).unwrap();
    assert_eq!(killed, 1);
    assert_eq!(eval(&mut plugin, &format!("@redis.set(\"{}\", \"after\")", keys.key("k"))), json!(true));
    assert_eq!(eval(&mut plugin, &format!("@redis.get(\"{}\")", keys.key("k"))), json!("after"));
    let new_id = eval(&mut plugin, "@redis.command(\"CLIENT\", \"ID\")");
    assert_ne!(new_id, id, "a new connection");
    // Killing every client of the plugin (as a restart would) before a pipeline: it is
    // retried on a new connection because no reply had arrived.
    let killed: i64 =
        redis::cmd("CLIENT").arg("KILL").arg("ID").arg(new_id.as_i64().unwrap()).query(&mut direct).unwrap();
    assert_eq!(killed, 1);
    assert_eq!(
        eval(&mut plugin, &format!("@redis.pipeline([[\"INCR\", \"{c}\"], [\"INCR\", \"{c}\"]])", c = keys.key("c"))),
        json!([1, 2]),
        "run once: no INCR twice"
    );
}

#[test]
fn publish_and_subscribe() {
    let Some(mut direct) = direct() else { return };
    let channel = format!("tusk_channel_{}", std::process::id());
    let mut plugin = plugin();
    // Nothing published: an empty list at the timeout (this also subscribes).
    assert_eq!(eval(&mut plugin, &format!("@redis.subscribe(\"{channel}\", 0.2)")), json!([]));
    // Published between two calls: kept for the next call.
    let receivers: i64 = direct.publish(&channel, "{\"job\":7}").unwrap();
    assert_eq!(receivers, 1);
    let _: i64 = direct.publish(&channel, "plain ✓").unwrap();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        eval(&mut plugin, &format!("@redis.subscribe(\"{channel}\", 5)")),
        json!([{"channel": channel, "message": {"job": 7}}, {"channel": channel, "message": "plain ✓"}])
    );
    // Published while the call waits.
    let publisher = {
        let channel = channel.clone();
        thread::spawn(move || {
            let mut connection = redis::Client::open(URL).unwrap().get_connection().unwrap();
            thread::sleep(Duration::from_millis(200));
            let _: i64 = connection.publish(&channel, 42).unwrap();
        })
    };
    let started = Instant::now();
    assert_eq!(
        eval(&mut plugin, &format!("@redis.subscribe([\"{channel}\"], 10)")),
        json!([{"channel": channel, "message": 42}])
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    publisher.join().unwrap();
    // The plugin's own publish reaches its subscriber.
    let document = plugin
        .eval(&format!("sent: @redis.publish(\"{channel}\", {{n: [1, 2]}})\ngot: @redis.subscribe(\"{channel}\", 5)\n"))
        .unwrap();
    assert_eq!(document["sent"], json!(1));
    assert_eq!(document["got"], json!([{"channel": channel, "message": {"n": [1, 2]}}]));
    let not_a_handler = error(&mut plugin, &format!("@redis.subscribe(\"{channel}\", \"soon\")"));
    assert!(not_a_handler.contains("the timeout must be a number of seconds between 0 and 86400"), "{not_a_handler}");
    assert!(not_a_handler.contains("or pass a handler function"), "{not_a_handler}");
    let negative = error(&mut plugin, &format!("@redis.subscribe(\"{channel}\", -1)"));
    assert!(negative.contains("the timeout must be a number of seconds between 0 and 86400"), "{negative}");
}

#[test]
fn passwords_never_appear_in_errors() {
    let Some(_direct) = direct() else { return };
    let secret = "Tr0ub4dor-and-3";
    for url in [
        // The server has no password: AUTH is refused.
        format!("redis://app:{secret}@127.0.0.1:6379"),
        // No server on that port.
        format!("redis://:{secret}@127.0.0.1:1"),
        // A URL the client cannot read.
        format!("redis://:{secret}@127.0.0.1:notaport"),
    ] {
        let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
        plugin.grant(GRANT_NET).grant("--allow-net=127.0.0.1:1").in_process();
        plugin.with_user_config(&format!("[plugins.redis]\nurl = \"{url}\"\n"));
        let message = plugin.eval("v: @redis.get(\"k\")\n").expect_err(&url);
        assert!(!message.contains(secret), "the password leaked: {message}");
        assert!(message.contains(":***@127.0.0.1"), "the URL is shown redacted: {message}");
    }
}

/// The first line of the error of a connection to the test server without its network grant.
const REFUSED_WITHOUT_NETWORK_GRANT: &str = "[R015] Error: @redis.get: permission denied: plugin `redis` may not connect to 127.0.0.1:6379; run with --allow-net=127.0.0.1:6379 to allow it";

#[test]
fn connecting_needs_the_network_grant_of_the_server() {
    let Some(_direct) = direct() else { return };
    let mut ungranted = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    ungranted.in_process();
    let denied = error(&mut ungranted, "@redis.get(\"k\")");
    assert_eq!(denied.lines().next(), Some(REFUSED_WITHOUT_NETWORK_GRANT), "{denied}");
}

/// Sandboxed: the host's broker makes the connection to the granted server.
#[test]
fn sandboxed_round_trip() {
    let Some(_direct) = direct() else { return };
    let keys = Keys::new("sandboxed");
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant(GRANT_NET);
    let document = plugin
        .eval(&format!(
            "set: @redis.set(\"{k}\", {{sandboxed: true}}, 60)\nget: @redis.get(\"{k}\")\nall: @redis.pipeline([[\"INCR\", \"{n}\"], [\"GET\", \"{k}\"]])\nquiet: @redis.subscribe(\"{k}\", 0.1)\nsent: @redis.publish(\"{k}\", [1])\nheard: @redis.subscribe(\"{k}\", 5)\n",
            k = keys.key("k"),
            n = keys.key("n")
        ))
        .unwrap_or_else(|error| panic!("sandboxed: {error}"));
    assert_eq!(document["get"], json!({"sandboxed": true}));
    assert_eq!(document["all"], json!([1, {"sandboxed": true}]));
    // The subscriber's reader thread runs in the sandbox too.
    assert_eq!(document["quiet"], json!([]));
    assert_eq!(document["sent"], json!(1));
    assert_eq!(document["heard"], json!([{"channel": keys.key("k"), "message": [1]}]));
    let mut ungranted = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    ungranted.grant("--allow-db");
    let denied = error(&mut ungranted, "@redis.get(\"k\")");
    assert_eq!(denied.lines().next(), Some(REFUSED_WITHOUT_NETWORK_GRANT), "{denied}");
}

/// With `cache = true` in `[plugins.redis]`, `@cache` keeps its values in Redis: another
/// engine (as another process) gets the value without evaluating it, and the server expires
/// it. Without the setting, `@cache` stays in memory.
#[test]
fn cache_operator_uses_redis_when_configured() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("cache_operator");
    let counter = keys.key("evaluated");
    let marker = format!("marker-{}", std::process::id());
    // The marker makes the call's text, and so its key, this run's own.
    let script = format!("v: @cache(\"2s\", [@redis.incr(\"{counter}\"), \"{marker}\"])\n");
    let configured = |plugin: &mut PluginTest| {
        plugin.with_user_config("[plugins.redis]\ncache = true\n");
    };
    let mut first = plugin();
    configured(&mut first);
    let mut second = plugin();
    configured(&mut second);
    assert_eq!(first.eval(&script).unwrap()["v"], json!([1, marker]));
    assert_eq!(second.eval(&script).unwrap()["v"], json!([1, marker]), "shared: not evaluated again");
    assert_eq!(first.eval(&script).unwrap()["v"], json!([1, marker]));
    let stored: Vec<String> =
        direct.scan_match::<_, String>("tusk:cache:test.tsk:*").unwrap().filter_map(Result::ok).collect();
    let entry = stored
        .iter()
        .find(|key| direct.get::<_, Option<String>>(key.as_str()).unwrap().is_some_and(|value| value.contains(&marker)))
        .unwrap_or_else(|| panic!("no cache entry with the marker among {stored:?}"));
    let value: String = direct.get(entry).unwrap();
    assert_eq!(value, format!("[[1,\"{marker}\"]]"));
    let ttl: i64 = direct.pttl(entry).unwrap();
    assert!(ttl > 0 && ttl <= 2000, "the server holds the expiry: {ttl} ms");
    thread::sleep(Duration::from_millis(2200));
    assert_eq!(second.eval(&script).unwrap()["v"], json!([2, marker]), "expired by the server");
    let _: () = direct.del(entry).unwrap();

    // The script's own section turns it on too (and off: the script wins).
    let mut scripted = plugin();
    let document = scripted.eval(&format!("plugins: {{redis: {{cache: true}}}}\n{script}")).unwrap();
    assert_eq!(document["v"], json!([3, marker]));
    let mut off = plugin();
    configured(&mut off);
    let document = off.eval(&format!("plugins: {{redis: {{cache: false}}}}\n{script}")).unwrap();
    assert_eq!(document["v"], json!([4, marker]), "in memory: evaluated");

    // Not configured: in memory, per engine.
    let mut plain_first = plugin();
    let mut plain_second = plugin();
    assert_eq!(plain_first.eval(&script).unwrap()["v"], json!([5, marker]));
    assert_eq!(plain_second.eval(&script).unwrap()["v"], json!([6, marker]), "not shared");
    let bad = {
        let mut plugin = plugin();
        plugin.with_user_config("[plugins.redis]\ncache = \"yes\"\n");
        plugin.eval(&script).unwrap_err()
    };
    assert!(bad.contains("/cache") || bad.contains("`cache` of plugin `redis` must be true or false"), "{bad}");
}

/// A Redis server of the test's own on a free port, stopped when dropped.
struct OwnServer {
    port: u16,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl OwnServer {
    /// `None` (and why) when `redis-server` cannot be started; under `CI=true` that fails.
    fn start() -> Option<OwnServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut server = OwnServer { port, child: None, dir: tempfile::tempdir().ok()? };
        require("a redis-server of the test's own", || server.restart())?;
        Some(server)
    }

    /// Starts the server (again) on the same port and waits until it answers.
    fn restart(&mut self) -> Result<(), String> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|error| format!("redis-server: {error}"))?;
        self.child = Some(child);
        let url = format!("redis://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut connection) = redis::Client::open(url.as_str()).and_then(|client| client.get_connection())
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!("redis-server on port {} did not answer", self.port))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server restarts (a server of the test's own, stopped and started again on its port):
/// while it is down a call fails saying so, and once it is back the pool reconnects; a restart
/// between two calls goes unnoticed.
#[test]
fn the_pool_reconnects_after_a_server_restart() {
    let Some(mut server) = OwnServer::start() else { return };
    let port = server.port;
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant(&format!("--allow-net=127.0.0.1:{port}")).in_process();
    plugin.with_user_config(&format!("[plugins.redis]\nurl = \"redis://127.0.0.1:{port}\"\nconnect_timeout = 2\n"));
    assert_eq!(eval(&mut plugin, "@redis.set(\"k\", 1)"), json!(true));
    assert_eq!(eval(&mut plugin, "@redis.pipeline([[\"INCR\", \"n\"], [\"GET\", \"k\"]])"), json!([1, 1]));
    server.stop();
    let down = error(&mut plugin, "@redis.get(\"k\")");
    assert!(down.contains(&format!("cannot connect to redis://127.0.0.1:{port}")), "{down}");
    assert!(down.contains("is a Redis server running at"), "{down}");
    server.restart().unwrap();
    assert_eq!(eval(&mut plugin, "@redis.get(\"k\")"), json!(null), "a new, empty server");
    assert_eq!(eval(&mut plugin, "@redis.set(\"k\", 2)"), json!(true));
    // Stopped and started between two calls: the pooled connection is dead, the call is not.
    server.stop();
    server.restart().unwrap();
    assert_eq!(eval(&mut plugin, "@redis.incr(\"n\")"), json!(1));
    assert_eq!(eval(&mut plugin, "@redis.transaction([[\"INCR\", \"n\"], [\"GET\", \"n\"]])"), json!([2, 2]));
}

/// Runs the event loop a little at a time until `done` holds (bounded: a failure must not hang
/// the test).
fn serve_until(plugin: &mut PluginTest, what: &str, mut done: impl FnMut(&mut PluginTest) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(plugin) {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        plugin.engine().run_services_for(Duration::from_millis(50));
    }
}

/// The handler errors the host reports, collected.
fn collect_handler_errors(plugin: &mut PluginTest) -> std::rc::Rc<std::cell::RefCell<Vec<String>>> {
    let reported = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = reported.clone();
    plugin.engine().on_handler_error(false, move |text| sink.borrow_mut().push(text.to_string()));
    reported
}

fn list(connection: &mut redis::Connection, key: &str) -> Vec<String> {
    connection.lrange(key, 0, -1).unwrap()
}

/// A subscription with a handler: each message published by another client runs the handler
/// through the event loop (here: pushing to a list the test reads); a handler that fails is
/// reported with its location and the subscription goes on; unsubscribing ends the service.
fn handler_subscription(mut plugin: PluginTest, direct: &mut redis::Connection, keys: &Keys) {
    let channel = keys.key("events");
    let log = keys.key("log");
    let reported = collect_handler_errors(&mut plugin);
    let document = plugin
        .eval(&format!(
            "factor: 10\nsubscribed: @redis.subscribe(\"{channel}\", m => @redis.rpush(\"{log}\", m.message.n * factor))\n"
        ))
        .unwrap();
    assert_eq!(document["subscribed"], json!(1));
    assert!(plugin.engine().has_services(), "a subscription keeps tusk running");
    // Subscribed before the operator returned: the first message is not lost.
    let receivers: i64 = direct.publish(&channel, "{\"n\":1}").unwrap();
    assert_eq!(receivers, 1);
    let _: i64 = direct.publish(&channel, "{\"n\":\"x\"}").unwrap();
    let _: i64 = direct.publish(&channel, "{\"n\":3}").unwrap();
    serve_until(&mut plugin, "two handled messages", |_| list(direct, &log).len() >= 2);
    assert_eq!(list(direct, &log), ["10", "30"]);
    let reported = reported.borrow().clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(reported[0].contains("cannot apply `*` to string and int"), "{}", reported[0]);
    assert!(reported[0].contains("test.tsk:2:"), "the handler's location: {}", reported[0]);
    let status = eval(&mut plugin, "@redis.subscriptions()");
    assert_eq!(status["channels"], json!([channel]));
    assert_eq!(status["connected"], json!(true));
    assert_eq!(status["received"], json!(3));
    assert_eq!(status["handler_errors"], json!(1));
    // Subscribing the same channel again replaces its handler.
    assert_eq!(
        eval(
            &mut plugin,
            &format!("@redis(\"subscribe\", \"{channel}\", m => @redis.rpush(\"{log}\", \"again ${{m.message}}\"))")
        ),
        json!(1)
    );
    let _: i64 = direct.publish(&channel, "hello").unwrap();
    serve_until(&mut plugin, "the new handler", |_| list(direct, &log).len() >= 3);
    assert_eq!(list(direct, &log), ["10", "30", "again hello"]);
    assert_eq!(eval(&mut plugin, &format!("@redis.unsubscribe(\"{channel}\")")), json!(0));
    // The last unsubscribe ends the service (a sandboxed runner says so over its event channel,
    // so the loop, not an immediate look, is what sees it go).
    assert_eq!(
        plugin.engine().run_services_for(Duration::from_secs(10)),
        ServicesEnd::Idle,
        "the last unsubscribe ends the service"
    );
    serve_until(&mut plugin, "the subscribed connection to close", |_| {
        direct.publish::<_, _, i64>(&channel, "late").unwrap() == 0
    });
    assert_eq!(
        eval(&mut plugin, "@redis.subscriptions()"),
        json!({"channels": [], "patterns": [], "connected": false})
    );
}

#[test]
fn subscribe_with_a_handler() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("subscribe_handler");
    handler_subscription(plugin(), &mut direct, &keys);
}

/// Sandboxed: the reader thread runs in the runner and posts over the event channel.
#[test]
fn subscribe_with_a_handler_sandboxed() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("subscribe_handler_sandboxed");
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant(GRANT_NET);
    handler_subscription(plugin, &mut direct, &keys);
}

#[test]
fn pattern_subscriptions_and_their_errors() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("psubscribe");
    let log = keys.key("log");
    let pattern = keys.key("news.*");
    let mut plugin = plugin();
    assert_eq!(
        eval(
            &mut plugin,
            &format!(
                "@redis.psubscribe([\"{pattern}\"], m => @redis.rpush(\"{log}\", \"${{m.pattern}} ${{m.channel}} ${{m.message}}\"))"
            )
        ),
        json!(1)
    );
    let _: i64 = direct.publish(keys.key("news.sport"), "goal").unwrap();
    let _: i64 = direct.publish(keys.key("weather"), "rain").unwrap();
    let _: i64 = direct.publish(keys.key("news.tech"), "rust").unwrap();
    serve_until(&mut plugin, "two pattern messages", |_| list(&mut direct, &log).len() >= 2);
    assert_eq!(
        list(&mut direct, &log),
        [format!("{pattern} {} goal", keys.key("news.sport")), format!("{pattern} {} rust", keys.key("news.tech"))]
    );
    assert_eq!(eval(&mut plugin, "@redis.subscriptions()")["patterns"], json!([pattern]));
    let missing = error(&mut plugin, &format!("@redis.psubscribe(\"{pattern}\")"));
    assert!(missing.contains("handler (argument 2 of @redis.psubscribe)"), "{missing}");
    let not_function = error(&mut plugin, &format!("@redis.psubscribe(\"{pattern}\", 5)"));
    assert!(not_function.contains("@redis.psubscribe: the handler must be a function, got a int"), "{not_function}");
    let empty = error(&mut plugin, "@redis.subscribe([], m => m)");
    assert!(empty.contains("at least one channel is needed"), "{empty}");
    assert_eq!(eval(&mut plugin, "@redis.punsubscribe()"), json!(0));
    assert_eq!(plugin.engine().run_services_for(Duration::from_secs(10)), ServicesEnd::Idle);
}

/// `CLIENT KILL` of the subscribed connection: the reader connects again and subscribes
/// again, and the handler goes on receiving.
#[test]
fn a_killed_subscription_connects_again() {
    let Some(mut direct) = direct() else { return };
    let keys = Keys::new("subscription_killed");
    let channel = keys.key("jobs");
    let log = keys.key("log");
    let mut plugin = plugin();
    eval(&mut plugin, &format!("@redis.subscribe(\"{channel}\", m => @redis.rpush(\"{log}\", m.message))"));
    let _: i64 = direct.publish(&channel, "before").unwrap();
    serve_until(&mut plugin, "the first message", |_| list(&mut direct, &log).len() == 1);
    let status = eval(&mut plugin, "@redis.subscriptions()");
    let killed = status["client_id"].as_i64().expect("a client id");
    let _: () = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(killed).query(&mut direct).unwrap();
    serve_until(&mut plugin, "the reconnection", |plugin| {
        let status = eval(plugin, "@redis.subscriptions()");
        status["reconnects"] == json!(1) && status["connected"] == json!(true)
    });
    let status = eval(&mut plugin, "@redis.subscriptions()");
    assert_ne!(status["client_id"], json!(killed), "a new connection");
    assert!(
        status["last_error"].as_str().is_some_and(|text| text.contains("the subscribed connection was lost")),
        "{status}"
    );
    let receivers: i64 = direct.publish(&channel, "after").unwrap();
    assert_eq!(receivers, 1, "subscribed again");
    serve_until(&mut plugin, "the message after the kill", |_| list(&mut direct, &log).len() == 2);
    assert_eq!(list(&mut direct, &log), ["before", "after"]);
    assert_eq!(eval(&mut plugin, "@redis.unsubscribe()"), json!(0));
}

/// The server restarts: the subscription comes back once it answers again.
#[test]
fn a_subscription_survives_a_server_restart() {
    let Some(mut server) = OwnServer::start() else { return };
    let port = server.port;
    let url = format!("redis://127.0.0.1:{port}");
    let mut plugin = PluginTest::for_package(env!("CARGO_MANIFEST_DIR"));
    plugin.grant(&format!("--allow-net=127.0.0.1:{port}")).in_process();
    plugin.with_user_config(&format!("[plugins.redis]\nurl = \"{url}\"\nconnect_timeout = 2\n"));
    assert_eq!(eval(&mut plugin, "@redis.subscribe(\"jobs\", m => @redis.rpush(\"log\", m.message))"), json!(1));
    let own = || redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let _: i64 = own().publish("jobs", "first").unwrap();
    serve_until(&mut plugin, "the first message", |_| list(&mut own(), "log").len() == 1);
    server.stop();
    serve_until(&mut plugin, "the loss to be noticed", |plugin| {
        eval(plugin, "@redis.subscriptions()")["connected"] == json!(false)
    });
    server.restart().unwrap();
    serve_until(&mut plugin, "the reconnection", |plugin| {
        eval(plugin, "@redis.subscriptions()")["connected"] == json!(true)
    });
    let receivers: i64 = own().publish("jobs", "second").unwrap();
    assert_eq!(receivers, 1, "subscribed again on the new server");
    serve_until(&mut plugin, "the message after the restart", |_| list(&mut own(), "log").len() == 1);
    assert_eq!(list(&mut own(), "log"), ["second"], "a new, empty server");
    assert!(eval(&mut plugin, "@redis.subscriptions()")["reconnects"].as_i64().unwrap() >= 1);
    assert_eq!(eval(&mut plugin, "@redis.unsubscribe(\"jobs\")"), json!(0));
}
