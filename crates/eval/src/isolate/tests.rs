//! Isolates through a real runtime: a test operator hands a script's function to
//! `map_parallel`, and the results are compared with the built-in `map` on the interpreter's
//! thread.

use std::rc::Rc;

use tusk_diagnostics::{RenderOptions, render_all};

use super::{ParallelError, ParallelItems, map_parallel};
use crate::object::Object;
use crate::value::{Foreign, Key, Value};
use crate::{CallContext, Options, Plugin, Registrar, RegistryError, Runtime, SymbolSpec, arg_int};

/// `@par(fn, data, workers)`: the results, or `{unsupported: reason}`.
/// `@handle()`: a value of the embedder, which cannot cross.
struct Parallel;

impl Plugin for Parallel {
    fn name(&self) -> &str {
        "parallel_test"
    }

    fn register(&self, registrar: &mut Registrar<'_>) -> Result<(), RegistryError> {
        registrar.add(SymbolSpec::operator("par", |ctx: &mut CallContext<'_, '_>, args: &[Value]| {
            let workers = arg_int(args, 2)? as usize;
            let items = match &args[1] {
                Value::Array(values) => ParallelItems::Values(values),
                Value::Range(start, end) => ParallelItems::Range(*start, *end),
                other => return Err(crate::RuntimeError::message(format!("not data: {}", other.type_name()))),
            };
            match map_parallel(ctx, &args[0], items, workers) {
                Ok(results) => Ok(Value::array(results)),
                Err(ParallelError::Unsupported(reason)) => {
                    let mut object = Object::new();
                    object.insert(Key::new("unsupported"), Value::from(reason));
                    Ok(Value::object(object))
                }
                Err(ParallelError::Failed(error)) => Err(error),
            }
        }))?;
        registrar.add(SymbolSpec::operator("handle", |_ctx, _args| {
            Ok(Value::Foreign(Rc::new(Foreign { type_name: Rc::from("test.handle"), data: Box::new(()) })))
        }))?;
        Ok(())
    }
}

fn runtime() -> Runtime {
    runtime_with(Options::default())
}

fn runtime_with(options: Options) -> Runtime {
    let mut runtime = Runtime::new(options);
    runtime.register(&Parallel).unwrap();
    runtime
}

/// The document as JSON, or the rendered error.
fn evaluate(source: &str) -> Result<serde_json::Value, String> {
    evaluate_with(Options::default(), source)
}

fn evaluate_with(options: Options, source: &str) -> Result<serde_json::Value, String> {
    let mut runtime = runtime_with(options);
    let id = runtime.add_source("test.tsk", source);
    match runtime.evaluate(id, None) {
        Ok(evaluation) => Ok(serde_json::to_value(Value::object(evaluation.document)).unwrap()),
        Err(failure) => Err(render_all(&failure.diagnostics, runtime.sources(), RenderOptions::PLAIN)),
    }
}

fn document(source: &str) -> serde_json::Value {
    evaluate(source).unwrap_or_else(|error| panic!("{source}\nfailed:\n{error}"))
}

/// Asserts that every `parN` entry equals the matching `seqN` entry, and that there is one.
fn assert_same_as_sequential(source: &str) {
    let document = document(source);
    let object = document.as_object().unwrap();
    let mut compared = 0;
    for (key, value) in object {
        if let Some(suffix) = key.strip_prefix("par") {
            let sequential = &object[&format!("seq{suffix}")];
            assert_eq!(value, sequential, "{key} in\n{source}");
            assert!(!value.as_array().is_some_and(Vec::is_empty), "{key} is empty");
            compared += 1;
        }
    }
    assert!(compared > 0);
}

#[test]
fn results_come_back_in_order_and_equal_the_sequential_ones() {
    assert_same_as_sequential(
        "factor: 3\n\
         offset: {base: 10}\n\
         scale: x => x * factor + offset.base\n\
         seq1: map(range(0, 5000), scale)\n\
         par1: @par(scale, range(0, 5000), 3)\n\
         shape: x => {n: x, even: x % 2 == 0, tags: [\"t\", str(x)], half: x / 2}\n\
         seq2: map(range(0, 777), shape)\n\
         par2: @par(shape, range(0, 777), 4)\n\
         mixed: [1, 2.5, \"three\", null, true, [4, [5]], {six: 6}, 8000-8002]\n\
         echo: x => [type_of(x), x]\n\
         seq3: map(mixed, echo)\n\
         par3: @par(echo, mixed, 2)\n\
         keep: x => x % 3 == 0\n\
         seq4: map(range(0, 1000), keep)\n\
         par4: @par(keep, range(0, 1000), 2)\n",
    );
}

#[test]
fn lambdas_may_recurse_capture_lambdas_and_call_built_ins() {
    assert_same_as_sequential(
        "fib: n => n < 2 ? n : fib(n - 1) + fib(n - 2)\n\
         seq1: map(range(0, 18), fib)\n\
         par1: @par(fib, range(0, 18), 4)\n\
         make: k => (x => map([x, x + 1], y => y * k))\n\
         times7: make(7)\n\
         seq2: map(range(0, 300), times7)\n\
         par2: @par(times7, range(0, 300), 2)\n\
         seq3: map([-1, 2, -3], abs)\n\
         par3: @par(abs, [-1, 2, -3], 2)\n\
         $limit: 10\n\
         capped: x => x > $limit ? $limit : x\n\
         seq4: map(range(0, 20), capped)\n\
         par4: @par(capped, range(0, 20), 2)\n\
         functions: [x => x + 1, x => x * 2]\n\
         apply: f => f(10)\n\
         seq5: map(functions, apply)\n\
         par5: @par(apply, functions, 2)\n",
    );
}

