//! The embedding API as a Rust program uses it: compile once and run many times, globals
//! from the host, typed functions and their errors, registration errors.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use tusk::{Bytes, Engine, Error, RegistryError, Scope, Serde, Value};

/// The first error's message and, if any, its help.
fn error_of(result: Result<tusk::Document, Error>) -> (String, Option<String>) {
    let error = result.expect_err("an error");
    let first = error.diagnostics().iter().find(|d| d.is_error()).expect("an error diagnostic");
    (first.message.clone(), first.help.clone())
}

fn json(document: &tusk::Document) -> String {
    serde_json::to_string(document.value()).unwrap()
}

#[test]
fn a_program_compiles_once_and_runs_with_each_scope() {
    let mut engine = Engine::new();
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    engine
        .register_fn("tick", move || {
            counter.set(counter.get() + 1);
            counter.get()
        })
        .unwrap();
    let program = engine.compile("port: $base + 80\nname: \"${$region}-${tick()}\"\n").unwrap();
    assert_eq!(program.globals().collect::<Vec<_>>(), ["base", "region"]);
    let sources = engine.sources().len();

    let mut scope = Scope::new();
    scope.set("base", 8000).set("region", "eu");
    assert_eq!(json(&engine.run_with_scope(&program, &scope).unwrap()), r#"{"port":8080,"name":"eu-1"}"#);
    scope.set("base", 9000).set("$region", "us");
    assert_eq!(json(&engine.run_with_scope(&program, &scope).unwrap()), r#"{"port":9080,"name":"us-2"}"#);
    // Each run evaluated the program afresh; none added (or parsed) a source.
    assert_eq!(calls.get(), 2);
    assert_eq!(engine.sources().len(), sources);
}

#[test]
fn a_missing_global_is_an_error_naming_it_where_it_is_read() {
    let mut engine = Engine::new();
    let program = engine.compile("a: 1\nport: $port + 1\n").unwrap();
    let mut scope = Scope::new();
    scope.set("host", "h");
    let error = engine.run_with_scope(&program, &scope).unwrap_err();
    let rendered = engine.render(&error, false);
    assert!(rendered.contains("[R004] Error: `$port` is not defined"), "{rendered}");
    assert!(rendered.contains("<string>:2:7"), "{rendered}");
    assert_eq!(
        error.diagnostics()[0].help.as_deref(),
        Some("the script does not define it and the host does not supply it (the host supplies: `$host`)")
    );
    // A near miss gets a suggestion.
    scope.set("prot", 1);
    assert_eq!(error_of(engine.run_with_scope(&program, &scope)).1.as_deref(), Some("did you mean `$prot`?"));
    // Without any scope the error stays as the command line shows it.
    assert_eq!(error_of(engine.run(&program)), ("`$port` is not defined".to_string(), None));
}

#[test]
fn engine_globals_reach_every_run_and_a_scope_or_the_script_overrides_them() {
    let mut engine = Engine::new();
    engine.set_global("stage", "staging").set_global("replicas", 2);
    assert_eq!(json(&engine.eval_str("s: $stage\nr: $replicas\n").unwrap()), r#"{"s":"staging","r":2}"#);
    assert_eq!(engine.eval_expression("$replicas * 10").unwrap().as_int(), Some(20));
    // `@variable` reads the same globals.
    assert_eq!(json(&engine.eval_str("s: @variable(\"stage\")\n").unwrap()), r#"{"s":"staging"}"#);

    let program = engine.compile("s: $stage\nr: $replicas\n").unwrap();
    let mut scope = Scope::new();
    scope.set("stage", "production");
    assert_eq!(json(&engine.run_with_scope(&program, &scope).unwrap()), r#"{"s":"production","r":2}"#);
    assert_eq!(json(&engine.run(&program).unwrap()), r#"{"s":"staging","r":2}"#);

    // A script that defines the global itself sees only its own.
    let document = engine.eval_str("$stage: \"local\"\ns: $stage\n").unwrap();
    assert_eq!(json(&document), r#"{"s":"local"}"#);
    assert_eq!(engine.globals().get("stage").and_then(Value::as_str), Some("staging"));
}

#[test]
fn a_program_runs_only_in_the_engine_that_compiled_it() {
    let mut first = Engine::new();
    let mut second = Engine::new();
    let program = first.compile("a: 1\n").unwrap();
    let (message, _) = error_of(second.run(&program));
    assert_eq!(message, "this program was compiled by another engine; compile it with the engine that runs it");
    assert_eq!(json(&first.run(&program).unwrap()), r#"{"a":1}"#);
}

#[test]
fn compile_file_reads_once_and_resolves_paths_against_the_file() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("greeting.txt"), "hello").unwrap();
    let script = folder.path().join("app.tsk");
    std::fs::write(&script, "text: @file.read(\"greeting.txt\")\n").unwrap();
    let mut engine = Engine::new();
    let program = engine.compile_file(&script).unwrap();
    std::fs::remove_file(&script).unwrap();
    assert_eq!(json(&engine.run(&program).unwrap()), r#"{"text":"hello"}"#);

    let missing = folder.path().join("missing.tsk");
    let error = engine.compile_file(&missing).unwrap_err();
    assert!(error.to_string().starts_with(&format!("cannot read {}: ", missing.display())), "{error}");
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Server {
    host: String,
    port: u16,
}

#[test]
fn typed_functions_take_and_return_byte_strings() {
    let mut engine = Engine::new();
    engine.register_fn("checksum", |data: &[u8]| data.iter().map(|&b| i64::from(b)).sum::<i64>()).unwrap();
    engine.register_fn("reversed", |data: Bytes| Bytes::from(data.iter().rev().copied().collect::<Vec<u8>>())).unwrap();
    engine.register_fn("as_list", |data: Vec<u8>| data.len()).unwrap();
    let document = engine
        .eval_str("a: checksum(bytes([1, 2, 250]))\nb: hex(reversed(from_hex(\"0102ff\")))\nc: as_list([1, 2])\n")
        .unwrap();
    assert_eq!(json(&document), r#"{"a":253,"b":"ff0201","c":2}"#);
    let (message, _) = error_of(engine.eval_str("a: checksum(\"text\")\n"));
    assert_eq!(message, "checksum: argument 1 must be bytes, not string");
    // `Vec<u8>` stays an array of ints.
    let (message, _) = error_of(engine.eval_str("a: as_list(bytes([1]))\n"));
    assert_eq!(message, "as_list: argument 1 must be an array (items: an integer from 0 to 255), not bytes");
    assert_eq!(engine.function("checksum").unwrap().doc.signature, "checksum(bytes)");
}

#[test]
fn typed_functions_convert_their_arguments_and_results() {
    let mut engine = Engine::new();
    engine.register_fn("double", |x: i64| x * 2).unwrap();
    engine.register_fn("half", |x: f64| x / 2.0).unwrap();
    engine.register_fn("negate", |b: bool| !b).unwrap();
    engine.register_fn("shout", |text: &str| format!("{}!", text.to_uppercase())).unwrap();
    engine.register_fn("owned", |text: String| text.len()).unwrap();
    engine.register_fn("total", |items: Vec<i64>| items.iter().sum::<i64>()).unwrap();
    engine
        .register_fn("greet", |name: &str, greeting: Option<String>| {
            format!("{}, {name}", greeting.unwrap_or_else(|| "Hello".to_string()))
        })
        .unwrap();
    engine
        .register_fn("keys_of", |map: HashMap<String, Value>| map.into_iter().collect::<BTreeMap<_, _>>().len())
        .unwrap();
    engine.register_fn("type_of_value", |value: &Value| value.type_name().to_string()).unwrap();
    engine.register_fn("port_of", |Serde(server): Serde<Server>| server.port).unwrap();
    engine.register_fn("server", |host: String, port: u16| Serde(Server { host, port })).unwrap();
    engine.register_fn("checked", |x: i64| if x < 0 { Err(format!("{x} is negative")) } else { Ok(x) }).unwrap();
    engine.register_fn("nothing", || ()).unwrap();

    let document = engine
        .eval_str(
            "a: double(21)\nb: half(3)\nc: negate(false)\nd: shout(\"hi\")\ne: owned(\"four\")\nf: total([1, 2, 3])\n\
             g: greet(\"Ada\")\nh: greet(\"Ada\", \"Hi\")\ni: keys_of({x: 1, y: 2})\nj: type_of_value([1])\n\
             k: port_of({host: \"h\", port: 80})\nl: server(\"h\", 81)\nm: checked(5)\nn: nothing()\n\
             o: map([1, 2], double)\n",
        )
        .unwrap();
    assert_eq!(
        json(&document),
        r#"{"a":42,"b":1.5,"c":true,"d":"HI!","e":4,"f":6,"g":"Hello, Ada","h":"Hi, Ada","i":2,"j":"array","k":80,"l":{"host":"h","port":81},"m":5,"n":null,"o":[2,4]}"#
    );
    // `:help` shows the parameter types.
    assert_eq!(engine.function("greet").unwrap().doc.signature, "greet(a string, a string or null)");
}

#[test]
fn typed_function_errors_name_the_function_the_argument_and_the_types() {
    let mut engine = Engine::new();
    engine.register_fn("double", |x: i64| x * 2).unwrap();
    engine.register_fn("total", |items: Vec<u8>| items.iter().map(|&n| i64::from(n)).sum::<i64>()).unwrap();
    engine.register_fn("greet", |name: &str, greeting: Option<String>| format!("{greeting:?} {name}")).unwrap();
    engine.register_fn("port_of", |Serde(server): Serde<Server>| server.port).unwrap();
    engine.register_fn("checked", |x: i64| if x < 0 { Err(format!("{x} is negative")) } else { Ok(x) }).unwrap();
    engine.register_fn("huge", || u64::MAX).unwrap();

    let cases = [
        ("v: double(\"4\")", "double: argument 1 must be an integer, not string"),
        ("v: double(1, 2)", "`double` takes 1 argument, but 2 were given"),
        ("v: greet()", "`greet` takes 1 to 2 arguments, but 0 were given"),
        ("v: greet(\"a\", 5)", "greet: argument 2 must be a string or null, not int"),
        ("v: total([1, 300])", "total: item 2 of argument 1 must be an integer from 0 to 255, not 300"),
        ("v: total(7)", "total: argument 1 must be an array (items: an integer from 0 to 255), not int"),
        ("v: port_of({host: \"h\"})", "port_of: argument 1 does not fit `Server`: missing field `port`"),
        ("v: checked(-1)", "checked: -1 is negative"),
        ("v: huge()", "huge: the result 18446744073709551615 does not fit a script integer (64-bit signed)"),
        ("v: map([\"x\"], double)", "double: argument 1 must be an integer, not string"),
    ];
    for (source, expected) in cases {
        assert_eq!(error_of(engine.eval_str(source)).0, expected, "{source}");
    }
    // The error points at the offending argument.
    let error = engine.eval_str("v: greet(\"a\", 5)\n").unwrap_err();
    let rendered = engine.render(&error, false);
    assert!(rendered.contains("<string>:1:15"), "{rendered}");
}

#[test]
fn registering_a_name_twice_is_an_error_not_a_panic() {
    let mut engine = Engine::new();
    engine.register_fn("double", |x: i64| x * 2).unwrap();
    let error = engine.register_fn("double", |x: i64| x * 3).unwrap_err();
    assert_eq!(
        error,
        RegistryError::Duplicate { name: "double".into(), first: "embedder".into(), second: "embedder".into() }
    );
    assert_eq!(
        engine.register_function("len", |_, _| Ok(Value::Null)).unwrap_err().to_string(),
        "`len` is provided by both `std` and `embedder`"
    );
    assert_eq!(
        engine.register_operator("bad name", |_, _| Ok(Value::Null)).unwrap_err(),
        RegistryError::InvalidName("bad name".into())
    );
    // The first registration still serves.
    assert_eq!(engine.eval_expression("double(4)").unwrap().as_int(), Some(8));
    assert!(engine.operator("env").is_some() && engine.operator("double").is_none());
    assert!(engine.symbols().iter().any(|symbol| symbol.name == "double"));
}
