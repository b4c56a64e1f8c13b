//! Embedding TuskLang: register a Rust closure as an operator and another as a function,
//! evaluate a file, deserialize a section into our own serde struct, call a lambda that the
//! document defines, and render errors the way the `tusk` command does.
//!
//! Run it with `cargo run -p tusk-example-embed`.

use std::path::Path;
use std::process::ExitCode;

use serde::Deserialize;
use tusk::{DeserializeValue, Engine, RuntimeError, Value, arg_int, expect_arity};

/// The `[server]` section, in the program's own terms.
#[derive(Debug, Deserialize)]
struct Server {
    host: String,
    port: u16,
    workers: u32,
    tags: Vec<String>,
}

/// An engine with the two symbols `app.tsk` needs.
fn engine() -> Engine {
    let mut engine = Engine::new();
    // `@hostname()`: operators are for values that come from outside the script.
    engine.register_operator("hostname", |_ctx, args| {
        expect_arity("@hostname", args, 0, 0)?;
        Ok(Value::from("app-01.internal"))
    });
    // `clamp(x, low, high)`: functions are for computations, like the built-in `min` and `max`.
    engine.register_function("clamp", |_ctx, args| {
        expect_arity("clamp", args, 3, 3)?;
        let (value, low, high) = (arg_int(args, 0)?, arg_int(args, 1)?, arg_int(args, 2)?);
        if low > high {
            // The argument index lets the error point at the offending argument.
            return Err(RuntimeError::argument(1, format!("the lower bound {low} is above the upper bound {high}")));
        }
        Ok(Value::Int(value.clamp(low, high)))
    });
    engine
}

fn main() -> ExitCode {
    let mut engine = engine();

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("app.tsk");
    let document = match engine.eval_file(&path) {
        Ok(document) => document,
        Err(error) => {
            eprint!("{}", engine.render(&error, false));
            return ExitCode::FAILURE;
        }
    };
    if !document.warnings().is_empty() {
        eprint!("{}", engine.render_diagnostics(document.warnings(), false));
    }
    match tusk::format::to_json(document.value(), true) {
        Ok(json) => println!("document: {json}"),
        Err(error) => eprintln!("the document cannot be written as JSON: {error}"),
    }

    // One section into the program's own struct.
    let server: Server = match document.get("server").map(|value| value.deserialize()) {
        Some(Ok(server)) => server,
        Some(Err(error)) => {
            eprintln!("[server] does not fit: {error}");
            return ExitCode::FAILURE;
        }
        None => {
            eprintln!("app.tsk has no [server] section");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "listening on {}:{} with {} workers, tagged {}",
        server.host,
        server.port,
        server.workers,
        server.tags.join(", ")
    );

    // Lambdas stay in the document (only the output leaves them out), so the host can call them.
    if let Some(greet) = document.get("handlers.greet") {
        match engine.call(greet, &[Value::from("Ada")]) {
            Ok(greeting) => println!("greet(\"Ada\") = {greeting}"),
            Err(error) => eprint!("{}", engine.render(&error, false)),
        }
    }
    if let Some(retry_delay) = document.get("handlers.retry_delay") {
        let delays: Vec<String> = (1..=5)
            .map(|attempt| match engine.call(retry_delay, &[Value::Int(attempt)]) {
                Ok(delay) => delay.to_string(),
                Err(error) => format!("error: {error}"),
            })
            .collect();
        println!("retry delays: {}", delays.join(", "));
    }

    // A script error: the message, the location, the offending argument and the lambda trace.
    let broken = "[limits]\nbounded: n => clamp(n, 10, 1)\nvalue: bounded(5)\n";
    match engine.eval_named("broken.tsk", broken, None) {
        Ok(document) => println!("unexpectedly fine: {:?}", tusk::format::to_json(document.value(), true)),
        Err(error) => {
            println!("an error, as the program sees it: {error}");
            println!("and rendered for a person:\n{}", engine.render(&error, false));
        }
    }
    ExitCode::SUCCESS
}