#[test]
fn functions_that_cannot_cross_are_refused_with_the_reason() {
    let document = document(
        "h: @handle()\n\
         reads_handle: x => [x, h]\n\
         a: @par(reads_handle, [1, 2], 2)\n\
         make: v => (x => [x, v])\n\
         b: @par(make(@handle()), [1, 2], 2)\n\
         calls_operator: x => @handle()\n\
         c: @par(calls_operator, [1], 2)\n\
         prints: x => print(x)\n\
         d: @par(prints, [1], 2)\n\
         e: @par(x => x, [1, h], 2)\n\
         returns_function: x => (y => x)\n\
         f: @par(returns_function, [1], 2)\n\
         g: @par(x => x, [reduce(range(0, 1500), 0, (a, x) => [a])], 2)\n",
    );
    let reason =
        |key: &str| document[key]["unsupported"].as_str().unwrap_or_else(|| panic!("{key}: {document}")).to_string();
    assert_eq!(
        reason("a"),
        "`reads_handle` reads `h`, which holds a `test.handle` value, which belongs to the interpreter's thread"
    );
    assert_eq!(reason("b"), "a lambda captures a `test.handle` value, which belongs to the interpreter's thread");
    assert_eq!(reason("c"), "`calls_operator` calls `@handle`, and operators run only on the interpreter's thread");
    assert_eq!(reason("d"), "`prints` calls `print`, which has effects outside the script");
    assert_eq!(reason("e"), "the data holds a `test.handle` value, which belongs to the interpreter's thread");
    assert_eq!(reason("f"), "the function returned a function, which cannot leave the thread that made it");
    assert_eq!(reason("g"), "the data holds a value nested more than 1000 levels deep");
}

#[test]
fn the_first_failing_item_in_order_is_reported_at_its_location() {
    let source = "f: x => x == 1500 ? 1 / 0 : x == 4000 ? [1][5] : x\n\
                  result: @par(f, range(0, 5000), 3)\n";
    let error = evaluate(source).unwrap_err();
    let sequential = evaluate(&source.replace("@par(f, range(0, 5000), 3)", "map(range(0, 5000), f)")).unwrap_err();
    assert!(error.contains("division by zero"), "{error}");
    assert!(error.contains("test.tsk:1:"), "{error}");
    // The same headline and location as the interpreter's own call of the function.
    assert_eq!(error.lines().next(), sequential.lines().next(), "{error}\n{sequential}");
    let location = |text: &str| text.lines().find(|line| line.contains("test.tsk:")).map(str::to_string);
    assert_eq!(location(&error), location(&sequential));
}

#[test]
fn huge_inputs_and_deep_recursion_work() {
    let document = document(
        "sum_to: n => n == 0 ? 0 : n + sum_to(n - 1)\n\
         deep: @par(sum_to, [1500, 10, 1900], 2)\n\
         many: @par(x => x + 1, range(0, 300000), 4)\n\
         empty: @par(x => x, [], 4)\n\
         backwards: @par(x => x, range(10, 0), 4)\n\
         one_worker: @par(x => x * x, range(0, 5), 1)\n",
    );
    assert_eq!(document["deep"], serde_json::json!([1125750, 55, 1805950]));
    let many = document["many"].as_array().unwrap_or_else(|| panic!("{}", document["many"]));
    assert_eq!(many.len(), 300000);
    assert!(many.iter().enumerate().all(|(index, value)| value.as_u64() == Some(index as u64 + 1)));
    assert_eq!(document["empty"], serde_json::json!([]));
    assert_eq!(document["backwards"], serde_json::json!([]));
    let error = evaluate("all: @par(x => x, range(0, 9000000000000000000), 2)\n").unwrap_err();
    assert!(error.contains("collection size limit exceeded"), "{error}");
    assert_eq!(document["one_worker"], serde_json::json!([0, 1, 4, 9, 16]));
}

#[test]
fn expressions_of_a_session_run_on_isolates() {
    let mut runtime = runtime();
    let id = runtime.add_source("expression", "@par(x => x * 10, range(0, 4), 2)");
    let (value, _) = runtime.evaluate_expression(id, None).unwrap();
    assert_eq!(serde_json::to_value(&value).unwrap(), serde_json::json!([0, 10, 20, 30]));
}

#[test]
fn each_worker_counts_operations_against_the_limit() {
    let mut options = Options::default();
    options.limits.max_operations = 20_000;
    let source = "sum_to: x => reduce(range(0, 100), 0, (a, i) => a + i)\n\
                  result: @par(sum_to, range(0, 1000), 2)\n";
    let error = evaluate_with(options.clone(), source).unwrap_err();
    assert!(error.contains("operation limit exceeded (20000)"), "{error}");
    let small = source.replace("range(0, 1000)", "range(0, 10)");
    assert_eq!(evaluate_with(options, &small).unwrap()["result"], serde_json::Value::from(vec![4950; 10]));
}
