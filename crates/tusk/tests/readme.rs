//! The README's embedding example, compiled and run: the test fails when the two differ.

/// The README's code block, as this file holds it between the markers (indentation removed).
fn mirrored() -> String {
    // Spelled in two pieces, so that these lines are not markers themselves.
    let (start_marker, end_marker) = (concat!("// README", " start\n"), concat!("\n    // README", " end\n"));
    let this = include_str!("readme.rs");
    let start = this.find(start_marker).expect("the start marker") + start_marker.len();
    let end = this.find(end_marker).expect("the end marker") + 1;
    this[start..end].lines().map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line))).collect()
}

/// The first `rust` block of the README's "Embedding" section.
fn in_readme() -> String {
    let readme = include_str!("../../../README.md");
    let section = readme.split("\n## Embedding\n").nth(1).expect("an Embedding section");
    let block = section.split("```rust\n").nth(1).expect("a rust block");
    block.split("```\n").next().expect("the block ends").to_string()
}

#[test]
fn the_readme_example_is_the_one_tested_here() {
    assert_eq!(in_readme(), mirrored());
}

#[test]
#[rustfmt::skip] // Formatted as the README shows it.
fn the_readme_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    // README start
    use serde::Deserialize;
    use tusk::{DeserializeValue, Engine, Scope, Value};

    #[derive(Deserialize)]
    struct Server { host: String, port: u16, workers: u32 }

    let mut engine = Engine::new();
    engine.register_fn("double", |x: i64| x * 2)?; // typed: arguments and result convert
    engine.register_operator("cores", |_ctx, _args| Ok(Value::Int(4)))?; // untyped: the raw call
    engine.set_global("region", "eu"); // `$region` in every script

    let source = "[server]\nhost: \"${$region}.example.com\"\nport: $port\nworkers: double(@cores())\n";
    let program = engine.compile(source)?; // parsed and compiled once
    let mut scope = Scope::new();
    for port in [8080, 9090] {
        scope.set("port", port); // `$port` in this run
        let document = engine.run_with_scope(&program, &scope)?;
        let server: Server = document.get("server").expect("a [server] section").deserialize()?;
        assert_eq!((server.host.as_str(), server.port, server.workers), ("eu.example.com", port, 8));
    }
    // README end
    Ok(())
}
