//! The hot-swap stress test and measurement: a loop of plugin calls runs on the interpreter
//! thread while another thread replaces the library several times, once with a build whose
//! `initialize` fails. Not one call may fail; every good build must end up serving, the
//! failing one never.
//!
//! It prints the figures (run with `--nocapture`): from the library written to the new build
//! serving a call, and from the change settling (the 50 ms debounce over) to the new build
//! serving. `TUSK_HOT_SWAP_ROUNDS=N` replaces the library N times instead of 6;
//! `TUSK_FIXTURE_PROFILE=release` swaps optimised builds (the size of a released plugin) in:
//!
//! ```text
//! TUSK_FIXTURE_PROFILE=release TUSK_HOT_SWAP_ROUNDS=20 \
//!     cargo test --release -p tusk-plugin-host --test hot_swap -- --nocapture --test-threads=1
//! ```

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{TestHost, replace_file, swap_build};
use tusk_eval::Value;
use tusk_plugin_host::reload::ReloadOutcome;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[test]
fn a_call_loop_sees_zero_failures_while_the_library_is_replaced() {
    let rounds: u32 = std::env::var("TUSK_HOT_SWAP_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(6).max(3);
    let mut host = TestHost::new(&["swap"], &[]);
    let library = host.plugin_dir("swap").join("libhostile_swap.so");
    replace_file(&library, &swap_build("ok", 1));
    host.host.watch_plugins().unwrap();
    let id = host.runtime.add_source("loop.tsk", "call: () => @swap.version()\n");
    let call = host.runtime.evaluate(id, None).unwrap().document.get("call").cloned().unwrap();

    // Generation 3 fails to initialize: generation 2 must keep serving until 4 arrives.
    let failing = 3;
    let (written, written_at) = mpsc::channel::<(u32, Instant)>();
    let writer = std::thread::spawn(move || {
        for generation in 2..=rounds + 1 {
            // Long enough for the previous change to settle and be served.
            std::thread::sleep(Duration::from_millis(250));
            let status = if generation == failing { "fail" } else { "ok" };
            replace_file(&library, &swap_build(status, generation));
            written.send((generation, Instant::now())).unwrap();
        }
    });

    let mut calls = 0u64;
    let mut failed = Vec::new();
    let mut serving = 1i64;
    let mut served_at = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30 + 2 * u64::from(rounds));
    while serving != i64::from(rounds + 1) && Instant::now() < deadline {
        match host.runtime.call(&call, &[]) {
            Ok(Value::Int(generation)) => {
                if generation != serving {
                    served_at.push((generation, Instant::now()));
                    serving = generation;
                }
            }
            Ok(other) => failed.push(format!("unexpected value {other:?}")),
            Err(error) => failed.push(error.to_string()),
        }
        calls += 1;
    }
    writer.join().unwrap();
    let writes: Vec<(u32, Instant)> = written_at.try_iter().collect();

    assert_eq!(failed, Vec::<String>::new(), "calls failed during the swaps");
    let generations: Vec<i64> = served_at.iter().map(|(generation, _)| *generation).collect();
    let expected: Vec<i64> = (2..=rounds + 1).filter(|g| *g != failing).map(i64::from).collect();
    assert_eq!(generations, expected, "every good build served, in order, and the failing one never");
    let reloads = host.host.recent_reloads();
    let refused: Vec<String> = reloads.iter().filter(|r| r.is_failure()).map(ToString::to_string).collect();
    assert_eq!(
        refused,
        vec![format!(
            "plugin `swap` was not reloaded: plugin `swap` failed to initialize: generation {failing} refuses to \
             start; generation 2 keeps serving"
        )]
    );
    // The failure was also reported through the printer (no caller receives automatic polls).
    assert!(host.take_printed().iter().any(|line| line.contains("generation 3 refuses to start")));

    let mut from_write: Vec<f64> = served_at
        .iter()
        .filter_map(|(generation, at)| {
            let written = writes.iter().find(|(g, _)| i64::from(*g) == *generation)?.1;
            Some(milliseconds(at.duration_since(written)))
        })
        .collect();
    let mut after_debounce: Vec<f64> = reloads
        .iter()
        .filter_map(|reload| match &reload.outcome {
            ReloadOutcome::Swapped { elapsed, .. } => Some(milliseconds(*elapsed)),
            _ => None,
        })
        .collect();
    let worst_after_debounce = after_debounce.iter().copied().fold(0.0, f64::max);
    println!(
        "hot swap, {} swaps + 1 refused, {calls} calls, 0 failed: write -> serving median {:.1} ms (max {:.1}); \
         settled -> serving median {:.2} ms (max {:.2})",
        expected.len(),
        median(&mut from_write),
        from_write.iter().copied().fold(0.0, f64::max),
        median(&mut after_debounce),
        worst_after_debounce,
    );
    // The target is 50 ms after the debounce; the bound here is loose so that a loaded CI
    // machine does not fail the test, the printed figures are what is reported.
    assert!(worst_after_debounce < 500.0, "a swap took {worst_after_debounce:.1} ms after the debounce");
}

#[test]
fn an_explicit_reload_costs_little() {
    let mut host = TestHost::new(&["swap"], &[]);
    let library = host.plugin_dir("swap").join("libhostile_swap.so");
    replace_file(&library, &swap_build("ok", 1));
    assert_eq!(host.value("@swap.version()").unwrap(), serde_json::json!(1));
    let mut costs = Vec::new();
    for generation in 2..=11 {
        replace_file(&library, &swap_build("ok", generation));
        let started = Instant::now();
        let reload = host.host.reload("swap");
        costs.push(milliseconds(started.elapsed()));
        assert!(reload.is_swap(), "{reload}");
        assert_eq!(host.value("@swap.version()").unwrap(), serde_json::json!(generation));
    }
    let worst = costs.iter().copied().fold(0.0, f64::max);
    println!(
        "explicit reload (read, check, copy, dlopen, init, validate, patch): median {:.2} ms, max {worst:.2} ms",
        median(&mut costs)
    );
    assert!(worst < 500.0, "a reload took {worst:.1} ms");
}
