//! Evaluator tests. `eval_json` runs a document and returns its JSON; `fail` runs one that
//! must fail and returns the first error's message (or rendered diagnostic).

use std::rc::Rc;

use tusk_diagnostics::{RenderOptions, render_all};

use crate::{
    CallContext, Mode, Options, Plugin, Registrar, RegistryError, Runtime, RuntimeError, SymbolSpec, Value, arg_int,
};

fn runtime(mode: Mode) -> Runtime {
    Runtime::new(Options { mode, ..Options::default() })
}

fn eval_in(mode: Mode, source: &str) -> Result<String, String> {
    let mut rt = runtime(mode);
    let id = rt.add_source("test.tsk", source);
    match rt.evaluate(id, None) {
        Ok(evaluation) => Ok(serde_json::to_string(&Value::object(evaluation.document)).unwrap()),
        Err(failure) => Err(render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN)),
    }
}

fn eval_json(source: &str) -> String {
    eval_in(Mode::Default, source).unwrap_or_else(|error| panic!("{source:?} failed:\n{error}"))
}

fn fail(source: &str) -> String {
    match eval_in(Mode::Default, source) {
        Ok(json) => panic!("{source:?} should fail but gave {json}"),
        Err(error) => error,
    }
}

fn expr(source: &str) -> String {
    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("expr", source);
    match rt.evaluate_expression(id, None) {
        Ok((value, _)) => crate::to_display(&value),
        Err(failure) => panic!("{source:?}: {}", render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN)),
    }
}

