//! Fuzzes evaluation through the embedding facade, in the default and the compat mode, with
//! tight limits and `dry_run` so that no script can write files or print. Nothing may panic,
//! overflow the stack, hang or run out of memory; errors must render, documents must format.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::{Engine, Limits, Mode};

/// Small enough that a run takes milliseconds and a few MB even when a script does the
/// worst it can with each limit.
const LIMITS: Limits = Limits {
    max_call_depth: 64,
    max_operations: 100_000,
    max_string_bytes: 1 << 20,
    max_collection_len: 100_000,
    max_nesting_depth: 64,
};

fn engine(mode: Mode) -> Engine {
    let mut engine = Engine::new();
    engine.set_limits(LIMITS).set_mode(mode);
    engine.options_mut().dry_run = true;
    // `print()` has side effects, so a dry run must never reach the printer.
    engine.on_print(|text| panic!("print() ran during a dry run: {text:?}"));
    engine
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    for mode in [Mode::Default, Mode::Compat] {
        // A fresh engine per run: `@cache` and cross-file results live as long as the engine.
        let mut engine = engine(mode);
        match engine.eval_str(source) {
            Ok(document) => {
                let value = document.value();
                let _ = tusk::format::to_json(value, false);
                let _ = tusk::format::to_yaml(value);
                let _ = tusk::format::to_toml(value);
                let _ = tusk::format::to_flat(value);
                render(&engine, document.warnings());
            }
            Err(error) => render(&engine, error.diagnostics()),
        }
    }
    // The expression entry point (`tusk eval`) takes a different grammar path.
    let mut engine = engine(Mode::Default);
    if let Err(error) = engine.eval_expression(source) {
        render(&engine, error.diagnostics());
    }
});

/// Renders the first few diagnostics the way the CLI does (a bad span panics in there).
/// Garbage input has an error every few bytes, and each costs a pass over the source.
fn render(engine: &Engine, diagnostics: &[tusk::Diagnostic]) {
    let _ = engine.render_diagnostics(&diagnostics[..diagnostics.len().min(8)], false);
}
