//! Sandboxed plugin costs: the round trip of a call with a small payload (host → runner →
//! plugin → back, no script function involved) as p50/p99 over single calls, the round trip of
//! a callback (the plugin calling a script function, timed by the plugin), a map of 100,000
//! items by one callback each and by one batch (`host::map_parallel`), and the cold start
//! of a runner (spawn, pre-validate, lock down, load, init, ready). Run with
//! `cargo bench -p tusk-plugin-host --bench sandbox` (`-- callbacks` for the callbacks only:
//! `bench/sandbox_callback.py` runs that with and without busy cores); it builds the runner and
//! the test plugin in the same profile first. Plain timing rather than criterion: the figures that matter are
//! percentiles of single calls, which criterion does not report.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tusk_eval::{Options, Runtime, Value};
use tusk_plugin_catalog::{Grants, SearchPath};
use tusk_plugin_host::host::{HostSettings, PluginHost};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const RUNNER: &str = "tusk-plugin-runner";

/// Builds the runner and the test plugin with the profile this bench was built with.
fn build() -> tusk_plugin_testkit::Built {
    let packages = ["sandbox_fixture", RUNNER];
    tusk_plugin_testkit::build_packages(&workspace(), &packages, tusk_plugin_testkit::Profile::of_this_build())
        .unwrap_or_else(|error| panic!("{error}"))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label}: p50 {:.1} µs, p99 {:.1} µs, min {:.1} µs, max {:.1} µs ({} samples)",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples[0].as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let built = build();
    let root = tempfile::tempdir().unwrap();
    let plugin_dir = root.path().join("plugins/sandbox_fixture");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(workspace().join("crates/plugin-runner/tests/fixture/plugin.toml"), plugin_dir.join("plugin.toml"))
        .unwrap();
    std::fs::copy(built.library("sandbox_fixture"), plugin_dir.join("libsandbox_fixture.so")).unwrap();
    let mut settings = HostSettings::standard(root.path());
    settings.search = SearchPath::from_parts(Some(root.path().join("plugins").as_os_str()), None, None, None);
    settings.index_file = None;
    settings.cache_dir = root.path().join("cache");
    settings.config_file = None;
    settings.grants = Grants::new(root.path());
    settings.sandbox.runner = Some(built.binary(RUNNER, RUNNER).to_path_buf());
    settings.sandbox.all = true;
    // 100,000 callbacks in one call can take longer than the default deadline on a busy machine
    // (the waits for the runner add up); the bench measures them rather than stopping them.
    settings.sandbox.call_timeout = Duration::from_secs(600);
    let mut runtime = Runtime::new(Options::default());
    let host = PluginHost::discover(settings, runtime.sources_mut(), Rc::new(|_: &str| {}));
    host.install(runtime.registry_mut());

    let started = Instant::now();
    let plugin = host.load("sandbox_fixture", None).expect("the plugin loads");
    println!(
        "first use (discover done; copy, hash, spawn, lock down, load, init, ready): {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let remote = plugin.sandboxed().expect("sandboxed").clone();

    let rounds: usize = std::env::var("SANDBOX_CALLBACK_ROUNDS").ok().and_then(|text| text.parse().ok()).unwrap_or(10);
    let mut samples = Vec::new();
    for round in 0..=rounds {
        let id = runtime.add_source("callbacks.tsk", "times: @sb.callbacks(x => x + 1, 10000)\n".to_string());
        let evaluation =
            runtime.evaluate(id, None).unwrap_or_else(|failure| panic!("{}", failure.diagnostics[0].message));
        let Some(Value::Array(times)) = evaluation.document.get("times") else { panic!("no times") };
        // The first round warms up.
        if round > 0 {
            samples.extend(times.iter().map(|time| match time {
                Value::Int(nanos) => Duration::from_nanos(*nanos as u64),
                other => panic!("not a time: {other:?}"),
            }));
        }
    }
    report("sandboxed callback round trip (plugin → script `x => x + 1` → plugin)", samples);

    // A stage of 100,000 items, one callback per item against the whole batch in one round trip
    // (`host::map_parallel` with no workers: the host calls the function on its own thread),
    // alternating, timed whole.
    let mut evaluate = |source: &str| {
        let id = runtime.add_source("map.tsk", format!("n: len({source})\n"));
        let started = Instant::now();
        let evaluation =
            runtime.evaluate(id, None).unwrap_or_else(|failure| panic!("{}", failure.diagnostics[0].message));
        let elapsed = started.elapsed();
        assert!(matches!(evaluation.document.get("n"), Some(Value::Int(100_000))), "{source}");
        elapsed
    };
    let (mut each, mut batch) = (Vec::new(), Vec::new());
    for round in 0..=rounds.min(10) {
        let one = evaluate("@sb.callbacks(x => x + 1, 100000)");
        let all = evaluate("@sb.map(x => x + 1, 100000, 0)");
        // The first round warms up.
        if round > 0 {
            each.push(one);
            batch.push(all);
        }
    }
    each.sort();
    batch.sort();
    println!(
        "sandboxed map of 100000 items (x => x + 1): one callback per item p50 {:.1} ms, max {:.1} ms; \
         one batch p50 {:.1} ms, max {:.1} ms ({} rounds)",
        percentile(&each, 0.5).as_secs_f64() * 1e3,
        each[each.len() - 1].as_secs_f64() * 1e3,
        percentile(&batch, 0.5).as_secs_f64() * 1e3,
        batch[batch.len() - 1].as_secs_f64() * 1e3,
        batch.len()
    );
    if std::env::args().any(|argument| argument == "callbacks") {
        return;
    }

    let payload = [Value::from("a small payload: sixty-four bytes of text, give or take a few.")];
    for _ in 0..2_000 {
        remote.call_outside_script("sb.echo", &payload).unwrap();
    }
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            remote.call_outside_script("sb.echo", &payload).unwrap();
            started.elapsed()
        })
        .collect();
    report("sandboxed call round trip (64-byte string in and out)", samples);
    let scalar = [Value::Int(42)];
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            remote.call_outside_script("sb.echo", &scalar).unwrap();
            started.elapsed()
        })
        .collect();
    report("sandboxed call round trip (an integer in and out)", samples);

    let samples: Vec<Duration> = (0..50)
        .map(|_| {
            remote.stop_runner();
            let started = Instant::now();
            remote.start_runner().unwrap();
            started.elapsed()
        })
        .collect();
    report("sandboxed cold start (spawn, pre-validate, lock down, dlopen, init, ready)", samples);
    println!("{}", remote.report());
}