#[test]
fn documents_in_every_style() {
    assert_eq!(
        eval_json("name: \"app\"\n[server]\nport: 8080\nssl {\n  on: true\n}\n[db]\nlimits >\n  max: 5\n<\n"),
        r#"{"name":"app","server":{"port":8080,"ssl":{"on":true}},"db":{"limits":{"max":5}}}"#
    );
    assert_eq!(eval_json("[a.b]\nx: 1\n[a]\ny: 2\n"), r#"{"a":{"b":{"x":1},"y":2}}"#);
    assert_eq!(
        eval_json("db:\n  host: \"h\"\n  port: 1\nfeatures:\n  - a\n  - b\n"),
        r#"{"db":{"host":"h","port":1},"features":["a","b"]}"#
    );
    assert_eq!(eval_json("a.b.c: 1\na.b.d: 2\n"), r#"{"a":{"b":{"c":1,"d":2}}}"#);
}

#[test]
fn arithmetic_and_strings() {
    assert_eq!(expr("1 + 2 * 3"), "7");
    assert_eq!(expr("\"v\" + 2"), "v2");
    assert_eq!(expr("7 / 2"), "3.5");
    assert_eq!(expr("10 / 2"), "5");
    assert_eq!(expr("-7 % 3"), "-1");
    assert_eq!(expr("[1] + [2]"), "[1, 2]");
    assert_eq!(expr("\"a ${1 + 1} b\""), "a 2 b");
    assert_eq!(expr("1 < 2 && 2 < 3 ? \"yes\" : \"no\""), "yes");
    assert_eq!(expr("null || \"fallback\""), "fallback");
    assert_eq!(expr("{a: 1, b: a + 1}.b"), "2");
}

#[test]
fn names_resolve_to_earlier_entries_and_sections() {
    assert_eq!(eval_json("x: 1\ny: x + 1\n"), r#"{"x":1,"y":2}"#);
    assert_eq!(eval_json("x: 1\nb {\n  y: x\n  x: 2\n  z: x\n}\n"), r#"{"x":1,"b":{"y":1,"x":2,"z":2}}"#);
    assert_eq!(eval_json("[alpha]\nl: 1\n[beta]\nr: alpha.l\n"), r#"{"alpha":{"l":1},"beta":{"r":1}}"#);
    assert_eq!(eval_json("$g: 5\na: $g * 2\n"), r#"{"a":10}"#);
}

#[test]
fn lambdas_recursion_and_closures() {
    assert_eq!(eval_json("fib: n => n < 2 ? n : fib(n - 1) + fib(n - 2)\nr: fib(20)\n"), r#"{"r":6765}"#);
    assert_eq!(eval_json("add: a => b => a + b\nr: add(2)(3)\n"), r#"{"r":5}"#);
    assert_eq!(eval_json("r: map([1, 2], x => map([10], y => x * y))\n"), r#"{"r":[[10],[20]]}"#);
    assert_eq!(eval_json("f: x => {a: x, b: a * 2}\nr: f(3)\n"), r#"{"r":{"a":3,"b":6}}"#);
    assert_eq!(eval_json("r: reduce(range(0, 5), 0, (s, i) => (s + i * i) % 1000003)\n"), r#"{"r":30}"#);
}

#[test]
fn errors_are_located_and_explained() {
    let error = fail("a: 1\nb: a + true\n");
    assert!(error.contains("cannot apply `+` to int and bool"), "{error}");
    assert!(error.contains("test.tsk:2:4"), "{error}");
    let error = fail("a: b\nb: 1\n");
    assert!(error.contains("`b` is used before it is defined"), "{error}");
    assert!(error.contains("defined here, later"), "{error}");
    let error = fail("f: x => f(x)\nr: f(1)\n");
    assert!(error.contains("call depth limit exceeded"), "{error}");
    let error = fail("r: revrse([1])\n");
    assert!(error.contains("did you mean `reverse`?"), "{error}");
    let error = fail("r: @frobnicate(1)\n");
    assert!(error.contains("unknown operator `@frobnicate`"), "{error}");
    let error = fail("r: 9223372036854775807 + x\nx: 1\n");
    assert!(error.contains("used before it is defined"), "{error}");
    let error = fail("x: 1\nr: 9223372036854775807 + x\n");
    assert!(error.contains("integer overflow"), "{error}");
}

#[test]
fn call_trace_goes_through_lambdas() {
    let error = fail("inner: x => x + true\nouter: x => inner(x)\nr: outer(1)\n");
    assert!(error.contains("in `inner`, called at test.tsk:2:13"), "{error}");
    assert!(error.contains("in `outer`, called at test.tsk:3:4"), "{error}");
}

#[test]
fn bare_words_and_modes() {
    assert_eq!(eval_json("level: info\n"), r#"{"level":"info"}"#);
    assert_eq!(eval_json("level: error\n"), r#"{"level":"error"}"#);
    assert!(eval_in(Mode::Strict, "level: info\n").is_err());
    assert_eq!(
        eval_in(Mode::Compat, "s: hello world\nu: @unknown(1)\n").unwrap(),
        r#"{"s":"hello world","u":"@unknown(1)"}"#
    );
}

#[test]
fn functions_are_left_out_of_output() {
    assert_eq!(eval_json("f: x => x\nv: [1, f]\n"), r#"{"v":[1]}"#);
}

#[test]
fn ranges() {
    assert_eq!(eval_json("ports: 8000-9000\n"), r#"{"ports":{"min":8000,"max":9000,"type":"range"}}"#);
    assert_eq!(expr("len(8000-9000)"), "1001");
    assert_eq!(expr("sum(range(1, 101))"), "5050");
}

#[test]
fn std_examples_hold() {
    let rt = runtime(Mode::Default);
    let mut checked = 0;
    for symbol in rt.registry().symbols() {
        for example in &symbol.doc.examples {
            let (source, expected) = example.rsplit_once(" => ").expect("examples are `expr => json`");
            let mut rt = runtime(Mode::Default);
            let id = rt.add_source("example", source);
            let (value, _) =
                rt.evaluate_expression(id, None).unwrap_or_else(|f| panic!("{example}: {:?}", f.diagnostics));
            let got = serde_json::to_string(&value).unwrap();
            let want: serde_json::Value = serde_json::from_str(expected).unwrap();
            assert_eq!(serde_json::from_str::<serde_json::Value>(&got).unwrap(), want, "{}: {example}", symbol.name);
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} examples");
}

struct Doubler;

impl Plugin for Doubler {
    fn name(&self) -> &str {
        "doubler"
    }
    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        registrar.add(SymbolSpec::operator("double", |_ctx: &mut CallContext<'_, '_>, args: &[Value]| {
            Ok(Value::Int(arg_int(args, 0)? * 2))
        }))?;
        registrar.add(SymbolSpec::function("apply_twice", |ctx, args| {
            let once = ctx.call(&args[0], &[args[1].clone()])?;
            ctx.call(&args[0], &[once])
        }))?;
        Ok(())
    }
}

#[test]
fn plugins_register_operators_and_call_back_into_lambdas() {
    let mut rt = runtime(Mode::Default);
    rt.register(&Doubler).unwrap();
    let id = rt.add_source("t", "a: @double(21)\nb: apply_twice(x => x + 1, 0)\n");
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":42,"b":2}"#);
    let error = rt.register(&Doubler).unwrap_err();
    assert_eq!(error.to_string(), "`@double` is already registered by `doubler`");
}

#[test]
fn host_calls_lambdas_after_evaluation() {
    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("t", "base: 10\nhandler: x => x + base\n");
    let document = rt.evaluate(id, None).unwrap().document;
    let handler = document.get("handler").unwrap().clone();
    assert_eq!(rt.call(&handler, &[Value::Int(5)]).unwrap().as_int(), Some(15));
    let _ = Rc::new(0);
    let _: Option<RuntimeError> = None;
}

#[test]
fn dry_run_skips_side_effects_on_every_call_route() {
    // Found while preparing the eval fuzz target: `print` compiled to a direct native call, and
    // a function passed as a value, both bypassed the dry-run check of direct operator calls.
    let mut rt = Runtime::new(Options { dry_run: true, ..Options::default() });
    let path = std::env::temp_dir().join(format!("tusk-dry-run-{}.txt", std::process::id()));
    let source = format!(
        "a: print(\"direct\")\nb: (f => f(\"as a value\"))(print)\nc: map([1], print)\nd: @file.write({:?}, \"x\")\n",
        path.display().to_string()
    );
    let id = rt.add_source("t", source);
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":null,"b":null,"c":[null],"d":null}"#);
    assert_eq!(rt.take_printed(), Vec::<String>::new());
    assert!(!path.exists());
}

/// A plugin whose one function, `bump()`, has side effects, is registered as a lazy stub (as
/// the plugin host registers an installed plugin's symbols) and counts its calls.
struct Bumper(Rc<std::cell::Cell<u32>>);

impl Plugin for Bumper {
    fn name(&self) -> &str {
        "bumper"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        let calls = self.0.clone();
        let loader: Rc<crate::registry::LazyLoader> = Rc::new(move |_: &mut CallContext<'_, '_>| {
            let calls = calls.clone();
            let function: Rc<crate::function::NativeFn> = Rc::new(move |_: &mut CallContext<'_, '_>, _: &[Value]| {
                calls.set(calls.get() + 1);
                Ok(Value::Int(i64::from(calls.get())))
            });
            Ok(crate::Implementation::Native(function))
        });
        let spec = SymbolSpec::new("bump", crate::registry::SymbolKind::Function, crate::Implementation::Lazy(loader));
        registrar.add(spec.side_effects())?;
        Ok(())
    }
}

#[test]
fn a_lazy_symbol_with_side_effects_is_skipped_in_a_dry_run_on_every_route_and_runs_otherwise() {
    // The symbol call runs a side-effecting function without its dry-run wrapper (it checks
    // for a dry run itself); the other routes keep the wrapper, also once the stub is loaded.
    let source = "a: bump()\nb: (f => f())(bump)\nc: map([1, 2], x => bump())\nd: bump()\n";
    for (dry_run, expected, calls) in
        [(true, r#"{"a":null,"b":null,"c":[null,null],"d":null}"#, 0), (false, r#"{"a":1,"b":2,"c":[3,4],"d":5}"#, 5)]
    {
        let counter = Rc::new(std::cell::Cell::new(0));
        let mut rt = Runtime::new(Options { dry_run, ..Options::default() });
        rt.registry_mut().register(&Bumper(counter.clone())).unwrap();
        let id = rt.add_source("t", source);
        let document = rt.evaluate(id, None).unwrap().document;
        assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), expected, "dry run: {dry_run}");
        assert_eq!(counter.get(), calls, "dry run: {dry_run}");
    }
}

/// A plugin whose function `glue(…)` is a direct call (as an in-process plugin's symbol is,
/// once loaded): it joins its arguments' texts and records how many values shared each
/// string argument it was lent.
struct Joiner(Rc<std::cell::RefCell<Vec<usize>>>);

struct Join(Rc<std::cell::RefCell<Vec<usize>>>);

impl crate::DirectCall for Join {
    fn call(&self, ctx: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        let _ = ctx.call_site();
        let mut text = String::new();
        for (index, arg) in args.iter().enumerate() {
            match arg {
                Value::Str(shared) => self.0.borrow_mut().push(shared.shared_by()),
                Value::Bool(_) => return Err(RuntimeError::argument(index, "no booleans")),
                _ => {}
            }
            text.push_str(&crate::to_display(arg));
        }
        Ok(Value::Str(crate::Text::new(&text)))
    }
}

impl Plugin for Joiner {
    fn name(&self) -> &str {
        "joiner"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        let shares = self.0.clone();
        let loader: Rc<crate::registry::LazyLoader> = Rc::new(move |_: &mut CallContext<'_, '_>| {
            Ok(crate::Implementation::Direct(Rc::new(Join(shares.clone()))))
        });
        registrar.add(SymbolSpec::new(
            "glue",
            crate::registry::SymbolKind::Function,
            crate::Implementation::Lazy(loader),
        ))?;
        Ok(())
    }
}

#[test]
fn a_direct_symbol_is_lent_its_arguments_at_every_arity_and_on_every_route() {
    let shares = Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut rt = runtime(Mode::Default);
    rt.registry_mut().register(&Joiner(shares.clone())).unwrap();
    let source = "first: glue(\"a\", 1)\n\
                  arities: map(range(0, 2), i => [glue(), glue(i), glue(\"x\", i), glue(i, \"y\", i + 1), glue(1, 2, 3, 4, \"z\")])\n\
                  value: map([\"p\", \"q\"], glue)\n\
                  bad: 1\n";
    let id = rt.add_source("t", source);
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(
        serde_json::to_string(&Value::object(document)).unwrap(),
        r#"{"first":"a1","arities":[["","0","x0","0y1","1234z"],["","1","x1","1y2","1234z"]],"value":["p","q"],"bad":1}"#
    );
    // The first call (the stub's load) and the calls of five arguments are lent copies; the
    // other string constants are lent as the call's own constant, which nothing else holds.
    assert_eq!(*shares.borrow(), [2, 1, 1, 2, 1, 1, 2, 2, 2]);
    // An error about an argument points at it.
    let id = rt.add_source("bad.tsk", "x: glue(1, true)\n");
    let Err(failure) = rt.evaluate(id, None) else { panic!("`glue(1, true)` should fail") };
    let error = render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN);
    assert!(error.contains("no booleans"), "{error}");
    assert!(error.contains("bad.tsk:1:12"), "{error}");
}

/// A direct symbol with a thunk, as an in-process plugin's is: it counts the calls that came
/// through the thunk (its context) and through `DirectCall::call`, and answers its argument
/// plus its generation (a reload's patch is a new generation); `0` fails.
struct Ticker {
    generation: i64,
    counts: &'static TickCounts,
}

#[derive(Default)]
struct TickCounts {
    thunk: std::cell::Cell<usize>,
    direct: std::cell::Cell<usize>,
}

impl Ticker {
    fn answer(generation: i64, args: &[&Value]) -> Result<Value, RuntimeError> {
        match args {
            [Value::Int(0)] => Err(RuntimeError::argument(0, "zero")),
            [Value::Int(n)] => Ok(Value::Int(n + generation)),
            _ => Err(RuntimeError::message("one integer")),
        }
    }
}

/// The thunk's function: its context is the address of a leaked `Ticker`.
fn tick_thunk(context: *const (), _: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
    // A test stand-in for the host's cast: the address is looked up, not dereferenced.
    let ticker = TICKERS.with(|tickers| tickers.borrow().iter().copied().find(|t| std::ptr::addr_eq(*t, context)));
    let ticker: &'static Ticker = ticker.expect("a ticker's address");
    ticker.counts.thunk.set(ticker.counts.thunk.get() + 1);
    Ticker::answer(ticker.generation, args)
}

thread_local! {
    static TICKERS: std::cell::RefCell<Vec<&'static Ticker>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct TickerCall(&'static Ticker);

impl crate::DirectCall for TickerCall {
    fn call(&self, _: &mut CallContext<'_, '_>, args: &[&Value]) -> Result<Value, RuntimeError> {
        self.0.counts.direct.set(self.0.counts.direct.get() + 1);
        Ticker::answer(self.0.generation, args)
    }

    fn thunk(&self) -> Option<crate::Thunk> {
        Some(crate::Thunk::new(tick_thunk, std::ptr::from_ref(self.0).cast()))
    }
}

fn ticker(generation: i64, counts: &'static TickCounts) -> crate::Implementation {
    let ticker: &'static Ticker = Box::leak(Box::new(Ticker { generation, counts }));
    TICKERS.with(|tickers| tickers.borrow_mut().push(ticker));
    crate::Implementation::Direct(Rc::new(TickerCall(ticker)))
}

struct Tickers(&'static TickCounts);

impl Plugin for Tickers {
    fn name(&self) -> &str {
        "tickers"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        let counts = self.0;
        let loader: Rc<crate::registry::LazyLoader> = Rc::new(move |_: &mut CallContext<'_, '_>| Ok(ticker(0, counts)));
        registrar.add(SymbolSpec::new(
            "tick",
            crate::registry::SymbolKind::Function,
            crate::Implementation::Lazy(loader),
        ))?;
        Ok(())
    }
}

#[test]
fn a_loaded_symbols_thunk_is_called_directly_and_a_patch_replaces_it() {
    let counts: &'static TickCounts = Box::leak(Box::default());
    let mut rt = runtime(Mode::Default);
    rt.registry_mut().register(&Tickers(counts)).unwrap();
    let id = rt.add_source("t", "a: map(range(1, 4), i => tick(i))\nf: map([5], tick)\n");
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":[1,2,3],"f":[5]}"#);
    // The first call loads the stub and calls through the loaded implementation; the later
    // symbol calls go through the thunk; a function value keeps the `DirectCall`.
    assert_eq!((counts.thunk.get(), counts.direct.get()), (2, 2));

    // A reload patches the symbol: the next calls go through the new implementation's thunk.
    let symbol = rt.registry().function("tick").unwrap().clone();
    symbol.set_implementation(ticker(100, counts));
    let id = rt.add_source("t2", "a: map(range(1, 4), i => tick(i))\n");
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":[101,102,103]}"#);
    assert_eq!((counts.thunk.get(), counts.direct.get()), (5, 2));

    // An error from the thunk is the call's, named and pointing at the argument.
    let id = rt.add_source("bad.tsk", "x: tick(1)\ny: tick(0)\n");
    let Err(failure) = rt.evaluate(id, None) else { panic!("`tick(0)` should fail") };
    let error = render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN);
    assert!(error.contains("tick: zero"), "{error}");
    assert!(error.contains("bad.tsk:2:9"), "{error}");
    assert_eq!(counts.thunk.get(), 7);

    // Replaced by a function without a thunk: the cell's function serves, the old thunk is gone.
    symbol.set_implementation(crate::Implementation::Native(Rc::new(|_: &mut CallContext<'_, '_>, _: &[Value]| {
        Ok(Value::Int(-1))
    })));
    let id = rt.add_source("t3", "a: map(range(1, 3), i => tick(i))\n");
    let document = rt.evaluate(id, None).unwrap().document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":[-1,-1]}"#);
    assert_eq!((counts.thunk.get(), counts.direct.get()), (7, 2));
}

#[test]
fn dropping_the_runtime_frees_files_that_define_lambdas() {
    // Found by fuzzing under LeakSanitizer: a lambda holds its module and the module's entries
    // hold the lambda, so every evaluated file that defined a lambda was leaked.
    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("t", "base: 10\nhandler: x => x + base\n");
    let document = rt.evaluate(id, None).unwrap().document;
    let Some(Value::Func(handler)) = document.get("handler") else { panic!("a function") };
    let handler = Rc::downgrade(handler);
    drop(document);
    assert!(handler.upgrade().is_some(), "the runtime keeps the file's lambdas while it lives");
    drop(rt);
    assert!(handler.upgrade().is_none(), "the lambda and its module outlived the runtime");
}

#[test]
fn values_nested_deeper_than_the_stack_are_freed_compared_and_written() {
    // Found by fuzzing (an ASan stack overflow in the eval target): `reduce` builds a value
    // one level deeper per step without any deep recursion in the script, and freeing it,
    // comparing it or writing it recursed once per level.
    let deep = "reduce(range(100000), [], (acc, x) => [acc])";
    assert_eq!(expr(&format!("len({deep})")), "1");
    // Objects and closures chain too, and an object that holds a container of scalars must
    // not send the loop that frees deep values back into itself.
    assert_eq!(expr("len(reduce(range(100000), {}, (acc, x) => {a: acc, b: [x, 1]}))"), "2");
    assert_eq!(expr("type_of(reduce(range(100000), null, (acc, x) => () => [acc, [x]]))"), "function");
    assert_eq!(expr(&format!("{deep} == {deep}")), "true");
    assert_eq!(expr(&format!("len(str({deep}))")), "200002");
    assert_eq!(expr(&format!("len(@json({deep}))")), "200002");
    // A document is written with one level of indentation per level of nesting, so a
    // computed value deeper than the nesting limit does not go into one.
    let error = fail(&format!("a: {deep}\n"));
    assert!(error.contains("value nesting depth limit exceeded (256)"), "{error}");
    assert!(error.contains("test.tsk:1:4"), "{error}");
    assert_eq!(eval_json("a: reduce(range(3), [], (acc, x) => [acc])\n"), r#"{"a":[[[[]]]]}"#);
}

#[cfg(unix)]
#[test]
fn file_reads_stop_at_the_string_limit() {
    // `@file` read the whole file before checking the string limit, so a path to something
    // endless read until memory ran out.
    let limits = crate::Limits { max_string_bytes: 1 << 20, ..crate::Limits::default() };
    let mut rt = Runtime::new(Options { limits, ..Options::default() });
    let id = rt.add_source("t", "a: @file(\"/dev/zero\")\n");
    let failure = rt.evaluate(id, None).unwrap_err();
    let message = render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN);
    assert!(message.contains("string size limit exceeded (1048576)"), "{message}");
}

#[test]
fn a_raised_interrupt_flag_stops_the_run_at_the_running_call() {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut rt = Runtime::new(Options { interrupt: Some(flag.clone()), ..Options::default() });
    let source = "sum: reduce(range(0, 100000), 0, (acc, x) => acc + x)\n";
    let id = rt.add_source("t.tsk", source);
    let evaluation = rt.evaluate(id, None).unwrap();
    assert_eq!(serde_json::to_string(&Value::object(evaluation.document)).unwrap(), r#"{"sum":4999950000}"#);

    // Raised (as a Ctrl-C handler would from its own thread), the flag ends the same loop.
    flag.store(true, std::sync::atomic::Ordering::SeqCst);
    let id = rt.add_source("t.tsk", source);
    let failure = rt.evaluate(id, None).unwrap_err();
    let message = render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN);
    assert!(message.starts_with("[R019] Error: interrupted\n   ,-[ t.tsk:1:6 ]\n"), "{message}");
}

/// A shared store in a table that two runtimes use, as two processes use one server.
#[derive(Default)]
struct TableStore {
    entries: std::cell::RefCell<std::collections::HashMap<String, (Value, std::time::Duration)>>,
    on: std::cell::Cell<bool>,
}

impl crate::CacheStore for Rc<TableStore> {
    fn active(&self, _ctx: &mut CallContext<'_, '_>) -> Result<bool, RuntimeError> {
        Ok(self.on.get())
    }
    fn get(&self, _ctx: &mut CallContext<'_, '_>, key: &str) -> Result<Option<Value>, RuntimeError> {
        Ok(self.entries.borrow().get(key).map(|(value, _)| value.clone()))
    }
    fn set(
        &self,
        _ctx: &mut CallContext<'_, '_>,
        key: &str,
        value: &Value,
        ttl: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        self.entries.borrow_mut().insert(key.to_string(), (value.clone(), ttl));
        Ok(())
    }
}

#[test]
fn cache_uses_an_installed_store_when_it_is_active() {
    let store = Rc::new(TableStore::default());
    store.on.set(true);
    let source = "a: @cache(\"5m\", [1, 2])\nf: x => @cache(\"1h\", x * 10)\nb: f(1)\nc: f(2)\nzero: @cache(0, 7)\n";
    let run = |store: &Rc<TableStore>| {
        let mut rt = runtime(Mode::Default);
        rt.registry_mut().set_cache_store(Rc::new(store.clone()));
        let id = rt.add_source("shared.tsk", source);
        serde_json::to_string(&Value::object(rt.evaluate(id, None).unwrap().document)).unwrap()
    };
    assert_eq!(run(&store), r#"{"a":[1,2],"b":10,"c":20,"zero":7}"#);
    let mut keys: Vec<(String, std::time::Duration)> =
        store.entries.borrow().iter().map(|(key, (_, ttl))| (key.clone(), *ttl)).collect();
    keys.sort();
    // One entry per call site and captured value; a zero TTL is never stored.
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys[0].0.starts_with("tusk:cache:shared.tsk:1:4:"), "{keys:?}");
    assert_eq!(keys[0].1, std::time::Duration::from_secs(300));
    assert!(keys[1].0.starts_with("tusk:cache:shared.tsk:2:9:") && keys[2].0.starts_with("tusk:cache:shared.tsk:2:9:"));
    assert_ne!(keys[1].0, keys[2].0, "per captured value");
    // Another runtime finds the values: changed in the store, it reads the change.
    let first = keys[0].0.clone();
    store.entries.borrow_mut().get_mut(&first).unwrap().0 = Value::string("from the store");
    assert_eq!(run(&store), r#"{"a":"from the store","b":10,"c":20,"zero":7}"#);
    // Inactive: memory only, the store untouched.
    store.on.set(false);
    store.entries.borrow_mut().clear();
    assert_eq!(run(&store), r#"{"a":[1,2],"b":10,"c":20,"zero":7}"#);
    assert!(store.entries.borrow().is_empty());
}

/// Top-level entries made only of literals are built straight into values: the same document
/// as the full route (which an index forces here), and a key repeated deep inside one still
/// gets its warning, from the full route.
#[test]
fn literal_entries_are_built_directly_with_the_full_route_s_result() {
    for literal in [
        r#"{ b: [1, 2.5, "x\n", null, true, 1-3, { c: "d" }], e: { f: [] }, g: {}, "h i": -4 }"#,
        "[[1], [{ a: 1 }], []]",
        "1-5",
        r#""s""#,
        "-2.5",
        "[-1, !true, --3]",
    ] {
        let direct = eval_json(&format!("t: {literal}\n"));
        let full = eval_json(&format!("t: [{literal}][0]\n"));
        assert_eq!(direct, full, "{literal}");
    }
    assert_eq!(eval_json("a {\n  x: 1\n  b { y: x }\n}\n"), r#"{"a":{"x":1,"b":{"y":1}}}"#);
    assert_eq!(eval_json("a {\n  b.c: 1\n  b.d: 2\n}\n"), r#"{"a":{"b":{"c":1,"d":2}}}"#);

    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("test.tsk", "a {\n  b: [{ x: 1, x: 2 }]\n}\n");
    let evaluation = rt.evaluate(id, None).unwrap();
    assert_eq!(serde_json::to_string(&Value::object(evaluation.document)).unwrap(), r#"{"a":{"b":[{"x":2}]}}"#);
    let warnings: Vec<(Option<&str>, &str)> =
        evaluation.warnings.iter().map(|warning| (warning.code, warning.message.as_str())).collect();
    assert_eq!(warnings, [(Some("W001"), "`x` is defined more than once in this block; the last one wins")]);
    assert!(fail_strict("a {\n  b: [{ x: 1, x: 2 }]\n}\n").contains("R020"));

    // Entries built by the parser take part in the document's own checks and order like any.
    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("test.tsk", "a: [1]\nb: a\n[s]\nc { d: -1 }\na: { e: !false }\n");
    let evaluation = rt.evaluate(id, None).unwrap();
    assert_eq!(
        serde_json::to_string(&Value::object(evaluation.document)).unwrap(),
        r#"{"a":[1],"b":[1],"s":{"c":{"d":-1},"a":{"e":true}}}"#
    );
    assert!(evaluation.warnings.is_empty(), "{:?}", evaluation.warnings);
    let mut rt = runtime(Mode::Default);
    let id = rt.add_source("test.tsk", "a: 1\na: [2]\n");
    let evaluation = rt.evaluate(id, None).unwrap();
    assert_eq!(serde_json::to_string(&Value::object(evaluation.document)).unwrap(), r#"{"a":[2]}"#);
    let warnings: Vec<(Option<&str>, &str)> =
        evaluation.warnings.iter().map(|warning| (warning.code, warning.message.as_str())).collect();
    assert_eq!(warnings, [(Some("W001"), "`a` is defined more than once in this scope; the last one wins")]);
}

fn fail_strict(source: &str) -> String {
    match eval_in(Mode::Strict, source) {
        Ok(json) => panic!("{source:?} should fail in strict mode but gave {json}"),
        Err(error) => error,
    }
}

#[test]
fn concatenation_chains_give_the_operator_by_operator_result() {
    // Chains of `+` are built in one string once the running value is a string; the result
    // must be what one `+` after the other gives.
    assert_eq!(expr("1 + 2 + \"a\" + 3 + 4"), "3a34");
    assert_eq!(expr("\"a\" + 1 + 2.5 + true + null"), "a12.5truenull");
    assert_eq!(expr("\"k\" + str(12) + \"=\" + str(-7 % 97) + \";\""), "k12=-7;");
    assert_eq!(expr("\"x\" + str([1, \"a\"]) + {b: 2} + str(\"s\")"), "x[1, \"a\"]{\"b\": 2}s");
    assert_eq!(expr("1 + str(2)"), "12");
    assert_eq!(
        expr("[1] + [2] + \"é\" + str(9223372036854775807) + str(-9223372036854775807 - 1)"),
        "[1, 2]é9223372036854775807-9223372036854775808"
    );
    assert_eq!(expr("str(0) + str(1.0) + str(3-5)"), "01.03-5");
    assert_eq!(expr("1 + 2 + 3"), "6");
    assert_eq!(expr("(x => \"v\" + x + x)(\"ab\")"), "vabab");
    // Operands after the string are still evaluated left to right, and an error in one stops
    // the chain with its own message.
    assert!(fail("a: \"a\" + 1 + undefined_name\n").contains("undefined_name"));
    let message = fail("a: 1 + [2] + \"x\"\n");
    assert!(message.contains("int and array"), "{message}");
}

#[test]
fn a_concatenation_chain_stops_at_the_string_limit_on_the_plus_that_crosses_it() {
    let limits = crate::Limits { max_string_bytes: 10, ..crate::Limits::default() };
    let mut rt = Runtime::new(Options { limits, ..Options::default() });
    let id = rt.add_source("t.tsk", "a: \"12345\" + \"678\" + str(90) + \"x\" + \"y\"\n");
    let failure = rt.evaluate(id, None).unwrap_err();
    let message = render_all(&failure.diagnostics, rt.sources(), RenderOptions::PLAIN);
    assert!(message.contains("string size limit exceeded (10)"), "{message}");
    // The third `+` (the one adding "x") makes 11 bytes: the error points at it.
    assert!(message.contains("t.tsk:1:"), "{message}");
    let mut rt = Runtime::new(Options { limits, ..Options::default() });
    let id = rt.add_source("t.tsk", "a: \"12345\" + \"678\" + str(90)\n");
    assert!(rt.evaluate(id, None).is_ok());
}

#[test]
fn members_and_indexes_of_locals() {
    assert_eq!(expr("(o => o.a + o.b[1] + o[\"a\"])({a: 1, b: [5, 6]})"), "8");
    assert_eq!(expr("(a => a[0 - 1])([1, 2, 3])"), "3");
    assert!(fail("a: (o => o.c)({a: 1})\n").contains("did you mean"), "{}", fail("a: (o => o.c)({a: 1})\n"));
    assert!(fail("a: (a => a[3])([1])\n").contains("out of"), "{}", fail("a: (a => a[3])([1])\n"));
}

/// A deferred source over a fixed table: provider `i` is plugin `names[i].0`, providing the
/// functions in `names[i].1`; its stubs return the number of the provider. Counts how many
/// stubs it was asked for.
struct FixedSource {
    providers: Vec<(&'static str, Vec<&'static str>)>,
    stubs_made: std::cell::Cell<usize>,
}

impl crate::DeferredSymbols for FixedSource {
    fn provider_count(&self) -> usize {
        self.providers.len()
    }

    fn provider_name(&self, provider: usize) -> crate::Key {
        crate::Key::new(self.providers[provider].0)
    }

    fn provider_of(&self, kind: crate::SymbolKind, name: &str) -> Option<usize> {
        (kind == crate::SymbolKind::Function)
            .then(|| self.providers.iter().position(|(_, functions)| functions.contains(&name)))
            .flatten()
    }

    fn for_each_symbol(&self, provider: usize, each: &mut dyn FnMut(crate::SymbolKind, &str)) {
        for name in &self.providers[provider].1 {
            each(crate::SymbolKind::Function, name);
        }
    }

    fn stub(&self, provider: usize, _: crate::SymbolKind, _: &str) -> crate::Implementation {
        self.stubs_made.set(self.stubs_made.get() + 1);
        let number = provider as i64;
        crate::Implementation::Native(Rc::new(move |_: &mut CallContext<'_, '_>, _: &[Value]| Ok(Value::Int(number))))
    }

    fn made(&self, _: usize, _: &[Rc<crate::Symbol>]) {}
}

#[test]
fn deferred_symbols_are_made_per_provider_on_first_look_up() {
    let mut rt = runtime(Mode::Default);
    let source = Rc::new(FixedSource {
        providers: vec![("alpha", vec!["alpha_one", "alpha_two"]), ("beta", vec!["beta_one"])],
        stubs_made: std::cell::Cell::new(0),
    });
    rt.registry_mut().defer(source.clone());
    // Known as plugins, but no symbol exists yet.
    assert!(rt.registry().plugins().iter().any(|plugin| plugin.as_str() == "beta"));
    assert_eq!((rt.registry().deferred_symbols_made(), source.stubs_made.get()), (0, 0));

    // Compiling and running a script that uses one of alpha's makes alpha's two, not beta's.
    let id = rt.add_source("test.tsk", "a: alpha_two()\n");
    let document = rt.evaluate(id, None).unwrap_or_else(|failure| panic!("{:?}", failure.diagnostics)).document;
    assert_eq!(serde_json::to_string(&Value::object(document)).unwrap(), r#"{"a":0}"#);
    assert_eq!((rt.registry().deferred_symbols_made(), source.stubs_made.get()), (2, 2));
    let symbol = rt.registry().function("alpha_one").unwrap();
    assert_eq!((symbol.plugin.as_str(), symbol.doc.signature.as_str()), ("alpha", "alpha_one"));
    // Made once: a second look-up finds the same symbol.
    assert!(Rc::ptr_eq(symbol, rt.registry().function("alpha_one").unwrap()));
    assert!(rt.registry().operator("alpha_one").is_none());
    assert_eq!(source.stubs_made.get(), 2);

    // A registration clashing with a deferred name fails as it would with a registered one.
    let error = rt.registry().check_available("embedder", crate::SymbolKind::Function, "beta_one").unwrap_err();
    assert_eq!(error.to_string(), "`beta_one` is provided by both `beta` and `embedder`");

    // "Did you mean" sees the deferred names (listing every symbol makes them all).
    let id = rt.add_source("typo.tsk", "b: beta_on()\n");
    let Err(failure) = rt.evaluate(id, None) else { panic!("an unknown name") };
    assert_eq!(failure.diagnostics[0].help.as_deref(), Some("did you mean `beta_one`?"));
    assert_eq!(rt.registry().deferred_symbols_made(), 3);

    // Removing a deferred symbol hides it; the name can then be registered again.
    let removed = rt.registry_mut().remove(crate::SymbolKind::Function, "beta_one").unwrap();
    assert_eq!(removed.plugin.as_str(), "beta");
    assert!(rt.registry().function("beta_one").is_none());
    assert!(!rt.registry().symbols().iter().any(|symbol| symbol.name.as_str() == "beta_one"));
    assert!(rt.registry().check_available("embedder", crate::SymbolKind::Function, "beta_one").is_ok());
}

#[test]
fn object_literals_with_repeated_and_nested_keys_built_at_run_time() {
    // The lambda keeps the literals from being folded into constants: they are built while the
    // program runs, where a key no earlier entry has is added without a search.
    assert_eq!(expr("(x => {a: x, b: x + 1, a: x + 2})(1)"), "{\"a\": 3, \"b\": 2}");
    assert_eq!(expr("(x => {a: x, a.b: x + 1})(1)"), "{\"a\": {\"b\": 2}}");
    assert_eq!(expr("(x => {a.b: x, a.c: x + 1, d: x})(1)"), "{\"a\": {\"b\": 1, \"c\": 2}, \"d\": 1}");
    let many: Vec<String> = (0..12).map(|i| format!("k{i}: x + {i}")).collect();
    let object = expr(&format!("(x => {{{}}})(0).k11", many.join(", ")));
    assert_eq!(object, "11");
    assert_eq!(
        expr(
            "(o => o.k11 + o.k0)((x => {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x, k9: x, k10: x, k11: 5})(2))"
        ),
        "7"
    );
}

#[test]
fn conditions_on_every_kind_of_operand() {
    assert_eq!(expr("(n => n < 2 ? \"small\" : \"big\")(5)"), "big");
    assert_eq!(expr("(n => n == 2.0 ? \"two\" : \"other\")(2)"), "two");
    assert_eq!(expr("(s => s < \"b\" ? 1 : 2)(\"a\")"), "1");
    assert_eq!(expr("(n => n - 5 ? \"nonzero\" : \"zero\")(5)"), "zero");
    assert!(
        fail("a: (s => s < 1 ? 1 : 2)(\"a\")\n").contains("string and int"),
        "{}",
        fail("a: (s => s < 1 ? 1 : 2)(\"a\")\n")
    );
    let overflow = fail("a: (n => n - 1 ? 1 : 2)(-9223372036854775807 - 1)\n");
    assert!(overflow.contains("overflow"), "{overflow}");
}

#[test]
fn recursive_entries_and_one_character_separators() {
    assert_eq!(eval_json("fib: n => n < 2 ? n : fib(n - 1) + fib(n - 2)\nr: fib(15)\n"), "{\"r\":610}");
    assert!(fail("f: 3\nr: f(1)\n").contains("not callable"), "{}", fail("f: 3\nr: f(1)\n"));
    assert_eq!(expr("split(\"a7b77c\", \"7\")"), "[\"a\", \"b\", \"\", \"c\"]");
    assert_eq!(expr("split(\"aébéc\", \"é\")"), "[\"a\", \"b\", \"c\"]");
    assert_eq!(expr("replace(\"a=1;b=2\", \"=\", \":\")"), "a:1;b:2");
    assert_eq!(expr("replace(\"aébé\", \"é\", \"--\")"), "a--b--");
}

#[test]
fn byte_strings_index_compare_join_and_iterate() {
    assert_eq!(expr("bytes(\"hé\\n\")"), "b\"h\\xc3\\xa9\\n\"");
    assert_eq!(expr("bytes([34, 92, 9, 13, 0, 127, 126])"), "b\"\\\"\\\\\\t\\r\\x00\\x7f~\"");
    assert_eq!(expr("type_of(bytes(\"\"))"), "bytes");
    assert_eq!(expr("len(bytes(\"hé\"))"), "3");
    assert_eq!(expr("bytes(\"hé\")[1]"), "195");
    assert_eq!(expr("bytes(\"hé\")[-1]"), "169");
    assert_eq!(expr("bytes(\"ab\") + bytes([0])"), "b\"ab\\x00\"");
    assert_eq!(expr("bytes(\"ab\") == bytes([97, 98])"), "true");
    assert_eq!(expr("bytes(\"ab\") != bytes(\"ab\")"), "false");
    assert_eq!(expr("bytes(\"ab\") == \"ab\""), "false");
    assert_eq!(expr("bytes(\"ab\") < bytes(\"b\")"), "true");
    assert_eq!(expr("bytes([1, 2]) > bytes([1])"), "true");
    assert_eq!(expr("bool(bytes(\"\"))"), "false");
    assert_eq!(expr("bool(bytes([0]))"), "true");
    assert_eq!(expr("map(bytes(\"AB\"), b => b + 1)"), "[66, 67]");
    assert_eq!(expr("[bytes(\"x\")]"), "[b\"x\"]");
    assert_eq!(expr("\"v=\" + bytes(\"x\")"), "v=b\"x\"");
    assert_eq!(expr("bytes(bytes(\"x\"))"), "b\"x\"");
    // A byte string is as wide as a string: three words.
    assert_eq!(std::mem::size_of::<Value>(), 24);
}

#[test]
fn byte_strings_convert_to_and_from_text() {
    assert_eq!(expr("utf8(bytes(\"hé\"))"), "hé");
    assert_eq!(expr("hex(bytes([0, 15, 171, 255]))"), "000fabff");
    assert_eq!(expr("hex(bytes(\"\"))"), "");
    assert_eq!(expr("from_hex(\"000FabfF\") == bytes([0, 15, 171, 255])"), "true");
    assert_eq!(expr("base64(bytes([0, 1, 254, 255, 104, 105]))"), "AAH+/2hp");
    assert_eq!(expr("base64(bytes(\"tusk\"))"), "dHVzaw==");
    assert_eq!(expr("utf8(from_base64(\"dHVzaw==\"))"), "tusk");
    assert_eq!(expr("utf8(from_base64(\"dHVzaw\"))"), "tusk");
    assert_eq!(expr("from_base64(\"\")"), "b\"\"");
}

#[test]
fn byte_string_errors_say_what_is_wrong() {
    let error = fail("r: utf8(bytes([104, 255, 105]))\n");
    assert!(error.contains("the bytes are not UTF-8 text: byte 1 (0xff) starts no valid character"), "{error}");
    let error = fail("r: bytes([1, 256])\n");
    assert!(error.contains("item 1 is 256, not a byte (0 to 255)"), "{error}");
    let error = fail("r: bytes([1, \"2\"])\n");
    assert!(error.contains("item 1 is string, not a byte (an int 0 to 255)"), "{error}");
    let error = fail("r: bytes(1.5)\n");
    assert!(error.contains("argument 1 must be a string, an array of ints 0 to 255, or bytes, not float"), "{error}");
    let error = fail("r: from_hex(\"abc\")\n");
    assert!(error.contains("hexadecimal text has two digits a byte, but this one is 3 bytes long (odd)"), "{error}");
    let error = fail("r: from_hex(\"0é0\")\n");
    assert!(error.contains("'é' at byte 1 is not a hexadecimal digit"), "{error}");
    let error = fail("r: from_hex(\"zz\")\n");
    assert!(error.contains("'z' at byte 0 is not a hexadecimal digit"), "{error}");
    let error = fail("r: from_base64(\"ab!d\")\n");
    assert!(error.contains("the text is not standard base64: '!' at byte 2 is not a base64 character"), "{error}");
    let error = fail("r: from_base64(\"a\")\n");
    assert!(error.contains("the text is not standard base64: "), "{error}");
    let error = fail("r: hex(\"ab\")\n");
    assert!(error.contains("argument 1 must be bytes, not string"), "{error}");
    let error = fail("r: bytes(\"a\") + 1\n");
    assert!(error.contains("cannot apply `+` to bytes and int"), "{error}");
    let error = fail("r: bytes(\"a\")[1]\n");
    assert!(error.contains("index 1 is out of bounds for length 1"), "{error}");
    let error = fail("r: bytes(\"a\") < \"b\"\n");
    assert!(error.contains("cannot apply `<` to bytes and string"), "{error}");
}

#[test]
fn byte_strings_serialize_as_base64_and_read_back_through_serde() {
    assert_eq!(eval_json("b: bytes([0, 1, 254, 255, 104, 105])\n"), r#"{"b":"AAH+/2hp"}"#);
    let mut pretty = Vec::new();
    crate::write_json(&Value::bytes(&[0, 1, 254, 255, 104, 105]), false, &mut pretty).unwrap();
    assert_eq!(String::from_utf8(pretty).unwrap(), "\"AAH+/2hp\"");
    let bytes: Vec<u8> = crate::from_value(&Value::bytes(&[7, 8])).unwrap();
    assert_eq!(bytes, [7, 8]);
}
