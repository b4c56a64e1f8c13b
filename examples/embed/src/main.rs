//! Embedding TuskLang: register Rust closures as functions (typed, or with the raw arguments)
//! and as an operator, give every script a global, evaluate a file, deserialize a section into
//! our own serde struct, call a lambda that the document defines, compile a template once and
//! run it for each tenant with its own scope, and render errors the way the `tusk` command
//! does.
//!
//! Run it with `cargo run -p tusk-example-embed`.

use std::path::Path;
use std::process::ExitCode;

use serde::Deserialize;
use tusk::{DeserializeValue, Engine, RegistryError, RuntimeError, Scope, Value, arg_int, expect_arity};

/// The `[server]` section, in the program's own terms.
#[derive(Debug, Deserialize)]
struct Server {
    host: String,
    port: u16,
    workers: u32,
    tags: Vec<String>,
}

/// An engine with the symbols and the global `app.tsk` and the tenant template need.
fn engine() -> Result<Engine, RegistryError> {
    let mut engine = Engine::new();
    // `@hostname()`: operators are for values that come from outside the script.
    engine.register_operator("hostname", |_ctx, args| {
        expect_arity("@hostname", args, 0, 0)?;
        Ok(Value::from("app-01.internal"))
    })?;
    // `clamp(x, low, high)`: functions are for computations, like the built-in `min` and `max`.
    // This one takes the raw arguments, to say which argument is wrong.
    engine.register_function("clamp", |_ctx, args| {
        expect_arity("clamp", args, 3, 3)?;
        let (value, low, high) = (arg_int(args, 0)?, arg_int(args, 1)?, arg_int(args, 2)?);
        if low > high {
            // The argument index lets the error point at the offending argument.
            return Err(RuntimeError::argument(1, format!("the lower bound {low} is above the upper bound {high}")));
        }
        Ok(Value::Int(value.clamp(low, high)))
    })?;
    // `slug(text)`: a typed function; the engine converts and checks the argument.
    engine.register_fn("slug", |text: &str| {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-")
            .to_lowercase()
    })?;
    // Registering a name twice is an error to handle, not a panic.
    if let Err(error) = engine.register_fn("slug", |text: String| text) {
        println!("a second `slug`: {error}");
    }
    // `$domain` is visible to every script this engine runs.
    engine.set_global("domain", "example.com");
    Ok(engine)
}

/// Compiled once, run once per tenant: `$tenant` and `$load` come from each run's scope.
const TENANT_TEMPLATE: &str = "\
name: $tenant
url: \"https://${slug($tenant)}.${$domain}/\"
replicas: clamp(int($load / 100), 1, 8)
";

fn main() -> ExitCode {
    let mut engine = match engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("cannot register the example's functions: {error}");
            return ExitCode::FAILURE;
        }
    };

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

    // A template compiled once and run for each tenant, each run with its own `$tenant` and
    // `$load`; nothing is parsed or compiled again.
    let template = match engine.compile_named("tenant.tsk", TENANT_TEMPLATE, None) {
        Ok(template) => template,
        Err(error) => {
            eprint!("{}", engine.render(&error, false));
            return ExitCode::FAILURE;
        }
    };
    println!(
        "the tenant template reads {}",
        template.globals().map(|name| format!("${name}")).collect::<Vec<_>>().join(", ")
    );
    let mut scope = Scope::new();
    for (tenant, load) in [("Acme Corp", 250), ("Globex", 1200)] {
        scope.set("tenant", tenant).set("load", load);
        match engine.run_with_scope(&template, &scope) {
            Ok(document) => match tusk::format::to_json(document.value(), true) {
                Ok(json) => println!("{json}"),
                Err(error) => eprintln!("the document cannot be written as JSON: {error}"),
            },
            Err(error) => eprint!("{}", engine.render(&error, false)),
        }
    }

    // A run whose scope lacks a global the template reads: the error names it.
    scope.remove("load");
    if let Err(error) = engine.run_with_scope(&template, &scope) {
        println!("without $load:\n{}", engine.render(&error, false));
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

    // A typed function called with the wrong type: the error says which argument and why.
    if let Err(error) = engine.eval_named("typed.tsk", "id: slug(42)\n", None) {
        println!("{error}");
    }
    ExitCode::SUCCESS
}
