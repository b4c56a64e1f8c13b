//! Plugin call costs, measured through the real host (run with `cargo bench -p tusk-plugin-testkit`):
//! a plugin function call against a built-in one, a script lambda called back from a plugin
//! against the same lambda called by the built-in `reduce`, and the first use of a plugin.
//! The plugins run in-process (trusted), the mode these targets are about; the sandboxed call
//! costs are measured by `cargo bench -p tusk-plugin-host --bench sandbox`.

use std::path::Path;
use std::time::{Duration, Instant};

use tusk_plugin_testkit::PluginTest;

const CALLS: i64 = 1_000_000;
const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(plugin: &mut PluginTest, expression: &str) -> Duration {
    plugin.eval_expression(expression).unwrap_or_else(|error| panic!("{expression}: {error}"));
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                plugin.eval_expression(expression).expect("evaluates");
                start.elapsed()
            })
            .collect(),
    )
}

fn per_call(total: Duration, base: Duration) -> f64 {
    (total.as_secs_f64() - base.as_secs_f64()) * 1e9 / CALLS as f64
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut my_plugin = PluginTest::for_package(root.join("examples/plugins/my_plugin").to_str().unwrap());
    my_plugin.in_process();
    let base = time(&mut my_plugin, &format!("reduce(range(0, {CALLS}), 0, (t, i) => t + i)"));
    let builtin = time(&mut my_plugin, &format!("reduce(range(0, {CALLS}), 0, (t, i) => t + abs(i))"));
    let plugin = time(&mut my_plugin, &format!("reduce(range(0, {CALLS}), 0, (t, i) => t + my_function(i))"));
    let builtin_ns = per_call(builtin, base);
    let plugin_ns = per_call(plugin, base);
    println!("built-in function call:      {builtin_ns:6.1} ns");
    println!("plugin function call:        {plugin_ns:6.1} ns  ({:+.1} ns over the built-in)", plugin_ns - builtin_ns);

    let mut pipeline = PluginTest::for_package(root.join("stdlib-plugins/pipeline").to_str().unwrap());
    pipeline.in_process();
    let lambda = "(acc, x) => acc + x";
    let by_builtin = time(&mut pipeline, &format!("reduce(range(0, {CALLS}), 0, {lambda})"));
    let by_plugin = time(&mut pipeline, &format!("@pipeline(\"reduce\", range(0, {CALLS}), {lambda}, 0)"));
    println!("lambda called by reduce:     {:6.1} ns per call", by_builtin.as_secs_f64() * 1e9 / CALLS as f64);
    println!(
        "lambda called by a plugin:   {:6.1} ns per call  ({:+.1} ns of callback overhead)",
        by_plugin.as_secs_f64() * 1e9 / CALLS as f64,
        per_call(by_plugin, by_builtin)
    );

    // First use: a fresh engine loads the plugin (cache copy, checks, dlopen, init) on its first call.
    let mut first_uses = Vec::new();
    for _ in 0..RUNS {
        let mut fresh = PluginTest::for_package(root.join("examples/plugins/my_plugin").to_str().unwrap());
        fresh.in_process();
        let start = Instant::now();
        fresh.eval_expression("my_function(1)").expect("evaluates");
        let first = start.elapsed();
        let start = Instant::now();
        fresh.eval_expression("my_function(1)").expect("evaluates");
        first_uses.push(first.saturating_sub(start.elapsed()));
    }
    println!(
        "first use of a plugin:       {:6.2} ms (load + init, beyond a warm call)",
        median(first_uses).as_secs_f64() * 1e3
    );
}
